// Hook descriptors (KVIEW_IOC_HOOK_FD, ABI 1.1): a hook of the view behind a
// descriptor that answers the perf_event ioctls of a kprobe perf event, as
// `kview run` hands them to unmodified tools. An ordinary libbpf kprobe
// program attached with PERF_EVENT_IOC_SET_BPF, several on one site, the
// enable/disable gate, detach on close, and the larger per-view limit.
#include <bpf/bpf.h>

#include <linux/kview.h>
#include <linux/perf_event.h>

#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/bpf.hpp"

namespace {

using guest::prog_fd;

const kview::HookStats* hook_of(const kview::ViewStats& st, uint32_t id) {
    for (const auto& h : st.hooks)
        if (h.id == id)
            return &h;
    return nullptr;
}

uint64_t stat_of(const kview::BpfObject& obj, uint32_t key) {
    auto fd = obj.map_fd("tp_stat");
    EXPECT_TRUE(fd.ok());
    uint64_t v = 0;
    if (!fd.ok() || bpf_map_lookup_elem(fd.value(), &key, &v) != 0)
        return ~0ULL;
    return v;
}

// Two programs (two objects) on vfs_read of one view, each through its own
// descriptor: both see exactly the target's reads; an untraced process
// running the same reads reaches neither.
TEST(HookFd, TwoProgramsOnOneSite) {
    constexpr uint32_t N = 700, M = 1500;
    guest::Child p, q;
    auto a = guest::test_bpf(), b = guest::test_bpf();
    auto v = kview::View::create(p.pid());
    ASSERT_TRUE(v.ok()) << v.error().message();
    auto ha = v.value().hook_fd(KVIEW_HOOK_KPROBE, "vfs_read");
    ASSERT_TRUE(ha.ok()) << ha.error().message();
    auto hb = v.value().hook_fd(KVIEW_HOOK_KPROBE, "vfs_read");
    ASSERT_TRUE(hb.ok()) << "a second entry hook on one site: " << hb.error().message();
    auto hr = v.value().hook_fd(KVIEW_HOOK_KRETPROBE, "vfs_read");
    ASSERT_TRUE(hr.ok()) << hr.error().message();
    EXPECT_EQ(ha.value().info.addr, hb.value().info.addr);
    EXPECT_NE(ha.value().info.id, hb.value().info.id);
    // HOOK_ADD keeps its rule: one entry hook per address among its own hooks.
    auto add1 = v.value().add_kprobe("vfs_read");
    EXPECT_TRUE(add1.ok()) << "HOOK_ADD beside hook descriptors: " << add1.error().message();
    auto add2 = v.value().add_kprobe("vfs_read");
    ASSERT_FALSE(add2.ok());
    EXPECT_EQ(add2.error().code, EEXIST);

    int fa = ha.value().fd.get(), fb = hb.value().fd.get(), fr = hr.value().fd.get();
    EXPECT_EQ(ioctl(fa, PERF_EVENT_IOC_SET_BPF, prog_fd(a, "count_entry")), 0) << strerror(errno);
    EXPECT_EQ(ioctl(fb, PERF_EVENT_IOC_SET_BPF, prog_fd(b, "count_entry")), 0) << strerror(errno);
    EXPECT_EQ(ioctl(fr, PERF_EVENT_IOC_SET_BPF, prog_fd(a, "count_return")), 0) << strerror(errno);
    errno = 0;
    EXPECT_EQ(ioctl(fa, PERF_EVENT_IOC_SET_BPF, prog_fd(b, "count_entry")), -1);
    EXPECT_EQ(errno, EEXIST) << "one program per descriptor, as a perf event";
    for (int fd : {fa, fb, fr})
        EXPECT_EQ(ioctl(fd, PERF_EVENT_IOC_ENABLE, 0), 0);

    q.start_reads(M);
    p.start_reads(N);
    p.wait_done();
    q.wait_done();
    EXPECT_EQ(guest::bpf_count(a, "entries", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(b, "entries", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(a, "returns", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(a, "entries", q.pid()), 0u) << "untraced process reached a program";
    EXPECT_EQ(guest::bpf_count(b, "entries", q.pid()), 0u);
    auto st = v.value().stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st.value().foreign_mm_hits, 0u);
    for (auto id : {ha.value().info.id, hb.value().info.id, hr.value().info.id}) {
        const auto* h = hook_of(st.value(), id);
        ASSERT_NE(h, nullptr);
        EXPECT_EQ(h->hits, N);
        EXPECT_EQ(h->prog_runs, N);
        EXPECT_EQ(h->flags &
                      (KVIEW_HOOK_FD | KVIEW_HOOK_PROG | KVIEW_HOOK_DISABLED | KVIEW_HOOK_CLOSED),
                  unsigned{KVIEW_HOOK_FD | KVIEW_HOOK_PROG});
    }
}

// DISABLE stops the program (the hook keeps counting), ENABLE resumes it;
// close detaches it; the view outlives its descriptor while hook fds live.
TEST(HookFd, DisableEnableAndDetachOnClose) {
    guest::Child p;
    auto obj = guest::test_bpf();
    auto v = kview::View::create(p.pid());
    ASSERT_TRUE(v.ok()) << v.error().message();
    auto h = v.value().hook_fd(KVIEW_HOOK_KPROBE, "vfs_read", 0, 0, KVIEW_HOOK_FD_DISABLED);
    ASSERT_TRUE(h.ok()) << h.error().message();
    int fd = h.value().fd.get();
    uint32_t id = h.value().info.id;
    ASSERT_EQ(ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd(obj, "count_entry")), 0) << strerror(errno);
    p.reads(100); // created disabled: the program does not run
    EXPECT_EQ(guest::bpf_count(obj, "entries", p.pid()), 0u);
    ASSERT_EQ(ioctl(fd, PERF_EVENT_IOC_ENABLE, 0), 0);
    p.reads(200);
    EXPECT_EQ(guest::bpf_count(obj, "entries", p.pid()), 200u);
    ASSERT_EQ(ioctl(fd, PERF_EVENT_IOC_DISABLE, 0), 0);
    p.reads(50);
    EXPECT_EQ(guest::bpf_count(obj, "entries", p.pid()), 200u);
    auto st = v.value().stats();
    ASSERT_TRUE(st.ok());
    const auto* hs = hook_of(st.value(), id);
    ASSERT_NE(hs, nullptr);
    EXPECT_EQ(hs->hits, 350u) << "the hook counts whatever the program's state";
    EXPECT_NE(hs->flags & KVIEW_HOOK_DISABLED, 0u);
    ASSERT_EQ(ioctl(fd, PERF_EVENT_IOC_ENABLE, 0), 0);

    uint64_t eid = 0;
    EXPECT_EQ(ioctl(fd, PERF_EVENT_IOC_ID, &eid), 0);
    EXPECT_NE(eid & (1ULL << 63), 0u) << "hook ids stay apart from the kernel's event ids";
    errno = 0;
    EXPECT_EQ(ioctl(fd, PERF_EVENT_IOC_RESET, 0), -1);
    EXPECT_EQ(errno, ENOTTY);
    errno = 0;
    EXPECT_EQ(ioctl(fd, PERF_EVENT_IOC_SET_BPF, -1), -1);
    EXPECT_EQ(errno, EBADF);

    h.value().fd.reset(); // detach
    p.reads(30);
    EXPECT_EQ(guest::bpf_count(obj, "entries", p.pid()), 200u) << "the program ran after close";
    st = v.value().stats();
    ASSERT_TRUE(st.ok());
    hs = hook_of(st.value(), id);
    ASSERT_NE(hs, nullptr);
    EXPECT_EQ(hs->flags & (KVIEW_HOOK_PROG | KVIEW_HOOK_CLOSED), unsigned{KVIEW_HOOK_CLOSED});
    EXPECT_EQ(hs->hits, 380u);
}

// A hook descriptor keeps the view (and its /dev/kview file) alive; the view
// and its pages go when the last descriptor closes.
TEST(HookFd, DescriptorKeepsViewUntilClosed) {
    guest::Child p;
    auto before = guest::global();
    kview::Fd hook;
    {
        auto v = kview::View::create(p.pid());
        ASSERT_TRUE(v.ok()) << v.error().message();
        auto h = v.value().hook_fd(KVIEW_HOOK_KRETPROBE, "vfs_read");
        ASSERT_TRUE(h.ok()) << h.error().message();
        hook = std::move(h.value().fd);
    }
    EXPECT_EQ(guest::global().live_views, before.live_views + 1);
    p.reads(10);
    hook.reset();
    auto after = guest::global();
    EXPECT_EQ(after.live_views, before.live_views);
    EXPECT_EQ(after.pages, before.pages);
}

// Refusals: output fields and unknown flags (EINVAL), no view (ENXIO), and the
// per-view limit: KVIEW_MAX_VIEW_HOOKS hook descriptors, then ENOSPC.
TEST(HookFd, AbiEdgesAndLimit) {
    auto dev = kview::Device::open();
    ASSERT_TRUE(dev.ok()) << dev.error().message();
    kview_hook_fd req{};
    req.size = sizeof(req);
    req.kind = KVIEW_HOOK_KPROBE;
    std::strcpy(req.symbol, "vfs_read");
    errno = 0;
    EXPECT_EQ(ioctl(dev.value().fd(), KVIEW_IOC_HOOK_FD, &req), -1);
    EXPECT_EQ(errno, ENXIO);

    guest::Child p;
    auto v = kview::View::create(p.pid());
    ASSERT_TRUE(v.ok()) << v.error().message();
    int vfd = v.value().device().fd();
    for (auto bad : {0, 1, 2}) {
        kview_hook_fd r = req;
        if (bad == 0)
            r.fd = 3;
        else if (bad == 1)
            r.flags = 1u << 7;
        else
            r.kind = 99;
        errno = 0;
        EXPECT_EQ(ioctl(vfd, KVIEW_IOC_HOOK_FD, &r), -1) << bad;
        EXPECT_EQ(errno, EINVAL) << bad;
    }
    kview_hook_fd r = req;
    std::strcpy(r.symbol, "kview_no_such_function");
    errno = 0;
    EXPECT_EQ(ioctl(vfd, KVIEW_IOC_HOOK_FD, &r), -1);
    EXPECT_EQ(errno, ENOENT);

    rlimit rl{KVIEW_MAX_VIEW_HOOKS + 64, KVIEW_MAX_VIEW_HOOKS + 64};
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0) << strerror(errno);
    const char* syms[] = {"vfs_read", "vfs_write", "ksys_read", "ksys_write"};
    std::vector<kview::Fd> fds;
    for (uint32_t i = 0; i < KVIEW_MAX_VIEW_HOOKS; i++) {
        auto h = v.value().hook_fd(KVIEW_HOOK_KPROBE, syms[i % 4]);
        ASSERT_TRUE(h.ok()) << i << ": " << h.error().message();
        fds.push_back(std::move(h.value().fd));
    }
    auto over = v.value().hook_fd(KVIEW_HOOK_KPROBE, "vfs_read");
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().code, ENOSPC);
    auto st = v.value().stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st.value().hooks.size(), size_t{KVIEW_MAX_VIEW_HOOKS});
    p.reads(5);
    st = v.value().stats();
    ASSERT_TRUE(st.ok());
    uint64_t on_read = 0;
    for (const auto& h : st.value().hooks)
        if (h.symbol == "vfs_read")
            on_read += h.hits;
    EXPECT_EQ(on_read, 5u * (KVIEW_MAX_VIEW_HOOKS / 4))
        << "every hook on vfs_read counted each read";
    fds.clear();
}

// Tracepoint programs of syscalls:sys_enter_read / sys_exit_read (ABI 1.2)
// on syscall hooks, through a descriptor and through HOOK_ADD: they see the
// kernel's syscall tracepoint context (the number, read's count argument,
// its return value) for the target's reads only. Refused with the kernel's
// errnos: on a kprobe hook (EINVAL, as a kprobe event refuses them), and
// reading past the context (EACCES, as the kernel's max_ctx_offset check).
TEST(HookFd, SyscallTracepointPrograms) {
    constexpr uint32_t N = 600, M = 900;
    guest::Child p, q;
    auto a = guest::test_bpf(), b = guest::test_bpf();
    auto v = kview::View::create(p.pid());
    ASSERT_TRUE(v.ok()) << v.error().message();
    auto hk = v.value().hook_fd(KVIEW_HOOK_KPROBE, "vfs_read");
    ASSERT_TRUE(hk.ok()) << hk.error().message();
    errno = 0;
    EXPECT_EQ(ioctl(hk.value().fd.get(), PERF_EVENT_IOC_SET_BPF, prog_fd(a, "tp_enter")), -1);
    EXPECT_EQ(errno, EINVAL) << "a tracepoint program on a kprobe hook";
    auto add = v.value().add_hook(KVIEW_HOOK_KPROBE, "vfs_write", 0, 0, prog_fd(a, "tp_enter"));
    ASSERT_FALSE(add.ok());
    EXPECT_EQ(add.error().code, EINVAL) << "HOOK_ADD: a tracepoint program on a kprobe hook";

    auto he = v.value().hook_fd(KVIEW_HOOK_SYSCALL_ENTER, "read");
    auto hx = v.value().hook_fd(KVIEW_HOOK_SYSCALL_EXIT, "read");
    auto hw = v.value().hook_fd(KVIEW_HOOK_SYSCALL_ENTER, "write");
    ASSERT_TRUE(he.ok() && hx.ok() && hw.ok());
    int fe = he.value().fd.get(), fx = hx.value().fd.get(), fw = hw.value().fd.get();
    errno = 0;
    EXPECT_EQ(ioctl(fx, PERF_EVENT_IOC_SET_BPF, prog_fd(a, "tp_enter")), -1);
    EXPECT_EQ(errno, EACCES) << "an enter program reads args[2], past the exit context";
    errno = 0;
    EXPECT_EQ(ioctl(fw, PERF_EVENT_IOC_SET_BPF, prog_fd(a, "tp_far")), -1);
    EXPECT_EQ(errno, EACCES) << "reads 128 bytes into the context";
    EXPECT_EQ(ioctl(fe, PERF_EVENT_IOC_SET_BPF, prog_fd(a, "tp_enter")), 0) << strerror(errno);
    EXPECT_EQ(ioctl(fx, PERF_EVENT_IOC_SET_BPF, prog_fd(a, "tp_exit")), 0) << strerror(errno);
    for (int fd : {fe, fx})
        EXPECT_EQ(ioctl(fd, PERF_EVENT_IOC_ENABLE, 0), 0);
    auto added = v.value().add_hook(KVIEW_HOOK_SYSCALL_ENTER, "read", 0, 0, prog_fd(b, "tp_enter"));
    ASSERT_TRUE(added.ok()) << "HOOK_ADD of a tracepoint program: " << added.error().message();

    q.start_reads(M);
    p.start_reads(N);
    p.wait_done();
    q.wait_done();
    EXPECT_EQ(guest::bpf_count(a, "tp_enters", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(a, "tp_exits", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(b, "tp_enters", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(a, "tp_enters", q.pid()), 0u)
        << "untraced process reached a program";
    EXPECT_EQ(guest::bpf_count(a, "tp_exits", q.pid()), 0u);
    EXPECT_EQ(stat_of(a, 0), N) << "sum of read's count argument (1 byte a read)";
    EXPECT_EQ(stat_of(a, 1), N) << "sum of read's return values";
    EXPECT_EQ(stat_of(a, 2), 0u) << "a context whose syscall number was not __NR_read";
    auto st = v.value().stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st.value().foreign_mm_hits, 0u);
    for (auto id : {he.value().info.id, hx.value().info.id, added.value().id}) {
        const auto* h = hook_of(st.value(), id);
        ASSERT_NE(h, nullptr);
        EXPECT_EQ(h->hits, N);
        EXPECT_EQ(h->prog_runs, N);
    }
    std::printf("[ figures  ] syscall tracepoint programs on read hooks: %u reads -> enters %llu "
                "exits %llu, count sum %llu, ret sum %llu; untraced %u reads -> 0\n",
                N, static_cast<unsigned long long>(guest::bpf_count(a, "tp_enters", p.pid())),
                static_cast<unsigned long long>(guest::bpf_count(a, "tp_exits", p.pid())),
                static_cast<unsigned long long>(stat_of(a, 0)),
                static_cast<unsigned long long>(stat_of(a, 1)), M);
}

} // namespace
