// Host unit tests for the benchmark's statistics and latency histogram.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <string>
#include <vector>

#include "icount_stats.hpp"
#include "memload.hpp"
#include "stats.hpp"

namespace kb = kview::bench;

TEST(Stats, Median) {
    EXPECT_DOUBLE_EQ(kb::median({3, 1, 2}), 2);
    EXPECT_DOUBLE_EQ(kb::median({4, 1, 3, 2}), 2.5);
    EXPECT_TRUE(std::isnan(kb::median({})));
}

TEST(Stats, IncompleteBetaClosedForms) {
    // I_x(a, 1) = x^a and I_x(1, b) = 1 - (1 - x)^b.
    for (double x : {0.1, 0.37, 0.5, 0.9}) {
        EXPECT_NEAR(kb::incomplete_beta(3, 1, x), std::pow(x, 3), 1e-12);
        EXPECT_NEAR(kb::incomplete_beta(1, 4, x), 1 - std::pow(1 - x, 4), 1e-12);
    }
    EXPECT_NEAR(kb::incomplete_beta(2.5, 2.5, 0.5), 0.5, 1e-12); // symmetry
}

TEST(Stats, WelchMatchesTextbookExample) {
    // Welch's test, first example of its Wikipedia article: t = -2.46,
    // df = 25.0, p = 0.021 (checked independently: t pdf integrated numerically).
    std::vector<double> a = {27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1,
                             21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4};
    std::vector<double> b = {27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0,
                             24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4};
    auto w = kb::welch_t_test(a, b);
    EXPECT_NEAR(w.t, -2.46, 0.01);
    EXPECT_NEAR(w.df, 24.99, 0.01);
    EXPECT_NEAR(w.p, 0.02138, 0.0001);
    // Identical samples: no difference.
    EXPECT_NEAR(kb::welch_t_test(a, a).p, 1.0, 1e-9);
}

TEST(Stats, BootstrapCiBracketsTheMedianAndIsSeeded) {
    std::vector<double> v = {0.98, 1.01, 0.99, 1.02, 1.00, 0.97, 1.03};
    auto ci = kb::bootstrap_median_ci(v, 0.95, 2000, 7);
    EXPECT_LE(ci.lo, kb::median(v));
    EXPECT_GE(ci.hi, kb::median(v));
    EXPECT_GE(ci.lo, 0.97);
    EXPECT_LE(ci.hi, 1.03);
    auto again = kb::bootstrap_median_ci(v, 0.95, 2000, 7);
    EXPECT_EQ(ci.lo, again.lo);
    EXPECT_EQ(ci.hi, again.hi);
    auto flat = kb::bootstrap_median_ci({2, 2, 2});
    EXPECT_EQ(flat.lo, 2);
    EXPECT_EQ(flat.hi, 2);
}

TEST(Histogram, BucketsAreMonotonicAndTight) {
    int last = -1;
    for (uint64_t ns = 0; ns < 100000000; ns = ns * 11 / 10 + 1) {
        int b = kb::Histogram::bucket(ns);
        EXPECT_GE(b, last);
        last = b;
        if (ns >= 16) { // relative error of the bucket's midpoint < 1/16
            EXPECT_NEAR(kb::Histogram::bucket_mid(b), static_cast<double>(ns), ns / 16.0) << ns;
        }
    }
    std::vector<uint64_t> counts(kb::Histogram::kBuckets);
    for (uint64_t ns = 1000; ns <= 100000; ns += 1000) // 100 values, 1..100 us
        counts[static_cast<size_t>(kb::Histogram::bucket(ns))]++;
    EXPECT_NEAR(kb::Histogram::quantile(counts.data(), 0.5), 50000, 50000 / 16.0);
    EXPECT_NEAR(kb::Histogram::quantile(counts.data(), 0.99), 99000, 99000 / 16.0);
}

// memload against a real memcached on the host (installed by install-deps.sh).
TEST(Memload, ClosedAndOpenLoopAgainstMemcached) {
    uint16_t port = static_cast<uint16_t>(20000 + ::getpid() % 20000);
    pid_t mc = ::fork();
    ASSERT_GE(mc, 0);
    if (mc == 0) {
        std::string p = std::to_string(port);
        ::execlp("memcached", "memcached", "-u", "root", "-l", "127.0.0.1", "-p", p.c_str(), "-U",
                 "0", "-t", "1", nullptr);
        ::_exit(127);
    }
    kb::LoadParams lp;
    lp.port = port;
    lp.workers = 2;
    lp.conns = 2;
    lp.warmup_s = 0.2;
    lp.seconds = 1;
    lp.keys = 100;
    kview::Result<kb::LoadResult> r = kview::Error{ECONNREFUSED, "not run", {}};
    for (int i = 0; i < 50 && !r; i++) { // until memcached listens
        ::usleep(100000);
        r = kb::run_memload(lp);
    }
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_GT(r.value().ops, 100u);
    EXPECT_EQ(r.value().errors, 0u);
    EXPECT_GT(r.value().p50_us, 0);
    EXPECT_LE(r.value().p50_us, r.value().p99_us);
    EXPECT_LE(r.value().p99_us, r.value().p999_us);

    lp.rate = 400; // open loop: the achieved rate is the offered rate
    auto o = kb::run_memload(lp);
    ASSERT_TRUE(o.ok()) << o.error().message();
    EXPECT_NEAR(o.value().ops_per_s, 400, 40);

    lp.port = 1; // nobody listens: a clear error, not a hang
    auto bad = kb::run_memload(lp);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message().find("connect to memcached"), std::string::npos);

    ::kill(mc, SIGTERM);
    ::waitpid(mc, nullptr, 0);
}

// ---- instruction-time statistics (icount_stats.cpp) ----

TEST(IcountStats, BestOfLowerAndHigher) {
    auto lo = kb::best_of({1010, 1000, 1020, 1000}, kb::Better::Lower);
    EXPECT_DOUBLE_EQ(lo.best, 1000);
    EXPECT_DOUBLE_EQ(lo.spread, 0.02);
    EXPECT_DOUBLE_EQ(lo.median, 1005);
    EXPECT_EQ(lo.n, 4u);
    auto hi = kb::best_of({90, 100, 95}, kb::Better::Higher);
    EXPECT_DOUBLE_EQ(hi.best, 100);
    EXPECT_DOUBLE_EQ(hi.spread, 0.1);
    EXPECT_EQ(kb::best_of({}, kb::Better::Lower).n, 0u);
}

TEST(IcountStats, BestRatioAndItsCi) {
    // Identical best values (the deterministic case): ratio exactly 1; the
    // CI reflects how often resampling misses the best sample.
    std::vector<double> none = {1000, 1003, 1000, 1001, 1000};
    std::vector<double> kv = {1000, 1000, 1002, 1000, 1004};
    auto q = kb::best_ratio(kv, none, kb::Better::Lower);
    EXPECT_DOUBLE_EQ(q.ratio, 1.0);
    EXPECT_LE(q.ci.lo, 1.0);
    EXPECT_GE(q.ci.hi, 1.0);
    EXPECT_LT(q.ci.hi, 1.004);
    EXPECT_TRUE(kb::within(q, 0.001));
    // 0.5% more instructions every time: outside a 0.1% tolerance.
    std::vector<double> slow;
    for (double x : none)
        slow.push_back(x * 1.005);
    auto s = kb::best_ratio(slow, none, kb::Better::Lower);
    EXPECT_NEAR(s.ratio, 1.005, 1e-12);
    EXPECT_FALSE(kb::within(s, 0.001));
    EXPECT_GT(s.ci.lo, 1.0);
    // Throughput: higher is better, a loss is a ratio below 1 with the CI below 1.
    auto t = kb::best_ratio({80, 79, 81}, {100, 99, 100}, kb::Better::Higher);
    EXPECT_DOUBLE_EQ(t.ratio, 0.81);
    EXPECT_LT(t.ci.hi, 1.0);
    // Same seed, same CI.
    auto t2 = kb::best_ratio({80, 79, 81}, {100, 99, 100}, kb::Better::Higher);
    EXPECT_DOUBLE_EQ(t.ci.lo, t2.ci.lo);
    EXPECT_TRUE(std::isnan(kb::best_ratio({}, none, kb::Better::Lower).ratio));
}

TEST(IcountStats, WithinNeedsTheWholeCi) {
    kb::BestRatio r;
    r.ratio = 1.0;
    r.ci = {0.9985, 1.0005}; // ratio fine, CI reaches beyond -0.1%
    EXPECT_FALSE(kb::within(r, 0.001));
    r.ci = {0.9995, 1.0009};
    EXPECT_TRUE(kb::within(r, 0.001));
}
