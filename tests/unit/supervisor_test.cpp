// kview run's supervisor without the module: the perf attr and bpf attr
// decoding, the seccomp filter's classification (its program run through an
// interpreter, and installed for real in a child whose calls a test
// supervisor receives), the report.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kview/supervisor.hpp"

namespace sv = kview::supervise;

namespace {

const sv::Pmus kPmus{6, 7, 0};

perf_event_attr kprobe_attr(uint64_t name_ptr, uint64_t off, bool ret) {
    perf_event_attr a{};
    a.type = 6;
    a.size = sizeof(a);
    a.config = ret ? 1 : 0;
    a.config1 = name_ptr;
    a.config2 = off;
    return a;
}

TEST(Supervisor, ClassifiesPerfAttrs) {
    auto k = sv::classify_perf(kprobe_attr(0x1000, 0, false), kPmus);
    EXPECT_EQ(k.kind, sv::PerfRequest::Kprobe);
    EXPECT_FALSE(k.retprobe);
    EXPECT_EQ(k.name_ptr, 0x1000u);
    auto r = sv::classify_perf(kprobe_attr(0x2000, 0, true), kPmus);
    EXPECT_EQ(r.kind, sv::PerfRequest::Kprobe);
    EXPECT_TRUE(r.retprobe);
    // retprobe bit from format/retprobe, not always bit 0
    auto r5 = sv::classify_perf(kprobe_attr(0x2000, 0, false), sv::Pmus{6, 7, 5});
    EXPECT_FALSE(r5.retprobe);
    auto a = kprobe_attr(0x2000, 0, false);
    a.config = 1u << 5;
    EXPECT_TRUE(sv::classify_perf(a, sv::Pmus{6, 7, 5}).retprobe);
    auto addr = sv::classify_perf(kprobe_attr(0, 0xffffffff81000000ULL, false), kPmus);
    EXPECT_EQ(addr.kind, sv::PerfRequest::KprobeAddr);
    EXPECT_EQ(addr.offset, 0xffffffff81000000ULL);
    auto d = kprobe_attr(0x1000, 16, false);
    d.disabled = 1;
    auto dk = sv::classify_perf(d, kPmus);
    EXPECT_TRUE(dk.disabled);
    EXPECT_EQ(dk.offset, 16u);

    perf_event_attr o{};
    o.type = 7;
    EXPECT_EQ(sv::classify_perf(o, kPmus).kind, sv::PerfRequest::Uprobe);
    o.type = PERF_TYPE_TRACEPOINT;
    EXPECT_EQ(sv::classify_perf(o, kPmus).kind, sv::PerfRequest::Tracepoint);
    o.type = PERF_TYPE_SOFTWARE;
    o.config = PERF_COUNT_SW_BPF_OUTPUT;
    EXPECT_EQ(sv::classify_perf(o, kPmus).kind, sv::PerfRequest::Other);
    o.config = PERF_COUNT_SW_CPU_CLOCK;
    EXPECT_EQ(sv::classify_perf(o, kPmus).kind, sv::PerfRequest::Other);
    // no kprobe PMU known: nothing is a kprobe
    EXPECT_EQ(sv::classify_perf(kprobe_attr(0x1000, 0, false), sv::Pmus{}).kind,
              sv::PerfRequest::Other);
}

bpf_attr link_attr(uint32_t type, int target_fd = 5) {
    bpf_attr a{};
    a.link_create.prog_fd = 3;
    a.link_create.target_fd = static_cast<uint32_t>(target_fd);
    a.link_create.attach_type = type;
    return a;
}

TEST(Supervisor, ClassifiesBpfCommands) {
    auto pe = link_attr(BPF_PERF_EVENT, -1);
    auto v = sv::classify_bpf(BPF_LINK_CREATE, &pe, sizeof(pe), false);
    EXPECT_EQ(v.kind, sv::BpfVerdict::Refuse);
    EXPECT_EQ(v.err, EINVAL) << "libbpf falls back to PERF_EVENT_IOC_SET_BPF on EINVAL";
    EXPECT_FALSE(v.global);
    v = sv::classify_bpf(BPF_LINK_CREATE, &pe, sizeof(pe), true);
    EXPECT_EQ(v.err, EINVAL) << "even with --allow-global: our descriptors are no perf events";

    for (uint32_t t : {BPF_TRACE_KPROBE_MULTI, BPF_TRACE_FENTRY, BPF_TRACE_FEXIT, BPF_MODIFY_RETURN,
                       BPF_TRACE_RAW_TP, BPF_LSM_MAC}) {
        auto g = link_attr(t);
        auto r = sv::classify_bpf(BPF_LINK_CREATE, &g, sizeof(g), false);
        EXPECT_EQ(r.kind, sv::BpfVerdict::Refuse) << t;
        EXPECT_EQ(r.err, EOPNOTSUPP) << t << ": bpftrace falls back to one kprobe per function";
        EXPECT_TRUE(r.global) << t;
        auto allowed = sv::classify_bpf(BPF_LINK_CREATE, &g, sizeof(g), true);
        EXPECT_EQ(allowed.kind, sv::BpfVerdict::Pass) << t;
        EXPECT_TRUE(allowed.global) << t;
    }
    EXPECT_EQ(sv::classify_bpf(BPF_LINK_CREATE, &pe, sizeof(pe), false).what,
              "BPF_LINK_CREATE(perf_event, fd -1)");
    auto cg = link_attr(BPF_CGROUP_INET_INGRESS);
    EXPECT_EQ(sv::classify_bpf(BPF_LINK_CREATE, &cg, sizeof(cg), false).kind, sv::BpfVerdict::Pass);
    EXPECT_FALSE(sv::classify_bpf(BPF_LINK_CREATE, &cg, sizeof(cg), false).global);
    auto raw = sv::classify_bpf(BPF_RAW_TRACEPOINT_OPEN, nullptr, 0, false);
    EXPECT_EQ(raw.kind, sv::BpfVerdict::Refuse);
    EXPECT_TRUE(raw.global);
    bpf_attr load{};
    load.prog_type = BPF_PROG_TYPE_KPROBE;
    EXPECT_EQ(sv::classify_bpf(BPF_PROG_LOAD, &load, sizeof(load), false).kind,
              sv::BpfVerdict::Pass);
    load.prog_type = BPF_PROG_TYPE_TRACING;
    load.expected_attach_type = BPF_TRACE_FENTRY;
    auto fl = sv::classify_bpf(BPF_PROG_LOAD, &load, sizeof(load), false);
    EXPECT_EQ(fl.kind, sv::BpfVerdict::Refuse) << "fentry_can_attach() must fail: kprobes then";
    EXPECT_EQ(fl.what, "BPF_PROG_LOAD(fentry)");
    EXPECT_EQ(sv::classify_bpf(BPF_PROG_LOAD, &load, sizeof(load), true).kind,
              sv::BpfVerdict::Pass);
    load.expected_attach_type = BPF_TRACE_ITER;
    EXPECT_EQ(sv::classify_bpf(BPF_PROG_LOAD, &load, sizeof(load), false).kind,
              sv::BpfVerdict::Pass);
    EXPECT_EQ(sv::classify_bpf(BPF_LINK_CREATE, &pe, 8, false).kind, sv::BpfVerdict::Pass)
        << "too short to name an attach type: the kernel refuses it";
}

TEST(Supervisor, GlobalProbeFiles) {
    EXPECT_TRUE(sv::is_global_probe_file("/sys/kernel/debug/tracing/kprobe_events"));
    EXPECT_TRUE(sv::is_global_probe_file("/sys/kernel/tracing/dynamic_events"));
    EXPECT_TRUE(sv::is_global_probe_file("kprobe_events"));
    EXPECT_FALSE(sv::is_global_probe_file("/sys/kernel/tracing/uprobe_events"));
    EXPECT_FALSE(sv::is_global_probe_file("/sys/kernel/tracing/kprobe_events_x"));
    EXPECT_FALSE(sv::is_global_probe_file("/tmp/kprobe_events/x"));
}

uint32_t verdict(int nr, std::initializer_list<uint64_t> a, uint32_t arch = AUDIT_ARCH_X86_64) {
    uint64_t args[6] = {};
    size_t i = 0;
    for (auto v : a)
        args[i++] = v;
    return sv::run_filter(sv::build_filter(), arch, nr, args);
}

TEST(Supervisor, FilterClassifiesSyscalls) {
    const uint32_t notif = SECCOMP_RET_USER_NOTIF, allow = SECCOMP_RET_ALLOW;
    EXPECT_EQ(verdict(__NR_perf_event_open, {0, static_cast<uint64_t>(-1), 0}), notif);
    EXPECT_EQ(verdict(__NR_bpf, {BPF_LINK_CREATE}), notif);
    EXPECT_EQ(verdict(__NR_bpf, {BPF_RAW_TRACEPOINT_OPEN}), notif);
    EXPECT_EQ(verdict(__NR_bpf, {BPF_PROG_LOAD}), notif) << "fentry programs are refused at load";
    EXPECT_EQ(verdict(__NR_bpf, {BPF_MAP_CREATE}), allow);
    EXPECT_EQ(verdict(__NR_bpf, {BPF_MAP_LOOKUP_ELEM}), allow);
    EXPECT_EQ(verdict(__NR_bpf, {(1ULL << 32) | BPF_MAP_CREATE}), allow) << "int cmd: low word";
    EXPECT_EQ(verdict(__NR_openat, {0, 0, O_RDONLY}), allow);
    EXPECT_EQ(verdict(__NR_openat, {0, 0, O_RDONLY | O_CLOEXEC}), allow);
    EXPECT_EQ(verdict(__NR_openat, {0, 0, O_WRONLY}), notif);
    EXPECT_EQ(verdict(__NR_openat, {0, 0, O_RDWR | O_CLOEXEC}), notif);
    EXPECT_EQ(verdict(__NR_openat, {0, 0, O_RDONLY | O_TRUNC}), notif)
        << "truncating kprobe_events clears it";
    EXPECT_EQ(verdict(__NR_open, {0, O_WRONLY | O_APPEND}), notif);
    EXPECT_EQ(verdict(__NR_open, {0, O_RDONLY}), allow);
    EXPECT_EQ(verdict(__NR_openat2, {0, 0, 0, 24}), notif);
    EXPECT_EQ(verdict(__NR_read, {0}), allow);
    EXPECT_EQ(verdict(__NR_ioctl, {3, 0x2401}), allow) << "PERF_EVENT_IOC_* go to the module";
    EXPECT_EQ(verdict(__NR_perf_event_open | 0x40000000, {0}), SECCOMP_RET_ERRNO | ENOSYS) << "x32";
    EXPECT_EQ(verdict(336, {0}, AUDIT_ARCH_I386), SECCOMP_RET_ERRNO | ENOSYS) << "i386";
}

// The real filter in a child: its trapped calls reach us in order, the
// others never do, and our answers are what it sees.
TEST(Supervisor, FilterTrapsForReal) {
    int sp[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(sp[0]);
        int fd = sv::install_filter();
        if (fd < 0 || !sv::send_listener(sp[1], fd))
            _exit(100);
        close(fd);
        perf_event_attr a = kprobe_attr(0x1234, 0, false);
        // answered ENOENT by the test, through for the rest
        long r1 = syscall(__NR_perf_event_open, &a, -1, 0, -1, 0);
        int e1 = errno;
        if (r1 != -1 || e1 != ENOENT)
            _exit(101);
        int ro = open("/proc/self/status", O_RDONLY); // not trapped
        if (ro < 0)
            _exit(102);
        close(ro);
        char path[] = "/tmp/kview-unit-XXXXXX";
        int w = mkstemp(path); // O_RDWR: trapped, continued
        if (w < 0)
            _exit(103);
        close(w);
        unlink(path);
        bpf_attr l{};
        l.link_create.attach_type = BPF_PERF_EVENT;
        long r3 = syscall(__NR_bpf, BPF_LINK_CREATE, &l, sizeof(l));
        _exit(r3 == -1 && errno == EINVAL ? 0 : 104);
    }
    close(sp[1]);
    auto lfd = sv::receive_listener(sp[0]);
    close(sp[0]);
    if (!lfd.ok()) {
        int st = 0;
        waitpid(child, &st, 0);
        GTEST_SKIP() << "no seccomp user notification here: " << lfd.error().message()
                     << " (child status " << st << ")";
    }
    std::vector<int> seen;
    for (int i = 0; i < 3; i++) {
        seccomp_notif n{};
        ASSERT_EQ(ioctl(lfd.value().get(), SECCOMP_IOCTL_NOTIF_RECV, &n), 0) << strerror(errno);
        seen.push_back(static_cast<int>(n.data.nr));
        seccomp_notif_resp resp{};
        resp.id = n.id;
        if (n.data.nr == __NR_perf_event_open)
            resp.error = -ENOENT;
        else if (n.data.nr == __NR_bpf)
            resp.error = -EINVAL;
        else
            resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ASSERT_EQ(ioctl(lfd.value().get(), SECCOMP_IOCTL_NOTIF_SEND, &resp), 0) << strerror(errno);
    }
    int st = 0;
    ASSERT_EQ(waitpid(child, &st, 0), child);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
    EXPECT_EQ(seen, (std::vector<int>{__NR_perf_event_open, __NR_openat, __NR_bpf}));
}

TEST(Supervisor, ReportFoldsAndCounts) {
    std::vector<sv::Attach> at = {
        {sv::Attach::Private, "kprobe:vfs_read", {}, 0, 0},
        {sv::Attach::Private, "kretprobe:vfs_read", {}, 0, 1},
        {sv::Attach::Refused, "BPF_LINK_CREATE(kprobe_multi)", "a global attach", EOPNOTSUPP, 0},
        {sv::Attach::Refused, "BPF_LINK_CREATE(kprobe_multi)", "a global attach", EOPNOTSUPP, 0},
        {sv::Attach::Blocked, "write /sys/kernel/tracing/kprobe_events", "read-only", 0, 0},
    };
    kview::ViewStats st;
    st.id = 4;
    st.pid = 99;
    st.live = false;
    st.hits = 30;
    kview::HookStats h0;
    h0.id = 0;
    h0.hits = 20;
    h0.prog_runs = 20;
    kview::HookStats h1;
    h1.id = 1;
    h1.hits = 10;
    h1.prog_runs = 9;
    st.hooks = {h0, h1};
    std::string out = sv::render_report(at, &st);
    EXPECT_NE(out.find("kview run: 2 private, 2 refused, 0 global, 1 blocked"), std::string::npos)
        << out;
    EXPECT_NE(out.find("x2 EOPNOTSUPP: a global attach"), std::string::npos) << out;
    EXPECT_NE(
        out.find("kretprobe:vfs_read               private       1           10            9"),
        std::string::npos)
        << out;
    EXPECT_NE(out.find("view 4 pid 99 ended: 30 hits, 0 in other contexts, 0 from other processes"),
              std::string::npos)
        << out;
    size_t lines = 0;
    for (char c : out)
        lines += c == '\n';
    EXPECT_EQ(lines, 7u) << "summary, header, 4 rows (the refusal folded), view line\n" << out;
    EXPECT_EQ(sv::render_report({}, nullptr),
              "kview run: 0 private, 0 refused, 0 global, 0 blocked attach(es)\n");
}

TEST(Supervisor, ReadsPmusFromSysfs) {
    char dir[] = "/tmp/kview-pmu-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string d = dir;
    ASSERT_EQ(system(("mkdir -p " + d + "/kprobe/format " + d + "/uprobe && echo 6 > " + d +
                      "/kprobe/type && echo config:0 > " + d +
                      "/kprobe/format/retprobe && echo 7 > " + d + "/uprobe/type")
                         .c_str()),
              0);
    auto p = sv::read_pmus(d);
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_EQ(p.value().kprobe, 6u);
    EXPECT_EQ(p.value().uprobe, 7u);
    EXPECT_EQ(p.value().retprobe_bit, 0u);
    auto none = sv::read_pmus(d + "/nothing");
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code, ENOENT);
    EXPECT_EQ(system(("rm -rf " + d).c_str()), 0);
}

// tracefs events/syscalls/*/id -> event names; sys_enter_/sys_exit_ names
// -> the module's syscall hook kinds.
TEST(Supervisor, SyscallTracepoints) {
    char dir[] = "/tmp/kview-events-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string d = dir;
    ASSERT_EQ(
        system(("mkdir -p " + d + "/syscalls/sys_enter_openat " + d + "/syscalls/sys_exit_read " +
                d + "/syscalls/enable && echo 631 > " + d +
                "/syscalls/sys_enter_openat/id && echo 712 > " + d + "/syscalls/sys_exit_read/id")
                   .c_str()),
        0);
    auto m = sv::read_syscall_tracepoints(d);
    EXPECT_EQ(m,
              (std::map<uint64_t, std::string>{{631, "sys_enter_openat"}, {712, "sys_exit_read"}}));
    EXPECT_TRUE(sv::read_syscall_tracepoints(d + "/nothing").empty());
    EXPECT_EQ(system(("rm -rf " + d).c_str()), 0);

    uint32_t kind = 0;
    std::string sys;
    ASSERT_TRUE(sv::parse_syscall_event("sys_enter_openat", kind, sys));
    EXPECT_EQ(kind, unsigned{KVIEW_HOOK_SYSCALL_ENTER});
    EXPECT_EQ(sys, "openat");
    ASSERT_TRUE(sv::parse_syscall_event("sys_exit_read", kind, sys));
    EXPECT_EQ(kind, unsigned{KVIEW_HOOK_SYSCALL_EXIT});
    EXPECT_EQ(sys, "read");
    for (const char* bad : {"sys_enter_", "sys_exit_", "sched_switch", "enable", ""})
        EXPECT_FALSE(sv::parse_syscall_event(bad, kind, sys)) << bad;
}

} // namespace
