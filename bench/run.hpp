// `kview-bench run`: every selected workload under every configuration,
// interleaved, p.reps times in one process; then bench.json and results.md.
#pragma once

#include "params.hpp"

namespace kview::bench {

// Exit status: 0 when the run had no error and the traced process got every
// event (missed timing targets are results, in results.md), 1 otherwise,
// 2 on a usage error.
[[nodiscard]] int cmd_run(Params p);

} // namespace kview::bench
