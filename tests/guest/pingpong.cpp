// kview-pingpong N: two processes bounce one byte through two pipes N
// times (2N context switches when they share one CPU: bench/pingpong.hpp,
// the benchmark's ctxsw workload). Static, so an --icount guest can run it
// from tmpfs; tests/guest/icount-footprint.sh measures it with
// kview-cputime.
#include <cstdio>
#include <cstdlib>

#include "pingpong.hpp"

int main(int argc, char** argv) {
    const long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 10000;
    if (n <= 0) {
        std::fprintf(stderr, "usage: kview-pingpong N (N > 0)\n");
        return 2;
    }
    kview::bench::PingPong pp;
    if (!pp.ok()) {
        std::perror("kview-pingpong: pipe or fork");
        return 1;
    }
    bool ok = true;
    for (long i = 0; i < n && ok; i++)
        ok = pp.round_trip();
    if (!pp.finish() || !ok) {
        std::fprintf(stderr, "kview-pingpong: a pipe read or write failed\n");
        return 1;
    }
    return 0;
}
