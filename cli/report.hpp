// What a running trace prints: the hook counts (text or JSON; totals, or one
// interval's deltas), the filtered tracepoints, and the loop that reports
// until Ctrl-C, the duration, or the target's exit.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <vector>

#include "actions.hpp"
#include "kview/fd.hpp"
#include "kview/view.hpp"

namespace kview::cli {

// The totals (prev null; final_report: the last one), or the counts since
// prev, secs long (an interval report).
void report(const ViewStats& s, bool json, bool final_report, const ViewStats* prev = nullptr,
            double secs = 0);
// Totals, or (last given) the counts since *last, which is then updated.
void report_tracepoints(Actions* actions, bool json,
                        std::vector<Actions::TracepointStats>* last = nullptr);

// On stderr, when the session joined a view that was there before it:
// "kview: joined the existing view of pid N (M sessions)".
void report_join(const View& v);

// SIGINT and SIGTERM blocked and readable from the returned signalfd:
// Ctrl-C always ends the loop below, which detaches.
[[nodiscard]] Fd block_signals();

// Poll until a signal on sfd, the duration (0: none) or the target's exit,
// reporting every interval (0: never) and at the end. 0, or 1 on an error.
int run_until_done(View& view, const Fd& sfd, pid_t pid, std::chrono::milliseconds duration,
                   std::chrono::milliseconds interval, bool json, Actions* actions = nullptr);

} // namespace kview::cli
