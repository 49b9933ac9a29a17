#include "json.hpp"

#include <time.h>

namespace kview::cli {

int64_t unix_now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::string rfc3339(int64_t unix_ns) {
    time_t secs = static_cast<time_t>(unix_ns / 1000000000);
    tm utc{};
    gmtime_r(&secs, &utc);
    char buf[64];
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(buf + n, sizeof(buf) - n, ".%09lldZ",
                  static_cast<long long>(unix_ns % 1000000000));
    return buf;
}

Json u64(uint64_t x) {
    if (x < (uint64_t{1} << 53))
        return x;
    return std::to_string(x);
}

Json hex(uint64_t x) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(x));
    return buf;
}

void emit(FILE* out, const char* type, const Json& fields, int64_t unix_ns) {
    Json j;
    j["type"] = type;
    j["time"] = rfc3339(unix_ns);
    for (const auto& [k, v] : fields.items())
        j[k] = v;
    std::string line = j.dump(-1, ' ', false, Json::error_handler_t::replace);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), out);
}

} // namespace kview::cli
