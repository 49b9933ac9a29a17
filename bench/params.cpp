// The benchmark's parameter presets and the `run` command line.
#include "params.hpp"

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace kview::bench {

// Under -icount the guest clock counts instructions: chunks shorter than a
// timer tick (4 ms at HZ=250, ~4 M instructions) so that the fastest is
// interrupt-free; vBPF's N = 160 programs on the hooks; dd from tmpfs.
void icount_params(Params& p) {
    p.icount = true;
    if (p.mode == "smoke") {
        p.programs = {1, 3};
        p.chunks = {6, 50, 500};
        p.send_chunks = {6, 20, 500};
        p.ctxsw_chunks = {6, 10, 500};
        p.forkexec_chunks = {4, 1, 500};
        return;
    }
    // An icount guest runs ~10x slower than real time on a busy 2-core
    // host: short memcached runs (their instructions per request are what
    // is compared), few driver calls.
    p.programs = {1, 10, 50, 160};
    bool full = p.mode == "full";
    p.caslap_seconds = 2;
    p.load.seconds = full ? 1 : 0.5;
    p.load.warmup_s = 0.2;
    p.driver_ops = 500;
    p.reps = full ? 6 : 3;
    p.dd_count = full ? 30000 : 10000;
    p.forkexec_chunks = {full ? 20 : 10, 1, 1000};
}

Params quick_params() {
    Params p;
    p.caslap_seconds = 2;
    p.load.seconds = 1.5;
    p.load.warmup_s = 0.5;
    return p;
}

// For the guest test suite: every workload and configuration once more than
// needed for a ratio, tiny; proves the harness and the structural checks.
Params smoke_params() {
    Params p;
    p.mode = "smoke";
    p.reps = 2;
    p.caslap_conc = 8;
    p.caslap_seconds = 1;
    p.load.seconds = 0.5;
    p.load.warmup_s = 0.2;
    p.load.conns = 2;
    p.load.keys = 100;
    p.driver_ops = 200;
    p.micro_read_ops = 500;
    p.micro_sendmsg_ops = 250;
    p.programs = {1, 3};
    p.dd_count = 2000;
    return p;
}

Params full_params() {
    Params p;
    p.full = true;
    p.mode = "full";
    p.reps = 16; // more, shorter pairs narrow the CI more than longer runs
    p.caslap_conc = 256;
    p.caslap_seconds = 6;
    p.load.seconds = 4;
    p.load.warmup_s = 1;
    p.load.conns = 16;
    p.micro_read_ops = 20000;
    p.micro_sendmsg_ops = 10000;
    p.dd_count = 200000;
    return p;
}

bool want(const Params& p, const std::string& w) {
    return p.only.empty() || p.only.count(w);
}

void usage(FILE* f) {
    std::fprintf(
        f, "usage: kview-bench run [--quick|--full|--smoke] [--icount] [--reps N] [--only W,...]\n"
           "                       [--programs N,...] --out DIR\n"
           "       kview-bench memload [--port P] [--workers W] [--conns C] [--seconds S] "
           "[--warmup S]\n"
           "                           [--keys K] [--rate R]\n"
           "workloads (--only): memcaslap, memload, micro, cost, attach\n"
           "--icount (or KVIEW_ICOUNT=1, set in a run-guest.sh --icount guest): instruction-time\n"
           "presets and report (micro adds write, getpid, ctxsw, forkexec; N up to 160).\n"
           "Run inside the guest by bench/run.sh; needs root and the kview module.\n");
}

std::optional<Params> parse_run_args(int argc, char** argv) {
    Params p = quick_params();
    for (int i = 2; i < argc; i++) {
        if (std::string(argv[i]) == "--full")
            p = full_params();
        if (std::string(argv[i]) == "--smoke")
            p = smoke_params();
    }
    const char* ic = std::getenv("KVIEW_ICOUNT");
    bool icount = ic && std::string(ic) == "1";
    for (int i = 2; i < argc; i++)
        icount |= std::string(argv[i]) == "--icount";
    if (icount)
        icount_params(p);
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--quick" || a == "--full" || a == "--smoke" || a == "--icount")
            continue;
        if (a == "--programs" && i + 1 < argc) {
            std::stringstream ss(argv[++i]);
            std::string n;
            p.programs.clear();
            while (std::getline(ss, n, ','))
                if (std::atoi(n.c_str()) > 0)
                    p.programs.push_back(std::atoi(n.c_str()));
            if (p.programs.empty()) {
                std::fprintf(stderr, "kview-bench: --programs needs N,...\n");
                return std::nullopt;
            }
            continue;
        }
        if (a == "--reps" && i + 1 < argc) {
            p.reps = std::atoi(argv[++i]);
            if (p.reps < 2 || p.reps > 1000) {
                std::fprintf(stderr, "kview-bench: --reps must be 2..1000\n");
                return std::nullopt;
            }
        } else if (a == "--only" && i + 1 < argc) {
            std::stringstream ss(argv[++i]);
            std::string w;
            while (std::getline(ss, w, ',')) {
                if (w != "memcaslap" && w != "memload" && w != "micro" && w != "cost" &&
                    w != "attach") {
                    std::fprintf(stderr, "kview-bench: unknown workload '%s'\n", w.c_str());
                    return std::nullopt;
                }
                p.only.insert(w);
            }
        } else if (a == "--out" && i + 1 < argc)
            p.out = argv[++i];
        else {
            std::fprintf(stderr, "kview-bench: unknown or incomplete option '%s'\n", a.c_str());
            usage(stderr);
            return std::nullopt;
        }
    }
    return p;
}

} // namespace kview::bench
