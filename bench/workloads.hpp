// Untraced micro workloads, run in the benchmark process (or its children)
// while the configuration under test traces other processes. Each returns
// the fastest chunk's ns per operation: under -icount a chunk shorter than
// a timer tick is often interrupt-free, and interference only adds time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace kview::bench {

struct Chunks {
    int chunks = 20;         // timed chunks per sample, each followed by a short sleep
    uint32_t per_chunk = 50; // operations per chunk
    unsigned gap_us = 2000;  // sleep between chunks (lets deferred work run outside them)
};

// read(/dev/zero, 1)
[[nodiscard]] std::optional<double> op_read(const Chunks& c);
// write(/dev/null, 1)
[[nodiscard]] std::optional<double> op_write(const Chunks& c);
// syscall(SYS_getpid): the null syscall
[[nodiscard]] std::optional<double> op_getpid(const Chunks& c);
// sendmsg(1 byte) + recv on a datagram socketpair
[[nodiscard]] std::optional<double> op_sendmsg(const Chunks& c);
// one round trip of a 1-byte pipe ping-pong with a forked child (two
// context switches on one CPU)
[[nodiscard]] std::optional<double> op_ctxsw(const Chunks& c);
// fork + exec(`exe` as "true", a static busybox on tmpfs) + wait
[[nodiscard]] std::optional<double> op_forkexec(const Chunks& c, const std::string& exe);

// Copies /bin/busybox (static) to dir/busybox; returns its path, or "" if
// that is not possible. Programs under -icount must run from tmpfs: a 9p
// read makes the vCPU wait and the clock jump to the next timer.
[[nodiscard]] std::string stage_busybox(const std::string& dir);
// Copies src to dir/name (executable) and returns that path; with an empty
// dir, returns the path src resolves to. "" on failure.
[[nodiscard]] std::string stage_file(const std::string& src, const std::string& dir,
                                     const std::string& name);

} // namespace kview::bench

namespace kview::bench {

// The untraced process the micro workloads run in: forked at start-up,
// before anything is attached, so it is the same process in every
// configuration and holds none of the tracer's state (views, BPF objects,
// the post-eBPF consumer thread: a second thread sharing the file table
// alone makes every fd lookup take the slow path).
enum class Op : int { Read, Write, Getpid, Sendmsg, Ctxsw, Forkexec };
class Worker {
  public:
    [[nodiscard]] static std::optional<Worker> spawn(const std::string& busybox);
    ~Worker();
    Worker(Worker&& o) noexcept : pid_(o.pid_), sock_(o.sock_) { o.pid_ = o.sock_ = -1; }
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    Worker& operator=(Worker&&) = delete;
    // Runs op in the worker: its best chunk's ns per operation.
    [[nodiscard]] std::optional<double> run(Op op, const Chunks& c);

  private:
    Worker(pid_t pid, int sock) : pid_(pid), sock_(sock) {}
    pid_t pid_;
    int sock_;
};

} // namespace kview::bench
