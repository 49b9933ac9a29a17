// Helpers for the in-guest tests: a controllable target process ("Child"),
// shell commands, tracefs, the paths of the module and the CLI, the CLI's
// JSON output. Only used inside the QEMU guest (run-suite.sh).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kview/bpf.hpp"
#include "kview/device.hpp"

#include <cstdlib>
#include <cstring>

namespace guest {

// Output and exit status of `sh -c cmd`.
struct Run {
    int status;
    std::string out;
};
Run sh(const std::string& cmd);
std::string read_file(const std::string& path);
bool write_file(const std::string& path, const std::string& data);
std::string tracefs(); // mounted tracefs path

// The module built for the running kernel: $KVIEW_BUILD_DIR (default
// build)/kmod/<uname -r>/kview.ko (the Makefile's per-kernel output).
std::string default_ko();
// The module to load: $KVIEW_KO, else default_ko().
std::string ko_path();
// The kview command: $KVIEW_CLI, else $KVIEW_BUILD_DIR (default build)/cli/kview
// (tests/vm/README.md, the host-guest contract).
std::string cli_path();

// The output of `kview ... -f json`, parsed.
using Json = nlohmann::json;
// The JSON records of a `-f json` run: every line that starts with '{' must
// parse and carry "type" and "time" (a failed parse fails the test).
std::vector<Json> records(const std::string& out);
// The records of one "type".
std::vector<Json> of_type(const std::vector<Json>& rs, const std::string& type);
// The hook (symbol, kind) of the final "stats" record; null if there is none.
Json final_hook(const std::string& out, const std::string& sym, const std::string& kind);

// The running kernel was built with CONFIG_X86_KERNEL_IBT (functions start
// with endbr64; Debian's 6.12 is, its 6.1 is not).
bool kernel_ibt();

// Where a traceable function's body starts (kview's hook offset 0): past
// the 5-byte fentry call, and the endbr64 (or its sealing nop) before it
// with IBT: 5 or 9. body("vfs_read") is "vfs_read+5" or "vfs_read+9".
int body_offset();
std::string body(const std::string& func);

// The guest tests' BPF object (tests/guest/bpf/count_reads.bpf.c), loaded;
// a failure to load fails the test (value() throws, gtest reports it).
kview::BpfObject test_bpf();

// The descriptor of @obj's program @name (-1 and a test failure if none).
int prog_fd(const kview::BpfObject& obj, const std::string& name);

// The value at key @pid of @obj's map @map (a pid -> count map); 0 if absent.
uint64_t bpf_count(const kview::BpfObject& obj, const char* map, pid_t pid);

// The module's global counters (a failed read is a test failure).
kview::GlobalStats global();

// /proc/kallsyms (kernel text, no modules), sorted: address -> name, and
// name -> address.
struct Kallsyms {
    std::vector<std::pair<uint64_t, std::string>> sorted;
    std::map<std::string, uint64_t> by_name;
    Kallsyms();
    uint64_t at(const std::string& n) const; // 0 if absent
    std::string name(uint64_t addr) const;   // "sym+0xoff"
};

// debugfs kprobes/list.
std::string kprobes_list();

// SIGKILL and reap.
void kill_wait(pid_t pid);

// The test binary itself (for exec tests).
std::string self_exe();

// A file on the guest's root, which is the host's over 9p (module 9p): each
// one-byte pread() of it is one call of v9fs_file_read_iter() (no cache).
inline constexpr const char* kNinePFile = "/etc/os-release";

// A forked process that obeys commands over a socketpair. The channel uses
// send/recv only, so the target's read()/vfs_read() counts are exactly the
// reads it is told to do. Killed and reaped on destruction.
class Child {
  public:
    Child();
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }
    void reads(uint32_t n);                        // n one-byte reads of /dev/zero
    void fork_reads(uint32_t n);                   // a forked child does n reads, is reaped
    void exec_reads(uint32_t n);                   // exec self: new image does n reads
    void spawn_reads(uint32_t n);                  // posix_spawn self: the child does n reads
    void forks_of_ten_reads(uint32_t kids);        // kids forked in turn, 10 reads each
    std::vector<uint8_t> read_text(uint64_t addr); // 4 KiB page at addr, as the child sees it
    void kill9();                                  // SIGKILL + reap
    void start_file_reads(uint32_t n);             // begin n preads of kNinePFile ...
    void start_reads(uint32_t n);                  // begin n reads, don't wait ...
    void wait_done();                              // ... until they are done

  private:
    void send_cmd(char op, uint64_t arg);
    void wait_ack();
    pid_t pid_ = -1;
    int sock_ = -1;
};

// Entry point of an exec'd image (guest_main.cpp): "--exec-reads N FD".
int exec_reads_main(uint32_t n, int fd);

// Entry point of a spawned image (guest_main.cpp): "--reads N", then exit.
int reads_main(uint32_t n);

// posix_spawn (CLONE_VM | CLONE_VFORK in glibc) this binary as "--reads N":
// its pid, or -1. The caller reaps it.
pid_t spawn_self_reads(uint32_t n);

// Entry point of a lifecycle-storm target (storm_lifecycle_test.cpp): "--storm-target SEED".
int storm_target_main(uint64_t seed);

// Single-threaded TCG boot (run-guest.sh --tcg-single, the guest.storms
// boots)? Tests that patch text another vCPU is executing need it: that hangs
// stock 6.1 under multi-threaded TCG, kview loaded or not (a vCPU keeps
// trapping on an int3 no longer in memory; docs/reliability.md, "Stock
// kernel findings").
inline bool single_threaded_tcg() {
    const char* accel = std::getenv("KVIEW_ACCEL");
    return accel && std::strstr(accel, "thread=single");
}

} // namespace guest
