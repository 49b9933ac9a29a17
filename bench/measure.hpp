// One measured sample under one configuration: attach it for N traced
// processes, run the untraced workload, check that traced process 0 got
// every event it caused, detach.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "params.hpp"
#include "results.hpp"
#include "setup.hpp"
#include "workloads.hpp"

namespace kview::bench {

// What one `kview-bench run` holds while it runs.
struct Ctx {
    Params p;
    Results r;
    std::vector<std::unique_ptr<Driver>> drivers;    // traced processes
    std::map<std::string, std::string> kprobe_state; // cost config -> kprobes/list line
    std::optional<Worker> worker;                    // icount: the untraced micro process
};

// The pids of the first n traced processes.
[[nodiscard]] std::vector<pid_t> targets(const Ctx& c, int n);
// TLB-shootdown IPIs received so far, all CPUs (the "TLB:" row of
// /proc/interrupts).
[[nodiscard]] uint64_t tlb_ipis();

// Attach `mode` for `programs` traced processes on `hooks`, run `body`
// (returns the sample value, or nullopt on failure) while traced process 0
// drives driver_ops read+sendmsg pairs (concurrently when `concurrent`),
// check its events, detach.
template <class F>
std::optional<double> measure(Ctx& c, const std::string& workload, Mode mode, int programs, int rep,
                              double window_s, bool concurrent, const std::vector<Hook>& hooks,
                              F&& body) {
    auto setup = Setup::attach(mode, targets(c, programs), hooks);
    if (!setup) {
        c.r.errors.push_back(workload + " " + mode_name(mode) + ": " + setup.error().message());
        return std::nullopt;
    }
    auto& st = *setup.value();
    auto ev0 = st.events(0);
    auto& drv = *c.drivers[0];
    uint32_t n = c.p.driver_ops;
    auto gap = static_cast<uint32_t>(window_s * 1e6 / (n / 10.0));
    if (concurrent && !drv.start(n, gap).ok())
        return std::nullopt;
    uint64_t ipi0 = tlb_ipis();
    std::optional<double> v = body();
    uint64_t ipis = tlb_ipis() - ipi0;
    if (!concurrent && !drv.start(n, 0).ok())
        return std::nullopt;
    if (!drv.wait().ok()) {
        c.r.errors.push_back(workload + ": traced process died");
        return std::nullopt;
    }
    auto ev1 = st.events(0);
    Check ck;
    ck.workload = workload;
    ck.config = mode_name(mode);
    ck.programs = programs;
    ck.rep = rep;
    ck.expected = mode == Mode::None ? 0 : n;
    ck.got_read = ev1[0] - ev0[0];
    ck.got_sendmsg = ev1[1] - ev0[1];
    ck.dropped = st.dropped();
    auto f = st.foreign_mm_hits();
    ck.foreign = f ? f.value() : ~0ull;
    ck.tlb_ipis = ipis;
    ck.ok = ck.got_read == ck.expected && ck.got_sendmsg == ck.expected &&
            (mode != Mode::Kview || ck.foreign == 0);
    c.r.checks.push_back(ck);
    return v;
}

} // namespace kview::bench
