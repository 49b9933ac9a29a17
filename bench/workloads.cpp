#include "workloads.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <time.h>

#include "kview/fd.hpp"
#include "pingpong.hpp"

namespace kview::bench {

namespace {

double now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

using kview::Fd;

// Fastest chunk of c.per_chunk calls of op (false: failed), in ns per call.
template <class F> std::optional<double> best_chunk(const Chunks& c, F&& op) {
    double best = std::numeric_limits<double>::infinity();
    bool ok = true;
    for (int chunk = 0; chunk < c.chunks && ok; chunk++) {
        double t0 = now_ns();
        for (uint32_t i = 0; i < c.per_chunk; i++)
            ok &= op();
        double t = now_ns() - t0;
        best = std::min(best, t / c.per_chunk);
        if (c.gap_us)
            ::usleep(c.gap_us);
    }
    if (!ok || std::isinf(best))
        return std::nullopt;
    return best;
}

} // namespace

std::optional<double> op_read(const Chunks& c) {
    Fd zero(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
    if (zero.get() < 0)
        return std::nullopt;
    char b = 0;
    return best_chunk(c, [&] { return ::read(zero.get(), &b, 1) == 1; });
}

std::optional<double> op_write(const Chunks& c) {
    Fd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (null.get() < 0)
        return std::nullopt;
    char b = 0;
    return best_chunk(c, [&] { return ::write(null.get(), &b, 1) == 1; });
}

std::optional<double> op_getpid(const Chunks& c) {
    return best_chunk(c, [] { return ::syscall(SYS_getpid) > 0; });
}

std::optional<double> op_sendmsg(const Chunks& c) {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp))
        return std::nullopt;
    Fd a(sp[0]), b(sp[1]);
    char ch = 0;
    return best_chunk(c, [&] {
        iovec iov{&ch, 1};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        return ::sendmsg(a.get(), &mh, 0) == 1 && ::recv(b.get(), &ch, 1, 0) == 1;
    });
}

std::optional<double> op_ctxsw(const Chunks& c) {
    PingPong pp;
    if (!pp.ok())
        return std::nullopt;
    // The child and this process on the same CPU, so every round trip is
    // two context switches (and no idle wait on a multi-CPU guest).
    cpu_set_t all, one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    bool pinned = !::sched_getaffinity(0, sizeof(all), &all) &&
                  !::sched_setaffinity(0, sizeof(one), &one) &&
                  !::sched_setaffinity(pp.child(), sizeof(one), &one);
    auto v = best_chunk(c, [&] { return pp.round_trip(); });
    if (pinned)
        ::sched_setaffinity(0, sizeof(all), &all);
    return v;
}

std::optional<double> op_forkexec(const Chunks& c, const std::string& exe) {
    if (exe.empty())
        return std::nullopt;
    return best_chunk(c, [&] {
        pid_t pid = ::fork();
        if (pid == 0) {
            // The same layout every time: with ASLR the exec's page-table
            // work varies between runs.
            ::personality(ADDR_NO_RANDOMIZE);
            char arg0[] = "true";
            char* argv[] = {arg0, nullptr};
            char* envp[] = {nullptr};
            ::execve(exe.c_str(), argv, envp);
            ::_exit(127);
        }
        int st = 0;
        return pid > 0 && ::waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    });
}

std::string stage_file(const std::string& src, const std::string& dir, const std::string& name) {
    std::error_code ec;
    auto real = std::filesystem::canonical(src, ec);
    if (ec)
        return "";
    if (dir.empty())
        return real.string();
    std::filesystem::create_directories(dir, ec);
    std::string dst = dir + "/" + name;
    std::filesystem::copy_file(real, dst, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec)
        return "";
    std::filesystem::permissions(dst, std::filesystem::perms::owner_all, ec);
    return ec ? "" : dst;
}

std::string stage_busybox(const std::string& dir) {
    return stage_file("/bin/busybox", dir, "busybox");
}

namespace {

struct Cmd {
    Op op;
    Chunks c;
};
struct Reply {
    int ok;
    double v;
};

[[noreturn]] void worker_main(int sock, const std::string& busybox) {
    for (;;) {
        Cmd cmd{};
        if (::recv(sock, &cmd, sizeof(cmd), 0) != sizeof(cmd))
            ::_exit(0);
        std::optional<double> v;
        switch (cmd.op) {
        case Op::Read:
            v = op_read(cmd.c);
            break;
        case Op::Write:
            v = op_write(cmd.c);
            break;
        case Op::Getpid:
            v = op_getpid(cmd.c);
            break;
        case Op::Sendmsg:
            v = op_sendmsg(cmd.c);
            break;
        case Op::Ctxsw:
            v = op_ctxsw(cmd.c);
            break;
        case Op::Forkexec:
            v = op_forkexec(cmd.c, busybox);
            break;
        }
        Reply r{v.has_value(), v.value_or(0)};
        if (::send(sock, &r, sizeof(r), 0) != sizeof(r))
            ::_exit(1);
    }
}

} // namespace

std::optional<Worker> Worker::spawn(const std::string& busybox) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
        return std::nullopt;
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(sv[0]);
        ::close(sv[1]);
        return std::nullopt;
    }
    if (pid == 0) {
        ::close(sv[0]);
        worker_main(sv[1], busybox);
    }
    ::close(sv[1]);
    return Worker(pid, sv[0]);
}

Worker::~Worker() {
    if (sock_ >= 0)
        ::close(sock_);
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

std::optional<double> Worker::run(Op op, const Chunks& c) {
    Cmd cmd{op, c};
    Reply r{};
    if (::send(sock_, &cmd, sizeof(cmd), 0) != sizeof(cmd) ||
        ::recv(sock_, &r, sizeof(r), 0) != sizeof(r) || !r.ok)
        return std::nullopt;
    return r.v;
}

} // namespace kview::bench
