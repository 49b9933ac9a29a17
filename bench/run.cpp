// `kview-bench run` (run.hpp): set up the processes, calibrate, run the
// repetitions, write the results.
#include "run.hpp"

#include <bpf/libbpf.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kview/device.hpp"
#include "kview/view.hpp"
#include "measure.hpp"
#include "proc.hpp"
#include "report.hpp"
#include "samples.hpp"

namespace kview::bench {

namespace {

// The output directory, memcaslap's configuration in it, enough fds.
bool prepare(Params& p) {
    if (::mkdir(p.out.c_str(), 0755) && errno != EEXIST) {
        std::fprintf(stderr, "kview-bench: cannot create %s: %s\n", p.out.c_str(),
                     std::strerror(errno));
        return false;
    }
    if (!write_caslap_cfg(p)) {
        std::fprintf(stderr, "kview-bench: cannot write %s: %s\n", p.caslap_cfg.c_str(),
                     std::strerror(errno));
        return false;
    }
    libbpf_set_print(nullptr);
    // 160 sessions hold ~10 fds each (BPF maps, programs, links, views):
    // more than the default 1024.
    rlimit nofile{65536, 65536};
    if (::setrlimit(RLIMIT_NOFILE, &nofile)) {
        std::fprintf(stderr, "kview-bench: cannot raise RLIMIT_NOFILE: %s\n", std::strerror(errno));
        return false;
    }
    return true;
}

// The traced processes, the programs staged on tmpfs (icount) and the
// untraced worker (icount).
bool spawn_processes(Ctx& c) {
    int ndrivers = *std::max_element(c.p.programs.begin(), c.p.programs.end());
    for (int i = 0; i < ndrivers; i++) {
        auto d = Driver::spawn();
        if (!d) {
            std::fprintf(stderr, "kview-bench: %s\n", d.error().message().c_str());
            return false;
        }
        c.drivers.push_back(std::move(d.value()));
    }
    if (c.p.icount) { // programs run from tmpfs under icount (no 9p wait)
        const char* tmp = std::getenv("TMPDIR");
        std::string dir = std::string(tmp ? tmp : "/tmp") + "/kview-bench";
        c.p.busybox = stage_busybox(dir);
        if (c.p.busybox.empty()) {
            std::fprintf(stderr, "kview-bench: cannot stage /bin/busybox on tmpfs\n");
            return false;
        }
        c.p.self_exe = stage_file("/proc/self/exe", dir, "kview-bench");
    } else {
        c.p.self_exe = stage_file("/proc/self/exe", "", "");
    }
    if (c.p.self_exe.empty()) {
        std::fprintf(stderr, "kview-bench: cannot find or stage this program\n");
        return false;
    }
    if (c.p.icount) {
        auto w = Worker::spawn(c.p.busybox);
        if (w)
            c.worker.emplace(std::move(*w));
        if (!c.worker) {
            std::fprintf(stderr, "kview-bench: cannot start the untraced worker process\n");
            return false;
        }
    }
    return true;
}

// The open-loop rate: a third of the closed-loop capacity.
bool calibrate_memload(Ctx& c) {
    LoadParams lp = c.p.load;
    lp.rate = 0;
    auto r = (c.p.icount ? run_memload_exec(lp, c.p.self_exe) : run_memload(lp));
    if (!r) {
        std::fprintf(stderr, "kview-bench: memload calibration: %s\n", r.error().message().c_str());
        return false;
    }
    // A third of capacity: emulated capacity swings by +-30% between
    // runs, and an open loop offered more than capacity only measures
    // its own backlog.
    c.p.load.rate = std::max(100.0, r.value().ops_per_s / 3);
    progress("memload calibration: closed loop %.0f ops/s -> open loop at %.0f req/s",
             r.value().ops_per_s, c.p.load.rate);
    return true;
}

// kview's address for vfs_read (offset from the symbol), for the
// same-address stock kprobe of the cost workload.
uint32_t kview_vfs_read_offset(const Ctx& c) {
    uint32_t off = 0;
    auto v = View::create(c.drivers[0]->pid());
    if (v) {
        auto h = v.value().add_kprobe("vfs_read");
        uint64_t base = ksym_addr("vfs_read");
        if (h && base)
            off = static_cast<uint32_t>(h.value().addr - base);
    }
    progress("kview hooks vfs_read at +%u", off);
    return off;
}

void repetitions(Ctx& c, uint32_t int3_off, double t_start) {
    const Params& p = c.p;
    for (int rep = 0; rep < p.reps; rep++) {
        for (Mode m : kModes) {
            progress("rep %d/%d %-9s (%.0f s elapsed)", rep + 1, p.reps, mode_name(m),
                     now_s() - t_start);
            if (want(p, "memcaslap"))
                sample_memcaslap(c, rep, m);
            if (want(p, "memload")) {
                sample_memload(c, rep, m, false);
                sample_memload(c, rep, m, true);
            }
            if (want(p, "micro")) // none too runs once per N: ratios pair (rep, N)
                for (int n : p.programs)
                    sample_micro(c, rep, m, n);
        }
        if (want(p, "cost"))
            for (CostCfg k : kCostCfgs)
                for (int i = 0; i < 3; i++)
                    sample_cost(c, rep, k, int3_off);
        if (want(p, "attach"))
            sample_attach(c, rep);
    }
}

int finish(Ctx& c, const Device& dev, double t_start) {
    auto g = dev.global_stats();
    if (g && (g.value().live_views || g.value().pages))
        c.r.errors.push_back("after the run the module still holds " +
                             std::to_string(g.value().live_views) + " views, " +
                             std::to_string(g.value().pages) + " pages");
    set_kprobes_optimization(true);
    Meta meta = metadata(c.p, now_s() - t_start);
    for (const auto& [cfg, line] : c.kprobe_state)
        meta.kv["kprobe: " + cfg] = line;
    write_json(c.p.out + "/bench.json", meta, c.r);
    bool ok = write_report(c.p.out, meta, c.r, c.p);
    progress("done in %.0f s: %s/results.md (%s)", now_s() - t_start, c.p.out.c_str(),
             ok ? "all targets pass" : "some targets fail, see the report");
    for (const auto& e : c.r.errors)
        progress("error: %s", e.c_str());
    // Failures of the run: errors, an event the traced process did not get,
    // a handler entry from an untraced process under kview. Missed timing
    // targets are results, reported in results.md.
    size_t bad = 0;
    for (const auto& ck : c.r.checks)
        bad += !ck.ok;
    if (bad)
        progress("error: %zu samples where the traced process's events did not match (or kview "
                 "saw an untraced process)",
                 bad);
    return c.r.errors.empty() && !bad && !c.r.checks.empty() ? 0 : 1;
}

} // namespace

int cmd_run(Params p) {
    if (p.out.empty()) {
        std::fprintf(stderr, "kview-bench: --out DIR is required\n");
        return 2;
    }
    if (!prepare(p))
        return 1;
    auto dev = Device::open();
    if (!dev) {
        std::fprintf(stderr, "kview-bench: %s\n", dev.error().message().c_str());
        return 1;
    }
    double t_start = now_s();
    Ctx c;
    c.p = p;
    if (!spawn_processes(c))
        return 1;
    Memcached mc(p.load.port);
    if ((want(p, "memcaslap") || want(p, "memload")) && !mc.ok()) {
        std::fprintf(stderr, "kview-bench: memcached on port %u: %s\n", p.load.port,
                     mc.why().c_str());
        return 1;
    }
    if (want(p, "memload") && !calibrate_memload(c))
        return 1;
    if (want(p, "memcaslap")) // warm-up, discarded
        (void)capture(caslap_argv(c.p, 2, 1));
    uint32_t int3_off = want(p, "cost") ? kview_vfs_read_offset(c) : 0;
    repetitions(c, int3_off, t_start);
    return finish(c, dev.value(), t_start);
}

} // namespace kview::bench
