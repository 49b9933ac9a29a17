#include "memload.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/interprocess/anonymous_shared_memory.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <cmath>
#include <cstring>
#include <ctime>
#include <new>
#include <random>
#include <vector>

namespace kview::bench {

int Histogram::bucket(uint64_t ns) {
    if (ns < kSub)
        return static_cast<int>(ns);
    int e = 63 - __builtin_clzll(ns); // >= 4
    int sub = static_cast<int>((ns >> (e - 4)) & (kSub - 1));
    int b = (e - 3) * kSub + sub;
    return b < kBuckets ? b : kBuckets - 1;
}

double Histogram::bucket_mid(int b) {
    if (b < kSub)
        return b;
    int e = b / kSub + 3;
    int sub = b % kSub;
    double lo = std::ldexp(1.0, e) + sub * std::ldexp(1.0, e - 4);
    return lo + std::ldexp(1.0, e - 4) / 2;
}

double Histogram::quantile(const uint64_t* counts, double q) {
    uint64_t total = 0;
    for (int i = 0; i < kBuckets; i++)
        total += counts[i];
    if (!total)
        return NAN;
    auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
    rank = std::max<uint64_t>(rank, 1);
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; i++) {
        seen += counts[i];
        if (seen >= rank)
            return bucket_mid(i);
    }
    return bucket_mid(kBuckets - 1);
}

namespace {

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Lives in the shared segment; every worker process updates it.
struct Shared {
    std::atomic<uint64_t> ops{0};
    std::atomic<uint64_t> errors{0};
    std::atomic<uint64_t> hist[Histogram::kBuckets]{};
};

int connect_to(const LoadParams& p) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(p.port);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (::inet_pton(AF_INET, p.host.c_str(), &a.sin_addr) != 1 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a))) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

bool ends_with(const std::string& s, const char* suffix) {
    size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

struct Conn {
    int fd = -1;
    bool busy = false;
    bool is_get = false;
    uint64_t stamp = 0; // when the request was due (open) or sent (closed)
    std::string buf;
};

std::string request(const LoadParams& p, std::mt19937_64& rng, bool* is_get) {
    std::uniform_int_distribution<uint32_t> key(0, p.keys - 1);
    std::uniform_real_distribution<double> u(0, 1);
    std::string k = "kv:" + std::to_string(key(rng));
    *is_get = u(rng) >= p.set_ratio;
    if (*is_get)
        return "get " + k + "\r\n";
    return "set " + k + " 0 0 " + std::to_string(p.value_size) + "\r\n" +
           std::string(p.value_size, 'x') + "\r\n";
}

// One worker process. Returns its exit status.
int worker(const LoadParams& p, Shared* sh, int idx, uint64_t t0, uint64_t t_measure,
           uint64_t t_end) {
    std::mt19937_64 rng(0x6b76 + static_cast<uint64_t>(idx));
    std::vector<Conn> conns(static_cast<size_t>(p.conns));
    std::vector<pollfd> pfd(conns.size());
    for (size_t i = 0; i < conns.size(); i++) {
        conns[i].fd = connect_to(p);
        if (conns[i].fd < 0)
            return 1;
        pfd[i] = {conns[i].fd, POLLIN, 0};
    }
    const bool open = p.rate > 0;
    const double period = open ? 1e9 * p.workers / p.rate : 0;
    uint64_t k = 0; // open loop: requests due so far
    auto due = [&] { return t0 + static_cast<uint64_t>(static_cast<double>(k) * period); };
    size_t rr = 0;
    char rbuf[4096];
    for (;;) {
        uint64_t now = now_ns();
        if (now >= t_end)
            break;
        // Issue what is due (open) or whatever can go (closed).
        for (size_t tries = 0; tries < conns.size(); tries++) {
            if (open && due() > now)
                break;
            Conn& c = conns[rr];
            rr = (rr + 1) % conns.size();
            if (c.busy)
                continue;
            std::string r = request(p, rng, &c.is_get);
            c.stamp = open ? due() : now;
            c.busy = true;
            c.buf.clear();
            if (!send_all(c.fd, r))
                return 2;
            k++;
            tries = 0;
        }
        int timeout = 100; // closed loop, or open loop waiting for a free connection
        if (open && due() > now)
            timeout = static_cast<int>((due() - now) / 1000000);
        int n = ::poll(pfd.data(), pfd.size(), std::min(timeout, 100));
        if (n < 0)
            return 3;
        for (size_t i = 0; n > 0 && i < conns.size(); i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            Conn& c = conns[i];
            ssize_t got = ::recv(c.fd, rbuf, sizeof(rbuf), 0);
            if (got <= 0)
                return 4;
            c.buf.append(rbuf, static_cast<size_t>(got));
            bool done = c.is_get ? ends_with(c.buf, "END\r\n") : ends_with(c.buf, "\r\n");
            bool error = ends_with(c.buf, "\r\n") &&
                         (c.buf.starts_with("ERROR") || c.buf.starts_with("SERVER_ERROR") ||
                          c.buf.starts_with("CLIENT_ERROR"));
            if (!done && !error)
                continue;
            uint64_t t = now_ns();
            if (c.stamp >= t_measure && t < t_end) {
                if (error || (!c.is_get && !c.buf.starts_with("STORED")))
                    sh->errors++;
                else {
                    sh->ops++;
                    sh->hist[Histogram::bucket(t - c.stamp)]++;
                }
            }
            c.busy = false;
        }
    }
    for (auto& c : conns)
        ::close(c.fd);
    return 0;
}

Result<void> preload(const LoadParams& p) {
    int fd = connect_to(p);
    if (fd < 0)
        return errno_error("connect to memcached at " + p.host + ":" + std::to_string(p.port));
    std::string val(p.value_size, 'x');
    char rbuf[256];
    for (uint32_t i = 0; i < p.keys; i++) {
        std::string r = "set kv:" + std::to_string(i) + " 0 0 " + std::to_string(p.value_size) +
                        "\r\n" + val + "\r\n";
        std::string got;
        if (!send_all(fd, r)) {
            ::close(fd);
            return errno_error("preload memcached");
        }
        while (!ends_with(got, "\r\n")) {
            ssize_t n = ::recv(fd, rbuf, sizeof(rbuf), 0);
            if (n <= 0) {
                ::close(fd);
                return Error{EPIPE, "preload memcached: connection closed", {}};
            }
            got.append(rbuf, static_cast<size_t>(n));
        }
        if (got != "STORED\r\n") {
            ::close(fd);
            return Error{EPROTO, "preload memcached: server said " + got.substr(0, 40), {}};
        }
    }
    ::close(fd);
    return {};
}

} // namespace

Result<LoadResult> run_memload(const LoadParams& p) {
    if (p.workers < 1 || p.workers > 64 || p.conns < 1 || p.conns > 1024 || p.seconds <= 0 ||
        p.keys == 0 || p.value_size == 0 || p.value_size > 1 << 20)
        return Error{EINVAL, "memload parameters out of range", {}};
    if (auto r = preload(p); !r)
        return r.error();

    namespace bip = boost::interprocess;
    bip::mapped_region region = bip::anonymous_shared_memory(sizeof(Shared));
    auto* sh = new (region.get_address()) Shared();

    uint64_t t0 = now_ns() + 50000000; // every worker connected by then
    uint64_t t_measure = t0 + static_cast<uint64_t>(p.warmup_s * 1e9);
    uint64_t t_end = t_measure + static_cast<uint64_t>(p.seconds * 1e9);
    std::vector<pid_t> pids;
    for (int i = 0; i < p.workers; i++) {
        pid_t pid = ::fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            while (now_ns() < t0)
                ::usleep(1000);
            ::_exit(worker(p, sh, i, t0, t_measure, t_end));
        }
        pids.push_back(pid);
    }
    int failed = p.workers - static_cast<int>(pids.size());
    for (pid_t pid : pids) {
        int st = 0;
        if (::waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    if (failed)
        return Error{EIO, std::to_string(failed) + " of " + std::to_string(p.workers) +
                              " memload workers failed (connect/send/recv)", {}};
    std::vector<uint64_t> h(Histogram::kBuckets);
    for (int i = 0; i < Histogram::kBuckets; i++)
        h[static_cast<size_t>(i)] = sh->hist[i].load();
    LoadResult r;
    r.ops = sh->ops.load();
    r.errors = sh->errors.load();
    r.ops_per_s = static_cast<double>(r.ops) / p.seconds;
    r.p50_us = Histogram::quantile(h.data(), 0.50) / 1000;
    r.p99_us = Histogram::quantile(h.data(), 0.99) / 1000;
    r.p999_us = Histogram::quantile(h.data(), 0.999) / 1000;
    sh->~Shared();
    return r;
}

} // namespace kview::bench
