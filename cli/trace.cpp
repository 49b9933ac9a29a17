// kview trace and kview attach: parse, check, create the view, add the
// hooks (with the built-in actions' or the user's BPF programs), report.
#include <bpf/libbpf.h>
#include <getopt.h>
#include <linux/kview.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "actions.hpp"
#include "command.hpp"
#include "commands.hpp"
#include "kview/bpf.hpp"
#include "kview/parse.hpp"
#include "kview/view.hpp"
#include "report.hpp"
#include "usage.hpp"

namespace kview::cli {
namespace {

int libbpf_verbose(enum libbpf_print_level, const char* fmt, va_list ap) {
    return std::vfprintf(stderr, fmt, ap);
}

// The options trace and attach share: -d, -f, --fork, --exec, -h.
struct Common {
    std::chrono::milliseconds duration{0};
    bool json = false;
    uint32_t flags = 0;
};

// Handles c if it is a shared option; false if it is not one.
bool common_option(int c, const char* cmd, Common& o) {
    switch (c) {
    case 'd':
        o.duration = duration_arg('d', optarg);
        return true;
    case 'f':
        o.json = json_arg(optarg);
        return true;
    case 'F':
        o.flags |= KVIEW_VIEW_FOLLOW_FORK;
        return true;
    case 'E':
        o.flags |= KVIEW_VIEW_EXEC_REAPPLY;
        return true;
    case 'h':
        print_usage(cmd);
        std::exit(0);
    default:
        return false;
    }
}

// One user hook (-k, -r, -s): an entry and/or a return kernel hook. Its
// index is the cookie of both, so actions can pair them.
struct TraceHook {
    std::string label;
    HookSpec spec;
    uint32_t entry = 0; // KVIEW_HOOK_* or 0
    uint32_t ret = 0;
};

struct TraceArgs {
    Common common;
    pid_t pid = 0;
    std::string command;
    std::vector<TraceHook> hooks;
    std::vector<std::string> tracepoints;
    ActionSpec action;
    std::chrono::milliseconds interval{0};
    std::string output;
    bool dry_run = false;
};

TraceHook hook_arg(int c, const char* arg) {
    auto r = parse_hook_spec(arg);
    if (c == 's') {
        if (!r || r.value().offset)
            die_usage("-s takes a syscall name, e.g. -s read");
        return {"syscall:" + r.value().symbol, r.value(), KVIEW_HOOK_SYSCALL_ENTER,
                KVIEW_HOOK_SYSCALL_EXIT};
    }
    if (!r)
        die_usage(r.error().message());
    if (c == 'r' && r.value().offset)
        die_usage("-r takes a function name without offset");
    if (c == 'k')
        return {arg, r.value(), KVIEW_HOOK_KPROBE, 0};
    return {std::string(arg) + ":return", r.value(), 0, KVIEW_HOOK_KRETPROBE};
}

void check_trace_args(TraceArgs& a);

TraceArgs parse_trace(int argc, char** argv) {
    static const option opts[] = {{"pid", required_argument, nullptr, 'p'},
                                  {"kprobe", required_argument, nullptr, 'k'},
                                  {"kretprobe", required_argument, nullptr, 'r'},
                                  {"syscall", required_argument, nullptr, 's'},
                                  {"duration", required_argument, nullptr, 'd'},
                                  {"interval", required_argument, nullptr, 'i'},
                                  {"format", required_argument, nullptr, 'f'},
                                  {"fork", no_argument, nullptr, 'F'},
                                  {"exec", no_argument, nullptr, 'E'},
                                  {"help", no_argument, nullptr, 'h'},
                                  {"command", required_argument, nullptr, 'c'},
                                  {"action", required_argument, nullptr, 'a'},
                                  {"output", required_argument, nullptr, 'o'},
                                  {"verbose", no_argument, nullptr, 'v'},
                                  {"dry-run", no_argument, nullptr, 'n'},
                                  {"tracepoint", required_argument, nullptr, 't'},
                                  {"shared-text", no_argument, nullptr, 'S'},
                                  {nullptr, 0, nullptr, 0}};
    TraceArgs a;
    optind = 1;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, ":p:c:k:r:s:t:d:i:f:a:o:vh", opts, nullptr)) != -1;) {
        if (common_option(c, "trace", a.common))
            continue;
        switch (c) {
        case 'p':
            a.pid = pid_arg(optarg);
            break;
        case 'c':
            a.command = optarg;
            break;
        case 'k':
        case 'r':
        case 's':
            a.hooks.push_back(hook_arg(c, optarg));
            break;
        case 't':
            a.tracepoints.push_back(optarg);
            break;
        case 'i':
            a.interval = duration_arg('i', optarg);
            break;
        case 'S':
            a.common.flags |= KVIEW_VIEW_SHARED_TEXT;
            break;
        case 'o':
            a.output = optarg;
            break;
        case 'v':
            libbpf_set_print(libbpf_verbose);
            break;
        case 'n':
            a.dry_run = true;
            break;
        case 'a': {
            auto r = parse_action(optarg);
            if (!r)
                die_usage(r.error().message());
            a.action = r.value();
            break;
        }
        default:
            die_bad_option(c, argv);
        }
    }
    if (optind < argc)
        die_usage(std::string("unexpected argument '") + argv[optind] + "'");
    check_trace_args(a);
    return a;
}

// What the options must say together; pairs latency entries with returns.
void check_trace_args(TraceArgs& a) {
    if (!a.pid == a.command.empty())
        die_usage("needs one of -p PID or -c 'CMD'");
    if (a.hooks.empty() && a.tracepoints.empty())
        die_usage("needs at least one hook (-k, -r, -s or -t)");
    if (a.tracepoints.size() > KVIEW_MAX_HOOKS)
        die_usage("too many tracepoints");
    for (auto& h : a.hooks) {
        bool lat = a.action.action == Action::Latency;
        if (lat && h.entry == KVIEW_HOOK_KPROBE) {
            if (h.spec.offset)
                die_usage("-a latency needs function entries (-k FUNC without offset)");
            h.ret = KVIEW_HOOK_KRETPROBE; // pair the entry with its return
        }
        if ((lat || a.action.action == Action::Hist) && !h.entry)
            die_usage("-a " + std::string(lat ? "latency" : "hist") +
                      " needs entry hooks (-k or -s), not -r");
    }
}

// Where /proc/kallsyms puts sym: not found, in the kernel image, or in a
// module ("[ext4]": hooked in the module's text, which stays loaded).
struct Symbol {
    bool known = true; // false: /proc/kallsyms unreadable, let the module decide
    bool found = false;
    std::string module;
};

Symbol kallsyms_lookup(const std::string& sym) {
    FILE* f = std::fopen("/proc/kallsyms", "re");
    if (!f)
        return {false, false, ""};
    Symbol r;
    char line[512];
    while (!r.found && std::fgets(line, sizeof(line), f)) {
        char addr[32], type[4], name[256], mod[128] = "";
        int n = std::sscanf(line, "%31s %3s %255s %127s", addr, type, name, mod);
        if (n < 3 || sym != name)
            continue;
        r.found = true;
        if (n == 4)
            r.module = mod; // "[ext4]"
    }
    std::fclose(f);
    return r;
}

// Is tracepoint "cat:name" there? Unknown (true) when tracefs is not mounted.
Result<void> check_tracepoint(const std::string& t) {
    auto colon = t.find(':');
    if (colon == std::string::npos)
        return Error{ENOENT, "tracepoint " + t, "write CATEGORY:NAME"};
    std::string dir =
        "/sys/kernel/tracing/events/" + t.substr(0, colon) + "/" + t.substr(colon + 1);
    if (access("/sys/kernel/tracing/events", F_OK) == 0 && access(dir.c_str(), F_OK) != 0)
        return Error{ENOENT, "tracepoint " + t, "not in " + dir};
    return {};
}

std::vector<std::string> labels_of(const TraceArgs& a) {
    std::vector<std::string> labels;
    for (const auto& h : a.hooks)
        labels.push_back(h.label);
    return labels;
}

bool needs_actions(const TraceArgs& a) {
    return a.action.action != Action::Count || !a.tracepoints.empty();
}

// --dry-run: everything but the view: arguments, built-in programs
// (verified by the kernel), the target, the symbols and tracepoints.
int dry_run(const TraceArgs& a) {
    if (needs_actions(a)) {
        auto act = Actions::load(a.action, a.common.json, labels_of(a), stdout);
        if (!act)
            return fail(act.error());
    }
    if (a.pid && kill(a.pid, 0) != 0 && errno == ESRCH)
        return fail(Error{ESRCH, "pid " + std::to_string(a.pid), "no such process"});
    std::string who = a.pid ? "pid " + std::to_string(a.pid) : "the command";
    for (const auto& h : a.hooks) {
        std::string sym = (h.entry == KVIEW_HOOK_SYSCALL_ENTER ? "__x64_sys_" : "") + h.spec.symbol;
        Symbol where = kallsyms_lookup(sym);
        if (where.known && !where.found)
            return fail(Error{ENOENT, "symbol " + sym, "not in /proc/kallsyms"});
        std::printf("would hook %s%s%s in %s%s%s\n", h.label.c_str(),
                    where.module.empty() ? "" : " ", where.module.c_str(), who.c_str(),
                    h.entry ? " (entry)" : "", h.ret ? " (return)" : "");
    }
    for (const auto& t : a.tracepoints) {
        auto ok = check_tracepoint(t);
        if (!ok)
            return fail(ok.error());
        std::printf("would attach tracepoint %s globally, filtered on %s (NOT PRIVATE)\n",
                    t.c_str(), who.c_str());
    }
    return 0;
}

// Every user hook's kernel hooks, with the action's program on each.
Result<void> add_hooks(View& view, const TraceArgs& a, Actions* actions) {
    bool hist = a.action.action == Action::Hist;
    for (size_t i = 0; i < a.hooks.size(); i++) {
        const auto& h = a.hooks[i];
        for (uint32_t kind : {h.entry, h.ret}) {
            if (!kind)
                continue;
            bool ret = kind == h.ret;
            int prog = -1;
            if (actions && !(hist && ret))
                prog = ret ? actions->return_fd() : actions->entry_fd();
            uint64_t cookie = i | (h.entry == KVIEW_HOOK_SYSCALL_ENTER ? 1u << 31 : 0);
            auto r = view.add_hook(kind, h.spec.symbol, ret ? 0 : h.spec.offset, cookie, prog);
            if (!r)
                return r.error();
        }
    }
    return {};
}

} // namespace

int cmd_trace(int argc, char** argv) {
    TraceArgs a = parse_trace(argc, argv);
    const bool json = a.common.json;
    if (!a.output.empty() && !std::freopen(a.output.c_str(), "w", stdout)) {
        std::fprintf(stderr, "kview: -o %s: %s\n", a.output.c_str(), std::strerror(errno));
        return 1;
    }
    if (a.dry_run)
        return dry_run(a);

    // Block the signals before creating the view: Ctrl-C always detaches.
    Fd sfd = block_signals();
    if (!sfd.valid())
        return fail(errno_error("signalfd"));
    Command child;
    uint32_t flags = a.common.flags;
    if (!a.command.empty()) {
        auto spawned = child.spawn(a.command);
        if (!spawned)
            return fail(spawned.error());
        a.pid = spawned.value();
        flags |= KVIEW_VIEW_EXEC_REAPPLY | KVIEW_VIEW_FOLLOW_FORK;
    }
    std::unique_ptr<Actions> actions;
    if (needs_actions(a)) {
        auto act = Actions::load(a.action, json, labels_of(a), stdout);
        if (!act)
            return fail(act.error());
        actions = std::move(act.value());
    }
    auto view = View::join(a.pid, flags);
    if (!view)
        return fail(view.error());
    report_join(view.value());
    if (auto r = add_hooks(view.value(), a, actions.get()); !r)
        return fail(r.error()); // the view is torn down on return
    if ((flags & KVIEW_VIEW_SHARED_TEXT) && !json)
        std::fprintf(stderr, "kview: note: --shared-text: hooks armed for EVERY process, filtered "
                             "in the module (comparison mode, not zero-cost)\n");
    if (!a.tracepoints.empty()) {
        auto r = actions->attach_tracepoints(a.tracepoints, a.pid);
        if (!r)
            return fail(r.error());
        if (!json)
            std::fprintf(stderr,
                         "kview: note: tracepoints are FILTERED, NOT PRIVATE: every process "
                         "hitting them runs kview's program, which drops other pids\n");
    }
    if (!json)
        std::fprintf(stderr, "kview: tracing pid %d with %zu hook(s); Ctrl-C to stop\n", a.pid,
                     a.hooks.size() + a.tracepoints.size());
    if (!a.command.empty())
        child.start();
    int rc = run_until_done(view.value(), sfd, a.pid, a.common.duration, a.interval, json,
                            actions.get());
    if (!a.command.empty()) {
        int status = child.reap();
        if (status >= 0 && !json)
            std::fprintf(stderr, "kview: command exited with status %d\n", status);
    }
    return rc;
}

int cmd_attach(int argc, char** argv) {
    static const option opts[] = {{"pid", required_argument, nullptr, 'p'},
                                  {"obj", required_argument, nullptr, 'o'},
                                  {"cookie", required_argument, nullptr, 'c'},
                                  {"duration", required_argument, nullptr, 'd'},
                                  {"format", required_argument, nullptr, 'f'},
                                  {"fork", no_argument, nullptr, 'F'},
                                  {"exec", no_argument, nullptr, 'E'},
                                  {"help", no_argument, nullptr, 'h'},
                                  {nullptr, 0, nullptr, 0}};
    Common o;
    pid_t pid = 0;
    std::string obj_path;
    uint64_t cookie = 0;
    optind = 1;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, ":p:o:c:d:f:h", opts, nullptr)) != -1;) {
        if (common_option(c, "attach", o))
            continue;
        switch (c) {
        case 'p':
            pid = pid_arg(optarg);
            break;
        case 'o':
            obj_path = optarg;
            break;
        case 'c': {
            char* end = nullptr;
            errno = 0;
            cookie = std::strtoull(optarg, &end, 0);
            if (errno || !end || *end)
                die_usage(std::string("bad --cookie '") + optarg + "'");
            break;
        }
        default:
            die_bad_option(c, argv);
        }
    }
    if (optind < argc)
        die_usage(std::string("unexpected argument '") + argv[optind] + "'");
    if (!pid || obj_path.empty())
        die_usage("needs -p PID and --obj FILE");
    Fd sfd = block_signals();
    if (!sfd.valid())
        return fail(errno_error("signalfd"));
    auto obj = BpfObject::load(obj_path);
    if (!obj)
        return fail(obj.error());
    auto view = View::join(pid, o.flags);
    if (!view)
        return fail(view.error());
    report_join(view.value());
    auto n = obj.value().attach_all(view.value(), cookie);
    if (!n)
        return fail(n.error());
    if (!o.json) {
        for (const auto& p : obj.value().programs())
            std::fprintf(
                stderr, "kview: %-24s %s\n", p.name.c_str(),
                p.kind ? ("attached to pid " + std::to_string(pid) + " at " + p.section).c_str()
                       : ("skipped (section " + p.section + ")").c_str());
        std::fprintf(stderr, "kview: %d program(s) attached to pid %d only; Ctrl-C to detach\n",
                     n.value(), pid);
    }
    return run_until_done(view.value(), sfd, pid, o.duration, std::chrono::milliseconds{0}, o.json);
}

} // namespace kview::cli
