#include "usage.hpp"

#include <getopt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kview/parse.hpp"

namespace kview::cli {
namespace {

constexpr const char* kCommands = R"(usage: kview <command> [options]

Trace one process with kernel hooks that fire for that process only: kview
gives it a private copy of the hooked kernel text; every other process keeps
running the original, untouched code.

Commands:
  trace -p PID HOOK...   count hook hits in process PID until Ctrl-C / -d
  attach -p PID --obj F  attach the kprobe/kretprobe/ksyscall programs of the
                         libbpf object F to process PID only, until Ctrl-C / -d
  run (-p PID | -c CMD) -- TOOL ARGS...
                         run an unmodified bpftrace / bcc / libbpf tool with its
                         kprobes in the view of PID only; report every attach
  list [-f json]         every view in the system: pid, state, hooks, pages
  stat [-f json] [VIEW]  module-wide accounting (live views, pages, bytes), or one view
  version [-f json]      CLI, library, ABI and module versions
  help                   this text ('kview trace --help': trace options only)
)";

constexpr const char* kTraceOptions = R"(
trace options:
  -p, --pid PID          process to trace (all its threads)
  -c, --command CMD      run `sh -c CMD` traced from its first instruction (follows
                         exec and fork); it is terminated if kview exits first
  -k, --kprobe FUNC[+OFF]  hook FUNC's entry (after the fentry call) or FUNC+OFF
  -r, --kretprobe FUNC   hook FUNC's return
  -s, --syscall NAME     hook syscall NAME's entry and exit (e.g. read, sendmsg)
  -t, --tracepoint CAT:NAME  count tracepoint hits of the target. NOT PRIVATE: attached
                         globally and filtered by pid (labelled "filtered" in the output)
  -d, --duration DUR     stop after DUR (500ms, 10s, 2m; more than 0); default: until Ctrl-C
  -i, --interval DUR     every DUR, print the counts of that interval (deltas)
  -a, --action ACTION    count (default): hit counts per hook;
                         hist=argN: log2 histogram of argument N (1..5) at entry;
                         latency: log2 histogram of entry->return time (ns) of -k/-s;
                         print: one line per event (pid, tid, arg1 or return value)
  -f, --format FMT       text (default) or json (one JSON object per line, each with
                         "type" and "time")
  -o, --output FILE      write reports and events to FILE
  -v, --verbose          libbpf debug output (verifier logs)
      --dry-run          check arguments, programs, target and symbols; attach nothing
      --shared-text      comparison mode ("pre-eBPF"): arm the hooks in shared text for
                         every process and filter in the module. NOT zero-cost
      --fork             forked children join the view
      --exec             keep tracing the target across exec (default: stop)
)";

constexpr const char* kAttachOptions = R"(
attach options: -p PID, --obj FILE, --cookie N (bpf_get_attach_cookie), -d DUR,
  -f text|json, --fork, --exec
)";

constexpr const char* kRunOptions = R"(
run options (kview run [options] -- TOOL ARGS...):
  -p, --pid PID          the process the tool's kprobes see (all its threads)
  -c, --command CMD      run CMD traced (follows exec and fork), started only once
                         the tool has attached; the tool gets SIGINT when CMD exits
      --allow-global     let attaches kview cannot make private go global (tracepoints,
                         kprobe.multi, fentry, kprobe_events); default: refused, reported
      --report FILE      also write the report as JSON to FILE
      --fork, --exec     with -p: forked children join, the target stays traced across exec
  The tool gets $KVIEW_PID (the traced pid); its kprobe/kretprobe perf events become
  hooks of the view; tracefs kprobe_events is read-only for it. Report on stderr.
)";

constexpr const char* kExamples = R"(
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
  kview run -p 1234 -- bpftrace -e 'kprobe:vfs_read { @[comm] = count(); }'
  kview run -c 'dd if=/dev/zero of=/dev/null count=1000' -- funccount-bpfcc 'vfs_rea*'
  kview list
  kview stat
)";

// The subcommand being parsed ("" for the top level), for usage errors.
std::string g_cmd;

} // namespace

void print_usage(const std::string& cmd) {
    if (cmd == "trace")
        std::printf("usage: kview trace (-p PID | -c CMD) HOOK... [options]\n%s%s", kTraceOptions,
                    kExamples);
    else if (cmd == "attach")
        std::printf("usage: kview attach -p PID --obj FILE [options]\n%s", kAttachOptions);
    else if (cmd == "run")
        std::printf("usage: kview run (-p PID | -c CMD) [options] -- TOOL ARGS...\n%s",
                    kRunOptions);
    else
        std::printf("%s%s%s%s%s", kCommands, kTraceOptions, kAttachOptions, kRunOptions, kExamples);
}

void set_command(const std::string& cmd) {
    g_cmd = cmd;
}

void die_usage(const std::string& msg) {
    std::string who = g_cmd.empty() ? "kview" : "kview " + g_cmd;
    std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", who.c_str(), msg.c_str(), who.c_str());
    std::exit(2);
}

void die_bad_option(int c, char** argv) {
    const char* opt = argv[optind - 1];
    if (c == ':')
        die_usage(std::string("option '") + opt + "' needs a value");
    if (optopt && std::strncmp(opt, "--", 2) != 0)
        die_usage(std::string("unknown option '-") + static_cast<char>(optopt) + "'");
    die_usage(std::string("unknown option '") + opt + "'");
}

// Option values shared by the subcommands: parsed, or usage + exit 2.
pid_t pid_arg(const char* s) {
    auto r = parse_pid(s);
    if (!r)
        die_usage(r.error().message());
    return r.value();
}

std::chrono::milliseconds duration_arg(char opt, const char* s) {
    auto r = parse_duration(s);
    if (!r)
        die_usage(r.error().message());
    if (r.value().count() <= 0)
        die_usage(std::string("-") + opt + " must be more than 0, not '" + s + "'" +
                  (opt == 'd' ? " (leave -d out to run until Ctrl-C)" : ""));
    return r.value();
}

bool json_arg(const char* s) {
    if (std::strcmp(s, "json") && std::strcmp(s, "text"))
        die_usage("-f takes text or json");
    return !std::strcmp(s, "json");
}

int fail(const Error& e) {
    std::fprintf(stderr, "kview: %s\n", e.message().c_str());
    return 1;
}

} // namespace kview::cli
