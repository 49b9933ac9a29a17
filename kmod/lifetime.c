// SPDX-License-Identifier: GPL-2.0
/*
 * View lifetime: a view belongs to the open files that created or joined
 * it (KVIEW_VIEW_JOIN), its owners or sessions (ioctl.c), and is torn down
 * when the last of them is closed; open files pin the module. A session
 * that closes before the others leaves its hooks in the view, without
 * their programs (kview_hooks_close_session()). When every address space
 * in the view has exited (or exec'd, without KVIEW_VIEW_EXEC_REAPPLY) the
 * view is "ended": still mapped into the dead mms, which we keep allocated
 * (mmgrab) until the last owner is closed, but no task can run it any more.
 * Creation builds the view from the bottom up (page tables, its own hooks,
 * then the mapping); teardown undoes it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include "kview.h"

static u32 next_view_id;		/* under kview_views_lock */
static u32 next_session_id;		/* under kview_views_lock */
static atomic64_t views_created = ATOMIC64_INIT(0);
static atomic64_t views_destroyed = ATOMIC64_INIT(0);

static bool kview_capable(void)
{
	return capable(CAP_SYS_ADMIN) ||
	       (capable(CAP_BPF) && capable(CAP_PERFMON));
}

/*
 * Torn-down views whose hooks a handler that started before the teardown
 * may still be walking (hit.c, under RCU): their hooks and programs, slots
 * and the view itself are freed after a grace period. None is forced per
 * view: on PREEMPT_RT each grace period wakes RCU's RT threads, whose
 * going back to sleep makes the RT scheduler push-IPI other CPUs (R3,
 * docs/design.md §7). A poll frees the views whose grace period the system
 * completed by itself, and forces one for all that are left only after
 * BURY_LINGER or when BURY_MAX wait. Module exit frees the rest.
 */
#define BURY_POLL (HZ / 4)
#define BURY_LINGER (5 * HZ)
#define BURY_MAX 64

static DEFINE_MUTEX(buried_lock);
static LIST_HEAD(buried);		/* oldest first */
static unsigned int nr_buried;
static void bury_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(bury_work, bury_fn);

static void view_free(struct kview_view *v)
{
	u32 i;

	kview_hooks_free(v);
	for (i = 0; i < v->nr_mms; i++) {
		if (!v->mms[i])
			continue;	/* reaped */
		mmdrop(v->mms[i]);
		put_pid(v->tgids[i]);
	}
	kfree(v);
}

static void bury(struct kview_view *v)
{
	v->gp = get_state_synchronize_rcu();
	v->buried_at = jiffies;
	mutex_lock(&buried_lock);
	list_add_tail(&v->node, &buried);
	if (++nr_buried >= BURY_MAX)
		mod_delayed_work(system_wq, &bury_work, 0);
	else
		schedule_delayed_work(&bury_work, BURY_POLL);
	mutex_unlock(&buried_lock);
}

/* Take the buried views that may be freed now (@all: every one) off the list. */
static void take_buried(struct list_head *out, bool all)
{
	struct kview_view *v, *next, *oldest;

	mutex_lock(&buried_lock);
	oldest = list_first_entry_or_null(&buried, struct kview_view, node);
	if (oldest && (nr_buried >= BURY_MAX ||
		       time_after_eq(jiffies, oldest->buried_at + BURY_LINGER)))
		all = true;
	list_for_each_entry_safe(v, next, &buried, node) {
		if (all || poll_state_synchronize_rcu(v->gp)) {
			list_move_tail(&v->node, out);
			nr_buried--;
		}
	}
	if (!list_empty(&buried))
		schedule_delayed_work(&bury_work, BURY_POLL);
	mutex_unlock(&buried_lock);
}

static void free_buried(bool all)
{
	struct kview_view *v, *next;
	LIST_HEAD(free);

	take_buried(&free, all);
	if (list_empty(&free))
		return;
	/* the newest one's grace period covers all of them */
	cond_synchronize_rcu(list_last_entry(&free, struct kview_view, node)->gp);
	list_for_each_entry_safe(v, next, &free, node)
		view_free(v);
}

static void bury_fn(struct work_struct *work)
{
	free_buried(false);
}

/* Module exit: no file is open, so no view is made or torn down any more. */
void kview_views_exit(void)
{
	cancel_delayed_work_sync(&bury_work);
	free_buried(true);
}

/*
 * Teardown order: leave the view list (kview_view_leave(): the reaper and
 * the ioctls walk it under kview_views_lock only, so no grace period is
 * needed here), restore every top-level entry + flush (no address space
 * joins a dying view), stop mirroring into the private pages, detach hooks
 * (kprobes, rethooks: kview_hooks_release()), free pages and tables; then
 * bury what a running handler may still read.
 */
static void view_destroy(struct kview_view *v)
{
	mutex_lock(&v->lock);
	kview_view_unmap(v);
	kview_pages_unmirror(v);
	kview_hooks_release(v);
	kview_pages_free(v);
	kview_tables_free(v);
	mutex_unlock(&v->lock);
	atomic64_inc(&views_destroyed);
	bury(v);
}

/*
 * Session @session of view @v is closed: the last owner takes the view
 * off the list, under the lock joiners find it with (so none can join a
 * view being torn down), and tears it down; any other leaves its hooks in
 * the view without their programs.
 */
void kview_view_leave(struct kview_view *v, u32 session)
{
	bool last;

	mutex_lock(&kview_views_lock);
	last = !--v->owners;
	if (last)
		list_del(&v->node);
	mutex_unlock(&kview_views_lock);

	if (last) {
		view_destroy(v);
		return;
	}
	mutex_lock(&v->lock);
	kview_hooks_close_session(v, session);
	mutex_unlock(&v->lock);
}

/* The listed view @mm belongs to, or NULL. Caller holds kview_views_lock. */
static struct kview_view *view_of_mm(struct mm_struct *mm)
{
	struct kview_view *o;

	list_for_each_entry(o, &kview_views, node)
		if (kview_view_has_mm(o, mm))
			return o;
	return NULL;
}

/*
 * Join @o, the view of @req->pid, as one more owner: only with
 * KVIEW_VIEW_JOIN and the view's own flags. Caller holds kview_views_lock.
 */
static int view_join(struct kview_file *f, struct kview_view *o,
		     struct kview_view_create *req)
{
	u32 flags = req->flags & ~KVIEW_VIEW_JOIN;

	if (!(req->flags & KVIEW_VIEW_JOIN))
		return -EBUSY;	/* one view per process */
	if (flags != o->flags) {
		pr_debug("pid %d: cannot join view %u: flags %#x, the view's %#x\n",
			 req->pid, o->id, flags, o->flags);
		return -EBUSY;
	}
	o->owners++;
	f->session = ++next_session_id;
	req->view_id = o->id;
	req->session_id = f->session;
	req->nr_sessions = o->owners;
	return 0;
}

/*
 * A joiner waits for the view's creation to finish (its creator holds the
 * view's lock from before listing it to the end of the build) and shares
 * its failure.
 */
static int view_joined(struct kview_file *f, struct kview_view *o)
{
	int err;

	mutex_lock(&o->lock);
	err = o->build_err;
	mutex_unlock(&o->lock);
	if (err) {
		kview_view_leave(o, f->session);
		return err;
	}
	f->view = o;
	return 0;
}

/* A view of @task, its address space @mm in slot 0; not listed yet. */
static struct kview_view *view_alloc(struct task_struct *task,
				     struct mm_struct *mm, u32 flags)
{
	struct kview_view *v = kzalloc(sizeof(*v), GFP_KERNEL);

	if (!v)
		return NULL;
	mutex_init(&v->lock);
	raw_spin_lock_init(&v->mms_lock);
	INIT_LIST_HEAD(&v->ptes);
	INIT_LIST_HEAD(&v->mod_node);
	INIT_LIST_HEAD(&v->pages);
	v->flags = flags;
	v->owners = 1;
	v->pid = task_tgid_nr(task);
	mmgrab(mm);
	v->mms[0] = mm;
	v->tgids[0] = get_pid(task_tgid(task));
	v->nr_mms = 1;
	v->joined = 1;
	return v;
}

int kview_view_create(struct kview_file *f, struct kview_view_create *req)
{
	struct task_struct *task;
	struct kview_view *v, *o;
	struct mm_struct *mm;
	int err;

	if (req->flags & ~KVIEW_VIEW_FLAGS_ALL || req->pid <= 0)
		return -EINVAL;
	if (!kview_capable())
		return -EPERM;
	if (f->view)
		return -EBUSY;

	task = get_pid_task(find_vpid(req->pid), PIDTYPE_PID);
	if (!task)
		return -ESRCH;
	err = -EINVAL;
	if (task->flags & PF_KTHREAD)
		goto out_task;
	err = -EPERM;
	if (!kv_sym.ptrace_may_access(task, PTRACE_MODE_ATTACH_REALCREDS))
		goto out_task;
	err = -ESRCH;
	mm = get_task_mm(task);
	if (!mm)
		goto out_task;

	err = -ENOMEM;
	v = view_alloc(task, mm, req->flags & ~KVIEW_VIEW_JOIN);
	if (!v)
		goto out_mm;

	mutex_lock(&v->lock);	/* held until built: joiners wait for it */
	mutex_lock(&kview_views_lock);
	o = view_of_mm(mm);
	if (o) {
		err = view_join(f, o, req);
		mutex_unlock(&kview_views_lock);
		mutex_unlock(&v->lock);
		if (!err)
			err = view_joined(f, o);
		goto out_view;
	}
	v->id = ++next_view_id;
	f->session = ++next_session_id;
	list_add(&v->node, &kview_views);
	mutex_unlock(&kview_views_lock);
	atomic64_inc(&views_created);

	err = 0;
	if (v->flags & KVIEW_VIEW_SHARED_TEXT)
		kview_view_build_shared(v);
	else
		err = kview_view_build(v);
	if (!err)
		err = kview_follow_init(v);	/* before the target can fork */
	if (!err && !(v->flags & KVIEW_VIEW_SHARED_TEXT))
		kview_view_install(v);
	v->build_err = err;
	mutex_unlock(&v->lock);
	if (err) {
		kview_view_leave(v, f->session);
		goto out_mm;
	}

	f->view = v;
	req->view_id = v->id;
	req->session_id = f->session;
	req->nr_sessions = 1;
	mmput(mm);
	put_task_struct(task);
	return 0;

out_view:	/* not listed: another view has the process */
	put_pid(v->tgids[0]);
	mmdrop(mm);
	kfree(v);
out_mm:
	mmput(mm);
out_task:
	put_task_struct(task);
	return err;
}

static void fill_view_stats(struct kview_view *v, struct kview_view_stats *st)
{
	st->view_id = v->id;
	st->pid = v->pid;
	st->state = kview_view_live(v) ? KVIEW_VIEW_LIVE : KVIEW_VIEW_ENDED;
	st->flags = v->flags;
	st->nr_mms = READ_ONCE(v->joined);
	st->unfollowed = atomic64_read(&v->unfollowed);
	st->text_pages = v->text_pages;
	st->table_pages = v->table_pages;
	st->bytes = (v->text_pages + v->table_pages) * PAGE_SIZE + sizeof(*v) +
		    v->nr_hooks * sizeof(struct kview_hook);
	st->mirrored_writes = atomic64_read(&v->mirrored_writes);
	st->nr_sessions = READ_ONCE(v->owners);
}

/*
 * The view's counters, and its user hooks in @st->scope: session
 * @session's, or every session's (the sums are over the same hooks).
 */
int kview_view_stats(struct kview_view *v, u32 session,
		     struct kview_view_stats *st)
{
	struct kview_hook_stats __user *out = u64_to_user_ptr(st->hooks_ptr);
	bool all = st->scope == KVIEW_STATS_VIEW;
	struct kview_hook_stats hs;
	u32 i;

	fill_view_stats(v, st);
	st->session_id = session;
	for (i = 0; i < v->nr_hooks; i++) {
		struct kview_hook *h = v->hooks[i];

		if (kview_hook_is_internal(h->kind))
			continue;	/* the view's own (follow.c) */
		if (!all && h->session != session)
			continue;
		memset(&hs, 0, sizeof(hs));
		hs.addr = (unsigned long)h->site->kp.addr;
		hs.cookie = h->cookie;
		hs.hits = atomic64_read(&h->hits);
		hs.other_hits = atomic64_read(&h->other_hits);
		hs.foreign_mm_hits = atomic64_read(&h->foreign_mm_hits);
		hs.missed = atomic64_read(&h->missed);
		hs.prog_runs = atomic64_read(&h->prog_runs);
		hs.prog_skipped = atomic64_read(&h->prog_skipped);
		hs.hook_id = h->id;
		hs.kind = h->kind;
		hs.flags = kview_hook_flags(h);
		hs.session_id = h->session;
		strscpy(hs.symbol, h->symbol, sizeof(hs.symbol));
		st->hits += hs.hits;
		st->other_hits += hs.other_hits;
		st->foreign_mm_hits += hs.foreign_mm_hits;
		if (st->nr_hooks < st->hooks_cap &&
		    copy_to_user(&out[st->nr_hooks], &hs, sizeof(hs)))
			return -EFAULT;
		st->nr_hooks++;
	}
	return 0;
}

/* The module-wide counters of KVIEW_IOC_GLOBAL_STATS. */
void kview_global_stats(struct kview_global_stats *st)
{
	st->views_created = atomic64_read(&views_created);
	st->views_destroyed = atomic64_read(&views_destroyed);
	st->live_views = st->views_created - st->views_destroyed;
	st->pages = kview_pages_held();
	st->bytes = st->pages * PAGE_SIZE;
}
