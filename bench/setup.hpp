// The five benchmark configurations and the traced process that checks them.
//
//   none       nothing attached
//   post-eBPF  global kprobes; the program records every event in a ring
//              buffer and userspace keeps the traced pid's (filter after)
//   in-eBPF    global kprobes; the program checks the pid first (bpftrace's
//              /pid == N/)
//   pre-eBPF   kview SHARED_TEXT views: the hook traps for every process and
//              the module checks the mm before running the program
//   kview      kview private views: only the traced process traps
//
// Every configuration runs the same program body (bpf/bench.bpf.c) on the
// same functions. Global kprobes sit at the function's entry (ftrace-based,
// as bpftrace places them); kview hooks sit right after the fentry call.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kview/result.hpp"
#include "kview/view.hpp"

struct kview_bench;
struct bpf_link;
struct ring_buffer;

namespace kview::bench {

enum class Mode { None, PostEbpf, InEbpf, PreEbpf, Kview };
inline constexpr std::array kModes = {Mode::None, Mode::PostEbpf, Mode::InEbpf, Mode::PreEbpf,
                                      Mode::Kview};
[[nodiscard]] const char* mode_name(Mode m);

struct Hook {
    uint32_t kind;    // KVIEW_HOOK_* for kview / pre-eBPF
    std::string name; // kview name ("read" for a syscall, else the symbol)
    std::string ksym; // kprobe symbol for the global configurations
    uint32_t offset;  // global kprobe offset from ksym
    uint32_t cookie;  // counter slot 0..2
};
// syscall read and sendmsg entries (slots 0, 1).
[[nodiscard]] std::vector<Hook> syscall_hooks();
// Those and the write and getpid entries (slot 2: the traced process makes
// neither call), for the untraced syscall workloads under -icount.
[[nodiscard]] std::vector<Hook> micro_hooks();

// A traced process: a forked child that runs read()/sendmsg() bursts on
// command. Its command channel uses send()/recv() only, so the hooked calls
// it makes are exactly the ones asked for.
class Driver {
  public:
    [[nodiscard]] static Result<std::unique_ptr<Driver>> spawn();
    ~Driver();
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;
    [[nodiscard]] pid_t pid() const { return pid_; }
    // n iterations of read(/dev/zero, 1) + sendmsg(1 byte); sleep gap_us
    // after every 10th. start() returns at once, wait() until done.
    [[nodiscard]] Result<void> start(uint32_t n, uint32_t gap_us);
    [[nodiscard]] Result<void> wait();

  private:
    Driver(pid_t pid, int sock) : pid_(pid), sock_(sock) {}
    pid_t pid_;
    int sock_;
};

// One configuration attached for a set of traced processes ("sessions");
// detached when destroyed.
class Setup {
  public:
    [[nodiscard]] static Result<std::unique_ptr<Setup>>
    attach(Mode mode, const std::vector<pid_t>& targets, const std::vector<Hook>& hooks);
    ~Setup();
    Setup(const Setup&) = delete;
    Setup& operator=(const Setup&) = delete;

    // Events of session i's traced process per counter slot so far
    // (post-eBPF: drains the ring buffers first).
    [[nodiscard]] std::array<uint64_t, 3> events(size_t session);
    // post-eBPF: events the kernel could not put in a ring buffer.
    [[nodiscard]] uint64_t dropped();
    // kview / pre-eBPF: handler entries from processes that are not traced
    // (must stay 0 under kview), from the views' stats.
    [[nodiscard]] Result<uint64_t> foreign_mm_hits() const {
        return sum_view_stat(&ViewStats::foreign_mm_hits);
    }
    [[nodiscard]] Result<uint64_t> view_bytes() const { return sum_view_stat(&ViewStats::bytes); }
    [[nodiscard]] Mode mode() const { return mode_; }

  private:
    struct Session;
    explicit Setup(Mode m);
    void drain();
    // Sum of one ViewStats field over the sessions' views.
    [[nodiscard]] Result<uint64_t> sum_view_stat(uint64_t ViewStats::*field) const;
    Mode mode_;
    std::vector<std::unique_ptr<Session>> sessions_;
    ring_buffer* rb_ = nullptr;
    std::atomic<bool> stop_{false};
    std::thread consumer_;
};

// Kernel address of a symbol (from /proc/kallsyms), 0 if absent.
[[nodiscard]] uint64_t ksym_addr(const std::string& name);

} // namespace kview::bench
