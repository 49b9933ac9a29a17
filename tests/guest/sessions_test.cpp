// Several sessions on one process (KVIEW_VIEW_JOIN, ABI 1.3): each
// descriptor that creates or joins a pid's view is a session with hooks and
// programs of its own; both count every event of the traced process and an
// untraced one adds nothing; closing one detaches (and releases) only its
// programs and stops only its counting; the view, its pages and its private
// text go with the last owner; joins that cannot be are refused with EBUSY.
#include <bpf/bpf.h>

#include <fcntl.h>
#include <linux/kview.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/bpf.hpp"
#include "view_fixture.hpp"

namespace {

using guest::prog_fd;
using view_test::find_hook;
using view_test::stats_of;

class Sessions : public view_test::Views {};

// The "entries" map of obj, a descriptor of its own (outlives obj).
int entries_map(const kview::BpfObject& obj) {
    auto fd = obj.map_fd("entries");
    EXPECT_TRUE(fd.ok());
    return fd.ok() ? ::dup(fd.value()) : -1;
}

uint64_t count_in(int map, pid_t pid) {
    uint32_t key = static_cast<uint32_t>(pid);
    uint64_t v = 0;
    if (map < 0 || bpf_map_lookup_elem(map, &key, &v) != 0)
        return 0;
    return v;
}

uint32_t prog_id(int fd) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

// Is the program with this id still loaded (somebody holds it)?
bool prog_loaded(uint32_t id) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0)
        return false;
    ::close(fd);
    return true;
}

// Wait up to 3 s for the program to be released (its id freed).
bool prog_released(uint32_t id) {
    for (int i = 0; i < 300; i++) {
        if (!prog_loaded(id))
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

uint32_t sessions_of(const kview::View& v) {
    return stats_of(v).nr_sessions;
}

int raw_create(int fd, pid_t pid, uint32_t flags, kview_view_create* out = nullptr) {
    kview_view_create r{};
    r.size = sizeof(r);
    r.flags = flags;
    r.pid = pid;
    int err = ::ioctl(fd, KVIEW_IOC_VIEW_CREATE, &r) ? errno : 0;
    if (out)
        *out = r;
    return err;
}

// Two sessions on one pid, each with its own program and hooks on the same
// function: both see exactly the target's reads, an untraced process running
// the same reads reaches neither, and each session's stats list its own
// hooks only (the whole view's, all of them).
TEST_F(Sessions, TwoSessionsEachCountEveryEvent) {
    constexpr uint32_t N = 600, M = 1300;
    guest::Child p, q;
    auto oa = guest::test_bpf(), ob = guest::test_bpf();
    auto a = kview::View::join(p.pid());
    ASSERT_TRUE(a.ok()) << a.error().message();
    EXPECT_FALSE(a.value().joined()) << "nobody had a view of the target: a new one";
    auto b = kview::View::join(p.pid());
    ASSERT_TRUE(b.ok()) << b.error().message();
    EXPECT_TRUE(b.value().joined());
    EXPECT_EQ(b.value().id(), a.value().id()) << "one view per pid";
    EXPECT_EQ(b.value().sessions_at_open(), 2u);
    EXPECT_GT(b.value().session_id(), a.value().session_id());
    EXPECT_EQ(guest::global().live_views, 1u);

    auto ha = a.value().add_hook(KVIEW_HOOK_KPROBE, "vfs_read", 0, 1, prog_fd(oa, "count_entry"));
    ASSERT_TRUE(ha.ok()) << ha.error().message();
    // the same function in another session: no EEXIST (that rule is per session)
    auto hb = b.value().add_hook(KVIEW_HOOK_KPROBE, "vfs_read", 0, 2, prog_fd(ob, "count_entry"));
    ASSERT_TRUE(hb.ok()) << hb.error().message();
    auto hbr = b.value().add_kretprobe("vfs_read", 3);
    ASSERT_TRUE(hbr.ok()) << hbr.error().message();
    auto again = b.value().add_kprobe("vfs_read");
    ASSERT_FALSE(again.ok()) << "a second entry hook at one address of one session";
    EXPECT_EQ(again.error().code, EEXIST);
    EXPECT_EQ(ha.value().addr, hb.value().addr);
    EXPECT_NE(ha.value().id, hb.value().id);

    q.start_reads(M);
    p.start_reads(N);
    p.wait_done();
    q.wait_done();
    int ma = entries_map(oa), mb = entries_map(ob);
    EXPECT_EQ(count_in(ma, p.pid()), N);
    EXPECT_EQ(count_in(mb, p.pid()), N);
    EXPECT_EQ(count_in(ma, q.pid()), 0u) << "untraced process reached session A's program";
    EXPECT_EQ(count_in(mb, q.pid()), 0u) << "untraced process reached session B's program";
    ::close(ma);
    ::close(mb);

    auto sa = stats_of(a.value()), sb = stats_of(b.value());
    std::printf("[ figures  ] sessions %u and %u of view %u: A %zu hook(s), %llu hits; B %zu "
                "hook(s), %llu hits; %u sessions\n",
                sa.session_id, sb.session_id, sa.id, sa.hooks.size(),
                static_cast<unsigned long long>(sa.hits), sb.hooks.size(),
                static_cast<unsigned long long>(sb.hits), sb.nr_sessions);
    EXPECT_EQ(sa.nr_sessions, 2u);
    EXPECT_EQ(sa.session_id, a.value().session_id());
    ASSERT_EQ(sa.hooks.size(), 1u) << "session A sees only its own hook";
    EXPECT_EQ(sa.hooks[0].session_id, sa.session_id);
    EXPECT_EQ(sa.hooks[0].cookie, 1u);
    EXPECT_EQ(sa.hooks[0].hits, N);
    EXPECT_EQ(sa.hooks[0].prog_runs, N);
    EXPECT_EQ(sa.hits, N) << "the session's sum is over its own hooks";
    ASSERT_EQ(sb.hooks.size(), 2u) << "session B sees only its own hooks";
    for (const auto& h : sb.hooks) {
        EXPECT_EQ(h.session_id, sb.session_id);
        EXPECT_EQ(h.hits, N) << h.symbol << " " << kview::hook_kind_name(h.kind);
        EXPECT_EQ(h.foreign_mm_hits, 0u);
        EXPECT_EQ(h.flags & KVIEW_HOOK_SESSION_CLOSED, 0u);
    }
    EXPECT_EQ(sb.hits, 2 * N);
    auto all = b.value().stats(true);
    ASSERT_TRUE(all.ok()) << all.error().message();
    EXPECT_EQ(all.value().hooks.size(), 3u) << "the whole view: every session's hooks";
    EXPECT_EQ(all.value().hits, 3 * N);
    EXPECT_EQ(all.value().foreign_mm_hits, 0u);
}

// Closing session A detaches and releases its program and stops its hook's
// counting; session B's program and hooks go on counting every read.
TEST_F(Sessions, ClosingOneSessionStopsOnlyItsCounting) {
    constexpr uint32_t N1 = 400, N2 = 700;
    guest::Child p;
    std::optional<kview::BpfObject> oa(guest::test_bpf());
    auto ob = guest::test_bpf();
    auto b = kview::View::join(p.pid());
    ASSERT_TRUE(b.ok()) << b.error().message();
    std::optional<kview::View> a;
    {
        auto j = kview::View::join(p.pid());
        ASSERT_TRUE(j.ok()) << j.error().message();
        a.emplace(std::move(j.value()));
    }
    ASSERT_TRUE(a->joined());
    uint32_t sa = a->session_id();
    int pa = prog_fd(*oa, "count_entry");
    uint32_t ida = prog_id(pa);
    ASSERT_NE(ida, 0u);
    ASSERT_OK(a->add_hook(KVIEW_HOOK_KPROBE, "vfs_read", 0, 0, pa));
    ASSERT_OK(a->add_syscall_enter("read"));
    ASSERT_OK(b.value().add_hook(KVIEW_HOOK_KPROBE, "vfs_read", 0, 0, prog_fd(ob, "count_entry")));
    ASSERT_OK(b.value().add_syscall_enter("read"));
    int ma = entries_map(*oa), mb = entries_map(ob);
    oa.reset(); // our descriptors of A's program are gone: the module holds it
    EXPECT_TRUE(prog_loaded(ida)) << "session A's program released while A is open";

    p.reads(N1);
    EXPECT_EQ(count_in(ma, p.pid()), N1);
    EXPECT_EQ(count_in(mb, p.pid()), N1);
    EXPECT_EQ(sessions_of(b.value()), 2u);

    a.reset(); // close session A; B keeps the view
    EXPECT_TRUE(prog_released(ida)) << "session A's program still loaded after A closed";
    EXPECT_EQ(sessions_of(b.value()), 1u);
    EXPECT_EQ(guest::global().live_views, 1u);
    p.reads(N2);
    EXPECT_EQ(count_in(ma, p.pid()), N1) << "session A's program ran after A closed";
    EXPECT_EQ(count_in(mb, p.pid()), N1 + N2) << "session B stopped counting with A";

    auto own = stats_of(b.value());
    ASSERT_EQ(own.hooks.size(), 2u);
    for (const auto& h : own.hooks) {
        EXPECT_EQ(h.hits, N1 + N2) << h.symbol;
        EXPECT_EQ(h.flags & KVIEW_HOOK_SESSION_CLOSED, 0u) << h.symbol;
    }
    auto all = b.value().stats(true);
    ASSERT_TRUE(all.ok()) << all.error().message();
    ASSERT_EQ(all.value().hooks.size(), 4u) << "A's hooks stay in the view";
    uint32_t closed = 0;
    for (const auto& h : all.value().hooks) {
        if (h.session_id != sa)
            continue;
        closed++;
        EXPECT_EQ(h.hits, N1) << h.symbol << ": counted after its session closed";
        EXPECT_NE(h.flags & KVIEW_HOOK_SESSION_CLOSED, 0u) << h.symbol;
        EXPECT_EQ(h.flags & KVIEW_HOOK_PROG, 0u) << h.symbol << ": program still attached";
    }
    EXPECT_EQ(closed, 2u);
    std::printf("[ figures  ] after session %u closed: its 2 hooks at %u hits (CLOSED), session "
                "%u's at %u; A's program released\n",
                sa, N1, own.session_id, N1 + N2);
    ::close(ma);
    ::close(mb);
}

// Hook descriptors (KVIEW_IOC_HOOK_FD) work in each session: each runs its
// session's program; a session whose /dev/kview descriptor is closed lives
// on while its hook descriptors do, and closes with the last of them.
TEST_F(Sessions, HookDescriptorsPerSession) {
    constexpr uint32_t N = 300, N2 = 200, N3 = 500;
    guest::Child p;
    auto oa = guest::test_bpf(), ob = guest::test_bpf();
    auto b = kview::View::join(p.pid());
    ASSERT_TRUE(b.ok()) << b.error().message();
    kview::Fd fa;
    uint32_t sa = 0;
    {
        auto a = kview::View::join(p.pid());
        ASSERT_TRUE(a.ok()) << a.error().message();
        ASSERT_TRUE(a.value().joined());
        sa = a.value().session_id();
        auto h = a.value().hook_fd(KVIEW_HOOK_KPROBE, "vfs_read");
        ASSERT_TRUE(h.ok()) << h.error().message();
        fa = std::move(h.value().fd);
        ASSERT_EQ(ioctl(fa.get(), PERF_EVENT_IOC_SET_BPF, prog_fd(oa, "count_entry")), 0)
            << strerror(errno);
        ASSERT_EQ(ioctl(fa.get(), PERF_EVENT_IOC_ENABLE, 0), 0);
        EXPECT_EQ(stats_of(a.value()).hooks.size(), 1u);
    } // A's /dev/kview descriptor closed: its hook descriptor keeps the session
    auto hb = b.value().hook_fd(KVIEW_HOOK_KPROBE, "vfs_read");
    ASSERT_TRUE(hb.ok()) << hb.error().message();
    int fb = hb.value().fd.get();
    ASSERT_EQ(ioctl(fb, PERF_EVENT_IOC_SET_BPF, prog_fd(ob, "count_entry")), 0) << strerror(errno);
    ASSERT_EQ(ioctl(fb, PERF_EVENT_IOC_ENABLE, 0), 0);
    int ma = entries_map(oa), mb = entries_map(ob);

    p.reads(N);
    EXPECT_EQ(count_in(ma, p.pid()), N);
    EXPECT_EQ(count_in(mb, p.pid()), N);
    EXPECT_EQ(sessions_of(b.value()), 2u) << "a session lives while its hook descriptors do";
    auto own = stats_of(b.value());
    ASSERT_EQ(own.hooks.size(), 1u) << "session B lists its own hook descriptor only";
    EXPECT_EQ(own.hooks[0].hits, N);
    EXPECT_EQ(own.hooks[0].flags & (KVIEW_HOOK_FD | KVIEW_HOOK_PROG),
              unsigned{KVIEW_HOOK_FD | KVIEW_HOOK_PROG});

    p.reads(N2);
    fa.reset(); // A's last reference: session A closes
    EXPECT_EQ(sessions_of(b.value()), 1u);
    p.reads(N3);
    EXPECT_EQ(count_in(ma, p.pid()), N + N2) << "A's program ran after its session closed";
    EXPECT_EQ(count_in(mb, p.pid()), N + N2 + N3);
    auto all = b.value().stats(true);
    ASSERT_TRUE(all.ok()) << all.error().message();
    bool seen = false;
    for (const auto& h : all.value().hooks) {
        if (h.session_id != sa)
            continue;
        seen = true;
        EXPECT_EQ(h.flags & (KVIEW_HOOK_FD | KVIEW_HOOK_CLOSED | KVIEW_HOOK_SESSION_CLOSED |
                             KVIEW_HOOK_PROG),
                  unsigned{KVIEW_HOOK_FD | KVIEW_HOOK_CLOSED | KVIEW_HOOK_SESSION_CLOSED});
        EXPECT_EQ(h.hits, N + N2);
    }
    EXPECT_TRUE(seen) << "session A's hook left the view";
    ::close(ma);
    ::close(mb);
}

// The view, its pages and the target's private text go only with the last
// owner, in either order; a later join makes a new view; session ids are
// never reused.
TEST_F(Sessions, ViewEndsWithItsLastOwner) {
    guest::Child p;
    auto base = guest::global();
    uint64_t addr = 0;
    uint32_t last_session = 0, view_id = 0;
    for (int order = 0; order < 2; order++) {
        std::optional<kview::View> first, second;
        {
            auto v = kview::View::join(p.pid());
            ASSERT_TRUE(v.ok()) << v.error().message();
            first.emplace(std::move(v.value()));
            auto w = kview::View::join(p.pid());
            ASSERT_TRUE(w.ok()) << w.error().message();
            second.emplace(std::move(w.value()));
        }
        EXPECT_FALSE(first->joined());
        EXPECT_TRUE(second->joined());
        EXPECT_NE(first->id(), view_id) << "a new view after the last owner closed";
        view_id = first->id();
        EXPECT_GT(first->session_id(), last_session) << "a session id was reused";
        EXPECT_GT(second->session_id(), first->session_id());
        last_session = second->session_id();
        auto h = first->add_kprobe("vfs_read");
        ASSERT_TRUE(h.ok()) << h.error().message();
        addr = h.value().addr;
        ASSERT_OK(second->add_kretprobe("vfs_read"));
        auto held = guest::global();
        EXPECT_EQ(held.live_views, base.live_views + 1);
        EXPECT_GT(held.pages, base.pages);
        auto list = first->device().list_views();
        ASSERT_TRUE(list.ok());
        int of_p = 0;
        for (const auto& i : list.value())
            of_p += i.pid == p.pid();
        EXPECT_EQ(of_p, 1) << "one view per pid";

        // close one owner (the creator first, then the joiner first)
        (order ? second : first).reset();
        auto one = guest::global();
        EXPECT_EQ(one.live_views, held.live_views) << "the view died with an owner left";
        EXPECT_EQ(one.pages, held.pages);
        EXPECT_EQ(p.read_text(addr)[addr & 4095], 0xcc) << "the target lost its private text";
        auto& rest = order ? first : second;
        EXPECT_EQ(sessions_of(*rest), 1u);
        p.reads(50);
        auto st = stats_of(*rest);
        ASSERT_EQ(st.hooks.size(), 1u);
        EXPECT_EQ(st.hooks[0].hits, 50u);

        rest.reset(); // the last owner
        auto after = guest::global();
        EXPECT_EQ(after.live_views, base.live_views);
        EXPECT_EQ(after.pages, base.pages) << "pages leaked";
        EXPECT_NE(p.read_text(addr)[addr & 4095], 0xcc) << "the int3 outlived the view";
        std::printf("[ figures  ] order %d: view %u held %llu pages with 2 sessions, %llu with "
                    "1, %llu after the last\n",
                    order, view_id, static_cast<unsigned long long>(held.pages),
                    static_cast<unsigned long long>(one.pages),
                    static_cast<unsigned long long>(after.pages));
    }
}

// Joins that cannot be: EBUSY, and nothing is left behind.
TEST_F(Sessions, JoinRefusals) {
    guest::Child p, q;
    auto base = guest::global();
    int owner = ::open(KVIEW_DEVICE_PATH, O_RDWR | O_CLOEXEC);
    ASSERT_GE(owner, 0);
    kview_view_create made{};
    ASSERT_EQ(raw_create(owner, p.pid(), KVIEW_VIEW_FOLLOW_FORK, &made), 0);
    EXPECT_EQ(made.nr_sessions, 1u);
    EXPECT_NE(made.session_id, 0u);

    int fd = ::open(KVIEW_DEVICE_PATH, O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(raw_create(fd, p.pid(), KVIEW_VIEW_FOLLOW_FORK), EBUSY) << "no JOIN: as before 1.3";
    EXPECT_EQ(raw_create(fd, p.pid(), KVIEW_VIEW_JOIN), EBUSY) << "other flags than the view's";
    EXPECT_EQ(
        raw_create(fd, p.pid(), KVIEW_VIEW_JOIN | KVIEW_VIEW_FOLLOW_FORK | KVIEW_VIEW_EXEC_REAPPLY),
        EBUSY);
    EXPECT_EQ(guest::global().live_views, base.live_views + 1);
    kview_view_create joined{};
    ASSERT_EQ(raw_create(fd, p.pid(), KVIEW_VIEW_JOIN | KVIEW_VIEW_FOLLOW_FORK, &joined), 0);
    EXPECT_EQ(joined.view_id, made.view_id);
    EXPECT_EQ(joined.nr_sessions, 2u);
    EXPECT_GT(joined.session_id, made.session_id);
    EXPECT_EQ(raw_create(fd, p.pid(), KVIEW_VIEW_JOIN | KVIEW_VIEW_FOLLOW_FORK), EBUSY)
        << "a descriptor is one session";
    EXPECT_EQ(raw_create(fd, q.pid(), KVIEW_VIEW_JOIN), EBUSY) << "a view of another pid";
    EXPECT_EQ(guest::global().live_views, base.live_views + 1);

    // the library says what to do
    auto lib = kview::View::create(p.pid(), KVIEW_VIEW_FOLLOW_FORK);
    ASSERT_FALSE(lib.ok());
    EXPECT_EQ(lib.error().code, EBUSY);
    EXPECT_NE(lib.error().message().find("join"), std::string::npos) << lib.error().message();
    auto other = kview::View::join(p.pid(), KVIEW_VIEW_EXEC_REAPPLY);
    ASSERT_FALSE(other.ok());
    EXPECT_EQ(other.error().code, EBUSY);

    ::close(owner);
    EXPECT_EQ(guest::global().live_views, base.live_views + 1) << "the joiner keeps the view";
    ::close(fd);
    auto after = guest::global();
    EXPECT_EQ(after.live_views, base.live_views);
    EXPECT_EQ(after.pages, base.pages);
}

} // namespace
