// Storm.Lifecycle: bounded, seeded, time-limited. Targets that fork,
// posix_spawn, exec, spawn threads, exit and get kill -9'd while three
// threads create and destroy views on them, a witness checks exact hit
// counts, the CLI is kill -9'd mid-attach and rmmod is attempted
// throughout. Afterwards the module holds nothing; slab and meminfo deltas
// are reported. Length and seed: storm_util.hpp.
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/view.hpp"
#include "storm_util.hpp"

using guest::Child;
using guest::global;
using kview::View;
using storm::errname;
using storm::spawn;
using storm::Tally;
using Clock = std::chrono::steady_clock;

namespace {

struct HookSpec {
    uint32_t kind;
    const char* symbol;
};
const HookSpec kHookPool[] = {
    {KVIEW_HOOK_KPROBE, "vfs_read"},         {KVIEW_HOOK_KRETPROBE, "vfs_read"},
    {KVIEW_HOOK_KPROBE, "ksys_read"},        {KVIEW_HOOK_SYSCALL_ENTER, "read"},
    {KVIEW_HOOK_SYSCALL_EXIT, "getpid"},     {KVIEW_HOOK_KPROBE, "kfree"},
    {KVIEW_HOOK_KPROBE, "do_sys_openat2"},   {KVIEW_HOOK_KRETPROBE, "do_sys_openat2"},
    {KVIEW_HOOK_KPROBE, "wake_up_new_task"}, {KVIEW_HOOK_KRETPROBE, "kernel_clone"},
};

// The storm's shared state; each actor is one member function, run on its
// own thread until the deadline (the target pool on the test's thread).
class Lifecycle {
  public:
    Lifecycle(uint64_t seed, double secs)
        : seed_(seed), deadline_(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(secs))) {
        for (int i = 0; i < 4; i++)
            pool_.push_back(spawn_target());
    }
    void run();
    Tally tally;
    uint64_t spawned() const { return spawn_seq_.load(); }

  private:
    bool running() const { return Clock::now() < deadline_; }
    pid_t pick(std::mt19937_64& rng);
    pid_t spawn_target();
    void controller(int t);
    void witness();
    void cli_killer();
    void rmmod_loop();
    void churn_pool();

    const uint64_t seed_;
    const Clock::time_point deadline_;
    const std::string cli_ = guest::cli_path();
    const std::string exe_ = guest::self_exe();
    Child witness_; // forked before any thread exists
    std::mutex pool_m_;
    std::vector<pid_t> pool_;
    std::atomic<uint64_t> spawn_seq_{0};
};

pid_t Lifecycle::pick(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> l(pool_m_);
    return pool_.empty() ? pid_t{1} : pool_[rng() % pool_.size()];
}

pid_t Lifecycle::spawn_target() {
    return spawn({exe_, "--storm-target", std::to_string(seed_ * 1000 + spawn_seq_++)});
}

// Controllers: create a view on a random target, or join the one it has (a
// session, ABI 1.3), add random hooks, read stats, drop it.
void Lifecycle::controller(int t) {
    std::mt19937_64 rng(seed_ + 17 + t);
    while (running()) {
        uint32_t flags = static_cast<uint32_t>(rng() % 4); // FOLLOW_FORK | EXEC_REAPPLY
        bool join = rng() % 2;
        auto v = join ? View::join(pick(rng), flags) : View::create(pick(rng), flags);
        if (!v.ok()) {
            int e = v.error().code;
            tally.add("view create: " + errname(e));
            // ESRCH: the target died; EBUSY: it has a view (one per
            // process; a fork between open and exec elsewhere can
            // hold a dropped view's descriptor for a moment), or, joining,
            // one with other flags.
            if (e != ESRCH && e != EBUSY)
                tally.fail("view create: " + v.error().message());
            continue;
        }
        tally.add(v.value().joined() ? "view create: joined" : "view create: ok");
        int nh = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < nh; k++) {
            const auto& hs = kHookPool[rng() % std::size(kHookPool)];
            auto h = v.value().add_hook(hs.kind, hs.symbol, 0, 0);
            int e = h.ok() ? 0 : h.error().code;
            tally.add("hook add: " + errname(e));
            // ENOSPC: sessions that keep a view alive fill it (hooks stay)
            if (e && e != ESRCH && e != EEXIST && !(e == ENOSPC && v.value().joined()))
                tally.fail("hook add " + std::string(hs.symbol) + ": " + h.error().message());
        }
        ::usleep(static_cast<useconds_t>(rng() % 30000));
        auto s = v.value().stats();
        if (!s.ok()) {
            tally.fail("stats: " + s.error().message());
            continue;
        }
        tally.add(s.value().live ? "view at stats: live" : "view at stats: ended");
        if (s.value().foreign_mm_hits) {
            std::string where;
            for (const auto& hk : s.value().hooks)
                if (hk.foreign_mm_hits)
                    where += " " + hk.symbol + "/" + kview::hook_kind_name(hk.kind) + ":" +
                             std::to_string(hk.foreign_mm_hits);
            tally.fail("an untraced process entered a hook: foreign_mm_hits " +
                       std::to_string(s.value().foreign_mm_hits) + " (view flags " +
                       std::to_string(flags) + ", mms " + std::to_string(s.value().nr_mms) + ";" +
                       where + ")");
        }
    }
}

// Witness: exact counts for a quiet traced process, throughout.
void Lifecycle::witness() {
    std::mt19937_64 rng(seed_ + 99);
    while (running()) {
        auto v = View::create(witness_.pid());
        // The previous view's descriptor may still be held for a moment
        // by a child forked (CLI, targets) before it execs: retry.
        for (int i = 0; i < 200 && !v.ok() && v.error().code == EBUSY; i++) {
            ::usleep(10000);
            tally.add("witness create: EBUSY, retried");
            v = View::create(witness_.pid());
        }
        if (!v.ok()) {
            tally.fail("witness view: " + v.error().message());
            return;
        }
        auto a = v.value().add_kprobe("vfs_read");
        auto b = v.value().add_kretprobe("vfs_read");
        auto c = v.value().add_syscall_enter("read");
        if (!a.ok() || !b.ok() || !c.ok()) {
            tally.fail("witness hooks refused");
            return;
        }
        uint32_t n = 1 + static_cast<uint32_t>(rng() % 200);
        witness_.reads(n);
        auto s = v.value().stats();
        bool exact = s.ok() && s.value().hooks.size() == 3;
        for (size_t i = 0; exact && i < 3; i++)
            exact = s.value().hooks[i].hits == n;
        tally.add(exact ? "witness check: exact" : "witness check: MISMATCH");
        if (!exact)
            tally.fail("witness: a hook did not count exactly " + std::to_string(n) + " reads");
    }
}

// The CLI, killed with SIGKILL at a random point of its attach/run.
void Lifecycle::cli_killer() {
    std::mt19937_64 rng(seed_ + 7);
    while (running()) {
        pid_t c = spawn({cli_, "trace", "-p", std::to_string(pick(rng)), "-k", "vfs_read", "-r",
                         "vfs_read", "-d", "5s"});
        ::usleep(static_cast<useconds_t>(rng() % 400000));
        ::kill(c, SIGKILL);
        ::waitpid(c, nullptr, 0);
        tally.add("cli kill -9");
    }
}

// rmmod throughout: refused while anything holds the device.
void Lifecycle::rmmod_loop() {
    std::mt19937_64 rng(seed_ + 5);
    while (running()) {
        long r = ::syscall(SYS_delete_module, "kview", O_NONBLOCK);
        int e = r ? errno : 0;
        tally.add("rmmod attempt: " + errname(e));
        if (e != EWOULDBLOCK)
            tally.fail("rmmod with the device open: " + errname(e));
        ::usleep(100000 + static_cast<useconds_t>(rng() % 400000));
    }
}

// The target pool: reap, respawn, kill -9 at random; then kill them all.
void Lifecycle::churn_pool() {
    std::mt19937_64 rng(seed_ + 3);
    while (running()) {
        {
            std::lock_guard<std::mutex> l(pool_m_);
            for (auto& p : pool_) {
                if (rng() % 12 == 0) {
                    ::kill(p, SIGKILL);
                    tally.add("target kill -9");
                }
                if (::waitpid(p, nullptr, WNOHANG) == p) {
                    tally.add("target ended, respawned");
                    p = spawn_target();
                }
            }
        }
        ::usleep(20000 + static_cast<useconds_t>(rng() % 80000));
    }
}

void Lifecycle::run() {
    std::vector<std::thread> th;
    for (int t = 0; t < 3; t++)
        th.emplace_back([this, t] { controller(t); });
    th.emplace_back([this] { witness(); });
    th.emplace_back([this] { cli_killer(); });
    th.emplace_back([this] { rmmod_loop(); });
    churn_pool();
    for (auto& t : th)
        t.join();
    for (pid_t p : pool_) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
    }
}

} // namespace

namespace guest {

// A wild storm target (exec'd as "--storm-target SEED"): reads, forks
// short-lived children, runs threads, re-execs itself, opens files, and
// sometimes exits, for a bounded number of steps.
int storm_target_main(uint64_t seed) {
    std::mt19937_64 rng(seed);
    int z = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
    char c;
    auto reads = [z](int n) {
        char b;
        for (int i = 0; i < n; i++)
            if (::read(z, &b, 1) != 1)
                ::_exit(1);
    };
    std::vector<std::thread> threads;
    for (int step = 0; step < 300; step++) {
        switch (rng() % 10) {
        case 0:
        case 1:
        case 2:
        case 3:
            reads(1 + static_cast<int>(rng() % 50));
            break;
        case 4:
            if (rng() % 2) {
                if (::fork() == 0) {
                    reads(20);
                    ::_exit(0);
                }
            } else { // vfork-style (CLONE_VM | CLONE_VFORK), then exec
                (void)spawn_self_reads(20);
            }
            break;
        case 5:
            if (threads.size() < 4)
                threads.emplace_back([&reads] { reads(100); });
            break;
        case 6:
            for (auto& t : threads)
                t.join();
            threads.clear();
            break;
        case 7:
            if (rng() % 4 == 0) {
                for (auto& t : threads)
                    t.join();
                std::string exe = self_exe(), s = std::to_string(seed + 1);
                ::execl(exe.c_str(), exe.c_str(), "--storm-target", s.c_str(), nullptr);
            }
            break;
        case 8: {
            int f = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
            if (f >= 0 && ::read(f, &c, 1) >= 0)
                ::close(f);
            (void)::syscall(SYS_getpid);
            break;
        }
        default:
            if (rng() % 20 == 0) {
                for (auto& t : threads)
                    t.join();
                return 0;
            }
        }
        while (::waitpid(-1, nullptr, WNOHANG) > 0)
            ;
        ::usleep(static_cast<useconds_t>(rng() % 2000));
    }
    for (auto& t : threads)
        t.join();
    return 0;
}

} // namespace guest

TEST(Storm, Lifecycle) {
    const double secs = storm::seconds();
    const uint64_t seed = storm::seed(0x5eed0001);
    std::printf("[ storm    ] lifecycle: seed %#llx, %.0f s\n",
                static_cast<unsigned long long>(seed), secs);
    auto held = kview::Device::open(); // keeps the module in use: rmmod must fail
    ASSERT_TRUE(held.ok()) << held.error().message();
    auto mem0 = storm::meminfo();
    auto g0 = global();
    Lifecycle storm(seed, secs);
    storm.run();
    auto g1 = global();
    for (int i = 0; i < 20 && (g1.live_views != g0.live_views || g1.pages != g0.pages); i++) {
        ::usleep(100000);
        g1 = global();
    }
    storm.tally.print("lifecycle");
    EXPECT_EQ(g1.live_views, g0.live_views) << "views leaked"; // the soak keeps one of its own
    EXPECT_EQ(g1.pages, g0.pages) << "pages leaked";
    EXPECT_EQ(g1.views_created - g0.views_created, g1.views_destroyed - g0.views_destroyed);
    auto mem1 = storm::meminfo();
    std::printf(
        "[ figures  ] lifecycle storm: seed %#llx, %.0f s, %llu views created and destroyed, "
        "%llu targets spawned, %llu failures\n",
        static_cast<unsigned long long>(seed), secs,
        static_cast<unsigned long long>(g1.views_created - g0.views_created),
        static_cast<unsigned long long>(storm.spawned()),
        static_cast<unsigned long long>(storm.tally.failures()));
    storm::print_meminfo_delta("lifecycle storm", mem0, mem1);
}
