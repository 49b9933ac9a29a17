// kview::BpfObject: a libbpf object (e.g. a CO-RE .bpf.o) whose kprobe and
// kretprobe programs are attached to a View instead of globally. Maps stay
// usable through libbpf (map_fd()) and bpftool while the object lives.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kview/result.hpp"
#include "kview/view.hpp"

struct bpf_object;

namespace kview {

struct ProgramInfo {
    std::string name;    // function name in the object
    std::string section; // e.g. "kprobe/vfs_read"
    int fd = -1;
    uint32_t kind = 0;   // KVIEW_HOOK_* from the section, 0 if not attachable
    std::string symbol;  // from the section
    uint32_t offset = 0;
};

// "kprobe/func[+off]", "kretprobe/func", "ksyscall/name", "kretsyscall/name"
// -> hook kind, symbol and offset. EINVAL for anything else (kprobe.multi,
// uprobes, tracepoints...).
[[nodiscard]] Result<ProgramInfo> parse_section(const std::string& section);

class BpfObject {
  public:
    // Open and load (verify) the object file.
    [[nodiscard]] static Result<BpfObject> load(const std::string& path);
    BpfObject(BpfObject&& o) noexcept;
    BpfObject& operator=(BpfObject&& o) noexcept;
    BpfObject(const BpfObject&) = delete;
    BpfObject& operator=(const BpfObject&) = delete;
    ~BpfObject();

    [[nodiscard]] const std::vector<ProgramInfo>& programs() const { return progs_; }
    // Attach every kprobe/kretprobe/ksyscall program to the view; returns
    // the number attached. Fails (nothing partial is reported as success)
    // on the first program the module refuses.
    [[nodiscard]] Result<int> attach_all(View& view, uint64_t cookie = 0) const;
    [[nodiscard]] Result<int> map_fd(const std::string& name) const;
    [[nodiscard]] bpf_object* raw() const { return obj_; }

  private:
    explicit BpfObject(bpf_object* obj) : obj_(obj) {}
    bpf_object* obj_ = nullptr;
    std::vector<ProgramInfo> progs_;
};

} // namespace kview
