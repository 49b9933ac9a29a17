// Zero shared footprint (docs/design.md, "Invariants S and P"), checked from
// an untraced process (this test binary): the kernel text bytes, read through
// /proc/kcore with this process's (shared) page tables, and init_mm's
// page-table entries for the kernel image, walked from swapper_pg_dir in
// physical memory. Compared before insmod, after insmod, with views live,
// after the views close and after rmmod.
#include <elf.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/view.hpp"

using guest::Child;
using kview::View;

namespace {

constexpr uint64_t kPresent = 1, kPse = 1ULL << 7, kGlobal = 1ULL << 8;
constexpr uint64_t kHwBits = (1ULL << 5) | (1ULL << 6); // accessed, dirty: set by the CPU
constexpr uint64_t kPfnMask = 0x000ffffffffff000ULL;
constexpr uint64_t kKernelMap = 0xffffffff80000000ULL; // __START_KERNEL_map

// /proc/kcore: kernel virtual addresses (text) and physical ones (tables).
class Kcore {
  public:
    Kcore() : fd_(::open("/proc/kcore", O_RDONLY | O_CLOEXEC)) {
        Elf64_Ehdr eh;
        if (fd_ < 0 || ::pread(fd_, &eh, sizeof(eh), 0) != sizeof(eh))
            return;
        ph_.resize(eh.e_phnum);
        auto n = static_cast<ssize_t>(sizeof(Elf64_Phdr) * eh.e_phnum);
        if (::pread(fd_, ph_.data(), static_cast<size_t>(n), static_cast<off_t>(eh.e_phoff)) != n)
            ph_.clear();
    }
    ~Kcore() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    Kcore(const Kcore&) = delete;
    Kcore& operator=(const Kcore&) = delete;
    bool ok() const { return !ph_.empty(); }

    bool read_virt(uint64_t va, void* buf, size_t n) const {
        for (const auto& p : ph_)
            if (p.p_type == PT_LOAD && va >= p.p_vaddr && va + n <= p.p_vaddr + p.p_memsz)
                return pread_all(p.p_offset + (va - p.p_vaddr), buf, n);
        return false;
    }
    // Physical memory: the direct-map segments (p_paddr set, below the image).
    bool read_phys(uint64_t pa, void* buf, size_t n) const {
        for (const auto& p : ph_)
            if (p.p_type == PT_LOAD && p.p_vaddr < kKernelMap && p.p_paddr != ~0ULL &&
                pa >= p.p_paddr && pa + n <= p.p_paddr + p.p_memsz)
                return pread_all(p.p_offset + (pa - p.p_paddr), buf, n);
        return false;
    }

  private:
    bool pread_all(uint64_t off, void* buf, size_t n) const {
        return ::pread(fd_, buf, n, static_cast<off_t>(off)) == static_cast<ssize_t>(n);
    }
    int fd_;
    std::vector<Elf64_Phdr> ph_;
};

// What untraced processes use: kernel text and init_mm's kernel entries.
struct Snapshot {
    uint64_t text_start = 0;
    std::vector<uint8_t> text;
    std::map<std::string, uint64_t> entries; // "pgd[511]", "pmd[3]", "pte[3][17]"
    bool ok = false;
};

bool five_level() {
    return guest::sh("grep -qw la57 /proc/cpuinfo").status == 0;
}

Snapshot snapshot(const guest::Kallsyms& syms) {
    Snapshot s;
    Kcore kc;
    if (!kc.ok())
        return s;
    s.text_start = syms.at("_stext");
    uint64_t end = syms.at("_etext");
    if (!s.text_start || end <= s.text_start)
        return s;
    s.text.resize(end - s.text_start);
    if (!kc.read_virt(s.text_start, s.text.data(), s.text.size()))
        return s;

    std::vector<uint64_t> t(512);
    if (!kc.read_virt(syms.at("init_top_pgt"), t.data(), 4096))
        return s;
    for (int i = 256; i < 512; i++) // the kernel half, as every mm copies it
        s.entries["pgd[" + std::to_string(i) + "]"] = t[static_cast<size_t>(i)] & ~kHwBits;
    // Down to the kernel image's PMD page and its PTE tables.
    std::vector<int> idx = {511};
    if (five_level())
        idx.push_back(static_cast<int>((kKernelMap >> 39) & 511));
    idx.push_back(static_cast<int>((kKernelMap >> 30) & 511));
    uint64_t e = t[511];
    for (size_t lvl = 1; lvl < idx.size(); lvl++) {
        if (!(e & kPresent) || (e & kPse) || !kc.read_phys(e & kPfnMask, t.data(), 4096))
            return s;
        e = t[static_cast<size_t>(idx[lvl])];
    }
    if (!(e & kPresent) || (e & kPse) || !kc.read_phys(e & kPfnMask, t.data(), 4096))
        return s;
    std::vector<uint64_t> pmd = t;
    for (int i = 0; i < 512; i++) {
        uint64_t m = pmd[static_cast<size_t>(i)];
        s.entries["pmd[" + std::to_string(i) + "]"] = m & ~kHwBits;
        if (!(m & kPresent) || (m & kPse))
            continue;
        if (!kc.read_phys(m & kPfnMask, t.data(), 4096))
            return s;
        for (int j = 0; j < 512; j++) {
            uint64_t va =
                kKernelMap + (static_cast<uint64_t>(i) << 21) + (static_cast<uint64_t>(j) << 12);
            s.entries["pte[" + std::to_string(i) + "][" + std::to_string(j) + "] (" +
                      syms.name(va) + ")"] = t[static_cast<size_t>(j)] & ~kHwBits;
        }
    }
    s.ok = true;
    return s;
}

// Differences from `a` to `b`, as lines; `allowed` may excuse a text byte
// (by symbol) or an entry (by name and old/new value).
struct Diff {
    std::vector<std::string> bad, excused;
};
template <class TextOk, class EntryOk>
Diff diff(const guest::Kallsyms& syms, const Snapshot& a, const Snapshot& b, TextOk text_ok,
          EntryOk entry_ok) {
    Diff d;
    for (size_t i = 0; i < a.text.size() && i < b.text.size(); i++) {
        if (a.text[i] == b.text[i])
            continue;
        uint64_t addr = a.text_start + i;
        char l[160];
        std::snprintf(l, sizeof(l), "text %s: %02x -> %02x", syms.name(addr).c_str(), a.text[i],
                      b.text[i]);
        (text_ok(addr) ? d.excused : d.bad).push_back(l);
    }
    for (const auto& [k, v] : a.entries) {
        auto it = b.entries.find(k);
        uint64_t w = it == b.entries.end() ? ~0ULL : it->second;
        if (v == w)
            continue;
        char l[160];
        std::snprintf(l, sizeof(l), "%s: %llx -> %llx", k.c_str(),
                      static_cast<unsigned long long>(v), static_cast<unsigned long long>(w));
        (entry_ok(k, v, w) ? d.excused : d.bad).push_back(l);
    }
    for (const auto& [k, v] : b.entries)
        if (!a.entries.count(k))
            d.bad.push_back(k + ": new entry " + std::to_string(v));
    return d;
}

std::string lines(const std::vector<std::string>& v, size_t max = 12) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < max; i++)
        s += "  " + v[i] + "\n";
    if (v.size() > max)
        s += "  ... " + std::to_string(v.size() - max) + " more\n";
    return s;
}

// Loading any module (measured with drivers/net/dummy.ko, no kview) makes
// pages of the image that were freed after boot (seen: the padding after
// text and rodata, the init sections, the unused tail after .bss) read-only
// in the kernel's high mapping: module memory taken from those pages gets
// its permissions in every alias. Not kview's doing (kview changes no page
// permission anywhere): a change of the RW bit alone, of a 4 KiB entry
// outside kernel text, is excused, and printed.
struct ModuleLoading {
    uint64_t text[2];
    explicit ModuleLoading(const guest::Kallsyms& s) : text{s.at("_stext"), s.at("_etext")} {}
    bool operator()(const std::string& k, uint64_t a, uint64_t b) const {
        int i, j;
        if (std::sscanf(k.c_str(), "pte[%d][%d]", &i, &j) != 2 || (a ^ b) != 2) // _PAGE_RW only
            return false;
        uint64_t va =
            kKernelMap + (static_cast<uint64_t>(i) << 21) + (static_cast<uint64_t>(j) << 12);
        return va + 4096 <= text[0] || va >= text[1];
    }
};

std::string ko_path() {
    const char* k = std::getenv("KVIEW_KO");
    return k ? k : guest::default_ko();
}

// Loads the module again when a test that unloads it ends, however it ends.
struct ModuleBack {
    ~ModuleBack() {
        if (access("/sys/module/kview", F_OK) != 0)
            (void)guest::sh("insmod " + ko_path());
    }
};

// S: insmod changes nothing; views change nothing but the documented
// residuals; closing the views and rmmod give back the kernel as it was.
TEST(Footprint, SharedKernelIsUnchangedByKview) {
    guest::Kallsyms syms;
    ModuleBack back;
    ASSERT_EQ(guest::sh("rmmod kview").status, 0) << "a view still open before this test?";
    Snapshot none = snapshot(syms);
    ASSERT_TRUE(none.ok) << "cannot read kernel text and init_mm tables through /proc/kcore";
    std::string probes_none = guest::kprobes_list();
    auto r = guest::sh("insmod " + ko_path());
    ASSERT_EQ(r.status, 0) << r.out;

    Snapshot loaded = snapshot(syms);
    ASSERT_TRUE(loaded.ok);
    auto no = [](auto&&...) { return false; };
    ModuleLoading modules(syms);
    Diff d = diff(syms, none, loaded, no, modules);
    EXPECT_TRUE(d.bad.empty()) << "insmod alone changed the shared kernel:\n" << lines(d.bad);
    if (!d.excused.empty())
        std::printf("[ figures  ] module loading (any module does it):\n%s",
                    lines(d.excused).c_str());
    EXPECT_EQ(guest::kprobes_list(), probes_none) << "insmod registered a kprobe";

    // Views of every kind: entry, return and syscall hooks, fork and exec
    // following, and a view with a second page.
    Child p, q;
    {
        auto v1 = View::create(p.pid());
        auto v2 = View::create(q.pid(), KVIEW_VIEW_FOLLOW_FORK | KVIEW_VIEW_EXEC_REAPPLY);
        ASSERT_TRUE(v1.ok() && v2.ok());
        ASSERT_TRUE(v1.value().add_kprobe("vfs_read").ok());
        ASSERT_TRUE(v1.value().add_kretprobe("vfs_read").ok());
        ASSERT_TRUE(v1.value().add_syscall_enter("read").ok());
        ASSERT_TRUE(v1.value().add_syscall_exit("read").ok());
        ASSERT_TRUE(v1.value().add_kprobe("kfree").ok());
        ASSERT_TRUE(v2.value().add_kprobe("vfs_read").ok());
        ASSERT_TRUE(v2.value().add_kprobe("ksys_write").ok());
        p.reads(100);
        q.fork_reads(10);
        Snapshot live = snapshot(syms);
        ASSERT_TRUE(live.ok);
        // Residual 1: coherence hooks text_poke_memcpy() while private
        // pages exist: its fentry call site and the ftrace trampolines'
        // call slots in kernel text (ftrace's own patching).
        uint64_t tpm = syms.at("text_poke_memcpy");
        auto text_ok = [&](uint64_t a) {
            std::string n = syms.name(a);
            // (after its endbr64 on a kernel built with IBT)
            uint64_t call = tpm + (guest::kernel_ibt() ? 4 : 0);
            return (a >= call && a < call + 5) || n.rfind("ftrace_", 0) == 0;
        };
        // Residual 2 (PTI off only, docs/design.md): the 2 MiB region of a
        // hook loses its Global bit while hooked.
        bool pti = guest::sh("grep -qw pti /proc/cpuinfo").status == 0;
        auto entry_ok = [&](const std::string& k, uint64_t a, uint64_t b) {
            return (!pti && k.rfind("pmd[", 0) == 0 && (a ^ b) == kGlobal) || modules(k, a, b);
        };
        Diff dl = diff(syms, none, live, text_ok, entry_ok);
        EXPECT_TRUE(dl.bad.empty())
            << "live views changed the shared kernel beyond the documented residuals:\n"
            << lines(dl.bad);
        std::printf("[ figures  ] live views: %zu documented residual changes:\n%s",
                    dl.excused.size(), lines(dl.excused, 40).c_str());
    }
    sleep(2); // the coherence kprobe outlives the last private page by 1 s
    Snapshot closed = snapshot(syms);
    ASSERT_TRUE(closed.ok);
    d = diff(syms, none, closed, no, modules);
    EXPECT_TRUE(d.bad.empty()) << "closing every view left the shared kernel changed:\n"
                               << lines(d.bad);
    EXPECT_EQ(guest::kprobes_list(), probes_none) << "a kprobe outlived the views";

    ASSERT_EQ(guest::sh("rmmod kview").status, 0);
    Snapshot unloaded = snapshot(syms);
    ASSERT_TRUE(unloaded.ok);
    d = diff(syms, none, unloaded, no, modules);
    EXPECT_TRUE(d.bad.empty()) << "rmmod left the shared kernel changed:\n" << lines(d.bad);
}

// Per-CPU counts of the interrupts kview could cause: TLB shootdowns and
// function-call IPIs (with tlb_only, TLB shootdowns alone).
std::vector<uint64_t> ipis(bool tlb_only = false) {
    std::istringstream in(guest::read_file("/proc/interrupts"));
    std::string line;
    std::vector<uint64_t> n;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        std::string tag;
        l >> tag;
        if (tag != "TLB:" && (tlb_only || tag != "CAL:"))
            continue;
        uint64_t v;
        for (size_t cpu = 0; l >> v; cpu++) {
            if (n.size() <= cpu)
                n.resize(cpu + 1);
            n[cpu] += v;
        }
    }
    return n;
}

// IPIs sent to CPU 1, by the kernel's own ipi tracepoints (Linux 6.3+), in
// a trace instance of our own: the sender's call site says what sent each.
// Function-call IPIs actually sent only (the ones /proc/interrupts counts
// as CAL): the kernel traces those with the callback
// generic_smp_call_function_single_interrupt; a smp_call_function*()
// request is traced too, with its own callback, whether or not it ended in
// an interrupt, and a reschedule IPI has none. irq_work IPIs (the PREEMPT_RT
// scheduler's push IPIs, RCU's deferred quiescent states) are counted
// apart: kview queues irq_work only on the CPU it runs on (kview_reap_soon(),
// never irq_work_queue_on() another); its IPIs are TLB flushes, CPA flushes
// and text-patch syncs (smp_call_function*).
class IpiTrace {
  public:
    IpiTrace() {
        dir_ = guest::tracefs() + "/instances/kview-ipi";
        if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST)
            return;
        ok_ = guest::write_file(dir_ + "/events/ipi/ipi_send_cpu/filter", "cpu == 1") &&
              guest::write_file(dir_ + "/events/ipi/ipi_send_cpu/enable", "1") &&
              guest::write_file(dir_ + "/events/ipi/ipi_send_cpumask/enable", "1");
    }
    ~IpiTrace() {
        guest::write_file(dir_ + "/events/ipi/enable", "0");
        ::rmdir(dir_.c_str());
    }
    bool ok() const { return ok_; }
    void clear() const { // opening the buffer truncated empties it
        int fd = ::open((dir_ + "/trace").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd >= 0)
            ::close(fd);
    }
    // Since clear(): IPIs to CPU 1 from irq_work, and from anything else
    // (whose senders' call sites go to *senders).
    std::pair<uint64_t, uint64_t> count(std::map<std::string, int>* senders = nullptr) const {
        std::istringstream in(guest::read_file(dir_ + "/trace"));
        std::string line;
        uint64_t irq_work = 0, other = 0;
        while (std::getline(in, line)) {
            auto at = line.find("callsite=");
            if (at == std::string::npos || !to_cpu1(line) ||
                line.find("callback=generic_smp_call_function_single_interrupt") ==
                    std::string::npos)
                continue;
            if (line.compare(at + 9, 17, "irq_work_queue_on") == 0) {
                irq_work++;
                continue;
            }
            other++;
            if (senders) {
                auto comm = line.substr(0, line.find('-', line.find_first_not_of(' ')));
                (*senders)[comm.substr(comm.find_first_not_of(' ')) + ":" +
                           line.substr(at + 9, line.find(' ', at) - at - 9)]++;
            }
        }
        return {irq_work, other};
    }

  private:
    // "ipi_send_cpu: cpu=1 ..." (filtered) or "ipi_send_cpumask: cpumask=0-1 ...".
    static bool to_cpu1(const std::string& line) {
        if (line.find("ipi_send_cpu:") != std::string::npos)
            return true;
        auto at = line.find("cpumask=");
        if (at == std::string::npos)
            return false;
        std::istringstream list(line.substr(at + 8, line.find(' ', at) - at - 8));
        std::string range;
        while (std::getline(list, range, ',')) {
            unsigned lo = 0, hi = 0;
            auto dash = range.find('-');
            lo = static_cast<unsigned>(std::stoul(range.substr(0, dash)));
            hi = dash == std::string::npos
                     ? lo
                     : static_cast<unsigned>(std::stoul(range.substr(dash + 1)));
            if (lo <= 1 && 1 <= hi)
                return true;
        }
        return false;
    }
    std::string dir_;
    bool ok_ = false;
};

// Run on `cpu` only, or (-1) anywhere again.
void pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (cpu < 0 ? c < sysconf(_SC_NPROCESSORS_ONLN) : c == cpu)
            CPU_SET(c, &s);
    ASSERT_EQ(sched_setaffinity(0, sizeof(s), &s), 0);
}

// S: a CPU that runs only untraced work receives no IPI from kview. The
// traced process and this controller run on CPU 0; CPU 1 spins in user mode.
TEST(Footprint, UntracedCpuReceivesNoIpi) {
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        GTEST_SKIP() << "needs two CPUs";
    pid_t busy = fork();
    if (busy == 0) {
        pin(1);
        for (;;) // user mode only: no syscall, no kernel entry
            asm volatile("" ::: "memory");
    }
    pin(0);
    // Premise: without kview the spinning CPU receives (almost) no IPI.
    // Debian's 6.12-rt breaks it: its CPU 1 takes 5-36 function-call IPIs a
    // second with nothing else running, kview loaded or not (docs/compat.md).
    // There only TLB shootdowns, the IPIs kview's flushes are, can be
    // attributed, and are checked; function-call IPIs are printed beside
    // the same kernel's count over an equally long quiet window.
    auto quiet0 = ipis();
    usleep(2000 * 1000);
    auto quiet1 = ipis();
    ASSERT_GE(quiet0.size(), 2u) << "no TLB/CAL lines in /proc/interrupts";
    const uint64_t background = quiet1[1] - quiet0[1];
    bool noisy = background > 3;
    std::printf("[ figures  ] CPU1 (untraced) IPIs (TLB+CAL) in 2 s before any view: %llu%s\n",
                static_cast<unsigned long long>(background),
                noisy ? " (this kernel interrupts it anyway: TLB shootdowns checked only)" : "");
    Child p, anchor;
    // Activation: the first view while none lives patches kernel text (the
    // coherence kprobe, registered and, 1 s after the close, removed) and,
    // with PTI off, changes the Global bit of its region (a CPA flush): both
    // interrupt every CPU. Measured 37-40 on CPU 1; counted, bounded here.
    usleep(1500 * 1000); // an earlier test's coherence kprobe lingers 1 s
    auto first0 = ipis();
    {
        auto v = View::create(p.pid());
        ASSERT_TRUE(v.ok());
        ASSERT_TRUE(v.value().add_kprobe("vfs_read").ok());
        p.reads(10);
    }
    usleep(1500 * 1000);
    auto first1 = ipis();
    const uint64_t activation = first1[1] - first0[1];
    std::printf("[ figures  ] activation (first view, one hook, created and closed): IPIs on "
                "CPU1 (untraced) %llu\n",
                static_cast<unsigned long long>(activation));
    // A view that stays: coherence is already hooked, so the loop below does
    // not patch kernel text (that costs every CPU an IPI: docs/design.md).
    auto keep = View::create(anchor.pid());
    ASSERT_TRUE(keep.ok());
    ASSERT_TRUE(keep.value().add_kprobe("vfs_read").ok());
    ASSERT_TRUE(keep.value().add_kprobe("ksys_write").ok());
    usleep(200 * 1000);
    IpiTrace trace;
    trace.clear();
    auto before = ipis();
    auto before_tlb = ipis(true);
    const auto start = std::chrono::steady_clock::now();
    constexpr int kRounds = 20;
    for (int i = 0; i < kRounds; i++) {
        auto v = View::create(p.pid());
        ASSERT_TRUE(v.ok());
        ASSERT_TRUE(v.value().add_kprobe("vfs_read").ok());
        ASSERT_TRUE(v.value().add_kretprobe("vfs_read").ok());
        ASSERT_TRUE(v.value().add_kprobe("ksys_write").ok());
        p.reads(10);
    }
    const auto took = std::chrono::steady_clock::now() - start;
    auto after = ipis();
    auto after_tlb = ipis(true);
    std::map<std::string, int> senders;
    const auto [irq_work, traced] = trace.count(&senders);
    // The same kernel, no view activity, as long as the loop took.
    std::this_thread::sleep_for(took);
    auto idle = ipis();
    // The control: ordinary kernel work on CPU 0 without kview (a child
    // forked, reading, killed and reaped per round: RCU callbacks, timers,
    // kernel threads woken, as a view's life has).
    trace.clear();
    for (int i = 0; i < kRounds; i++) {
        Child c;
        c.reads(10);
    }
    const auto [control_irq_work, control_other] = trace.count();
    guest::kill_wait(busy);
    pin(-1);
    const uint64_t cpu0 = after[0] - before[0], cpu1 = after[1] - before[1];
    const uint64_t tlb1 = after_tlb.size() >= 2 ? after_tlb[1] - before_tlb[1] : 0;
    std::printf("[ figures  ] %d views x 3 hooks: IPIs (TLB+CAL) received: CPU0 (traced) %llu, "
                "CPU1 (untraced) %llu (TLB shootdowns %llu); CPU1 in as long without views: "
                "%llu\n",
                kRounds, static_cast<unsigned long long>(cpu0),
                static_cast<unsigned long long>(cpu1), static_cast<unsigned long long>(tlb1),
                static_cast<unsigned long long>(idle[1] - after[1]));
    if (trace.ok())
        std::printf("[ figures  ] ipi tracepoints, function-call IPIs sent to CPU1 during the "
                    "views: %llu (+ %llu irq_work); %d children forked, reading and reaped without "
                    "kview: "
                    "%llu (+ %llu irq_work)\n",
                    static_cast<unsigned long long>(traced),
                    static_cast<unsigned long long>(irq_work), kRounds,
                    static_cast<unsigned long long>(control_other),
                    static_cast<unsigned long long>(control_irq_work));
    // The kernel's own interrupts come in bursts (6.12-rt): one quiet window
    // before is not enough to call it quiet.
    noisy |= idle[1] - after[1] > 3;
    // Where the kernel says who sent each IPI, kview's (anything but
    // irq_work) are counted exactly, noisy kernel or not. On PREEMPT_RT the
    // views' life also makes the RT scheduler push-IPI CPU 1 through
    // irq_work (balance_rt, when CPU 0's RT kernel threads, woken by RCU and
    // timers, go back to sleep): measured 80-83 for 20 views, 13 for 20
    // forked children; printed above, a documented residual (docs/design.md
    // §7), not kview's own IPIs.
    if (trace.ok()) {
        std::string who;
        for (const auto& [sender, n] : senders)
            who += " " + sender + " x" + std::to_string(n);
        EXPECT_LE(traced, 3u) << "kview's activity sent IPIs to a CPU that never ran the traced "
                                 "process (ipi tracepoints, irq_work excluded):"
                              << who;
    }
    // Before scoped flushes: >= 5 per view (build, 3 hooks, unmap) = 100.
    EXPECT_LE(tlb1, 3u) << "kview's TLB flushes reached a CPU that never ran the traced process";
    if (!noisy) {
        EXPECT_LE(activation, 60u) << "the first view's life interrupts other CPUs more than "
                                      "the documented text patches and CPA flushes "
                                      "(docs/design.md §7)";
        EXPECT_LE(cpu1, 3u) << "kview interrupted a CPU that never ran the traced process";
    }
}

} // namespace
