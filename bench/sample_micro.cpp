// Untraced syscall loops under each configuration: in this process
// (wall clock), or in the untraced worker process (instruction time).
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "proc.hpp"
#include "samples.hpp"

namespace kview::bench {

namespace {

// Instruction time (-icount): read, write, getpid, sendmsg at every N with
// programs on all four entries; at the first N also the context switch and
// fork+exec (bench/workloads.cpp).
void sample_micro_icount(Ctx& c, int rep, Mode mode, int programs) {
    bool first = programs == c.p.programs.front();
    std::map<std::string, double> got;
    auto v = measure(c, "micro", mode, programs, rep, 0, false, micro_hooks(),
                     [&]() -> std::optional<double> {
                         ::usleep(200000); // let the attach's deferred work (RCU, kworkers) settle
                         auto one = [&](const char* w, std::optional<double> x) {
                             if (!x)
                                 c.r.errors.push_back(std::string(w) + " " + mode_name(mode) +
                                                      ": the workload failed");
                             else
                                 got[w] = *x;
                             return x.has_value();
                         };
                         auto& wk = *c.worker;
                         bool ok = one("micro-read", wk.run(Op::Read, c.p.chunks));
                         ok &= one("micro-write", wk.run(Op::Write, c.p.chunks));
                         ok &= one("micro-getpid", wk.run(Op::Getpid, c.p.chunks));
                         ok &= one("micro-sendmsg", wk.run(Op::Sendmsg, c.p.send_chunks));
                         if (first) {
                             ok &= one("ctxsw", wk.run(Op::Ctxsw, c.p.ctxsw_chunks));
                             ok &= one("forkexec", wk.run(Op::Forkexec, c.p.forkexec_chunks));
                         }
                         return ok ? std::optional<double>(0) : std::nullopt;
                     });
    if (!v)
        return;
    for (const auto& [w, x] : got)
        c.r.samples.push_back({w, "ns_per_op", "ns", mode_name(mode), programs, rep, x});
    progress("  micro %-9s N=%-3d read %.1f write %.1f getpid %.1f sendmsg %.1f ctxsw %.0f "
             "forkexec %.0f",
             mode_name(mode), programs, got["micro-read"], got["micro-write"], got["micro-getpid"],
             got["micro-sendmsg"], first ? got["ctxsw"] : NAN, first ? got["forkexec"] : NAN);
}

} // namespace

// Untraced syscall loops in this process: ns per read(/dev/zero, 1) and per
// sendmsg(1 byte)+recv on a datagram socketpair.
void sample_micro(Ctx& c, int rep, Mode mode, int programs) {
    if (c.p.icount)
        return sample_micro_icount(c, rep, mode, programs);
    double read_ns = NAN, send_ns = NAN;
    auto v = measure(
        c, "micro", mode, programs, rep, 0, false, syscall_hooks(), [&]() -> std::optional<double> {
            int zero = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
            int sp[2];
            if (zero < 0 || ::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp))
                return std::nullopt;
            ::usleep(200000); // let the attach's deferred work (RCU, kworkers) settle
            // Measure on one CPU: no migrations in the middle of a chunk.
            cpu_set_t all, one;
            CPU_ZERO(&one);
            CPU_SET(static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)) - 1, &one);
            bool pinned = !::sched_getaffinity(0, sizeof(all), &all) &&
                          !::sched_setaffinity(0, sizeof(one), &one);
            // 20 chunks 2 ms apart; the sample is the fastest chunk (the usual
            // microbenchmark estimator: the emulator's host-side interference
            // only ever adds time, and comes in bursts).
            constexpr int kChunks = 20;
            std::vector<double> rd, sd;
            char b = 0;
            bool ok = true;
            for (int chunk = 0; chunk < kChunks; chunk++) {
                uint32_t nr = c.p.micro_read_ops / kChunks, ns = c.p.micro_sendmsg_ops / kChunks;
                double t0 = now_s();
                for (uint32_t i = 0; i < nr; i++)
                    ok &= ::read(zero, &b, 1) == 1;
                double t1 = now_s();
                for (uint32_t i = 0; i < ns; i++) {
                    iovec iov{&b, 1};
                    msghdr mh{};
                    mh.msg_iov = &iov;
                    mh.msg_iovlen = 1;
                    ok &= ::sendmsg(sp[0], &mh, 0) == 1;
                    ok &= ::recv(sp[1], &b, 1, 0) == 1;
                }
                double t2 = now_s();
                rd.push_back((t1 - t0) * 1e9 / nr);
                sd.push_back((t2 - t1) * 1e9 / ns);
                ::usleep(2000);
            }
            if (pinned)
                ::sched_setaffinity(0, sizeof(all), &all);
            ::close(zero);
            ::close(sp[0]);
            ::close(sp[1]);
            read_ns = *std::min_element(rd.begin(), rd.end());
            send_ns = *std::min_element(sd.begin(), sd.end());
            return ok ? std::optional<double>(read_ns) : std::nullopt;
        });
    if (!v)
        return;
    c.r.samples.push_back(
        {"micro-read", "ns_per_op", "ns", mode_name(mode), programs, rep, read_ns});
    c.r.samples.push_back(
        {"micro-sendmsg", "ns_per_op", "ns", mode_name(mode), programs, rep, send_ns});
}

} // namespace kview::bench
