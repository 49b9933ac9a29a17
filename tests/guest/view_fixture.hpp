// What the view tests (view_test.cpp, coherence_test.cpp, lifetime_test.cpp)
// share: a fixture that checks the module holds no view and no page before
// and after each test, and small helpers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "guest_util.hpp"
#include "kview/device.hpp"
#include "kview/view.hpp"

namespace view_test {

using guest::Child;
using guest::global;
using kview::View;

inline const kview::HookStats* find_hook(const kview::ViewStats& s, const std::string& sym,
                                         uint32_t kind) {
    for (const auto& h : s.hooks)
        if (h.symbol == sym && h.kind == kind)
            return &h;
    return nullptr;
}

inline kview::ViewStats stats_of(const View& v) {
    auto s = v.stats();
    EXPECT_TRUE(s.ok()) << s.error().message();
    return s.ok() ? s.value() : kview::ViewStats{};
}

inline std::vector<uint8_t> shared_text(uint64_t addr) {
    auto d = kview::Device::open();
    EXPECT_TRUE(d.ok());
    auto t = d.value().read_text(addr & ~4095ULL, 4096);
    EXPECT_TRUE(t.ok()) << t.error().message();
    return t.ok() ? t.value() : std::vector<uint8_t>(4096);
}

inline View make_view(pid_t pid, uint32_t flags = 0) {
    auto v = View::create(pid, flags);
    if (!v.ok())
        ADD_FAILURE() << v.error().message();
    return std::move(v.value());
}

#define ASSERT_OK(expr)                                                                            \
    do {                                                                                           \
        auto&& r_ = (expr);                                                                        \
        ASSERT_TRUE(r_.ok()) << #expr << ": " << r_.error().message();                             \
    } while (0)

class Views : public testing::Test {
  protected:
    void SetUp() override {
        auto g = global();
        ASSERT_EQ(g.live_views, 0u) << "a previous test leaked a view";
        ASSERT_EQ(g.pages, 0u);
    }
    void TearDown() override {
        auto g = global();
        EXPECT_EQ(g.live_views, 0u);
        EXPECT_EQ(g.pages, 0u) << "pages leaked";
    }
};

} // namespace view_test
