// Processes and time for the benchmark: progress lines, a steady clock,
// running a command for its output, the untraced memcached.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kview::bench {

// A "kview-bench: ..." line on stderr.
void progress(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Seconds on the steady clock.
[[nodiscard]] double now_s();

// Runs argv, returns its output (stdout, and stderr with merge) if it exits 0;
// otherwise nullopt, and *why (if given) says how it ended and its last line.
[[nodiscard]] std::optional<std::string> capture(const std::vector<std::string>& argv,
                                                 bool merge = true, std::string* why = nullptr);

// memcached for the whole run (untraced), killed on destruction.
class Memcached {
  public:
    explicit Memcached(uint16_t port);
    ~Memcached();
    Memcached(const Memcached&) = delete;
    Memcached& operator=(const Memcached&) = delete;
    [[nodiscard]] bool ok() const { return ok_; }
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] const std::string& why() const { return why_; }

  private:
    pid_t pid_ = -1;
    std::string why_;
    bool ok_ = false;
};

} // namespace kview::bench
