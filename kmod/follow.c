// SPDX-License-Identifier: GPL-2.0
/*
 * Fork and exec following, with no global hook: a view that follows gets two
 * hooks of its own, planted in its private text like a user's, so only its
 * processes ever run them.
 *
 *   wake_up_new_task() entry   the parent (a process of the view) is about
 *                              to let a new process run: it joins first
 *   begin_new_exec() return    a process of the view has just switched to
 *                              its new image (entered on the old tables,
 *                              returns on the new, shared ones): it joins
 *
 * These hooks are the view's, not the user's: not in stats, not counted
 * against KVIEW_MAX_HOOKS. kview_follow_init() (hook.c) plants them; the
 * hit handler (hit.c) calls the two functions here.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/coredump.h>
#include <linux/sched/signal.h>
#include "kview.h"

/*
 * Entry of wake_up_new_task(child), int3 context. Returns whether the hit
 * belongs to @h's view (its task, or an interrupt or kernel thread on it).
 */
bool kview_follow_fork(struct kview_hook *h, bool task, struct pt_regs *regs)
{
	struct task_struct *child = (struct task_struct *)regs->di;
	struct kview_view *v = h->view;

	if (!task || !current->mm || !kview_view_has_mm(v, current->mm))
		return current->active_mm && kview_view_has_mm(v, current->active_mm);
	/*
	 * A new process, not a thread. With CLONE_VM (vfork, posix_spawn) it
	 * shares its parent's address space until it execs: the view records
	 * it so that the exec can follow. It has not run yet: no TLB holds
	 * its address space's old top-level entry.
	 */
	if (child->mm && !same_thread_group(current, child))
		kview_view_attach(v, child->mm, task_tgid(child));
	return true;
}

/*
 * Return of begin_new_exec(bprm), on the new image's (shared) tables.
 * Follows a process of the view (by struct pid: a reused pid number must
 * not pull an unrelated process in) that exec'd without changing privilege
 * (begin_new_exec() makes the mm non-dumpable for setuid, setgid and file
 * capabilities alike).
 */
void kview_follow_exec(struct kview_hook *h, struct pt_regs *regs)
{
	struct kview_view *v = h->view;
	struct mm_struct *mm = current->mm;
	struct pid *tgid = task_tgid(current);
	u32 i, n;

	if (regs_return_value(regs) || !mm || kview_view_has_mm(v, mm) ||
	    get_dumpable(mm) != SUID_DUMP_USER)
		return;
	n = smp_load_acquire(&v->nr_mms);	/* pairs with kview_view_attach() */
	for (i = 0; i < n && READ_ONCE(v->tgids[i]) != tgid; i++)
		;
	/*
	 * The new mm has run since exec_mmap(), maybe on another CPU (the task
	 * can migrate while the binary loads), and a CPU keeps a PCID's
	 * translations across switches: flush it where it ran.
	 */
	if (i < n && kview_view_attach(v, mm, tgid))
		kview_flush_mm(mm);
}
