// kview's own memcached load generator (memcached text protocol, get/set).
// Worker processes share their counters and latency histogram through a
// Boost.Interprocess anonymous shared-memory segment.
//
//   closed loop (rate == 0): every connection keeps one request in flight
//   open loop  (rate > 0):   requests are due at fixed intervals; latency is
//                            measured from when a request was due, so a
//                            stalled server is not hidden (no coordinated
//                            omission)
#pragma once

#include <cstdint>
#include <string>

#include "kview/result.hpp"

namespace kview::bench {

struct LoadParams {
    std::string host = "127.0.0.1";
    uint16_t port = 11211;
    int workers = 2;          // processes
    int conns = 8;            // connections per worker
    double warmup_s = 0.5;    // not measured
    double seconds = 3;       // measured
    double rate = 0;          // requests/s in total; 0 = closed loop
    uint32_t keys = 1000;     // key space, preloaded
    uint32_t value_size = 64; // bytes
    double set_ratio = 0.1;
};

struct LoadResult {
    double ops_per_s = 0;
    uint64_t ops = 0;
    uint64_t errors = 0;
    double p50_us = 0;
    double p99_us = 0;
    double p999_us = 0;
};

// Log-linear latency histogram: 16 linear sub-buckets per power of two of
// nanoseconds (relative error < 6.25%). Plain counts; memload keeps one in
// shared memory with atomic increments.
struct Histogram {
    static constexpr int kSub = 16;
    static constexpr int kBuckets = 64 * kSub;
    [[nodiscard]] static int bucket(uint64_t ns);
    [[nodiscard]] static double bucket_mid(int b); // ns
    // q in [0,1] over counts[kBuckets]; ns.
    [[nodiscard]] static double quantile(const uint64_t* counts, double q);
};

[[nodiscard]] Result<LoadResult> run_memload(const LoadParams& p);

} // namespace kview::bench
