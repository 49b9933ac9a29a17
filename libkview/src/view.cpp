#include "kview/view.hpp"

#include <sys/ioctl.h>

#include <algorithm>
#include <cstring>

namespace kview {

const char* hook_kind_name(uint32_t kind) {
    switch (kind) {
    case KVIEW_HOOK_KPROBE: return "kprobe";
    case KVIEW_HOOK_KRETPROBE: return "kretprobe";
    case KVIEW_HOOK_SYSCALL_ENTER: return "syscall-enter";
    case KVIEW_HOOK_SYSCALL_EXIT: return "syscall-exit";
    default: return "unknown";
    }
}

static std::string hint_for(int code) {
    switch (code) {
    case ENOENT: return "no such kernel symbol (see /proc/kallsyms)";
    case EADDRNOTAVAIL:
        return "the kernel refuses to probe this address (blacklisted, fentry, jump label, "
               "static call, BUG or alternative site)";
    case EINVAL:
        return "bad argument: offset not on an instruction boundary or outside kernel text, or a "
               "BPF program that is not a plain kprobe program?";
    case EBADF: return "bad BPF program descriptor";
    case ESRCH: return "the target process has exited";
    case EPERM:
        return "needs CAP_SYS_ADMIN (or CAP_BPF + CAP_PERFMON) and ptrace rights over the target";
    case EBUSY:
        return "the target is already traced by another view (join it: kview run, trace and "
               "attach do), or its view has other --fork/--exec/--shared-text flags";
    case EEXIST: return "a hook of this kind already sits at this address";
    case ENOSPC:
        return "too many hooks in one view (" + std::to_string(KVIEW_MAX_HOOKS) + ", " +
               std::to_string(KVIEW_MAX_VIEW_HOOKS) + " with hook descriptors)";
    case EOPNOTSUPP: return "unsupported platform, see dmesg";
    default: return {};
    }
}

Result<View> View::create(pid_t pid, uint32_t flags, const std::string& path) {
    auto dev = Device::open(path);
    if (!dev)
        return dev.error();
    return create_on(std::move(dev.value()), pid, flags);
}

Result<View> View::create_on(Device dev, pid_t pid, uint32_t flags) {
    kview_view_create req{};
    req.size = sizeof(req);
    req.flags = flags;
    req.pid = pid;
    if (::ioctl(dev.fd(), KVIEW_IOC_VIEW_CREATE, &req) != 0) {
        int code = errno;
        std::string hint = code == EINVAL ? "pid must be a user process; flags must be known"
                                          : hint_for(code);
        if (code == ESRCH)
            hint = "no such process";
        return Error{code,
                     std::string(flags & KVIEW_VIEW_JOIN ? "join or create" : "create") +
                         " view for pid " + std::to_string(pid),
                     hint};
    }
    if (!req.nr_sessions) // a module before ABI 1.3: the view is this descriptor's alone
        req.nr_sessions = 1;
    return View(std::move(dev), pid, req);
}

Result<View> View::join(pid_t pid, uint32_t flags, const std::string& path) {
    auto dev = Device::open(path);
    if (!dev)
        return dev.error();
    if (dev.value().version().abi_minor >= 3)
        flags |= KVIEW_VIEW_JOIN;
    return create_on(std::move(dev.value()), pid, flags);
}

// "add kprobe vfs_read+5", the context of a hook's errors.
static std::string hook_what(uint32_t kind, std::string_view symbol, uint32_t offset) {
    std::string what = std::string("add ") + hook_kind_name(kind) + " " + std::string(symbol);
    if (offset)
        what += "+" + std::to_string(offset);
    return what;
}

static std::string symbol_hint() {
    return "symbol must be 1.." + std::to_string(KVIEW_SYMBOL_LEN - 1) + " characters";
}

// The fields kview_hook_add and kview_hook_fd share; false if symbol does not fit.
template <class Req>
static bool fill_hook(Req& req, uint32_t kind, std::string_view symbol, uint32_t offset,
                      uint64_t cookie) {
    if (symbol.empty() || symbol.size() >= sizeof(req.symbol))
        return false;
    req.size = sizeof(req);
    req.kind = kind;
    req.cookie = cookie;
    req.offset = offset;
    std::memcpy(req.symbol, symbol.data(), symbol.size());
    return true;
}

Result<HookInfo> View::add_hook(uint32_t kind, std::string_view symbol, uint32_t offset,
                                uint64_t cookie, int prog_fd) {
    std::string what = hook_what(kind, symbol, offset);
    kview_hook_add req{};
    if (!fill_hook(req, kind, symbol, offset, cookie))
        return Error{EINVAL, what, symbol_hint()};
    if (prog_fd >= 0) {
        req.flags = KVIEW_HOOK_F_BPF;
        req.prog_fd = prog_fd;
        what += " with BPF program";
    }
    if (::ioctl(dev_.fd(), KVIEW_IOC_HOOK_ADD, &req) != 0) {
        int code = errno;
        return Error{code, what, hint_for(code)};
    }
    return HookInfo{req.hook_id, req.addr};
}

Result<HookFd> View::hook_fd(uint32_t kind, std::string_view symbol, uint32_t offset,
                             uint64_t cookie, uint32_t flags) {
    std::string what = hook_what(kind, symbol, offset) + " (hook descriptor)";
    kview_hook_fd req{};
    if (!fill_hook(req, kind, symbol, offset, cookie))
        return Error{EINVAL, what, symbol_hint()};
    req.flags = flags;
    if (::ioctl(dev_.fd(), KVIEW_IOC_HOOK_FD, &req) != 0) {
        int code = errno;
        return Error{code, what, hint_for(code)};
    }
    return HookFd{Fd(req.fd), HookInfo{req.hook_id, req.addr}};
}

Result<ViewStats> View::stats(bool whole_view) const {
    // Room for KVIEW_MAX_HOOKS first; again with room for all when more.
    std::vector<kview_hook_stats> hs(KVIEW_MAX_HOOKS);
    kview_view_stats st{};
    for (;;) {
        st = kview_view_stats{};
        st.size = sizeof(st);
        st.hooks_cap = static_cast<uint32_t>(hs.size());
        st.hooks_ptr = reinterpret_cast<uintptr_t>(hs.data());
        st.scope = whole_view ? KVIEW_STATS_VIEW : KVIEW_STATS_SESSION;
        if (::ioctl(dev_.fd(), KVIEW_IOC_VIEW_STATS, &st) != 0)
            return errno_error("view stats");
        if (st.nr_hooks <= hs.size() || hs.size() >= KVIEW_MAX_VIEW_HOOKS)
            break;
        hs.resize(std::min<size_t>(st.nr_hooks, KVIEW_MAX_VIEW_HOOKS));
    }
    ViewStats out;
    out.id = st.view_id;
    out.pid = st.pid;
    out.live = st.state == KVIEW_VIEW_LIVE;
    out.flags = st.flags;
    out.nr_mms = st.nr_mms;
    out.text_pages = st.text_pages;
    out.table_pages = st.table_pages;
    out.bytes = st.bytes;
    out.hits = st.hits;
    out.other_hits = st.other_hits;
    out.foreign_mm_hits = st.foreign_mm_hits;
    out.mirrored_writes = st.mirrored_writes;
    out.unfollowed = st.unfollowed;
    out.session_id = st.session_id;
    out.nr_sessions = st.nr_sessions;
    for (uint32_t i = 0; i < st.nr_hooks && i < hs.size(); i++) {
        const auto& h = hs[i];
        out.hooks.push_back(HookStats{h.addr, h.cookie, h.hits, h.other_hits, h.foreign_mm_hits,
                                      h.missed, h.prog_runs, h.prog_skipped, h.hook_id, h.kind,
                                      (h.flags & KVIEW_HOOK_LOST) != 0,
                                      std::string(h.symbol, strnlen(h.symbol, sizeof(h.symbol))),
                                      h.flags, h.session_id});
    }
    return out;
}

} // namespace kview
