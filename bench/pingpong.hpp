// A one-byte ping-pong through two pipes with a forked child that echoes
// every byte back: each round trip is two context switches when both run on
// one CPU. One implementation for the benchmark's ctxsw workload
// (workloads.cpp) and kview-pingpong (tests/guest/pingpong.cpp, which
// tests/guest/icount-footprint.sh measures). Header-only: kview-pingpong is
// a static binary with no library.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace kview::bench {

class PingPong {
  public:
    PingPong() {
        int there[2], back[2];
        if (::pipe2(there, O_CLOEXEC))
            return;
        if (::pipe2(back, O_CLOEXEC)) {
            ::close(there[0]);
            ::close(there[1]);
            return;
        }
        fds_[0] = there[0], fds_[1] = there[1], fds_[2] = back[0], fds_[3] = back[1];
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(there[1]); // so that the parent's close is end of file
            ::close(back[0]);
            char b = 0;
            while (::read(there[0], &b, 1) == 1)
                if (::write(back[1], &b, 1) != 1)
                    break;
            ::_exit(0);
        }
    }
    ~PingPong() {
        close_pipes();
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    PingPong(const PingPong&) = delete;
    PingPong& operator=(const PingPong&) = delete;

    [[nodiscard]] bool ok() const { return pid_ > 0; }
    [[nodiscard]] pid_t child() const { return pid_; }
    // One byte there and back.
    [[nodiscard]] bool round_trip() {
        return ::write(fds_[1], &byte_, 1) == 1 && ::read(fds_[2], &byte_, 1) == 1;
    }
    // Ends the child (end of file on its pipe) and reaps it: whether it
    // echoed every byte and exited cleanly.
    [[nodiscard]] bool finish() {
        close_pipes();
        int status = 0;
        bool ok = pid_ > 0 && ::waitpid(pid_, &status, 0) == pid_ && WIFEXITED(status) &&
                  WEXITSTATUS(status) == 0;
        pid_ = -1;
        return ok;
    }

  private:
    void close_pipes() {
        for (int& fd : fds_)
            if (fd >= 0) {
                ::close(fd);
                fd = -1;
            }
    }
    int fds_[4] = {-1, -1, -1, -1}; // there: read, write; back: read, write
    pid_t pid_ = -1;
    char byte_ = 'x';
};

} // namespace kview::bench
