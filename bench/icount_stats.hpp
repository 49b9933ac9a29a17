// Statistics for a near-deterministic clock (QEMU -icount shift=0: guest
// time = executed instructions). Interference (a timer interrupt, a
// wake-up, deferred kernel work) only ever adds instructions to a sample,
// so a configuration's value is its best sample (the minimum time, or the
// maximum throughput) over N interleaved repetitions, with the spread of
// the samples beside it. Pure functions, unit-tested on the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "stats.hpp"

namespace kview::bench {

// Lower is better (times, instructions per op) or higher (throughput).
enum class Better { Lower, Higher };

struct Best {
    double best = 0;   // min (Lower) or max (Higher)
    double median = 0; // of all samples
    double spread = 0; // (worst - best) / best, >= 0
    size_t n = 0;
};
// v must not be empty (otherwise n == 0 and the fields are NaN).
[[nodiscard]] Best best_of(const std::vector<double>& v, Better b);

struct BestRatio {
    double ratio = 0; // best(cfg) / best(base)
    Interval ci;      // percentile bootstrap of that ratio (reps resampled per config)
    Best cfg, base;
};
// best(cfg) / best(base) with a `level` percentile-bootstrap CI: each
// resample draws cfg's and base's samples independently with replacement.
// Both vectors must be non-empty (otherwise ratio is NaN).
[[nodiscard]] BestRatio best_ratio(const std::vector<double>& cfg, const std::vector<double>& base,
                                   Better b, double level = 0.95, int resamples = 10000,
                                   uint64_t seed = 1);

// |ratio - 1| <= tol and the CI inside [1 - tol, 1 + tol].
[[nodiscard]] bool within(const BestRatio& r, double tol);

} // namespace kview::bench
