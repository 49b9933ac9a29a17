// kview-fuzz: a seeded, time-bounded ioctl fuzzer for /dev/kview. Runs
// inside the guest as root:
//
//   kview-fuzz [--seed N] [--seconds S]
//
// Each step picks a descriptor (of 4, reopened at random) and issues a
// known command with mutated fields, or a random kview command number; struct
// sizes, flags, pids (live children, dead, 0, negative, init, kthreadd),
// symbols (a curated pool of real, blacklisted and bogus names), offsets
// and user pointers (valid, NULL, unmapped, kernel) are drawn at random.
// Targets are children that keep calling read(), and are killed and
// respawned at random. At the end every descriptor is closed and the module
// must hold no view and no page; the caller (run-suite.sh) scans dmesg.
// Prints the seed, steps and the errno histogram; exits 1 on a leak.
#include <fcntl.h>
#include <linux/kview.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr int kFds = 4;
constexpr int kTargets = 3;

pid_t spawn_target() {
    pid_t pid = ::fork();
    if (pid == 0) {
        int z = ::open("/dev/zero", O_RDONLY);
        char b;
        for (;;) {
            if (::read(z, &b, 1) != 1)
                ::_exit(1);
            ::usleep(1000);
        }
    }
    return pid;
}

const char* const kSymbols[] = {
    "vfs_read", "vfs_write", "ksys_read", "ksys_write", "do_sys_openat2", "filp_close",
    "__x64_sys_read", "__x64_sys_getpid", "kfree", "kmalloc_trace", "schedule", "do_int3",
    "notify_die", "kview_no_such_fn", "", "read", "getpid", "write", "exit_group",
    "_stext", "_etext", "init_task", "jiffies", "\xff\xfe", "vfs_read+4"};

struct Fuzzer {
    std::mt19937_64 rng;
    std::vector<int> fds;
    std::vector<int> hook_fds; // KVIEW_IOC_HOOK_FD results, poked and closed at random
    std::vector<pid_t> targets;
    std::map<std::string, uint64_t> results;
    uint8_t* page = nullptr;     // valid user memory
    uint8_t* unmapped = nullptr; // a hole
    bool shared_text = true;     // may views arm their hooks in shared text?

    explicit Fuzzer(uint64_t seed) : rng(seed) {}

    uint64_t r(uint64_t n) { return n ? rng() % n : 0; }
    bool chance(int pct) { return static_cast<int>(r(100)) < pct; }

    void* pointer() {
        switch (r(10)) {
        case 0: return nullptr;
        case 1: return unmapped;
        case 2: return reinterpret_cast<void*>(0xffffffff81000000ULL); // kernel
        case 3: return page + 4096 - 8;                                  // straddles the end
        default: return page;
        }
    }

    int32_t pid() {
        switch (r(10)) {
        case 0: return 0;
        case 1: return -static_cast<int32_t>(r(100));
        case 2: return 1;
        case 3: return 2;
        case 4: return 4000000;
        case 5: return ::getpid();
        default: return targets[r(targets.size())];
        }
    }

    uint32_t size(uint32_t real) {
        switch (r(8)) {
        case 0: return static_cast<uint32_t>(r(real));
        case 1: return real + 8 * static_cast<uint32_t>(r(4));
        case 2: return static_cast<uint32_t>(rng());
        default: return real;
        }
    }

    uint32_t flags(uint32_t all) {
        return chance(70) ? static_cast<uint32_t>(r(all + 1)) & all : static_cast<uint32_t>(rng());
    }

    // The fields kview_hook_add and kview_hook_fd share, mutated.
    template <class H> void fill_hook(H* h) {
        h->size = size(sizeof(*h));
        h->kind = static_cast<uint32_t>(chance(90) ? 1 + r(4) : rng());
        h->offset = static_cast<uint32_t>(chance(70) ? 0 : chance(80) ? r(64) : rng());
        h->cookie = rng();
        std::snprintf(h->symbol, sizeof(h->symbol), "%s",
                      kSymbols[r(sizeof(kSymbols) / sizeof(kSymbols[0]))]);
        if (chance(3))
            std::memset(h->symbol, 'x', sizeof(h->symbol));
    }

    // Fill `len` bytes at page with a mutated struct of command `nr`.
    void fill(unsigned nr, size_t len) {
        std::memset(page, 0, 4096);
        if (chance(5)) { // pure noise
            for (size_t i = 0; i < len && i < 4096; i++)
                page[i] = static_cast<uint8_t>(rng());
            return;
        }
        switch (nr) {
        case _IOC_NR(KVIEW_IOC_VIEW_CREATE): {
            auto* c = reinterpret_cast<kview_view_create*>(page);
            c->size = size(sizeof(*c));
            c->flags = flags(KVIEW_VIEW_FLAGS_ALL);
            if (!shared_text)
                c->flags &= ~KVIEW_VIEW_SHARED_TEXT;
            if (chance(40)) // sessions: join the view another descriptor made, if any
                c->flags = (c->flags & ~(KVIEW_VIEW_FLAGS_ALL & ~KVIEW_VIEW_JOIN)) |
                           KVIEW_VIEW_JOIN;
            c->pid = pid();
            break;
        }
        case _IOC_NR(KVIEW_IOC_HOOK_ADD): {
            auto* h = reinterpret_cast<kview_hook_add*>(page);
            fill_hook(h);
            h->flags = flags(KVIEW_HOOK_F_ALL);
            h->prog_fd = static_cast<int32_t>(chance(50) ? -1 : r(64));
            break;
        }
        case _IOC_NR(KVIEW_IOC_HOOK_FD): {
            auto* h = reinterpret_cast<kview_hook_fd*>(page);
            fill_hook(h);
            h->flags = flags(KVIEW_HOOK_FD_ALL);
            h->fd = chance(95) ? 0 : static_cast<int32_t>(rng());
            break;
        }
        case _IOC_NR(KVIEW_IOC_VIEW_STATS): {
            auto* s = reinterpret_cast<kview_view_stats*>(page);
            s->size = size(sizeof(*s));
            s->hooks_cap = static_cast<uint32_t>(chance(80) ? r(80) : rng());
            s->hooks_ptr = reinterpret_cast<uint64_t>(chance(80) ? page + 512 : pointer());
            s->scope = static_cast<uint32_t>(chance(80) ? r(2) : rng()); // this session's / all
            break;
        }
        case _IOC_NR(KVIEW_IOC_READ_TEXT): {
            auto* t = reinterpret_cast<kview_read_text*>(page);
            t->size = size(sizeof(*t));
            t->len = static_cast<uint32_t>(chance(80) ? r(KVIEW_READ_TEXT_MAX + 2) : rng());
            t->addr = chance(50) ? 0xffffffff81000000ULL + r(1 << 24) : rng();
            t->buf_ptr = reinterpret_cast<uint64_t>(chance(80) ? page + 2048 : pointer());
            if (t->len > 2048 && t->buf_ptr == reinterpret_cast<uint64_t>(page + 2048))
                t->len = 2048; // stay inside our page
            break;
        }
        case _IOC_NR(KVIEW_IOC_GLOBAL_STATS): {
            auto* g = reinterpret_cast<kview_global_stats*>(page);
            g->size = size(sizeof(*g));
            if (chance(10))
                g->pages = rng();
            break;
        }
        case _IOC_NR(KVIEW_IOC_LIST_VIEWS): {
            auto* l = reinterpret_cast<kview_list_views*>(page);
            l->size = size(sizeof(*l));
            l->cap = static_cast<uint32_t>(chance(80) ? r(32) : rng());
            l->reserved = chance(10) ? 1 : 0;
            l->views_ptr = reinterpret_cast<uint64_t>(chance(80) ? page + 1024 : pointer());
            if (l->cap > 30 && l->views_ptr == reinterpret_cast<uint64_t>(page + 1024))
                l->cap = 30;
            break;
        }
        default: break;
        }
    }

    void step() {
        // lifecycle noise
        if (chance(2)) {
            size_t i = r(fds.size());
            ::close(fds[i]);
            fds[i] = ::open(KVIEW_DEVICE_PATH, O_RDWR | O_CLOEXEC);
        }
        if (chance(1)) {
            size_t i = r(targets.size());
            ::kill(targets[i], SIGKILL);
            ::waitpid(targets[i], nullptr, 0);
            targets[i] = spawn_target();
        }
        static const unsigned long known[] = {
            KVIEW_IOC_GET_VERSION, KVIEW_IOC_VIEW_CREATE, KVIEW_IOC_HOOK_ADD,
            KVIEW_IOC_VIEW_STATS,  KVIEW_IOC_READ_TEXT,   KVIEW_IOC_GLOBAL_STATS,
            KVIEW_IOC_LIST_VIEWS,  KVIEW_IOC_HOOK_FD};
        unsigned long cmd;
        if (chance(90)) {
            cmd = known[r(sizeof(known) / sizeof(known[0]))];
        } else { // random command with kview's magic: any nr, size, direction
            // (other magics belong to the VFS's generic ioctls, not to us)
            cmd = _IOC(r(4), KVIEW_IOC_MAGIC, r(256), r(1 << 14));
        }
        fill(_IOC_NR(cmd), _IOC_SIZE(cmd));
        void* arg = chance(90) ? page : pointer();
        int fd = fds[r(fds.size())];
        int rc = ::ioctl(fd, cmd, arg);
        const char* name = rc < 0 ? strerrorname_np(errno) : "ok";
        results[name ? name : "E?"]++;
        if (rc == 0 && cmd == KVIEW_IOC_HOOK_FD && arg == page)
            hook_fds.push_back(reinterpret_cast<kview_hook_fd*>(page)->fd);
        if (rc == 0 && cmd == KVIEW_IOC_VIEW_CREATE && arg == page &&
            reinterpret_cast<kview_view_create*>(page)->nr_sessions > 1)
            results["VIEW_CREATE joined a view"]++; // sessions (ABI 1.3) exercised
        poke_hook_fd();
    }

    // The perf_event ioctls of a hook descriptor, with noise; close some.
    void poke_hook_fd() {
        if (hook_fds.empty() || !chance(20))
            return;
        size_t i = r(hook_fds.size());
        static const unsigned long perf[] = {PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_DISABLE,
                                             PERF_EVENT_IOC_SET_BPF, PERF_EVENT_IOC_ID,
                                             PERF_EVENT_IOC_QUERY_BPF, PERF_EVENT_IOC_RESET};
        unsigned long cmd = perf[r(sizeof(perf) / sizeof(perf[0]))];
        unsigned long arg = cmd == PERF_EVENT_IOC_SET_BPF ? r(64)
                            : chance(80)                 ? reinterpret_cast<unsigned long>(page)
                                                         : reinterpret_cast<unsigned long>(pointer());
        int rc = ::ioctl(hook_fds[i], cmd, arg);
        const char* name = rc < 0 ? strerrorname_np(errno) : "ok";
        results[std::string("hookfd ") + (name ? name : "E?")]++;
        if (chance(30)) {
            ::close(hook_fds[i]);
            hook_fds.erase(hook_fds.begin() + static_cast<long>(i));
        }
    }
};

} // namespace

namespace {

// The module's global counters; size 0 if they cannot be read.
kview_global_stats global_stats() {
    kview_global_stats g{};
    g.size = sizeof(g);
    int ctl = ::open(KVIEW_DEVICE_PATH, O_RDWR | O_CLOEXEC);
    if (ctl < 0 || ::ioctl(ctl, KVIEW_IOC_GLOBAL_STATS, &g) != 0)
        g.size = 0;
    if (ctl >= 0)
        ::close(ctl);
    return g;
}

} // namespace

int main(int argc, char** argv) {
    uint64_t seed = 1;
    double seconds = 30;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--seed" && i + 1 < argc)
            seed = std::strtoull(argv[++i], nullptr, 0);
        else if (a == "--seconds" && i + 1 < argc)
            seconds = std::atof(argv[++i]);
        else {
            std::fprintf(stderr, "usage: kview-fuzz [--seed N] [--seconds S]\n");
            return 2;
        }
    }
    const kview_global_stats base = global_stats();
    Fuzzer f(seed);
    // Shared-text views arm stock kprobes for everybody, and multi-threaded
    // TCG can run an int3 that unregistering already removed: 6.1 then
    // re-executes it forever (soft lockup on both vCPUs), 6.12 dies
    // (tests/vm/README.md). Single-threaded boots and real CPUs fuzz them.
    const char* accel = std::getenv("KVIEW_ACCEL");
    if (accel && std::strstr(accel, "tcg") && !std::strstr(accel, "thread=single")) {
        f.shared_text = false;
        std::printf("kview-fuzz: KVIEW_VIEW_SHARED_TEXT left out under multi-threaded TCG (%s)\n",
                    accel);
    }
    f.page = static_cast<uint8_t*>(::mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (f.page == MAP_FAILED) {
        std::perror("kview-fuzz: mmap");
        return 1;
    }
    ::munmap(f.page + 4096, 4096); // page+4096 .. +8192 is a hole
    f.unmapped = f.page + 4096;
    for (int i = 0; i < kFds; i++) {
        f.fds.push_back(::open(KVIEW_DEVICE_PATH, O_RDWR | O_CLOEXEC));
        if (f.fds.back() < 0) {
            std::fprintf(stderr, "kview-fuzz: %s: %s\n", KVIEW_DEVICE_PATH, std::strerror(errno));
            return 1;
        }
    }
    for (int i = 0; i < kTargets; i++)
        f.targets.push_back(spawn_target());

    auto t0 = std::chrono::steady_clock::now();
    auto until = t0 + std::chrono::duration<double>(seconds);
    uint64_t steps = 0;
    while (std::chrono::steady_clock::now() < until) {
        for (int i = 0; i < 100; i++)
            f.step();
        steps += 100;
    }
    for (int fd : f.fds)
        ::close(fd);
    for (int fd : f.hook_fds) // they hold their views
        ::close(fd);
    for (pid_t t : f.targets) {
        ::kill(t, SIGKILL);
        ::waitpid(t, nullptr, 0);
    }
    // Nothing of ours may be left: views are freed when the last descriptor
    // closes. Views of other users (the soak's traced workload) are the
    // baseline; one may end meanwhile, so only growth is a leak.
    kview_global_stats g = global_stats();
    bool ok = g.size != 0;
    g.live_views = g.live_views > base.live_views ? g.live_views - base.live_views : 0;
    g.pages = g.pages > base.pages ? g.pages - base.pages : 0;
    std::printf("kview-fuzz: seed %llu, %llu ioctls in %.0f s, views created %llu\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(steps),
                seconds, static_cast<unsigned long long>(g.views_created - base.views_created));
    for (const auto& [k, n] : f.results)
        std::printf("kview-fuzz:   %-14s %llu\n", k.c_str(), static_cast<unsigned long long>(n));
    if (!ok || g.live_views || g.pages) {
        std::printf("kview-fuzz: LEAK: %u live views, %llu pages after closing everything\n",
                    g.live_views, static_cast<unsigned long long>(g.pages));
        return 1;
    }
    std::printf("kview-fuzz: OK: 0 live views, 0 pages\n");
    return 0;
}
