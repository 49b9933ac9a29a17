// SPDX-License-Identifier: GPL-2.0
/*
 * Module text: hooks in loadable modules (ext4, xfs, 9p, nf_conntrack...).
 * Modules live in the 1 GiB after the image's (their own PUD entry, KASLR),
 * mapped by 4 KiB PTEs in tables that the kernel adds to and changes while
 * modules, BPF programs, kprobe slots and ftrace trampolines come and go. A
 * view that hooks module text has a private PMD page for that PUD entry and
 * a private PTE table for each 2 MiB region that holds a hooked page
 * (pgtable.c); every entry of them but the hooked pages' must stay what the
 * shared tables say, or the traced process would run on stale mappings.
 *
 * Every change of module-space mappings after boot goes through three
 * functions: the allocator (module_alloc() in 6.1, execmem_alloc() in 6.12:
 * modules, BPF JIT packs, kprobe slots, ftrace trampolines), its free
 * (module_memfree(), execmem_free()) and change_page_attr_set_clr() (every
 * set_memory_*()). A kretprobe on each copies the shared entries into every
 * such view when it returns, before its caller can use what it mapped (the
 * callers only run new memory after set_memory_*(): executable mappings
 * are made by it). The kretprobes exist only while some view hooks module
 * text, and a second after (residual R4 in docs/design.md). A hooked
 * module is pinned (try_module_get()) and each hooked page's shared PTE is
 * non-global while a private copy of it exists, as for image text.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/slab.h>
#include "kview.h"

/* Views with module tables, and those tables' contents. */
DEFINE_RAW_SPINLOCK(kview_modsync_lock);
static LIST_HEAD(sync_views);

#define SYNC_LINGER HZ
static DEFINE_MUTEX(probe_lock);
static unsigned long probe_users;
static bool probes_registered;
static void probe_idle_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(probe_idle, probe_idle_fn);
static void late_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(late_sync, late_fn);
static unsigned int late_rounds;

/* The bits the CPU sets, and ours: never a reason to copy or flush. */
#define SYNC_IGNORED (_PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL)

static bool sync_entry(unsigned long *mine, unsigned long want)
{
	unsigned long old = READ_ONCE(*mine);

	if (!((old ^ want) & ~SYNC_IGNORED))
		return false;
	WRITE_ONCE(*mine, want);
	return old & _PAGE_PRESENT;	/* a CPU may cache the old one */
}

/* Copy init_mm's module-space entries into @v. True if a CPU must flush. */
static bool sync_view(struct kview_view *v)
{
	unsigned long *shared = kview_shared_pmd_entry(MODULES_VADDR & PUD_MASK);
	DECLARE_BITMAP(private, PTRS_PER_PMD);
	struct kview_ptes *t;
	bool flush = false;
	int i, j;

	bitmap_zero(private, PTRS_PER_PMD);
	list_for_each_entry(t, &v->ptes, node) {
		unsigned long s, *st;

		if (!t->module)
			continue;
		i = pmd_index(t->base);
		__set_bit(i, private);
		s = READ_ONCE(shared[i]);
		if (!(s & _PAGE_PRESENT) || (s & _PAGE_PSE)) {
			/* a pinned module's page is mapped there: cannot be */
			pr_err_ratelimited("module region %lx lost its PTE table\n",
					   t->base);
			continue;
		}
		st = (unsigned long *)__va(s & PTE_PFN_MASK);
		for (j = 0; j < PTRS_PER_PTE; j++)
			if (!test_bit(j, t->private))
				flush |= sync_entry(&t->table[j],
						    READ_ONCE(st[j]) & ~_PAGE_GLOBAL);
	}
	for (i = 0; i < PTRS_PER_PMD; i++)
		if (!test_bit(i, private))
			flush |= sync_entry(&v->mod_pmd[i], READ_ONCE(shared[i]));
	return flush;
}

/*
 * Resync every view with module tables, and flush those that changed (all
 * of them with @flush_all). From the kretprobes (preemption off, interrupts
 * as the caller had them: on, since the three functions sleep or send IPIs
 * themselves) and from late_fn().
 */
static void sync_all(bool flush_all)
{
	struct kview_view *v;
	bool defer = false;

	raw_spin_lock(&kview_modsync_lock);
	list_for_each_entry(v, &sync_views, mod_node) {
		if (!sync_view(v) && !flush_all)
			continue;
		if (irqs_disabled())
			defer = true;	/* no IPIs here: flush from a work */
		else
			kview_flush_view(v);
	}
	raw_spin_unlock(&kview_modsync_lock);
	if (defer)
		mod_delayed_work(system_wq, &late_sync, 0);
}

static int sync_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	sync_all(false);
	return 0;
}

/* One per function; the first name that exists (6.1, then 6.12). */
static const char *const probe_names[][2] = {
	{ "module_alloc", "execmem_alloc" },
	{ "module_memfree", "execmem_free" },
	{ "change_page_attr_set_clr", NULL },
};

static struct kretprobe probes[ARRAY_SIZE(probe_names)];

static int register_one(int i)
{
	int k, err = -ENOENT;

	for (k = 0; k < 2 && probe_names[i][k]; k++) {
		memset(&probes[i], 0, sizeof(probes[i]));
		probes[i].kp.symbol_name = probe_names[i][k];
		probes[i].handler = sync_ret;
		/* callers may sleep inside: room for many at once */
		probes[i].maxactive = 64 + 4 * num_possible_cpus();
		err = register_kretprobe(&probes[i]);
		if (err != -ENOENT && err != -EINVAL)
			break;
	}
	if (err)
		pr_info("module text not supported: cannot hook %s (%d)\n",
			probe_names[i][0], err);
	return err;
}

/*
 * A caller of the three functions that entered before its kretprobe was
 * registered returns without a resync. Catch those up: 100 ms, then 1 s
 * and 5 s after registering.
 */
static void late_fn(struct work_struct *work)
{
	static const unsigned long delays[] = { HZ, 4 * HZ };

	sync_all(true);	/* and the flushes a sync_all() deferred */
	mutex_lock(&probe_lock);
	if (probes_registered && late_rounds < ARRAY_SIZE(delays))
		schedule_delayed_work(&late_sync, delays[late_rounds++]);
	mutex_unlock(&probe_lock);
}

static void probes_unregister(void)
{
	struct kretprobe *rps[ARRAY_SIZE(probes)];
	int i;

	if (!probes_registered || probe_users)
		return;
	for (i = 0; i < ARRAY_SIZE(probes); i++)
		rps[i] = &probes[i];
	unregister_kretprobes(rps, ARRAY_SIZE(rps));
	for (i = 0; i < ARRAY_SIZE(probes); i++)
		if (probes[i].nmissed)
			pr_warn("%s: %d returns without a resync\n",
				probes[i].kp.symbol_name, probes[i].nmissed);
	probes_registered = false;
}

/* Before a view's first module table: the resync kretprobes. */
int kview_modsync_get(void)
{
	int i, err = 0;

	mutex_lock(&probe_lock);
	if (!probes_registered) {
		for (i = 0; i < ARRAY_SIZE(probes) && !err; i++) {
			err = register_one(i);
			if (err)
				while (i--)
					unregister_kretprobe(&probes[i]);
		}
		if (err) {
			err = -EOPNOTSUPP;
			goto out;
		}
		probes_registered = true;
		late_rounds = 0;
		schedule_delayed_work(&late_sync, HZ / 10);
	}
	probe_users++;
out:
	mutex_unlock(&probe_lock);
	return err;
}

void kview_modsync_put(void)
{
	mutex_lock(&probe_lock);
	if (!--probe_users)
		mod_delayed_work(system_wq, &probe_idle, SYNC_LINGER);
	mutex_unlock(&probe_lock);
}

static void probe_idle_fn(struct work_struct *work)
{
	mutex_lock(&probe_lock);
	probes_unregister();
	mutex_unlock(&probe_lock);
}

/* Caller holds kview_modsync_lock. */
void kview_modsync_link(struct kview_view *v)
{
	list_add(&v->mod_node, &sync_views);
}

void kview_modsync_unlink(struct kview_view *v)
{
	raw_spin_lock(&kview_modsync_lock);
	list_del_init(&v->mod_node);
	raw_spin_unlock(&kview_modsync_lock);
}

/* Module exit: no view is left. */
void kview_modtext_exit(void)
{
	cancel_delayed_work_sync(&probe_idle);
	mutex_lock(&probe_lock);
	probes_unregister();
	mutex_unlock(&probe_lock);
	cancel_delayed_work_sync(&late_sync);
}

bool kview_is_module_addr(unsigned long addr)
{
	return addr >= MODULES_VADDR && addr < MODULES_END;
}

/*
 * The live module whose core text holds @addr, referenced (it cannot be
 * unloaded until module_put()), or ERR_PTR: -EINVAL not module core text
 * (init text is freed after init), -ENOENT still loading, or going.
 */
struct module *kview_modtext_get(unsigned long addr)
{
	struct module *mod;
	int err = 0;

	preempt_disable();
	mod = kv_sym.module_text_address(addr);
	if (!mod || within_module_init(addr, mod))
		err = -EINVAL;
	else if (mod->state != MODULE_STATE_LIVE || !try_module_get(mod))
		err = -ENOENT;
	preempt_enable();
	return err ? ERR_PTR(err) : mod;
}

/* Are @func and @addr in the core text of one live module? */
int kview_modtext_check(unsigned long func, unsigned long addr)
{
	struct module *mod = kview_modtext_get(func);
	bool same;

	if (IS_ERR(mod))
		return PTR_ERR(mod);
	preempt_disable();
	same = kv_sym.module_text_address(addr) == mod &&
	       !within_module_init(addr, mod);
	preempt_enable();
	module_put(mod);
	return same ? 0 : -EINVAL;
}

/* Non-global shared PTEs of hooked module pages, refcounted. */
struct nonglobal_page {
	struct list_head node;
	unsigned long vaddr;
	unsigned int refs;
	bool changed;			/* we cleared G: set it back at the end */
};

static DEFINE_MUTEX(ng_lock);
static LIST_HEAD(ng_pages);

static int page_nonglobal_get(unsigned long vaddr)
{
	struct nonglobal_page *n;
	unsigned int level;
	pte_t *pte;
	int err = 0;

	mutex_lock(&ng_lock);
	list_for_each_entry(n, &ng_pages, node)
		if (n->vaddr == vaddr) {
			n->refs++;
			goto out;
		}
	n = kzalloc(sizeof(*n), GFP_KERNEL);
	err = -ENOMEM;
	if (!n)
		goto out;
	n->vaddr = vaddr;
	n->refs = 1;
	pte = lookup_address(vaddr, &level);
	err = -EINVAL;
	if (!pte || level != PG_LEVEL_4K || !pte_present(*pte))
		goto err_free;
	err = 0;
	if (pte_flags(*pte) & _PAGE_GLOBAL) {
		if (boot_cpu_has(X86_FEATURE_PTI)) {
			pr_info("refusing module hook: PTI with global module text is not supported\n");
			err = -EOPNOTSUPP;
		} else {
			err = kv_sym.set_memory_nonglobal(vaddr, 1);
		}
		if (err)
			goto err_free;
		n->changed = true;
	}
	list_add(&n->node, &ng_pages);
	goto out;
err_free:
	kfree(n);
out:
	mutex_unlock(&ng_lock);
	return err;
}

static void page_nonglobal_put(unsigned long vaddr)
{
	struct nonglobal_page *n;

	mutex_lock(&ng_lock);
	list_for_each_entry(n, &ng_pages, node) {
		if (n->vaddr != vaddr || --n->refs)
			continue;
		if (n->changed && kv_sym.set_memory_global(vaddr, 1))
			pr_warn("could not restore global module text mapping at %lx\n",
				vaddr);
		list_del(&n->node);
		kfree(n);
		break;
	}
	mutex_unlock(&ng_lock);
}

/*
 * Before a private copy of the module text page @p is made: pin its module
 * (it cannot be unloaded while the copy exists) and make the page's shared
 * mapping non-global.
 */
int kview_modtext_pin(struct kview_page *p)
{
	struct module *mod = kview_modtext_get(p->vaddr);
	int err;

	if (IS_ERR(mod))
		return PTR_ERR(mod);
	err = page_nonglobal_get(p->vaddr);
	if (err) {
		module_put(mod);
		return err;
	}
	p->mod = mod;
	return 0;
}

void kview_modtext_unpin(struct kview_page *p)
{
	if (!p->mod)
		return;
	page_nonglobal_put(p->vaddr);
	module_put(p->mod);
	p->mod = NULL;
}
