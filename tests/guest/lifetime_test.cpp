// Lifetime: what ends a view (close, kill -9, exec), what it follows (fork,
// exec with EXEC_REAPPLY, vfork/posix_spawn children), slot reuse, rmmod.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/view.hpp"
#include "view_fixture.hpp"

using namespace view_test;

namespace {

class Lifetime : public Views {};

TEST_F(Lifetime, CloseRestoresSharedText) {
    Child p;
    uint64_t addr;
    {
        View v = make_view(p.pid());
        auto h = v.add_kprobe("vfs_read");
        ASSERT_OK(h);
        addr = h.value().addr;
        EXPECT_EQ(p.read_text(addr)[addr & 4095], 0xcc);
        EXPECT_GT(global().pages, 0u);
    }
    EXPECT_EQ(p.read_text(addr), shared_text(addr));
    EXPECT_EQ(global().pages, 0u);
}

TEST_F(Lifetime, KillDashNineEndsView) {
    auto p = std::make_unique<Child>();
    View v = make_view(p->pid());
    ASSERT_OK(v.add_kprobe("vfs_read"));
    p->reads(10);
    EXPECT_TRUE(stats_of(v).live);
    p->kill9();
    auto s = stats_of(v);
    EXPECT_FALSE(s.live);
    EXPECT_EQ(s.hooks[0].hits, 10u);
    auto late = v.add_kprobe("ksys_read");
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.error().code, ESRCH);
}

TEST_F(Lifetime, ExecEndsViewByDefault) {
    Child p;
    View v = make_view(p.pid());
    ASSERT_OK(v.add_kprobe("vfs_read"));
    p.exec_reads(300);
    auto s = stats_of(v);
    EXPECT_FALSE(s.live) << "the old image is gone";
    EXPECT_EQ(s.hooks[0].hits, 0u) << "the new image must not be traced";
    EXPECT_EQ(s.foreign_mm_hits, 0u);
}

TEST_F(Lifetime, ExecReapplyKeepsTracing) {
    Child p;
    View v = make_view(p.pid(), KVIEW_VIEW_EXEC_REAPPLY);
    ASSERT_OK(v.add_kprobe("vfs_read"));
    p.exec_reads(300);
    auto s = stats_of(v);
    EXPECT_TRUE(s.live);
    EXPECT_EQ(s.nr_mms, 2u);
    // 300 reads plus the dynamic loader's reads of shared libraries.
    EXPECT_GE(s.hooks[0].hits, 300u);
    EXPECT_LE(s.hooks[0].hits, 300u + 32u);
    std::printf("[ figures  ] exec reapply: %llu hits for 300 reads (+loader reads)\n",
                static_cast<unsigned long long>(s.hooks[0].hits));
}

// EXEC_REAPPLY follows the target's process, not its pid number: an
// unrelated process that gets the dead target's pid and execs stays out.
TEST_F(Lifetime, ReusedPidDoesNotJoinOnExec) {
    auto p = std::make_unique<Child>();
    const pid_t pid = p->pid();
    View v = make_view(pid, KVIEW_VIEW_EXEC_REAPPLY);
    ASSERT_OK(v.add_kprobe("vfs_read"));
    p->kill9();
    p.reset();
    std::unique_ptr<Child> q;
    for (int i = 0; i < 20 && !(q && q->pid() == pid); i++) {
        q.reset();
        ASSERT_TRUE(guest::write_file("/proc/sys/kernel/ns_last_pid", std::to_string(pid - 1)));
        q = std::make_unique<Child>();
    }
    ASSERT_EQ(q->pid(), pid) << "premise: the new process reuses the dead target's pid";
    q->exec_reads(300);
    auto s = stats_of(v);
    EXPECT_EQ(s.nr_mms, 1u) << "an unrelated process joined the view";
    EXPECT_EQ(s.hooks[0].hits, 0u);
    EXPECT_EQ(s.foreign_mm_hits, 0u);
}

TEST_F(Lifetime, ForkFollowsOnlyWithFlag) {
    {
        Child p;
        View v = make_view(p.pid());
        ASSERT_OK(v.add_kprobe("vfs_read"));
        p.fork_reads(200);
        auto s = stats_of(v);
        EXPECT_EQ(s.hooks[0].hits, 0u) << "child of P traced without FOLLOW_FORK";
        EXPECT_EQ(s.foreign_mm_hits, 0u);
        EXPECT_EQ(s.nr_mms, 1u);
    }
    Child p;
    View v = make_view(p.pid(), KVIEW_VIEW_FOLLOW_FORK);
    ASSERT_OK(v.add_kprobe("vfs_read"));
    p.fork_reads(200);
    p.reads(50);
    auto s = stats_of(v);
    EXPECT_EQ(s.hooks[0].hits, 250u);
    EXPECT_EQ(s.nr_mms, 2u);
    EXPECT_TRUE(s.live);
}

// A vfork or posix_spawn child shares its parent's address space until it
// execs. With FOLLOW_FORK | EXEC_REAPPLY its new image is traced: dash runs
// the commands of `sh -c 'a; b'` that way, so `kview trace -c` relies on it.
// Until 2026-11-25 such children were never followed (0 hits here).
TEST_F(Lifetime, SpawnedChildIsFollowedAcrossExec) {
    Child p;
    View v = make_view(p.pid(), KVIEW_VIEW_FOLLOW_FORK | KVIEW_VIEW_EXEC_REAPPLY);
    ASSERT_OK(v.add_kprobe("vfs_read"));
    p.spawn_reads(300);
    p.reads(50);
    auto s = stats_of(v);
    // 350 reads plus the dynamic loader's reads of the child's libraries.
    EXPECT_GE(s.hooks[0].hits, 350u);
    EXPECT_LE(s.hooks[0].hits, 350u + 32u);
    EXPECT_EQ(s.foreign_mm_hits, 0u);
    EXPECT_EQ(s.unfollowed, 0u);
    EXPECT_EQ(s.nr_mms, 3u) << "target, the child on the target's mm, the child's image";
    EXPECT_TRUE(s.live);
}

// Slots of children that exited are reused: KVIEW_VIEW_MAX_MMS bounds the
// address spaces in a view at once, not in its lifetime. Until 2026-11-25 the
// 64th child filled the view and every later one went untraced.
TEST_F(Lifetime, ManyShortLivedChildrenAreAllFollowed) {
    Child p;
    View v = make_view(p.pid(), KVIEW_VIEW_FOLLOW_FORK);
    ASSERT_OK(v.add_kprobe("vfs_read"));
    const uint32_t kids = 4 * KVIEW_VIEW_MAX_MMS;
    p.forks_of_ten_reads(kids);
    p.reads(7);
    auto s = stats_of(v);
    EXPECT_EQ(s.hooks[0].hits, 10u * kids + 7u);
    EXPECT_EQ(s.unfollowed, 0u);
    EXPECT_EQ(s.nr_mms, kids + 1u);
    EXPECT_EQ(s.foreign_mm_hits, 0u);
    EXPECT_TRUE(s.live);
}

TEST_F(Lifetime, RmmodRefusedWithLiveView) {
    Child p;
    View v = make_view(p.pid());
    ASSERT_OK(v.add_kprobe("vfs_read"));
    for (int i = 0; i < 3; i++) {
        auto r = guest::sh("rmmod kview");
        EXPECT_NE(r.status, 0);
    }
    p.reads(10);
    EXPECT_EQ(stats_of(v).hooks[0].hits, 10u);
}

TEST_F(Lifetime, CreateDestroy1000) {
    Child p;
    auto g0 = global();
    for (int i = 0; i < 1000; i++) {
        View v = make_view(p.pid());
        ASSERT_OK(v.add_kprobe("vfs_read"));
        if (i % 100 == 0)
            p.reads(1);
    }
    auto g1 = global();
    EXPECT_EQ(g1.views_created - g0.views_created, 1000u);
    EXPECT_EQ(g1.views_destroyed - g0.views_destroyed, 1000u);
    EXPECT_EQ(g1.pages, 0u);
    EXPECT_EQ(g1.live_views, 0u);
}

} // namespace
