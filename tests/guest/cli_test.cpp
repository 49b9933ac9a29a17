// The kview CLI end to end, and a cross-check with a peer tool: bpftrace's
// `/pid == P/` filter on the same workload must report the same count.
#include <cstdlib>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "guest_util.hpp"
#include "kview/device.hpp"

namespace {

std::string cli() {
    return guest::cli_path();
}

using guest::Json;
using guest::of_type;
using guest::records;

// A hook's field (default "hits") in the final report, or -1.
long long final_hits(const std::string& out, const std::string& sym, const std::string& kind,
                     const std::string& field = "hits") {
    Json h = guest::final_hook(out, sym, kind);
    return h.is_object() ? h.value(field, -1LL) : -1;
}

const char* kDd = "/usr/bin/dd if=/dev/zero of=/dev/null bs=1 count=20000 status=none";

TEST(Cli, TraceCommandCountsEveryReadAndMatchesBpftrace) {
    auto k = guest::sh(cli() + " trace -c '" + kDd + "' -k vfs_read -s read -f json");
    ASSERT_EQ(k.status, 0) << k.out;
    long long kv = final_hits(k.out, "vfs_read", "kprobe");
    long long sys = final_hits(k.out, "read", "syscall-enter");
    ASSERT_GE(kv, 20000) << k.out;
    EXPECT_LE(kv, 20000 + 32) << "20000 reads plus dd's startup reads";
    EXPECT_GE(sys, 20000);
    EXPECT_EQ(final_hits(k.out, "vfs_read", "kprobe", "foreign"), 0);

    auto b = guest::sh("timeout 300 bpftrace -e 'kprobe:vfs_read /pid == cpid/ { @n = count(); }' "
                       "-c '" +
                       std::string(kDd) + "'");
    ASSERT_EQ(b.status, 0) << b.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(b.out, m, std::regex("@n: ([0-9]+)"))) << b.out;
    long long bt = std::stoll(m[1]);
    EXPECT_EQ(kv, bt) << "kview and bpftrace disagree on the same workload";
    std::printf("[ figures  ] %s: kview %lld vfs_read hits, bpftrace /pid == cpid/ %lld\n", kDd, kv,
                bt);
}

// `sh -c 'a; b'`: dash vforks every command but the last; each must be
// traced (the view follows the vfork child across its exec).
TEST(Cli, TraceCommandFollowsEveryCommandOfAScript) {
    const std::string dd = "/usr/bin/dd if=/dev/zero of=/dev/null bs=1 count=3000 status=none";
    const std::string script = dd + "; " + dd + "; " + dd;
    auto k = guest::sh(cli() + " trace -c '" + script + "' -k vfs_read -f json");
    ASSERT_EQ(k.status, 0) << k.out;
    long long kv = final_hits(k.out, "vfs_read", "kprobe");
    EXPECT_GE(kv, 3 * 3000) << k.out;
    EXPECT_LE(kv, 3 * (3000 + 32)) << k.out;
    EXPECT_EQ(final_hits(k.out, "vfs_read", "kprobe", "foreign"), 0) << k.out;
}

TEST(Cli, TraceBadInputOneLineErrors) {
    struct Case {
        std::string args, expect;
        int status;
    };
    const Case cases[] = {
        {"trace -p 999999 -k vfs_read -d 1s", "No such process", 1},
        {"trace -p 1 -k no_such_function_kview -d 1s", "No such file or directory", 1},
        {"trace -p 1 -k vfs_read+1 -d 1s", "Invalid argument", 1},
        {"trace -p 1 -k notify_die -d 1s", "Cannot assign requested address", 1}, // NOKPROBE
        {"attach -p 1 --obj /etc/hostname -d 1s", "not a valid BPF object", 1},
        {"attach -p 1 --obj /nonexistent.bpf.o -d 1s", "No such file or directory", 1},
        {"trace -p 1 -k 'vfs read' -d 1s", "invalid character", 2},
        {"trace -k vfs_read", "needs one of -p PID or -c", 2},
        {"trace -p 1 -d 1s", "at least one hook", 2},
        {"frobnicate", "unknown command", 2},
    };
    for (const auto& c : cases) {
        auto r = guest::sh(cli() + " " + c.args);
        EXPECT_EQ(r.status, c.status) << c.args << "\n" << r.out;
        EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.args << "\n" << r.out;
        EXPECT_TRUE(std::regex_search(r.out, std::regex("^kview( [a-z]+)?: ")))
            << "errors start with 'kview: ' or 'kview CMD: '\n"
            << r.out;
    }
    // Nothing was left attached by the failures.
    auto st = guest::sh(cli() + " stat");
    EXPECT_NE(st.out.find("live views 0"), std::string::npos) << st.out;
    EXPECT_NE(st.out.find("pages 0"), std::string::npos) << st.out;
}

TEST(Cli, NonRootIsRefused) {
    // nobody has no CAP_SYS_ADMIN: /dev/kview is 0600 root, so open fails.
    auto r = guest::sh("setpriv --reuid=65534 --regid=65534 --clear-groups " + cli() +
                       " trace -p 1 -k vfs_read -d 1s");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("Permission denied"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("needs root"), std::string::npos) << r.out;
}

} // namespace

namespace {

// s quoted for sh: '...' with each ' written as '\''.
std::string shq(const std::string& s) {
    std::string q = "'";
    for (char c : s)
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

const char* kDd2k = "dd if=/dev/zero of=/dev/null bs=1 count=2000 status=none";

TEST(Cli, HistOfReadSize) {
    auto r = guest::sh(cli() + " trace -c '" + kDd2k + "' -k vfs_read -a hist=arg3 -f json");
    ASSERT_EQ(r.status, 0) << r.out;
    // dd bs=1 asks for 1 byte 2000 times: the [1, 1] bucket holds exactly those.
    auto hists = of_type(records(r.out), "hist");
    ASSERT_EQ(hists.size(), 1u) << r.out;
    EXPECT_EQ(hists[0]["unit"], "arg3");
    bool ones = false;
    for (const auto& b : hists[0]["buckets"])
        ones |= b["low"] == 1 && b["high"] == 1 && b["count"] == 2000;
    EXPECT_TRUE(ones) << r.out;
    auto t = guest::sh(cli() + " trace -c '" + kDd2k + "' -k vfs_read -a hist=arg3");
    ASSERT_EQ(t.status, 0) << t.out;
    EXPECT_NE(t.out.find("@vfs_read arg3:"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("count     distribution"), std::string::npos) << t.out;
}

TEST(Cli, LatencyCountsEveryCall) {
    auto r = guest::sh(cli() + " trace -c '" + kDd2k + "' -k vfs_read -a latency -f json");
    ASSERT_EQ(r.status, 0) << r.out;
    long long hits = final_hits(r.out, "vfs_read", "kprobe");
    ASSERT_GE(hits, 2000) << r.out;
    long long sum = 0;
    auto hists = of_type(records(r.out), "hist");
    ASSERT_EQ(hists.size(), 1u) << r.out;
    for (const auto& b : hists[0]["buckets"])
        sum += b["count"].get<long long>();
    EXPECT_EQ(sum, hits) << "every entry must have its return timed\n" << r.out;
    EXPECT_EQ(hists[0]["unit"], "nsecs");
}

TEST(Cli, PrintOneEventPerHit) {
    auto r = guest::sh(cli() + " trace -c 'dd if=/dev/zero of=/dev/null bs=1 count=50 status=none'"
                               " -k vfs_read -s read -a print -f json");
    ASSERT_EQ(r.status, 0) << r.out;
    long long hits = final_hits(r.out, "vfs_read", "kprobe");
    ASSERT_GE(hits, 50) << r.out;
    auto events = of_type(records(r.out), "event");
    auto count = [&](const std::string& hook, const std::string& dir) {
        long long n = 0;
        for (const auto& e : events)
            n += e["hook"] == hook && e["dir"] == dir;
        return n;
    };
    EXPECT_EQ(count("vfs_read", "entry"), hits) << r.out;
    long long sys = final_hits(r.out, "read", "syscall-enter");
    EXPECT_EQ(count("syscall:read", "entry"), sys);
    EXPECT_EQ(count("syscall:read", "return"), sys);
    long long fd0 = 0, dd = 0;
    for (const auto& e : events) {
        dd += e["comm"] == "dd";
        // read(0, buf, 1) from dd: the syscall's first argument is fd 0.
        fd0 += e["hook"] == "syscall:read" && e["dir"] == "entry" && e["arg1"] == "0x0";
    }
    EXPECT_GT(dd, 0);
    EXPECT_GE(fd0, 50);
}

// A process whose name needs escaping in JSON; its events still parse
// (records() fails the test on any line that does not).
TEST(Cli, JsonEscapesProcessNames) {
    const std::string odd = "/tmp/x\"y\\z";
    ASSERT_EQ(guest::sh("cp /usr/bin/dd '" + odd + "'").status, 0);
    const std::string cmd = "'" + odd + "' if=/dev/zero of=/dev/null bs=1 count=5 status=none";
    auto r = guest::sh(cli() + " trace -c " + shq(cmd) + " -k vfs_read -a print -f json");
    ASSERT_EQ(r.status, 0) << r.out;
    long long named = 0;
    for (const auto& e : of_type(records(r.out), "event"))
        named += e["comm"] == "x\"y\\z";
    EXPECT_GE(named, 5) << r.out;
    unlink(odd.c_str());
}

// -i: each interval report holds that interval's counts, not the totals;
// so do the interval histograms (bcc/bpftrace style), the last one is totals.
TEST(Cli, IntervalReportsAreDeltas) {
    auto r =
        guest::sh(cli() + " trace -c 'dd if=/dev/zero of=/dev/null bs=1 count=100000 status=none'"
                          " -k vfs_read -a hist=arg3 -i 100ms -f json");
    ASSERT_EQ(r.status, 0) << r.out;
    auto rs = records(r.out);
    auto intervals = of_type(rs, "interval");
    ASSERT_GE(intervals.size(), 2u) << r.out;
    long long sum = 0;
    for (const auto& i : intervals) {
        EXPECT_GT(i.value("interval_s", 0.0), 0.0);
        sum += i["hooks"][0]["hits"].get<long long>();
    }
    long long total = final_hits(r.out, "vfs_read", "kprobe");
    EXPECT_GE(total, 100000);
    EXPECT_LE(sum, total) << "interval counts add up to at most the total";
    // dd's 1-byte reads: the [1, 1] bucket, per interval and in total.
    auto ones = [](const Json& h) {
        long long n = 0;
        for (const auto& b : h["buckets"])
            if (b["low"] == 1 && b["high"] == 1)
                n += b["count"].get<long long>();
        return n;
    };
    long long hist_sum = 0, hist_total = -1, n_interval = 0;
    for (const auto& h : of_type(rs, "hist")) {
        if (h["scope"] == "interval") {
            hist_sum += ones(h);
            n_interval++;
        } else {
            hist_total = ones(h);
        }
    }
    EXPECT_EQ(n_interval, static_cast<long long>(intervals.size()));
    EXPECT_EQ(hist_total, 100000) << r.out;
    EXPECT_LE(hist_sum, hist_total);
    EXPECT_GT(hist_sum, 0);
}

// list/stat/version speak JSON too; --dry-run checks what the module checks.
TEST(Cli, ListStatVersionJsonAndDryRunChecks) {
    guest::Child p;
    auto bg = guest::sh(cli() + " trace -p " + std::to_string(p.pid()) +
                        " -k vfs_read -d 3s >/dev/null 2>&1 & echo $!");
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) {
        usleep(30000);
        for (const auto& v : of_type(records(guest::sh(cli() + " list -f json").out), "view"))
            seen |= v["pid"] == p.pid() && v["state"] == "live";
    }
    EXPECT_TRUE(seen) << "list -f json never showed the view";
    auto st = records(guest::sh(cli() + " stat -f json").out);
    ASSERT_EQ(st.size(), 1u);
    EXPECT_EQ(st[0]["type"], "module_stats");
    auto ver = records(guest::sh(cli() + " version -f json").out);
    ASSERT_EQ(ver.size(), 1u);
    EXPECT_TRUE(ver[0]["module"].is_string()) << ver[0].dump();
    guest::sh("wait " + bg.out);

    // A symbol in a module (9p's client, loaded in every guest): hooked in
    // the module's text since ABI 1.4; --dry-run names the module.
    auto mod = guest::sh(cli() + " trace -p 1 --dry-run -k p9_client_read");
    EXPECT_EQ(mod.status, 0) << mod.out;
    EXPECT_NE(mod.out.find("would hook p9_client_read [9pnet] in pid 1"), std::string::npos)
        << mod.out;
    auto real = guest::sh(cli() + " trace -p 1 -k p9_client_read -d 1s");
    EXPECT_EQ(real.status, 0) << real.out;
    auto init = guest::sh(cli() + " trace -p 1 -k nosuch_module_function -d 1s");
    EXPECT_EQ(init.status, 1) << init.out;
    auto tp = guest::sh(cli() + " trace -p 1 --dry-run -t nosuchcat:nosuch");
    EXPECT_EQ(tp.status, 1) << tp.out;
    EXPECT_NE(tp.out.find("tracepoint nosuchcat:nosuch"), std::string::npos) << tp.out;
    auto ok = guest::sh(cli() + " trace -p 1 --dry-run -t syscalls:sys_enter_read");
    EXPECT_EQ(ok.status, 0) << ok.out;
    EXPECT_NE(ok.out.find("would attach tracepoint syscalls:sys_enter_read"), std::string::npos)
        << ok.out;
}

} // namespace

namespace {

TEST(Cli, TracepointIsFilteredAndLabelled) {
    auto r =
        guest::sh(cli() + " trace -c 'dd if=/dev/zero of=/dev/null bs=1 count=2000 status=none'"
                          " -s read -t syscalls:sys_enter_read -f json");
    ASSERT_EQ(r.status, 0) << r.out;
    long long sys = final_hits(r.out, "read", "syscall-enter");
    ASSERT_GE(sys, 2000) << r.out;
    auto tps = of_type(records(r.out), "tracepoint");
    ASSERT_FALSE(tps.empty()) << r.out;
    const auto& last = tps.back();
    EXPECT_EQ(last["tracepoint"], "syscalls:sys_enter_read");
    EXPECT_EQ(last["private"], false);
    EXPECT_EQ(last["hits"].get<long long>(), sys)
        << "the filtered tracepoint must see every read of the target";
    auto t = guest::sh(cli() + " trace -c 'dd if=/dev/zero of=/dev/null bs=1 count=10 status=none'"
                               " -t syscalls:sys_enter_read");
    EXPECT_NE(t.out.find("FILTERED, NOT PRIVATE"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("[filtered, not private"), std::string::npos) << t.out;
}

} // namespace

namespace {

// Ctrl-C (SIGINT) detaches: the target keeps running and sees the original
// text again; the module holds nothing.
TEST(Cli, CtrlCDetachesAndRestoresSharedText) {
    guest::Child p;
    auto r = guest::sh(cli() + " trace -p " + std::to_string(p.pid()) +
                       " -k vfs_read -f json > /tmp/kv-ctrlc.json 2>&1 & echo $!");
    pid_t kv = static_cast<pid_t>(std::stol(r.out));
    auto dev = kview::Device::open();
    ASSERT_TRUE(dev.ok());
    for (int i = 0; i < 300 && dev.value().global_stats().value().pages == 0; i++)
        usleep(10000);
    ASSERT_GT(dev.value().global_stats().value().pages, 0u) << "kview never attached";
    usleep(200000);
    p.reads(100);
    ASSERT_EQ(kill(kv, SIGINT), 0);
    for (int i = 0; i < 300 && kill(kv, 0) == 0; i++)
        usleep(10000);
    EXPECT_NE(kill(kv, 0), 0) << "kview did not exit on SIGINT";
    std::string out = guest::read_file("/tmp/kv-ctrlc.json");
    EXPECT_EQ(final_hits(out, "vfs_read", "kprobe"), 100) << out;
    auto g = dev.value().global_stats().value();
    EXPECT_EQ(g.live_views, 0u);
    EXPECT_EQ(g.pages, 0u);
    // The target is alive and runs the shared text again.
    p.reads(1);
    auto hook = out.find("\"addr\":\"0x");
    ASSERT_NE(hook, std::string::npos);
    uint64_t addr = std::stoull(out.substr(hook + 8), nullptr, 16);
    auto mine = dev.value().read_text(addr & ~4095ULL, 4096);
    ASSERT_TRUE(mine.ok());
    EXPECT_EQ(p.read_text(addr), mine.value());
}

} // namespace
