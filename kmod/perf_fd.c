// SPDX-License-Identifier: GPL-2.0
/*
 * Hook descriptors (KVIEW_IOC_HOOK_FD): one hook of a view behind a file of
 * its own that answers the perf_event ioctls a tracing tool issues on a
 * kprobe perf event (bpftrace 0.17, bcc and libbpf 1.1: PERF_EVENT_IOC_SET_BPF,
 * then _ENABLE; _DISABLE and close at exit). A supervisor (kview run) hands
 * such a descriptor to an unmodified tool in place of the kernel's global
 * kprobe event; the tool attaches its program itself, so the program fd is
 * resolved in the tool's own fd table.
 *
 * The hook is an ordinary hook of the view (hook.c), flagged as a
 * descriptor's: several may share one address, the program comes later and
 * runs only while enabled. Closing the descriptor detaches the program; the
 * hook stays in the view, counting, until the view ends (hooks leave a view
 * only with it). The file keeps the view's /dev/kview file open, so the
 * view outlives the descriptors handed out.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/perf_event.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "kview.h"

struct kview_hook_file {
	struct file *dev;		/* the view's /dev/kview file, held */
	struct kview_hook *hook;	/* NULL until the hook exists */
	u64 id;				/* PERF_EVENT_IOC_ID */
};

/* Ids of hook descriptors: bit 63 set, apart from the kernel's event ids. */
static atomic64_t next_id = ATOMIC64_INIT(0);

u32 kview_hook_flags(struct kview_hook *h)
{
	u32 flags = READ_ONCE(h->lost) ? KVIEW_HOOK_LOST : 0;

	if (READ_ONCE(h->prog))
		flags |= KVIEW_HOOK_PROG;
	if (h->fd) {
		flags |= KVIEW_HOOK_FD;
		if (READ_ONCE(h->prog_off))
			flags |= KVIEW_HOOK_DISABLED;
		if (READ_ONCE(h->closed))
			flags |= KVIEW_HOOK_CLOSED;
	}
	if (READ_ONCE(h->session_closed))
		flags |= KVIEW_HOOK_SESSION_CLOSED;
	return flags;
}

/* As the kernel's PERF_EVENT_IOC_SET_BPF: one program per event, EEXIST. */
static int set_bpf(struct kview_hook *h, int fd)
{
	struct bpf_prog *prog;
	int err = kview_get_prog(fd, h->kind, &prog);

	if (err)
		return err;
	if (cmpxchg(&h->prog, NULL, prog)) {
		bpf_prog_put(prog);
		return -EEXIST;
	}
	return 0;
}

static long hook_file_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct kview_hook_file *hf = file->private_data;
	struct kview_hook *h = hf->hook;

	switch (cmd) {
	case PERF_EVENT_IOC_ENABLE:	/* PERF_IOC_FLAG_GROUP: one event */
		WRITE_ONCE(h->prog_off, false);
		return 0;
	case PERF_EVENT_IOC_DISABLE:
		WRITE_ONCE(h->prog_off, true);
		return 0;
	case PERF_EVENT_IOC_SET_BPF:	/* the fd, by value, as perf takes it */
		return set_bpf(h, (int)(u32)arg);
	case PERF_EVENT_IOC_ID:
		return put_user(hf->id, (u64 __user *)arg);
	case PERF_EVENT_IOC_QUERY_BPF:
		/* what the kernel answers for a kprobe PMU event (not a tracepoint) */
		if (!perfmon_capable())
			return -EPERM;
		return -EINVAL;
	default:
		return -ENOTTY;
	}
}

/* The hook stays in the view, flagged CLOSED, without its program. */
static int hook_file_release(struct inode *inode, struct file *file)
{
	struct kview_hook_file *hf = file->private_data;
	struct kview_hook *h = hf->hook;

	if (h) {
		WRITE_ONCE(h->closed, true);
		kview_hook_drop_prog(h);
	}
	if (hf->dev)
		fput(hf->dev);	/* may be the view's last reference */
	kfree(hf);
	return 0;
}

static const struct file_operations hook_file_fops = {
	.owner = THIS_MODULE,
	.release = hook_file_release,
	.unlocked_ioctl = hook_file_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static int add_hook(struct kview_view *v, u32 session,
		    const struct kview_hook_fd *req, struct kview_hook **out)
{
	struct kview_hook_add add = {
		.size = sizeof(add),
		.kind = req->kind,
		.cookie = req->cookie,
		.offset = req->offset,
	};
	int err;

	memcpy(add.symbol, req->symbol, sizeof(add.symbol));
	mutex_lock(&v->lock);
	err = kview_view_live(v) ? kview_hook_add_fd(v, session, &add, out) : -ESRCH;
	if (!err)
		WRITE_ONCE((*out)->prog_off, req->flags & KVIEW_HOOK_FD_DISABLED);
	mutex_unlock(&v->lock);
	return err;
}

/*
 * KVIEW_IOC_HOOK_FD on /dev/kview file @dev, session @session of view @v, for request
 * @req (copied in and checked, ioctl.c); the caller holds the file's lock.
 * The answer goes back to @arg, and the descriptor is installed only once
 * it has.
 */
long kview_hook_fd(struct file *dev, struct kview_view *v, u32 session,
		   struct kview_hook_fd *rq, void __user *arg)
{
	struct kview_hook_fd req = *rq;
	struct kview_hook_file *hf;
	struct kview_hook *h;
	struct file *file;
	int err, fd;
	u32 usize;

	/* a caller that cannot learn the descriptor would leak it */
	if (get_user(usize, (u32 __user *)arg))
		return -EFAULT;
	if (usize < offsetofend(struct kview_hook_fd, fd))
		return -EINVAL;

	hf = kzalloc(sizeof(*hf), GFP_KERNEL);
	if (!hf)
		return -ENOMEM;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		kfree(hf);
		return fd;
	}
	file = anon_inode_getfile("[kview-hook]", &hook_file_fops, hf,
				  O_RDWR | O_CLOEXEC);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		kfree(hf);
		return PTR_ERR(file);
	}
	/* from here on the file's release frees hf */
	err = add_hook(v, session, &req, &h);
	if (err)
		goto err_file;
	hf->hook = h;
	hf->dev = get_file(dev);
	hf->id = BIT_ULL(63) | atomic64_inc_return(&next_id);

	req.hook_id = h->id;
	req.addr = (unsigned long)h->site->kp.addr;
	req.fd = fd;
	err = put_sized(arg, &req, sizeof(req));
	if (err)
		goto err_file;	/* the hook stays in the view, closed */
	fd_install(fd, file);
	return 0;

err_file:
	fput(file);
	put_unused_fd(fd);
	return err;
}
