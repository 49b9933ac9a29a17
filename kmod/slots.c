// SPDX-License-Identifier: GPL-2.0
/*
 * Address-space slots: which address spaces see a view. Slot 0 is the
 * target's (lifetime.c); fork and exec following (follow.c) fill more, one
 * per address space, with the process that brought it in. Lockless readers
 * (the hit handler, the fork/exec hooks) scan them under RCU; the reaper
 * empties the slots of processes that left, so a fork-heavy target stays
 * followed. Also: every view (the list the reaper and the ioctls walk), and
 * the TLB flushes of a view's address spaces.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/irq_work.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/smp.h>
#include <linux/workqueue.h>
#include <asm/tlbflush.h>
#include "kview.h"

/* Every view, from creation until teardown begins; walked under the lock. */
DEFINE_MUTEX(kview_views_lock);
LIST_HEAD(kview_views);

/*
 * Drop @mm's TLB entries and paging-structure caches on the CPUs that have it
 * loaded, lazily or not (freed_tables: a lazy CPU leaves it for init_mm),
 * and make every other CPU drop them when it next switches to @mm (its
 * tlb_gen moves on). A CPU that never ran @mm is not interrupted. The IPI
 * also serializes the instruction stream of every CPU that could execute
 * the view's private text.
 */
void kview_flush_mm(struct mm_struct *mm)
{
	kv_sym.flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, 0, true);
}

/* Every address space in @v. Caller holds v->lock (slots stay allocated). */
void kview_flush_view(struct kview_view *v)
{
	u32 i, n = smp_load_acquire(&v->nr_mms); /* pairs with attach */

	for (i = 0; i < n; i++) {
		struct mm_struct *mm = READ_ONCE(v->mms[i]);

		if (mm)
			kview_flush_mm(mm);
	}
}

/* Is @mm in a slot of @v other than @skip? Caller holds v->mms_lock. */
static bool mm_in_slots(struct kview_view *v, struct mm_struct *mm, u32 skip)
{
	u32 i;

	for (i = 0; i < v->nr_mms; i++)
		if (i != skip && v->mms[i] == mm)
			return true;
	return false;
}

/*
 * Let one more address space see the view (a forked child before it first
 * runs, or the target's new image right after exec), or record one more
 * process on an address space already in it (a vfork or posix_spawn child,
 * so that its exec can follow). Callable from atomic context: writes one
 * top-level entry, allocates nothing. The caller flushes if @mm may already
 * be loaded on a CPU.
 */
bool kview_view_attach(struct kview_view *v, struct mm_struct *mm,
		       struct pid *tgid)
{
	pgd_t *pgdp = kernel_top_entry(mm);
	bool private = pgd_val(v->top);	/* else KVIEW_VIEW_SHARED_TEXT */
	bool member, ok = false;
	u32 i;

	raw_spin_lock(&v->mms_lock);
	if (!v->installed || v->dying)
		goto out;
	member = mm_in_slots(v, mm, KVIEW_VIEW_MAX_MMS);
	if (private && !member && !same_entry(READ_ONCE(*pgdp), v->orig_pgd))
		goto unfollowed;
	if (v->free_slots) {
		i = __ffs(v->free_slots);
		__clear_bit(i, &v->free_slots);
	} else if (v->nr_mms < KVIEW_VIEW_MAX_MMS) {
		i = v->nr_mms;
	} else {
		kview_reap_soon(true);
		goto unfollowed;
	}
	mmgrab(mm);
	WRITE_ONCE(v->tgids[i], get_pid(tgid));
	/* publish the pid before the slot, the slot before the count */
	smp_store_release(&v->mms[i], mm);
	if (i == v->nr_mms)	/* a new slot: readers load nr_mms with acquire */
		smp_store_release(&v->nr_mms, i + 1);
	v->joined++;
	if (private && !member)
		set_pgd(pgdp, v->top);
	ok = true;
	/* reap the slots of processes that left; at once if half full */
	kview_reap_soon(v->nr_mms - hweight_long(v->free_slots) >
			KVIEW_VIEW_MAX_MMS / 2);
	goto out;
unfollowed:
	atomic64_inc(&v->unfollowed);
out:
	raw_spin_unlock(&v->mms_lock);
	return ok;
}

/* Lockless: safe in the hook handler (slots are freed after a grace period). */
bool kview_view_has_mm(struct kview_view *v, struct mm_struct *mm)
{
	u32 i, n = smp_load_acquire(&v->nr_mms); /* pairs with attach */

	for (i = 0; i < n; i++)
		if (READ_ONCE(v->mms[i]) == mm)
			return true;
	return false;
}

/*
 * Is slot @i's process in the middle of an exec? Its old address space is
 * released in exec_mmap(), well before begin_new_exec() returns and the exec
 * hook (follow.c) can look for it by tgid: the slot must neither be reaped
 * nor count as gone meanwhile. Caller holds v->mms_lock.
 */
static bool slot_in_exec(struct kview_view *v, u32 i)
{
	struct task_struct *t;
	bool in;

	rcu_read_lock();
	t = pid_task(v->tgids[i], PIDTYPE_TGID);
	in = t && t->in_execve;
	rcu_read_unlock();
	return in;
}

/*
 * Live while mapped and some address space in it still has users, or its
 * process is between releasing it and the exec hook attaching the next.
 */
bool kview_view_live(struct kview_view *v)
{
	bool live = false;
	u32 i;

	raw_spin_lock(&v->mms_lock);
	for (i = 0; v->installed && i < v->nr_mms && !live; i++)
		live = v->mms[i] && (atomic_read(&v->mms[i]->mm_users) ||
				     slot_in_exec(v, i));
	raw_spin_unlock(&v->mms_lock);
	return live;
}

/*
 * Has slot @i's process left it? Its address space has no users left, or
 * (for a second slot on the same address space: a vfork or posix_spawn
 * child) the process exec'd into another one or is gone. Caller holds
 * v->mms_lock.
 */
static bool slot_left(struct kview_view *v, u32 i)
{
	struct mm_struct *mm = v->mms[i], *now;
	struct task_struct *t;
	bool left;

	if (slot_in_exec(v, i))
		return false;	/* its exec hook has yet to look for it */
	rcu_read_lock();
	t = pid_task(v->tgids[i], PIDTYPE_TGID);
	now = t ? READ_ONCE(t->mm) : NULL;
	if (!atomic_read(&mm->mm_users))
		left = true;
	else if (!mm_in_slots(v, mm, i))
		left = false;	/* the address space's last slot */
	else
		left = !t || (now && now != mm);
	rcu_read_unlock();
	return left;
}

#define KVIEW_REAP_BATCH 16

/*
 * Empty up to KVIEW_REAP_BATCH slots whose process left the view. An
 * address space no slot keeps gets the shared top-level entry back (a
 * lazy-TLB kernel thread may still run on it after we drop it). Slots are
 * reused only after a grace period: the handler and the fork/exec probes
 * compare their pointers locklessly. Returns the slots emptied; *used is
 * the number still in use.
 */
static u32 reap_batch(struct kview_view *v, u32 *used)
{
	struct {
		struct mm_struct *mm;
		struct pid *tgid;
	} gone[KVIEW_REAP_BATCH];
	bool private = pgd_val(v->top);
	unsigned long slots = 0;
	u32 i, n = 0;

	raw_spin_lock(&v->mms_lock);
	for (i = 0; v->installed && i < v->nr_mms && n < KVIEW_REAP_BATCH; i++) {
		struct mm_struct *mm = v->mms[i];
		pgd_t *pgdp;

		if (!mm || !slot_left(v, i))
			continue;
		gone[n].mm = mm;
		gone[n].tgid = v->tgids[i];
		n++;
		__set_bit(i, &slots);
		WRITE_ONCE(v->mms[i], NULL);
		WRITE_ONCE(v->tgids[i], NULL);
		pgdp = kernel_top_entry(mm);
		if (private && !mm_in_slots(v, mm, i) &&
		    same_entry(READ_ONCE(*pgdp), v->top))
			set_pgd(pgdp, v->orig_pgd);
	}
	*used = v->nr_mms - hweight_long(v->free_slots) - n;
	raw_spin_unlock(&v->mms_lock);
	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		kview_flush_mm(gone[i].mm);	/* lazy CPUs may still run it */
	synchronize_rcu();	/* no reader still holds an old slot pointer */
	for (i = 0; i < n; i++) {
		mmdrop(gone[i].mm);
		put_pid(gone[i].tgid);
	}
	raw_spin_lock(&v->mms_lock);
	v->free_slots |= slots;
	raw_spin_unlock(&v->mms_lock);
	return n;
}

/*
 * Free the slots of processes that left the view, so that long-running,
 * fork-heavy targets (a shell loop, make) stay followed: the limit is
 * KVIEW_VIEW_MAX_MMS address spaces at once, not in a lifetime. Process
 * context; the caller holds v->lock and keeps the view alive. Returns the
 * slots still in use.
 */
u32 kview_view_reap(struct kview_view *v)
{
	u32 used;

	BUILD_BUG_ON(KVIEW_VIEW_MAX_MMS > BITS_PER_LONG);
	while (reap_batch(v, &used) == KVIEW_REAP_BATCH)
		;
	return used;
}

#define KVIEW_VIEW_FOLLOW (KVIEW_VIEW_FOLLOW_FORK | KVIEW_VIEW_EXEC_REAPPLY)

/*
 * Slot reaping (kview_view_reap()): kicked whenever a view grows, at once
 * when one is full, and every 100 ms while a view has more than half of its
 * slots in use. Never runs while no view follows forks or execs. The kick
 * comes from hook handlers (int3 context): an irq_work queues the work.
 */
static void reap_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(reap_work, reap_fn);

static atomic_t reap_now = ATOMIC_INIT(0);

static void reap_kick_fn(struct irq_work *work)
{
	if (atomic_xchg(&reap_now, 0))
		mod_delayed_work(system_wq, &reap_work, 0);
	else
		queue_delayed_work(system_wq, &reap_work, HZ / 10);
}

static struct irq_work reap_kick = IRQ_WORK_INIT(reap_kick_fn);

/* Any context, NMI included. */
void kview_reap_soon(bool now)
{
	if (now)
		atomic_set(&reap_now, 1);
	irq_work_queue(&reap_kick);
}

static void reap_fn(struct work_struct *work)
{
	struct kview_view *v;
	bool again = false;

	mutex_lock(&kview_views_lock);	/* a view leaves the list before teardown */
	list_for_each_entry(v, &kview_views, node) {
		if (!(v->flags & KVIEW_VIEW_FOLLOW))
			continue;
		if (!mutex_trylock(&v->lock)) {
			again = true;	/* being built or changed: next time */
			continue;
		}
		if (kview_view_reap(v) > KVIEW_VIEW_MAX_MMS / 2)
			again = true;
		mutex_unlock(&v->lock);
	}
	mutex_unlock(&kview_views_lock);
	if (again)
		kview_reap_soon(false);
}

/* Module exit: no kick or reaping still pending. */
void kview_reap_exit(void)
{
	irq_work_sync(&reap_kick);
	cancel_delayed_work_sync(&reap_work);
}
