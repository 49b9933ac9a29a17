#include "kview/result.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "kview/fd.hpp"

namespace kview {

std::string Error::message() const {
    std::string m = context.empty() ? std::string() : context + ": ";
    m += std::strerror(code);
    if (!hint.empty())
        m += " (" + hint + ")";
    return m;
}

Error errno_error(std::string context, std::string hint) {
    return Error{errno, std::move(context), std::move(hint)};
}

Result<Fd> Fd::open(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0)
        return errno_error("open " + path);
    return Fd(fd);
}

void Fd::reset() {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

} // namespace kview
