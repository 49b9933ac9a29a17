// kview::Device: an open /dev/kview after a successful ABI handshake.
#pragma once

#include <linux/kview.h>

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kview/fd.hpp"
#include "kview/result.hpp"

namespace kview {

// Library version (git describe of the build).
[[nodiscard]] const char* library_version();

struct ModuleVersion {
    uint32_t abi_major = 0;
    uint32_t abi_minor = 0;
    std::string module_version;
};

struct ViewInfo {
    uint32_t id = 0;
    pid_t pid = 0;
    bool live = false;
    uint32_t flags = 0;
    uint32_t nr_hooks = 0;
    uint32_t nr_mms = 0;
    uint64_t pages = 0;
};

struct GlobalStats {
    uint32_t live_views = 0;
    uint64_t views_created = 0;
    uint64_t views_destroyed = 0;
    uint64_t pages = 0;
    uint64_t bytes = 0;
};

class Device {
  public:
    // Opens the device and checks the module's ABI major against the one
    // this library was built with. ENOENT: module not loaded; EPROTO: ABI
    // mismatch (both versions named in the error).
    [[nodiscard]] static Result<Device> open(const std::string& path = KVIEW_DEVICE_PATH);

    [[nodiscard]] const ModuleVersion& version() const { return version_; }
    [[nodiscard]] Result<GlobalStats> global_stats() const;
    // Every view in the system (any process's). Needs CAP_SYS_ADMIN.
    [[nodiscard]] Result<std::vector<ViewInfo>> list_views() const;
    // Kernel text at addr as *this process* sees it (its view, if traced).
    [[nodiscard]] Result<std::vector<uint8_t>> read_text(uint64_t addr, uint32_t len) const;
    // Any ioctl on this device; for tests of the ABI's edges.
    [[nodiscard]] Result<int> raw_ioctl(unsigned long cmd, void* arg) const;
    [[nodiscard]] int fd() const { return fd_.get(); }

  private:
    Device(Fd fd, ModuleVersion v) : fd_(std::move(fd)), version_(std::move(v)) {}
    Fd fd_;
    ModuleVersion version_;
};

} // namespace kview
