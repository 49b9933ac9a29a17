// kview::Result<T>: a value or an Error (errno + context). No exceptions
// cross the libkview API; every fallible call returns one of these.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace kview {

struct Error {
    int code = 0;        // errno value
    std::string context; // what was being done, e.g. "add kprobe vfs_read+0"
    std::string hint;    // what to do about it, may be empty

    // "context: strerror(code) (hint)"
    [[nodiscard]] std::string message() const;
};

// Error from the current errno.
[[nodiscard]] Error errno_error(std::string context, std::string hint = {});

template <class T> class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    [[nodiscard]] bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    [[nodiscard]] T& value() & { return std::get<0>(v_); }
    [[nodiscard]] const T& value() const& { return std::get<0>(v_); }
    [[nodiscard]] T&& value() && { return std::get<0>(std::move(v_)); }
    [[nodiscard]] const Error& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, Error> v_;
};

template <> class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : err_(std::move(error)), ok_(false) {}

    [[nodiscard]] bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    [[nodiscard]] const Error& error() const { return err_; }

  private:
    Error err_;
    bool ok_ = true;
};

} // namespace kview
