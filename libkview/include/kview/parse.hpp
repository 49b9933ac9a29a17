// Parsing of command-line values (pure functions, unit-tested on the host).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "kview/result.hpp"

namespace kview {

struct HookSpec {
    std::string symbol;
    uint32_t offset = 0;
};

// "func" or "func+OFF" (OFF decimal or 0x hex). EINVAL with a reason.
[[nodiscard]] Result<HookSpec> parse_hook_spec(std::string_view spec);
// "250ms", "5s", "2m", "1h", or a plain number of seconds.
[[nodiscard]] Result<std::chrono::milliseconds> parse_duration(std::string_view s);
// A positive pid.
[[nodiscard]] Result<pid_t> parse_pid(std::string_view s);

} // namespace kview
