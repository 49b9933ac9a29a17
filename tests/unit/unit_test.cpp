// Host unit tests: pieces of libkview that need no kernel.
#include <fcntl.h>
#include <unistd.h>

#include <linux/kview.h>

#include <cstddef>
#include <set>

#include <gtest/gtest.h>

#include "kview/fd.hpp"
#include "kview/parse.hpp"
#include "kview/result.hpp"

using namespace kview;

TEST(Result, CarriesValueOrError) {
    Result<int> ok(42);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok.value(), 42);
    Result<int> bad(Error{ENOENT, "open /dev/kview", "load it"});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ENOENT);
    EXPECT_EQ(bad.error().message(), "open /dev/kview: No such file or directory (load it)");
    Result<void> v;
    EXPECT_TRUE(v.ok());
    Result<void> verr(Error{EPERM, "x", {}});
    EXPECT_FALSE(verr.ok());
    EXPECT_EQ(verr.error().message(), "x: Operation not permitted");
}

TEST(Result, ErrnoError) {
    errno = EBUSY;
    Error e = errno_error("ctx");
    EXPECT_EQ(e.code, EBUSY);
    EXPECT_EQ(e.context, "ctx");
}

TEST(Fd, ClosesOnDestructionAndIsCloexec) {
    int raw;
    {
        auto fd = Fd::open("/dev/null", O_RDONLY);
        ASSERT_TRUE(fd.ok()) << fd.error().message();
        raw = fd.value().get();
        EXPECT_TRUE(fcntl(raw, F_GETFD) & FD_CLOEXEC);
    }
    EXPECT_EQ(fcntl(raw, F_GETFD), -1);
    EXPECT_EQ(errno, EBADF);
}

TEST(Fd, MoveTransfersOwnership) {
    auto r = Fd::open("/dev/null", O_RDONLY);
    ASSERT_TRUE(r.ok());
    Fd a = std::move(r.value());
    int raw = a.get();
    Fd b = std::move(a);
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.get(), raw);
    Fd c;
    c = std::move(b);
    EXPECT_EQ(c.get(), raw);
    EXPECT_NE(fcntl(raw, F_GETFD), -1);
    int released = c.release();
    EXPECT_FALSE(c.valid());
    EXPECT_EQ(close(released), 0);
}

TEST(Fd, OpenMissingReportsErrno) {
    auto r = Fd::open("/nonexistent/kview", O_RDONLY);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOENT);
    EXPECT_NE(r.error().context.find("/nonexistent/kview"), std::string::npos);
}

TEST(Parse, HookSpec) {
    auto a = parse_hook_spec("vfs_read");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a.value().symbol, "vfs_read");
    EXPECT_EQ(a.value().offset, 0u);
    auto b = parse_hook_spec("tcp_sendmsg+0x1c");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b.value().offset, 0x1cu);
    auto c = parse_hook_spec("f.cold+12");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c.value().offset, 12u);
    for (const char* bad : {"", "+4", "vfs_read+", "vfs_read+x", "vfs read", "a+0x", "a+99999999999",
                            "a;b"})
        EXPECT_FALSE(parse_hook_spec(bad).ok()) << bad;
    EXPECT_FALSE(parse_hook_spec(std::string(KVIEW_SYMBOL_LEN, 'a')).ok());
    EXPECT_TRUE(parse_hook_spec(std::string(KVIEW_SYMBOL_LEN - 1, 'a')).ok());
    EXPECT_EQ(parse_hook_spec("a+x").error().code, EINVAL);
}

TEST(Parse, Duration) {
    EXPECT_EQ(parse_duration("250ms").value().count(), 250);
    EXPECT_EQ(parse_duration("5s").value().count(), 5000);
    EXPECT_EQ(parse_duration("5").value().count(), 5000);
    EXPECT_EQ(parse_duration("2m").value().count(), 120000);
    EXPECT_EQ(parse_duration("1h").value().count(), 3600000);
    for (const char* bad : {"", "s", "5x", "-5", "1.5s", "99999999999999999999"})
        EXPECT_FALSE(parse_duration(bad).ok()) << bad;
}

TEST(Parse, Pid) {
    EXPECT_EQ(parse_pid("1234").value(), 1234);
    for (const char* bad : {"", "0", "-1", "12a", "0x10", "99999999999"})
        EXPECT_FALSE(parse_pid(bad).ok()) << bad;
}

// ABI layout: no implicit padding, 8-byte multiples, stable offsets.
#define NO_PADDING(T, sum) static_assert(sizeof(T) == (sum), #T " has implicit padding")
NO_PADDING(kview_version, 4 + 4 + KVIEW_VERSION_LEN);
NO_PADDING(kview_view_create, 4 * 6);
NO_PADDING(kview_hook_add, 4 + 4 + 8 + 4 + 4 + 8 + KVIEW_SYMBOL_LEN + 4 + 4);
NO_PADDING(kview_hook_stats, 8 * 8 + 4 * 4 + KVIEW_SYMBOL_LEN);
NO_PADDING(kview_view_stats, 4 * 6 + 8 * 8 + 4 + 4 + 8 + 4 * 4);
NO_PADDING(kview_read_text, 4 + 4 + 8 + 8);
NO_PADDING(kview_global_stats, 4 + 4 + 8 * 4);
NO_PADDING(kview_view_info, 4 * 6 + 8);
NO_PADDING(kview_list_views, 4 * 4 + 8);
static_assert(offsetof(kview_view_stats, text_pages) == 24);
static_assert(offsetof(kview_view_stats, hooks_ptr) % 8 == 0);
static_assert(offsetof(kview_hook_add, symbol) == 32);
// ABI 1.3 grew these at their ends (1.2's sizes: 16 and 104); the hook
// stats' reserved word became session_id in place
static_assert(offsetof(kview_view_create, session_id) == 16);
static_assert(offsetof(kview_view_stats, session_id) == 104);
static_assert(offsetof(kview_hook_stats, session_id) == 8 * 8 + 4 * 3);
static_assert((KVIEW_VIEW_JOIN & (KVIEW_VIEW_FOLLOW_FORK | KVIEW_VIEW_EXEC_REAPPLY |
                                  KVIEW_VIEW_SHARED_TEXT)) == 0 &&
              (KVIEW_VIEW_FLAGS_ALL & KVIEW_VIEW_JOIN));
static_assert(sizeof(kview_version) % 8 == 0 && sizeof(kview_hook_stats) % 8 == 0 &&
              sizeof(kview_view_stats) % 8 == 0 && sizeof(kview_hook_add) % 8 == 0 &&
              sizeof(kview_view_create) % 8 == 0);

TEST(Abi, IoctlNumbersDistinctWithRightDirection) {
    const unsigned long cmds[] = {KVIEW_IOC_GET_VERSION, KVIEW_IOC_VIEW_CREATE,
                                  KVIEW_IOC_HOOK_ADD,    KVIEW_IOC_VIEW_STATS,
                                  KVIEW_IOC_READ_TEXT,   KVIEW_IOC_GLOBAL_STATS,
                                  KVIEW_IOC_LIST_VIEWS};
    std::set<unsigned long> nrs;
    for (auto c : cmds) {
        EXPECT_EQ(_IOC_TYPE(c), KVIEW_IOC_MAGIC);
        nrs.insert(_IOC_NR(c));
    }
    EXPECT_EQ(nrs.size(), std::size(cmds));
    EXPECT_EQ(_IOC_DIR(KVIEW_IOC_GET_VERSION), unsigned{_IOC_READ});
    EXPECT_EQ(_IOC_DIR(KVIEW_IOC_READ_TEXT), unsigned{_IOC_WRITE});
    EXPECT_EQ(_IOC_DIR(KVIEW_IOC_VIEW_CREATE), unsigned{_IOC_READ | _IOC_WRITE});
    EXPECT_EQ(_IOC_SIZE(KVIEW_IOC_HOOK_ADD), sizeof(kview_hook_add));
}
