// kview: trace one process with hooks that fire for it only.
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "actions.hpp"
#include "kview/bpf.hpp"
#include "kview/parse.hpp"
#include "kview/view.hpp"

namespace {

constexpr const char* kUsage = R"(usage: kview <command> [options]

Trace one process with kernel hooks that fire for that process only: kview
gives it a private copy of the hooked kernel text; every other process keeps
running the original, untouched code.

Commands:
  trace -p PID HOOK...   count hook hits in process PID until Ctrl-C / -d
  attach -p PID --obj F  attach the kprobe/kretprobe/ksyscall programs of the
                         libbpf object F to process PID only, until Ctrl-C / -d
  list                   every view in the system: pid, state, hooks, pages
  stat [VIEW]            module-wide accounting (live views, pages, bytes), or one view
  version                CLI, library, ABI and module versions
  help                   this text

trace options:
  -p, --pid PID          process to trace (all its threads)
  -c, --command CMD      run `sh -c CMD` traced from its first instruction (follows
                         exec and fork); it is terminated if kview exits first
  -k, --kprobe FUNC[+OFF]  hook FUNC's entry (after the fentry call) or FUNC+OFF
  -r, --kretprobe FUNC   hook FUNC's return
  -s, --syscall NAME     hook syscall NAME's entry and exit (e.g. read, sendmsg)
  -t, --tracepoint CAT:NAME  count tracepoint hits of the target. NOT PRIVATE: attached
                         globally and filtered by pid (labelled "filtered" in the output)
  -d, --duration DUR     stop after DUR (500ms, 10s, 2m); default: until Ctrl-C
  -i, --interval DUR     print counts every DUR
  -a, --action ACTION    count (default): hit counts per hook;
                         hist=argN: log2 histogram of argument N (1..5) at entry;
                         latency: log2 histogram of entry->return time (ns) of -k/-s;
                         print: one line per event (pid, tid, arg1 or return value)
  -f, --format FMT       text (default) or json (one JSON object per line)
  -o, --output FILE      write reports and events to FILE
  -v, --verbose          libbpf debug output (verifier logs)
      --dry-run          check arguments, programs, target and symbols; attach nothing
      --shared-text      comparison mode ("pre-eBPF"): arm the hooks in shared text for
                         every process and filter in the module. NOT zero-cost
      --fork             forked children join the view
      --exec             keep tracing the target across exec (default: stop)

attach options: -p PID, --obj FILE, --cookie N (bpf_get_attach_cookie), -d, -f, --fork, --exec

Examples:
  sudo insmod build/kmod/$(uname -r)/kview.ko
  kview version
  kview trace -p 1234 -k vfs_read -d 10s
  kview trace -c 'dd if=/dev/zero of=/dev/null bs=1 count=20000' -k vfs_read
  kview trace -p 1234 -s read -s sendmsg -i 1s -f json
  kview trace -p 1234 -k vfs_read -r vfs_read --fork
  kview trace -p 1234 -k vfs_read -a hist=arg3       # read sizes
  kview trace -c 'ls -l /' -k vfs_read -a latency
  kview trace -p 1234 -s openat -a print
  kview attach -p 1234 --obj count.bpf.o -d 30s   # maps stay readable with bpftool
  kview list
  kview stat
)";

void die_usage(const std::string& msg) {
    std::fprintf(stderr, "kview: %s\n\n%s", msg.c_str(), kUsage);
    std::exit(2);
}

// Option values shared by the subcommands: parsed, or usage + exit 2.
pid_t pid_arg(const char* s) {
    auto r = kview::parse_pid(s);
    if (!r)
        die_usage(r.error().message());
    return r.value();
}

std::chrono::milliseconds duration_arg(const char* s) {
    auto r = kview::parse_duration(s);
    if (!r)
        die_usage(r.error().message());
    return r.value();
}

bool json_arg(const char* s) {
    if (std::strcmp(s, "json") && std::strcmp(s, "text"))
        die_usage("-f takes text or json");
    return !std::strcmp(s, "json");
}

// A plain "prog arg..." runs as is (its pid is the command's, as with
// bpftrace -c); anything with shell syntax runs under /bin/sh -c.
void exec_command(const std::string& cmd) {
    if (cmd.find_first_of("|&;<>()$`\\\"'*?[#{}~\n") == std::string::npos) {
        std::vector<std::string> words;
        size_t i = 0;
        while ((i = cmd.find_first_not_of(" \t", i)) != std::string::npos) {
            size_t j = cmd.find_first_of(" \t", i);
            words.push_back(cmd.substr(i, j == std::string::npos ? j : j - i));
            i = j;
        }
        std::vector<char*> argv;
        for (auto& w : words)
            argv.push_back(w.data());
        argv.push_back(nullptr);
        if (!words.empty())
            execvp(argv[0], argv.data());
        return;
    }
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
}

// `-c CMD`: a child that waits on a pipe until the view and its hooks exist,
// then execs `sh -c CMD` (the view follows it across exec and fork). Killed
// if kview exits first.
class Command {
  public:
    Command() = default;
    Command(const Command&) = delete;
    Command& operator=(const Command&) = delete;
    ~Command() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            waitpid(pid_, nullptr, 0);
        }
    }
    [[nodiscard]] kview::Result<pid_t> spawn(const std::string& cmd) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            return kview::errno_error("pipe");
        pid_t parent = getpid();
        pid_ = fork();
        if (pid_ < 0)
            return kview::errno_error("fork");
        if (pid_ == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(127);
            sigset_t all;
            sigfillset(&all);
            sigprocmask(SIG_UNBLOCK, &all, nullptr);
            close(p[1]);
            char go = 0;
            if (read(p[0], &go, 1) != 1)
                _exit(127); // kview gave up before starting us
            exec_command(cmd);
            _exit(127);
        }
        close(p[0]);
        go_ = kview::Fd(p[1]);
        return pid_;
    }
    void start() {
        if (write(go_.get(), "g", 1) != 1)
            std::fprintf(stderr, "kview: could not start the command\n");
        go_.reset();
    }
    // Reap; -1 if still running.
    int reap() {
        int st = 0;
        if (pid_ <= 0 || waitpid(pid_, &st, WNOHANG) != pid_)
            return -1;
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }

  private:
    pid_t pid_ = -1;
    kview::Fd go_;
};

int libbpf_verbose(enum libbpf_print_level, const char* fmt, va_list ap) {
    return std::vfprintf(stderr, fmt, ap);
}

// Without -v libbpf stays silent: kview's own one-line error says what failed.
int libbpf_quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

bool kallsyms_has(const std::string& sym) {
    FILE* f = std::fopen("/proc/kallsyms", "re");
    if (!f)
        return true; // cannot tell: let the module decide
    char line[512];
    bool found = false;
    while (!found && std::fgets(line, sizeof(line), f)) {
        char* name = std::strrchr(line, ' ');
        if (!name)
            continue;
        std::string n(name + 1);
        while (!n.empty() && (n.back() == '\n' || n.back() == '\r'))
            n.pop_back();
        auto tab = n.find('\t');
        found = n.substr(0, tab) == sym;
    }
    std::fclose(f);
    return found;
}

int fail(const kview::Error& e) {
    std::fprintf(stderr, "kview: %s\n", e.message().c_str());
    return 1;
}

int cmd_version() {
    std::printf("kview CLI %s\nlibkview %s\nABI %d.%d (header)\n", KVIEW_VERSION,
                kview::library_version(), KVIEW_ABI_MAJOR, KVIEW_ABI_MINOR);
    auto dev = kview::Device::open();
    if (!dev)
        return fail(dev.error());
    const auto& v = dev.value().version();
    std::printf("module %s (ABI %u.%u)\n", v.module_version.c_str(), v.abi_major, v.abi_minor);
    return 0;
}

int cmd_stat() {
    auto dev = kview::Device::open();
    if (!dev)
        return fail(dev.error());
    auto st = dev.value().global_stats();
    if (!st)
        return fail(st.error());
    const auto& s = st.value();
    std::printf("live views %u  created %llu  destroyed %llu  pages %llu  bytes %llu\n",
                s.live_views, static_cast<unsigned long long>(s.views_created),
                static_cast<unsigned long long>(s.views_destroyed),
                static_cast<unsigned long long>(s.pages), static_cast<unsigned long long>(s.bytes));
    return 0;
}

int cmd_stat_view(const char* id_arg) {
    char* end = nullptr;
    unsigned long id = std::strtoul(id_arg, &end, 10);
    if (!end || *end || !id)
        die_usage(std::string("stat takes a view id from 'kview list', not '") + id_arg + "'");
    auto dev = kview::Device::open();
    if (!dev)
        return fail(dev.error());
    auto views = dev.value().list_views();
    if (!views)
        return fail(views.error());
    for (const auto& v : views.value()) {
        if (v.id != id)
            continue;
        std::printf("view %u: pid %d, %s, %u hook(s), %u address space(s), %llu pages, %s\n",
                    v.id, v.pid, v.live ? "live" : "ended", v.nr_hooks, v.nr_mms,
                    static_cast<unsigned long long>(v.pages),
                    (v.flags & KVIEW_VIEW_SHARED_TEXT) ? "shared-text comparison mode"
                                                        : "private text");
        std::printf("(per-hook counts are reported by the kview that owns the view)\n");
        return 0;
    }
    return fail(kview::Error{ENOENT, "view " + std::string(id_arg), "see 'kview list'"});
}

int cmd_list() {
    auto dev = kview::Device::open();
    if (!dev)
        return fail(dev.error());
    auto views = dev.value().list_views();
    if (!views)
        return fail(views.error());
    std::printf("%6s %8s %-6s %6s %4s %6s %s\n", "VIEW", "PID", "STATE", "HOOKS", "MMS", "PAGES",
                "MODE");
    for (const auto& v : views.value())
        std::printf("%6u %8d %-6s %6u %4u %6llu %s\n", v.id, v.pid, v.live ? "live" : "ended",
                    v.nr_hooks, v.nr_mms, static_cast<unsigned long long>(v.pages),
                    (v.flags & KVIEW_VIEW_SHARED_TEXT) ? "shared-text (comparison)" : "private");
    return 0;
}

void report(const kview::ViewStats& s, bool json, bool final_report) {
    auto u = [](uint64_t x) { return static_cast<unsigned long long>(x); };
    if (json) {
        std::printf("{\"view\":%u,\"pid\":%d,\"live\":%s,\"final\":%s,\"text_pages\":%llu,"
                    "\"table_pages\":%llu,\"bytes\":%llu,\"mms\":%u,\"unfollowed\":%llu,"
                    "\"hooks\":[",
                    s.id, s.pid, s.live ? "true" : "false", final_report ? "true" : "false",
                    u(s.text_pages), u(s.table_pages), u(s.bytes), s.nr_mms, u(s.unfollowed));
        for (size_t i = 0; i < s.hooks.size(); i++) {
            const auto& h = s.hooks[i];
            std::printf("%s{\"symbol\":\"%s\",\"kind\":\"%s\",\"addr\":\"0x%llx\",\"hits\":%llu,"
                        "\"other\":%llu,\"foreign\":%llu,\"missed\":%llu,\"lost\":%s,"
                        "\"bpf_runs\":%llu}",
                        i ? "," : "", h.symbol.c_str(), kview::hook_kind_name(h.kind), u(h.addr),
                        u(h.hits), u(h.other_hits), u(h.foreign_mm_hits), u(h.missed),
                        h.lost ? "true" : "false", u(h.prog_runs));
        }
        std::printf("]}\n");
    } else {
        std::printf("%-24s %-14s %12s %10s %8s %7s %5s %9s\n", "HOOK", "KIND", "HITS", "OTHER",
                    "FOREIGN", "MISSED", "LOST", "BPF_RUNS");
        for (const auto& h : s.hooks)
            std::printf("%-24s %-14s %12llu %10llu %8llu %7llu %5s %9llu\n", h.symbol.c_str(),
                        kview::hook_kind_name(h.kind), u(h.hits), u(h.other_hits),
                        u(h.foreign_mm_hits), u(h.missed), h.lost ? "yes" : "no",
                        u(h.prog_runs));
        std::printf("view %u pid %d %s: %llu text + %llu table pages, %llu bytes, %u address "
                    "space(s)\n",
                    s.id, s.pid, s.live ? "live" : "ended", u(s.text_pages), u(s.table_pages),
                    u(s.bytes), s.nr_mms);
        if (s.unfollowed)
            std::printf("warning: %llu fork(s)/exec(s) not followed (more than %d processes in "
                        "the view at once): their events are not counted\n",
                        u(s.unfollowed), KVIEW_VIEW_MAX_MMS);
    }
    std::fflush(stdout);
}

int run_until_done(kview::View& view, const kview::Fd& sfd, pid_t pid,
                   std::chrono::milliseconds duration, std::chrono::milliseconds interval,
                   bool json, kview::cli::Actions* actions = nullptr);
kview::Fd block_signals();
void report_tracepoints(kview::cli::Actions* actions, bool json);

int cmd_trace(int argc, char** argv) {
    static const option opts[] = {
        {"pid", required_argument, nullptr, 'p'},     {"kprobe", required_argument, nullptr, 'k'},
        {"kretprobe", required_argument, nullptr, 'r'}, {"syscall", required_argument, nullptr, 's'},
        {"duration", required_argument, nullptr, 'd'}, {"interval", required_argument, nullptr, 'i'},
        {"format", required_argument, nullptr, 'f'},  {"fork", no_argument, nullptr, 'F'},
        {"exec", no_argument, nullptr, 'E'},          {"help", no_argument, nullptr, 'h'},
        {"command", required_argument, nullptr, 'c'}, {"action", required_argument, nullptr, 'a'},
        {"output", required_argument, nullptr, 'o'},  {"verbose", no_argument, nullptr, 'v'},
        {"dry-run", no_argument, nullptr, 'n'},       {"tracepoint", required_argument, nullptr, 't'},
        {"shared-text", no_argument, nullptr, 'S'},
        {nullptr, 0, nullptr, 0}};
    std::vector<std::string> tracepoints;
    // One user hook (-k, -r, -s): an entry and/or a return kernel hook. Its
    // index is the cookie of both, so actions can pair them.
    struct Hook {
        std::string label;
        kview::HookSpec spec;
        uint32_t entry = 0; // KVIEW_HOOK_* or 0
        uint32_t ret = 0;
    };
    kview::cli::ActionSpec action;
    pid_t pid = 0;
    std::vector<Hook> hooks;
    std::chrono::milliseconds duration{0}, interval{0};
    bool json = false;
    uint32_t flags = 0;
    optind = 1;
    std::string command;
    bool dry_run = false;
    for (int c; (c = getopt_long(argc, argv, "p:c:k:r:s:t:d:i:f:a:o:vh", opts, nullptr)) != -1;) {
        switch (c) {
        case 't': tracepoints.push_back(optarg); break;
        case 'S': flags |= KVIEW_VIEW_SHARED_TEXT; break;
        case 'o':
            if (!std::freopen(optarg, "w", stdout)) {
                std::fprintf(stderr, "kview: -o %s: %s\n", optarg, std::strerror(errno));
                return 1;
            }
            break;
        case 'v': libbpf_set_print(libbpf_verbose); break;
        case 'n': dry_run = true; break;
        case 'a': {
            auto r = kview::cli::parse_action(optarg);
            if (!r)
                die_usage(r.error().message());
            action = r.value();
            break;
        }
        case 'p': pid = pid_arg(optarg); break;
        case 'c': command = optarg; break;
        case 'k':
        case 'r': {
            auto r = kview::parse_hook_spec(optarg);
            if (!r)
                die_usage(r.error().message());
            if (c == 'r' && r.value().offset)
                die_usage("-r takes a function name without offset");
            if (c == 'k')
                hooks.push_back({optarg, r.value(), KVIEW_HOOK_KPROBE, 0});
            else
                hooks.push_back({std::string(optarg) + ":return", r.value(), 0,
                                 KVIEW_HOOK_KRETPROBE});
            break;
        }
        case 's': {
            auto r = kview::parse_hook_spec(optarg);
            if (!r || r.value().offset)
                die_usage("-s takes a syscall name, e.g. -s read");
            hooks.push_back({"syscall:" + r.value().symbol, r.value(), KVIEW_HOOK_SYSCALL_ENTER,
                             KVIEW_HOOK_SYSCALL_EXIT});
            break;
        }
        case 'd': duration = duration_arg(optarg); break;
        case 'i': interval = duration_arg(optarg); break;
        case 'f': json = json_arg(optarg); break;
        case 'F': flags |= KVIEW_VIEW_FOLLOW_FORK; break;
        case 'E': flags |= KVIEW_VIEW_EXEC_REAPPLY; break;
        case 'h': std::fputs(kUsage, stdout); return 0;
        default: die_usage("bad option for trace");
        }
    }
    if (optind < argc)
        die_usage(std::string("unexpected argument '") + argv[optind] + "'");
    if (!pid == command.empty())
        die_usage("trace needs one of -p PID or -c 'CMD'");
    if (hooks.empty() && tracepoints.empty())
        die_usage("trace needs at least one hook (-k, -r, -s or -t)");
    if (tracepoints.size() > KVIEW_MAX_HOOKS)
        die_usage("too many tracepoints");
    using kview::cli::Action;
    std::vector<std::string> labels;
    for (auto& h : hooks) {
        if (action.action == Action::Latency && h.entry == KVIEW_HOOK_KPROBE) {
            if (h.spec.offset)
                die_usage("-a latency needs function entries (-k FUNC without offset)");
            h.ret = KVIEW_HOOK_KRETPROBE; // pair the entry with its return
        }
        if ((action.action == Action::Latency || action.action == Action::Hist) && !h.entry)
            die_usage("-a " + std::string(action.action == Action::Hist ? "hist" : "latency") +
                      " needs entry hooks (-k or -s), not -r");
        labels.push_back(h.label);
    }

    bool need_actions = action.action != Action::Count || !tracepoints.empty();
    if (dry_run) {
        // Everything but the view: arguments, built-in programs (verified by
        // the kernel), the target and the symbols.
        if (need_actions) {
            auto a = kview::cli::Actions::load(action, json, labels, stdout);
            if (!a)
                return fail(a.error());
        }
        if (pid && kill(pid, 0) != 0 && errno == ESRCH)
            return fail(kview::Error{ESRCH, "pid " + std::to_string(pid), "no such process"});
        for (const auto& h : hooks) {
            std::string sym = (h.entry == KVIEW_HOOK_SYSCALL_ENTER ? "__x64_sys_" : "") + h.spec.symbol;
            if (!kallsyms_has(sym))
                return fail(kview::Error{ENOENT, "symbol " + sym, "not in /proc/kallsyms"});
            std::printf("would hook %s:%s%s%s\n", pid ? ("pid " + std::to_string(pid)).c_str() : "command",
                        h.label.c_str(), h.entry ? " (entry)" : "", h.ret ? " (return)" : "");
        }
        return 0;
    }

    // Block the signals before creating the view: Ctrl-C always detaches.
    kview::Fd sfd = block_signals();
    if (!sfd.valid())
        return fail(kview::errno_error("signalfd"));

    Command child;
    if (!command.empty()) {
        auto spawned = child.spawn(command);
        if (!spawned)
            return fail(spawned.error());
        pid = spawned.value();
        flags |= KVIEW_VIEW_EXEC_REAPPLY | KVIEW_VIEW_FOLLOW_FORK;
    }
    std::unique_ptr<kview::cli::Actions> actions;
    if (need_actions) {
        auto a = kview::cli::Actions::load(action, json, labels, stdout);
        if (!a)
            return fail(a.error());
        actions = std::move(a.value());
    }
    auto view = kview::View::create(pid, flags);
    if (!view)
        return fail(view.error());
    for (size_t i = 0; i < hooks.size(); i++) {
        const auto& h = hooks[i];
        bool hist = action.action == Action::Hist;
        for (uint32_t kind : {h.entry, h.ret}) {
            if (!kind)
                continue;
            bool ret = kind == h.ret;
            int prog = -1;
            if (actions && !(hist && ret))
                prog = ret ? actions->return_fd() : actions->entry_fd();
            uint64_t cookie = i | (h.entry == KVIEW_HOOK_SYSCALL_ENTER ? 1u << 31 : 0);
            auto r = view.value().add_hook(kind, h.spec.symbol, ret ? 0 : h.spec.offset, cookie, prog);
            if (!r)
                return fail(r.error()); // the view is torn down on return
        }
    }
    if ((flags & KVIEW_VIEW_SHARED_TEXT) && !json)
        std::fprintf(stderr, "kview: note: --shared-text: hooks armed for EVERY process, filtered "
                             "in the module (comparison mode, not zero-cost)\n");
    if (!tracepoints.empty()) {
        auto r = actions->attach_tracepoints(tracepoints, pid);
        if (!r)
            return fail(r.error());
        if (!json)
            std::fprintf(stderr, "kview: note: tracepoints are FILTERED, NOT PRIVATE: every process "
                                 "hitting them runs kview's program, which drops other pids\n");
    }
    if (!json)
        std::fprintf(stderr, "kview: tracing pid %d with %zu hook(s); Ctrl-C to stop\n", pid,
                     hooks.size() + tracepoints.size());
    if (!command.empty())
        child.start();
    int rc = run_until_done(view.value(), sfd, pid, duration, interval, json, actions.get());
    if (!command.empty()) {
        int status = child.reap();
        if (status >= 0 && !json)
            std::fprintf(stderr, "kview: command exited with status %d\n", status);
    }
    return rc;
}

int run_until_done(kview::View& view, const kview::Fd& sfd, pid_t pid,
                   std::chrono::milliseconds duration, std::chrono::milliseconds interval,
                   bool json, kview::cli::Actions* actions) {
    using clock = std::chrono::steady_clock;
    auto start = clock::now(), next = start + interval;
    for (;;) {
        auto now = clock::now();
        auto wait = std::chrono::milliseconds(200);
        if (duration.count())
            wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      start + duration - now));
        pollfd p[2] = {{sfd.get(), POLLIN, 0},
                       {actions ? actions->events_fd() : -1, POLLIN, 0}};
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
            report(st.value(), json, false);
            report_tracepoints(actions, json);
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

void report_tracepoints(kview::cli::Actions* actions, bool json) {
    if (!actions)
        return;
    for (const auto& t : actions->tracepoint_stats()) {
        auto u = [](uint64_t x) { return static_cast<unsigned long long>(x); };
        if (json)
            std::printf("{\"tracepoint\":\"%s\",\"hits\":%llu,\"other_process_entries\":%llu,"
                        "\"private\":false}\n",
                        t.name.c_str(), u(t.hits), u(t.filtered));
        else
            std::printf("tracepoint %-30s %12llu hits  [filtered, not private: %llu entries from "
                        "other processes]\n",
                        t.name.c_str(), u(t.hits), u(t.filtered));
    }
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

int cmd_attach(int argc, char** argv) {
    static const option opts[] = {
        {"pid", required_argument, nullptr, 'p'},      {"obj", required_argument, nullptr, 'o'},
        {"cookie", required_argument, nullptr, 'c'},   {"duration", required_argument, nullptr, 'd'},
        {"format", required_argument, nullptr, 'f'},   {"fork", no_argument, nullptr, 'F'},
        {"exec", no_argument, nullptr, 'E'},           {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0}};
    pid_t pid = 0;
    std::string obj_path;
    uint64_t cookie = 0;
    std::chrono::milliseconds duration{0};
    bool json = false;
    uint32_t flags = 0;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "p:o:c:d:f:h", opts, nullptr)) != -1;) {
        switch (c) {
        case 'p': pid = pid_arg(optarg); break;
        case 'o': obj_path = optarg; break;
        case 'c': {
            char* end = nullptr;
            errno = 0;
            cookie = std::strtoull(optarg, &end, 0);
            if (errno || !end || *end)
                die_usage(std::string("bad --cookie '") + optarg + "'");
            break;
        }
        case 'd': duration = duration_arg(optarg); break;
        case 'f': json = json_arg(optarg); break;
        case 'F': flags |= KVIEW_VIEW_FOLLOW_FORK; break;
        case 'E': flags |= KVIEW_VIEW_EXEC_REAPPLY; break;
        case 'h': std::fputs(kUsage, stdout); return 0;
        default: die_usage("bad option for attach");
        }
    }
    if (!pid || obj_path.empty())
        die_usage("attach needs -p PID and --obj FILE");
    kview::Fd sfd = block_signals();
    if (!sfd.valid())
        return fail(kview::errno_error("signalfd"));
    auto obj = kview::BpfObject::load(obj_path);
    if (!obj)
        return fail(obj.error());
    auto view = kview::View::create(pid, flags);
    if (!view)
        return fail(view.error());
    auto n = obj.value().attach_all(view.value(), cookie);
    if (!n)
        return fail(n.error());
    if (!json) {
        for (const auto& p : obj.value().programs())
            std::fprintf(stderr, "kview: %-24s %s\n", p.name.c_str(),
                         p.kind ? ("attached to pid " + std::to_string(pid) + " at " + p.section).c_str()
                                : ("skipped (section " + p.section + ")").c_str());
        std::fprintf(stderr, "kview: %d program(s) attached to pid %d only; Ctrl-C to detach\n",
                     n.value(), pid);
    }
    return run_until_done(view.value(), sfd, pid, duration, std::chrono::milliseconds{0}, json);
}

} // namespace

int main(int argc, char** argv) {
    libbpf_set_print(libbpf_quiet);
    if (argc < 2)
        die_usage("missing command");
    std::string cmd = argv[1];
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (cmd == "version" || cmd == "--version")
        return cmd_version();
    if (cmd == "stat")
        return argc > 2 ? cmd_stat_view(argv[2]) : cmd_stat();
    if (cmd == "list")
        return cmd_list();
    if (cmd == "trace")
        return cmd_trace(argc - 1, argv + 1);
    if (cmd == "attach")
        return cmd_attach(argc - 1, argv + 1);
    die_usage("unknown command '" + cmd + "'");
}
