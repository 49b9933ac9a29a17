/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kview internal interfaces. Files, in data-path order:
 *   module.c    load and unload: each part's init and exit, in order
 *   ioctl.c     /dev/kview: one table row per ioctl, the shared sequence
 *   lifetime.c  view create/join/destroy (open files own views), stats, counters
 *   slots.c     address-space slots: who sees a view; the reaper; all views
 *   pgtable.c   private page tables down to the PTE table of a hooked region
 *   textpage.c  private copies of hooked kernel text pages
 *   hook.c      hook sites (a disabled kprobe per address); int3 planting
 *   hit.c       hit handling: the kprobe and rethook handlers
 *   perf_fd.c   hook descriptors: a hook behind a file with perf_event ioctls
 *   follow.c    fork/exec following, run from the view's own hooks
 *   mirror.c    coherence: every shared kernel text write copied into views
 *   ksyms.c     kernel symbols the module needs but the kernel does not export
 *   compat.c    interfaces that differ between kernel versions (compat.h)
 * No call goes back up a chain, so the calls between files form no cycle:
 * module -> ioctl -> lifetime -> hook -> hit -> follow -> slots, ioctl ->
 * perf_fd -> hook, and
 * lifetime, hook -> textpage -> mirror -> pgtable -> slots; everything may
 * use ksyms (kv_sym) and compat.
 */
#ifndef KVIEW_INTERNAL_H
#define KVIEW_INTERNAL_H

#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/rethook.h>
#include <linux/spinlock.h>
#include <linux/atomic.h>
#include <linux/uaccess.h>
#include <linux/kview.h>
#include <asm/pgtable.h>
#include "compat.h"

#ifndef KVIEW_MODULE_VERSION
#define KVIEW_MODULE_VERSION "unknown"
#endif

#define KVIEW_INT3 0xcc
#define KVIEW_HOOK_WINDOW 9	/* bytes around a hook (mirror.c checks 4 before it) */

/* ksyms.c */
/*
 * Every pointer whose target the kernel's headers declare is checked against
 * that declaration at build time (ksyms.c): a prototype that changes between
 * kernel versions fails the build instead of being called wrongly.
 */
struct kview_ksyms {
	unsigned long (*lookup_name)(const char *name);
	struct mm_struct *init_mm;
	struct mutex *text_mutex;	/* serializes all kernel text writes */
	struct mutex *kprobe_mutex;	/* kprobe flags (CONFIG_KALLSYMS_ALL) */
	struct mm_struct **poking_mm;
	unsigned long stext;
	unsigned long etext;
	unsigned long *max_pfn;
	unsigned long (*ftrace_location)(unsigned long ip);
	bool (*ptrace_may_access)(struct task_struct *task, unsigned int mode);
	int (*set_memory_nonglobal)(unsigned long addr, int numpages);
	int (*set_memory_global)(unsigned long addr, int numpages);
	/*
	 * kernel/trace/rethook.c: return hooks (what kretprobes use); called
	 * through kview_rethook_alloc() (compat.h: objpool since 6.7)
	 */
#ifdef KVIEW_RETHOOK_OBJPOOL
	struct rethook *(*rethook_alloc)(void *data, rethook_handler_t handler,
					 int size, int num);
#else
	struct rethook *(*rethook_alloc)(void *data, rethook_handler_t handler);
	void (*rethook_add_node)(struct rethook *rh, struct rethook_node *node);
#endif
	void (*rethook_free)(struct rethook *rh);
	struct rethook_node *(*rethook_try_get)(struct rethook *rh);
	void (*rethook_hook)(struct rethook_node *node, struct pt_regs *regs,
			     bool mcount);
	int __percpu *bpf_prog_active;	/* the tracing BPF recursion guard */
	struct kprobe * __percpu *current_kprobe;	/* kprobe_running() */
	struct kprobe *(*get_kprobe)(void *addr);
	struct module *(*module_text_address)(unsigned long addr);
	/*
	 * arch/x86/include/asm/tlbflush.h declares it for built-in code only
	 * (#ifndef MODULE); the same prototype in 6.1 and 6.12.
	 */
	void (*flush_tlb_mm_range)(struct mm_struct *mm, unsigned long start,
				   unsigned long end, unsigned int stride_shift,
				   bool freed_tables);
};

extern struct kview_ksyms kv_sym;
int kview_ksyms_init(void);

/* One private 4 KiB copy of a kernel text page. */
struct kview_page {
	struct list_head view_node;	/* in view->pages */
	struct list_head mirror_node;	/* in the global mirror list */
	struct kview_view *view;
	unsigned long vaddr;		/* kernel text address of the page */
	unsigned long pfn;		/* the shared page behind vaddr */
	struct page *copy;		/* private copy */
	unsigned int nr_hooks;
	struct module *mod;		/* module text: pinned (modtext.c) */
};

/* One private PTE table for a 2 MiB region that holds hooked pages. */
struct kview_ptes {
	struct list_head node;
	unsigned long base;		/* 2 MiB aligned kernel address */
	unsigned long *table;
	bool region_ref;		/* holds a non-global ref on the region */
	bool module;			/* module space: resynced (modtext.c) */
	DECLARE_BITMAP(private, PTRS_PER_PTE);	/* entries mapping our copies */
};

struct kview_hook {
	struct list_head site_node;	/* in site->subs (RCU) */
	struct kview_view *view;
	struct kview_site *site;
	struct kview_page *page;
	u32 id;
	u32 kind;
	u64 cookie;
	u32 session;			/* the session that added it; 0: the view's own */
	bool session_closed;		/* that session left: no count, no program */
	char symbol[KVIEW_SYMBOL_LEN];
	bool lost;			/* a shared write overwrote our int3 */
	/* original bytes at [addr - 4, addr + 4] (a jump covering addr) */
	u8 orig[KVIEW_HOOK_WINDOW];
	u8 before;			/* of them, in the function's body (mirror.c) */
	/*
	 * Every execution of the hook's int3 is counted once (hit.c), by who
	 * ran it: hits, a task of the view; other_hits, another context on an
	 * address space of the view (an interrupt, a lazy-TLB kernel thread);
	 * foreign_mm_hits, a task outside the view (only if somebody armed
	 * the address in shared text, or the view is SHARED_TEXT). Contexts
	 * on no view's address space count in the site's unmatched.
	 */
	atomic64_t hits;
	atomic64_t other_hits;
	atomic64_t foreign_mm_hits;
	atomic64_t missed;		/* return hooks: no free rethook node */
	/*
	 * run on every hit, or NULL. Hook descriptors (perf_fd.c) set it once
	 * after the hook is live and clear it on close: READ_ONCE in the
	 * handler, put after a grace period.
	 */
	struct bpf_prog *prog;
	/*
	 * Entry hooks at offset 0: what bpf_get_func_ip() finds as the
	 * running kprobe while the program runs (hit.c): the function's
	 * entry, as for a kprobe the kernel placed there. Never registered.
	 */
	struct kprobe entry_kp;
	bool fd;			/* behind a hook descriptor (perf_fd.c) */
	bool prog_off;			/* hook descriptor: PERF_EVENT_IOC_DISABLE */
	bool closed;			/* hook descriptor closed */
	atomic64_t prog_runs;
	atomic64_t prog_skipped;	/* recursion guard */
};

/* Hooks a view plants for itself (follow.c), beyond the UAPI kinds. */
#define KVIEW_HOOK_FOLLOW_FORK 0x100	/* entry of wake_up_new_task() */
#define KVIEW_HOOK_FOLLOW_EXEC 0x101	/* return of begin_new_exec() */
#define KVIEW_FOLLOW_HOOKS 2

static inline bool kview_hook_is_internal(u32 kind)
{
	return kind >= KVIEW_HOOK_FOLLOW_FORK;
}

static inline bool kview_hook_is_syscall(u32 kind)
{
	return kind == KVIEW_HOOK_SYSCALL_ENTER || kind == KVIEW_HOOK_SYSCALL_EXIT;
}

/*
 * The context the kernel gives a BPF_PROG_TYPE_TRACEPOINT program on a
 * syscalls:sys_enter_* / sys_exit_* event (kernel/trace/trace_syscalls.c,
 * perf_call_bpf_enter/_exit, 6.1 and 6.12): a pt_regs pointer in the first
 * 8 bytes, the syscall number at 8 (an int in 6.12, an unsigned long in
 * 6.1: the same low 4 bytes), the arguments or the return value at 16.
 * What hit.c builds for a tracepoint program on a syscall hook; its size
 * bounds the program's max_ctx_offset (hook.c).
 */
struct kview_sys_enter_ctx {
	u64 regs;
	unsigned long nr;
	unsigned long args[6];
};

struct kview_sys_exit_ctx {
	u64 regs;
	unsigned long nr;
	long ret;
};

static inline bool kview_hook_is_return(u32 kind)
{
	return kind == KVIEW_HOOK_KRETPROBE || kind == KVIEW_HOOK_SYSCALL_EXIT ||
	       kind == KVIEW_HOOK_FOLLOW_EXEC;
}

/* A kprobe at one kernel address, shared by every view hooking it. */
struct kview_site {
	struct list_head node;		/* in the global site list */
	struct kprobe kp;
	struct list_head subs;		/* struct kview_hook, RCU */
	unsigned int refs;		/* 0: idle, registered until retired */
	unsigned long idle_since;	/* jiffies, when refs went 0 */
	struct rethook *rh;		/* return hooks at this site, or NULL */
	atomic64_t unmatched;		/* int3 hits no view claimed */
	atomic_t shared_armed;		/* a foreign mm hit: armed in shared text */
	bool shared;			/* a KVIEW_VIEW_SHARED_TEXT view's own */
};

struct kview_view {
	struct mutex lock;		/* hooks, pages, tables */
	raw_spinlock_t mms_lock;	/* mms[] writers, installed, dying */
	u32 id;
	pid_t pid;			/* target tgid (init pid namespace) */
	u32 flags;			/* KVIEW_VIEW_* */
	bool installed;			/* private top entry written */
	bool dying;			/* no more address spaces may join */
	pgd_t orig_pgd;			/* the shared top-level kernel entry */
	pgd_t top;			/* the private one */
	/*
	 * Address spaces that see the view, one slot each with the process
	 * that brought it in, mmgrab'ed so their top-level table outlives
	 * them until we restore it. Lockless readers (the hook handler, the
	 * fork/exec probes) scan slots [0, nr_mms) under RCU and skip NULL;
	 * kview_view_reap() empties the slots of address spaces that left and
	 * frees them for reuse only after a grace period.
	 */
	struct mm_struct *mms[KVIEW_VIEW_MAX_MMS];
	struct pid *tgids[KVIEW_VIEW_MAX_MMS];	/* referenced: pid numbers get reused */
	u32 nr_mms;			/* slots ever used (high-water mark) */
	unsigned long free_slots;	/* reusable slots below nr_mms */
	u32 joined;			/* address spaces that ever joined */
	atomic64_t unfollowed;		/* forks/execs not joined: view full */
	/* private upper tables: [0] top's child ... down to the PMD page */
	unsigned long *upper[3];
	int nr_upper;
	/*
	 * Module space (the PUD entry after the image's): a private PMD page
	 * once the view hooks module text, on the modtext.c list.
	 */
	unsigned long *mod_pmd;
	struct list_head mod_node;
	struct list_head ptes;
	struct list_head pages;
	/*
	 * KVIEW_MAX_VIEW_HOOKS + KVIEW_FOLLOW_HOOKS entries, allocated by the
	 * first hook (hook.c) before nr_hooks leaves 0, kvfree'd with the view
	 */
	struct kview_hook **hooks;
	u32 nr_hooks;			/* all of them */
	u32 nr_user_hooks;		/* the user's: ids 0 .. nr_user_hooks - 1 */
	atomic64_t mirrored_writes;
	u64 table_pages;
	u64 text_pages;
	u32 owners;			/* sessions, under kview_views_lock */
	int build_err;			/* creation failed (joiners see it) */
	struct list_head node;		/* in the view list, then the buried */
	unsigned long gp;		/* buried: RCU state at teardown */
	unsigned long buried_at;	/* jiffies */
};

/*
 * One open /dev/kview: at most one view, of which it is one owner, a
 * session (KVIEW_VIEW_JOIN lets several share a view).
 */
struct kview_file {
	struct mutex lock;		/* serializes ioctls on this file */
	struct kview_view *view;
	u32 session;			/* with a view: its id, never reused */
	struct file *file;		/* /dev/kview, opened: the view's owner */
};

/*
 * Same table, same permissions? The CPU sets the Accessed bit of an entry
 * whenever it walks through it, in any mm's copy: never compare it.
 */
static inline bool same_entry(pgd_t a, pgd_t b)
{
	return !((pgd_val(a) ^ pgd_val(b)) & ~(unsigned long)_PAGE_ACCESSED);
}

static inline pgd_t *kernel_top_entry(struct mm_struct *mm)
{
	return pgd_offset_pgd(mm->pgd, __START_KERNEL_map);
}

/*
 * Copy a size-prefixed struct from userspace: shorter structs are
 * zero-extended, longer ones must have a zero tail (E2BIG otherwise).
 */
static inline int get_sized(void *dst, size_t ksize, void __user *arg)
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

static inline int put_sized(void __user *arg, const void *src, size_t ksize)
{
	u32 usize;

	if (get_user(usize, (u32 __user *)arg))
		return -EFAULT;
	return copy_to_user(arg, src, min_t(size_t, usize, ksize)) ? -EFAULT : 0;
}

/* ioctl.c */
int kview_device_init(void);
void kview_device_exit(void);

/* lifetime.c */
int kview_view_create(struct kview_file *f, struct kview_view_create *req);
void kview_view_leave(struct kview_view *v, u32 session);
void kview_views_exit(void);
int kview_view_stats(struct kview_view *v, u32 session,
		     struct kview_view_stats *st);
void kview_global_stats(struct kview_global_stats *st);

/* slots.c */
extern struct mutex kview_views_lock;
extern struct list_head kview_views;
bool kview_view_attach(struct kview_view *v, struct mm_struct *mm,
		       struct pid *tgid);
bool kview_view_has_mm(struct kview_view *v, struct mm_struct *mm);
bool kview_view_live(struct kview_view *v);
u32 kview_view_reap(struct kview_view *v);
void kview_reap_soon(bool now);
void kview_reap_exit(void);
void kview_flush_mm(struct mm_struct *mm);
void kview_flush_view(struct kview_view *v);

/* pgtable.c */
void kview_account_pages(long delta);
long kview_pages_held(void);
int kview_view_build(struct kview_view *v);
void kview_view_install(struct kview_view *v);
void kview_view_build_shared(struct kview_view *v);
bool kview_mm_on_view(struct mm_struct *mm);
struct kview_ptes *kview_get_ptes(struct kview_view *v, unsigned long addr);
void kview_view_unmap(struct kview_view *v);
void kview_tables_free(struct kview_view *v);

unsigned long *kview_shared_pmd_entry(unsigned long addr);

/* modtext.c */
extern raw_spinlock_t kview_modsync_lock;
bool kview_is_module_addr(unsigned long addr);
struct module *kview_modtext_get(unsigned long addr);
int kview_modtext_check(unsigned long func, unsigned long addr);
int kview_modtext_pin(struct kview_page *p);
void kview_modtext_unpin(struct kview_page *p);
int kview_modsync_get(void);
void kview_modsync_put(void);
void kview_modsync_link(struct kview_view *v);
void kview_modsync_unlink(struct kview_view *v);
void kview_modtext_exit(void);

/* textpage.c */
int kview_view_map_page(struct kview_view *v, unsigned long addr,
			struct kview_page **out);
void kview_pages_unmirror(struct kview_view *v);
void kview_pages_free(struct kview_view *v);

/* hook.c */
int kview_hook_add(struct kview_view *v, u32 session, struct kview_hook_add *req);
int kview_hook_add_internal(struct kview_view *v, u32 kind, const char *symbol);
int kview_hook_add_fd(struct kview_view *v, u32 session,
		      struct kview_hook_add *req, struct kview_hook **out);
int kview_get_prog(int fd, u32 kind, struct bpf_prog **out);
int kview_follow_init(struct kview_view *v);
void kview_hook_drop_prog(struct kview_hook *h);
void kview_hooks_close_session(struct kview_view *v, u32 session);
void kview_hooks_release(struct kview_view *v);
void kview_hooks_free(struct kview_view *v);
void kview_hooks_exit(void);

/* hit.c */
int kview_pre_handler(struct kprobe *kp, struct pt_regs *regs);
KVIEW_RETHOOK_HANDLER(kview_return_handler, rn, data, regs);

/* perf_fd.c */
struct file;
long kview_hook_fd(struct file *dev, struct kview_view *v, u32 session,
		   struct kview_hook_fd *req, void __user *arg);
u32 kview_hook_flags(struct kview_hook *h);

/* follow.c */
bool kview_follow_fork(struct kview_hook *h, bool task, struct pt_regs *regs);
void kview_follow_exec(struct kview_hook *h, struct pt_regs *regs);

/* mirror.c */
int kview_mirror_get(void);
void kview_mirror_put(void);
void kview_mirror_add(struct kview_page *p);
void kview_mirror_del(struct kview_page *p);
void kview_mirror_init(void);
void kview_mirror_exit(void);

#endif /* KVIEW_INTERNAL_H */
