// Views: exact hits for the traced process only, the private text as each
// process sees it, memory, bad inputs. Coherence under live text patching:
// coherence_test.cpp; lifetime (close, kill -9, exec, fork, rmmod):
// lifetime_test.cpp.
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

// P's hits equal its reads on entry, return and syscall
// hooks; Q, reading concurrently on the same paths, contributes nothing.
TEST_F(Views, ExactHitsForTracedProcessOnly) {
    constexpr uint32_t N = 5000, M = 20000;
    Child p, q;
    View v = make_view(p.pid());
    ASSERT_OK(v.add_kprobe("vfs_read"));
    ASSERT_OK(v.add_kretprobe("vfs_read"));
    ASSERT_OK(v.add_syscall_enter("read"));
    ASSERT_OK(v.add_syscall_exit("read"));
    ASSERT_OK(v.add_kprobe("ksys_read"));
    auto before = stats_of(v);
    q.start_reads(M);
    p.start_reads(N);
    p.wait_done();
    q.wait_done();
    auto after = stats_of(v);
    ASSERT_EQ(after.hooks.size(), 5u);
    for (size_t i = 0; i < after.hooks.size(); i++) {
        const auto &a = after.hooks[i], &b = before.hooks[i];
        SCOPED_TRACE(a.symbol + " " + kview::hook_kind_name(a.kind));
        EXPECT_EQ(a.hits - b.hits, N);
        EXPECT_EQ(a.foreign_mm_hits, 0u) << "a hook fired in an untraced process";
        EXPECT_EQ(a.missed, 0u);
        EXPECT_FALSE(a.lost);
    }
    EXPECT_EQ(after.foreign_mm_hits, 0u);
    std::printf("[ figures  ] P %u reads -> hits %llu per hook, Q %u reads -> foreign %llu, "
                "other-context %llu\n",
                N, static_cast<unsigned long long>(after.hooks[0].hits - before.hooks[0].hits), M,
                static_cast<unsigned long long>(after.foreign_mm_hits),
                static_cast<unsigned long long>(after.other_hits));
}

// the hooked byte reads as int3 from P, as the original from
// Q and from the controller.
TEST_F(Views, TracedSeesHookOthersSeeOriginal) {
    Child p, q;
    View v = make_view(p.pid());
    auto h = v.add_kprobe("vfs_read");
    ASSERT_OK(h);
    uint64_t addr = h.value().addr;
    size_t off = addr & 4095;
    auto mine = shared_text(addr);
    auto in_p = p.read_text(addr);
    auto in_q = q.read_text(addr);
    EXPECT_EQ(in_p[off], 0xcc);
    EXPECT_NE(in_q[off], 0xcc);
    EXPECT_EQ(in_q, mine);
    in_p[off] = mine[off];
    EXPECT_EQ(in_p, mine) << "private page differs from shared beyond the hook";
}

// one hook on one page.
TEST_F(Views, OneHookMemory) {
    Child p;
    View v = make_view(p.pid());
    ASSERT_OK(v.add_kprobe("vfs_read"));
    auto s = stats_of(v);
    EXPECT_EQ(s.text_pages, 1u);
    EXPECT_LE(s.text_pages + s.table_pages, 5u);
    EXPECT_EQ(global().pages, s.text_pages + s.table_pages);
    std::printf("[ figures  ] one hook: %llu text + %llu table pages = %llu pages, %llu bytes\n",
                static_cast<unsigned long long>(s.text_pages),
                static_cast<unsigned long long>(s.table_pages),
                static_cast<unsigned long long>(s.text_pages + s.table_pages),
                static_cast<unsigned long long>(s.bytes));
}

TEST_F(Views, BadInputErrnos) {
    Child p;
    {
        auto dev = kview::Device::open();
        ASSERT_TRUE(dev.ok());
        kview_hook_add h{};
        h.size = sizeof(h);
        h.kind = KVIEW_HOOK_KPROBE;
        std::snprintf(h.symbol, sizeof(h.symbol), "vfs_read");
        auto r = dev.value().raw_ioctl(KVIEW_IOC_HOOK_ADD, &h);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, ENXIO) << "hook before view";
    }
    auto dead = View::create(999999);
    ASSERT_FALSE(dead.ok());
    EXPECT_EQ(dead.error().code, ESRCH);
    auto kthread = View::create(2); // kthreadd
    ASSERT_FALSE(kthread.ok());
    EXPECT_EQ(kthread.error().code, EINVAL);
    auto badflag = View::create(p.pid(), 1u << 30);
    ASSERT_FALSE(badflag.ok());
    EXPECT_EQ(badflag.error().code, EINVAL);

    View v = make_view(p.pid());
    auto again = View::create(p.pid());
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, EBUSY);
    auto unknown = v.add_kprobe("no_such_function_kview");
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, ENOENT);
    auto midinsn = v.add_kprobe("vfs_read", 1);
    ASSERT_FALSE(midinsn.ok());
    EXPECT_EQ(midinsn.error().code, EINVAL) << "offset 1 is not an instruction boundary";
    auto blacklisted = v.add_kprobe("do_int3");
    ASSERT_FALSE(blacklisted.ok());
    EXPECT_TRUE(blacklisted.error().code == EADDRNOTAVAIL || blacklisted.error().code == ENOENT)
        << blacklisted.error().message();
    auto retoff = v.add_hook(KVIEW_HOOK_KRETPROBE, "vfs_read", 4);
    ASSERT_FALSE(retoff.ok());
    EXPECT_EQ(retoff.error().code, EINVAL);
    auto badkind = v.add_hook(99, "vfs_read");
    ASSERT_FALSE(badkind.ok());
    EXPECT_EQ(badkind.error().code, EINVAL);
    ASSERT_OK(v.add_kprobe("vfs_read"));
    auto dup = v.add_kprobe("vfs_read");
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().code, EEXIST);
    ASSERT_OK(v.add_kretprobe("vfs_read")); // entry and return share the address
    auto nosys = v.add_syscall_enter("no_such_syscall");
    ASSERT_FALSE(nosys.ok());
    EXPECT_EQ(nosys.error().code, ENOENT);
    EXPECT_EQ(stats_of(v).hooks.size(), 2u) << "a failed add left something behind";
}

// Scale: 64 views of 16 hooks each.
TEST_F(Views, SixtyFourViewsSixteenHooks) {
    const std::vector<std::string> candidates = {
        "vfs_read",     "vfs_write",         "ksys_read",
        "ksys_write",   "do_sys_openat2",    "do_filp_open",
        "filp_close",   "vfs_statx",         "kernel_clone",
        "do_exit",      "__x64_sys_getpid",  "__x64_sys_getppid",
        "do_nanosleep", "hrtimer_nanosleep", "pipe_read",
        "pipe_write",   "__x64_sys_uname",   "vfs_fsync_range",
        "kfree",        "__x64_sys_sendmsg", "__x64_sys_close",
        "do_sys_poll",  "__x64_sys_dup",     "vfs_open"};
    std::vector<std::unique_ptr<Child>> kids;
    std::vector<View> views;
    std::vector<std::string> funcs;
    for (int i = 0; i < 64; i++) {
        kids.push_back(std::make_unique<Child>());
        views.push_back(make_view(kids.back()->pid()));
        int added = 0;
        for (const auto& f : candidates) {
            if (added == 16)
                break;
            auto r = views.back().add_kprobe(f);
            if (r.ok())
                added++;
            else if (i == 0)
                std::printf("[ note     ] %s\n", r.error().message().c_str());
        }
        ASSERT_EQ(added, 16) << "fewer than 16 hookable candidates";
    }
    uint64_t pages = 0;
    for (auto& v : views)
        pages += stats_of(v).text_pages + stats_of(v).table_pages;
    EXPECT_EQ(global().live_views, 64u);
    EXPECT_EQ(global().pages, pages);
    for (auto& k : kids)
        k->reads(3);
    for (auto& v : views) {
        auto s = stats_of(v);
        EXPECT_EQ(find_hook(s, "vfs_read", KVIEW_HOOK_KPROBE)->hits, 3u);
        EXPECT_EQ(s.foreign_mm_hits, 0u);
    }
    std::printf("[ figures  ] 64 views x 16 hooks: %llu pages (%.1f per view)\n",
                static_cast<unsigned long long>(pages), static_cast<double>(pages) / 64.0);
    views.clear();
    kids.clear();
    EXPECT_EQ(global().pages, 0u);
}

TEST_F(Views, ListShowsEveryView) {
    Child a, b;
    View va = make_view(a.pid());
    View vb = make_view(b.pid(), KVIEW_VIEW_SHARED_TEXT);
    ASSERT_OK(va.add_kprobe("vfs_read"));
    auto dev = kview::Device::open();
    ASSERT_TRUE(dev.ok());
    auto list = dev.value().list_views();
    ASSERT_TRUE(list.ok()) << list.error().message();
    ASSERT_EQ(list.value().size(), 2u);
    for (const auto& v : list.value()) {
        EXPECT_TRUE(v.live);
        if (v.pid == a.pid()) {
            EXPECT_EQ(v.id, va.id());
            EXPECT_EQ(v.nr_hooks, 1u);
            EXPECT_GT(v.pages, 0u);
        } else {
            EXPECT_EQ(v.pid, b.pid());
            EXPECT_EQ(v.flags, unsigned{KVIEW_VIEW_SHARED_TEXT});
        }
    }
    auto r = guest::sh(guest::cli_path() + " list");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find(std::to_string(a.pid())), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("shared-text"), std::string::npos) << r.out;
}

} // namespace
