// The run's metadata and bench.json (report.hpp).
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "proc.hpp"
#include "report.hpp"
#include "stats.hpp"

namespace kview::bench {

namespace {

std::string json_str(const std::string& s) {
    std::string o = "\"";
    for (char ch : s) {
        if (ch == '"' || ch == '\\')
            o += '\\', o += ch;
        else if (static_cast<unsigned char>(ch) < 0x20)
            o += fmt("\\u%04x", static_cast<unsigned char>(ch));
        else
            o += ch;
    }
    return o + "\"";
}

std::string json_num(double x) {
    if (std::isnan(x) || std::isinf(x))
        return "null";
    char b[64];
    std::snprintf(b, sizeof(b), "%.9g", x);
    return b;
}

std::string first_line(const std::optional<std::string>& s) {
    if (!s)
        return "unknown";
    return s->substr(0, s->find('\n'));
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0)
            return line.substr(line.find(':') + 2);
    return "unknown";
}

} // namespace

Meta metadata(const Params& p, double seconds) {
    Meta m;
    utsname u{};
    ::uname(&u);
    m.kv["git"] = KVIEW_VERSION;
    m.kv["guest_kernel"] = std::string(u.release) + " " + u.version;
    m.kv["cpu_model"] = cpu_model();
    m.kv["cpus"] = std::to_string(::sysconf(_SC_NPROCESSORS_ONLN));
    const char* var = std::getenv("KVIEW_VARIANT");
    m.kv["variant"] = var ? var : "host";
    m.kv["accel"] =
        p.icount ? "QEMU TCG -icount shift=0,sleep=off (1 ns = 1 instruction), 1 vCPU"
                 : "QEMU TCG (emulated): ratios and ordering are the result, not absolute times";
    if (p.icount) {
        auto ch = [](const Chunks& k) {
            return std::to_string(k.chunks) + " chunks x " + std::to_string(k.per_chunk);
        };
        m.kv["icount_params"] =
            "read/write/getpid " + ch(p.chunks) + ", sendmsg " + ch(p.send_chunks) + ", ctxsw " +
            ch(p.ctxsw_chunks) + ", forkexec " + ch(p.forkexec_chunks) +
            " per sample (fastest chunk); programs on the read, write, getpid, sendmsg entries";
        m.kv["programs"] = [&] {
            std::string s;
            for (int n : p.programs)
                s += (s.empty() ? "" : ", ") + std::to_string(n);
            return s;
        }();
    }
    m.kv["memcached"] = first_line(capture({"memcached", "-V"}));
    m.kv["memcaslap"] = first_line(
        capture({"sh", "-c",
                 "dpkg-query -W -f='${Version}' libmemcached-tools 2>/dev/null || echo unknown"}));
    m.kv["libbpf"] =
        std::to_string(libbpf_major_version()) + "." + std::to_string(libbpf_minor_version());
    m.kv["compiler"] = __VERSION__;
    m.kv["mode"] = p.mode;
    m.kv["reps"] = std::to_string(p.reps);
    m.kv["memcaslap_params"] = "-T " + std::to_string(p.caslap_threads) + " -c " +
                               std::to_string(p.caslap_conc) + " -t " +
                               std::to_string(p.caslap_seconds) + "s (set 10%, get 90%)";
    m.kv["memload_params"] =
        std::to_string(p.load.workers) + " processes x " + std::to_string(p.load.conns) +
        " connections, " + fmt("%.1f", p.load.seconds) + " s measured after " +
        fmt("%.1f", p.load.warmup_s) + " s warm-up, " + std::to_string(p.load.keys) + " keys, " +
        std::to_string(p.load.value_size) + " B values, 10% sets; open loop at " +
        fmt("%.0f", p.load.rate) + " req/s";
    m.kv["traced_driver"] =
        std::to_string(p.driver_ops) + " read()+sendmsg() pairs per sample by one traced process";
    m.kv["micro_params"] = std::to_string(p.micro_read_ops) + " read() and " +
                           std::to_string(p.micro_sendmsg_ops) + " sendmsg() per sample";
    m.kv["dd"] = std::string(p.icount ? "busybox (static, tmpfs) " : "") +
                 "dd if=/dev/zero of=/dev/null bs=1 count=" + std::to_string(p.dd_count);
    m.kv["duration_s"] = fmt("%.0f", seconds);
    return m;
}

void write_json(const std::string& path, const Meta& meta, const Results& r) {
    std::ofstream o(path);
    o << "{\n  \"metadata\": {";
    bool first = true;
    for (const auto& [k, v] : meta.kv) {
        o << (first ? "\n" : ",\n") << "    " << json_str(k) << ": " << json_str(v);
        first = false;
    }
    o << "\n  },\n  \"samples\": [";
    for (size_t i = 0; i < r.samples.size(); i++) {
        const auto& s = r.samples[i];
        o << (i ? ",\n" : "\n") << "    {\"workload\": " << json_str(s.workload)
          << ", \"metric\": " << json_str(s.metric) << ", \"unit\": " << json_str(s.unit)
          << ", \"config\": " << json_str(s.config) << ", \"programs\": " << s.programs
          << ", \"rep\": " << s.rep << ", \"value\": " << json_num(s.value);
        if (!std::isnan(s.p50_us))
            o << ", \"p50_us\": " << json_num(s.p50_us) << ", \"p99_us\": " << json_num(s.p99_us)
              << ", \"p999_us\": " << json_num(s.p999_us);
        o << "}";
    }
    o << "\n  ],\n  \"traced_checks\": [";
    for (size_t i = 0; i < r.checks.size(); i++) {
        const auto& c = r.checks[i];
        o << (i ? ",\n" : "\n") << "    {\"workload\": " << json_str(c.workload)
          << ", \"config\": " << json_str(c.config) << ", \"programs\": " << c.programs
          << ", \"rep\": " << c.rep << ", \"expected\": " << c.expected
          << ", \"read_events\": " << c.got_read << ", \"sendmsg_events\": " << c.got_sendmsg
          << ", \"untraced_handler_entries\": " << c.foreign
          << ", \"ringbuf_dropped\": " << c.dropped << ", \"ok\": " << (c.ok ? "true" : "false")
          << "}";
    }
    o << "\n  ],\n  \"errors\": [";
    for (size_t i = 0; i < r.errors.size(); i++)
        o << (i ? ", " : "") << json_str(r.errors[i]);
    o << "]\n}\n";
}

} // namespace kview::bench
