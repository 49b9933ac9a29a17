#include "kview/parse.hpp"

#include <linux/kview.h>

#include <charconv>
#include <limits>

namespace kview {

static bool parse_u64(std::string_view s, uint64_t& out) {
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s.remove_prefix(2);
        base = 16;
    }
    if (s.empty())
        return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
    return ec == std::errc() && p == s.data() + s.size();
}

Result<HookSpec> parse_hook_spec(std::string_view spec) {
    auto bad = [&](const std::string& why) {
        return Error{EINVAL, "hook '" + std::string(spec) + "'", why};
    };
    HookSpec out;
    auto plus = spec.find('+');
    std::string_view name = spec.substr(0, plus);
    if (name.empty())
        return bad("expected func[+offset]");
    if (name.size() >= KVIEW_SYMBOL_LEN)
        return bad("symbol longer than " + std::to_string(KVIEW_SYMBOL_LEN - 1) + " characters");
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.';
        if (!ok)
            return bad(std::string("invalid character '") + c + "' in symbol");
    }
    out.symbol = std::string(name);
    if (plus != std::string_view::npos) {
        uint64_t off = 0;
        if (!parse_u64(spec.substr(plus + 1), off) || off > std::numeric_limits<uint32_t>::max())
            return bad("offset must be a decimal or 0x hex number below 2^32");
        out.offset = static_cast<uint32_t>(off);
    }
    return out;
}

Result<std::chrono::milliseconds> parse_duration(std::string_view s) {
    auto bad = Error{EINVAL, "duration '" + std::string(s) + "'", "use e.g. 500ms, 10s, 2m, 1h"};
    size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
        i++;
    uint64_t n = 0;
    if (i == 0 || !parse_u64(s.substr(0, i), n))
        return bad;
    std::string_view unit = s.substr(i);
    uint64_t mult;
    if (unit.empty() || unit == "s")
        mult = 1000;
    else if (unit == "ms")
        mult = 1;
    else if (unit == "m")
        mult = 60'000;
    else if (unit == "h")
        mult = 3'600'000;
    else
        return bad;
    if (n > std::numeric_limits<int64_t>::max() / mult / 2)
        return bad;
    return std::chrono::milliseconds(static_cast<int64_t>(n * mult));
}

Result<pid_t> parse_pid(std::string_view s) {
    uint64_t n = 0;
    if (s.empty() || s[0] == '0' || !parse_u64(s, n) || n > std::numeric_limits<pid_t>::max())
        return Error{EINVAL, "pid '" + std::string(s) + "'", "expected a positive process id"};
    return static_cast<pid_t>(n);
}

} // namespace kview
