#include "kview/device.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cstring>

#ifndef KVIEW_VERSION
#define KVIEW_VERSION "unknown"
#endif

namespace kview {

const char* library_version() { return KVIEW_VERSION; }

Result<Device> Device::open(const std::string& path) {
    auto fd = Fd::open(path, O_RDWR);
    if (!fd) {
        Error e = fd.error();
        if (e.code == ENOENT)
            e.context = "module not loaded: " + path + " does not exist";
        if (e.code == ENOENT)
            e.hint = "sudo insmod build/kmod/$(uname -r)/kview.ko";
        else if (e.code == EACCES || e.code == EPERM)
            e.hint = "kview needs root (CAP_SYS_ADMIN, or CAP_BPF + CAP_PERFMON)";
        return e;
    }
    kview_version v{};
    if (::ioctl(fd.value().get(), KVIEW_IOC_GET_VERSION, &v) != 0)
        return errno_error("version handshake on " + path, "is this really the kview module?");
    ModuleVersion mv{v.abi_major, v.abi_minor,
                     std::string(v.module_version, strnlen(v.module_version, sizeof(v.module_version)))};
    if (mv.abi_major != KVIEW_ABI_MAJOR) {
        return Error{EPROTO,
                     "kview module ABI " + std::to_string(mv.abi_major) + "." +
                         std::to_string(mv.abi_minor) + " is incompatible with libkview ABI " +
                         std::to_string(KVIEW_ABI_MAJOR) + "." + std::to_string(KVIEW_ABI_MINOR),
                     "rebuild and load the module from the same kview release"};
    }
    return Device(std::move(fd.value()), std::move(mv));
}

Result<GlobalStats> Device::global_stats() const {
    kview_global_stats st{};
    st.size = sizeof(st);
    if (::ioctl(fd_.get(), KVIEW_IOC_GLOBAL_STATS, &st) != 0)
        return errno_error("global stats");
    return GlobalStats{st.live_views, st.views_created, st.views_destroyed, st.pages, st.bytes};
}

Result<std::vector<ViewInfo>> Device::list_views() const {
    std::vector<kview_view_info> raw;
    for (uint32_t cap = 16;; cap *= 4) { // views may appear between calls
        raw.assign(cap, kview_view_info{});
        kview_list_views req{};
        req.size = sizeof(req);
        req.cap = cap;
        req.views_ptr = reinterpret_cast<uintptr_t>(raw.data());
        if (::ioctl(fd_.get(), KVIEW_IOC_LIST_VIEWS, &req) != 0)
            return errno_error("list views", errno == EPERM ? "needs CAP_SYS_ADMIN" : "");
        if (req.nr_views <= cap) {
            raw.resize(req.nr_views);
            break;
        }
    }
    std::vector<ViewInfo> out;
    for (const auto& v : raw)
        out.push_back(ViewInfo{v.view_id, v.pid, v.state == KVIEW_VIEW_LIVE, v.flags, v.nr_hooks,
                               v.nr_mms, v.pages});
    return out;
}

Result<std::vector<uint8_t>> Device::read_text(uint64_t addr, uint32_t len) const {
    std::vector<uint8_t> buf(len);
    kview_read_text req{};
    req.size = sizeof(req);
    req.len = len;
    req.addr = addr;
    req.buf_ptr = reinterpret_cast<uintptr_t>(buf.data());
    if (::ioctl(fd_.get(), KVIEW_IOC_READ_TEXT, &req) != 0)
        return errno_error("read kernel text", "needs CAP_SYS_ADMIN; address must be kernel text");
    return buf;
}

Result<int> Device::raw_ioctl(unsigned long cmd, void* arg) const {
    int r = ::ioctl(fd_.get(), cmd, arg);
    if (r < 0)
        return errno_error("ioctl " + std::to_string(cmd));
    return r;
}

} // namespace kview
