// SPDX-License-Identifier: GPL-2.0
/*
 * kview: per-process kernel views. /dev/kview, its ioctls (the ABI is
 * include/uapi/linux/kview.h) and the lifetime of a view: a view belongs to
 * the open file that created it and is torn down when that file is closed;
 * open files pin the module. When every address space in the view has
 * exited (or exec'd, without KVIEW_VIEW_EXEC_REAPPLY) the view is "ended":
 * still mapped into the dead mms, which we keep allocated (mmgrab) until the
 * file is closed, but no task can run it any more.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/irq_work.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <asm/tlbflush.h>
#include "kview.h"

#ifndef KVIEW_MODULE_VERSION
#define KVIEW_MODULE_VERSION "unknown"
#endif

/* One open /dev/kview: at most one view. */
struct kview_file {
	struct mutex lock;		/* serializes ioctls on this file */
	struct kview_view *view;
};

static DEFINE_MUTEX(views_lock);
static LIST_HEAD(views);
static u32 next_view_id;
static atomic64_t pages_held = ATOMIC64_INIT(0);
static atomic64_t views_created = ATOMIC64_INIT(0);
static atomic64_t views_destroyed = ATOMIC64_INIT(0);

void kview_account_pages(long delta)
{
	atomic64_add(delta, &pages_held);
}

static bool kview_capable(void)
{
	return capable(CAP_SYS_ADMIN) ||
	       (capable(CAP_BPF) && capable(CAP_PERFMON));
}

/*
 * Copy a size-prefixed struct from userspace: shorter structs are
 * zero-extended, longer ones must have a zero tail (E2BIG otherwise).
 */
int get_sized(void *dst, size_t ksize, void __user *arg)
{
	u32 usize;

	if (get_user(usize, (u32 __user *)arg))
		return -EFAULT;
	if (usize < sizeof(u32))
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	return copy_struct_from_user(dst, ksize, arg, usize);
}

int put_sized(void __user *arg, const void *src, size_t ksize)
{
	u32 usize;

	if (get_user(usize, (u32 __user *)arg))
		return -EFAULT;
	return copy_to_user(arg, src, min_t(size_t, usize, ksize)) ? -EFAULT : 0;
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

	mutex_lock(&views_lock);	/* a view leaves the list before teardown */
	list_for_each_entry(v, &views, node) {
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
	mutex_unlock(&views_lock);
	if (again)
		kview_reap_soon(false);
}

/*
 * Teardown order: leave the view list (no probe attaches more address
 * spaces after the grace period), restore every top-level entry + flush,
 * detach hooks (kprobes, rethooks), free pages and tables, drop the mms.
 */
static void view_destroy(struct kview_view *v)
{
	u32 i;

	mutex_lock(&views_lock);
	list_del_rcu(&v->node);
	mutex_unlock(&views_lock);
	synchronize_rcu();

	mutex_lock(&v->lock);
	kview_view_unmap(v);
	kview_hooks_release(v);
	kview_view_free(v);
	for (i = 0; i < v->nr_hooks; i++)
		kfree(v->hooks[i]);
	kvfree(v->hooks);
	mutex_unlock(&v->lock);

	for (i = 0; i < v->nr_mms; i++) {
		if (!v->mms[i])
			continue;	/* reaped */
		mmdrop(v->mms[i]);
		put_pid(v->tgids[i]);
	}
	kfree(v);
	atomic64_inc(&views_destroyed);
}

static int view_create(struct kview_file *f, struct kview_view_create *req)
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
	v = kzalloc(sizeof(*v), GFP_KERNEL);
	if (!v)
		goto out_mm;
	mutex_init(&v->lock);
	raw_spin_lock_init(&v->mms_lock);
	INIT_LIST_HEAD(&v->ptes);
	INIT_LIST_HEAD(&v->pages);
	v->flags = req->flags;
	v->pid = task_tgid_nr(task);
	mmgrab(mm);
	v->mms[0] = mm;
	v->tgids[0] = get_pid(task_tgid(task));
	v->nr_mms = 1;
	v->joined = 1;

	mutex_lock(&views_lock);
	list_for_each_entry(o, &views, node) {
		if (kview_view_has_mm(o, mm)) {
			mutex_unlock(&views_lock);
			err = -EBUSY;	/* one view per process */
			goto out_view;
		}
	}
	v->id = ++next_view_id;
	list_add_rcu(&v->node, &views);
	mutex_unlock(&views_lock);
	atomic64_inc(&views_created);

	mutex_lock(&v->lock);
	err = 0;
	if (v->flags & KVIEW_VIEW_SHARED_TEXT)
		kview_view_build_shared(v);
	else
		err = kview_view_build(v);
	if (!err)
		err = kview_follow_init(v);	/* before the target can fork */
	if (!err && !(v->flags & KVIEW_VIEW_SHARED_TEXT))
		kview_view_install(v);
	mutex_unlock(&v->lock);
	if (err) {
		view_destroy(v);
		goto out_mm;
	}

	f->view = v;
	req->view_id = v->id;
	mmput(mm);
	put_task_struct(task);
	return 0;

out_view:
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
	u32 i;

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
	st->nr_hooks = v->nr_user_hooks;
	for (i = 0; i < v->nr_hooks; i++) {
		st->hits += atomic64_read(&v->hooks[i]->hits);
		st->other_hits += atomic64_read(&v->hooks[i]->other_hits);
		st->foreign_mm_hits += atomic64_read(&v->hooks[i]->foreign_mm_hits);
	}
}

static int view_stats(struct kview_view *v, struct kview_view_stats *st)
{
	struct kview_hook_stats __user *out = u64_to_user_ptr(st->hooks_ptr);
	struct kview_hook_stats hs;
	u32 i, n = 0;

	fill_view_stats(v, st);
	for (i = 0; i < v->nr_hooks && n < st->hooks_cap; i++) {
		struct kview_hook *h = v->hooks[i];

		if (kview_hook_is_internal(h->kind))
			continue;	/* the view's own (follow.c) */
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
		strscpy(hs.symbol, h->symbol, sizeof(hs.symbol));
		if (copy_to_user(&out[n++], &hs, sizeof(hs)))
			return -EFAULT;
	}
	return 0;
}

/* Read kernel text through the caller's own page tables. */
static int read_text(struct kview_read_text *req)
{
	void *buf;
	int err = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (!req->len || req->len > KVIEW_READ_TEXT_MAX ||
	    req->addr < kv_sym.stext || req->addr >= kv_sym.etext ||
	    req->len > kv_sym.etext - req->addr)
		return -EINVAL;
	buf = kmalloc(req->len, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (copy_from_kernel_nofault(buf, (void *)(unsigned long)req->addr, req->len))
		err = -EIO;
	else if (copy_to_user(u64_to_user_ptr(req->buf_ptr), buf, req->len))
		err = -EFAULT;
	kfree(buf);
	return err;
}

static long global_stats(void __user *arg)
{
	struct kview_global_stats st;
	int err = get_sized(&st, sizeof(st), arg);

	if (err)
		return err;
	if (st.live_views || st.views_created || st.views_destroyed ||
	    st.pages || st.bytes)
		return -EINVAL;	/* output fields must be zero on input */
	st.views_created = atomic64_read(&views_created);
	st.views_destroyed = atomic64_read(&views_destroyed);
	st.live_views = st.views_created - st.views_destroyed;
	st.pages = atomic64_read(&pages_held);
	st.bytes = st.pages * PAGE_SIZE;
	return put_sized(arg, &st, sizeof(st));
}

static long list_views(void __user *arg)
{
	struct kview_list_views req;
	struct kview_view_info info, __user *out;
	struct kview_view *v;
	int err = get_sized(&req, sizeof(req), arg);
	u32 n = 0;

	if (err)
		return err;
	if (req.reserved || req.nr_views)
		return -EINVAL;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	out = u64_to_user_ptr(req.views_ptr);
	mutex_lock(&views_lock);	/* views are freed only after leaving the list */
	list_for_each_entry(v, &views, node) {
		if (n < req.cap) {
			memset(&info, 0, sizeof(info));
			info.view_id = v->id;
			info.pid = v->pid;
			info.state = kview_view_live(v) ? KVIEW_VIEW_LIVE : KVIEW_VIEW_ENDED;
			info.flags = v->flags;
			info.nr_hooks = READ_ONCE(v->nr_user_hooks);
			info.nr_mms = READ_ONCE(v->joined);
			info.pages = READ_ONCE(v->text_pages) + READ_ONCE(v->table_pages);
			if (copy_to_user(&out[n], &info, sizeof(info))) {
				err = -EFAULT;
				break;
			}
		}
		n++;
	}
	mutex_unlock(&views_lock);
	if (err)
		return err;
	req.nr_views = n;
	return put_sized(arg, &req, sizeof(req));
}

static long kview_ioctl(struct file *file, unsigned int cmd, unsigned long uarg)
{
	struct kview_file *f = file->private_data;
	void __user *arg = (void __user *)uarg;
	union {
		struct kview_view_create create;
		struct kview_hook_add hook;
		struct kview_view_stats stats;
		struct kview_read_text text;
	} u;
	long err;

	static const unsigned int known[] = {
		KVIEW_IOC_GET_VERSION, KVIEW_IOC_VIEW_CREATE, KVIEW_IOC_HOOK_ADD,
		KVIEW_IOC_VIEW_STATS, KVIEW_IOC_READ_TEXT, KVIEW_IOC_GLOBAL_STATS,
		KVIEW_IOC_LIST_VIEWS, KVIEW_IOC_HOOK_FD,
	};

	/* a known number with another size or direction is unknown too */
	if (_IOC_NR(cmd) >= ARRAY_SIZE(known) || cmd != known[_IOC_NR(cmd)])
		return -ENOTTY;

	switch (_IOC_NR(cmd)) {
	case _IOC_NR(KVIEW_IOC_GET_VERSION): {
		struct kview_version ver = {
			.abi_major = KVIEW_ABI_MAJOR,
			.abi_minor = KVIEW_ABI_MINOR,
		};

		strscpy(ver.module_version, KVIEW_MODULE_VERSION,
			sizeof(ver.module_version));
		return copy_to_user(arg, &ver, sizeof(ver)) ? -EFAULT : 0;
	}
	case _IOC_NR(KVIEW_IOC_VIEW_CREATE):
		err = get_sized(&u.create, sizeof(u.create), arg);
		if (err)
			return err;
		if (u.create.view_id)
			return -EINVAL;
		mutex_lock(&f->lock);
		err = view_create(f, &u.create);
		if (!err && put_sized(arg, &u.create, sizeof(u.create))) {
			view_destroy(f->view);	/* nothing left behind */
			f->view = NULL;
			err = -EFAULT;
		}
		mutex_unlock(&f->lock);
		return err;
	case _IOC_NR(KVIEW_IOC_HOOK_ADD):
		err = get_sized(&u.hook, sizeof(u.hook), arg);
		if (err)
			return err;
		if (u.hook.hook_id || u.hook.addr ||
		    u.hook.flags & ~KVIEW_HOOK_F_ALL ||
		    strnlen(u.hook.symbol, KVIEW_SYMBOL_LEN) == KVIEW_SYMBOL_LEN)
			return -EINVAL;
		mutex_lock(&f->lock);
		if (!f->view) {
			err = -ENXIO;
		} else {
			mutex_lock(&f->view->lock);
			err = kview_view_live(f->view) ?
			      kview_hook_add(f->view, &u.hook) : -ESRCH;
			mutex_unlock(&f->view->lock);
		}
		mutex_unlock(&f->lock);
		if (!err)
			err = put_sized(arg, &u.hook, sizeof(u.hook));
		return err;
	case _IOC_NR(KVIEW_IOC_VIEW_STATS):
		err = get_sized(&u.stats, sizeof(u.stats), arg);
		if (err)
			return err;
		mutex_lock(&f->lock);
		if (!f->view) {
			err = -ENXIO;
		} else {
			u64 ptr = u.stats.hooks_ptr;
			u32 cap = u.stats.hooks_cap;

			memset(&u.stats, 0, sizeof(u.stats));
			u.stats.hooks_ptr = ptr;
			u.stats.hooks_cap = cap;
			mutex_lock(&f->view->lock);
			err = view_stats(f->view, &u.stats);
			mutex_unlock(&f->view->lock);
		}
		mutex_unlock(&f->lock);
		if (!err)
			err = put_sized(arg, &u.stats, sizeof(u.stats));
		return err;
	case _IOC_NR(KVIEW_IOC_READ_TEXT):
		err = get_sized(&u.text, sizeof(u.text), arg);
		return err ? err : read_text(&u.text);
	case _IOC_NR(KVIEW_IOC_GLOBAL_STATS):
		return global_stats(arg);
	case _IOC_NR(KVIEW_IOC_LIST_VIEWS):
		return list_views(arg);
	case _IOC_NR(KVIEW_IOC_HOOK_FD):	/* perf_fd.c */
		mutex_lock(&f->lock);
		err = kview_hook_fd(file, f->view, arg);
		mutex_unlock(&f->lock);
		return err;
	default:
		return -ENOTTY;
	}
}

static int kview_open(struct inode *inode, struct file *file)
{
	struct kview_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	file->private_data = f;
	return 0;
}

static int kview_release(struct inode *inode, struct file *file)
{
	struct kview_file *f = file->private_data;

	if (f->view)
		view_destroy(f->view);
	kfree(f);
	return 0;
}

static const struct file_operations kview_fops = {
	.owner = THIS_MODULE,
	.open = kview_open,
	.release = kview_release,
	.unlocked_ioctl = kview_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice kview_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = KVIEW_DEVICE_NAME,
	.fops = &kview_fops,
	.mode = 0600,
};

static int __init kview_init(void)
{
	int err;

	err = kview_ksyms_init();
	if (err)
		return err;
	err = misc_register(&kview_dev);
	if (err)
		return err;
	pr_info("loaded, version %s, ABI %d.%d, %d-level paging, PTI %s\n",
		KVIEW_MODULE_VERSION, KVIEW_ABI_MAJOR, KVIEW_ABI_MINOR,
		pgtable_l5_enabled() ? 5 : 4,
		boot_cpu_has(X86_FEATURE_PTI) ? "on" : "off");
	return 0;
}

static void __exit kview_exit(void)
{
	misc_deregister(&kview_dev);
	irq_work_sync(&reap_kick);
	cancel_delayed_work_sync(&reap_work);
	kview_hooks_exit();
	kview_mirror_exit();
	pr_info("unloaded\n");
}

module_init(kview_init);
module_exit(kview_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Per-process kernel views: hooks that fire for one process only");
MODULE_VERSION(KVIEW_MODULE_VERSION);
