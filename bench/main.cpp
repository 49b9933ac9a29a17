// kview-bench: untraced-overhead benchmarks, run inside the guest by
// bench/run.sh. Configurations are interleaved (none, post-eBPF, in-eBPF,
// pre-eBPF, kview, then again) in one boot; the report gives ratios to
// "none" with bootstrap CIs, never absolute (emulated) times as truth.
//
//   kview-bench run [--quick|--full|--smoke] [--icount] [--reps N] [--only W,...]
//                   [--programs N,...] --out DIR
//   kview-bench memload [--port P] [--workers W] [--conns C] [--seconds S] [--warmup S]
//                       [--keys K] [--rate R]
//
// main.cpp      the command line          params.cpp   presets, `run` options
// run.cpp       `run`: set up, interleave configurations, write the results
// measure.cpp   one sample under one configuration, traced events checked
// sample_*.cpp  the workloads             setup.cpp    the five configurations
// report.cpp    results.md, plots         metadata.cpp bench.json
#include <cstdio>
#include <cstdlib>
#include <string>

#include "memload.hpp"
#include "params.hpp"
#include "run.hpp"

namespace kb = kview::bench;

namespace {

int cmd_memload(int argc, char** argv) {
    kb::LoadParams lp;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--port")
            lp.port = static_cast<uint16_t>(std::atoi(next().c_str()));
        else if (a == "--workers")
            lp.workers = std::atoi(next().c_str());
        else if (a == "--conns")
            lp.conns = std::atoi(next().c_str());
        else if (a == "--seconds")
            lp.seconds = std::atof(next().c_str());
        else if (a == "--rate")
            lp.rate = std::atof(next().c_str());
        else if (a == "--warmup")
            lp.warmup_s = std::atof(next().c_str());
        else if (a == "--keys")
            lp.keys = static_cast<uint32_t>(std::atoi(next().c_str()));
        else {
            std::fprintf(stderr, "kview-bench memload: unknown option '%s'\n", a.c_str());
            return 2;
        }
    }
    auto r = kb::run_memload(lp);
    if (!r) {
        std::fprintf(stderr, "kview-bench memload: %s\n", r.error().message().c_str());
        return 1;
    }
    std::printf("ops/s %.0f ops %llu errors %llu p50 %.1f us p99 %.1f us p99.9 %.1f us\n",
                r.value().ops_per_s, static_cast<unsigned long long>(r.value().ops),
                static_cast<unsigned long long>(r.value().errors), r.value().p50_us,
                r.value().p99_us, r.value().p999_us);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        kb::usage(stderr);
        return 2;
    }
    std::string cmd = argv[1];
    if (cmd == "-h" || cmd == "--help") {
        kb::usage(stdout);
        return 0;
    }
    if (cmd == "memload")
        return cmd_memload(argc, argv);
    if (cmd != "run") {
        std::fprintf(stderr, "kview-bench: unknown command '%s'\n", cmd.c_str());
        kb::usage(stderr);
        return 2;
    }
    auto p = kb::parse_run_args(argc, argv);
    if (!p)
        return 2;
    return kb::cmd_run(*p);
}
