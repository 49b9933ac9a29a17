// kview::View: one session of a per-process kernel view, and its hooks. The
// view lives as long as this object, or, when several sessions share it
// (View::join), until the last of them is destroyed: then the module
// restores the target's shared kernel mapping. Destroying a session that is
// not the last detaches its hooks' programs; its hooks stay in the view.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kview/device.hpp"

namespace kview {

struct HookInfo {
    uint32_t id = 0;
    uint64_t addr = 0; // kernel address of the hook
};

// A hook behind a descriptor of its own (KVIEW_IOC_HOOK_FD): the descriptor
// answers PERF_EVENT_IOC_SET_BPF / ENABLE / DISABLE / ID like a kprobe perf
// event; closing it detaches the program. It keeps the view alive.
struct HookFd {
    Fd fd;
    HookInfo info;
};

struct HookStats {
    uint64_t addr = 0;
    uint64_t cookie = 0;
    uint64_t hits = 0;            // from the traced processes' tasks
    uint64_t other_hits = 0;      // interrupts / lazy-TLB kernel threads on the view
    uint64_t foreign_mm_hits = 0; // from other processes: 0 unless armed in shared text
    uint64_t missed = 0;          // return hooks: instances exhausted
    uint64_t prog_runs = 0;       // BPF program runs
    uint64_t prog_skipped = 0;    // BPF runs skipped by the recursion guard
    uint32_t id = 0;
    uint32_t kind = 0;
    bool lost = false;
    std::string symbol;
    uint32_t flags = 0;      // KVIEW_HOOK_* (LOST, FD, PROG, DISABLED, CLOSED, SESSION_CLOSED)
    uint32_t session_id = 0; // the session that added it (ABI 1.3; 0 before)
};

struct ViewStats {
    uint32_t id = 0;
    pid_t pid = 0;
    bool live = false;
    uint32_t flags = 0;
    uint32_t nr_mms = 0;
    uint64_t text_pages = 0;
    uint64_t table_pages = 0;
    uint64_t bytes = 0;
    uint64_t hits = 0;
    uint64_t other_hits = 0;
    uint64_t foreign_mm_hits = 0;
    uint64_t mirrored_writes = 0;
    uint64_t unfollowed = 0;
    uint32_t session_id = 0;      // this session (ABI 1.3; 0 before)
    uint32_t nr_sessions = 0;     // open sessions of the view (ABI 1.3; 0 before)
    std::vector<HookStats> hooks; // this session's, or every session's (stats(true))
};

[[nodiscard]] const char* hook_kind_name(uint32_t kind);

class View {
  public:
    // flags: KVIEW_VIEW_FOLLOW_FORK, KVIEW_VIEW_EXEC_REAPPLY,
    // KVIEW_VIEW_SHARED_TEXT, KVIEW_VIEW_JOIN. EBUSY if pid already has a
    // view (without KVIEW_VIEW_JOIN, or with other flags than the view's).
    [[nodiscard]] static Result<View> create(pid_t pid, uint32_t flags = 0,
                                             const std::string& path = KVIEW_DEVICE_PATH);
    // A new session of pid's view if it has one (joined() then says so),
    // else a new view: create() with KVIEW_VIEW_JOIN. A module older than
    // ABI 1.3 has no sessions: a plain create() then.
    [[nodiscard]] static Result<View> join(pid_t pid, uint32_t flags = 0,
                                           const std::string& path = KVIEW_DEVICE_PATH);

    // prog_fd >= 0: a BPF_PROG_TYPE_KPROBE program run on every hit (cookie
    // is its bpf_get_attach_cookie()).
    [[nodiscard]] Result<HookInfo> add_hook(uint32_t kind, std::string_view symbol,
                                            uint32_t offset = 0, uint64_t cookie = 0,
                                            int prog_fd = -1);
    [[nodiscard]] Result<HookInfo> add_kprobe(std::string_view symbol, uint32_t offset = 0,
                                              uint64_t cookie = 0) {
        return add_hook(KVIEW_HOOK_KPROBE, symbol, offset, cookie);
    }
    [[nodiscard]] Result<HookInfo> add_kretprobe(std::string_view symbol, uint64_t cookie = 0) {
        return add_hook(KVIEW_HOOK_KRETPROBE, symbol, 0, cookie);
    }
    [[nodiscard]] Result<HookInfo> add_syscall_enter(std::string_view name, uint64_t cookie = 0) {
        return add_hook(KVIEW_HOOK_SYSCALL_ENTER, name, 0, cookie);
    }
    [[nodiscard]] Result<HookInfo> add_syscall_exit(std::string_view name, uint64_t cookie = 0) {
        return add_hook(KVIEW_HOOK_SYSCALL_EXIT, name, 0, cookie);
    }
    // flags: KVIEW_HOOK_FD_DISABLED. Several may share one address.
    [[nodiscard]] Result<HookFd> hook_fd(uint32_t kind, std::string_view symbol,
                                         uint32_t offset = 0, uint64_t cookie = 0,
                                         uint32_t flags = 0);
    // This session's hooks; every session's with whole_view (ABI 1.3).
    [[nodiscard]] Result<ViewStats> stats(bool whole_view = false) const;

    [[nodiscard]] uint32_t id() const { return id_; }
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] uint32_t session_id() const { return session_; }
    // Sessions of the view when this one opened, itself included.
    [[nodiscard]] uint32_t sessions_at_open() const { return sessions_; }
    // This session joined a view that existed before it.
    [[nodiscard]] bool joined() const { return sessions_ > 1; }
    [[nodiscard]] const Device& device() const { return dev_; }

  private:
    [[nodiscard]] static Result<View> create_on(Device dev, pid_t pid, uint32_t flags);
    View(Device dev, pid_t pid, const kview_view_create& req)
        : dev_(std::move(dev)), pid_(pid), id_(req.view_id), session_(req.session_id),
          sessions_(req.nr_sessions) {}
    Device dev_;
    pid_t pid_;
    uint32_t id_;
    uint32_t session_;
    uint32_t sessions_;
};

} // namespace kview
