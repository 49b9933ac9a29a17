#include "setup.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/kview.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bpf/bench_event.h"

#include "bench_skel.hpp"

namespace kview::bench {

const char* mode_name(Mode m) {
    switch (m) {
    case Mode::None:
        return "none";
    case Mode::PostEbpf:
        return "post-eBPF";
    case Mode::InEbpf:
        return "in-eBPF";
    case Mode::PreEbpf:
        return "pre-eBPF";
    case Mode::Kview:
        return "kview";
    }
    return "?";
}

std::vector<Hook> syscall_hooks() {
    return {{KVIEW_HOOK_SYSCALL_ENTER, "read", "__x64_sys_read", 0, 0},
            {KVIEW_HOOK_SYSCALL_ENTER, "sendmsg", "__x64_sys_sendmsg", 0, 1}};
}

std::vector<Hook> micro_hooks() {
    auto h = syscall_hooks();
    h.push_back({KVIEW_HOOK_SYSCALL_ENTER, "write", "__x64_sys_write", 0, 2});
    h.push_back({KVIEW_HOOK_SYSCALL_ENTER, "getpid", "__x64_sys_getpid", 0, 2});
    return h;
}

uint64_t ksym_addr(const std::string& name) {
    std::ifstream in("/proc/kallsyms");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ss(line);
        std::string addr, type, sym;
        if (ss >> addr >> type >> sym && sym == name && (type == "T" || type == "t"))
            return std::stoull(addr, nullptr, 16);
    }
    return 0;
}

// ---- Driver ---------------------------------------------------------------

namespace {

struct Cmd {
    uint32_t n;
    uint32_t gap_us;
};

[[noreturn]] void driver_main(int sock) {
    int zero = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
    int pair[2];
    if (zero < 0 || ::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair))
        ::_exit(1);
    for (;;) {
        Cmd c{};
        if (::recv(sock, &c, sizeof(c), MSG_WAITALL) != sizeof(c))
            ::_exit(0);
        char b = 0;
        for (uint32_t i = 0; i < c.n; i++) {
            if (::read(zero, &b, 1) != 1)
                ::_exit(2);
            iovec iov{&b, 1};
            msghdr mh{};
            mh.msg_iov = &iov;
            mh.msg_iovlen = 1;
            if (::sendmsg(pair[0], &mh, 0) != 1 || ::recv(pair[1], &b, 1, 0) != 1)
                ::_exit(3);
            if (c.gap_us && i % 10 == 9)
                ::usleep(c.gap_us);
        }
        if (::send(sock, &c, sizeof(c), 0) != sizeof(c))
            ::_exit(4);
    }
}

} // namespace

Result<std::unique_ptr<Driver>> Driver::spawn() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        return errno_error("socketpair for the traced process");
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(sv[0]);
        ::close(sv[1]);
        return errno_error("fork the traced process");
    }
    if (pid == 0) {
        ::close(sv[0]);
        driver_main(sv[1]);
    }
    ::close(sv[1]);
    return std::unique_ptr<Driver>(new Driver(pid, sv[0]));
}

Driver::~Driver() {
    ::close(sock_);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
}

Result<void> Driver::start(uint32_t n, uint32_t gap_us) {
    Cmd c{n, gap_us};
    if (::send(sock_, &c, sizeof(c), 0) != sizeof(c))
        return errno_error("command the traced process");
    return {};
}

Result<void> Driver::wait() {
    Cmd c{};
    if (::recv(sock_, &c, sizeof(c), MSG_WAITALL) != sizeof(c))
        return Error{EPIPE, "traced process " + std::to_string(pid_) + " died", {}};
    return {};
}

// ---- Setup ----------------------------------------------------------------

struct Setup::Session {
    pid_t target = 0;
    kview_bench* skel = nullptr;
    std::vector<bpf_link*> links;
    std::unique_ptr<View> view;
    std::array<std::atomic<uint64_t>, 3> seen{}; // post-eBPF: kept by userspace
    std::atomic<uint64_t> others{0};             // post-eBPF: filtered out

    ~Session() {
        for (auto* l : links)
            bpf_link__destroy(l);
        view.reset();
        kview_bench__destroy(skel);
    }
};

Result<std::unique_ptr<Setup>> Setup::attach(Mode mode, const std::vector<pid_t>& targets,
                                             const std::vector<Hook>& hooks) {
    std::unique_ptr<Setup> st(new Setup(mode));
    if (mode == Mode::None)
        return st;
    for (pid_t t : targets) {
        auto s = std::make_unique<Session>();
        s->target = t;
        s->skel = kview_bench__open();
        if (!s->skel)
            return errno_error("open the benchmark BPF object");
        s->skel->rodata->target_tgid = static_cast<uint32_t>(t);
        if (mode != Mode::PostEbpf)
            bpf_map__set_max_entries(s->skel->maps.events, 4096); // unused: keep it small
        else if (targets.size() >
                 50) // 160 x 4 MiB would not fit the guest; a sample makes < 64 Ki events
            bpf_map__set_max_entries(s->skel->maps.events, 1u << 20);
        if (int err = kview_bench__load(s->skel))
            return Error{-err, "load the benchmark BPF object", {}};
        bpf_program* prog = mode == Mode::PostEbpf ? s->skel->progs.record
                            : mode == Mode::InEbpf ? s->skel->progs.count_if_pid
                                                   : s->skel->progs.count;
        if (mode == Mode::PreEbpf || mode == Mode::Kview) {
            auto v = View::create(t, mode == Mode::PreEbpf ? KVIEW_VIEW_SHARED_TEXT : 0);
            if (!v)
                return v.error();
            s->view = std::make_unique<View>(std::move(v.value()));
            for (const auto& h : hooks) {
                auto r = s->view->add_hook(h.kind, h.name, 0, h.cookie, bpf_program__fd(prog));
                if (!r)
                    return r.error();
            }
        } else {
            for (const auto& h : hooks) {
                LIBBPF_OPTS(bpf_kprobe_opts, o, .bpf_cookie = h.cookie, .offset = h.offset);
                bpf_link* l = bpf_program__attach_kprobe_opts(prog, h.ksym.c_str(), &o);
                if (!l)
                    return errno_error("attach kprobe " + h.ksym + "+" + std::to_string(h.offset));
                s->links.push_back(l);
            }
        }
        st->sessions_.push_back(std::move(s));
    }
    if (mode == Mode::PostEbpf) {
        // Userspace filter: keep the traced pid's events, count the rest.
        ring_buffer_sample_fn on_event = [](void* ctx, void* data, size_t size) -> int {
            auto* s = static_cast<Session*>(ctx);
            kview_bench_event e{};
            std::memcpy(&e, data, std::min(size, sizeof(e)));
            if (e.tgid == static_cast<uint32_t>(s->target) && e.hook < KVIEW_BENCH_HOOKS)
                s->seen[e.hook]++;
            else
                s->others++;
            return 0;
        };
        for (auto& s : st->sessions_) {
            int fd = bpf_map__fd(s->skel->maps.events);
            if (!st->rb_)
                st->rb_ = ring_buffer__new(fd, on_event, s.get(), nullptr);
            else if (ring_buffer__add(st->rb_, fd, on_event, s.get()))
                return errno_error("add a ring buffer");
            if (!st->rb_)
                return errno_error("create the ring buffer reader");
        }
        st->consumer_ = std::thread([p = st.get()] {
            while (!p->stop_.load())
                ring_buffer__poll(p->rb_, 50);
        });
    }
    return st;
}

Setup::Setup(Mode m) : mode_(m) {}

Setup::~Setup() {
    if (consumer_.joinable()) {
        stop_ = true;
        consumer_.join();
    }
    ring_buffer__free(rb_);
    sessions_.clear();
}

void Setup::drain() {
    if (rb_)
        ring_buffer__consume(rb_);
}

std::array<uint64_t, 3> Setup::events(size_t i) {
    std::array<uint64_t, 3> out{};
    if (i >= sessions_.size())
        return out;
    Session& s = *sessions_[i];
    if (mode_ == Mode::PostEbpf) {
        drain();
        for (size_t k = 0; k < 3; k++)
            out[k] = s.seen[k].load();
        return out;
    }
    int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> vals(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
    for (uint32_t k = 0; k < KVIEW_BENCH_HOOKS; k++) {
        if (bpf_map_lookup_elem(bpf_map__fd(s.skel->maps.counts), &k, vals.data()))
            continue;
        for (uint64_t v : vals)
            out[k] += v;
    }
    return out;
}

uint64_t Setup::dropped() {
    uint64_t n = 0;
    for (size_t i = 0; i < sessions_.size(); i++) {
        if (mode_ != Mode::PostEbpf)
            break;
        int ncpu = libbpf_num_possible_cpus();
        std::vector<uint64_t> vals(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
        uint32_t k = KVIEW_BENCH_DROPPED;
        if (!bpf_map_lookup_elem(bpf_map__fd(sessions_[i]->skel->maps.counts), &k, vals.data()))
            for (uint64_t v : vals)
                n += v;
    }
    return n;
}

Result<uint64_t> Setup::sum_view_stat(uint64_t ViewStats::*field) const {
    uint64_t n = 0;
    for (const auto& s : sessions_) {
        if (!s->view)
            continue;
        auto st = s->view->stats();
        if (!st)
            return st.error();
        n += st.value().*field;
    }
    return n;
}

} // namespace kview::bench
