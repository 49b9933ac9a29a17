/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel interfaces that differ between the kernels kview supports (Debian
 * 12's 6.1, and the 6.12 LTS from bookworm-backports in its generic and
 * PREEMPT_RT flavours), in the lttng-modules "wrapper" style: one wrapper
 * per interface, here, with its version gate and the reason for it. The
 * unexported functions and variables themselves are resolved in ksyms.c,
 * each through a pointer whose type is checked at build time against the
 * kernel's own declaration wherever the headers have one; the rest of the
 * module calls these wrappers and never tests LINUX_VERSION_CODE itself.
 *
 * kview_compat_check() runs at load time, after ksyms.c: on a kernel whose
 * interfaces are not the ones this build was written for it fails the load
 * with one dmesg line naming the interface (never a call through a wrong
 * prototype). docs/compat.md lists every difference and how it is handled.
 */
#ifndef KVIEW_COMPAT_H
#define KVIEW_COMPAT_H

#include <linux/filter.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/rethook.h>
#include <linux/version.h>

/*
 * Return hooks (kernel/trace/rethook.c, not exported).
 *
 * Up to 6.6 the caller allocates every node and hands it over with
 * rethook_add_node(); 6.7 moved the node pool to objpool: rethook_alloc()
 * takes the node size and count and allocates them itself, returns an
 * ERR_PTR instead of NULL, and rethook_add_node() is gone. A call through
 * the old prototype would write nodes into a pool laid out differently: the
 * pointers in ksyms.c carry the headers' prototypes, so a wrong gate is a
 * build error, and kview_compat_check() refuses a kernel that still has
 * rethook_add_node() when this build expects objpool (or lacks it when it
 * does not).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
#define KVIEW_RETHOOK_OBJPOOL 1
#endif

/*
 * The return handler's prototype: 6.5 (fprobe passing the return address)
 * added the original return address before regs. Type-checked where the
 * handler is passed to kview_rethook_alloc() (rethook_handler_t).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define KVIEW_RETHOOK_HANDLER(fn, rn, data, regs)			\
	void fn(struct rethook_node *rn, void *data,			\
		unsigned long ret_addr __always_unused, struct pt_regs *regs)
#else
#define KVIEW_RETHOOK_HANDLER(fn, rn, data, regs)			\
	void fn(struct rethook_node *rn, void *data, struct pt_regs *regs)
#endif

/* A rethook with @nodes nodes ready, or an ERR_PTR (never NULL). */
struct rethook *kview_rethook_alloc(void *data, rethook_handler_t handler,
				    unsigned int nodes);

/*
 * The pt_regs pointer in a syscall tracepoint program's context
 * (trace_syscalls.c): the syscall's user registers in 6.1, the tracing
 * code's own (perf_fetch_caller_regs(), a kernel stack to walk) in 6.12.
 * Only these two are built and read; the change lies between.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#define KVIEW_SYSCALL_TP_KERNEL_REGS 1
#else
#define KVIEW_SYSCALL_TP_KERNEL_REGS 0
#endif

/*
 * Sleepable BPF programs (we refuse them: hooks run in int3 context).
 * 6.10 moved the flag from bpf_prog_aux to bpf_prog itself.
 */
static inline bool kview_prog_sleepable(const struct bpf_prog *prog)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
	return prog->sleepable;
#else
	return prog->aux->sleepable;
#endif
}

/*
 * Where the body of the kernel function at @func starts: past its fentry
 * call and, on a kernel built with CONFIG_X86_KERNEL_IBT (Debian's 6.12;
 * not its 6.1), past the endbr64 before it. Offset 0 of an entry hook means
 * this address. ftrace_location(func) has returned the fentry site for a
 * function's start address even when an endbr64 precedes it since 5.18, so
 * one rule serves 6.1 and 6.12; kview_compat_check() verifies the layout on
 * a known function at load time.
 */
unsigned long kview_func_body(unsigned long func);
struct kprobe;
void kview_entry_kprobe(struct kprobe *kp, unsigned long func);

/*
 * The temporary mm kernel text writes go through (x86 text patching):
 * "poking_mm" in 6.1 and 6.12, "text_poke_mm" after the later text-poke
 * rework. Both names are tried (ksyms.c); the type is the headers'
 * declaration where they declare it.
 */
#define KVIEW_POKING_MM_NAME	"poking_mm"
#define KVIEW_POKING_MM_NAME2	"text_poke_mm"

/*
 * Does the running task hold mutex @m? kernel/locking keeps its owner
 * helpers private; the owner word is in the public struct: the task with
 * three flag bits (MUTEX_FLAGS) below it, or, on PREEMPT_RT, where a mutex
 * is an rt_mutex, with one (RT_MUTEX_HAS_WAITERS). The same in 6.1 and
 * 6.12.
 */
static inline bool kview_mutex_owner_is_current(struct mutex *m)
{
#ifdef CONFIG_PREEMPT_RT
	unsigned long owner = (unsigned long)READ_ONCE(m->rtmutex.owner);

	return (struct task_struct *)(owner & ~1UL) == current;
#else
	unsigned long owner = atomic_long_read(&m->owner);

	return (struct task_struct *)(owner & ~0x07UL) == current;
#endif
}

/* Load-time check of the interfaces above; 0 or -EOPNOTSUPP, with a line. */
int kview_compat_check(void);

#endif /* KVIEW_COMPAT_H */
