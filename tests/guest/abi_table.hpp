// The ABI input table's vocabulary (abi_table_test.cpp): a case is an
// ioctl, a named input and the one errno it must give (0: accepted), run on
// a fresh descriptor; and the helpers the cases are written with.
#pragma once

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kview.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/device.hpp"

namespace abi_table {

// A fresh descriptor per case, and what it may need set up first.
struct Env {
    int fd = -1;
    pid_t target = 0; // a live user process we may trace
};

inline int do_ioctl(int fd, unsigned long cmd, void* arg) {
    return ::ioctl(fd, cmd, arg) < 0 ? errno : 0;
}

// Run f in a child whose effective capabilities are `keep` (a CAP_* mask),
// with uid 0 unchanged; returns f's errno.
inline int with_caps(uint64_t keep, const std::function<int()>& f) {
    pid_t pid = ::fork();
    if (pid == 0) {
        __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct d[2]{};
        if (::syscall(SYS_capget, &h, d))
            ::_exit(250);
        d[0].effective &= static_cast<uint32_t>(keep);
        d[1].effective &= static_cast<uint32_t>(keep >> 32);
        if (::syscall(SYS_capset, &h, d))
            ::_exit(251);
        ::_exit(f());
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

inline uint64_t cap(int c) {
    return uint64_t{1} << c;
}
inline constexpr uint64_t kAllCaps = ~uint64_t{0};

inline kview_view_create create_req(pid_t pid, uint32_t flags = 0) {
    kview_view_create r{};
    r.size = sizeof(r);
    r.flags = flags;
    r.pid = pid;
    return r;
}

inline kview_hook_add hook_req(const char* sym, uint32_t off = 0,
                               uint32_t kind = KVIEW_HOOK_KPROBE) {
    kview_hook_add h{};
    h.size = sizeof(h);
    h.kind = kind;
    h.offset = off;
    h.prog_fd = -1;
    std::snprintf(h.symbol, sizeof(h.symbol), "%s", sym);
    return h;
}

// A vfs_read hook running the program behind fd (closed afterwards).
inline int add_bpf_hook(const Env& e, int fd) {
    auto h = hook_req("vfs_read");
    h.flags = KVIEW_HOOK_F_BPF;
    h.prog_fd = fd;
    int err = do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h);
    ::close(fd);
    return err;
}

inline kview_hook_fd hook_fd_req(const char* sym, uint32_t kind = KVIEW_HOOK_KPROBE) {
    kview_hook_fd h{};
    h.size = sizeof(h);
    h.kind = kind;
    std::snprintf(h.symbol, sizeof(h.symbol), "%s", sym);
    return h;
}

// KVIEW_IOC_HOOK_FD; the descriptor it returns is closed (it holds the view).
inline int hook_fd_ioctl(const Env& e, kview_hook_fd h) {
    int err = do_ioctl(e.fd, KVIEW_IOC_HOOK_FD, &h);
    if (!err && ::close(h.fd) != 0)
        return EBADF; // the module said 0 but gave no descriptor
    return err;
}

inline int make_view(const Env& e) {
    auto r = create_req(e.target);
    return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r);
}

// A struct of type T followed by 8 more bytes; size says sizeof(T) + 8.
template <class T> struct Padded {
    T t;
    uint64_t tail;
};

// A loaded BPF program of another type than kprobe (socket filter).
inline int socket_filter_prog() {
    struct bpf_insn insns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0}, // r0 = 0
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    return bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "kview_abi", "GPL", insns, 2, nullptr);
}

// Address of a text symbol in /proc/kallsyms (0 if absent).
inline uint64_t ksym(const std::string& name) {
    std::ifstream in("/proc/kallsyms");
    std::string a, t, s;
    while (in >> a >> t >> s)
        if (s == name && (t == "t" || t == "T"))
            return std::stoull(a, nullptr, 16);
    return 0;
}

inline uint64_t stext() {
    return ksym("_stext");
}

inline std::vector<uint8_t> read_text(int fd, uint64_t addr, uint32_t len) {
    std::vector<uint8_t> out(len);
    kview_read_text r{sizeof(r), len, addr, reinterpret_cast<uint64_t>(out.data())};
    if (do_ioctl(fd, KVIEW_IOC_READ_TEXT, &r))
        out.clear();
    return out;
}

// The first line of a (proc/sys/tracefs) file.
inline std::string read_line(const std::string& path) {
    std::string v = guest::read_file(path);
    return v.substr(0, v.find('\n'));
}

// Bytes a hook offset of 0 skips: the 5-byte fentry call (or its nop) that
// starts a traceable function, and before it, on a kernel built with IBT
// (6.12), the endbr64 or the 4-byte nop that seals it (66 0f 1f 00, written
// at boot where no indirect call can land); offsets in kview_hook_add count
// after them.
inline uint32_t entry_skip(int fd, uint64_t f) {
    auto t = read_text(fd, f, 9);
    if (t.size() != 9)
        return 0;
    bool endbr64 = t[0] == 0xf3 && t[1] == 0x0f && t[2] == 0x1e && t[3] == 0xfa;
    bool sealed = t[0] == 0x66 && t[1] == 0x0f && t[2] == 0x1f && t[3] == 0x00;
    uint32_t endbr = guest::kernel_ibt() && (endbr64 || sealed) ? 4 : 0;
    bool fentry = t[endbr] == 0xe8 || (t[endbr] == 0x0f && t[endbr + 1] == 0x1f);
    return endbr + (fentry ? 5 : 0);
}

// The offset in kfree of the jump label that guards its kmem:kfree
// tracepoint, as a hook offset: the first byte that changes when the event
// is enabled (a 2- or 5-byte nop becomes a jmp). -1 if it cannot be found.
inline int kfree_jump_label_offset(int fd) {
    const char* en = "/sys/kernel/tracing/events/kmem/kfree/enable";
    uint64_t f = ksym("kfree");
    if (!f || read_line(en) != "0")
        return -1;
    auto off = read_text(fd, f, 512);
    guest::write_file(en, "1");
    auto on = read_text(fd, f, 512);
    guest::write_file(en, "0");
    if (off.empty() || on.size() != off.size())
        return -1;
    uint32_t skip = entry_skip(fd, f);
    for (size_t i = skip; i < off.size(); i++)
        if (off[i] != on[i])
            return (on[i] == 0xe9 || on[i] == 0xeb) ? static_cast<int>(i - skip) : -1;
    return -1;
}

// Tries a hook at every ud2 (0f 0b) in fn's first 1 KiB: returns
// EADDRNOTAVAIL if at least one is a BUG/WARN site the module refused and
// none was accepted, else the errno that broke the rule (0 = accepted).
inline int try_bug_sites(Env& e, const char* fn) {
    uint64_t f = ksym(fn);
    auto t = f ? read_text(e.fd, f, 1024) : std::vector<uint8_t>{};
    uint32_t skip = f ? entry_skip(e.fd, f) : 0;
    int refused = 0;
    for (size_t i = skip; i + 1 < t.size(); i++) {
        if (t[i] != 0x0f || t[i + 1] != 0x0b)
            continue;
        auto h = hook_req(fn, static_cast<uint32_t>(i - skip));
        int err = do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h);
        if (err == 0)
            return 0; // a ud2 we could hook: the rule is broken
        if (err == EADDRNOTAVAIL)
            refused++;
        else if (err != EINVAL) // EINVAL: 0f 0b inside another instruction
            return err;
    }
    return refused ? EADDRNOTAVAIL : ENOENT;
}

// Sets kernel.yama.ptrace_scope for the lifetime of the object.
class YamaScope {
  public:
    explicit YamaScope(int scope) : old_(read_line(kPath)) {
        ok_ = guest::write_file(kPath, std::to_string(scope));
    }
    ~YamaScope() {
        if (!old_.empty())
            guest::write_file(kPath, old_);
    }
    bool ok() const { return ok_; }

  private:
    static constexpr const char* kPath = "/proc/sys/kernel/yama/ptrace_scope";
    std::string old_;
    bool ok_ = false;
};

// A view on a fresh child of the calling process.
inline int view_on_own_child(int fd) {
    pid_t c = ::fork();
    if (c == 0) {
        ::pause();
        ::_exit(0);
    }
    auto r = create_req(c);
    int err = do_ioctl(fd, KVIEW_IOC_VIEW_CREATE, &r);
    ::kill(c, SIGKILL);
    ::waitpid(c, nullptr, 0);
    return err;
}

struct Case {
    const char* ioctl; // name as in the header
    const char* input;
    int expected; // errno, 0 = success
    std::function<int(Env&)> run;
};

// A request of type T, its size field set to `size`, followed by `tail`
// (8 bytes that only a size past sizeof(T) reaches).
template <class T>
inline int sized(const Env& e, unsigned long cmd, T req, uint32_t size, uint64_t tail) {
    Padded<T> p{req, tail};
    p.t.size = size;
    return do_ioctl(e.fd, cmd, &p);
}

// The rows every size-prefixed ioctl gets, EBADF on a closed descriptor
// included: the full matrix, not one example. (GET_VERSION, the one ioctl
// without a size field, has its closed-descriptor row in specific_rows().)
template <class T>
inline void sized_ioctl_rows(std::vector<Case>& t, const char* name, unsigned long cmd, T valid) {
    t.push_back({name, "size 0", EINVAL, [=](Env& e) { return sized(e, cmd, valid, 0, 0); }});
    t.push_back({name, "size 3 (shorter than the size field)", EINVAL,
                 [=](Env& e) { return sized(e, cmd, valid, 3, 0); }});
    t.push_back({name, "long size, non-zero tail", E2BIG,
                 [=](Env& e) { return sized(e, cmd, valid, sizeof(T) + 8, 0x5a); }});
    t.push_back(
        {name, "size > PAGE_SIZE", E2BIG, [=](Env& e) { return sized(e, cmd, valid, 4097, 0); }});
    t.push_back({name, "closed descriptor", EBADF, [=](Env& e) {
                     int d = ::dup(e.fd);
                     ::close(d);
                     return sized(Env{d, e.target}, cmd, valid, sizeof(T), 0);
                 }});
}

} // namespace abi_table
