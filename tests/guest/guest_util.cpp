// The in-guest tests' helpers (guest_util.hpp), except Child (child.cpp).
#include <bpf/bpf.h>

#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <sstream>
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

int body_offset() {
    return kernel_ibt() ? 9 : 5;
}

std::string body(const std::string& func) {
    return func + "+" + std::to_string(body_offset());
}

kview::BpfObject test_bpf() {
    auto o = kview::BpfObject::load(KVIEW_TEST_BPF_OBJ);
    if (!o.ok())
        ADD_FAILURE() << o.error().message();
    return std::move(o).value();
}

int prog_fd(const kview::BpfObject& obj, const std::string& name) {
    for (const auto& p : obj.programs())
        if (p.name == name)
            return p.fd;
    ADD_FAILURE() << "no program " << name;
    return -1;
}

uint64_t bpf_count(const kview::BpfObject& obj, const char* map, pid_t pid) {
    auto fd = obj.map_fd(map);
    EXPECT_TRUE(fd.ok());
    uint32_t key = static_cast<uint32_t>(pid);
    uint64_t v = 0;
    if (!fd.ok() || bpf_map_lookup_elem(fd.value(), &key, &v) != 0)
        return 0;
    return v;
}

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

std::string cli_path() {
    const char* c = std::getenv("KVIEW_CLI");
    if (c)
        return c;
    const char* b = std::getenv("KVIEW_BUILD_DIR");
    return std::string(b ? b : "build") + "/cli/kview";
}

std::string ko_path() {
    const char* k = std::getenv("KVIEW_KO");
    return k ? k : default_ko();
}

// The JSON records of a `-f json` run: every line that starts with '{' must
// parse and carry "type" and "time" (a failed parse fails the test).
std::vector<Json> records(const std::string& out) {
    std::vector<Json> v;
    size_t at = 0;
    while (at < out.size()) {
        size_t end = out.find('\n', at);
        std::string line = out.substr(at, end == std::string::npos ? end : end - at);
        at = end == std::string::npos ? out.size() : end + 1;
        if (line.empty() || line[0] != '{')
            continue;
        Json j = Json::parse(line, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
        if (j.is_discarded())
            continue;
        EXPECT_TRUE(j.contains("type") && j.contains("time")) << line;
        v.push_back(std::move(j));
    }
    return v;
}

std::vector<Json> of_type(const std::vector<Json>& rs, const std::string& type) {
    std::vector<Json> v;
    for (const auto& r : rs)
        if (r.value("type", "") == type)
            v.push_back(r);
    return v;
}

Json final_hook(const std::string& out, const std::string& sym, const std::string& kind) {
    auto stats = of_type(records(out), "stats");
    if (stats.empty() || !stats.back().value("final", false))
        return Json();
    for (const auto& h : stats.back()["hooks"])
        if (h.value("symbol", "") == sym && h.value("kind", "") == kind)
            return h;
    return Json();
}

Kallsyms::Kallsyms() {
    std::ifstream in("/proc/kallsyms");
    uint64_t a;
    std::string type, name, line;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        if (!(l >> std::hex >> a >> type >> name) || line.find('[') != std::string::npos)
            continue; // module symbols
        sorted.emplace_back(a, name);
        by_name.emplace(name, a);
    }
    std::sort(sorted.begin(), sorted.end());
}
uint64_t Kallsyms::at(const std::string& n) const {
    auto it = by_name.find(n);
    return it == by_name.end() ? 0 : it->second;
}
std::string Kallsyms::name(uint64_t addr) const {
    auto it =
        std::upper_bound(sorted.begin(), sorted.end(), std::make_pair(addr, std::string("\xff")));
    if (it == sorted.begin())
        return "?";
    --it;
    char b[32];
    std::snprintf(b, sizeof(b), "+0x%llx", static_cast<unsigned long long>(addr - it->first));
    return it->second + b;
}
std::string kprobes_list() {
    return read_file("/sys/kernel/debug/kprobes/list");
}

void kill_wait(pid_t pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
}

} // namespace guest
