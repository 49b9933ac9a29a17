// The instruction-time (-icount) part of the report: best-of-N tables, the
// targets decided in instructions (PASS/FAIL), the counts that depend on no
// clock, and the gnuplot script for its plots.
#pragma once

#include <string>
#include <vector>

#include "results.hpp"

namespace kview::bench {

struct CostNames { // the per-event cost configurations, as samples.hpp names them
    std::string control, ftrace, optimized, int3, kview;
};

struct IcountReport {
    bool all = true;  // every target passes
    std::string md;   // markdown sections
    std::string gp;   // gnuplot commands (terminal already set)
    std::string figs; // markdown image lines for the plots
};

[[nodiscard]] IcountReport icount_report(const Results& r, const std::vector<int>& programs,
                                         const CostNames& cost, const std::string& dir);

} // namespace kview::bench
