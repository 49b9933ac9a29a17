// SPDX-License-Identifier: GPL-2.0
/*
 * Hit handling: what runs when a task executes a hook's int3 in its view's
 * private text (or, for a shared-text site, anybody's). The kprobe core
 * finds the site's kprobe by address and calls kview_pre_handler(); return
 * hooks divert the return to the rethook trampoline, which calls
 * kview_return_handler(). Each hit is counted for the hooks whose view the
 * running context belongs to (kview.h, struct kview_hook: hits,
 * other_hits, foreign_mm_hits), runs the hook's BPF program, and lets the
 * view's own hooks follow forks and execs (follow.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/hardirq.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include "kview.h"

/*
 * Was the hooked code running in task context? Our own int3 enters NMI
 * context (irqentry_nmi_enter adds one NMI and one hardirq level); when
 * someone else optimized the address into a jump, the handler runs in the
 * context of the hooked code itself.
 */
static bool hit_in_task(void)
{
	if (current->flags & PF_KTHREAD || in_serving_softirq())
		return false;
	if (in_nmi())
		return nmi_count() == NMI_OFFSET &&
		       hardirq_count() == HARDIRQ_OFFSET;
	return !in_hardirq();
}

/*
 * Run the hook's BPF program the way the kernel's kprobe path does
 * (trace_call_bpf): one tracing program per CPU at a time, under RCU, with a
 * run context that makes bpf_get_attach_cookie() return the hook's cookie.
 * Preemption is off here (int3 or rethook context). @ctx: the hit's pt_regs
 * (a kprobe program) or a syscall tracepoint's context (run_tp_prog()). An
 * entry hook's program runs with its entry_kp as the running kprobe, so
 * bpf_get_func_ip() gives the function, not the hook address past the
 * fentry call; only entry hooks have one, and they run in the kprobe
 * handler, where a kprobe is running.
 */
static void run_prog(struct kview_hook *h, struct bpf_prog *prog, void *ctx)
{
	struct bpf_trace_run_ctx run = { .bpf_cookie = h->cookie };
	struct kprobe **running = this_cpu_ptr(kv_sym.current_kprobe);
	struct kprobe *was = *running;
	struct bpf_run_ctx *old;

	if (unlikely(this_cpu_inc_return(*kv_sym.bpf_prog_active) != 1)) {
		atomic64_inc(&h->prog_skipped);
		goto out;
	}
	rcu_read_lock();
	old = bpf_set_run_ctx(&run.run_ctx);
	if (h->entry_kp.addr)
		*running = &h->entry_kp;
	bpf_prog_run(prog, ctx);
	*running = was;
	bpf_reset_run_ctx(old);
	rcu_read_unlock();
	atomic64_inc(&h->prog_runs);
out:
	this_cpu_dec(*kv_sym.bpf_prog_active);
}

/*
 * A tracepoint program on a syscall hook (hook.c lets no other hook take
 * one) runs with the context the kernel's syscalls:sys_enter_* /
 * sys_exit_* events give it (kview.h): the syscall's user registers
 * (task_pt_regs(), what __x64_sys_*() gets in %rdi) give its number
 * (orig_ax) and six arguments (the kernel copies only the syscall's own,
 * the rest of its context is not written); at return, %rax of the return
 * hook's registers is the value do_syscall_64() stores as the result.
 */
static void run_tp_prog(struct kview_hook *h, struct bpf_prog *prog,
			struct pt_regs *regs)
{
	struct pt_regs *user = task_pt_regs(current);
	u64 ctx_regs = (unsigned long)(KVIEW_SYSCALL_TP_KERNEL_REGS ? regs : user);

	if (h->kind == KVIEW_HOOK_SYSCALL_EXIT) {
		struct kview_sys_exit_ctx out = {
			.regs = ctx_regs,
			.nr = user->orig_ax,
			.ret = regs->ax,
		};

		run_prog(h, prog, &out);
	} else {
		struct kview_sys_enter_ctx in = {
			.regs = ctx_regs,
			.nr = user->orig_ax,
			.args = { user->di, user->si, user->dx,
				  user->r10, user->r8, user->r9 },
		};

		run_prog(h, prog, &in);
	}
}

/* Count one hit of @h: from a task of the view, or another context on it. */
static bool count_hit(struct kview_hook *h, bool task, struct pt_regs *regs)
{
	struct kview_view *v = h->view;
	struct bpf_prog *prog;
	atomic64_t *count;

	if (task && current->mm && kview_view_has_mm(v, current->mm))
		count = &h->hits;
	else if (current->active_mm && kview_view_has_mm(v, current->active_mm))
		count = &h->other_hits;
	else
		return false;
	if (READ_ONCE(h->session_closed))
		return true;	/* the view's, but nobody counts it any more */
	atomic64_inc(count);
	prog = READ_ONCE(h->prog);	/* a hook descriptor's may come later */
	if (!prog || READ_ONCE(h->prog_off))
		return true;
	if (prog->type == BPF_PROG_TYPE_TRACEPOINT)
		run_tp_prog(h, prog, regs);
	else
		run_prog(h, prog, regs);
	return true;
}

/*
 * A task outside every view hooking private site @s entered it: say how,
 * once per episode (the poll re-arms the report). Expected: somebody armed
 * the address in shared text (another kprobe there), or optimized it into
 * a jump (handler outside NMI); an int3 being armed in shared text is
 * mirrored into private copies first, so a copy may show it a moment
 * earlier. If neither shared text nor the text this CPU maps holds an int3
 * there, the CPU ran an instruction that is no longer in memory: the int3
 * was removed right after the trap, or the CPU runs stale code (seen under
 * multi-threaded QEMU TCG after live patching, docs/reliability.md).
 */
static void report_foreign(struct kview_site *s)
{
	u8 shared = *(u8 *)__va(__pa_symbol(s->kp.addr));
	u8 mapped = *(u8 *)s->kp.addr;

	if (!in_nmi() || shared == KVIEW_INT3)
		pr_info_ratelimited("%pS armed in shared text (another kprobe there): %s[%d] entered our hook\n",
				    s->kp.addr, current->comm, task_pid_nr(current));
	else if (mapped != KVIEW_INT3)
		pr_info_ratelimited("%pS: %s[%d] trapped on an int3 that is not in memory (%02x there): removed since, or stale code\n",
				    s->kp.addr, current->comm, task_pid_nr(current), mapped);
	else
		pr_info_ratelimited("%pS: %s[%d] ran a private copy's int3 outside the views hooking it\n",
				    s->kp.addr, current->comm, task_pid_nr(current));
}

/* Hit path: runs in int3 (NMI-like) context, IRQs off. */
int kview_pre_handler(struct kprobe *kp, struct pt_regs *regs)
{
	struct kview_site *s = container_of(kp, struct kview_site, kp);
	bool task = hit_in_task();
	struct kview_hook *h;
	bool matched = false, want_return = false;
	struct rethook_node *rn;

	rcu_read_lock();
	list_for_each_entry_rcu(h, &s->subs, site_node) {
		if (kview_hook_is_return(h->kind)) {
			if (kview_view_has_mm(h->view, current->active_mm))
				want_return = true;
			if (want_return)
				matched = true;
		} else if (h->kind == KVIEW_HOOK_FOLLOW_FORK) {
			matched |= kview_follow_fork(h, task, regs);
		} else if (count_hit(h, task, regs)) {
			matched = true;
		}
	}
	/* Only possible if somebody armed this address in shared text. */
	if (!matched && task && current->mm) {
		list_for_each_entry_rcu(h, &s->subs, site_node)
			atomic64_inc(&h->foreign_mm_hits);
		/* see site_poll_fn(); foreign hits are the point of shared sites */
		if (!atomic_xchg(&s->shared_armed, 1) && !s->shared)
			report_foreign(s);
		matched = true;
	}
	if (!matched)
		atomic64_inc(&s->unmatched);
	/* Return hooks sit at function entry: [sp] is the return address. */
	if (want_return) {
		rn = s->rh ? kv_sym.rethook_try_get(s->rh) : NULL;
		if (rn) {
			kv_sym.rethook_hook(rn, regs, false);
		} else {
			list_for_each_entry_rcu(h, &s->subs, site_node)
				if (kview_hook_is_return(h->kind) &&
				    kview_view_has_mm(h->view, current->active_mm))
					atomic64_inc(&h->missed);
		}
	}
	rcu_read_unlock();
	return 0;
}

/* Runs when a function hooked at entry returns (rethook trampoline). */
KVIEW_RETHOOK_HANDLER(kview_return_handler, rn, data, regs)
{
	struct kview_site *s = data;
	bool task = hit_in_task();
	struct kview_hook *h;

	rcu_read_lock();
	list_for_each_entry_rcu(h, &s->subs, site_node) {
		if (h->kind == KVIEW_HOOK_FOLLOW_EXEC)
			kview_follow_exec(h, regs);
		else if (kview_hook_is_return(h->kind))
			count_hit(h, task, regs);
	}
	rcu_read_unlock();
}
