// The benchmark's raw results: samples, traced-process checks, errors.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace kview::bench {

struct Sample {
    std::string workload; // memcaslap, memload-closed, micro-read, ...
    std::string metric;   // ops_per_s, ns_per_op, ...
    std::string unit;
    std::string config; // mode name or a cost configuration
    int programs = 1;
    int rep = 0;
    double value = 0;
    double p50_us = NAN, p99_us = NAN, p999_us = NAN; // memload only
};

struct Check { // did the traced process get every event?
    std::string workload;
    std::string config;
    int programs = 1;
    int rep = 0;
    uint64_t expected = 0;
    uint64_t got_read = 0;
    uint64_t got_sendmsg = 0;
    uint64_t foreign = 0;  // handler entries from untraced mms (views)
    uint64_t dropped = 0;  // post-eBPF ring buffer drops
    uint64_t tlb_ipis = 0; // TLB-shootdown IPIs received during the sample (/proc/interrupts)
    bool ok = false;
};

struct Results {
    std::vector<Sample> samples;
    std::vector<Check> checks;
    std::vector<std::string> errors;
};

// The values of one (workload, metric, config, programs) series.
[[nodiscard]] inline std::vector<double> series(const Results& r, const std::string& w,
                                                const std::string& metric, const std::string& cfg,
                                                int programs) {
    std::vector<double> v;
    for (const auto& s : r.samples)
        if (s.workload == w && s.metric == metric && s.config == cfg && s.programs == programs)
            v.push_back(s.value);
    return v;
}

} // namespace kview::bench
