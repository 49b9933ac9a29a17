// Untraced memcached under each configuration: memcaslap (the paper's load
// generator) and memload (closed and open loop, with latency percentiles).
#include <fstream>
#include <regex>

#include "proc.hpp"
#include "samples.hpp"

namespace kview::bench {

// memcaslap takes its key/value sizes and command mix from a file. Without
// -F it writes its default one to the home directory of the passwd entry
// (not $HOME), which fails on a read-only root and otherwise depends on what
// an earlier run left there. Ours, in the run's own output directory, says
// what that default says: 64-byte keys, 1 KiB values, 10% set, 90% get.
bool write_caslap_cfg(Params& p) {
    p.caslap_cfg = p.out + "/memcaslap.cnf";
    std::ofstream f(p.caslap_cfg);
    f << "key\n64 64 1\nvalue\n1024 1024 1\ncmd\n0 0.1\n1 0.9\n";
    return static_cast<bool>(f.flush());
}

std::vector<std::string> caslap_argv(const Params& p, int threads, int seconds) {
    return {"memcaslap",
            "-s",
            "127.0.0.1:" + std::to_string(p.load.port),
            "-F",
            p.caslap_cfg,
            "-T",
            std::to_string(threads),
            "-c",
            std::to_string(p.caslap_conc),
            "-t",
            std::to_string(seconds) + "s"};
}

// One memcaslap sample; a run that memcaslap itself fails is retried once
// (said on stderr with its reason), a second failure is an error of the run.
void sample_memcaslap(Ctx& c, int rep, Mode mode) {
    const auto& p = c.p;
    const std::string cfg = mode_name(mode);
    for (int attempt = 1;; attempt++) {
        std::string why = "the traced driver did not start";
        bool caslap_failed = false;
        auto v = measure(
            c, "memcaslap", mode, 1, rep, p.caslap_seconds, true, syscall_hooks(),
            [&]() -> std::optional<double> {
                auto out = capture(caslap_argv(p, p.caslap_threads, p.caslap_seconds), true, &why);
                std::smatch m;
                static const std::regex tps("TPS: ([0-9]+)");
                caslap_failed = !out || !std::regex_search(*out, m, tps) || std::stod(m[1]) <= 0;
                if (caslap_failed) {
                    if (out)
                        why = m.empty() ? "no TPS line in its output"
                                        : "TPS 0 (no request completed)";
                    return std::nullopt;
                }
                why = "the traced driver failed";
                return std::stod(m[1]);
            });
        if (v) {
            c.r.samples.push_back({"memcaslap", "ops_per_s", "ops/s", cfg, 1, rep, *v});
            progress("  memcaslap %-9s %.0f ops/s", cfg.c_str(), *v);
            return;
        }
        if (!caslap_failed || attempt == 2) {
            c.r.errors.push_back("memcaslap run failed (" + cfg + "): " + why);
            return;
        }
        progress("memcaslap failed (%s, rep %d): %s; retrying once", cfg.c_str(), rep, why.c_str());
    }
}

// Under icount, memload in a fresh process (`kview-bench memload`, exec'd): its workers
// are then forks of the same clean process in every configuration, not of
// this one, whose state changes between configurations (post-eBPF's
// consumer thread makes glibc take the multi-threaded path in every
// cancellable syscall wrapper from then on: ~45 instructions per call).
// (Under icount `self` is a copy on tmpfs: no 9p page-in in the window.)
Result<LoadResult> run_memload_exec(const LoadParams& lp, const std::string& self) {
    std::string why;
    auto out =
        capture({self, "memload", "--port", std::to_string(lp.port), "--workers",
                 std::to_string(lp.workers), "--conns", std::to_string(lp.conns), "--seconds",
                 std::to_string(lp.seconds), "--warmup", std::to_string(lp.warmup_s), "--keys",
                 std::to_string(lp.keys), "--rate", std::to_string(lp.rate)},
                false, &why);
    if (!out)
        return Error{EIO, "memload: " + why, {}};
    static const std::regex re("ops/s ([0-9.]+) ops ([0-9]+) errors ([0-9]+) p50 ([0-9.]+|nan) us "
                               "p99 ([0-9.]+|nan) us p99.9 ([0-9.]+|nan) us");
    std::smatch m;
    if (!std::regex_search(*out, m, re))
        return Error{EIO, "memload: unexpected output: " + out->substr(0, 120), {}};
    LoadResult r;
    r.ops_per_s = std::stod(m[1]);
    r.ops = std::stoull(m[2]);
    r.errors = std::stoull(m[3]);
    r.p50_us = std::stod(m[4]);
    r.p99_us = std::stod(m[5]);
    r.p999_us = std::stod(m[6]);
    return r;
}

void sample_memload(Ctx& c, int rep, Mode mode, bool open) {
    std::string w = open ? "memload-open" : "memload-closed";
    LoadResult res;
    LoadParams lp = c.p.load;
    if (!open)
        lp.rate = 0;
    auto v = measure(c, w, mode, 1, rep, lp.seconds + lp.warmup_s, true, syscall_hooks(),
                     [&]() -> std::optional<double> {
                         auto r =
                             (c.p.icount ? run_memload_exec(lp, c.p.self_exe) : run_memload(lp));
                         if (!r) {
                             c.r.errors.push_back(w + ": " + r.error().message());
                             return std::nullopt;
                         }
                         res = r.value();
                         return res.ops_per_s;
                     });
    if (!v)
        return;
    Sample s{w, "ops_per_s", "ops/s", mode_name(mode), 1, rep, *v};
    s.p50_us = res.p50_us;
    s.p99_us = res.p99_us;
    s.p999_us = res.p999_us;
    c.r.samples.push_back(s);
    progress("  %s %-9s %.0f ops/s", w.c_str(), mode_name(mode), *v);
}

} // namespace kview::bench
