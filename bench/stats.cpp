#include "stats.hpp"

#include <cmath>
#include <cstdio>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace kview::bench {

double median(std::vector<double> v) {
    if (v.empty())
        return NAN;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double mean(const std::vector<double>& v) {
    if (v.empty())
        return NAN;
    return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

Interval bootstrap_median_ci(const std::vector<double>& v, double level, int resamples,
                             uint64_t seed) {
    if (v.empty())
        return {NAN, NAN};
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<size_t> pick(0, v.size() - 1);
    std::vector<double> meds;
    meds.reserve(static_cast<size_t>(resamples));
    std::vector<double> s(v.size());
    for (int r = 0; r < resamples; r++) {
        for (auto& x : s)
            x = v[pick(rng)];
        meds.push_back(median(s));
    }
    std::sort(meds.begin(), meds.end());
    double alpha = (1 - level) / 2;
    auto at = [&](double q) {
        auto i = static_cast<size_t>(std::floor(q * static_cast<double>(meds.size() - 1) + 0.5));
        return meds[std::min(i, meds.size() - 1)];
    };
    return {at(alpha), at(1 - alpha)};
}

namespace {

// Continued fraction for the incomplete beta (Lentz's method).
double beta_cf(double a, double b, double x) {
    constexpr double kTiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    d = 1 / (std::fabs(d) < kTiny ? kTiny : d);
    double h = d;
    for (int m = 1; m <= 300; m++) {
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        d = 1 / (std::fabs(d) < kTiny ? kTiny : d);
        c = 1 + aa / c;
        c = std::fabs(c) < kTiny ? kTiny : c;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        d = 1 / (std::fabs(d) < kTiny ? kTiny : d);
        c = 1 + aa / c;
        c = std::fabs(c) < kTiny ? kTiny : c;
        double del = d * c;
        h *= del;
        if (std::fabs(del - 1) < 1e-14)
            break;
    }
    return h;
}

} // namespace

double incomplete_beta(double a, double b, double x) {
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lbeta = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b);
    double front = std::exp(lbeta + a * std::log(x) + b * std::log1p(-x));
    if (x < (a + 1) / (a + b + 2))
        return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, 1 - x) / b;
}

Welch welch_t_test(const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() < 2 || b.size() < 2)
        return {NAN, NAN, NAN};
    auto var = [](const std::vector<double>& v, double m) {
        double s = 0;
        for (double x : v)
            s += (x - m) * (x - m);
        return s / static_cast<double>(v.size() - 1);
    };
    double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
    double ma = mean(a), mb = mean(b);
    double va = var(a, ma) / na, vb = var(b, mb) / nb;
    if (va + vb == 0)
        return {ma == mb ? 0.0 : INFINITY, na + nb - 2, ma == mb ? 1.0 : 0.0};
    Welch w;
    w.t = (ma - mb) / std::sqrt(va + vb);
    w.df = (va + vb) * (va + vb) / (va * va / (na - 1) + vb * vb / (nb - 1));
    // Two-sided p = I_{df/(df+t^2)}(df/2, 1/2).
    w.p = incomplete_beta(w.df / 2, 0.5, w.df / (w.df + w.t * w.t));
    return w;
}

std::string fmt(const char* f, double x) {
    if (std::isnan(x))
        return "n/a";
    char b[64];
    std::snprintf(b, sizeof(b), f, x);
    return b;
}

} // namespace kview::bench
