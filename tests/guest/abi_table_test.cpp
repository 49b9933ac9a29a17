// The ABI input table: every ioctl in the uapi header
// against hostile inputs -> one exact errno, and no side effect (no view,
// page or hook left behind). The table is data; docs/reliability.md shows
// it. A test fails if the header declares an ioctl the table does not cover.
#include <fcntl.h>
#include <linux/kview.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "abi_table.hpp"
#include "guest_util.hpp"
#include "kview/device.hpp"

using namespace abi_table;

namespace {

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
        {"KVIEW_IOC_VIEW_CREATE", "session_id not zero", EINVAL,
         [](Env& e) { auto r = create_req(e.target); r.session_id = 1; return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); }},
        {"KVIEW_IOC_VIEW_CREATE", "nr_sessions not zero", EINVAL,
         [](Env& e) { auto r = create_req(e.target); r.nr_sessions = 1; return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); }},
        {"KVIEW_IOC_VIEW_CREATE", "JOIN, no view yet (creates one)", 0,
         [](Env& e) { auto r = create_req(e.target, KVIEW_VIEW_JOIN); int err = do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); return err ? err : r.nr_sessions == 1 ? 0 : 200; }},
        {"KVIEW_IOC_VIEW_CREATE", "target has a view, no JOIN", EBUSY,
         [](Env& e) { Env o{::open(KVIEW_DEVICE_PATH, O_RDWR | O_CLOEXEC), e.target}; make_view(o); int err = make_view(e); ::close(o.fd); return err; }},
        {"KVIEW_IOC_VIEW_CREATE", "JOIN the target's view (ABI 1.3)", 0,
         [](Env& e) {
             Env o{::open(KVIEW_DEVICE_PATH, O_RDWR | O_CLOEXEC), e.target};
             auto c = create_req(e.target);
             int err = do_ioctl(o.fd, KVIEW_IOC_VIEW_CREATE, &c);
             auto r = create_req(e.target, KVIEW_VIEW_JOIN);
             if (!err)
                 err = do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r);
             ::close(o.fd);
             if (!err && (r.view_id != c.view_id || r.nr_sessions != 2 || r.session_id <= c.session_id))
                 err = 200; // not the same view, or a reused session id
             return err;
         }},
        {"KVIEW_IOC_VIEW_CREATE", "JOIN with other flags than the view's", EBUSY,
         [](Env& e) { Env o{::open(KVIEW_DEVICE_PATH, O_RDWR | O_CLOEXEC), e.target}; make_view(o); auto r = create_req(e.target, KVIEW_VIEW_JOIN | KVIEW_VIEW_FOLLOW_FORK); int err = do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); ::close(o.fd); return err; }},
        {"KVIEW_IOC_VIEW_CREATE", "JOIN on a descriptor with a view of another pid", EBUSY,
         [](Env& e) { guest::Child other; Env o{e.fd, other.pid()}; make_view(o); auto r = create_req(e.target, KVIEW_VIEW_JOIN); return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); }},
        {"KVIEW_IOC_VIEW_CREATE", "JOIN its own view again", EBUSY,
         [](Env& e) { make_view(e); auto r = create_req(e.target, KVIEW_VIEW_JOIN); return do_ioctl(e.fd, KVIEW_IOC_VIEW_CREATE, &r); }},
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
        {"KVIEW_IOC_VIEW_STATS", "scope VIEW (ABI 1.3)", 0,
         [](Env& e) { make_view(e); kview_view_stats s{}; s.size = sizeof(s); s.scope = KVIEW_STATS_VIEW; return do_ioctl(e.fd, KVIEW_IOC_VIEW_STATS, &s); }},
        {"KVIEW_IOC_VIEW_STATS", "unknown scope", EINVAL,
         [](Env& e) { make_view(e); kview_view_stats s{}; s.size = sizeof(s); s.scope = 2; return do_ioctl(e.fd, KVIEW_IOC_VIEW_STATS, &s); }},
        {"KVIEW_IOC_VIEW_STATS", "reserved non-zero", EINVAL,
         [](Env& e) { make_view(e); kview_view_stats s{}; s.size = sizeof(s); s.reserved = 1; return do_ioctl(e.fd, KVIEW_IOC_VIEW_STATS, &s); }},
        {"KVIEW_IOC_VIEW_STATS", "outputs of an earlier answer (ignored)", 0,
         [](Env& e) { make_view(e); kview_view_stats s{}; s.size = sizeof(s); s.session_id = 7; s.nr_sessions = 9; int err = do_ioctl(e.fd, KVIEW_IOC_VIEW_STATS, &s); return err ? err : s.nr_sessions == 1 && s.session_id != 7 ? 0 : 200; }},
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

// HOOK_FD (ABI 1.1)
std::vector<Case> rows_hook_fd() {
    return {
        {"KVIEW_IOC_HOOK_FD", "valid", 0,
         [](Env& e) { make_view(e); return hook_fd_ioctl(e, hook_fd_req("vfs_read")); }},
        {"KVIEW_IOC_HOOK_FD", "no view yet", ENXIO,
         [](Env& e) { return hook_fd_ioctl(e, hook_fd_req("vfs_read")); }},
        {"KVIEW_IOC_HOOK_FD", "bad user pointer", EFAULT,
         [](Env& e) { make_view(e); return do_ioctl(e.fd, KVIEW_IOC_HOOK_FD, reinterpret_cast<void*>(16)); }},
        {"KVIEW_IOC_HOOK_FD", "size without the fd field", EINVAL,
         [](Env& e) { make_view(e); auto h = hook_fd_req("vfs_read"); h.size = offsetof(kview_hook_fd, fd); return hook_fd_ioctl(e, h); }},
        {"KVIEW_IOC_HOOK_FD", "output fd not zero", EINVAL,
         [](Env& e) { make_view(e); auto h = hook_fd_req("vfs_read"); h.fd = 1; return hook_fd_ioctl(e, h); }},
        {"KVIEW_IOC_HOOK_FD", "unknown flag", EINVAL,
         [](Env& e) { make_view(e); auto h = hook_fd_req("vfs_read"); h.flags = 1u << 9; return hook_fd_ioctl(e, h); }},
        {"KVIEW_IOC_HOOK_FD", "unknown kind", EINVAL,
         [](Env& e) { make_view(e); return hook_fd_ioctl(e, hook_fd_req("vfs_read", 77)); }},
        {"KVIEW_IOC_HOOK_FD", "unknown symbol", ENOENT,
         [](Env& e) { make_view(e); return hook_fd_ioctl(e, hook_fd_req("kview_no_such_fn")); }},
        {"KVIEW_IOC_HOOK_FD", "blacklisted function (NOKPROBE notify_die)", EADDRNOTAVAIL,
         [](Env& e) { make_view(e); return hook_fd_ioctl(e, hook_fd_req("notify_die")); }},
        {"KVIEW_IOC_HOOK_FD", "same address twice (no EEXIST)", 0,
         [](Env& e) {
             make_view(e);
             int a = hook_fd_ioctl(e, hook_fd_req("vfs_read"));
             return a ? a : hook_fd_ioctl(e, hook_fd_req("vfs_read"));
         }},
        {"KVIEW_IOC_HOOK_FD", "view ended (target exited)", ESRCH,
         [](Env& e) {
             guest::Child c;
             Env ce{e.fd, c.pid()};
             make_view(ce);
             c.kill9();
             return hook_fd_ioctl(e, hook_fd_req("vfs_read"));
         }},
    };
}

// clang-format on

// The rows specific to each ioctl, in the uapi header's order.
std::vector<Case> specific_rows() {
    std::vector<Case> t;
    for (auto rows :
         {rows_get_version, rows_any_ioctl, rows_view_create, rows_hook_add, rows_view_stats,
          rows_read_text, rows_global_stats, rows_list_views, rows_hook_fd})
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
    sized_ioctl_rows(t, "KVIEW_IOC_HOOK_FD", KVIEW_IOC_HOOK_FD, hook_fd_req("vfs_read"));
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
                EXPECT_LE(s.nr_hooks, 1u)
                    << c.ioctl << " / " << c.input << ": a refused hook stayed";
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
    std::printf("[ figures  ] ABI input table: %zu cases over %zu ioctls\n", n,
                header_ioctls().size());
}
