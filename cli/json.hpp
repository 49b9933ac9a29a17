// The CLI's JSON output: one record per line, each with "type" and "time".
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace kview::cli {

using Json = nlohmann::ordered_json;

// Wall-clock time as RFC 3339 UTC with nanoseconds: "2026-12-01T23:59:01.123456789Z".
[[nodiscard]] std::string rfc3339(int64_t unix_ns);
[[nodiscard]] int64_t unix_now_ns();

// An unsigned 64-bit value jq can read exactly: a number below 2^53, else a
// decimal string (jq and JavaScript round larger numbers).
[[nodiscard]] Json u64(uint64_t x);
// Addresses and raw register values: always a "0x..." string.
[[nodiscard]] Json hex(uint64_t x);

// Write {"type": type, "time": time, fields...} and a newline to out.
// Strings that are not UTF-8 (a comm is 16 raw bytes) get U+FFFD, never a throw.
void emit(FILE* out, const char* type, const Json& fields, int64_t unix_ns = unix_now_ns());

} // namespace kview::cli
