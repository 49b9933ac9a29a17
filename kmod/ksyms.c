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

#define SYM(field, name) { name, offsetof(struct kview_ksyms, field) }

/* Every field below is a pointer or an address: one unsigned long each. */
static const struct {
	const char *name;
	size_t offset;
} wanted[] = {
	SYM(init_mm, "init_mm"),
	SYM(text_mutex, "text_mutex"),
	SYM(kprobe_mutex, "kprobe_mutex"),
	SYM(poking_mm, "poking_mm"),
	SYM(stext, "_stext"),
	SYM(etext, "_etext"),
	SYM(max_pfn, "max_pfn"),
	SYM(ftrace_location, "ftrace_location"),
	SYM(ptrace_may_access, "ptrace_may_access"),
	SYM(set_memory_nonglobal, "set_memory_nonglobal"),
	SYM(set_memory_global, "set_memory_global"),
	SYM(rethook_alloc, "rethook_alloc"),
	SYM(rethook_free, "rethook_free"),
	SYM(rethook_add_node, "rethook_add_node"),
	SYM(rethook_try_get, "rethook_try_get"),
	SYM(rethook_hook, "rethook_hook"),
	SYM(bpf_prog_active, "bpf_prog_active"),
	SYM(get_kprobe, "get_kprobe"),
	SYM(flush_tlb_mm_range, "flush_tlb_mm_range"),
};

int kview_ksyms_init(void)
{
	unsigned long addr = find_lookup_name();
	int i, err = 0;

	/* a prototype the kernel's headers declare must be the one we call */
	BUILD_BUG_ON(!__same_type(kv_sym.get_kprobe, &get_kprobe));
	if (!addr) {
		pr_err("cannot locate kallsyms_lookup_name (CONFIG_KPROBES?)\n");
		return -ENOENT;
	}
	kv_sym.lookup_name = (unsigned long (*)(const char *))addr;

	for (i = 0; i < ARRAY_SIZE(wanted); i++) {
		addr = kv_sym.lookup_name(wanted[i].name);
		if (!addr) {
			pr_err("kernel symbol %s not found\n", wanted[i].name);
			err = -ENOENT;
		}
		*(unsigned long *)((char *)&kv_sym + wanted[i].offset) = addr;
	}
	return err;
}
