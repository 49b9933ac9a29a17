// Foundation: the device, the version handshake, ABI edges, module refcount.
#include <sys/ioctl.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/device.hpp"

namespace {

TEST(Foundation, HandshakeMatchesHeader) {
    auto dev = kview::Device::open();
    ASSERT_TRUE(dev.ok()) << dev.error().message();
    EXPECT_EQ(dev.value().version().abi_major, unsigned{KVIEW_ABI_MAJOR});
    EXPECT_EQ(dev.value().version().abi_minor, unsigned{KVIEW_ABI_MINOR});
    EXPECT_FALSE(dev.value().version().module_version.empty());
}

TEST(Foundation, UnknownIoctlIsEnotty) {
    auto dev = kview::Device::open();
    ASSERT_TRUE(dev.ok()) << dev.error().message();
    int dummy = 0;
    for (unsigned long cmd :
         {static_cast<unsigned long>(_IO(KVIEW_IOC_MAGIC, 0x7f)),
          static_cast<unsigned long>(_IO('x', 0x00)),
          static_cast<unsigned long>(_IOR(KVIEW_IOC_MAGIC, 0x00, int)),
          static_cast<unsigned long>(_IOR(KVIEW_IOC_MAGIC, 0x01, int)),
          static_cast<unsigned long>(_IOR(KVIEW_IOC_MAGIC, 0x05, struct kview_global_stats))}) {
        auto r = dev.value().raw_ioctl(cmd, &dummy);
        ASSERT_FALSE(r.ok()) << std::hex << cmd;
        EXPECT_EQ(r.error().code, ENOTTY) << std::hex << cmd;
    }
}

TEST(Foundation, BadPointerIsEfault) {
    auto dev = kview::Device::open();
    ASSERT_TRUE(dev.ok());
    for (unsigned long cmd :
         {KVIEW_IOC_GET_VERSION, KVIEW_IOC_VIEW_CREATE, KVIEW_IOC_HOOK_ADD, KVIEW_IOC_VIEW_STATS,
          KVIEW_IOC_READ_TEXT, KVIEW_IOC_GLOBAL_STATS, KVIEW_IOC_LIST_VIEWS}) {
        auto r = dev.value().raw_ioctl(cmd, reinterpret_cast<void*>(8));
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, EFAULT) << std::hex << cmd;
    }
}

TEST(Foundation, CliVersionShowsModule) {
    auto r = guest::sh(guest::cli_path() + " version");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("module "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("ABI " + std::to_string(KVIEW_ABI_MAJOR) + "."), std::string::npos);
}

// Runs last in this suite: unloads and reloads the module.
TEST(Foundation, RmmodRefusedWhileOpenThenSucceeds) {
    const std::string ko = guest::ko_path();
    {
        auto dev = kview::Device::open();
        ASSERT_TRUE(dev.ok());
        EXPECT_GT(std::stoi(guest::read_file("/sys/module/kview/refcnt")), 0);
        auto r = guest::sh("rmmod kview");
        EXPECT_NE(r.status, 0) << "rmmod succeeded with an open fd";
        EXPECT_NE(r.out.find("in use"), std::string::npos) << r.out;
        EXPECT_TRUE(kview::Device::open().ok()) << "module gone after failed rmmod";
    }
    auto r = guest::sh("rmmod kview");
    ASSERT_EQ(r.status, 0) << r.out;
    auto gone = kview::Device::open();
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code, ENOENT);
    EXPECT_NE(gone.error().message().find("module not loaded"), std::string::npos);
    r = guest::sh("insmod " + ko);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(kview::Device::open().ok());
}

} // namespace
