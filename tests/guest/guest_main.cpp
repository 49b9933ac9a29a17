// kview_guest_tests: GoogleTest binary run inside the QEMU guest, as root,
// with the module loaded (tests/guest/run-suite.sh). main() and the entry
// points of the images the tests exec or spawn of this binary.
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
        return guest::exec_reads_main(static_cast<uint32_t>(std::atoi(argv[2])),
                                      std::atoi(argv[3]));
    if (argc == 3 && !std::strcmp(argv[1], "--reads"))
        return guest::reads_main(static_cast<uint32_t>(std::atoi(argv[2])));
    if (argc == 3 && !std::strcmp(argv[1], "--storm-target"))
        return guest::storm_target_main(std::strtoull(argv[2], nullptr, 0));
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
