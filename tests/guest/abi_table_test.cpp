// The ABI input table: every ioctl in the uapi header
// against hostile inputs -> one exact errno, and no side effect (no view,
// page or hook left behind). The table is data; docs/reliability.md shows
// it. A test fails if the header declares an ioctl the table does not cover.
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

namespace {

// A fresh descriptor per case, and what it may need set up first.
struct Env {
    int fd = -1;
    pid_t target = 0; // a live user process we may trace
};

int do_ioctl(int fd, unsigned long cmd, void* arg) {
    return ::ioctl(fd, cmd, arg) < 0 ? errno : 0;
}

// Run f in a child whose effective capabilities are `keep` (a CAP_* mask),
// with uid 0 unchanged; returns f's errno.
int with_caps(uint64_t keep, const std::function<int()>& f) {
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

uint64_t cap(int c) { return uint64_t{1} << c; }
const uint64_t kAllCaps = ~uint64_t{0};

kview_view_create create_req(pid_t pid, uint32_t flags = 0) {
    kview_view_create r{};
    r.size = sizeof(r);
    r.flags = flags;
    r.pid = pid;
    return r;
}

kview_hook_add hook_req(const char* sym, uint32_t off = 0, uint32_t kind = KVIEW_HOOK_KPROBE) {
    kview_hook_add h{};
    h.size = sizeof(h);
    h.kind = kind;
    h.offset = off;
    h.prog_fd = -1;
    std::snprintf(h.symbol, sizeof(h.symbol), "%s", sym);
    return h;
}

// A vfs_read hook running the program behind fd (closed afterwards).
int add_bpf_hook(const Env& e, int fd) {
    auto h = hook_req("vfs_read");
    h.flags = KVIEW_HOOK_F_BPF;
    h.prog_fd = fd;
    int err = do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h);
    ::close(fd);
    return err;
}

int make_view(const Env& e) {
    auto r = create_req(e.target);
    return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r);
}

// A struct of type T followed by 8 more bytes; size says sizeof(T) + 8.
template <class T> struct Padded {
    T t;
    uint64_t tail;
};


// A loaded BPF program of another type than kprobe (socket filter).
int socket_filter_prog() {
    struct bpf_insn insns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0}, // r0 = 0
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    return bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "kview_abi", "GPL", insns, 2, nullptr);
}

// Address of a text symbol in /proc/kallsyms (0 if absent).
uint64_t ksym(const std::string& name) {
    std::ifstream in("/proc/kallsyms");
    std::string a, t, s;
    while (in >> a >> t >> s)
        if (s == name && (t == "t" || t == "T"))
            return std::stoull(a, nullptr, 16);
    return 0;
}

uint64_t stext() { return ksym("_stext"); }

std::vector<uint8_t> read_text(int fd, uint64_t addr, uint32_t len) {
    std::vector<uint8_t> out(len);
    kview_read_text r{sizeof(r), len, addr, reinterpret_cast<uint64_t>(out.data())};
    if (do_ioctl(fd, KVIEW_IOC_READ_TEXT, &r))
        out.clear();
    return out;
}

// The first line of a (proc/sys/tracefs) file.
std::string read_line(const std::string& path) {
    std::string v = guest::read_file(path);
    return v.substr(0, v.find('\n'));
}

// Bytes a hook offset of 0 skips: the 5-byte fentry call (or its nop) that
// starts a traceable function, and before it, on a kernel built with IBT
// (6.12), the endbr64 or the 4-byte nop that seals it (66 0f 1f 00, written
// at boot where no indirect call can land); offsets in kview_hook_add count
// after them.
uint32_t entry_skip(int fd, uint64_t f) {
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
int kfree_jump_label_offset(int fd) {
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
int try_bug_sites(Env& e, const char* fn) {
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
    explicit YamaScope(int scope) : old_(read_line(kPath)) { ok_ = guest::write_file(kPath, std::to_string(scope)); }
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
int view_on_own_child(int fd) {
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
    int expected;      // errno, 0 = success
    std::function<int(Env&)> run;
};

// A request of type T, its size field set to `size`, followed by `tail`
// (8 bytes that only a size past sizeof(T) reaches).
template <class T>
int sized(const Env& e, unsigned long cmd, T req, uint32_t size, uint64_t tail) {
    Padded<T> p{req, tail};
    p.t.size = size;
    return do_ioctl(e.fd, cmd, &p);
}

// The rows every size-prefixed ioctl gets, EBADF on a closed descriptor
// included: the full matrix, not one example. (GET_VERSION, the one ioctl
// without a size field, has its closed-descriptor row in specific_rows().)
template <class T>
void sized_ioctl_rows(std::vector<Case>& t, const char* name, unsigned long cmd, T valid) {
    t.push_back({name, "size 0", EINVAL, [=](Env& e) { return sized(e, cmd, valid, 0, 0); }});
    t.push_back({name, "size 3 (shorter than the size field)", EINVAL,
                 [=](Env& e) { return sized(e, cmd, valid, 3, 0); }});
    t.push_back({name, "long size, non-zero tail", E2BIG,
                 [=](Env& e) { return sized(e, cmd, valid, sizeof(T) + 8, 0x5a); }});
    t.push_back({name, "size > PAGE_SIZE", E2BIG,
                 [=](Env& e) { return sized(e, cmd, valid, 4097, 0); }});
    t.push_back({name, "closed descriptor", EBADF, [=](Env& e) {
                     int d = ::dup(e.fd);
                     ::close(d);
                     return sized(Env{d, e.target}, cmd, valid, sizeof(T), 0);
                 }});
}

// The rows, one per line where they fit: a table, laid out by hand.
// clang-format off

// A 4 KiB buffer for the rows that need one.
char row_buf[4096];

// GET_VERSION
std::vector<Case> rows_get_version() {
    return {
        {"KVIEW_IOC_GET_VERSION", "valid", 0,
         [](Env& e) { kview_version v{}; return do_ioctl(e.fd, KVIEW_IOC_GET_VERSION, &v); }},
        {"KVIEW_IOC_GET_VERSION", "bad user pointer", EFAULT,
         [](Env& e) { return do_ioctl(e.fd, KVIEW_IOC_GET_VERSION, reinterpret_cast<void*>(16)); }},
        {"KVIEW_IOC_GET_VERSION", "no privilege (needs none)", 0,
         [](Env& e) { return with_caps(0, [&] { kview_version v{}; return do_ioctl(e.fd, KVIEW_IOC_GET_VERSION, &v); }); }},
    };
}

// any ioctl
std::vector<Case> rows_any_ioctl() {
    return {
        {"KVIEW_IOC_GET_VERSION", "closed descriptor", EBADF,
         [](Env& e) { int d = ::dup(e.fd); ::close(d); kview_version v{}; return do_ioctl(d, KVIEW_IOC_GET_VERSION, &v); }},
        {"KVIEW_IOC_GET_VERSION", "unknown command number (0xB9, 0x7f)", ENOTTY,
         [](Env& e) { kview_version v{}; return do_ioctl(e.fd, _IOR(KVIEW_IOC_MAGIC, 0x7f, kview_version), &v); }},
    };
}

// VIEW_CREATE
std::vector<Case> rows_view_create() {
    return {
        {"KVIEW_IOC_VIEW_CREATE", "valid", 0, [](Env& e) { return make_view(e); }},
        {"KVIEW_IOC_VIEW_CREATE", "short size (4: pid reads as 0)", EINVAL,
         [](Env& e) { auto r = create_req(e.target); r.size = 4; return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); }},
        {"KVIEW_IOC_VIEW_CREATE", "long size, zero tail", 0,
         [](Env& e) { Padded<kview_view_create> p{create_req(e.target), 0}; p.t.size = sizeof(p); return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &p); }},
        {"KVIEW_IOC_VIEW_CREATE", "unknown flag", EINVAL,
         [](Env& e) { auto r = create_req(e.target, 1u << 31); return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); }},
        {"KVIEW_IOC_VIEW_CREATE", "bad user pointer", EFAULT,
         [](Env& e) { return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, reinterpret_cast<void*>(16)); }},
        {"KVIEW_IOC_VIEW_CREATE", "pid 0", EINVAL,
         [](Env& e) { auto r = create_req(0); return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); }},
        {"KVIEW_IOC_VIEW_CREATE", "negative pid", EINVAL,
         [](Env& e) { auto r = create_req(-5); return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); }},
        {"KVIEW_IOC_VIEW_CREATE", "dead pid", ESRCH,
         [](Env& e) { auto r = create_req(4000000); return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); }},
        {"KVIEW_IOC_VIEW_CREATE", "kernel thread (kthreadd)", EINVAL,
         [](Env& e) { auto r = create_req(2); return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); }},
        {"KVIEW_IOC_VIEW_CREATE", "no CAP_SYS_ADMIN/CAP_BPF/CAP_PERFMON", EPERM,
         [](Env& e) { return with_caps(0, [&] { return make_view(e); }); }},
        {"KVIEW_IOC_VIEW_CREATE", "CAP_BPF without CAP_PERFMON", EPERM,
         [](Env& e) { return with_caps(cap(CAP_BPF), [&] { return make_view(e); }); }},
        {"KVIEW_IOC_VIEW_CREATE", "CAP_BPF + CAP_PERFMON (enough)", 0,
         [](Env& e) { return with_caps(cap(CAP_BPF) | cap(CAP_PERFMON) | cap(CAP_SYS_PTRACE), [&] { return make_view(e); }); }},
        {"KVIEW_IOC_VIEW_CREATE", "other user's process, no CAP_SYS_PTRACE", EPERM,
         [](Env& e) {
             pid_t other = ::fork();
             if (other == 0) {
                 if (::setresuid(65533, 65533, 65533))
                     ::_exit(1);
                 ::pause();
                 ::_exit(0);
             }
             ::usleep(100000);
             int err = with_caps(kAllCaps & ~cap(CAP_SYS_PTRACE), [&] {
                 auto r = create_req(other);
                 return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r);
             });
             ::kill(other, SIGKILL);
             ::waitpid(other, nullptr, 0);
             return err;
         }},
        {"KVIEW_IOC_VIEW_CREATE", "Yama scope 1, not our descendant, no CAP_SYS_PTRACE", EPERM,
         [](Env& e) {
             YamaScope y(1);
             if (!y.ok())
                 return 202;
             // the target is the test's child: a sibling of with_caps' child
             return with_caps(kAllCaps & ~cap(CAP_SYS_PTRACE), [&] { return make_view(e); });
         }},
        {"KVIEW_IOC_VIEW_CREATE", "Yama scope 1, our own child, no CAP_SYS_PTRACE", 0,
         [](Env& e) {
             YamaScope y(1);
             if (!y.ok())
                 return 202;
             return with_caps(kAllCaps & ~cap(CAP_SYS_PTRACE), [&] { return view_on_own_child(e.fd); });
         }},
        {"KVIEW_IOC_VIEW_CREATE", "Yama scope 2, our own child, no CAP_SYS_PTRACE", EPERM,
         [](Env& e) {
             YamaScope y(2);
             if (!y.ok())
                 return 202;
             return with_caps(kAllCaps & ~cap(CAP_SYS_PTRACE), [&] { return view_on_own_child(e.fd); });
         }},
        {"KVIEW_IOC_VIEW_CREATE", "second view on one descriptor", EBUSY,
         [](Env& e) { make_view(e); return make_view(e); }},
    };
}

// HOOK_ADD
std::vector<Case> rows_hook_add() {
    return {
        {"KVIEW_IOC_HOOK_ADD", "valid", 0,
         [](Env& e) { make_view(e); auto h = hook_req("vfs_read"); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "no view yet", ENXIO,
         [](Env& e) { auto h = hook_req("vfs_read"); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "bad user pointer", EFAULT,
         [](Env& e) { make_view(e); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, reinterpret_cast<void*>(16)); }},
        {"KVIEW_IOC_HOOK_ADD", "short size (8: the symbol reads as empty)", EINVAL,
         [](Env& e) { make_view(e); auto h = hook_req("vfs_read"); h.size = 8; return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "unknown kind", EINVAL,
         [](Env& e) { make_view(e); auto h = hook_req("vfs_read", 0, 77); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "unknown flag", EINVAL,
         [](Env& e) { make_view(e); auto h = hook_req("vfs_read"); h.flags = 1u << 20; return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "unknown symbol", ENOENT,
         [](Env& e) { make_view(e); auto h = hook_req("kview_no_such_fn"); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "symbol not NUL-terminated", EINVAL,
         [](Env& e) { make_view(e); auto h = hook_req(""); std::memset(h.symbol, 'a', sizeof(h.symbol)); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "offset not an instruction boundary", EINVAL,
         [](Env& e) { make_view(e); auto h = hook_req("vfs_read", 1); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "offset past the end of the text", EINVAL,
         [](Env& e) { make_view(e); auto h = hook_req("vfs_read", 0x7fffffff); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "blacklisted function (NOKPROBE notify_die)", EADDRNOTAVAIL,
         [](Env& e) { make_view(e); auto h = hook_req("notify_die"); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "fentry: offset 0 resolves past the fentry call", 0,
         [](Env& e) {
             make_view(e);
             auto h = hook_req("vfs_read");
             int err = do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h);
             if (err)
                 return err;
             // the call (or its nop), after an endbr64 with IBT
             uint32_t skip = entry_skip(e.fd, ksym("vfs_read"));
             return (skip == 5 || skip == 9) && h.addr == ksym("vfs_read") + skip ? 0 : 203;
         }},
        {"KVIEW_IOC_HOOK_ADD", "jump-label site (kfree's kmem:kfree key)", EADDRNOTAVAIL,
         [](Env& e) {
             make_view(e);
             int off = kfree_jump_label_offset(e.fd);
             if (off < 0)
                 return 204;
             auto h = hook_req("kfree", static_cast<uint32_t>(off));
             return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h);
         }},
        {"KVIEW_IOC_HOOK_ADD", "BUG/WARN sites (every ud2 in refcount_warn_saturate)", EADDRNOTAVAIL,
         [](Env& e) { make_view(e); return try_bug_sites(e, "refcount_warn_saturate"); }},
        {"KVIEW_IOC_HOOK_ADD", "return hook with an offset", EINVAL,
         [](Env& e) { make_view(e); auto h = hook_req("vfs_read", 4, KVIEW_HOOK_KRETPROBE); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "unknown syscall", ENOENT,
         [](Env& e) { make_view(e); auto h = hook_req("kview_nosys", 0, KVIEW_HOOK_SYSCALL_ENTER); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "same address twice", EEXIST,
         [](Env& e) { make_view(e); auto h = hook_req("vfs_read"); do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); h = hook_req("vfs_read"); return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "BPF: closed fd", EBADF,
         [](Env& e) { make_view(e); auto h = hook_req("vfs_read"); h.flags = KVIEW_HOOK_F_BPF; h.prog_fd = 1000; return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h); }},
        {"KVIEW_IOC_HOOK_ADD", "BPF: not a BPF fd (/dev/null)", EINVAL,
         [](Env& e) { make_view(e); return add_bpf_hook(e, ::open("/dev/null", O_RDONLY | O_CLOEXEC)); }},
        {"KVIEW_IOC_HOOK_ADD", "BPF: wrong program type (socket filter)", EINVAL,
         [](Env& e) {
             make_view(e);
             int p = socket_filter_prog();
             if (p < 0)
                 return 200; // could not set the case up: fails the row
             return add_bpf_hook(e, p);
         }},
        {"KVIEW_IOC_HOOK_ADD", "view ended (target exited)", ESRCH,
         [](Env& e) {
             pid_t t = ::fork();
             if (t == 0) {
                 ::pause();
                 ::_exit(0);
             }
             auto r = create_req(t);
             if (do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r))
                 return 201;
             ::kill(t, SIGKILL);
             ::waitpid(t, nullptr, 0);
             auto h = hook_req("vfs_read");
             return do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h);
         }},
    };
}

// VIEW_STATS
std::vector<Case> rows_view_stats() {
    return {
        {"KVIEW_IOC_VIEW_STATS", "valid", 0,
         [](Env& e) { make_view(e); kview_view_stats s{}; s.size = sizeof(s); return do_ioctl(e.fd, KVIEW_IOC_VIEW_STATS, &s); }},
        {"KVIEW_IOC_VIEW_STATS", "no view", ENXIO,
         [](Env& e) { kview_view_stats s{}; s.size = sizeof(s); return do_ioctl(e.fd, KVIEW_IOC_VIEW_STATS, &s); }},
        {"KVIEW_IOC_VIEW_STATS", "bad user pointer", EFAULT,
         [](Env& e) { make_view(e); return do_ioctl(e.fd, KVIEW_IOC_VIEW_STATS, reinterpret_cast<void*>(16)); }},
        {"KVIEW_IOC_VIEW_STATS", "bad hooks_ptr", EFAULT,
         [](Env& e) {
             make_view(e);
             auto h = hook_req("vfs_read");
             do_ioctl(e.fd, KVIEW_IOC_HOOK_ADD, &h);
             kview_view_stats s{};
             s.size = sizeof(s);
             s.hooks_cap = 4;
             s.hooks_ptr = 16;
             return do_ioctl(e.fd, KVIEW_IOC_VIEW_STATS, &s);
         }},
    };
}

// READ_TEXT
std::vector<Case> rows_read_text() {
    return {
        {"KVIEW_IOC_READ_TEXT", "valid", 0,
         [](Env& e) { kview_read_text r{sizeof(r), 16, stext(), reinterpret_cast<uint64_t>(row_buf)}; return do_ioctl(e.fd, KVIEW_IOC_READ_TEXT, &r); }},
        {"KVIEW_IOC_READ_TEXT", "len 0", EINVAL,
         [](Env& e) { kview_read_text r{sizeof(r), 0, stext(), reinterpret_cast<uint64_t>(row_buf)}; return do_ioctl(e.fd, KVIEW_IOC_READ_TEXT, &r); }},
        {"KVIEW_IOC_READ_TEXT", "len > KVIEW_READ_TEXT_MAX", EINVAL,
         [](Env& e) { kview_read_text r{sizeof(r), KVIEW_READ_TEXT_MAX + 1, stext(), reinterpret_cast<uint64_t>(row_buf)}; return do_ioctl(e.fd, KVIEW_IOC_READ_TEXT, &r); }},
        {"KVIEW_IOC_READ_TEXT", "address outside kernel text (user address)", EINVAL,
         [](Env& e) { kview_read_text r{sizeof(r), 16, reinterpret_cast<uint64_t>(row_buf), reinterpret_cast<uint64_t>(row_buf)}; return do_ioctl(e.fd, KVIEW_IOC_READ_TEXT, &r); }},
        {"KVIEW_IOC_READ_TEXT", "bad buf_ptr", EFAULT,
         [](Env& e) { kview_read_text r{sizeof(r), 16, stext(), 16}; return do_ioctl(e.fd, KVIEW_IOC_READ_TEXT, &r); }},
        {"KVIEW_IOC_READ_TEXT", "no CAP_SYS_ADMIN", EPERM,
         [](Env& e) { return with_caps(0, [&] { kview_read_text r{sizeof(r), 16, stext(), reinterpret_cast<uint64_t>(row_buf)}; return do_ioctl(e.fd, KVIEW_IOC_READ_TEXT, &r); }); }},
    };
}

// GLOBAL_STATS
std::vector<Case> rows_global_stats() {
    return {
        {"KVIEW_IOC_GLOBAL_STATS", "valid", 0,
         [](Env& e) { kview_global_stats g{}; g.size = sizeof(g); return do_ioctl(e.fd, KVIEW_IOC_GLOBAL_STATS, &g); }},
        {"KVIEW_IOC_GLOBAL_STATS", "output field non-zero on input", EINVAL,
         [](Env& e) { kview_global_stats g{}; g.size = sizeof(g); g.pages = 1; return do_ioctl(e.fd, KVIEW_IOC_GLOBAL_STATS, &g); }},
        {"KVIEW_IOC_GLOBAL_STATS", "bad user pointer", EFAULT,
         [](Env& e) { return do_ioctl(e.fd, KVIEW_IOC_GLOBAL_STATS, reinterpret_cast<void*>(16)); }},
    };
}

// LIST_VIEWS
std::vector<Case> rows_list_views() {
    return {
        {"KVIEW_IOC_LIST_VIEWS", "valid", 0,
         [](Env& e) { kview_list_views l{}; l.size = sizeof(l); return do_ioctl(e.fd, KVIEW_IOC_LIST_VIEWS, &l); }},
        {"KVIEW_IOC_LIST_VIEWS", "reserved non-zero", EINVAL,
         [](Env& e) { kview_list_views l{}; l.size = sizeof(l); l.reserved = 1; return do_ioctl(e.fd, KVIEW_IOC_LIST_VIEWS, &l); }},
        {"KVIEW_IOC_LIST_VIEWS", "bad views_ptr (a view exists)", EFAULT,
         [](Env& e) { make_view(e); kview_list_views l{}; l.size = sizeof(l); l.cap = 4; l.views_ptr = 16; return do_ioctl(e.fd, KVIEW_IOC_LIST_VIEWS, &l); }},
        {"KVIEW_IOC_LIST_VIEWS", "no CAP_SYS_ADMIN", EPERM,
         [](Env& e) { return with_caps(0, [&] { kview_list_views l{}; l.size = sizeof(l); return do_ioctl(e.fd, KVIEW_IOC_LIST_VIEWS, &l); }); }},
    };
}

// clang-format on

// The rows specific to each ioctl, in the uapi header's order.
std::vector<Case> specific_rows() {
    std::vector<Case> t;
    for (auto rows : {rows_get_version, rows_any_ioctl, rows_view_create, rows_hook_add, rows_view_stats, rows_read_text, rows_global_stats, rows_list_views})
        for (auto& c : rows())
            t.push_back(std::move(c));
    return t;
}

std::vector<Case> table() {
    static char buf[4096];
    auto t = specific_rows();
    sized_ioctl_rows(t, "KVIEW_IOC_VIEW_CREATE", KVIEW_IOC_VIEW_CREATE, kview_view_create{});
    sized_ioctl_rows(t, "KVIEW_IOC_HOOK_ADD", KVIEW_IOC_HOOK_ADD, hook_req("vfs_read"));
    sized_ioctl_rows(t, "KVIEW_IOC_VIEW_STATS", KVIEW_IOC_VIEW_STATS, kview_view_stats{});
    kview_read_text text{sizeof(text), 16, stext(), reinterpret_cast<uint64_t>(buf)};
    sized_ioctl_rows(t, "KVIEW_IOC_READ_TEXT", KVIEW_IOC_READ_TEXT, text);
    sized_ioctl_rows(t, "KVIEW_IOC_GLOBAL_STATS", KVIEW_IOC_GLOBAL_STATS, kview_global_stats{});
    sized_ioctl_rows(t, "KVIEW_IOC_LIST_VIEWS", KVIEW_IOC_LIST_VIEWS, kview_list_views{});
    return t;
}

kview_global_stats global_stats(int fd) {
    kview_global_stats g{};
    g.size = sizeof(g);
    EXPECT_EQ(do_ioctl(fd, KVIEW_IOC_GLOBAL_STATS, &g), 0);
    return g;
}

} // namespace

// The ioctls the uapi header declares.
static std::set<std::string> header_ioctls() {
    const char* repo = std::getenv("KVIEW_REPO");
    std::ifstream h(std::string(repo ? repo : ".") + "/include/uapi/linux/kview.h");
    std::set<std::string> declared;
    std::regex def(R"(^#define\s+(KVIEW_IOC_[A-Z_]+)\s+_IO)");
    std::string line;
    std::smatch m;
    while (std::getline(h, line))
        if (std::regex_search(line, m, def))
            declared.insert(m[1]);
    return declared;
}

TEST(AbiTable, EveryIoctlInTheHeaderIsCovered) {
    auto declared = header_ioctls();
    std::set<std::string> covered;
    for (const auto& c : table())
        covered.insert(c.ioctl);
    EXPECT_GE(declared.size(), 7u) << "uapi header not found or not parsed";
    for (const auto& d : declared)
        EXPECT_TRUE(covered.count(d)) << d << " is in the header but not in the ABI input table";
}

TEST(AbiTable, ExactErrnoAndNoSideEffect) {
    auto ctl = kview::Device::open();
    ASSERT_TRUE(ctl.ok()) << ctl.error().message();
    guest::Child target;
    size_t n = 0;
    for (const auto& c : table()) {
        auto before = global_stats(ctl.value().fd());
        Env e;
        e.target = target.pid();
        e.fd = ::open(KVIEW_DEVICE_PATH, O_RDWR | O_CLOEXEC);
        ASSERT_GE(e.fd, 0);
        int got = c.run(e);
        EXPECT_EQ(got, c.expected) << c.ioctl << " / " << c.input << ": got " << std::strerror(got)
                                   << ", want " << std::strerror(c.expected);
        if (c.expected) { // a refusal leaves nothing behind on this descriptor
            kview_view_stats s{};
            s.size = sizeof(s);
            if (do_ioctl(e.fd, KVIEW_IOC_VIEW_STATS, &s) == 0) {
                EXPECT_LE(s.nr_hooks, 1u) << c.ioctl << " / " << c.input << ": a refused hook stayed";
            }
        }
        ::close(e.fd);
        auto after = global_stats(ctl.value().fd());
        EXPECT_EQ(after.live_views, before.live_views) << c.ioctl << " / " << c.input;
        EXPECT_EQ(after.pages, before.pages) << c.ioctl << " / " << c.input << ": pages leaked";
        std::printf("[ abi      ] %-24s %-48s -> %s\n", c.ioctl, c.input,
                    got ? strerrorname_np(got) : "0");
        n++;
    }
    std::printf("[ figures  ] ABI input table: %zu cases over %zu ioctls\n", n, header_ioctls().size());
}
