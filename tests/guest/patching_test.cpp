// Invariant P (docs/design.md, "Invariants S and P") under text patching by
// others: stock kprobes optimized over a private hook, and the traced
// process itself patching kernel text. Run in the single-threaded TCG boots
// of guest.storms (see below).
#include <elf.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/view.hpp"

using guest::Child;
using kview::View;

namespace {

// A process whose two threads read one byte at a time until killed: both
// CPUs run the traced mm, so kernel threads run lazily on its page tables.
pid_t spin_two_threads() {
    pid_t pid = fork();
    if (pid == 0) {
        auto spin = [] {
            int fd = ::open("/dev/zero", O_RDONLY);
            char c;
            for (;;)
                (void)!::read(fd, &c, 1);
        };
        std::thread t(spin);
        spin();
    }
    return pid;
}

uint8_t shared_byte(uint64_t addr) {
    auto d = kview::Device::open();
    EXPECT_TRUE(d.ok());
    auto t = d.value().read_text(addr, 1);
    EXPECT_TRUE(t.ok());
    return t.ok() ? t.value()[0] : 0;
}

// Wait until some line of kprobes/list holds both `what` and `also` (or,
// with present = false, none holds `what`).
bool wait_for(const std::string& what, const std::string& also, bool present, int ms) {
    for (int i = 0; i < ms / 20; i++) {
        std::istringstream in(guest::kprobes_list());
        std::string line;
        bool has = false;
        while (std::getline(in, line))
            has |= line.find(what) != std::string::npos && line.find(also) != std::string::npos;
        if (has == present)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

// kview's hook offsets in vfs_read (after the fentry call) below `limit`:
// the instruction boundaries kview accepts.
std::vector<uint32_t> hookable(pid_t pid, uint32_t limit) {
    std::vector<uint32_t> v;
    for (uint32_t off = 0; off < limit; off++) {
        auto view = View::create(pid);
        if (view.ok() && view.value().add_kprobe("vfs_read", off).ok())
            v.push_back(off);
    }
    return v;
}

// P: stock kprobes whose optimized 5-byte jump covers kview's private int3,
// one for each distance 1-4 between the stock kprobe and the hook that
// vfs_read's instructions allow. The optimizer saves the displaced bytes by
// virtual address, often from a kworker lazily on the traced mm (so it reads
// our int3), and writes them back when it unoptimizes. Shared text must never
// receive the private byte, and closing the view must leave a kernel that
// every process can run (before the fix, with the stock kprobe at
// vfs_read+5 and the hook at +7: int3 oops in vfs_read).
// The Patching tests run in the single-threaded TCG boots of guest.storms:
// patching text that another vCPU executes hangs stock 6.1 under
// multi-threaded TCG (docs/reliability.md, "Stock kernel findings"; a vCPU
// keeps trapping on an int3 that is no longer in memory), and these tests
// patch text that the traced process is running.
using guest::single_threaded_tcg;

TEST(Patching, OptimizedStockKprobeOverPrivateHook) {
    if (!single_threaded_tcg())
        GTEST_SKIP() << "needs single-threaded TCG (tests/host/run-storms.sh runs it)";
    if (guest::read_file("/proc/sys/debug/kprobes-optimization").rfind('1', 0) != 0)
        GTEST_SKIP() << "kprobes optimization is off";
    const std::string t = guest::tracefs();
    guest::Kallsyms syms;
    uint64_t func = syms.at("vfs_read");
    ASSERT_NE(func, 0u);
    auto dev = kview::Device::open();
    ASSERT_TRUE(dev.ok());
    auto page0 = dev.value().read_text(func & ~4095ULL, 4096);
    ASSERT_TRUE(page0.ok());
    pid_t spinner = spin_two_threads();
    ASSERT_GT(spinner, 0);
    auto bounds = hookable(spinner, 48);
    std::vector<std::pair<uint32_t, uint32_t>> pairs; // stock, hook
    for (uint32_t k = 1; k <= 4; k++)
        for (uint32_t b : bounds)
            if (std::find(bounds.begin(), bounds.end(), b + k) != bounds.end()) {
                pairs.emplace_back(b, b + k);
                break;
            }
    ASSERT_FALSE(pairs.empty());
    int rounds = 0, optimized = 0;
    std::string covered;
    for (auto [stock, hook_off] : pairs) {
        auto v = View::create(spinner);
        ASSERT_TRUE(v.ok()) << v.error().message();
        auto h = v.value().add_kprobe("vfs_read", hook_off);
        ASSERT_TRUE(h.ok()) << h.error().message();
        uint64_t hook = h.value().addr;
        uint8_t orig = page0.value()[hook & 4095];
        const int body = guest::body_offset();
        const std::string at = std::to_string(body + stock);
        char listed[32];
        std::snprintf(listed, sizeof(listed), "vfs_read+0x%x ", body + stock);
        covered += " +" + at + "/+" + std::to_string(body + hook_off);
        for (int round = 0; round < 3; round++, rounds++) {
            SCOPED_TRACE("stock kprobe at vfs_read+" + at + ", hook at +" +
                         std::to_string(body + hook_off) + ", round " + std::to_string(round));
            auto r = guest::sh("echo 'p:kvopt vfs_read+" + at + "' >> " + t +
                               "/kprobe_events && echo 1 > " + t + "/events/kprobes/kvopt/enable");
            ASSERT_EQ(r.status, 0) << r.out;
            optimized += wait_for(listed, "[OPTIMIZED]", true, 3000);
            r = guest::sh("echo 0 > " + t + "/events/kprobes/kvopt/enable && echo '-:kvopt' >> " +
                          t + "/kprobe_events");
            ASSERT_EQ(r.status, 0) << r.out;
            EXPECT_TRUE(wait_for(listed, "k ", false, 3000)) << "the stock kprobe did not go away";
            usleep(100 * 1000); // the optimizer's delayed unoptimize
            EXPECT_EQ(shared_byte(hook), orig) << "a private byte reached shared text";
        }
        auto s = v.value().stats();
        ASSERT_TRUE(s.ok());
        EXPECT_EQ(s.value().foreign_mm_hits, 0u) << "untraced processes entered our hook";
    }
    guest::kill_wait(spinner);
    // Every process runs vfs_read now: this one, and a shell.
    EXPECT_EQ(guest::sh("head -c 100000 /dev/zero | wc -c").out, "100000\n");
    auto page1 = dev.value().read_text(func & ~4095ULL, 4096);
    ASSERT_TRUE(page1.ok());
    EXPECT_TRUE(page1.value() == page0.value()) << "vfs_read's page differs after the views closed";
    auto scrubbed = guest::sh("dmesg | grep -c 'kept a private int3 out of shared text'").out;
    std::printf(
        "[ figures  ] stock/hook pairs (vfs_read offsets):%s; %d/%d rounds optimized the stock "
        "kprobe over the hook; private int3s kept out of shared text (dmesg lines): %s",
        covered.c_str(), optimized, rounds, scrubbed.c_str());
    EXPECT_GT(optimized, 0) << "premise: the stock kprobe must get optimized";
}

// A shell that is the traced process does, itself, what a user's tools do to
// kernel text: registers and removes a stock kprobe at kview's hook address
// (kprobe registration decodes and copies the instruction by virtual
// address, on the traced tables), and flips a static key whose site is on a
// hooked page (jump-label verification reads the site the same way). Shared
// text must be as before, kview's hook must count every read of the shell,
// and the kernel must survive the view's close.
TEST(Patching, TracedProcessPatchesKernelText) {
    if (!single_threaded_tcg())
        GTEST_SKIP() << "needs single-threaded TCG (tests/host/run-storms.sh runs it)";
    const std::string t = guest::tracefs();
    guest::Kallsyms syms;
    auto dev = kview::Device::open();
    ASSERT_TRUE(dev.ok());
    char dir[] = "/tmp/kv-selfpatch-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string go = std::string(dir) + "/go", done = std::string(dir) + "/done";
    ASSERT_EQ(mkfifo(go.c_str(), 0600), 0);
    ASSERT_EQ(mkfifo(done.c_str(), 0600), 0);
    const std::string script = "read x < " + go +
                               "; for i in 1 2 3; do "
                               "echo 'p:kvself " +
                               guest::body("vfs_read") + "' >> " + t +
                               "/kprobe_events && echo 1 > " + t +
                               "/events/kprobes/kvself/enable && "
                               "echo 1 > " +
                               t +
                               "/events/kmem/kfree/enable && "
                               "echo 0 > " +
                               t + "/events/kprobes/kvself/enable && echo '-:kvself' >> " + t +
                               "/kprobe_events && "
                               "echo 0 > " +
                               t + "/events/kmem/kfree/enable || exit 1; done; echo ok > " + done;
    pid_t sh = fork();
    if (sh == 0) {
        execl("/bin/bash", "bash", "-c", script.c_str(), nullptr);
        _exit(127);
    }
    ASSERT_GT(sh, 0);
    // The view is for the shell, not for the image it replaces: wait for
    // the exec (it then blocks on the fifo).
    for (int i = 0; i < 500; i++) {
        char exe[256] = {};
        ssize_t n =
            readlink(("/proc/" + std::to_string(sh) + "/exe").c_str(), exe, sizeof(exe) - 1);
        if (n > 0 && std::string(exe).find("bash") != std::string::npos)
            break;
        usleep(10 * 1000);
    }
    uint64_t vfs_read = syms.at("vfs_read"), kfree = syms.at("kfree");
    auto read0 = dev.value().read_text(vfs_read & ~4095ULL, 4096);
    auto kfree0 = dev.value().read_text(kfree & ~4095ULL, 4096);
    ASSERT_TRUE(read0.ok() && kfree0.ok());
    {
        // Fork following: the shell's commands are its children.
        auto v = View::create(sh, KVIEW_VIEW_FOLLOW_FORK | KVIEW_VIEW_EXEC_REAPPLY);
        ASSERT_TRUE(v.ok()) << v.error().message();
        for (const char* f : {"vfs_read", "kfree"}) {
            auto h = v.value().add_kprobe(f);
            ASSERT_TRUE(h.ok()) << f << ": " << h.error().message();
        }
        ASSERT_EQ(guest::sh("echo go > " + go).status, 0);
        EXPECT_EQ(guest::read_file(done), "ok\n") << "the traced shell's patching failed";
        int st = 0;
        ::waitpid(sh, &st, 0);
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        auto s = v.value().stats();
        ASSERT_TRUE(s.ok());
        EXPECT_GT(s.value().hooks[0].hits, 0u) << "the traced shell's reads were not seen";
        // While its stock kprobe at our address was armed, everybody ran it
        // (its cost, counted as foreign hits); once it is gone, nobody.
        usleep(600 * 1000); // kview's poll disarms the aggregator
        (void)guest::sh("head -c 1000 /dev/zero > /dev/null");
        usleep(600 * 1000);
        auto s0 = v.value().stats();
        (void)guest::sh("head -c 1000 /dev/zero > /dev/null");
        auto s1 = v.value().stats();
        ASSERT_TRUE(s0.ok() && s1.ok());
        EXPECT_EQ(s1.value().foreign_mm_hits, s0.value().foreign_mm_hits)
            << "untraced processes still enter our hook";
    }
    auto read1 = dev.value().read_text(vfs_read & ~4095ULL, 4096);
    auto kfree1 = dev.value().read_text(kfree & ~4095ULL, 4096);
    ASSERT_TRUE(read1.ok() && kfree1.ok());
    EXPECT_TRUE(read1.value() == read0.value()) << "vfs_read's page changed";
    EXPECT_TRUE(kfree1.value() == kfree0.value()) << "kfree's page changed";
    EXPECT_EQ(guest::sh("head -c 100000 /dev/zero | wc -c").out, "100000\n");
    unlink(go.c_str());
    unlink(done.c_str());
    rmdir(dir);
}

// A traced process that reads /dev/zero one byte at a time while told to,
// counting its reads in memory shared with the test, and whose second
// thread spins on getpid(): both CPUs run the traced mm, so the kprobe
// optimizer's kworker often runs lazily on its page tables.
struct Reader {
    struct Shared {
        std::atomic<int> go{0}, seen{0}; // go: 0 pause, 1 read, 2 exit
        std::atomic<uint64_t> reads{0};
    };
    Shared* sh = nullptr;
    pid_t pid = -1;

    Reader() {
        void* m = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                       -1, 0);
        if (m == MAP_FAILED)
            return;
        sh = new (m) Shared;
        pid = fork();
        if (pid == 0) {
            std::thread([] {
                for (;;)
                    (void)syscall(SYS_getpid);
            }).detach();
            int fd = ::open("/dev/zero", O_RDONLY);
            char c;
            for (;;) {
                int g = sh->go.load();
                if (g == 2)
                    _exit(0);
                if (g == 1 && ::read(fd, &c, 1) == 1)
                    sh->reads.fetch_add(1);
                sh->seen.store(g);
            }
        }
    }
    ~Reader() {
        if (pid > 0)
            guest::kill_wait(pid);
        if (sh)
            munmap(sh, sizeof(Shared));
    }
    void run() { sh->go.store(1); }
    // Stop reading; the reads count once no read is in flight.
    uint64_t pause() {
        sh->go.store(0);
        for (int i = 0; i < 5000 && sh->seen.load() != 0; i++)
            usleep(1000);
        return sh->reads.load();
    }
};

uint64_t hits_of(View& v) {
    auto s = v.stats();
    EXPECT_TRUE(s.ok());
    return s.ok() && !s.value().hooks.empty() ? s.value().hooks[0].hits : 0;
}

// kview never counts more than the traced process did, and misses at most
// 1 read in 2000 (a residual window, docs/design.md §3 "Sharing an address
// with someone else's kprobe": 4 of 54660 once, 6.12 5-level PTI, step 3;
// 0 in 9 other boots). The bugs this test found lost 0.13% to 17%, or
// every read with the hook left lost.
void expect_counted(uint64_t hits, uint64_t reads, const char* what) {
    EXPECT_LE(hits, reads) << what;
    EXPECT_LE(reads - std::min(hits, reads), reads / 2000)
        << what << ": kview counted " << hits << " of " << reads << " reads";
    if (hits != reads)
        std::printf("[ figures  ] %s: kview missed %" PRIu64 " of %" PRIu64 " reads\n", what,
                    reads - std::min(hits, reads), reads);
}

// The traced process must see every event, counted against its own
// count of reads, while a stock kprobe at the hook's own address is
// registered, optimized over the hook, disabled and removed beside it (1),
// when its view is made while that kprobe is being lazily unoptimized (2:
// what CI hit, 19436 of 20000 reads on 6.1, 0 of 20000 and the hook "lost"
// on 6.12-rt, when the test before left such a kprobe), and while ftrace
// attaches to the function and leaves again (3: the fentry call's bytes,
// just before the hook, change). Without the fixes of mirror.c and
// hook.c's site_quiet() it lost 3.6% (6.1) and 17% (6.12-rt) of the reads
// in (1), and the hook stayed lost in (3).
TEST(Patching, StockKprobeComingAndGoingAtTheHookLosesNoEvent) {
    if (!single_threaded_tcg())
        GTEST_SKIP() << "needs single-threaded TCG (tests/host/run-storms.sh runs it)";
    if (guest::read_file("/proc/sys/debug/kprobes-optimization").rfind('1', 0) != 0)
        GTEST_SKIP() << "kprobes optimization is off";
    const std::string t = guest::tracefs();
    Reader r;
    ASSERT_GT(r.pid, 0);
    const std::string at = guest::body("vfs_read");
    char listed[32];
    std::snprintf(listed, sizeof(listed), "vfs_read+0x%x ", guest::body_offset());
    // A stock kprobe event @name at @where added and enabled, or disabled
    // and removed (gone once the write to kprobe_events has returned).
    auto event = [&](const std::string& name, const std::string& where, bool on) {
        auto s = on ? guest::sh("echo 'p:" + name + " " + where + "' >> " + t +
                                "/kprobe_events && echo 1 > " + t + "/events/kprobes/" + name +
                                "/enable")
                    : guest::sh("echo 0 > " + t + "/events/kprobes/" + name +
                                "/enable && echo '-:" + name + "' >> " + t + "/kprobe_events");
        EXPECT_EQ(s.status, 0) << s.out;
        return s.status == 0;
    };
    auto stock = [&](bool on) {
        bool ok = event("kvcome", at, on);
        return on ? wait_for(listed, "[OPTIMIZED]", true, 3000) : ok;
    };
    int optimized = 0;
    uint64_t total_reads = 0, total_hits = 0;
    {
        // 1. The view exists throughout; the stock kprobe comes and goes 3 times.
        auto v = View::create(r.pid);
        ASSERT_TRUE(v.ok()) << v.error().message();
        ASSERT_TRUE(v.value().add_kprobe("vfs_read").ok());
        uint64_t r0 = r.pause(), h0 = hits_of(v.value());
        r.run();
        for (int i = 0; i < 3; i++) {
            optimized += stock(true);
            EXPECT_TRUE(stock(false)) << "the stock kprobe did not go away";
            usleep(300 * 1000); // the optimizer's delayed unoptimize lands
        }
        uint64_t r1 = r.pause(), h1 = hits_of(v.value());
        expect_counted(h1 - h0, r1 - r0, "kview hits vs the traced process's own count of reads");
        total_reads += r1 - r0;
        total_hits += h1 - h0;
    }
    // 2. The view is made right after the stock kprobe was removed (its jump
    // is still over the address), and counts from its first read on.
    for (int i = 0; i < 3; i++) {
        optimized += stock(true);
        uint64_t r0 = r.pause();
        ASSERT_TRUE(stock(false));
        auto v = View::create(r.pid);
        ASSERT_TRUE(v.ok()) << v.error().message();
        ASSERT_TRUE(v.value().add_kprobe("vfs_read").ok());
        r.run();
        usleep(1500 * 1000);
        uint64_t r1 = r.pause(), h = hits_of(v.value());
        expect_counted(h, r1 - r0, "view made during the lazy unoptimize");
        total_reads += r1 - r0;
        total_hits += h;
        auto s = v.value().stats();
        ASSERT_TRUE(s.ok());
        EXPECT_FALSE(s.value().hooks[0].flags & KVIEW_HOOK_LOST) << "the hook stayed lost";
    }
    {
        // 3. ftrace attaches to the function (a stock kprobe at its entry is
        // ftrace-based: the fentry call, just before the hook, changes) and
        // leaves again between two comings and goings: the hook must come
        // back each time all the same.
        auto fentry = [&](bool on) { ASSERT_TRUE(event("kvfentry", "vfs_read", on)); };
        fentry(true);
        auto v = View::create(r.pid);
        ASSERT_TRUE(v.ok()) << v.error().message();
        ASSERT_TRUE(v.value().add_kprobe("vfs_read").ok());
        uint64_t r0 = r.pause(), h0 = hits_of(v.value());
        r.run();
        optimized += stock(true);
        EXPECT_TRUE(stock(false));
        usleep(300 * 1000);
        fentry(false);
        optimized += stock(true);
        EXPECT_TRUE(stock(false));
        usleep(300 * 1000);
        uint64_t r1 = r.pause(), h1 = hits_of(v.value());
        expect_counted(h1 - h0, r1 - r0, "with ftrace attaching to and leaving the function");
        total_reads += r1 - r0;
        total_hits += h1 - h0;
        auto s = v.value().stats();
        ASSERT_TRUE(s.ok());
        EXPECT_FALSE(s.value().hooks[0].flags & KVIEW_HOOK_LOST) << "the hook stayed lost";
    }
    std::printf("[ figures  ] stock kprobe at %s optimized in %d of 8 rounds; the traced process "
                "read %" PRIu64 " times, kview counted %" PRIu64 "\n",
                at.c_str(), optimized, total_reads, total_hits);
    EXPECT_GT(optimized, 0) << "premise: the stock kprobe must get optimized";
}

} // namespace
