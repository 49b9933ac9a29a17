#include "kview/supervisor.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

namespace kview::supervise {
namespace {

int64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

bool read_u32_file(const std::string& path, uint32_t& out) {
    std::ifstream f(path);
    unsigned long v = 0;
    if (!(f >> v))
        return false;
    out = static_cast<uint32_t>(v);
    return true;
}

// "config:N" (kprobe/format/retprobe)
bool read_config_bit(const std::string& path, uint32_t& bit) {
    std::ifstream f(path);
    std::string s;
    if (!(f >> s) || s.rfind("config:", 0) != 0)
        return false;
    bit = static_cast<uint32_t>(std::strtoul(s.c_str() + 7, nullptr, 10));
    return bit < 64;
}

// The tool's memory: process_vm_readv, never across a page it may not have.
bool read_mem(pid_t pid, uint64_t addr, void* buf, size_t len) {
    iovec local{buf, len};
    iovec remote{reinterpret_cast<void*>(addr), len};
    return process_vm_readv(pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

// A NUL-terminated string of at most max - 1 characters; false if longer or unreadable.
bool read_string(pid_t pid, uint64_t addr, size_t max, std::string& out) {
    out.clear();
    char buf[256];
    while (out.size() < max) {
        size_t in_page = 4096 - (addr & 4095);
        size_t n = std::min({in_page, sizeof(buf), max - out.size()});
        if (!read_mem(pid, addr, buf, n))
            return false;
        const char* nul = static_cast<const char*>(std::memchr(buf, 0, n));
        if (nul) {
            out.append(buf, static_cast<size_t>(nul - buf));
            return true;
        }
        out.append(buf, n);
        addr += n;
    }
    return false;
}

// The module defining kernel function sym ("" if built in or unknown).
std::string module_of(const std::string& sym) {
    std::ifstream f("/proc/kallsyms");
    std::string addr, type, name, mod;
    for (std::string line; std::getline(f, line);) {
        size_t p = line.find(' ', line.find(' ') + 1);
        if (p == std::string::npos || line.compare(p + 1, sym.size(), sym) != 0)
            continue;
        size_t end = p + 1 + sym.size();
        if (end < line.size() && line[end] == '\t' && line.compare(end + 1, 1, "[") == 0)
            return line.substr(end + 2, line.find(']', end) - end - 2);
    }
    return {};
}

// One instruction of the filter, with absolute jump targets until resolved.
struct Insn {
    uint16_t code;
    uint32_t jt, jf; // absolute indices (conditional jumps, JA)
    uint32_t k;
};

constexpr uint32_t kArgLow(int i) {
    return static_cast<uint32_t>(offsetof(seccomp_data, args) + 8 * static_cast<size_t>(i));
}

} // namespace

Result<Pmus> read_pmus(const std::string& dir) {
    Pmus p;
    if (!read_u32_file(dir + "/kprobe/type", p.kprobe))
        return Error{ENOENT, "read " + dir + "/kprobe/type",
                     "the kernel has no kprobe PMU (CONFIG_KPROBE_EVENTS)"};
    if (!read_config_bit(dir + "/kprobe/format/retprobe", p.retprobe_bit))
        return Error{EINVAL, "read " + dir + "/kprobe/format/retprobe", "expected config:N"};
    if (!read_u32_file(dir + "/uprobe/type", p.uprobe))
        p.uprobe = 0;
    return p;
}

PerfRequest classify_perf(const perf_event_attr& attr, const Pmus& pmus) {
    PerfRequest r;
    r.type = attr.type;
    r.config = attr.config;
    r.disabled = attr.disabled;
    if (pmus.kprobe && attr.type == pmus.kprobe) {
        r.retprobe = (attr.config >> pmus.retprobe_bit) & 1;
        if (attr.config1) { // kprobe_func
            r.kind = PerfRequest::Kprobe;
            r.name_ptr = attr.config1;
            r.offset = attr.config2; // probe_offset
        } else {
            r.kind = PerfRequest::KprobeAddr;
            r.offset = attr.config2; // kprobe_addr
        }
    } else if (pmus.uprobe && attr.type == pmus.uprobe) {
        r.kind = PerfRequest::Uprobe;
    } else if (attr.type == PERF_TYPE_TRACEPOINT) {
        r.kind = PerfRequest::Tracepoint;
    }
    return r;
}

BpfVerdict classify_bpf(int cmd, const void* attr, size_t len, bool allow_global) {
    BpfVerdict v;
    auto global = [&](std::string what) {
        v.what = std::move(what);
        v.global = true;
        if (!allow_global) {
            v.kind = BpfVerdict::Refuse;
            v.err = EOPNOTSUPP;
        }
        return v;
    };
    if (cmd == BPF_RAW_TRACEPOINT_OPEN)
        return global("BPF_RAW_TRACEPOINT_OPEN");
    if (cmd == BPF_PROG_LOAD) {
        // fentry/fexit programs attach globally; refusing their load is what
        // makes libbpf tools (fentry_can_attach) fall back to kprobes
        uint32_t prog_type = 0, eat = 0;
        const size_t eat_off = offsetof(bpf_attr, expected_attach_type);
        if (len < eat_off + 4)
            return v;
        std::memcpy(&prog_type, attr, 4);
        std::memcpy(&eat, static_cast<const char*>(attr) + eat_off, 4);
        if (prog_type == BPF_PROG_TYPE_LSM)
            return global("BPF_PROG_LOAD(lsm)");
        if (prog_type != BPF_PROG_TYPE_TRACING)
            return v;
        if (eat == BPF_TRACE_FENTRY)
            return global("BPF_PROG_LOAD(fentry)");
        if (eat == BPF_TRACE_FEXIT)
            return global("BPF_PROG_LOAD(fexit)");
        if (eat == BPF_MODIFY_RETURN)
            return global("BPF_PROG_LOAD(fmod_ret)");
        return v;
    }
    if (cmd != BPF_LINK_CREATE || len < 12)
        return v;
    uint32_t target_fd = 0, type = 0;
    std::memcpy(&target_fd, static_cast<const char*>(attr) + 4, 4);
    std::memcpy(&type, static_cast<const char*>(attr) + 8, 4);
    if (type == BPF_PERF_EVENT) {
        // libbpf's feature probe; EINVAL makes it use PERF_EVENT_IOC_SET_BPF
        v.kind = BpfVerdict::Refuse;
        v.err = EINVAL;
        v.what =
            "BPF_LINK_CREATE(perf_event, fd " + std::to_string(static_cast<int>(target_fd)) + ")";
        return v;
    }
    static const std::pair<uint32_t, const char*> kGlobal[] = {
        {BPF_TRACE_KPROBE_MULTI, "kprobe_multi"},
        {BPF_TRACE_FENTRY, "fentry"},
        {BPF_TRACE_FEXIT, "fexit"},
        {BPF_MODIFY_RETURN, "fmod_ret"},
        {BPF_TRACE_RAW_TP, "raw_tp"},
        {BPF_LSM_MAC, "lsm"},
    };
    for (const auto& [t, name] : kGlobal)
        if (t == type)
            return global(std::string("BPF_LINK_CREATE(") + name + ")");
    return v;
}

std::map<uint64_t, std::string> read_syscall_tracepoints(const std::string& events) {
    std::map<uint64_t, std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(events + "/syscalls", ec)) {
        std::ifstream f(e.path() / "id");
        uint64_t id = 0;
        if (f >> id)
            out[id] = e.path().filename().string();
    }
    return out;
}

bool parse_syscall_event(const std::string& event, uint32_t& kind, std::string& syscall) {
    for (const auto& [prefix, k] :
         {std::pair<std::string, uint32_t>{"sys_enter_", KVIEW_HOOK_SYSCALL_ENTER},
          {"sys_exit_", KVIEW_HOOK_SYSCALL_EXIT}}) {
        if (event.size() > prefix.size() && event.rfind(prefix, 0) == 0) {
            kind = k;
            syscall = event.substr(prefix.size());
            return true;
        }
    }
    return false;
}

bool is_global_probe_file(const std::string& path) {
    size_t slash = path.find_last_of('/');
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    return base == "kprobe_events" || base == "dynamic_events";
}

std::vector<sock_filter> build_filter() {
    enum : uint32_t {
        kNotif = 19,
        kErrno = 20,
        kAllow = 21,
        kBpf = 10,
        kOpenat = 14,
        kOpen = 16,
        kFlags = 17
    };
    const uint16_t ld = BPF_LD | BPF_W | BPF_ABS, jeq = BPF_JMP | BPF_JEQ | BPF_K,
                   jge = BPF_JMP | BPF_JGE | BPF_K, ret = BPF_RET | BPF_K;
    const std::vector<Insn> prog = {
        /* 0 */ {ld, 0, 0, offsetof(seccomp_data, arch)},
        /* 1 */ {jeq, 2, kErrno, AUDIT_ARCH_X86_64},
        /* 2 */ {ld, 0, 0, offsetof(seccomp_data, nr)},
        /* 3 */ {jge, kErrno, 4, 0x40000000u}, // x32: none of ours
        /* 4 */ {jeq, kNotif, 5, __NR_perf_event_open},
        /* 5 */ {jeq, kBpf, 6, __NR_bpf},
        /* 6 */ {jeq, kOpenat, 7, __NR_openat},
        /* 7 */ {jeq, kOpen, 8, __NR_open},
        /* 8 */ {jeq, kNotif, 9, __NR_openat2},
        /* 9 */ {ret, 0, 0, SECCOMP_RET_ALLOW},
        /* 10 kBpf */ {ld, 0, 0, kArgLow(0)},
        /* 11 */ {jeq, kNotif, 12, BPF_LINK_CREATE},
        /* 12 */ {jeq, kNotif, 13, BPF_RAW_TRACEPOINT_OPEN},
        /* 13 */ {jeq, kNotif, kAllow, BPF_PROG_LOAD},
        /* 14 kOpenat */ {ld, 0, 0, kArgLow(2)},
        /* 15 */ {BPF_JMP | BPF_JA, kFlags, kFlags, 0},
        /* 16 kOpen */ {ld, 0, 0, kArgLow(1)},
        /* 17 kFlags */ {BPF_ALU | BPF_AND | BPF_K, 0, 0, O_ACCMODE | O_TRUNC},
        /* 18 */ {jeq, kAllow, kNotif, 0},
        /* 19 kNotif */ {ret, 0, 0, SECCOMP_RET_USER_NOTIF},
        /* 20 kErrno */ {ret, 0, 0, SECCOMP_RET_ERRNO | ENOSYS},
        /* 21 kAllow */ {ret, 0, 0, SECCOMP_RET_ALLOW},
    };
    std::vector<sock_filter> out;
    for (uint32_t pc = 0; pc < prog.size(); pc++) {
        const Insn& i = prog[pc];
        sock_filter f{i.code, 0, 0, i.k};
        if (BPF_CLASS(i.code) == BPF_JMP && BPF_OP(i.code) == BPF_JA) {
            f.k = i.jt - pc - 1;
        } else if (BPF_CLASS(i.code) == BPF_JMP) {
            f.jt = static_cast<uint8_t>(i.jt - pc - 1);
            f.jf = static_cast<uint8_t>(i.jf - pc - 1);
        }
        out.push_back(f);
    }
    return out;
}

uint32_t run_filter(const std::vector<sock_filter>& prog, uint32_t arch, int nr,
                    const uint64_t (&args)[6]) {
    seccomp_data d{};
    d.nr = nr;
    d.arch = arch;
    std::memcpy(d.args, args, sizeof(d.args));
    uint32_t a = 0;
    for (size_t pc = 0; pc < prog.size(); pc++) {
        const sock_filter& f = prog[pc];
        switch (f.code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (f.k + 4 > sizeof(d))
                return SECCOMP_RET_KILL_PROCESS;
            std::memcpy(&a, reinterpret_cast<const char*>(&d) + f.k, 4);
            break;
        case BPF_ALU | BPF_AND | BPF_K:
            a &= f.k;
            break;
        case BPF_JMP | BPF_JA:
            pc += f.k;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += a == f.k ? f.jt : f.jf;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
            pc += a >= f.k ? f.jt : f.jf;
            break;
        case BPF_RET | BPF_K:
            return f.k;
        default:
            return SECCOMP_RET_KILL_PROCESS; // not an instruction build_filter() emits
        }
    }
    return SECCOMP_RET_KILL_PROCESS;
}

const char* attach_kind_name(Attach::Kind k) {
    switch (k) {
    case Attach::Private:
        return "private";
    case Attach::Refused:
        return "refused";
    case Attach::Global:
        return "GLOBAL";
    case Attach::Blocked:
        return "blocked";
    }
    return "?";
}

std::string render_report(const std::vector<Attach>& attaches, const ViewStats* stats) {
    size_t count[4] = {};
    // identical attempts folded, first-seen order kept
    std::vector<std::pair<const Attach*, size_t>> rows;
    std::map<std::tuple<int, std::string, std::string>, size_t> seen;
    for (const auto& a : attaches) {
        count[a.kind]++;
        if (a.kind == Attach::Private) {
            rows.emplace_back(&a, 1);
            continue;
        }
        auto key = std::make_tuple(static_cast<int>(a.kind), a.what, a.reason);
        auto it = seen.find(key);
        if (it != seen.end()) {
            rows[it->second].second++;
        } else {
            seen[key] = rows.size();
            rows.emplace_back(&a, 1);
        }
    }
    std::string out;
    char line[512];
    std::snprintf(line, sizeof(line),
                  "kview run: %zu private, %zu refused, %zu global, %zu blocked attach(es)\n",
                  count[Attach::Private], count[Attach::Refused], count[Attach::Global],
                  count[Attach::Blocked]);
    out += line;
    if (rows.empty())
        return out;
    std::snprintf(line, sizeof(line), "%-32s %-8s %6s %12s %12s  %s\n", "ATTACH", "RESULT", "HOOK",
                  "HITS", "PROG_RUNS", "NOTE");
    out += line;
    for (const auto& [a, n] : rows) {
        std::string hook = "-", hits = "-", runs = "-";
        if (a->kind == Attach::Private) {
            hook = std::to_string(a->hook_id);
            for (const auto& h : stats ? stats->hooks : std::vector<HookStats>{})
                if (h.id == a->hook_id) {
                    hits = std::to_string(h.hits);
                    runs = std::to_string(h.prog_runs);
                }
        }
        std::string note = a->reason;
        if (a->kind == Attach::Refused && a->err)
            note = std::string(strerrorname_np(a->err) ? strerrorname_np(a->err) : "E?") +
                   (note.empty() ? "" : ": " + note);
        if (n > 1)
            note = "x" + std::to_string(n) + (note.empty() ? "" : " " + note);
        std::snprintf(line, sizeof(line), "%-32s %-8s %6s %12s %12s  %s\n", a->what.c_str(),
                      attach_kind_name(a->kind), hook.c_str(), hits.c_str(), runs.c_str(),
                      note.c_str());
        out += line;
    }
    if (stats) {
        std::snprintf(line, sizeof(line),
                      "view %u pid %d %s: %llu hits, %llu in other contexts, %llu from other "
                      "processes\n",
                      stats->id, stats->pid, stats->live ? "live" : "ended",
                      static_cast<unsigned long long>(stats->hits),
                      static_cast<unsigned long long>(stats->other_hits),
                      static_cast<unsigned long long>(stats->foreign_mm_hits));
        out += line;
    }
    return out;
}

int install_filter() {
    auto filter = build_filter();
    sock_fprog prog{static_cast<unsigned short>(filter.size()), filter.data()};
    long lfd =
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (lfd < 0 && errno == EACCES && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
        lfd =
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    return static_cast<int>(lfd);
}

bool send_listener(int sock, int fd) {
    char cbuf[CMSG_SPACE(sizeof(int))] = {};
    char byte = 'L';
    iovec iov{&byte, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, 0) == 1;
}

void exec_tool(const ToolSpec& spec, int sock, pid_t parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); // kview gone: the tool goes, its hooks with it
    if (getppid() != parent)
        _exit(127);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    if (!spec.allow_global) {
        if (unshare(CLONE_NEWNS) != 0 ||
            mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
            std::fprintf(stderr, "kview run: own mount namespace: %s\n", std::strerror(errno));
            return;
        }
        for (const char* dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
            for (const char* f : {"kprobe_events", "dynamic_events"}) {
                std::string path = std::string(dir) + "/" + f;
                if (access(path.c_str(), F_OK) != 0)
                    continue;
                if (mount(spec.blocker.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
                    mount(nullptr, path.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY,
                          nullptr) != 0) {
                    std::fprintf(stderr, "kview run: make %s read-only: %s\n", path.c_str(),
                                 std::strerror(errno));
                    return;
                }
            }
        }
    }
    int fd = install_filter();
    if (fd < 0) {
        std::fprintf(stderr, "kview run: seccomp filter: %s\n", std::strerror(errno));
        return;
    }
    if (!send_listener(sock, fd)) {
        std::fprintf(stderr, "kview run: pass the listener: %s\n", std::strerror(errno));
        return;
    }
    close(fd);
    close(sock);
    for (const auto& e : spec.env)
        putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (const auto& a : spec.argv)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "kview run: %s: %s\n", argv[0], std::strerror(errno));
}

Result<Fd> receive_listener(int sock) {
    char cbuf[CMSG_SPACE(sizeof(int))] = {};
    char byte = 0;
    iovec iov{&byte, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno_error("receive the tool's seccomp listener");
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (n != 1 || !c || c->cmsg_type != SCM_RIGHTS)
        return Error{EPROTO, "receive the tool's seccomp listener",
                     "the tool did not start (see its message above)"};
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return Fd(fd);
}

struct Supervisor::Answer {
    enum { Continue, Errno, AddFd } kind = Continue;
    int err = 0;
    Fd fd;
    bool cloexec = false;
};

void Supervisor::record(Attach a) {
    if (a.kind == Attach::Private)
        private_++;
    attaches_.push_back(std::move(a));
}

Supervisor::Answer Supervisor::refuse_or_global(Attach a, int err) {
    Answer ans;
    last_attach_ms_ = now_ms();
    if (allow_global_) {
        a.kind = Attach::Global;
        a.reason = "attached globally (--allow-global): " + a.reason;
    } else {
        a.kind = Attach::Refused;
        a.err = err;
        ans.kind = Answer::Errno;
        ans.err = err;
    }
    record(std::move(a));
    return ans;
}

// syscalls:sys_enter_NAME / sys_exit_NAME: a hook descriptor on syscall
// NAME, which takes the tool's tracepoint program (module ABI 1.2). The
// kernel runs every program attached to a tracepoint on each of its hits,
// whatever the event's pid and cpu: one hook per open does the same.
Supervisor::Answer Supervisor::on_tracepoint(const seccomp_notif& n, const PerfRequest& r) {
    Answer ans;
    if (!syscall_tps_read_) {
        for (const char* dir : {"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"})
            if (syscall_tps_.empty())
                syscall_tps_ = read_syscall_tracepoints(dir);
        syscall_tps_read_ = true;
    }
    auto it = syscall_tps_.find(r.config);
    uint32_t kind = 0;
    std::string sys;
    if (it == syscall_tps_.end() || !parse_syscall_event(it->second, kind, sys))
        return refuse_or_global({Attach::Refused, "tracepoint:id " + std::to_string(r.config),
                                 "a tracepoint perf event is global (only syscalls:sys_enter_* / "
                                 "sys_exit_* are private)"},
                                EOPNOTSUPP);
    std::string what = "tracepoint:syscalls:" + it->second;
    if (view_.device().version().abi_minor < 2)
        return refuse_or_global({Attach::Refused, what,
                                 "the loaded module (ABI 1." +
                                     std::to_string(view_.device().version().abi_minor) +
                                     ") runs no tracepoint program; 1.2 does"},
                                EOPNOTSUPP);
    return hand_hook(n, what, kind, sys, r.disabled);
}

// A hook descriptor of the view for the tool's perf_event_open (the answer
// adds it to the tool's fd table), or the module's refusal.
Supervisor::Answer Supervisor::hand_hook(const seccomp_notif& n, const std::string& what,
                                         uint32_t kind, const std::string& sym, bool disabled) {
    Answer ans;
    if (ioctl(fd(), SECCOMP_IOCTL_NOTIF_ID_VALID, &n.id) != 0)
        return ans; // the caller is gone: nothing to answer
    auto h = view_.hook_fd(kind, sym, 0, 0, disabled ? KVIEW_HOOK_FD_DISABLED : 0);
    if (!h.ok()) {
        std::string why = h.error().hint, mod;
        if (h.error().code == EINVAL && !(mod = module_of(sym)).empty())
            why = "a function of module " + mod +
                  (view_.device().version().abi_minor < 4
                       ? ": this kview module (ABI 1." +
                             std::to_string(view_.device().version().abi_minor) +
                             ") hooks no module text; 1.4 does"
                       : ": not in its core text");
        return refuse_or_global({Attach::Refused, what, why}, h.error().code);
    }
    last_attach_ms_ = now_ms();
    record({Attach::Private, what, {}, 0, h.value().info.id});
    ans.kind = Answer::AddFd;
    ans.fd = std::move(h.value().fd);
    ans.cloexec = n.data.args[4] & PERF_FLAG_FD_CLOEXEC;
    return ans;
}

Supervisor::Answer Supervisor::on_perf_event_open(const seccomp_notif& n) {
    Answer ans;
    pid_t pid = static_cast<pid_t>(n.pid);
    perf_event_attr attr{};
    uint32_t head[2] = {}; // type, size
    if (!read_mem(pid, n.data.args[0], head, sizeof(head)))
        return ans; // let the kernel say EFAULT
    size_t size = head[1] ? head[1] : PERF_ATTR_SIZE_VER0;
    if (!read_mem(pid, n.data.args[0], &attr, std::min(size, sizeof(attr))))
        return ans;
    PerfRequest r = classify_perf(attr, pmus_);
    switch (r.kind) {
    case PerfRequest::Uprobe:
    case PerfRequest::Other:
        return ans;
    case PerfRequest::Tracepoint:
        return on_tracepoint(n, r);
    case PerfRequest::KprobeAddr:
        return refuse_or_global({Attach::Refused, "kprobe:addr " + std::to_string(r.offset),
                                 "address-based kprobes are not supported"},
                                EOPNOTSUPP);
    case PerfRequest::Kprobe:
        break;
    }
    std::string sym;
    std::string kind = r.retprobe ? "kretprobe:" : "kprobe:";
    if (!read_string(pid, r.name_ptr, KVIEW_SYMBOL_LEN, sym))
        return refuse_or_global(
            {Attach::Refused, kind + "?",
             "symbol unreadable or longer than " + std::to_string(KVIEW_SYMBOL_LEN - 1)},
            EINVAL);
    std::string what = kind + sym + (r.offset ? "+" + std::to_string(r.offset) : "");
    if (r.offset)
        return refuse_or_global({Attach::Refused, what, "offsets other than 0 are not supported"},
                                EOPNOTSUPP);
    return hand_hook(n, what, r.retprobe ? KVIEW_HOOK_KRETPROBE : KVIEW_HOOK_KPROBE, sym,
                     r.disabled);
}

Supervisor::Answer Supervisor::on_bpf(const seccomp_notif& n) {
    Answer ans;
    unsigned char attr[offsetof(bpf_attr, expected_attach_type) + 4] = {};
    size_t len = std::min<size_t>(n.data.args[2], sizeof(attr));
    if (len && !read_mem(static_cast<pid_t>(n.pid), n.data.args[1], attr, len))
        return ans;
    auto v = classify_bpf(static_cast<int>(n.data.args[0]), attr, len, allow_global_);
    if (v.global) {
        record({v.kind == BpfVerdict::Refuse ? Attach::Refused : Attach::Global, v.what,
                v.kind == BpfVerdict::Refuse ? "a global attach (--allow-global lets it through)"
                                             : "attached globally (--allow-global)",
                v.err, 0});
    }
    if (v.kind == BpfVerdict::Refuse) {
        ans.kind = Answer::Errno;
        ans.err = v.err;
    }
    return ans;
}

Supervisor::Answer Supervisor::on_open(const seccomp_notif& n) {
    Answer ans; // always through: the mount namespace decides
    pid_t pid = static_cast<pid_t>(n.pid);
    uint64_t path_ptr = n.data.args[1], flags = n.data.args[2];
    if (n.data.nr == __NR_open) {
        path_ptr = n.data.args[0];
        flags = n.data.args[1];
    } else if (n.data.nr == __NR_openat2) {
        open_how how{};
        if (!read_mem(pid, n.data.args[2], &how, sizeof(how.flags)))
            return ans;
        flags = how.flags;
    }
    if (!(flags & (O_ACCMODE | O_TRUNC)))
        return ans;
    std::string path;
    if (!read_string(pid, path_ptr, 4096, path) || !is_global_probe_file(path))
        return ans;
    last_attach_ms_ = now_ms();
    if (allow_global_)
        record(
            {Attach::Global, "write " + path, "global probe definitions (--allow-global)", 0, 0});
    else
        record({Attach::Blocked, "write " + path,
                "the global fallback; read-only in the tool's mount namespace (EROFS)", 0, 0});
    return ans;
}

Result<void> Supervisor::handle_one() {
    seccomp_notif n{};
    if (ioctl(fd(), SECCOMP_IOCTL_NOTIF_RECV, &n) != 0) {
        if (errno == ENOENT || errno == EINTR)
            return {};
        return errno_error("receive a seccomp notification");
    }
    Answer a;
    if (n.data.nr == __NR_perf_event_open)
        a = on_perf_event_open(n);
    else if (n.data.nr == __NR_bpf)
        a = on_bpf(n);
    else
        a = on_open(n);
    if (a.kind == Answer::AddFd) {
        seccomp_notif_addfd add{};
        add.id = n.id;
        add.flags = SECCOMP_ADDFD_FLAG_SEND;
        add.srcfd = static_cast<uint32_t>(a.fd.get());
        add.newfd_flags = a.cloexec ? O_CLOEXEC : 0;
        if (ioctl(fd(), SECCOMP_IOCTL_NOTIF_ADDFD, &add) < 0 && errno != ENOENT)
            return errno_error("hand a hook descriptor to the tool");
        return {}; // our copy closes here: the tool's is the hook's last reference
    }
    seccomp_notif_resp resp{};
    resp.id = n.id;
    if (a.kind == Answer::Continue)
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    else
        resp.error = -a.err;
    if (ioctl(fd(), SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 && errno != ENOENT)
        return errno_error("answer a seccomp notification");
    return {};
}

} // namespace kview::supervise
