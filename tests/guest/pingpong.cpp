// kview-pingpong N: two processes bounce one byte through two pipes N
// times (2N context switches when they share one CPU). Static, so an
// --icount guest can run it from tmpfs; tests/guest/icount-footprint.sh
// measures it with kview-cputime.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace {

bool bounce(int in, int out, char& c) {
    return read(in, &c, 1) == 1 && write(out, &c, 1) == 1;
}

} // namespace

int main(int argc, char** argv) {
    const long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 10000;
    int ping[2], pong[2];
    if (n <= 0 || pipe(ping) || pipe(pong)) {
        std::fprintf(stderr, "usage: kview-pingpong N (N > 0)\n");
        return 2;
    }
    const pid_t child = fork();
    if (child < 0) {
        std::perror("kview-pingpong: fork");
        return 1;
    }
    char c = 'x';
    if (child == 0) {
        for (long i = 0; i < n; i++)
            if (!bounce(ping[0], pong[1], c))
                _exit(1);
        _exit(0);
    }
    bool ok = true;
    for (long i = 0; i < n && ok; i++)
        ok = write(ping[1], &c, 1) == 1 && read(pong[0], &c, 1) == 1;
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        ok = false;
    if (!ok) {
        std::fprintf(stderr, "kview-pingpong: a pipe read or write failed\n");
        return 1;
    }
    return 0;
}
