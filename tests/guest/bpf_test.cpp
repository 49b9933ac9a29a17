// eBPF on view hooks: an unmodified libbpf kprobe program attached through a
// view sees only the traced process; the same program attached globally with
// libbpf (the control) sees everybody.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <linux/kview.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/bpf.hpp"

namespace {

// What bpf_get_func_ip() returned in the entry program (0: never ran).
uint64_t func_ip_of(const kview::BpfObject& obj) {
    auto fd = obj.map_fd("func_ip");
    uint32_t zero = 0;
    uint64_t ip = 0;
    if (!fd.ok() || bpf_map_lookup_elem(fd.value(), &zero, &ip) != 0)
        ADD_FAILURE() << "func_ip map";
    return ip;
}

struct PerfCount {
    pid_t want;
    uint64_t mine = 0, others = 0;
};

void on_perf(void* ctx, int, void* data, uint32_t size) {
    auto* pc = static_cast<PerfCount*>(ctx);
    uint32_t pid = 0;
    if (size >= sizeof(pid))
        std::memcpy(&pid, data, sizeof(pid));
    (static_cast<pid_t>(pid) == pc->want ? pc->mine : pc->others)++;
}

TEST(Bpf, ProgramThroughViewSeesOnlyTarget) {
    constexpr uint32_t N = 3000, M = 7000;
    guest::Child p, q;
    auto obj = guest::test_bpf();
    PerfCount pc{p.pid()};
    auto pfd = obj.map_fd("perf_out");
    ASSERT_TRUE(pfd.ok());
    perf_buffer* pb = perf_buffer__new(pfd.value(), 64, on_perf, nullptr, &pc, nullptr);
    ASSERT_NE(pb, nullptr);
    auto v = kview::View::create(p.pid());
    ASSERT_TRUE(v.ok()) << v.error().message();
    auto n = obj.attach_all(v.value(), 0xfeed);
    ASSERT_TRUE(n.ok()) << n.error().message();
    EXPECT_EQ(n.value(), 2);
    q.start_reads(M);
    p.start_reads(N);
    p.wait_done();
    q.wait_done();
    EXPECT_EQ(guest::bpf_count(obj, "entries", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(obj, "returns", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(obj, "entries", q.pid()), 0u)
        << "untraced process reached the program";
    while (perf_buffer__poll(pb, 100) > 0)
        ;
    perf_buffer__free(pb);
    EXPECT_EQ(pc.mine, N) << "perf-event output from the return program";
    EXPECT_EQ(pc.others, 0u);
    EXPECT_EQ(guest::bpf_count(obj, "returns", q.pid()), 0u);
    auto cfd = obj.map_fd("cookie");
    ASSERT_TRUE(cfd.ok());
    uint32_t zero = 0;
    uint64_t cookie = 0;
    ASSERT_EQ(bpf_map_lookup_elem(cfd.value(), &zero, &cookie), 0);
    EXPECT_EQ(cookie, 0xfeedu) << "bpf_get_attach_cookie()";
    // The hook sits past the fentry call; the program still sees the
    // function's address, as with the kernel's kprobe (the control below).
    guest::Kallsyms ks;
    EXPECT_EQ(func_ip_of(obj), ks.at("vfs_read"))
        << "bpf_get_func_ip(): " << ks.name(func_ip_of(obj));
    auto st = v.value().stats();
    ASSERT_TRUE(st.ok());
    for (const auto& h : st.value().hooks) {
        EXPECT_EQ(h.prog_runs, h.hits + h.other_hits) << h.symbol;
        EXPECT_EQ(h.foreign_mm_hits, 0u);
    }
    std::printf(
        "[ figures  ] bpf via view: P %u reads -> %llu entries/%llu returns, Q %u reads -> 0\n", N,
        static_cast<unsigned long long>(guest::bpf_count(obj, "entries", p.pid())),
        static_cast<unsigned long long>(guest::bpf_count(obj, "returns", p.pid())), M);
}

TEST(Bpf, ControlGlobalAttachSeesEverybody) {
    constexpr uint32_t N = 1000, M = 2000;
    guest::Child p, q;
    auto obj = guest::test_bpf();
    bpf_program* prog = bpf_object__find_program_by_name(obj.raw(), "count_entry");
    ASSERT_NE(prog, nullptr);
    bpf_link* link = bpf_program__attach_kprobe(prog, false, "vfs_read");
    ASSERT_NE(link, nullptr) << "libbpf global attach failed";
    p.reads(N);
    q.reads(M);
    bpf_link__destroy(link);
    EXPECT_EQ(guest::bpf_count(obj, "entries", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(obj, "entries", q.pid()), M);
    EXPECT_EQ(func_ip_of(obj), guest::Kallsyms().at("vfs_read"))
        << "the kernel's bpf_get_func_ip()";
}

TEST(Bpf, RefusesWhatIsNotAPlainKprobeProgram) {
    guest::Child p;
    auto v = kview::View::create(p.pid());
    ASSERT_TRUE(v.ok());
    auto bad = v.value().add_hook(KVIEW_HOOK_KPROBE, "vfs_read", 0, 0, 0); // stdin, not a prog
    ASSERT_FALSE(bad.ok());
    EXPECT_TRUE(bad.error().code == EINVAL || bad.error().code == EBADF) << bad.error().message();
    auto badfd = v.value().add_hook(KVIEW_HOOK_KPROBE, "vfs_read", 0, 0, 12345);
    ASSERT_FALSE(badfd.ok());
    EXPECT_EQ(badfd.error().code, EBADF);
    // A socket filter program: wrong type.
    const bpf_insn insns[] = {{BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
                              {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
    int sf = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "sf", "GPL", insns, 2, nullptr);
    ASSERT_GE(sf, 0);
    auto wrong = v.value().add_hook(KVIEW_HOOK_KPROBE, "vfs_read", 0, 0, sf);
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().code, EINVAL);
    close(sf);
    // A kprobe.multi program: a valid kprobe program, but not attachable here.
    LIBBPF_OPTS(bpf_prog_load_opts, multi_opts, .expected_attach_type = BPF_TRACE_KPROBE_MULTI);
    int multi = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "multi", "GPL", insns, 2, &multi_opts);
    ASSERT_GE(multi, 0);
    auto m = v.value().add_hook(KVIEW_HOOK_KPROBE, "vfs_read", 0, 0, multi);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, EINVAL);
    close(multi);
    EXPECT_TRUE(v.value().stats().value().hooks.empty()) << "a refused hook was left attached";
}

} // namespace

namespace {

// `kview attach` end to end: attach the object to P only, P reads, the final
// JSON report shows exactly P's reads and as many program runs.
TEST(Bpf, CliAttachReportsExactCounts) {
    constexpr uint32_t N = 500;
    guest::Child p, q;
    std::string cmd = guest::cli_path() + " attach -p " + std::to_string(p.pid()) + " --obj " +
                      KVIEW_TEST_BPF_OBJ + " -d 4s -f json";
    FILE* out = popen(cmd.c_str(), "r");
    ASSERT_NE(out, nullptr);
    auto dev = kview::Device::open();
    ASSERT_TRUE(dev.ok());
    for (int i = 0; i < 200; i++) { // wait until the view is live (<= 2 s)
        auto g = dev.value().global_stats();
        if (g.ok() && g.value().live_views == 1)
            break;
        usleep(10000);
    }
    usleep(300000); // both programs attached
    p.reads(N);
    q.reads(N);
    std::string json;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), out)) > 0)
        json.append(buf, n);
    EXPECT_EQ(pclose(out), 0) << json;
    guest::Json hook = guest::final_hook(json, "vfs_read", "kprobe");
    ASSERT_TRUE(hook.is_object()) << json;
    EXPECT_EQ(hook.value("hits", -1LL), N) << hook;
    EXPECT_EQ(hook.value("foreign", -1LL), 0) << hook;
    EXPECT_EQ(hook.value("bpf_runs", -1LL), N) << hook;
}

} // namespace

namespace {

// Comparison mode for the benchmarks ("pre-eBPF"): the hook is armed in
// shared text, every process traps, the module filters before the program.
TEST(Bpf, SharedTextModeFiltersInModule) {
    constexpr uint32_t N = 1000, M = 3000;
    guest::Child p, q;
    auto obj = guest::test_bpf();
    auto v = kview::View::create(p.pid(), KVIEW_VIEW_SHARED_TEXT);
    ASSERT_TRUE(v.ok()) << v.error().message();
    auto n = obj.attach_all(v.value());
    ASSERT_TRUE(n.ok()) << n.error().message();
    auto st0 = v.value().stats().value();
    EXPECT_EQ(st0.text_pages, 0u) << "no private text in shared mode";
    p.reads(N);
    q.reads(M);
    EXPECT_EQ(guest::bpf_count(obj, "entries", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(obj, "returns", p.pid()), N);
    EXPECT_EQ(guest::bpf_count(obj, "entries", q.pid()), 0u) << "filtered before the program";
    auto st = v.value().stats().value();
    const auto& entry = st.hooks[0];
    EXPECT_EQ(entry.hits, N);
    EXPECT_GE(entry.foreign_mm_hits, M) << "every other process traps: the cost kview avoids";
    EXPECT_EQ(entry.prog_runs, entry.hits + entry.other_hits);
    // Q sees the armed hook in shared text (int3, or an optprobe's jump).
    auto dev = kview::Device::open();
    ASSERT_TRUE(dev.ok());
    auto text = q.read_text(entry.addr);
    EXPECT_TRUE(text[entry.addr & 4095] == 0xcc || text[entry.addr & 4095] == 0xe9);
}

} // namespace
