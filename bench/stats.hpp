// Statistics for the benchmark report: medians, bootstrap confidence
// intervals and Welch's t-test. Pure functions, unit-tested on the host.
#pragma once

#include <cstdint>
#include <vector>

#include <string>

namespace kview::bench {

[[nodiscard]] double median(std::vector<double> v);
[[nodiscard]] double mean(const std::vector<double>& v);

struct Interval {
    double lo = 0;
    double hi = 0;
    [[nodiscard]] bool contains(double x) const { return lo <= x && x <= hi; }
};

// Percentile bootstrap CI (level, e.g. 0.95) of the median of v, with
// `resamples` seeded resamples. v must not be empty.
[[nodiscard]] Interval bootstrap_median_ci(const std::vector<double>& v, double level = 0.95,
                                           int resamples = 10000, uint64_t seed = 1);

struct Welch {
    double t = 0;
    double df = 0;
    double p = 1; // two-sided
};
// Welch's unequal-variance t-test of mean(a) vs mean(b); needs >= 2 samples each.
[[nodiscard]] Welch welch_t_test(const std::vector<double>& a, const std::vector<double>& b);

// Regularized incomplete beta I_x(a, b) (for the t distribution's CDF).
[[nodiscard]] double incomplete_beta(double a, double b, double x);

// printf-style formatting of one number; "n/a" for NaN (a ratio with no data).
[[nodiscard]] std::string fmt(const char* f, double x);

} // namespace kview::bench
