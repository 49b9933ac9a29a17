// Traced per-event cost (dd bs=1 under a stock kprobe or a kview hook, the
// same BPF program) and attach latency.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/kview.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "kview/view.hpp"
#include "proc.hpp"
#include "samples.hpp"

#include "bench_skel.hpp"

namespace kview::bench {

const char* cost_name(CostCfg k) {
    switch (k) {
    case CostCfg::Control:
        return "control";
    case CostCfg::StockFtrace:
        return "stock kprobe at vfs_read+0 (ftrace call)";
    case CostCfg::StockOpt:
        return "stock kprobe at kview's address (optimized: jump)";
    case CostCfg::StockInt3:
        return "stock kprobe at kview's address (int3)";
    case CostCfg::Kview:
        return "kview";
    }
    return "?";
}

bool set_kprobes_optimization(bool on) {
    std::ofstream f("/proc/sys/debug/kprobes-optimization");
    f << (on ? "1\n" : "0\n");
    f.flush();
    return f.good();
}

namespace {

// The kprobes list line for sym+off, e.g. "... k  vfs_read+0x5  [OPTIMIZED]".
std::string kprobe_state(const std::string& where) {
    std::ifstream in("/sys/kernel/debug/kprobes/list");
    std::string line, want = where.substr(0, where.find('+'));
    while (std::getline(in, line))
        if (line.find(want) != std::string::npos)
            return line.substr(line.find(' ') + 1);
    return "not listed";
}

// dd bs=1 count=N, stopped right after its exec (PTRACE_TRACEME), so the
// view is made on dd's own address space and nothing but dd's run is timed.
// Its pid once stopped, or -1.
pid_t spawn_stopped_dd(const Params& p) {
    std::string count = "count=" + std::to_string(p.dd_count);
    pid_t pid = ::fork();
    if (pid == 0) {
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 2);
        ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
        if (!p.busybox.empty()) // icount: static, from tmpfs (no 9p wait)
            ::execl(p.busybox.c_str(), "dd", "if=/dev/zero", "of=/dev/null", "bs=1", count.c_str(),
                    nullptr);
        else
            ::execlp("dd", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", count.c_str(), nullptr);
        ::_exit(127);
    }
    int st = 0;
    if (pid < 0 || ::waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st))
        return -1;
    return pid;
}

// Puts configuration k's probe (none for the control) with skel's program
// on vfs_read for dd (pid): a stock kprobe in *link or a kview hook in view.
// "" on success, else why not.
std::string attach_cost_probe(Ctx& c, CostCfg k, pid_t pid, uint32_t int3_off, kview_bench* skel,
                              bpf_link** link, std::optional<View>& view) {
    if (k == CostCfg::StockFtrace || k == CostCfg::StockOpt || k == CostCfg::StockInt3) {
        // kprobes-optimization off keeps the stock probe an int3, like
        // kview's; on, the kernel replaces it by a jump after a few ticks.
        if (!set_kprobes_optimization(k != CostCfg::StockInt3))
            return "cannot set /proc/sys/debug/kprobes-optimization";
        uint32_t off = k == CostCfg::StockFtrace ? 0 : int3_off;
        LIBBPF_OPTS(bpf_kprobe_opts, o, .bpf_cookie = 2, .offset = off);
        *link = bpf_program__attach_kprobe_opts(skel->progs.count, "vfs_read", &o);
        if (!*link)
            return "attach kprobe vfs_read";
        ::usleep(200000); // the optimizer runs ~5 ticks after registration
        c.kprobe_state[cost_name(k)] = kprobe_state("vfs_read+" + std::to_string(off));
    } else if (k == CostCfg::Kview) {
        auto v = View::create(pid);
        if (!v)
            return v.error().message();
        view.emplace(std::move(v.value()));
        auto h =
            view->add_hook(KVIEW_HOOK_KPROBE, "vfs_read", 0, 2, bpf_program__fd(skel->progs.count));
        if (!h) {
            view.reset();
            return h.error().message();
        }
    }
    return "";
}

// What the program counted in counter slot 2, all CPUs.
uint64_t slot2_events(kview_bench* skel) {
    uint64_t events = 0;
    std::vector<uint64_t> vals(static_cast<size_t>(libbpf_num_possible_cpus()));
    uint32_t slot = 2;
    if (!bpf_map_lookup_elem(bpf_map__fd(skel->maps.counts), &slot, vals.data()))
        for (auto x : vals)
            events += x;
    return events;
}

} // namespace

// The sample: the time from releasing dd until it is reaped.
void sample_cost(Ctx& c, int rep, CostCfg k, uint32_t int3_off) {
    const std::string what = std::string("cost ") + cost_name(k) + ": ";
    pid_t pid = spawn_stopped_dd(c.p);
    if (pid < 0) {
        c.r.errors.push_back(what + "dd did not stop after exec");
        return;
    }
    auto fail = [&](const std::string& why) {
        c.r.errors.push_back(what + why);
        ::kill(pid, SIGKILL);
        ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
        ::waitpid(pid, nullptr, 0);
    };
    kview_bench* skel = kview_bench__open_and_load();
    if (!skel)
        return fail("load BPF object");
    bpf_link* link = nullptr;
    std::optional<View> view;
    if (auto why = attach_cost_probe(c, k, pid, int3_off, skel, &link, view); !why.empty()) {
        kview_bench__destroy(skel);
        return fail(why);
    }
    int st = 0;
    double t0 = now_s();
    ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
    ::waitpid(pid, &st, 0);
    double t = now_s() - t0;
    uint64_t events = slot2_events(skel);
    bpf_link__destroy(link);
    view.reset();
    kview_bench__destroy(skel);
    // Back to the default, or every later pre-eBPF (shared-text kprobe)
    // sample would stay an int3 while the first repetition's was optimized.
    if (k == CostCfg::StockInt3)
        set_kprobes_optimization(true);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        c.r.errors.push_back(what + "dd failed");
        return;
    }
    c.r.samples.push_back({"dd-cost", "seconds", "s", cost_name(k), 1, rep, t});
    c.r.samples.push_back(
        {"dd-cost", "events", "events", cost_name(k), 1, rep, static_cast<double>(events)});
}

// Attach latency: kview view + 1 / 16 hooks (with the program) vs libbpf
// kprobe attach of the same program to the same functions.
namespace {
const std::vector<std::string> kAttachSyms = {
    "vfs_read",          "vfs_write",          "ksys_read",        "ksys_write",
    "do_sys_openat2",    "do_filp_open",       "vfs_open",         "filp_close",
    "__x64_sys_read",    "__x64_sys_write",    "__x64_sys_openat", "__x64_sys_close",
    "__x64_sys_sendmsg", "__x64_sys_recvfrom", "__x64_sys_sendto", "__x64_sys_getpid"};

} // namespace

void sample_attach(Ctx& c, int rep) {
    kview_bench* skel = kview_bench__open_and_load();
    if (!skel) {
        c.r.errors.push_back("attach: load BPF object");
        return;
    }
    int fd = bpf_program__fd(skel->progs.count);
    for (size_t n : {size_t{1}, size_t{16}}) {
        double t0 = now_s();
        auto v = View::create(c.drivers[0]->pid());
        bool ok = v.ok();
        for (size_t i = 0; ok && i < n; i++) {
            auto h = v.value().add_hook(KVIEW_HOOK_KPROBE, kAttachSyms[i], 0, 2, fd);
            if (!h) {
                c.r.errors.push_back("attach kview " + kAttachSyms[i] + ": " + h.error().message());
                ok = false;
            }
        }
        double t_kview = now_s() - t0;
        if (ok) {
            auto st = v.value().stats();
            c.r.samples.push_back({"attach-" + std::to_string(n), "seconds", "s", "kview",
                                   static_cast<int>(n), rep, t_kview});
            if (st)
                c.r.samples.push_back({"attach-" + std::to_string(n), "bytes", "B", "kview",
                                       static_cast<int>(n), rep,
                                       static_cast<double>(st.value().bytes)});
        }
        t0 = now_s();
        std::vector<bpf_link*> links;
        for (size_t i = 0; i < n; i++) {
            LIBBPF_OPTS(bpf_kprobe_opts, o, .bpf_cookie = 2);
            bpf_link* l =
                bpf_program__attach_kprobe_opts(skel->progs.count, kAttachSyms[i].c_str(), &o);
            if (!l) {
                c.r.errors.push_back("attach libbpf " + kAttachSyms[i] + ": " +
                                     std::strerror(errno));
                break;
            }
            links.push_back(l);
        }
        double t_stock = now_s() - t0;
        if (links.size() == n)
            c.r.samples.push_back({"attach-" + std::to_string(n), "seconds", "s", "libbpf kprobe",
                                   static_cast<int>(n), rep, t_stock});
        for (auto* l : links)
            bpf_link__destroy(l);
    }
    kview_bench__destroy(skel);
}

} // namespace kview::bench
