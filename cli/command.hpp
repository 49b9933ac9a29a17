// `kview trace -c CMD`: the traced command, started only once its view and
// hooks exist.
#pragma once

#include <sys/types.h>

#include <string>

#include "kview/fd.hpp"
#include "kview/result.hpp"

namespace kview::cli {

// A child that waits on a pipe until start(), then runs CMD: a plain
// "prog arg..." is exec'd as is (its pid is the command's, as with
// bpftrace -c), anything with shell syntax runs under /bin/sh -c. The view
// follows it across exec and fork. Killed if kview exits first.
class Command {
  public:
    Command() = default;
    Command(const Command&) = delete;
    Command& operator=(const Command&) = delete;
    ~Command();

    [[nodiscard]] Result<pid_t> spawn(const std::string& cmd);
    void start();
    // The exit status (128 + signal if killed), or -1 while it runs.
    int reap();

  private:
    pid_t pid_ = -1;
    Fd go_;
};

} // namespace kview::cli
