// The workloads of `kview-bench run`, one sample each under one
// configuration (measure.hpp), appended to c.r:
//   sample_load.cpp   untraced memcached: memcaslap, memload (closed, open loop)
//   sample_micro.cpp  untraced syscall loops (and, under icount, ctxsw, fork+exec)
//   sample_cost.cpp   the traced per-event cost (dd bs=1) and attach latency
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kview/result.hpp"
#include "measure.hpp"
#include "memload.hpp"

namespace kview::bench {

// memcaslap's configuration file, written into p.out (sets p.caslap_cfg).
[[nodiscard]] bool write_caslap_cfg(Params& p);
[[nodiscard]] std::vector<std::string> caslap_argv(const Params& p, int threads, int seconds);
void sample_memcaslap(Ctx& c, int rep, Mode mode);
// memload in a fresh process (`self memload ...`): see sample_load.cpp.
[[nodiscard]] Result<LoadResult> run_memload_exec(const LoadParams& lp, const std::string& self);
void sample_memload(Ctx& c, int rep, Mode mode, bool open);

void sample_micro(Ctx& c, int rep, Mode mode, int programs);

// Traced per-event cost: dd bs=1 under no probe, a stock kprobe+BPF at the
// function entry (ftrace-based, what bpftrace does), a stock kprobe+BPF at
// kview's own address (optimized to a jump, or kept an int3), and a kview
// hook+the same BPF.
enum class CostCfg { Control, StockFtrace, StockOpt, StockInt3, Kview };
inline constexpr std::array kCostCfgs = {CostCfg::Control, CostCfg::StockFtrace, CostCfg::StockOpt,
                                         CostCfg::StockInt3, CostCfg::Kview};
[[nodiscard]] const char* cost_name(CostCfg k);
// /proc/sys/debug/kprobes-optimization
bool set_kprobes_optimization(bool on);
// int3_off: kview's hook offset in vfs_read (the same-address stock kprobe).
void sample_cost(Ctx& c, int rep, CostCfg k, uint32_t int3_off);
// kview view + 1 / 16 hooks vs libbpf kprobe attach of the same program.
void sample_attach(Ctx& c, int rep);

} // namespace kview::bench
