// What the storms (storm_lifecycle_test.cpp, storm_coherence_test.cpp)
// share: their length and seed, a thread-safe tally of outcomes, meminfo
// deltas, and starting and stopping helper processes.
//
// KVIEW_STORM_SECONDS (default 20) bounds each storm, KVIEW_STORM_SEED picks
// the seed (default: fixed per storm). Both are printed for a replay.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace storm {

double seconds();
uint64_t seed(uint64_t dflt);

// /proc/meminfo fields of interest, in KiB, after dropping caches.
std::map<std::string, long> meminfo();
void print_meminfo_delta(const char* storm, std::map<std::string, long> a,
                         std::map<std::string, long> b);

// Thread-safe tally of outcomes, printed at the end.
class Tally {
  public:
    void add(const std::string& what);
    void fail(const std::string& what);
    uint64_t failures() const { return nfail_; }
    // The counts, and every recorded failure as a test failure.
    void print(const char* storm);

  private:
    std::mutex m_;
    std::map<std::string, uint64_t> counts_;
    std::vector<std::string> failures_;
    std::atomic<uint64_t> nfail_{0};
};

// "ok", or the errno's name.
std::string errname(int e);

// fork + execv(argv), stdout and stderr to /dev/null when quiet.
pid_t spawn(const std::vector<std::string>& argv, bool quiet = true);

// Stop a child: SIGTERM, then SIGKILL after 10 s. (SIGINT is not enough:
// a command started in the background by a non-interactive shell inherits
// SIGINT ignored, and bpftrace then never exits.)
void stop(pid_t pid);

} // namespace storm
