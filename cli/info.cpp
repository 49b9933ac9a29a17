// kview version, stat and list: what the module holds, text or JSON.
#include <linux/kview.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "commands.hpp"
#include "json.hpp"
#include "kview/device.hpp"
#include "usage.hpp"

namespace kview::cli {
namespace {

kview::cli::Json view_json(const kview::ViewInfo& v) {
    return {{"view", v.id},
            {"pid", v.pid},
            {"state", v.live ? "live" : "ended"},
            {"hooks", v.nr_hooks},
            {"mms", v.nr_mms},
            {"pages", kview::cli::u64(v.pages)},
            {"mode", (v.flags & KVIEW_VIEW_SHARED_TEXT) ? "shared-text" : "private"}};
}

} // namespace

int cmd_version(bool json) {
    auto dev = kview::Device::open();
    std::string abi = std::to_string(KVIEW_ABI_MAJOR) + "." + std::to_string(KVIEW_ABI_MINOR);
    kview::cli::Json module = nullptr, module_abi = nullptr;
    std::string line = dev ? "" : dev.error().message(); // "module not loaded: ..."
    if (dev) {
        const auto& v = dev.value().version();
        module = v.module_version;
        module_abi = std::to_string(v.abi_major) + "." + std::to_string(v.abi_minor);
        line = "module " + v.module_version + " (ABI " + module_abi.get<std::string>() + ")";
    }
    if (json)
        kview::cli::emit(stdout, "version",
                         {{"cli", KVIEW_VERSION},
                          {"library", kview::library_version()},
                          {"abi", abi},
                          {"module", module},
                          {"module_abi", module_abi}});
    else
        std::printf("kview CLI %s\nlibkview %s\nABI %s (header)\n%s\n", KVIEW_VERSION,
                    kview::library_version(), abi.c_str(), line.c_str());
    return 0; // a missing module is information here, not a failure
}

int cmd_stat(bool json) {
    auto dev = kview::Device::open();
    if (!dev)
        return fail(dev.error());
    auto st = dev.value().global_stats();
    if (!st)
        return fail(st.error());
    const auto& s = st.value();
    using kview::cli::u64;
    if (json) {
        kview::cli::emit(stdout, "module_stats",
                         {{"live_views", s.live_views},
                          {"views_created", u64(s.views_created)},
                          {"views_destroyed", u64(s.views_destroyed)},
                          {"pages", u64(s.pages)},
                          {"bytes", u64(s.bytes)}});
        return 0;
    }
    std::printf("live views %u  created %llu  destroyed %llu  pages %llu  bytes %llu\n",
                s.live_views, static_cast<unsigned long long>(s.views_created),
                static_cast<unsigned long long>(s.views_destroyed),
                static_cast<unsigned long long>(s.pages), static_cast<unsigned long long>(s.bytes));
    return 0;
}

// The module's views: opening the device and listing, one error either way.
static Result<std::vector<ViewInfo>> all_views() {
    auto dev = Device::open();
    if (!dev)
        return dev.error();
    return dev.value().list_views();
}

int cmd_stat_view(const char* id_arg, bool json) {
    char* end = nullptr;
    unsigned long id = std::strtoul(id_arg, &end, 10);
    if (!end || *end || !id)
        die_usage(std::string("stat takes a view id from 'kview list', not '") + id_arg + "'");
    auto views = all_views();
    if (!views)
        return fail(views.error());
    for (const auto& v : views.value()) {
        if (v.id != id)
            continue;
        if (json) {
            kview::cli::emit(stdout, "view", view_json(v));
            return 0;
        }
        std::printf("view %u: pid %d, %s, %u hook(s), %u address space(s), %llu pages, %s\n", v.id,
                    v.pid, v.live ? "live" : "ended", v.nr_hooks, v.nr_mms,
                    static_cast<unsigned long long>(v.pages),
                    (v.flags & KVIEW_VIEW_SHARED_TEXT) ? "shared-text comparison mode"
                                                       : "private text");
        std::printf("(per-hook counts are reported by the kview that owns the view)\n");
        return 0;
    }
    return fail(kview::Error{ENOENT, "view " + std::string(id_arg), "see 'kview list'"});
}

int cmd_list(bool json) {
    auto views = all_views();
    if (!views)
        return fail(views.error());
    if (json) {
        for (const auto& v : views.value())
            kview::cli::emit(stdout, "view", view_json(v));
        return 0;
    }
    std::printf("%6s %8s %-6s %6s %4s %6s %s\n", "VIEW", "PID", "STATE", "HOOKS", "MMS", "PAGES",
                "MODE");
    for (const auto& v : views.value())
        std::printf("%6u %8d %-6s %6u %4u %6llu %s\n", v.id, v.pid, v.live ? "live" : "ended",
                    v.nr_hooks, v.nr_mms, static_cast<unsigned long long>(v.pages),
                    (v.flags & KVIEW_VIEW_SHARED_TEXT) ? "shared-text (comparison)" : "private");
    return 0;
}

} // namespace kview::cli
