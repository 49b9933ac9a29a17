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
 * A write over one of our int3s that leaves the hook's original bytes (a
 * kprobe disarmed, a jump undone) keeps the int3 in the copy, so the traced
 * process misses nothing; any other covering write makes the hook "lost"
 * until those bytes are back. One exception: __text_poke() BUG()s unless
 * the bytes it reads back equal what it wrote, and a task of a view reads
 * them back through the view's tables (readback_on_view(); a kernel thread
 * lazily on a traced mm reads through init_mm's). For such a writer the
 * copy takes exactly the written bytes, and the int3 goes back right after
 * the read-back (replant_irq).
 *
 * The same hook keeps private bytes out of shared text (invariant P,
 * docs/design.md): kernel code that reads its own text by virtual address
 * on a view's tables sees our int3s. The optprobe optimizer is one: it saves
 * the bytes its jump displaces with a plain memcpy, and writes them back
 * when it unoptimizes. Such a write restores the original bytes around one
 * of our hooks but carries 0xcc at it while no kprobe is armed there: the
 * byte is corrected in the writer's own buffer (scrub_private_bytes), so
 * that shared text, the private copies and the writer's read-back all agree.
 *
 * The kprobe exists only while some private page does, and for a second
 * after the last one goes (kview_mirror_get/put): a loaded module without
 * views patches nothing.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/irq_work.h>
#include <linux/mm.h>
#include <asm/text-patching.h>
#include "kview.h"

/* Private pages of all views; protected by text_mutex. */
static LIST_HEAD(mirror_pages);

/*
 * Users of the text_poke_memcpy kprobe: private pages alive. The kprobe
 * outlives the last one by MIRROR_LINGER, so that views created and closed
 * in a row do not patch kernel text (and IPI every CPU) each time.
 */
#define MIRROR_LINGER HZ
static DEFINE_MUTEX(mirror_lock);
static unsigned long mirror_users;
static bool mirror_registered;
static void mirror_idle_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(mirror_idle, mirror_idle_fn);

static void replant_fn(struct work_struct *work);
static DECLARE_WORK(replant_work, replant_fn);
static void replant_irq_fn(struct irq_work *work);
static DEFINE_PER_CPU(struct irq_work, replant_irq);	/* kview_mirror_init() */
static DEFINE_PER_CPU(struct task_struct *, replant_writer);

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
	if (pud_none(*pud) || pud_leaf(*pud))
		return 0;
	pmd = pmd_offset(pud, addr);
	if (pmd_none(*pmd) || pmd_leaf(*pmd))
		return 0;
	pte = pte_offset_kernel(pmd, addr);
	if (!pte_present(*pte))
		return 0;
	return pte_pfn(*pte);
}

/*
 * May our int3 be at @h's address in copy @dst once its byte there is @b?
 * Only when @b and the bytes before the hook that can start an instruction
 * of the function (up to 4, h->before; not the fentry call's) are the
 * original ones: a kprobe disarmed, a covering optprobe jump undone. A
 * 5-byte jump covering the hook starts in those bytes; bytes after the hook
 * are our own instruction, where no other jump can start, so a neighbour's
 * optimized kprobe just after us does not cost us the hook. The fentry
 * call's bytes change whenever ftrace attaches to the function and can hold
 * no such jump: an entry hook checks its own byte only.
 */
static bool pristine_with(const u8 *dst, int o, const struct kview_hook *h,
			  u8 b)
{
	int half = KVIEW_HOOK_WINDOW / 2, j;

	for (j = -h->before; j < 0; j++)
		if (o + j >= 0 && dst[o + j] != h->orig[j + half])
			return false;
	return b == h->orig[half];
}

/*
 * A 5-byte jump starting at the hook itself: the optimized jump of the
 * kprobe aggregator at our address (our site's kprobe is one of its
 * children). Nothing else starts a jump there: jump labels, static calls
 * and ftrace sites are refused as hook sites. While that kprobe is
 * optimized, an int3 at its address takes its detour too
 * (setup_detour_execution()), so our int3 may replace the jump's first
 * byte in a copy: the traced process then keeps counting while the
 * aggregator is disabled and waits for the lazy unoptimizer, when its
 * jump calls no handler (optimized_callback()).
 */
static bool own_site_jump(const u8 *dst, int o, const struct kview_hook *h,
			  u8 b)
{
	return b == JMP32_INSN_OPCODE &&
	       pristine_with(dst, o, h, h->orig[KVIEW_HOOK_WINDOW / 2]);
}

/* May our int3 be at @o of @dst when the write puts @b there? */
static bool replantable(const u8 *dst, int o, const struct kview_hook *h,
			u8 b)
{
	return pristine_with(dst, o, h, b) || own_site_jump(dst, o, h, b);
}

/* Plant the int3s of @p's hooks that are lost and may go back. */
static void replant_page(struct kview_page *p)
{
	struct kview_view *v = p->view;
	u8 *dst = (u8 *)page_address(p->copy);
	u32 i;

	for (i = 0; i < v->nr_hooks; i++) {
		struct kview_hook *h = v->hooks[i];
		unsigned int o = offset_in_page(h->site->kp.addr);

		if (h->page != p)
			continue;
		if (dst[o] != KVIEW_INT3 && replantable(dst, o, h, dst[o]))
			WRITE_ONCE(dst[o], KVIEW_INT3);
		WRITE_ONCE(h->lost, dst[o] != KVIEW_INT3);
	}
}

static void replant_all(void)
{
	struct kview_page *p;

	list_for_each_entry(p, &mirror_pages, mirror_node)
		replant_page(p);
}

static void replant_fn(struct work_struct *work)
{
	mutex_lock(kv_sym.text_mutex);
	replant_all();
	mutex_unlock(kv_sym.text_mutex);
}

/*
 * __text_poke() keeps IRQs off from before its copy (mirror_pre_handler())
 * until after it has read the write back: an irq_work raised on the
 * writer's CPU runs when they come back on, in the writer's context. While
 * the writer still holds text_mutex (it always does then; checked, not
 * assumed), our pages and hooks are as stable as under the lock ourselves.
 * Otherwise: replant_work, once text_mutex is free (the kprobe optimizer
 * holds it across an RCU grace period: on PREEMPT_RT under TCG, seconds).
 */
static void replant_irq_fn(struct irq_work *work)
{
	struct task_struct *writer = this_cpu_xchg(replant_writer, NULL);

	if (writer == current && kview_mutex_owner_is_current(kv_sym.text_mutex))
		replant_all();
	else
		schedule_work(&replant_work);
}

/*
 * Plant the lost hooks again once the writer, whose read-back goes through
 * a view's tables, has read its write back. With IRQs on (no __text_poke()
 * we know), only once text_mutex is free.
 */
static void replant_after_readback(void)
{
	if (!irqs_disabled()) {
		schedule_work(&replant_work);
		return;
	}
	this_cpu_write(replant_writer, current);
	irq_work_queue(this_cpu_ptr(&replant_irq));
}

/*
 * Does this write's read-back go through a view's tables? __text_poke()
 * reads the bytes back through the tables it ran on before poking_mm, and
 * use_temporary_mm() leaves lazy-TLB mode first: a kernel thread (no mm of
 * its own; a kworker often borrows a traced process's) reads through
 * init_mm's, a task through its own mm's. kview_view_install() takes
 * text_mutex, so a task's mm cannot join a view during its write.
 */
static bool readback_on_view(void)
{
	return current->mm && kview_mm_on_view(current->mm);
}

/* Is @x the offset of one of @p's hooks? */
static bool hook_at(const struct kview_page *p, unsigned int x)
{
	const struct kview_view *v = p->view;
	u32 i;

	for (i = 0; i < v->nr_hooks; i++)
		if (v->hooks[i]->page == p &&
		    offset_in_page(v->hooks[i]->site->kp.addr) == x)
			return true;
	return false;
}

/* Copy @len bytes of @src to @off in @dst, but not those at hook offsets. */
static void copy_around_hooks(const struct kview_page *p, u8 *dst,
			      unsigned int off, const u8 *src, size_t len)
{
	const struct kview_view *v = p->view;
	bool any = false;
	size_t x;
	u32 i;

	for (i = 0; i < v->nr_hooks && !any; i++) {
		unsigned int o = offset_in_page(v->hooks[i]->site->kp.addr);

		any = v->hooks[i]->page == p && o >= off && o < off + len;
	}
	if (!any) {
		memcpy(dst + off, src, len);
		return;
	}
	for (x = 0; x < len; x++)
		if (!hook_at(p, off + x))
			WRITE_ONCE(dst[off + x], src[x]);
}

/*
 * Copy a shared write into @p. A hook's byte goes straight to its final
 * value: our int3 if the write leaves the hook pristine (a disarm, a jump
 * undone) or is its own site's jump, so the traced process misses no event
 * meanwhile; else the written byte, and the hook is lost. Every hook of the
 * page is looked at: the write may have undone a covering jump whose last
 * byte written is not the hook's own. When the write is read back through a
 * view's tables (readback_on_view()), that read must see exactly the
 * written bytes: the hooks it covers go back only after it
 * (replant_after_readback()).
 */
static void mirror_page(struct kview_page *p, unsigned int off,
			const u8 *src, size_t len, bool on_view)
{
	u8 *dst = (u8 *)page_address(p->copy);
	struct kview_view *v = p->view;
	bool lost = false;
	u32 i;

	copy_around_hooks(p, dst, off, src, len);
	atomic64_inc(&v->mirrored_writes);
	for (i = 0; i < v->nr_hooks; i++) {
		struct kview_hook *h = v->hooks[i];
		unsigned int o = offset_in_page(h->site->kp.addr);

		if (h->page != p)
			continue;
		if (o >= off && o < off + len) {
			u8 b = src[o - off];

			if (!on_view && replantable(dst, o, h, b))
				b = KVIEW_INT3;
			WRITE_ONCE(dst[o], b);
		} else if (!on_view && dst[o] != KVIEW_INT3 &&
			   replantable(dst, o, h, dst[o])) {
			WRITE_ONCE(dst[o], KVIEW_INT3);
		}
		WRITE_ONCE(h->lost, dst[o] != KVIEW_INT3);
		lost |= h->lost;
	}
	if (on_view && lost)
		replant_after_readback();
}

/*
 * Is 0xcc at @h's address in shared text somebody's armed kprobe? The kprobe
 * core clears DISABLED before it arms, on the hash entry: our kprobe, or the
 * aggregator it was put in (whose list our kprobe is on).
 */
static bool int3_is_armed_kprobe(struct kview_hook *h)
{
	struct kprobe *kp = &h->site->kp, *ap;

	if (list_empty(&kp->list))
		return !kprobe_disabled(kp);
	ap = kv_sym.get_kprobe(kp->addr);
	return ap && !kprobe_disabled(ap);
}

/*
 * A copy of our private bytes: the write puts 0xcc at the hook's offset @o
 * while every other byte it writes in the hook's window is original, and no
 * kprobe is armed there. A one-byte int3 (a breakpoint being planted) or a
 * new jump whose displacement happens to hold 0xcc is not one.
 */
static bool carries_private_int3(struct kview_hook *h, unsigned int o,
				 unsigned int off, const u8 *src, size_t len)
{
	int half = KVIEW_HOOK_WINDOW / 2, j, others = 0;

	if (o < off || o >= off + len || src[o - off] != KVIEW_INT3)
		return false;
	for (j = -h->before; j <= half; j++) {
		if (!j || o + j < off || o + j >= off + len)
			continue;
		if (src[o + j - off] != h->orig[j + half])
			return false;
		others++;
	}
	return others && !int3_is_armed_kprobe(h);
}

static bool writable(const void *addr)
{
	unsigned int level;
	pte_t *pte = lookup_address((unsigned long)addr, &level);

	return pte && pte_present(*pte) && (pte_flags(*pte) & _PAGE_RW);
}

/*
 * Invariant P for one chunk of a write: correct, in the writer's buffer,
 * every private int3 it carries to shared page @pfn at offset @off.
 */
static void scrub_private_bytes(unsigned long pfn, unsigned int off,
				const u8 *src, size_t len)
{
	struct kview_page *p;
	u32 i;

	list_for_each_entry(p, &mirror_pages, mirror_node) {
		struct kview_view *v = p->view;

		if (p->pfn != pfn)
			continue;
		for (i = 0; i < v->nr_hooks; i++) {
			struct kview_hook *h = v->hooks[i];
			unsigned int o = offset_in_page(h->site->kp.addr);
			u8 *b;

			if (h->page != p || !carries_private_int3(h, o, off, src, len))
				continue;
			b = (u8 *)src + (o - off);	/* the writer's buffer */
			if (!writable(b)) {
				pr_warn_ratelimited("a private int3 reaches shared text at %pS from a read-only buffer\n",
						    h->site->kp.addr);
				continue;
			}
			WRITE_ONCE(*b, h->site->kp.opcode);
			pr_info_ratelimited("kept a private int3 out of shared text at %pS\n",
					    h->site->kp.addr);
		}
	}
}

/* Runs at entry of text_poke_memcpy(dst, src, len), text_mutex held. */
static int mirror_pre_handler(struct kprobe *kp, struct pt_regs *regs)
{
	unsigned long dst = regs->di;
	const u8 *src = (const u8 *)regs->si;
	size_t len = regs->dx;
	bool on_view = readback_on_view();
	struct kview_page *p;

	while (len && !list_empty(&mirror_pages)) {
		size_t n = min_t(size_t, len, PAGE_SIZE - offset_in_page(dst));
		unsigned long pfn = poking_pfn(dst);

		if (pfn)
			scrub_private_bytes(pfn, offset_in_page(dst), src, n);
		list_for_each_entry(p, &mirror_pages, mirror_node)
			if (pfn && p->pfn == pfn)
				mirror_page(p, offset_in_page(dst), src, n,
					    on_view);
		dst += n;
		src += n;
		len -= n;
	}
	return 0;
}

static struct kprobe mirror_kp;	/* set up by kview_mirror_get() */

/* Caller holds text_mutex and a kview_mirror_get() reference. */
void kview_mirror_add(struct kview_page *p)
{
	list_add(&p->mirror_node, &mirror_pages);
}

/* Caller holds text_mutex. */
void kview_mirror_del(struct kview_page *p)
{
	list_del_init(&p->mirror_node);
}

/*
 * Hook text_poke_memcpy() for one more private page; the first user
 * registers the kprobe (an ftrace patch of that function: the only shared
 * text kview changes, and only while private pages exist). Not under
 * text_mutex: registering patches text.
 */
int kview_mirror_get(void)
{
	int err = 0;

	mutex_lock(&mirror_lock);
	if (!mirror_registered) {
		/* a kprobe is registered afresh each time: no stale state */
		memset(&mirror_kp, 0, sizeof(mirror_kp));
		mirror_kp.symbol_name = "text_poke_memcpy";
		mirror_kp.pre_handler = mirror_pre_handler;
		err = register_kprobe(&mirror_kp);
		if (err)
			pr_err("cannot hook text_poke_memcpy (%d): no coherence, no private pages\n",
			       err);
		mirror_registered = !err;
	}
	if (!err)
		mirror_users++;
	mutex_unlock(&mirror_lock);
	return err;
}

static void mirror_unregister(void)
{
	if (mirror_registered && !mirror_users) {
		unregister_kprobe(&mirror_kp);	/* waits for running handlers */
		mirror_registered = false;
	}
}

static void mirror_idle_fn(struct work_struct *work)
{
	mutex_lock(&mirror_lock);
	mirror_unregister();
	mutex_unlock(&mirror_lock);
}

/* Drop a kview_mirror_get() reference; its page left the list already. */
void kview_mirror_put(void)
{
	mutex_lock(&mirror_lock);
	if (!--mirror_users)
		mod_delayed_work(system_wq, &mirror_idle, MIRROR_LINGER);
	mutex_unlock(&mirror_lock);
}

/*
 * Module load. The per-CPU irq_works are set up here: a static initializer
 * of a module's per-CPU variable did not reach the CPUs' copies (6.1: an
 * irq_work with a NULL function ran).
 */
void kview_mirror_init(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct irq_work *w = per_cpu_ptr(&replant_irq, cpu);

		*w = IRQ_WORK_INIT_HARD(replant_irq_fn);
	}
}

/* Module exit: no view, so no private page, is left. */
void kview_mirror_exit(void)
{
	int cpu;

	cancel_delayed_work_sync(&mirror_idle);
	mutex_lock(&mirror_lock);
	mirror_unregister();
	mutex_unlock(&mirror_lock);
	for_each_possible_cpu(cpu)	/* may queue replant_work */
		irq_work_sync(per_cpu_ptr(&replant_irq, cpu));
	cancel_work_sync(&replant_work);
}
