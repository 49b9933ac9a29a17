#include "icount_stats.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace kview::bench {

namespace {

double best_value(const std::vector<double>& v, Better b) {
    return b == Better::Lower ? *std::min_element(v.begin(), v.end())
                              : *std::max_element(v.begin(), v.end());
}

} // namespace

Best best_of(const std::vector<double>& v, Better b) {
    if (v.empty())
        return {NAN, NAN, NAN, 0};
    Best r;
    r.n = v.size();
    r.best = best_value(v, b);
    double worst = b == Better::Lower ? *std::max_element(v.begin(), v.end())
                                      : *std::min_element(v.begin(), v.end());
    r.median = median(v);
    r.spread = r.best != 0 ? std::fabs(worst - r.best) / std::fabs(r.best) : NAN;
    return r;
}

BestRatio best_ratio(const std::vector<double>& cfg, const std::vector<double>& base, Better b,
                     double level, int resamples, uint64_t seed) {
    BestRatio r;
    r.cfg = best_of(cfg, b);
    r.base = best_of(base, b);
    if (cfg.empty() || base.empty() || r.base.best == 0) {
        r.ratio = NAN;
        r.ci = {NAN, NAN};
        return r;
    }
    r.ratio = r.cfg.best / r.base.best;
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<size_t> pc(0, cfg.size() - 1), pb(0, base.size() - 1);
    std::vector<double> rs;
    rs.reserve(static_cast<size_t>(resamples));
    std::vector<double> sc(cfg.size()), sb(base.size());
    for (int i = 0; i < resamples; i++) {
        for (auto& x : sc)
            x = cfg[pc(rng)];
        for (auto& x : sb)
            x = base[pb(rng)];
        rs.push_back(best_value(sc, b) / best_value(sb, b));
    }
    std::sort(rs.begin(), rs.end());
    double alpha = (1 - level) / 2;
    auto at = [&](double q) {
        auto k = static_cast<size_t>(std::floor(q * static_cast<double>(rs.size() - 1) + 0.5));
        return rs[std::min(k, rs.size() - 1)];
    };
    r.ci = {at(alpha), at(1 - alpha)};
    return r;
}

bool within(const BestRatio& r, double tol) {
    return !std::isnan(r.ratio) && std::fabs(r.ratio - 1) <= tol && r.ci.lo >= 1 - tol - 1e-12 &&
           r.ci.hi <= 1 + tol + 1e-12;
}

} // namespace kview::bench
