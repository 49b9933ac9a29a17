// The kview CLI end to end, and a cross-check with a peer tool: bpftrace's
// `/pid == P/` filter on the same workload must report the same count.
#include <cstdlib>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include "guest_util.hpp"
#include "kview/device.hpp"

namespace {

std::string cli() {
    const char* c = std::getenv("KVIEW_CLI");
    return c ? c : "build/cli/kview";
}

// The "hits" of the final report's hook `sym` of `kind`, or -1.
long long final_hits(const std::string& json, const std::string& sym, const std::string& kind) {
    std::string want = "\"symbol\":\"" + sym + "\",\"kind\":\"" + kind + "\"";
    auto at = json.rfind(want);
    if (at == std::string::npos)
        return -1;
    std::smatch m;
    std::string rest = json.substr(at);
    if (!std::regex_search(rest, m, std::regex("\"hits\":([0-9]+)")))
        return -1;
    return std::stoll(m[1]);
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
    EXPECT_NE(k.out.find("\"foreign\":0,"), std::string::npos);

    auto b = guest::sh("timeout 300 bpftrace -e 'kprobe:vfs_read /pid == cpid/ { @n = count(); }' "
                       "-c '" + std::string(kDd) + "'");
    ASSERT_EQ(b.status, 0) << b.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(b.out, m, std::regex("@n: ([0-9]+)"))) << b.out;
    long long bt = std::stoll(m[1]);
    EXPECT_EQ(kv, bt) << "kview and bpftrace disagree on the same workload";
    std::printf("[ figures  ] %s: kview %lld vfs_read hits, bpftrace /pid == cpid/ %lld\n", kDd,
                kv, bt);
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
    EXPECT_NE(k.out.find("\"foreign\":0,"), std::string::npos) << k.out;
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
        EXPECT_EQ(r.out.rfind("kview: ", 0), 0u) << "errors start with 'kview: '\n" << r.out;
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

long long count_of(const std::string& s, const std::string& needle) {
    long long n = 0;
    for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1))
        n++;
    return n;
}

const char* kDd2k = "dd if=/dev/zero of=/dev/null bs=1 count=2000 status=none";

TEST(Cli, HistOfReadSize) {
    auto r = guest::sh(cli() + " trace -c '" + kDd2k + "' -k vfs_read -a hist=arg3 -f json");
    ASSERT_EQ(r.status, 0) << r.out;
    // dd bs=1 asks for 1 byte 2000 times: the [1, 1] bucket holds exactly those.
    EXPECT_NE(r.out.find("{\"low\":1,\"high\":1,\"count\":2000}"), std::string::npos) << r.out;
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
    auto hist_at = r.out.find("\"hist\"");
    ASSERT_NE(hist_at, std::string::npos) << r.out;
    std::string rest = r.out.substr(hist_at, r.out.find('\n', hist_at) - hist_at);
    const std::regex count_re("\"count\":([0-9]+)");
    for (auto it = std::sregex_iterator(rest.begin(), rest.end(), count_re);
         it != std::sregex_iterator(); ++it)
        sum += std::stoll((*it)[1]);
    EXPECT_EQ(sum, hits) << "every entry must have its return timed\n" << r.out;
    EXPECT_NE(r.out.find("\"unit\":\"nsecs\""), std::string::npos);
}

TEST(Cli, PrintOneEventPerHit) {
    auto r = guest::sh(cli() + " trace -c 'dd if=/dev/zero of=/dev/null bs=1 count=50 status=none'"
                               " -k vfs_read -s read -a print -f json");
    ASSERT_EQ(r.status, 0) << r.out;
    long long hits = final_hits(r.out, "vfs_read", "kprobe");
    ASSERT_GE(hits, 50);
    EXPECT_EQ(count_of(r.out, "\"hook\":\"vfs_read\",\"type\":\"entry\""), hits) << r.out;
    long long sys = final_hits(r.out, "read", "syscall-enter");
    EXPECT_EQ(count_of(r.out, "\"hook\":\"syscall:read\",\"type\":\"entry\""), sys);
    EXPECT_EQ(count_of(r.out, "\"hook\":\"syscall:read\",\"type\":\"return\""), sys);
    EXPECT_NE(r.out.find("\"comm\":\"dd\""), std::string::npos);
    // read(0, buf, 1) from dd: the syscall's first argument is fd 0.
    EXPECT_GE(count_of(r.out, "\"hook\":\"syscall:read\",\"type\":\"entry\",\"arg1\":0}"), 50);
}

} // namespace

namespace {

TEST(Cli, TracepointIsFilteredAndLabelled) {
    auto r = guest::sh(cli() + " trace -c 'dd if=/dev/zero of=/dev/null bs=1 count=2000 status=none'"
                               " -s read -t syscalls:sys_enter_read -f json");
    ASSERT_EQ(r.status, 0) << r.out;
    long long sys = final_hits(r.out, "read", "syscall-enter");
    ASSERT_GE(sys, 2000) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        r.out, m, std::regex("\\{\"tracepoint\":\"syscalls:sys_enter_read\",\"hits\":([0-9]+),"
                             "\"other_process_entries\":[0-9]+,\"private\":false\\}")))
        << r.out;
    EXPECT_EQ(std::stoll(m[1]), sys) << "the filtered tracepoint must see every read of the target";
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
