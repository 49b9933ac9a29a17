#include "kview/result.hpp"

#include <cerrno>
#include <cstring>

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

} // namespace kview
