// Hooks in module text (kmod/modtext.c): 9p (the guest's root filesystem)
// and dummy (loaded by the tests). Exact hits for the traced process only,
// the module's shared text untouched, module space kept coherent while
// modules and BPF programs come and go, the hooked module pinned.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/view.hpp"
#include "view_fixture.hpp"

using namespace view_test;

namespace {

// A module symbol's address from /proc/kallsyms ("addr t name [module]"), or 0.
uint64_t module_symbol(const std::string& name, const std::string& module) {
    std::istringstream in(guest::read_file("/proc/kallsyms"));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        uint64_t a = 0;
        std::string type, n, mod;
        if (l >> std::hex >> a >> type >> n >> mod && n == name && mod == "[" + module + "]")
            return a;
    }
    return 0;
}

bool resync_probes_listed() {
    auto l = guest::kprobes_list();
    return l.find("change_page_attr_set_clr") != std::string::npos;
}

// The resync kretprobes leave within SYNC_LINGER (1 s) of the last module view.
bool resync_probes_gone() {
    for (int i = 0; i < 50; i++) {
        if (!resync_probes_listed())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

bool module_loaded(const std::string& m) {
    return access(("/sys/module/" + m).c_str(), F_OK) == 0;
}

// rmmod, retried for a few seconds (a view's teardown may still hold it).
int rmmod_within(const std::string& m, int tries) {
    int st = 1;
    for (int i = 0; i < tries && (st = guest::sh("rmmod " + m + " 2>&1").status) != 0; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return st;
}

// P's preads of a 9p file hit the hooks in 9p and 9pnet exactly; Q, doing
// the same beside it, enters no handler. The module's text is unchanged for
// everybody but P.
TEST_F(Views, ModuleTextHooksCountTheTracedProcessOnly) {
    constexpr uint32_t N = 2000, M = 5000;
    Child p, q;
    std::optional<View> view(make_view(p.pid()));
    View& v = *view;
    auto entry = v.add_kprobe("v9fs_file_read_iter");
    ASSERT_OK(entry);
    ASSERT_OK(v.add_kretprobe("v9fs_file_read_iter"));
    ASSERT_OK(v.add_kprobe("9pnet:p9_client_read")); // module:name, a second module
    EXPECT_TRUE(resync_probes_listed()) << guest::kprobes_list();
    auto before = stats_of(v);
    q.start_file_reads(M);
    p.start_file_reads(N);
    p.wait_done();
    q.wait_done();
    auto after = stats_of(v);
    ASSERT_EQ(after.hooks.size(), 3u);
    for (size_t i = 0; i < after.hooks.size(); i++) {
        const auto &a = after.hooks[i], &b = before.hooks[i];
        SCOPED_TRACE(a.symbol + " " + kview::hook_kind_name(a.kind));
        if (a.symbol == "v9fs_file_read_iter")
            EXPECT_EQ(a.hits - b.hits, N);
        else
            EXPECT_GE(a.hits - b.hits, N) << "p9_client_read: at least one per read";
        EXPECT_EQ(a.foreign_mm_hits, 0u) << "a hook fired in an untraced process";
        EXPECT_EQ(a.missed, 0u);
        EXPECT_FALSE(a.lost);
    }

    uint64_t addr = entry.value().addr;
    size_t off = addr & 4095;
    EXPECT_EQ(addr & ~((1ULL << 30) - 1), 0xffffffffc0000000ULL) << "not in module space";
    auto mine = shared_text(addr); // the controller is not traced
    auto in_p = p.read_text(addr);
    auto in_q = q.read_text(addr);
    EXPECT_NE(mine[off], 0xcc);
    EXPECT_EQ(in_p[off], 0xcc);
    EXPECT_EQ(in_q, mine) << "an untraced process sees changed module text";
    in_p[off] = mine[off];
    EXPECT_EQ(in_p, mine) << "private module page differs from shared beyond the hook";
    std::printf("[ figures  ] module hooks: P %u preads -> %llu / %llu / %llu hits, Q %u -> "
                "foreign %llu; pages %llu text + %llu tables\n",
                N, static_cast<unsigned long long>(after.hooks[0].hits - before.hooks[0].hits),
                static_cast<unsigned long long>(after.hooks[1].hits - before.hooks[1].hits),
                static_cast<unsigned long long>(after.hooks[2].hits - before.hooks[2].hits), M,
                static_cast<unsigned long long>(after.foreign_mm_hits),
                static_cast<unsigned long long>(after.text_pages),
                static_cast<unsigned long long>(after.table_pages));
    view.reset();
    EXPECT_TRUE(resync_probes_gone()) << guest::kprobes_list();
}

// Module space changes while P's view hooks module text. Modules are
// placed one after the other: with dummy hooked, the next module loaded
// (ifb, nlmon or veth) most likely lands in dummy's 2 MiB region, i.e. in
// P's private PTE table, or in a region without a PTE table yet, i.e. one
// missing from P's private PMD page. Either way P must see it mapped exactly
// as everybody (modtext.c resyncs), and run its code; a BPF program JITed
// after the hook runs in P.
TEST_F(Views, ModuleSpaceStaysCoherentWhileHooked) {
    constexpr uint32_t N = 500;
    struct Net {
        const char* module;
        const char* setup;
        const char* add;
    };
    static const Net nets[] = {{"ifb", "ifb_setup", "type ifb"},
                               {"nlmon", "nlmon_setup", "type nlmon"},
                               {"veth", "veth_setup", "type veth peer name kvmod1"}};
    for (const char* m : {"dummy", "ifb", "nlmon", "veth"})
        if (module_loaded(m)) {
            ASSERT_EQ(rmmod_within(m, 10), 0) << m;
        }
    auto mp = guest::sh("modprobe dummy 2>&1");
    if (mp.status != 0)
        GTEST_SKIP() << "no dummy module: " << mp.out;
    Child p;
    View v = make_view(p.pid());
    auto h = v.add_kprobe("dummy_setup");
    ASSERT_OK(h);
    const Net* net = nullptr;
    for (const auto& n : nets)
        if (guest::sh(std::string("modprobe ") + n.module + " 2>&1").status == 0) {
            net = &n;
            break;
        }
    ASSERT_NE(net, nullptr) << "none of ifb, nlmon, veth loads";
    uint64_t setup = module_symbol(net->setup, net->module);
    ASSERT_NE(setup, 0u);
    EXPECT_EQ(p.read_text(setup), shared_text(setup)) << "the new module, as P sees it";
    bool same_region = (setup >> 21) == (h.value().addr >> 21);

    // the new module's code, run by a traced process
    auto run = guest::sh(guest::cli_path() + " trace -c 'ip link add kvmod0 " + net->add +
                         " && ip link del kvmod0' -k " + net->setup + " -k dummy_setup 2>&1");
    EXPECT_EQ(run.status, 0) << run.out;
    EXPECT_NE(run.out.find(net->setup), std::string::npos) << run.out;

    auto obj = guest::test_bpf(); // JITed now, into module space
    auto n = obj.attach_all(v, 0);
    ASSERT_TRUE(n.ok()) << n.error().message();
    p.reads(N);
    uint64_t runs = guest::bpf_count(obj, "entries", p.pid());
    EXPECT_EQ(runs, N);
    // neither is hooked by P's view: not pinned
    EXPECT_EQ(rmmod_within(net->module, 10), 0);
    EXPECT_NE(rmmod_within("dummy", 1), 0) << "dummy is hooked: pinned";
    std::printf("[ figures  ] %s loaded after the hook at %llx, %s dummy_setup's 2 MiB region "
                "(%llx); BPF after the hook: %u reads -> %llu runs\n",
                net->module, static_cast<unsigned long long>(setup), same_region ? "in" : "outside",
                static_cast<unsigned long long>(h.value().addr), N,
                static_cast<unsigned long long>(runs));
}

// A hooked module stays loaded while the view holds a copy of its text.
TEST_F(Views, HookedModuleIsPinned) {
    if (!module_loaded("dummy") && guest::sh("modprobe dummy 2>&1").status != 0)
        GTEST_SKIP() << "no dummy module";
    {
        Child p;
        View v = make_view(p.pid());
        ASSERT_OK(v.add_kprobe("dummy_setup"));
        auto r = guest::sh("rmmod dummy 2>&1");
        EXPECT_NE(r.status, 0) << "a hooked module was unloaded";
        EXPECT_TRUE(module_loaded("dummy"));
    }
    EXPECT_EQ(rmmod_within("dummy", 25), 0) << "still pinned after the view closed";
    // loaded again, perhaps at the same address: a new hook there works
    ASSERT_EQ(guest::sh("modprobe dummy").status, 0);
    {
        Child p;
        View v = make_view(p.pid());
        ASSERT_OK(v.add_kprobe("dummy_setup"));
    }
    EXPECT_EQ(rmmod_within("dummy", 25), 0);
}

} // namespace
