// kview_guest_tests: GoogleTest binary run inside the QEMU guest, as root,
// with the module loaded (tests/guest/run-suite.sh).
#include <sys/utsname.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <string>

#include <gtest/gtest.h>

#include "guest_util.hpp"

namespace guest {

Run sh(const std::string& cmd) {
    Run r{-1, {}};
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p)
        return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        r.out.append(buf, n);
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return r;
}

std::string read_file(const std::string& path) {
    std::string s;
    FILE* f = fopen(path.c_str(), "re");
    if (!f)
        return s;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        s.append(buf, n);
    fclose(f);
    return s;
}

bool write_file(const std::string& path, const std::string& data) {
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    close(fd);
    return ok;
}

std::string tracefs() {
    if (access("/sys/kernel/tracing/kprobe_events", F_OK) != 0)
        (void)sh("mount -t tracefs nodev /sys/kernel/tracing");
    return "/sys/kernel/tracing";
}

std::string default_ko() {
    struct utsname u {};
    const char* b = std::getenv("KVIEW_BUILD_DIR");
    uname(&u);
    return std::string(b ? b : "build") + "/kmod/" + u.release + "/kview.ko";
}

bool kernel_ibt() {
    struct utsname u {};
    uname(&u);
    std::string c = read_file(std::string("/boot/config-") + u.release);
    return c.find("\nCONFIG_X86_KERNEL_IBT=y\n") != std::string::npos;
}

int body_offset() { return kernel_ibt() ? 9 : 5; }

std::string body(const std::string& func) { return func + "+" + std::to_string(body_offset()); }

kview::GlobalStats global() {
    auto d = kview::Device::open();
    EXPECT_TRUE(d.ok());
    auto g = d.value().global_stats();
    EXPECT_TRUE(g.ok());
    return g.ok() ? g.value() : kview::GlobalStats{};
}

std::string self_exe() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

int reads_main(uint32_t n) {
    int z = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    char c;
    for (uint32_t i = 0; i < n; i++)
        if (read(z, &c, 1) != 1)
            return 1;
    return 0;
}

int exec_reads_main(uint32_t n, int fd) {
    char c;
    if (reads_main(n) != 0 || send(fd, "A", 1, 0) != 1)
        return 1;
    while (recv(fd, &c, 1, 0) > 0) // until the controller lets go
        ;
    return 0;
}

pid_t spawn_self_reads(uint32_t n) {
    std::string count = std::to_string(n), exe = self_exe();
    char* argv[] = {exe.data(), const_cast<char*>("--reads"), count.data(), nullptr};
    pid_t p;
    return posix_spawn(&p, exe.c_str(), nullptr, nullptr, argv, environ) == 0 ? p : -1;
}

} // namespace guest

int main(int argc, char** argv) {
    if (argc == 4 && !std::strcmp(argv[1], "--exec-reads"))
        return guest::exec_reads_main(static_cast<uint32_t>(std::atoi(argv[2])), std::atoi(argv[3]));
    if (argc == 3 && !std::strcmp(argv[1], "--reads"))
        return guest::reads_main(static_cast<uint32_t>(std::atoi(argv[2])));
    if (argc == 3 && !std::strcmp(argv[1], "--storm-target"))
        return guest::storm_target_main(std::strtoull(argv[2], nullptr, 0));
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
