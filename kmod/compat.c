// SPDX-License-Identifier: GPL-2.0
/*
 * The version-dependent kernel interfaces behind compat.h's wrappers, and
 * the load-time check that the running kernel has the ones this build
 * expects. docs/compat.md lists them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/kprobes.h>
#include <linux/slab.h>
#include <asm/ftrace.h>
#include <asm/ibt.h>
#include "kview.h"

struct rethook *kview_rethook_alloc(void *data, rethook_handler_t handler,
				    unsigned int nodes)
{
	struct rethook *rh;
#ifdef KVIEW_RETHOOK_OBJPOOL
	/* 6.7+: the objpool allocates the nodes; an ERR_PTR on failure */
	rh = kv_sym.rethook_alloc(data, handler, sizeof(struct rethook_node),
				  nodes);
	return rh ? rh : ERR_PTR(-ENOMEM);
#else
	unsigned int i;

	rh = kv_sym.rethook_alloc(data, handler);
	if (!rh)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < nodes; i++) {
		/* freed by rethook_free() / the rethook core */
		struct rethook_node *rn = kzalloc(sizeof(*rn), GFP_KERNEL);

		if (!rn) {
			kv_sym.rethook_free(rh);
			return ERR_PTR(-ENOMEM);
		}
		kv_sym.rethook_add_node(rh, rn);
	}
	return rh;
#endif
}

/* An fentry site at @fentry belongs to the start of @func (maybe past endbr64). */
static bool fentry_of(unsigned long func, unsigned long fentry)
{
	if (fentry == func)
		return true;
	return ENDBR_INSN_SIZE && fentry == func + ENDBR_INSN_SIZE &&
	       is_endbr(*(u32 *)func);
}

unsigned long kview_func_body(unsigned long func)
{
	unsigned long fentry = kv_sym.ftrace_location(func);

	if (fentry && fentry_of(func, fentry))
		return fentry + MCOUNT_INSN_SIZE;
	if (ENDBR_INSN_SIZE && is_endbr(*(u32 *)func))
		return func + ENDBR_INSN_SIZE;	/* notrace, with IBT */
	return func;
}

/*
 * @kp as the kernel registers a kprobe at @func's entry, for what
 * bpf_get_func_ip() reads of the running kprobe (kernel/trace/bpf_trace.c,
 * 6.1 and 6.12): KPROBE_FLAG_ON_FUNC_ENTRY, and the address past endbr64,
 * which get_entry_ip() steps back over.
 */
void kview_entry_kprobe(struct kprobe *kp, unsigned long func)
{
	if (ENDBR_INSN_SIZE && is_endbr(*(u32 *)func))
		func += ENDBR_INSN_SIZE;
	kp->addr = (kprobe_opcode_t *)func;
	kp->flags = KPROBE_FLAG_ON_FUNC_ENTRY | KPROBE_FLAG_DISABLED;
}

/* kview_mutex_owner_is_current() reads the owner word as this kernel lays it out */
static int mutex_owner_check(void)
{
	struct mutex m;	/* a test mutex, only this function takes it */
	bool held, free;

	mutex_init(&m);
	mutex_lock(&m);
	held = kview_mutex_owner_is_current(&m);
	mutex_unlock(&m);
	free = !kview_mutex_owner_is_current(&m);
	mutex_destroy(&m);
	if (held && free)
		return 0;
	pr_err("interface mismatch: a mutex's owner word is not laid out as this build expects (CONFIG_PREEMPT_RT=%d)\n",
	       IS_ENABLED(CONFIG_PREEMPT_RT));
	return -EOPNOTSUPP;
}

int kview_compat_check(void)
{
	unsigned long f, fentry;

	/* everything else is found through it */
	if (kv_sym.lookup_name("register_kprobe") != (unsigned long)register_kprobe) {
		pr_err("interface mismatch: kallsyms_lookup_name() does not return an exported symbol's address\n");
		return -EOPNOTSUPP;
	}
#ifdef KVIEW_RETHOOK_OBJPOOL
	if (kv_sym.lookup_name("rethook_add_node")) {
		pr_err("interface mismatch: this kernel has rethook_add_node() (pre-6.7 rethook) but kview was built for the objpool rethook: rebuild it against this kernel's headers\n");
		return -EOPNOTSUPP;
	}
#endif
	/* the prologue kview_func_body() expects, on a function every kernel traces */
	f = kv_sym.lookup_name("vfs_read");
	fentry = f ? kv_sym.ftrace_location(f) : 0;
	if (!f || !fentry || !fentry_of(f, fentry)) {
		pr_err("interface mismatch: vfs_read() has %s, a prologue this build does not know (CONFIG_X86_KERNEL_IBT=%d): entry hooks would land wrong\n",
		       !f ? "no address" : !fentry ? "no fentry call" :
		       "its fentry call elsewhere than at +0 or after endbr64",
		       IS_ENABLED(CONFIG_X86_KERNEL_IBT));
		return -EOPNOTSUPP;
	}
	/* mirror.c's coherence kprobe */
	if (!kv_sym.lookup_name("text_poke_memcpy")) {
		pr_err("interface mismatch: no text_poke_memcpy(): writes to shared kernel text could not be mirrored into views\n");
		return -EOPNOTSUPP;
	}
	return mutex_owner_check();
}
