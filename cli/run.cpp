// kview run: an unmodified bpftrace / bcc / libbpf tool, its kprobes in the
// view of one process (libkview's supervise::Supervisor answers its
// perf_event_open and bpf link calls), then a report of every attach.
#include <getopt.h>
#include <linux/kview.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "commands.hpp"
#include "kview/supervisor.hpp"
#include "kview/view.hpp"
#include "report.hpp"
#include "usage.hpp"

namespace kview::cli {
namespace {

namespace sv = kview::supervise;

struct RunArgs {
    pid_t pid = 0;
    std::string command;
    bool allow_global = false;
    uint32_t flags = 0;
    std::string report; // JSON report file
    std::vector<std::string> tool;
};

RunArgs parse_run(int argc, char** argv) {
    static const option opts[] = {
        {"pid", required_argument, nullptr, 'p'},    {"command", required_argument, nullptr, 'c'},
        {"allow-global", no_argument, nullptr, 'G'}, {"report", required_argument, nullptr, 'R'},
        {"fork", no_argument, nullptr, 'F'},         {"exec", no_argument, nullptr, 'E'},
        {"help", no_argument, nullptr, 'h'},         {nullptr, 0, nullptr, 0}};
    RunArgs a;
    optind = 1;
    opterr = 0;
    // '+': the tool's own options are not ours
    for (int c; (c = getopt_long(argc, argv, "+:p:c:h", opts, nullptr)) != -1;) {
        switch (c) {
        case 'p':
            a.pid = pid_arg(optarg);
            break;
        case 'c':
            a.command = optarg;
            break;
        case 'G':
            a.allow_global = true;
            break;
        case 'R':
            a.report = optarg;
            break;
        case 'F':
            a.flags |= KVIEW_VIEW_FOLLOW_FORK;
            break;
        case 'E':
            a.flags |= KVIEW_VIEW_EXEC_REAPPLY;
            break;
        case 'h':
            print_usage("run");
            std::exit(0);
        default:
            die_bad_option(c, argv);
        }
    }
    if ((a.pid != 0) == !a.command.empty())
        die_usage("needs one of -p PID or -c CMD");
    for (int i = optind; i < argc; i++)
        a.tool.emplace_back(argv[i]);
    if (a.tool.empty())
        die_usage("needs a tool after --, e.g. -- bpftrace -e 'kprobe:vfs_read { @ = count(); }'");
    if (!a.command.empty())
        a.flags |= KVIEW_VIEW_FOLLOW_FORK | KVIEW_VIEW_EXEC_REAPPLY;
    return a;
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// No thread of process pid is running (all wait: poll, sleep, a pipe).
bool idle(pid_t pid) {
    std::error_code ec;
    auto dir = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& t : std::filesystem::directory_iterator(dir, ec)) {
        std::ifstream f(t.path() / "stat");
        std::string s;
        std::getline(f, s);
        size_t p = s.rfind(')');
        if (p == std::string::npos || p + 2 >= s.size() || s[p + 2] == 'R')
            return false;
    }
    return !ec;
}

// -c: the tool has attached once every hook descriptor it still holds has a
// program and is enabled (at least one), 1 s passed without a new attach
// and the tool is idle (waiting for events: a tool still matching function
// names or compiling runs); or, with none handed out, 3 s after its last
// kprobe or tracepoint attempt (refused or global). A heuristic: a tool
// that attaches more after a pause that long would miss the start of CMD.
bool attached(const sv::Supervisor& sup, const View& view, pid_t tool, int64_t now) {
    int64_t last = sup.last_attach_ms();
    if (!last)
        return false;
    if (!sup.private_hooks())
        return now - last >= 3000;
    if (now - last < 1000 || !idle(tool))
        return false;
    auto st = view.stats();
    if (!st.ok())
        return false;
    size_t ready = 0;
    for (const auto& h : st.value().hooks) {
        if (!(h.flags & KVIEW_HOOK_FD) || (h.flags & KVIEW_HOOK_CLOSED))
            continue;
        if (!(h.flags & KVIEW_HOOK_PROG) || (h.flags & KVIEW_HOOK_DISABLED))
            return false;
        ready++;
    }
    return ready > 0;
}

void write_json_report(const std::string& path, const sv::Supervisor& sup, const ViewStats* st,
                       int tool_status) {
    nlohmann::json j;
    j["type"] = "run";
    j["tool_status"] = tool_status;
    auto& arr = j["attaches"] = nlohmann::json::array();
    for (const auto& a : sup.attaches()) {
        nlohmann::json o{{"what", a.what}, {"result", sv::attach_kind_name(a.kind)}};
        if (!a.reason.empty())
            o["reason"] = a.reason;
        if (a.err)
            o["errno"] = strerrorname_np(a.err) ? strerrorname_np(a.err) : "E?";
        if (a.kind == sv::Attach::Private) {
            o["hook"] = a.hook_id;
            for (const auto& h : st ? st->hooks : std::vector<HookStats>{})
                if (h.id == a.hook_id) {
                    o["hits"] = h.hits;
                    o["prog_runs"] = h.prog_runs;
                }
        }
        arr.push_back(o);
    }
    if (st) {
        j["view"] = st->id;
        j["pid"] = st->pid;
        j["hits"] = st->hits;
        j["other_hits"] = st->other_hits;
        j["foreign_mm_hits"] = st->foreign_mm_hits;
    }
    std::ofstream(path) << j.dump() << "\n";
}

// The tool, forked under the supervisor's seccomp filter (exec_tool()) in
// a mount namespace where the tracefs probe files are an empty read-only
// file; its listener comes back over a socket pair.
struct Tool {
    pid_t pid = -1;
    Fd listener;
};

Result<Tool> start_tool(const RunArgs& a, pid_t target) {
    char blocker[] = "/tmp/kview-run-XXXXXX";
    int bfd = mkstemp(blocker);
    if (bfd < 0)
        return errno_error("create /tmp/kview-run-*");
    close(bfd);
    chmod(blocker, 0444);
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
        auto e = errno_error("socketpair");
        unlink(blocker);
        return e;
    }
    sv::ToolSpec spec{a.tool, {"KVIEW_PID=" + std::to_string(target)}, a.allow_global, blocker};
    pid_t parent = getpid();
    Tool t;
    t.pid = fork();
    if (t.pid < 0) {
        auto e = errno_error("fork");
        close(sp[0]);
        close(sp[1]);
        unlink(blocker);
        return e;
    }
    if (t.pid == 0) {
        close(sp[0]);
        sv::exec_tool(spec, sp[1], parent);
        _exit(127);
    }
    close(sp[1]);
    auto listener = sv::receive_listener(sp[0]);
    close(sp[0]);
    unlink(blocker); // bound in the tool's namespace by now, or never
    if (!listener.ok()) {
        waitpid(t.pid, nullptr, 0);
        return listener.error();
    }
    t.listener = std::move(listener.value());
    return t;
}

// The supervision loop: the tool's trapped calls, our signals (forwarded),
// -c's start once the tool has attached, the stop once the traced command
// exits or the target's view ends.
class RunLoop {
  public:
    RunLoop(const RunArgs& a, Command& cmd, View& view, sv::Supervisor& sup, pid_t tool, int sfd)
        : a_(a), cmd_(cmd), view_(view), sup_(sup), tool_(tool), sfd_(sfd),
          started_(a.command.empty()) {}

    // Runs until the tool exits; its exit status (128 + signal if killed).
    int run() {
        for (;;) {
            pollfd p[2] = {{sup_.fd(), POLLIN, 0}, {sfd_, POLLIN, 0}};
            if (poll(p, 2, 100) > 0) {
                if (p[0].revents & POLLIN)
                    on_notification();
                if (p[1].revents & POLLIN)
                    on_signal();
            }
            int st = 0;
            if (waitpid(tool_, &st, WNOHANG) == tool_)
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            int64_t now = now_ms();
            maybe_start(now);
            maybe_stop(now);
        }
    }
    int rc() const { return rc_; } // non-zero: the supervisor failed

  private:
    void on_notification() {
        auto r = sup_.handle_one();
        if (!r.ok()) {
            rc_ = fail(r.error());
            kill(tool_, SIGKILL);
        }
    }
    void on_signal() {
        signalfd_siginfo si{};
        if (read(sfd_, &si, sizeof(si)) != sizeof(si))
            return;
        // Ctrl-C: the tool stops (and prints), then we report
        signals_++;
        kill(tool_, signals_ == 1 ? SIGINT : signals_ == 2 ? SIGTERM : SIGKILL);
    }
    void maybe_start(int64_t now) {
        // twice in a row, 100 ms apart: a tool between two steps looks idle once
        idle_polls_ = !started_ && attached(sup_, view_, tool_, now) ? idle_polls_ + 1 : 0;
        if (!started_ && idle_polls_ >= 2) {
            cmd_.start();
            started_ = true;
        }
    }
    // The traced command exited, or the target's view ended: the tool stops
    // (SIGINT: bpftrace and bcc print their maps), harder if it does not
    // within 30 s.
    void maybe_stop(int64_t now) {
        if (stopping_) {
            if (now - stop_at_ > 30000)
                kill(tool_, now - stop_at_ > 40000 ? SIGKILL : SIGTERM);
            return;
        }
        if (!started_)
            return;
        bool done;
        if (!a_.command.empty()) {
            done = cmd_.reap() >= 0;
        } else {
            auto vs = view_.stats();
            done = vs.ok() && !vs.value().live;
        }
        if (done) {
            stopping_ = true;
            stop_at_ = now;
            kill(tool_, SIGINT);
        }
    }

    const RunArgs& a_;
    Command& cmd_;
    View& view_;
    sv::Supervisor& sup_;
    pid_t tool_;
    int sfd_;
    bool started_, stopping_ = false;
    int64_t stop_at_ = 0;
    int signals_ = 0, idle_polls_ = 0, rc_ = 0;
};

} // namespace

int cmd_run(int argc, char** argv) {
    RunArgs a = parse_run(argc, argv);
    auto pmus = sv::read_pmus();
    if (!pmus.ok())
        return fail(pmus.error());
    Fd sfd = block_signals();
    Command cmd;
    pid_t target = a.pid;
    if (!a.command.empty()) {
        auto p = cmd.spawn(a.command);
        if (!p.ok())
            return fail(p.error());
        target = p.value();
    }
    auto view = View::join(target, a.flags);
    if (!view.ok())
        return fail(view.error());
    report_join(view.value());
    auto tool = start_tool(a, target);
    if (!tool.ok())
        return fail(tool.error());
    sv::Supervisor sup(view.value(), std::move(tool.value().listener), pmus.value(),
                       a.allow_global);
    RunLoop loop(a, cmd, view.value(), sup, tool.value().pid, sfd.get());
    int status = loop.run();
    auto st = view.value().stats();
    std::fputs(sv::render_report(sup.attaches(), st.ok() ? &st.value() : nullptr).c_str(), stderr);
    if (!a.report.empty())
        write_json_report(a.report, sup, st.ok() ? &st.value() : nullptr, status);
    return loop.rc() ? loop.rc() : status;
}

} // namespace kview::cli
