// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/kview and its ioctls (the ABI: include/uapi/linux/kview.h,
 * docs/abi.md). One row per ioctl in kview_iocs[]: its number, the size of
 * its size-prefixed struct, what it needs around its handler (the file's
 * lock, the file's view and that view's lock, the struct copied back) and
 * an input check that runs before any lock. kview_ioctl() does the common
 * sequence (copy in, check, lock, ENXIO without a view, copy out) once.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "kview.h"

/* Every ioctl's struct, as its handler gets it. */
union kview_ioc_arg {
	struct kview_view_create create;
	struct kview_hook_add hook;
	struct kview_view_stats stats;
	struct kview_read_text text;
	struct kview_global_stats global;
	struct kview_list_views list;
	struct kview_hook_fd hook_fd;
};

#define KVIEW_IOC_FILE	BIT(0)	/* under the file's lock */
#define KVIEW_IOC_VIEW	BIT(1)	/* the file's view (ENXIO without), under both locks */
#define KVIEW_IOC_OUT	BIT(2)	/* on success, the struct is copied back */

struct kview_ioc {
	unsigned int cmd;
	size_t size;		/* of the size-prefixed struct; 0: none */
	unsigned int needs;	/* KVIEW_IOC_* */
	int (*check)(const union kview_ioc_arg *a);	/* NULL: none */
	long (*handler)(struct kview_file *f, union kview_ioc_arg *a,
			void __user *arg);
};

static long ioc_version(struct kview_file *f, union kview_ioc_arg *a,
			void __user *arg)
{
	struct kview_version ver = {
		.abi_major = KVIEW_ABI_MAJOR,
		.abi_minor = KVIEW_ABI_MINOR,
	};

	strscpy(ver.module_version, KVIEW_MODULE_VERSION,
		sizeof(ver.module_version));
	return copy_to_user(arg, &ver, sizeof(ver)) ? -EFAULT : 0;
}

static int check_view_create(const union kview_ioc_arg *a)
{
	const struct kview_view_create *c = &a->create;

	return c->view_id || c->session_id || c->nr_sessions ? -EINVAL : 0;
}

/* Copies back itself: a view the caller cannot learn of is not kept. */
static long ioc_view_create(struct kview_file *f, union kview_ioc_arg *a,
			    void __user *arg)
{
	long err = kview_view_create(f, &a->create);

	if (!err && put_sized(arg, &a->create, sizeof(a->create))) {
		kview_view_leave(f->view, f->session);	/* nothing left behind */
		f->view = NULL;
		err = -EFAULT;
	}
	return err;
}

static int check_hook_add(const union kview_ioc_arg *a)
{
	const struct kview_hook_add *h = &a->hook;

	if (h->hook_id || h->addr || h->flags & ~KVIEW_HOOK_F_ALL ||
	    strnlen(h->symbol, KVIEW_SYMBOL_LEN) == KVIEW_SYMBOL_LEN)
		return -EINVAL;
	return 0;
}

static long ioc_hook_add(struct kview_file *f, union kview_ioc_arg *a,
			 void __user *arg)
{
	return kview_view_live(f->view) ?
	       kview_hook_add(f->view, f->session, &a->hook) : -ESRCH;
}

static int check_hook_fd(const union kview_ioc_arg *a)
{
	const struct kview_hook_fd *h = &a->hook_fd;

	if (h->hook_id || h->addr || h->fd || h->flags & ~KVIEW_HOOK_FD_ALL ||
	    strnlen(h->symbol, KVIEW_SYMBOL_LEN) == KVIEW_SYMBOL_LEN)
		return -EINVAL;
	return 0;
}

/* Copies back itself (perf_fd.c): the descriptor is installed after. */
static long ioc_hook_fd(struct kview_file *f, union kview_ioc_arg *a,
			void __user *arg)
{
	return f->view ? kview_hook_fd(f->file, f->view, f->session, &a->hook_fd,
				       arg) : -ENXIO;
}

/* The outputs may hold a previous call's answer; the inputs are checked. */
static int check_view_stats(const union kview_ioc_arg *a)
{
	const struct kview_view_stats *st = &a->stats;

	return st->scope > KVIEW_STATS_VIEW || st->reserved ? -EINVAL : 0;
}

static long ioc_view_stats(struct kview_file *f, union kview_ioc_arg *a,
			   void __user *arg)
{
	u64 ptr = a->stats.hooks_ptr;
	u32 cap = a->stats.hooks_cap;
	u32 scope = a->stats.scope;

	memset(&a->stats, 0, sizeof(a->stats));
	a->stats.hooks_ptr = ptr;
	a->stats.hooks_cap = cap;
	a->stats.scope = scope;
	return kview_view_stats(f->view, f->session, &a->stats);
}

/* Read kernel text through the caller's own page tables. */
static long ioc_read_text(struct kview_file *f, union kview_ioc_arg *a,
			  void __user *arg)
{
	struct kview_read_text *req = &a->text;
	void *buf;
	int err = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (!req->len || req->len > KVIEW_READ_TEXT_MAX)
		return -EINVAL;
	if ((req->addr < kv_sym.stext || req->addr >= kv_sym.etext ||
	     req->len > kv_sym.etext - req->addr) &&
	    (!kview_is_module_addr(req->addr) ||
	     kview_modtext_check(req->addr, req->addr + req->len - 1)))
		return -EINVAL;	/* neither image text nor one module's */
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

static int check_global_stats(const union kview_ioc_arg *a)
{
	const struct kview_global_stats *st = &a->global;

	if (st->live_views || st->views_created || st->views_destroyed ||
	    st->pages || st->bytes)
		return -EINVAL;	/* output fields must be zero on input */
	return 0;
}

static long ioc_global_stats(struct kview_file *f, union kview_ioc_arg *a,
			     void __user *arg)
{
	kview_global_stats(&a->global);
	return 0;
}

static int check_list_views(const union kview_ioc_arg *a)
{
	return a->list.reserved || a->list.nr_views ? -EINVAL : 0;
}

static long ioc_list_views(struct kview_file *f, union kview_ioc_arg *a,
			   void __user *arg)
{
	struct kview_list_views *req = &a->list;
	struct kview_view_info info, __user *out;
	struct kview_view *v;
	long err = 0;
	u32 n = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	out = u64_to_user_ptr(req->views_ptr);
	mutex_lock(&kview_views_lock);	/* views are freed only after leaving the list */
	list_for_each_entry(v, &kview_views, node) {
		if (n < req->cap) {
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
	mutex_unlock(&kview_views_lock);
	req->nr_views = n;
	return err;
}

#define KVIEW_IOC(name, type, how, chk, fn) \
	[_IOC_NR(KVIEW_IOC_##name)] = { \
		.cmd = KVIEW_IOC_##name, .size = sizeof(type), \
		.needs = (how), .check = (chk), .handler = (fn) }

static const struct kview_ioc kview_iocs[] = {
	[_IOC_NR(KVIEW_IOC_GET_VERSION)] = {
		.cmd = KVIEW_IOC_GET_VERSION, .handler = ioc_version },
	KVIEW_IOC(VIEW_CREATE, struct kview_view_create, KVIEW_IOC_FILE,
		  check_view_create, ioc_view_create),
	KVIEW_IOC(HOOK_ADD, struct kview_hook_add, KVIEW_IOC_VIEW | KVIEW_IOC_OUT,
		  check_hook_add, ioc_hook_add),
	KVIEW_IOC(VIEW_STATS, struct kview_view_stats, KVIEW_IOC_VIEW | KVIEW_IOC_OUT,
		  check_view_stats, ioc_view_stats),
	KVIEW_IOC(READ_TEXT, struct kview_read_text, 0, NULL, ioc_read_text),
	KVIEW_IOC(GLOBAL_STATS, struct kview_global_stats, KVIEW_IOC_OUT,
		  check_global_stats, ioc_global_stats),
	KVIEW_IOC(LIST_VIEWS, struct kview_list_views, KVIEW_IOC_OUT,
		  check_list_views, ioc_list_views),
	KVIEW_IOC(HOOK_FD, struct kview_hook_fd, KVIEW_IOC_FILE,
		  check_hook_fd, ioc_hook_fd),
};

/* Run @ioc's handler with what its row says it needs. */
static long ioc_run(const struct kview_ioc *ioc, struct kview_file *f,
		    union kview_ioc_arg *a, void __user *arg)
{
	bool locked = ioc->needs & (KVIEW_IOC_FILE | KVIEW_IOC_VIEW);
	long err;

	if (locked)
		mutex_lock(&f->lock);
	if (!(ioc->needs & KVIEW_IOC_VIEW)) {
		err = ioc->handler(f, a, arg);
	} else if (!f->view) {
		err = -ENXIO;
	} else {
		mutex_lock(&f->view->lock);
		err = ioc->handler(f, a, arg);
		mutex_unlock(&f->view->lock);
	}
	if (locked)
		mutex_unlock(&f->lock);
	return err;
}

static long kview_ioctl(struct file *file, unsigned int cmd, unsigned long uarg)
{
	struct kview_file *f = file->private_data;
	void __user *arg = (void __user *)uarg;
	const struct kview_ioc *ioc;
	union kview_ioc_arg a;
	long err;

	/* a known number with another size or direction is unknown too */
	if (_IOC_NR(cmd) >= ARRAY_SIZE(kview_iocs) ||
	    cmd != kview_iocs[_IOC_NR(cmd)].cmd)
		return -ENOTTY;
	ioc = &kview_iocs[_IOC_NR(cmd)];
	if (ioc->size) {
		err = get_sized(&a, ioc->size, arg);
		if (err)
			return err;
	}
	err = ioc->check ? ioc->check(&a) : 0;
	if (!err)
		err = ioc_run(ioc, f, &a, arg);
	if (!err && (ioc->needs & KVIEW_IOC_OUT))
		err = put_sized(arg, &a, ioc->size);
	return err;
}

static int kview_open(struct inode *inode, struct file *file)
{
	struct kview_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	f->file = file;
	file->private_data = f;
	return 0;
}

static int kview_release(struct inode *inode, struct file *file)
{
	struct kview_file *f = file->private_data;

	if (f->view)
		kview_view_leave(f->view, f->session);
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

int kview_device_init(void)
{
	return misc_register(&kview_dev);
}

void kview_device_exit(void)
{
	misc_deregister(&kview_dev);
}
