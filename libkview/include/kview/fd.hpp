// kview::Fd: a move-only owner of one file descriptor (always O_CLOEXEC).
#pragma once

#include <string>
#include <utility>

#include "kview/result.hpp"

namespace kview {

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~Fd() { reset(); }

    // open(2) with O_CLOEXEC added.
    [[nodiscard]] static Result<Fd> open(const std::string& path, int flags);

    [[nodiscard]] int get() const { return fd_; }
    [[nodiscard]] bool valid() const { return fd_ >= 0; }
    [[nodiscard]] int release() { return std::exchange(fd_, -1); }
    void reset();

  private:
    int fd_ = -1;
};

} // namespace kview
