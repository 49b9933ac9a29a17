// kview-cputime CMD [ARGS...]: run CMD, wait for it, print "CPU_NS WALL_NS":
// the CPU time CMD and the descendants it waited for consumed (user + system,
// from wait4's rusage, microsecond resolution) and the elapsed time. In an
// --icount guest CPU time is instructions executed on CMD's behalf, and it
// does not include the clock jumps icount makes while the vCPU idles (a
// wait for a child, for RCU, for I/O), which the elapsed time does.
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace {

long long now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long tv_ns(const timeval& tv) {
    return tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: kview-cputime CMD [ARGS...]\n");
        return 2;
    }
    const long long t0 = now_ns();
    const pid_t pid = fork();
    if (pid < 0) {
        std::perror("kview-cputime: fork");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        std::fprintf(stderr, "kview-cputime: cannot run %s\n", argv[1]);
        _exit(127);
    }
    int status = 0;
    rusage ru{};
    if (wait4(pid, &status, 0, &ru) != pid) {
        std::perror("kview-cputime: wait4");
        return 1;
    }
    const long long t1 = now_ns();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "kview-cputime: %s failed (status %#x)\n", argv[1], status);
        return 1;
    }
    std::printf("%lld %lld\n", tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime), t1 - t0);
    return 0;
}
