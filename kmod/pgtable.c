// SPDX-License-Identifier: GPL-2.0
/*
 * Page tables: a view's private path from the target mm's top-level kernel
 * entry down to the private copies of the kernel text pages that hold hooks
 * (textpage.c).
 *
 *   mm->pgd[pgd_index(__START_KERNEL_map)]          written by kview_view_build
 *     -> private copy of the P4D page                  (5-level paging only)
 *     -> private copy of the PUD page
 *     -> private copy of the kernel image's PMD page   (large leaves: G cleared)
 *     -> private PTE table per hooked 2 MiB region     (all leaves: G cleared)
 *     -> private copy of each hooked 4 KiB text page   (copy_text_page)
 *
 * Entries we do not replace keep pointing at the shared tables, so modules,
 * fixmap, cpu_entry_area and espfix stay live. Invariants (docs/design.md):
 * a private page equals its shared page byte for byte except at int3s of
 * registered kprobes (mirror.c keeps it so); private leaves are never global;
 * the shared mapping of a hooked region is made non-global while hooked, so
 * a global TLB entry can't hide the traced process's copy from it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/smp.h>
#include <asm/cpufeature.h>
#include <asm/pgtable.h>
#include <asm/tlbflush.h>
#include "kview.h"

#define KVIEW_IMAGE_REGIONS PTRS_PER_PMD

/* Shared 2 MiB regions we made non-global, with the number of users. */
static DEFINE_MUTEX(region_lock);
static unsigned int region_refs[KVIEW_IMAGE_REGIONS];

/* Module-wide: pages held by every view (text copies and tables). */
static atomic64_t pages_held = ATOMIC64_INIT(0);

void kview_account_pages(long delta)
{
	atomic64_add(delta, &pages_held);
}

long kview_pages_held(void)
{
	return atomic64_read(&pages_held);
}

static unsigned long *table_of(unsigned long entry)
{
	return (unsigned long *)__va(entry & PTE_PFN_MASK);
}

static unsigned long with_table(unsigned long entry, void *table)
{
	return (entry & ~PTE_PFN_MASK) | __pa(table);
}

static void *alloc_table(struct kview_view *v)
{
	struct page *pg = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);

	if (!pg)
		return NULL;
	v->table_pages++;
	kview_account_pages(1);
	return page_address(pg);
}

static void free_table(struct kview_view *v, void *table)
{
	free_page((unsigned long)table);
	v->table_pages--;
	kview_account_pages(-1);
}

static int upper_levels(void)
{
	return pgtable_l5_enabled() ? 3 : 2;	/* [P4D,] PUD, PMD */
}

/*
 * Under 5-level paging KASLR may place the direct map, vmalloc or vmemmap
 * under the kernel image's top-level entry. New entries there would land in
 * the shared P4D page only, invisible through our copy, and
 * sync_global_pgds() BUG()s on a top entry that differs from init_mm's.
 */
static const char *l5_layout_conflict(void)
{
	unsigned long top = __START_KERNEL_map & PGDIR_MASK;
	unsigned long pad = (unsigned long)CONFIG_RANDOMIZE_MEMORY_PHYSICAL_PADDING << 40;
	unsigned long dm_bytes = (*kv_sym.max_pfn << PAGE_SHIFT) + pad;
	unsigned long vmemmap_bytes = (dm_bytes >> PAGE_SHIFT) * sizeof(struct page);

	if (!pgtable_l5_enabled())
		return NULL;
	if (page_offset_base + dm_bytes - 1 >= top)
		return "the direct map";
	if (top <= VMALLOC_END)
		return "vmalloc";
	if (vmemmap_base + vmemmap_bytes - 1 >= top)
		return "vmemmap";
	return NULL;
}

/* Does @mm map the kernel image through a view's tables (not init_mm's)? */
bool kview_mm_on_view(struct mm_struct *mm)
{
	return !same_entry(READ_ONCE(*kernel_top_entry(mm)),
			   READ_ONCE(*kernel_top_entry(kv_sym.init_mm)));
}

/*
 * The image's PMD page must hold nothing but the image: with KASLR
 * (KERNEL_IMAGE_SIZE = 1 GiB) modules start in the next PUD entry. Were
 * modules to share it, PTE tables the kernel adds later for them would land
 * in the shared PMD page only and be missing from our copy.
 */
static bool image_pmd_shared(void)
{
	return MODULES_VADDR < (__START_KERNEL_map & PUD_MASK) + PUD_SIZE;
}

/*
 * A KVIEW_VIEW_SHARED_TEXT view keeps the shared page tables: it only tracks
 * its address spaces, for the handler's filter.
 */
void kview_view_build_shared(struct kview_view *v)
{
	raw_spin_lock(&v->mms_lock);
	v->installed = true;
	raw_spin_unlock(&v->mms_lock);
}

/* Build the private tables for v->mms[0], the target (not mapped yet). */
int kview_view_build(struct kview_view *v)
{
	unsigned long addr = __START_KERNEL_map;
	pgd_t *kpgd = pgd_offset_pgd(kv_sym.init_mm->pgd, addr);
	pgd_t *pgdp = kernel_top_entry(v->mms[0]);
	unsigned long idx[3] = { 0 };
	unsigned long entry, top = 0;
	int i, n = upper_levels();
	const char *conflict;

	if (cpu_feature_enabled(X86_FEATURE_XENPV)) {
		pr_info("refusing view: Xen PV page tables are hypervisor-managed\n");
		return -EOPNOTSUPP;
	}
	conflict = l5_layout_conflict();
	if (conflict) {
		pr_info("refusing view: 5-level KASLR layout puts %s under the kernel image's top-level entry\n",
			conflict);
		return -EOPNOTSUPP;
	}
	if (image_pmd_shared()) {
		pr_info("refusing view: modules share the kernel image's PMD page (no KASLR)\n");
		return -EOPNOTSUPP;
	}

	v->orig_pgd = READ_ONCE(*pgdp);
	if (!same_entry(v->orig_pgd, READ_ONCE(*kpgd))) {
		/* e.g. a previous view of this mm is still being torn down */
		pr_info_ratelimited("pid %d: top-level kernel entry differs from init_mm's\n",
				    v->pid);
		return -EBUSY;
	}

	if (n == 3)
		idx[0] = p4d_index(addr);
	idx[n - 2] = pud_index(addr);

	entry = pgd_val(v->orig_pgd);
	for (i = 0; i < n; i++) {
		unsigned long *copy;

		if (!(entry & _PAGE_PRESENT) || (entry & _PAGE_PSE))
			return -EOPNOTSUPP;
		copy = alloc_table(v);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, table_of(entry), PAGE_SIZE);
		if (i == 0)
			top = with_table(entry, copy);
		else
			v->upper[i - 1][idx[i - 1]] = with_table(entry, copy);
		v->upper[i] = copy;
		v->nr_upper = i + 1;
		if (i < n - 1)
			entry = table_of(entry)[idx[i]];
	}
	/* Large text leaves of the traced process are never global. */
	for (i = 0; i < PTRS_PER_PMD; i++) {
		unsigned long *pmd = &v->upper[n - 1][i];

		if ((*pmd & _PAGE_PRESENT) && (*pmd & _PAGE_PSE))
			*pmd &= ~_PAGE_GLOBAL;
	}

	v->top = __pgd(top);
	return 0;
}

/*
 * Map the built view into v->mms[0], the target. Hooks planted before this
 * (fork/exec following: follow.c) are live from the first instruction the
 * target runs on it.
 */
void kview_view_install(struct kview_view *v)
{
	mutex_lock(kv_sym.text_mutex);	/* no text write of the target meanwhile (mirror.c) */
	raw_spin_lock(&v->mms_lock);
	set_pgd(kernel_top_entry(v->mms[0]), v->top);
	v->installed = true;
	raw_spin_unlock(&v->mms_lock);
	mutex_unlock(kv_sym.text_mutex);
	kview_flush_mm(v->mms[0]);
}

/*
 * Restore the shared top-level entry everywhere. Idempotent. The caller
 * then stops mirroring into the view's pages (kview_pages_unmirror()).
 */
void kview_view_unmap(struct kview_view *v)
{
	u32 i;

	raw_spin_lock(&v->mms_lock);
	v->dying = true;
	if (!v->installed) {	/* never mapped, or unmapped already */
		raw_spin_unlock(&v->mms_lock);
		return;
	}
	for (i = 0; i < v->nr_mms && pgd_val(v->top); i++) {
		pgd_t *pgdp;

		if (!v->mms[i])
			continue;
		pgdp = kernel_top_entry(v->mms[i]);
		if (same_entry(READ_ONCE(*pgdp), v->top))
			set_pgd(pgdp, v->orig_pgd);
	}
	v->installed = false;
	raw_spin_unlock(&v->mms_lock);
	kview_flush_view(v);
}

unsigned long *kview_shared_pmd_entry(unsigned long addr)
{
	pgd_t *pgd = pgd_offset_pgd(kv_sym.init_mm->pgd, addr);
	p4d_t *p4d = p4d_offset(pgd, addr);
	pud_t *pud = pud_offset(p4d, addr);

	return (unsigned long *)pmd_offset(pud, addr);
}

static int region_nonglobal_get(unsigned long base)
{
	unsigned int i = pmd_index(base);
	unsigned int level;
	pte_t *pte;
	int err = 0;

	mutex_lock(&region_lock);
	if (region_refs[i]++)
		goto out;
	pte = lookup_address(base, &level);
	if (!pte || !(pte_flags(*pte) & _PAGE_GLOBAL))
		goto out;	/* already non-global (e.g. PTI): nothing to undo */
	if (boot_cpu_has(X86_FEATURE_PTI)) {
		/* PTI with global kernel text also maps it in user tables. */
		pr_info("refusing view: PTI with global kernel text is not supported\n");
		err = -EOPNOTSUPP;
	} else {
		err = kv_sym.set_memory_nonglobal(base, PTRS_PER_PTE);
	}
	if (err) {
		region_refs[i]--;
		goto out;
	}
	region_refs[i] |= 1u << 31;	/* we changed it: restore at last put */
out:
	mutex_unlock(&region_lock);
	return err;
}

static void region_nonglobal_put(unsigned long base)
{
	unsigned int i = pmd_index(base);

	mutex_lock(&region_lock);
	if (--region_refs[i] == 1u << 31) {
		region_refs[i] = 0;
		if (kv_sym.set_memory_global(base, PTRS_PER_PTE))
			pr_warn("could not restore global text mapping at %lx\n", base);
	}
	mutex_unlock(&region_lock);
}

static struct kview_ptes *find_ptes(struct kview_view *v, unsigned long base)
{
	struct kview_ptes *t;

	list_for_each_entry(t, &v->ptes, node)
		if (t->base == base)
			return t;
	return NULL;
}

/*
 * Module space: a private PMD page for its PUD entry, a copy of the shared
 * one kept in sync by modtext.c from the moment it exists. Caller holds
 * v->lock.
 */
static int module_pmd_get(struct kview_view *v)
{
	unsigned long *pud = v->upper[v->nr_upper - 2];
	unsigned int i = pud_index(MODULES_VADDR);
	unsigned long entry = READ_ONCE(pud[i]);
	unsigned long *copy;
	int err;

	if (v->mod_pmd)
		return 0;
	if (v->nr_upper < 2 || pud_index(MODULES_END - 1) != i ||
	    i == pud_index(__START_KERNEL_map) ||
	    !(entry & _PAGE_PRESENT) || (entry & _PAGE_PSE))
		return -EOPNOTSUPP;
	err = kview_modsync_get();	/* resyncs first, then the copy */
	if (err)
		return err;
	copy = alloc_table(v);
	if (!copy) {
		kview_modsync_put();
		return -ENOMEM;
	}
	raw_spin_lock(&kview_modsync_lock);
	memcpy(copy, table_of(entry), PAGE_SIZE);
	WRITE_ONCE(pud[i], with_table(entry, copy));
	v->mod_pmd = copy;
	kview_modsync_link(v);
	raw_spin_unlock(&kview_modsync_lock);
	return 0;
}

/* Give the 2 MiB region around @addr a private, non-global PTE table. */
struct kview_ptes *kview_get_ptes(struct kview_view *v, unsigned long addr)
{
	unsigned long base = addr & PMD_MASK;
	bool module = kview_is_module_addr(addr);
	unsigned long *pmdp, shared;
	struct kview_ptes *t = find_ptes(v, base);
	int i, err;

	if (t)
		return t;
	if (module) {
		err = module_pmd_get(v);
		if (err)
			return ERR_PTR(err);
		pmdp = &v->mod_pmd[pmd_index(addr)];
	} else {
		pmdp = &v->upper[v->nr_upper - 1][pmd_index(addr)];
	}
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return ERR_PTR(-ENOMEM);
	t->base = base;
	t->module = module;
	if (!module) {	/* module pages: one by one (kview_modtext_pin()) */
		err = region_nonglobal_get(base);
		if (err)
			goto err_free;
		t->region_ref = true;
	}
	t->table = alloc_table(v);
	err = -ENOMEM;
	if (!t->table)
		goto err_region;

	/* under the resync lock: no change of module space is missed */
	raw_spin_lock(&kview_modsync_lock);
	shared = READ_ONCE(*kview_shared_pmd_entry(addr));
	err = -EINVAL;
	if (!(shared & _PAGE_PRESENT))
		goto err_unlock;
	if (shared & _PAGE_PSE) {
		unsigned long pfn = pmd_pfn(__pmd(shared));
		unsigned long flags = shared & ~(PTE_PFN_MASK | _PAGE_PSE | _PAGE_GLOBAL);

		err = -EOPNOTSUPP;	/* huge module mappings: not in 6.1/6.12 */
		if (module)
			goto err_unlock;
		if (shared & _PAGE_PAT_LARGE)
			flags = (flags & ~_PAGE_PAT_LARGE) | _PAGE_PAT;
		for (i = 0; i < PTRS_PER_PTE; i++)
			t->table[i] = ((pfn + i) << PAGE_SHIFT) | flags;
		WRITE_ONCE(*pmdp, __pa(t->table) | _KERNPG_TABLE);
	} else {
		memcpy(t->table, table_of(shared), PAGE_SIZE);
		for (i = 0; i < PTRS_PER_PTE; i++)
			t->table[i] &= ~_PAGE_GLOBAL;
		WRITE_ONCE(*pmdp, with_table(shared, t->table));
	}
	list_add(&t->node, &v->ptes);
	raw_spin_unlock(&kview_modsync_lock);
	/*
	 * The region's translations may be cached as one 2 MiB page: drop
	 * them before a 4 KiB entry of it gets another frame (a TLB holding
	 * both sizes for one address with different frames is undefined).
	 */
	kview_flush_view(v);
	return t;

err_unlock:
	raw_spin_unlock(&kview_modsync_lock);
	free_table(v, t->table);
err_region:
	if (t->region_ref)
		region_nonglobal_put(base);
err_free:
	kfree(t);
	return ERR_PTR(err);
}

/* Free every private page table. The view must be unmapped. */
void kview_tables_free(struct kview_view *v)
{
	struct kview_ptes *t, *tn;
	int i;

	if (v->mod_pmd)
		kview_modsync_unlink(v);	/* no resync touches them now */
	list_for_each_entry_safe(t, tn, &v->ptes, node) {
		free_table(v, t->table);
		if (t->region_ref)
			region_nonglobal_put(t->base);
		list_del(&t->node);
		kfree(t);
	}
	if (v->mod_pmd) {
		free_table(v, v->mod_pmd);
		v->mod_pmd = NULL;
		kview_modsync_put();
	}
	for (i = v->nr_upper - 1; i >= 0; i--)
		free_table(v, v->upper[i]);
	v->nr_upper = 0;
}
