// kview::supervise: run an unmodified tracing tool (bpftrace, bcc, libbpf
// tools) with its kprobe attaches redirected into a View (`kview run`).
//
// The tool runs under a seccomp filter with SECCOMP_RET_USER_NOTIF (set up
// by exec_tool() between fork and exec, inherited by its threads and
// children). The Supervisor answers the trapped calls:
//   perf_event_open(kprobe PMU, symbol[+offset], retprobe bit)
//       -> a hook descriptor of the view (KVIEW_IOC_HOOK_FD), installed in
//          the tool with SECCOMP_IOCTL_NOTIF_ADDFD; the tool's own
//          PERF_EVENT_IOC_SET_BPF / ENABLE / DISABLE go to the module
//   perf_event_open(tracepoint syscalls:sys_enter_NAME / sys_exit_NAME)
//       -> a hook descriptor on syscall NAME (KVIEW_HOOK_SYSCALL_ENTER /
//          _EXIT); the module runs the tool's tracepoint program on it with
//          the tracepoint's context (module ABI 1.2)
//   perf_event_open(any other tracepoint) -> EOPNOTSUPP (global), or through
//   bpf(BPF_LINK_CREATE, BPF_PERF_EVENT) -> EINVAL (libbpf then uses SET_BPF)
//   bpf(BPF_LINK_CREATE, kprobe.multi / fentry / fexit / fmod_ret / lsm),
//   bpf(BPF_RAW_TRACEPOINT_OPEN), bpf(BPF_PROG_LOAD of fentry / fexit /
//   fmod_ret / lsm: libbpf tools then fall back to kprobes)
//                                        -> EOPNOTSUPP (global), or through
//   open/openat/openat2 for writing      -> through; a write-open of the
//          tracefs kprobe_events / dynamic_events (the tools' silent global
//          fallback) is reported; it fails with EROFS because exec_tool()
//          made those files read-only in the tool's own mount namespace
// Everything else (uprobes, BPF_OUTPUT, CPU_CLOCK, the other bpf()
// commands) never leaves the kernel. "Or through" needs allow_global.
#pragma once

#include <linux/filter.h>
#include <linux/perf_event.h>

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kview/fd.hpp"
#include "kview/result.hpp"
#include "kview/view.hpp"

struct seccomp_notif;

namespace kview::supervise {

// The dynamic PMUs of this kernel (/sys/bus/event_source/devices/*/type).
struct Pmus {
    uint32_t kprobe = 0; // 0: none
    uint32_t uprobe = 0;
    uint32_t retprobe_bit = 0; // kprobe/format/retprobe: "config:N"
};
[[nodiscard]] Result<Pmus> read_pmus(const std::string& dir = "/sys/bus/event_source/devices");

// What a perf_event_open() attr asks for.
struct PerfRequest {
    enum Kind { Kprobe, KprobeAddr, Uprobe, Tracepoint, Other } kind = Other;
    bool retprobe = false;
    bool disabled = false;
    uint64_t name_ptr = 0; // Kprobe: the symbol name in the tool's memory
    uint64_t offset = 0;   // Kprobe: offset; KprobeAddr: the address
    uint32_t type = 0;
    uint64_t config = 0;
};
[[nodiscard]] PerfRequest classify_perf(const perf_event_attr& attr, const Pmus& pmus);

// The answer to a trapped bpf() command, from its attr's first bytes.
struct BpfVerdict {
    enum Kind { Pass, Refuse } kind = Pass;
    int err = 0;         // Refuse: the errno the tool gets
    bool global = false; // the call would attach globally
    std::string what;    // e.g. "BPF_LINK_CREATE(kprobe_multi)"
};
[[nodiscard]] BpfVerdict classify_bpf(int cmd, const void* attr, size_t len, bool allow_global);

// The syscall tracepoints of this kernel: event id -> "sys_enter_openat",
// read from <events>/syscalls/*/id (tracefs events directory). Empty if
// the directory is missing.
[[nodiscard]] std::map<uint64_t, std::string> read_syscall_tracepoints(const std::string& events);
// "sys_enter_NAME" -> KVIEW_HOOK_SYSCALL_ENTER and NAME, "sys_exit_NAME" ->
// KVIEW_HOOK_SYSCALL_EXIT; false for anything else.
[[nodiscard]] bool parse_syscall_event(const std::string& event, uint32_t& kind,
                                       std::string& syscall);

// A path whose opening for writing (or truncation) creates or clears global
// probes: .../kprobe_events or .../dynamic_events.
[[nodiscard]] bool is_global_probe_file(const std::string& path);

// The classic-BPF seccomp filter: which syscalls reach the supervisor.
[[nodiscard]] std::vector<sock_filter> build_filter();
// What build_filter()'s program returns for one syscall (its own
// interpreter of the instructions it uses; tests run the real program).
[[nodiscard]] uint32_t run_filter(const std::vector<sock_filter>& prog, uint32_t arch, int nr,
                                  const uint64_t (&args)[6]);

// One attach the tool attempted, and what became of it.
struct Attach {
    enum Kind { Private, Refused, Global, Blocked } kind = Private;
    std::string what;   // "kprobe:vfs_read", "kretprobe:vfs_read", "tracepoint(type 2 config 5)"
    std::string reason; // Refused / Blocked: why; Global: how
    int err = 0;        // Refused: the errno returned to the tool
    uint32_t hook_id = 0;
};
[[nodiscard]] const char* attach_kind_name(Attach::Kind k);

// The report at the end: one line per attach (identical ones folded), with
// the hook's hits and program runs when `stats` has them.
[[nodiscard]] std::string render_report(const std::vector<Attach>& attaches,
                                        const ViewStats* stats);

// Set up by exec_tool() in the child, before exec.
struct ToolSpec {
    std::vector<std::string> argv;
    std::vector<std::string> env; // NAME=VALUE added to the environment
    bool allow_global = false;    // false: tracefs kprobe_events read-only for it
    std::string blocker;          // an empty regular file to bind over them
};

// fork()ed child side: PDEATHSIG, own mount namespace with the probe files
// read-only (unless allow_global), the filter, its listener fd sent over
// `sock` (SCM_RIGHTS), exec. Returns only on failure (errno set, message on
// stderr); the caller _exit()s.
void exec_tool(const ToolSpec& spec, int sock, pid_t parent);
// Its pieces: install build_filter() with a new listener (the fd, or -1 and
// errno; needs CAP_SYS_ADMIN or sets no_new_privs), and pass it over sock.
[[nodiscard]] int install_filter();
[[nodiscard]] bool send_listener(int sock, int fd);
// Parent side: the listener fd sent by exec_tool().
[[nodiscard]] Result<Fd> receive_listener(int sock);

class Supervisor {
  public:
    Supervisor(View& view, Fd listener, Pmus pmus, bool allow_global)
        : view_(view), listener_(std::move(listener)), pmus_(pmus), allow_global_(allow_global) {}

    [[nodiscard]] int fd() const { return listener_.get(); }
    // Receive and answer one notification (call when fd() is readable).
    // ENOENT (the call was interrupted, or the tool died) is not an error.
    [[nodiscard]] Result<void> handle_one();

    [[nodiscard]] const std::vector<Attach>& attaches() const { return attaches_; }
    [[nodiscard]] size_t private_hooks() const { return private_; }
    // Milliseconds (CLOCK_MONOTONIC) of the last kprobe/tracepoint
    // perf_event_open or probe-file write (feature probes do not count).
    [[nodiscard]] int64_t last_attach_ms() const { return last_attach_ms_; }

  private:
    struct Answer;
    Answer on_perf_event_open(const seccomp_notif& n);
    Answer on_tracepoint(const seccomp_notif& n, const PerfRequest& r);
    Answer refuse_or_global(Attach a, int err);
    Answer hand_hook(const seccomp_notif& n, const std::string& what, uint32_t kind,
                     const std::string& sym, bool disabled);
    Answer on_bpf(const seccomp_notif& n);
    Answer on_open(const seccomp_notif& n);
    void record(Attach a);

    View& view_;
    Fd listener_;
    Pmus pmus_;
    bool allow_global_;
    std::vector<Attach> attaches_;
    size_t private_ = 0;
    int64_t last_attach_ms_ = 0;
    std::map<uint64_t, std::string> syscall_tps_; // read at the first tracepoint
    bool syscall_tps_read_ = false;
};

} // namespace kview::supervise
