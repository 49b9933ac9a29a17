// Processes and time for the benchmark (proc.hpp).
#include "proc.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace kview::bench {

void progress(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "kview-bench: ");
    std::vfprintf(stderr, fmt, ap);
    std::fprintf(stderr, "\n");
    va_end(ap);
}

// ---- processes ------------------------------------------------------------------

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::optional<std::string> capture(const std::vector<std::string>& argv, bool merge,
                                   std::string* why) {
    int pfd[2];
    if (::pipe2(pfd, O_CLOEXEC)) {
        if (why)
            *why = std::string("pipe: ") + std::strerror(errno);
        return std::nullopt;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        if (why)
            *why = std::string("fork: ") + std::strerror(errno);
        ::close(pfd[0]);
        ::close(pfd[1]);
        return std::nullopt;
    }
    if (pid == 0) {
        ::dup2(pfd[1], 1);
        if (merge)
            ::dup2(pfd[1], 2);
        std::vector<char*> a;
        for (const auto& s : argv)
            a.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        ::execvp(a[0], a.data());
        ::_exit(127);
    }
    ::close(pfd[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pfd[0], buf, sizeof(buf))) > 0)
        out.append(buf, static_cast<size_t>(n));
    ::close(pfd[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return out;
    if (why) {
        *why = WIFEXITED(st) ? "exit " + std::to_string(WEXITSTATUS(st))
                             : "signal " + std::to_string(WTERMSIG(st));
        while (!out.empty() && out.back() == '\n')
            out.pop_back();
        auto nl = out.rfind('\n');
        std::string last = out.substr(nl == std::string::npos ? 0 : nl + 1);
        if (!last.empty())
            *why += ": " + last.substr(0, 160);
    }
    return std::nullopt;
}

Memcached::Memcached(uint16_t port) {
    pid_ = ::fork();
    if (pid_ == 0) {
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        std::string p = std::to_string(port);
        ::execlp("memcached", "memcached", "-u", "root", "-l", "127.0.0.1", "-p", p.c_str(), "-U",
                 "0", "-t", "2", "-c", "4096", "-m", "256", nullptr);
        ::_exit(127);
    }
    // Wait until it accepts: up to 300 s (an emulated CPU on a busy host
    // can take more than 10; under icount the clock jumps ahead while
    // memcached pages in over 9p), or until it exits.
    for (int i = 0; i < 6000 && pid_ > 0; i++) {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            why_ = WIFEXITED(st) ? "exited with status " + std::to_string(WEXITSTATUS(st))
                                 : "killed by signal " + std::to_string(WTERMSIG(st));
            pid_ = -1;
            break;
        }
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
        ::close(fd);
        if (up) {
            ok_ = true;
            break;
        }
        ::usleep(50000);
    }
    if (!ok_ && why_.empty())
        why_ = pid_ > 0 ? "did not accept connections within 300 s" : "could not be started";
}

Memcached::~Memcached() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }
}
} // namespace kview::bench
