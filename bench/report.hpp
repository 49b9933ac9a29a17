// What `kview-bench run` writes into its --out directory: bench.json (every
// sample and check, with the run's metadata), results.md (the report, with
// the targets' PASS/FAIL) and the gnuplot data and script for its plots.
#pragma once

#include <map>
#include <string>

#include "params.hpp"
#include "results.hpp"

namespace kview::bench {

struct Meta {
    std::map<std::string, std::string> kv;
};
// The run's environment and parameters (seconds: its duration).
[[nodiscard]] Meta metadata(const Params& p, double seconds);
void write_json(const std::string& path, const Meta& meta, const Results& r);
// results.md + plots.gp and its data in dir. Returns whether all targets pass.
bool write_report(const std::string& dir, const Meta& meta, const Results& r, const Params& p);

} // namespace kview::bench
