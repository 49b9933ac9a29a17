#include "report.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <cstdio>

#include "json.hpp"
#include "usage.hpp"

namespace kview::cli {
namespace {

// The counts since `prev` (an interval report), or the totals (prev null).
kview::HookStats delta(const kview::HookStats& h, const kview::ViewStats* prev) {
    if (!prev)
        return h;
    kview::HookStats d = h;
    for (const auto& p : prev->hooks) {
        if (p.id != h.id)
            continue;
        d.hits -= p.hits;
        d.other_hits -= p.other_hits;
        d.foreign_mm_hits -= p.foreign_mm_hits;
        d.missed -= p.missed;
        d.prog_runs -= p.prog_runs;
    }
    return d;
}

} // namespace

void report(const kview::ViewStats& s, bool json, bool final_report, const kview::ViewStats* prev,
            double secs) {
    using kview::cli::u64;
    auto u = [](uint64_t x) { return static_cast<unsigned long long>(x); };
    if (json) {
        kview::cli::Json hooks = kview::cli::Json::array();
        for (const auto& h0 : s.hooks) {
            auto h = delta(h0, prev);
            hooks.push_back({{"symbol", h.symbol},
                             {"kind", kview::hook_kind_name(h.kind)},
                             {"addr", kview::cli::hex(h.addr)},
                             {"hits", u64(h.hits)},
                             {"other", u64(h.other_hits)},
                             {"foreign", u64(h.foreign_mm_hits)},
                             {"missed", u64(h.missed)},
                             {"lost", h.lost},
                             {"bpf_runs", u64(h.prog_runs)}});
        }
        kview::cli::Json j = {{"view", s.id}, {"pid", s.pid}, {"live", s.live}};
        if (prev)
            j["interval_s"] = secs;
        else
            j["final"] = final_report;
        j.update({{"text_pages", u64(s.text_pages)},
                  {"table_pages", u64(s.table_pages)},
                  {"bytes", u64(s.bytes)},
                  {"mms", s.nr_mms},
                  {"unfollowed", u64(s.unfollowed)},
                  {"hooks", hooks}});
        kview::cli::emit(stdout, prev ? "interval" : "stats", j);
    } else {
        if (prev)
            std::printf("--- %s  interval %.3f s (counts of this interval)\n",
                        kview::cli::rfc3339(kview::cli::unix_now_ns()).c_str(), secs);
        std::printf("%-24s %-14s %12s %10s %8s %7s %5s %9s\n", "HOOK", "KIND", "HITS", "OTHER",
                    "FOREIGN", "MISSED", "LOST", "BPF_RUNS");
        for (const auto& h0 : s.hooks) {
            auto h = delta(h0, prev);
            std::printf("%-24s %-14s %12llu %10llu %8llu %7llu %5s %9llu\n", h.symbol.c_str(),
                        kview::hook_kind_name(h.kind), u(h.hits), u(h.other_hits),
                        u(h.foreign_mm_hits), u(h.missed), h.lost ? "yes" : "no", u(h.prog_runs));
        }
        if (!prev)
            std::printf("view %u pid %d %s: %llu text + %llu table pages, %llu bytes, %u address "
                        "space(s)\n",
                        s.id, s.pid, s.live ? "live" : "ended", u(s.text_pages), u(s.table_pages),
                        u(s.bytes), s.nr_mms);
        if (s.unfollowed && !prev)
            std::printf("warning: %llu fork(s)/exec(s) not followed (more than %d processes in "
                        "the view at once): their events are not counted\n",
                        u(s.unfollowed), KVIEW_VIEW_MAX_MMS);
    }
    std::fflush(stdout);
}

int run_until_done(kview::View& view, const kview::Fd& sfd, pid_t pid,
                   std::chrono::milliseconds duration, std::chrono::milliseconds interval,
                   bool json, kview::cli::Actions* actions) {
    using clock = std::chrono::steady_clock;
    auto start = clock::now(), next = start + interval, last = start;
    kview::ViewStats prev; // the counts at the last interval report
    std::vector<Actions::TracepointStats> prev_tp;
    for (;;) {
        auto now = clock::now();
        auto wait = std::chrono::milliseconds(200);
        if (duration.count())
            wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      start + duration - now));
        if (interval.count())
            wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(next - now));
        pollfd p[2] = {{sfd.get(), POLLIN, 0}, {actions ? actions->events_fd() : -1, POLLIN, 0}};
        int n = poll(p, 2, static_cast<int>(std::max<int64_t>(0, wait.count())));
        if (n > 0 && (p[1].revents & POLLIN))
            actions->consume();
        if (n > 0 && (p[0].revents & POLLIN))
            break; // SIGINT/SIGTERM
        auto st = view.stats();
        if (!st)
            return fail(st.error());
        now = clock::now();
        if (!st.value().live) {
            if (!json)
                std::fprintf(stderr, "kview: target %d has exited\n", pid);
            break;
        }
        if (duration.count() && now >= start + duration)
            break;
        if (interval.count() && now >= next) {
            double secs = std::chrono::duration<double>(now - last).count();
            report(st.value(), json, false, &prev, secs);
            if (actions)
                actions->print_interval();
            report_tracepoints(actions, json, &prev_tp);
            prev = st.value();
            last = now;
            next += interval;
        }
    }
    auto st = view.stats();
    if (!st)
        return fail(st.error());
    if (actions)
        actions->print_summary();
    report(st.value(), json, true);
    report_tracepoints(actions, json);
    return 0;
}

void report_tracepoints(kview::cli::Actions* actions, bool json,
                        std::vector<Actions::TracepointStats>* last) {
    if (!actions)
        return;
    auto now = actions->tracepoint_stats();
    for (size_t i = 0; i < now.size(); i++) {
        auto t = now[i];
        if (last && i < last->size()) { // an interval: its counts only
            t.hits -= (*last)[i].hits;
            t.filtered -= (*last)[i].filtered;
        }
        auto u = [](uint64_t x) { return static_cast<unsigned long long>(x); };
        if (json)
            kview::cli::emit(stdout, "tracepoint",
                             {{"tracepoint", t.name},
                              {"scope", last ? "interval" : "total"},
                              {"hits", kview::cli::u64(t.hits)},
                              {"other_process_entries", kview::cli::u64(t.filtered)},
                              {"private", false}});
        else
            std::printf("tracepoint %-30s %12llu hits  [filtered, not private: %llu entries from "
                        "other processes]%s\n",
                        t.name.c_str(), u(t.hits), u(t.filtered), last ? " (this interval)" : "");
    }
    if (last)
        *last = std::move(now);
    std::fflush(stdout);
}

kview::Fd block_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    return kview::Fd(signalfd(-1, &set, SFD_CLOEXEC));
}

void report_join(const View& v) {
    if (v.joined())
        std::fprintf(stderr,
                     "kview: joined the existing view %u of pid %d (%u sessions); its hooks and "
                     "counts are this session's own\n",
                     v.id(), v.pid(), v.sessions_at_open());
}

} // namespace kview::cli
