#include "kview/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace kview {

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
