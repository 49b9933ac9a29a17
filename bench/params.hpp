// The benchmark's parameters: one struct, four presets (quick, full, smoke,
// and the instruction-time adjustments of --icount), and the `run` command
// line that picks among them.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "memload.hpp"
#include "workloads.hpp"

namespace kview::bench {

struct Params {
    bool full = false;
    std::string mode = "quick";
    int reps = 5;
    std::set<std::string> only; // empty: all
    std::string out;
    // memcaslap (the paper's load generator)
    int caslap_threads = 2;
    int caslap_conc = 64;
    int caslap_seconds = 3;
    std::string caslap_cfg; // written by cmd_run into `out` (write_caslap_cfg)
    // memload
    LoadParams load;
    // traced driver during untraced workloads
    uint32_t driver_ops = 2000;
    // syscall micro
    uint32_t micro_read_ops = 10000;
    uint32_t micro_sendmsg_ops = 5000;
    std::vector<int> programs = {1, 10, 50};
    // traced per-event cost
    uint32_t dd_count = 50000;
    // instruction time (-icount guest: KVIEW_ICOUNT=1 or --icount)
    bool icount = false;
    Chunks chunks{10, 250, 1000}; // read, write, getpid per sample
    Chunks send_chunks{10, 100, 1000};
    Chunks ctxsw_chunks{10, 50, 1000};
    Chunks forkexec_chunks{10, 1, 1000};
    std::string busybox;  // static busybox staged on tmpfs (icount)
    std::string self_exe; // this program (icount: a copy on tmpfs), for `memload`
};

[[nodiscard]] Params quick_params();
[[nodiscard]] Params full_params();
[[nodiscard]] Params smoke_params();
// Under -icount (instruction time): adjusts the preset in p.mode.
void icount_params(Params& p);
// Whether workload w is selected (--only).
[[nodiscard]] bool want(const Params& p, const std::string& w);

// kview-bench's usage.
void usage(FILE* f);
// `kview-bench run` options (argv[2..]): the parameters, or nullopt after
// printing why they are wrong (exit status 2).
[[nodiscard]] std::optional<Params> parse_run_args(int argc, char** argv);

} // namespace kview::bench
