// SPDX-License-Identifier: GPL-2.0
/*
 * Text pages: the private 4 KiB copy of each kernel text page that holds a
 * hook, mapped by the view's PTE table for its 2 MiB region (pgtable.c).
 * A copy equals its shared page byte for byte except at the int3s of the
 * view's hooks (hook.c plants them); mirror.c copies every shared text write
 * into it for as long as it exists.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include "kview.h"

/*
 * Stop mirroring shared writes into @v's pages. Once the view is unmapped no
 * CPU runs them; and mirroring reads @v's hooks and their sites, which
 * kview_hooks_release() frees next. Idempotent.
 */
void kview_pages_unmirror(struct kview_view *v)
{
	struct kview_page *p;

	list_for_each_entry(p, &v->pages, view_node) {
		if (list_empty(&p->mirror_node))
			continue;
		mutex_lock(kv_sym.text_mutex);
		kview_mirror_del(p);
		mutex_unlock(kv_sym.text_mutex);
		kview_mirror_put();
	}
}

static struct kview_page *find_page(struct kview_view *v, unsigned long vaddr)
{
	struct kview_page *p;

	list_for_each_entry(p, &v->pages, view_node)
		if (p->vaddr == vaddr)
			return p;
	return NULL;
}

/*
 * Copy one kernel text page and map the copy for the traced process only.
 * Under text_mutex, so no shared write can slip between copy and mirroring.
 */
static int copy_text_page(struct kview_view *v, struct kview_ptes *t,
			  struct kview_page *p)
{
	unsigned int i = pte_index(p->vaddr);
	unsigned long *ptep = &t->table[i];
	unsigned long old;
	int err;

	if (t->module) {
		err = kview_modtext_pin(p);
		if (err)
			return err;
	}
	p->copy = alloc_page(GFP_KERNEL_ACCOUNT);
	if (!p->copy) {
		kview_modtext_unpin(p);
		return -ENOMEM;
	}
	v->text_pages++;
	kview_account_pages(1);

	mutex_lock(kv_sym.text_mutex);
	raw_spin_lock(&kview_modsync_lock);	/* modtext.c skips it from now */
	old = READ_ONCE(*ptep);
	p->pfn = (old & PTE_PFN_MASK) >> PAGE_SHIFT;
	memcpy(page_address(p->copy), pfn_to_kaddr(p->pfn), PAGE_SIZE);
	__set_bit(i, t->private);
	WRITE_ONCE(*ptep, (old & ~PTE_PFN_MASK) |
		   ((unsigned long)page_to_pfn(p->copy) << PAGE_SHIFT));
	raw_spin_unlock(&kview_modsync_lock);
	kview_mirror_add(p);
	mutex_unlock(kv_sym.text_mutex);
	return 0;
}

int kview_view_map_page(struct kview_view *v, unsigned long addr,
			struct kview_page **out)
{
	unsigned long vaddr = addr & PAGE_MASK;
	struct kview_page *p = find_page(v, vaddr);
	struct kview_ptes *t;
	int err;

	if (p)
		goto found;
	t = kview_get_ptes(v, addr);
	if (IS_ERR(t))
		return PTR_ERR(t);
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->view = v;
	p->vaddr = vaddr;
	INIT_LIST_HEAD(&p->mirror_node);
	err = kview_mirror_get();	/* coherence first, then the copy */
	if (err)
		goto err_free;
	err = copy_text_page(v, t, p);
	if (err)
		goto err_mirror;
	list_add(&p->view_node, &v->pages);
found:
	*out = p;
	return 0;

err_mirror:
	kview_mirror_put();
err_free:
	kfree(p);
	return err;
}

/* Free every private text page. The view must be unmapped. */
void kview_pages_free(struct kview_view *v)
{
	struct kview_page *p, *pn;

	WARN_ON_ONCE(v->installed);
	kview_pages_unmirror(v);
	list_for_each_entry_safe(p, pn, &v->pages, view_node) {
		__free_page(p->copy);
		kview_modtext_unpin(p);
		v->text_pages--;
		kview_account_pages(-1);
		list_del(&p->view_node);
		kfree(p);
	}
}
