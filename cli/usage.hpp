// The command line's words: usage texts, argument parsers, and its two
// kinds of error (usage: two lines and exit 2; runtime: one line, status 1).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "kview/result.hpp"

namespace kview::cli {

void print_usage(const std::string& cmd); // "" (everything), "trace", "attach" or "run"
void set_command(const std::string& cmd); // the subcommand usage errors name

// A usage error: what is wrong in one line, which --help to read in another; exit 2.
[[noreturn]] void die_usage(const std::string& msg);
// getopt_long's errors (optstring with a leading ':', opterr = 0), in our words.
[[noreturn]] void die_bad_option(int c, char** argv);

// Option values: parsed, or a usage error.
pid_t pid_arg(const char* s);
std::chrono::milliseconds duration_arg(char opt, const char* s); // more than 0
bool json_arg(const char* s);                                    // -f text|json

// A runtime error: "kview: <what failed>: <errno text> (<what to do>)"; returns 1.
int fail(const Error& e);

} // namespace kview::cli
