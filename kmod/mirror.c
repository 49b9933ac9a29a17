// SPDX-License-Identifier: GPL-2.0
/*
 * Coherence: the kernel keeps writing its own text (static keys, ftrace,
 * other kprobes, BPF trampolines, livepatch), and several writers BUG() when
 * the bytes they read back through the current page tables differ. Every
 * such write after boot goes through __text_poke(), which copies the new
 * bytes with text_poke_memcpy() into a temporary alias (poking_addr in
 * poking_mm) of the target page, under text_mutex. A kprobe on
 * text_poke_memcpy() tells us the bytes and, by walking poking_mm, the
 * physical page being written; we copy the same bytes into every private
 * copy of that page, synchronously, before the shared write completes.
 *
 * If a write covers one of our int3 addresses with anything but the
 * original opcode or an int3, the kernel's byte wins (byte identity is what
 * keeps the writers' checks happy) and the hook is marked lost in stats.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include "kview.h"

/* Private pages of all views; protected by text_mutex. */
static LIST_HEAD(mirror_pages);

static unsigned long poking_pfn(unsigned long addr)
{
	struct mm_struct *mm = *kv_sym.poking_mm;
	pgd_t *pgd = pgd_offset_pgd(mm->pgd, addr);
	p4d_t *p4d;
	pud_t *pud;
	pmd_t *pmd;
	pte_t *pte;

	if (pgd_none(*pgd))
		return 0;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(*p4d))
		return 0;
	pud = pud_offset(p4d, addr);
	if (pud_none(*pud) || pud_large(*pud))
		return 0;
	pmd = pmd_offset(pud, addr);
	if (pmd_none(*pmd) || pmd_large(*pmd))
		return 0;
	pte = pte_offset_kernel(pmd, addr);
	if (!pte_present(*pte))
		return 0;
	return pte_pfn(*pte);
}

/*
 * A write over one of our int3s. An int3 (someone arming a kprobe here) keeps
 * the hook. Otherwise the kernel's bytes win (byte identity keeps the
 * writers' checks happy) and the hook is lost -- until the hook's byte and
 * the 4 before it are the original ones again (a kprobe disarmed, a covering
 * optprobe jump undone): then our int3 goes back in, which is invariant 1
 * again. A 5-byte jump covering the hook starts in those 5 bytes; bytes
 * after the hook are our own instruction, where no other jump can start, so
 * a neighbour's optimized kprobe just after us does not cost us the hook.
 */
static bool pristine(const u8 *dst, int o, const struct kview_hook *h)
{
	int half = KVIEW_HOOK_WINDOW / 2, j;

	for (j = -half; j <= 0; j++)
		if (o + j >= 0 && o + j < PAGE_SIZE && dst[o + j] != h->orig[j + half])
			return false;
	return true;
}

static void mirror_page(struct kview_page *p, unsigned int off,
			const u8 *src, size_t len)
{
	struct kview_view *v = p->view;
	u8 *dst = (u8 *)page_address(p->copy);
	u32 i;

	memcpy(dst + off, src, len);
	atomic64_inc(&v->mirrored_writes);
	/*
	 * Every hook of the page: the write may have undone a covering jump
	 * whose last byte written is not the hook's own.
	 */
	for (i = 0; i < v->nr_hooks; i++) {
		struct kview_hook *h = v->hooks[i];
		unsigned int o = offset_in_page(h->site->kp.addr);

		if (h->page != p)
			continue;
		if (dst[o] != KVIEW_INT3 && pristine(dst, o, h))
			dst[o] = KVIEW_INT3;
		WRITE_ONCE(h->lost, dst[o] != KVIEW_INT3);
	}
}

/* Runs at entry of text_poke_memcpy(dst, src, len), text_mutex held. */
static int mirror_pre_handler(struct kprobe *kp, struct pt_regs *regs)
{
	unsigned long dst = regs->di;
	const u8 *src = (const u8 *)regs->si;
	size_t len = regs->dx;
	struct kview_page *p;

	while (len && !list_empty(&mirror_pages)) {
		size_t n = min_t(size_t, len, PAGE_SIZE - offset_in_page(dst));
		unsigned long pfn = poking_pfn(dst);

		list_for_each_entry(p, &mirror_pages, mirror_node)
			if (pfn && p->pfn == pfn)
				mirror_page(p, offset_in_page(dst), src, n);
		dst += n;
		src += n;
		len -= n;
	}
	return 0;
}

static struct kprobe mirror_kp = {
	.symbol_name = "text_poke_memcpy",
	.pre_handler = mirror_pre_handler,
};

/* Caller holds text_mutex. */
void kview_mirror_add(struct kview_page *p)
{
	list_add(&p->mirror_node, &mirror_pages);
}

/* Caller holds text_mutex. */
void kview_mirror_del(struct kview_page *p)
{
	list_del_init(&p->mirror_node);
}

int kview_mirror_init(void)
{
	int err = register_kprobe(&mirror_kp);

	if (err)
		pr_err("cannot hook text_poke_memcpy (%d): no coherence, refusing to load\n",
		       err);
	return err;
}

void kview_mirror_exit(void)
{
	unregister_kprobe(&mirror_kp);
}
