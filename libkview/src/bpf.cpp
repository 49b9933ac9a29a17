#include "kview/bpf.hpp"

#include <bpf/libbpf.h>

#include <utility>

#include "kview/parse.hpp"

namespace kview {

Result<ProgramInfo> parse_section(const std::string& section) {
    struct Prefix {
        const char* p;
        uint32_t kind;
    };
    static const Prefix prefixes[] = {{"kprobe/", KVIEW_HOOK_KPROBE},
                                      {"kretprobe/", KVIEW_HOOK_KRETPROBE},
                                      {"ksyscall/", KVIEW_HOOK_SYSCALL_ENTER},
                                      {"kretsyscall/", KVIEW_HOOK_SYSCALL_EXIT}};
    for (const auto& pre : prefixes) {
        std::string p = pre.p;
        if (section.rfind(p, 0) != 0)
            continue;
        auto spec = parse_hook_spec(section.substr(p.size()));
        if (!spec)
            return Error{EINVAL, "section '" + section + "'", spec.error().hint};
        if (pre.kind != KVIEW_HOOK_KPROBE && spec.value().offset)
            return Error{EINVAL, "section '" + section + "'", "only kprobe/ takes an offset"};
        ProgramInfo info;
        info.section = section;
        info.kind = pre.kind;
        info.symbol = spec.value().symbol;
        info.offset = spec.value().offset;
        return info;
    }
    return Error{EINVAL, "section '" + section + "'",
                 "kview attaches kprobe/, kretprobe/, ksyscall/ and kretsyscall/ programs"};
}

// libbpf reports its own codes (LIBBPF_ERRNO__*, from 4000) through errno.
static Error libbpf_error(std::string context, std::string hint) {
    Error e = errno_error(std::move(context), std::move(hint));
    if (e.code >= 4000 && e.code < 4100) {
        e.hint = "not a valid BPF object (libbpf error " + std::to_string(e.code) + ")";
        e.code = EINVAL;
    }
    return e;
}

Result<BpfObject> BpfObject::load(const std::string& path) {
    bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
    if (!obj)
        return libbpf_error("open BPF object " + path, {});
    BpfObject o(obj);
    if (bpf_object__load(obj) != 0)
        return libbpf_error("load BPF object " + path, "run with -v for the verifier log");
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj) {
        std::string sec = bpf_program__section_name(prog);
        auto info = parse_section(sec);
        ProgramInfo pi = info ? info.value() : ProgramInfo{};
        pi.name = bpf_program__name(prog);
        pi.section = sec;
        pi.fd = bpf_program__fd(prog);
        o.progs_.push_back(std::move(pi));
    }
    return o;
}

BpfObject::BpfObject(BpfObject&& o) noexcept
    : obj_(std::exchange(o.obj_, nullptr)), progs_(std::move(o.progs_)) {}

BpfObject& BpfObject::operator=(BpfObject&& o) noexcept {
    if (this != &o) {
        bpf_object__close(obj_);
        obj_ = std::exchange(o.obj_, nullptr);
        progs_ = std::move(o.progs_);
    }
    return *this;
}

BpfObject::~BpfObject() { bpf_object__close(obj_); }

Result<int> BpfObject::attach_all(View& view, uint64_t cookie) const {
    int n = 0;
    for (const auto& p : progs_) {
        if (!p.kind)
            continue;
        auto r = view.add_hook(p.kind, p.symbol, p.offset, cookie, p.fd);
        if (!r) {
            Error e = r.error();
            e.context = "program " + p.name + ": " + e.context;
            return e;
        }
        n++;
    }
    if (!n)
        return Error{ENOENT, "attach object", "no kprobe/kretprobe/ksyscall program in it"};
    return n;
}

Result<int> BpfObject::map_fd(const std::string& name) const {
    bpf_map* m = bpf_object__find_map_by_name(obj_, name.c_str());
    if (!m)
        return Error{ENOENT, "map " + name, {}};
    return bpf_map__fd(m);
}

} // namespace kview
