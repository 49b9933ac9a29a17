// SPDX-License-Identifier: GPL-2.0
/*
 * Hooks: a kprobe per kernel address ("site"), registered DISABLED so shared
 * text is never written, plus an int3 planted only in the private copies of
 * the views that hook that address (plant_int3). The kprobe machinery then
 * handles the private int3 like its own: kprobe_int3_handler() finds the
 * kprobe by address, runs kview_pre_handler() and single-steps the original
 * instruction out of line, resuming in the same (private) page.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hardirq.h>
#include <linux/kallsyms.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <asm/ftrace.h>
#include "kview.h"

static DEFINE_MUTEX(site_lock);
static LIST_HEAD(sites);

/*
 * The int3 trap entered NMI context (irqentry_nmi_enter adds one NMI and one
 * hardirq level); the interrupted code was a task if nothing else is set.
 */
static bool hit_in_task(void)
{
	return nmi_count() == NMI_OFFSET && hardirq_count() == HARDIRQ_OFFSET &&
	       !in_serving_softirq() && !(current->flags & PF_KTHREAD);
}

/* Hit path: runs in int3 (NMI-like) context, IRQs off. */
static int kview_pre_handler(struct kprobe *kp, struct pt_regs *regs)
{
	struct kview_site *s = container_of(kp, struct kview_site, kp);
	struct mm_struct *active = current->active_mm;
	bool task = hit_in_task();
	struct kview_hook *h;
	bool matched = false;

	rcu_read_lock();
	list_for_each_entry_rcu(h, &s->subs, site_node) {
		struct mm_struct *mm = h->view->mm;

		if (task && current->mm == mm) {
			atomic64_inc(&h->hits);
			matched = true;
		} else if (active == mm) {
			atomic64_inc(&h->other_hits);
			matched = true;
		}
	}
	/* Only possible if somebody armed this address in shared text. */
	if (!matched && task && current->mm) {
		list_for_each_entry_rcu(h, &s->subs, site_node)
			atomic64_inc(&h->foreign_mm_hits);
		matched = true;
	}
	if (!matched)
		atomic64_inc(&s->unmatched);
	rcu_read_unlock();
	return 0;
}

static int map_register_error(int err)
{
	switch (err) {
	case -EILSEQ:	/* not an instruction boundary */
		return -EINVAL;
	case -EINVAL:	/* blacklist, jump label, static call, BUG, alternative */
	case -EBUSY:
		return -EADDRNOTAVAIL;
	default:
		return err;
	}
}

static struct kview_site *site_get(unsigned long addr)
{
	struct kview_site *s;
	int err;

	mutex_lock(&site_lock);
	list_for_each_entry(s, &sites, node) {
		if ((unsigned long)s->kp.addr == addr) {
			s->refs++;
			goto out;
		}
	}
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s) {
		s = ERR_PTR(-ENOMEM);
		goto out;
	}
	INIT_LIST_HEAD(&s->subs);
	s->kp.addr = (kprobe_opcode_t *)addr;
	s->kp.pre_handler = kview_pre_handler;
	s->kp.flags = KPROBE_FLAG_DISABLED;	/* never armed in shared text */
	err = register_kprobe(&s->kp);
	if (err) {
		kfree(s);
		s = ERR_PTR(map_register_error(err));
		goto out;
	}
	if (s->kp.flags & KPROBE_FLAG_FTRACE) {
		/* an fentry site: no out-of-line copy to single-step */
		unregister_kprobe(&s->kp);
		kfree(s);
		s = ERR_PTR(-EADDRNOTAVAIL);
		goto out;
	}
	/*
	 * With OPTPROBES the kprobe may have been wrapped in an aggregator
	 * that inherits DISABLED (so it is never armed or optimized) and skips
	 * disabled children. Enable the child only: the aggregator then calls
	 * our handler when our private int3 traps.
	 */
	if (!list_empty(&s->kp.list))
		s->kp.flags &= ~KPROBE_FLAG_DISABLED;
	s->refs = 1;
	list_add(&s->node, &sites);
out:
	mutex_unlock(&site_lock);
	return s;
}

static void site_put(struct kview_site *s)
{
	mutex_lock(&site_lock);
	if (--s->refs) {
		mutex_unlock(&site_lock);
		return;
	}
	list_del(&s->node);
	mutex_unlock(&site_lock);
	unregister_kprobe(&s->kp);	/* waits for running handlers */
	kfree(s);
}

/* Resolve the hook's kernel address. Function entry skips the fentry call. */
static int hook_address(const struct kview_hook_add *req, unsigned long *addr)
{
	char name[KSYM_NAME_LEN];
	unsigned long func;
	int n;

	if (!req->symbol[0])
		return -EINVAL;
	if (req->kind == KVIEW_HOOK_SYSCALL_ENTER) {
		if (req->offset)
			return -EINVAL;
		n = snprintf(name, sizeof(name), "__x64_sys_%s", req->symbol);
	} else {
		n = snprintf(name, sizeof(name), "%s", req->symbol);
	}
	if (n >= sizeof(name))
		return -EINVAL;
	func = kv_sym.lookup_name(name);
	if (!func)
		return -ENOENT;
	if (func < kv_sym.stext || func >= kv_sym.etext)
		return -EINVAL;	/* module or non-text symbol */
	if (kv_sym.ftrace_location(func) == func)
		func += MCOUNT_INSN_SIZE;
	if (req->offset >= kv_sym.etext - func)
		return -EINVAL;
	*addr = func + req->offset;
	return 0;
}

/* Write our int3 into the view's private copy only. */
static void plant_int3(struct kview_view *v, struct kview_hook *h)
{
	u8 *byte = (u8 *)page_address(h->page->copy) +
		   offset_in_page(h->site->kp.addr);

	mutex_lock(kv_sym.text_mutex);	/* serializes with mirror.c */
	WRITE_ONCE(*byte, KVIEW_INT3);
	h->page->nr_hooks++;
	v->hooks[v->nr_hooks++] = h;
	mutex_unlock(kv_sym.text_mutex);
	kview_flush_all();	/* also serializes every CPU's instruction stream */
}

int kview_hook_add(struct kview_view *v, struct kview_hook_add *req)
{
	struct kview_hook *h;
	unsigned long addr;
	u32 i;
	int err;

	if (req->kind != KVIEW_HOOK_KPROBE && req->kind != KVIEW_HOOK_SYSCALL_ENTER)
		return -EINVAL;
	err = hook_address(req, &addr);
	if (err)
		return err;
	for (i = 0; i < v->nr_hooks; i++)
		if ((unsigned long)v->hooks[i]->site->kp.addr == addr)
			return -EEXIST;
	if (v->nr_hooks >= KVIEW_MAX_HOOKS)
		return -ENOSPC;

	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return -ENOMEM;
	h->view = v;
	h->id = v->nr_hooks;
	h->kind = req->kind;
	h->cookie = req->cookie;
	strscpy(h->symbol, req->symbol, sizeof(h->symbol));

	h->site = site_get(addr);
	if (IS_ERR(h->site)) {
		err = PTR_ERR(h->site);
		goto err_free;
	}
	err = kview_view_map_page(v, addr, &h->page);
	if (err)
		goto err_site;

	mutex_lock(&site_lock);
	list_add_rcu(&h->site_node, &h->site->subs);
	mutex_unlock(&site_lock);
	plant_int3(v, h);

	req->hook_id = h->id;
	req->addr = addr;
	return 0;

err_site:
	site_put(h->site);
err_free:
	kfree(h);
	return err;
}

/*
 * Detach every hook of an unmapped view from its site; the last user of a
 * site unregisters its kprobe. The private copies are freed by the caller
 * after this returns, hook memory after kview_view_free().
 */
void kview_hooks_release(struct kview_view *v)
{
	u32 i;

	WARN_ON_ONCE(v->installed);
	mutex_lock(&site_lock);
	for (i = 0; i < v->nr_hooks; i++)
		list_del_rcu(&v->hooks[i]->site_node);
	mutex_unlock(&site_lock);
	synchronize_rcu();	/* no handler still walks our hooks */
	for (i = 0; i < v->nr_hooks; i++)
		site_put(v->hooks[i]->site);
}
