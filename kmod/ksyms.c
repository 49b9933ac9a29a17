// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel symbols kview needs that are not exported to modules.
 *
 * kallsyms_lookup_name() itself is not exported since 5.7; its address is
 * read from a kprobe registered (disabled, so shared text is never touched)
 * on it. Everything else is then resolved by name. Nothing here is optional:
 * a missing symbol fails module load with a line naming it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include "kview.h"

struct kview_ksyms kv_sym;

static unsigned long find_lookup_name(void)
{
	struct kprobe kp = {
		.symbol_name = "kallsyms_lookup_name",
		.flags = KPROBE_FLAG_DISABLED,
	};
	unsigned long addr;

	if (register_kprobe(&kp))
		return 0;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	return addr;
}

#define RESOLVE(field, name)						\
	do {								\
		unsigned long __a = kv_sym.lookup_name(name);		\
		if (!__a) {						\
			pr_err("kernel symbol %s not found\n", name);	\
			return -ENOENT;					\
		}							\
		kv_sym.field = (typeof(kv_sym.field))__a;		\
	} while (0)

int kview_ksyms_init(void)
{
	unsigned long addr = find_lookup_name();

	if (!addr) {
		pr_err("cannot locate kallsyms_lookup_name (CONFIG_KPROBES?)\n");
		return -ENOENT;
	}
	kv_sym.lookup_name = (unsigned long (*)(const char *))addr;

	RESOLVE(init_mm, "init_mm");
	RESOLVE(text_mutex, "text_mutex");
	RESOLVE(poking_mm, "poking_mm");
	RESOLVE(stext, "_stext");
	RESOLVE(etext, "_etext");
	RESOLVE(max_pfn, "max_pfn");
	RESOLVE(ftrace_location, "ftrace_location");
	RESOLVE(ptrace_may_access, "ptrace_may_access");
	RESOLVE(set_memory_nonglobal, "set_memory_nonglobal");
	RESOLVE(set_memory_global, "set_memory_global");
	RESOLVE(rethook_alloc, "rethook_alloc");
	RESOLVE(rethook_free, "rethook_free");
	RESOLVE(rethook_add_node, "rethook_add_node");
	RESOLVE(rethook_try_get, "rethook_try_get");
	RESOLVE(rethook_hook, "rethook_hook");
	return 0;
}
