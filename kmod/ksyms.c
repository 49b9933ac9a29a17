// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel symbols kview needs that are not exported to modules.
 *
 * kallsyms_lookup_name() itself is not exported since 5.7; its address is
 * read from a kprobe registered (disabled, so shared text is never touched)
 * on it. Everything else is then resolved by name. Nothing here is optional:
 * a missing symbol fails module load with a line naming it. Which symbols,
 * and with which prototypes, depends on the kernel version: compat.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bpf.h>
#include <linux/ftrace.h>
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/memblock.h>
#include <linux/memory.h>
#include <linux/ptrace.h>
#include <asm/set_memory.h>
#include <asm/text-patching.h>
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

#define SYM(field, name) { name, NULL, offsetof(struct kview_ksyms, field) }
/* a symbol renamed in some kernel version: either name */
#define SYM2(field, name, name2) { name, name2, offsetof(struct kview_ksyms, field) }

/* Every field below is a pointer or an address: one unsigned long each. */
static const struct {
	const char *name;
	const char *name2;
	size_t offset;
} wanted[] = {
	SYM(init_mm, "init_mm"),
	SYM(text_mutex, "text_mutex"),
	SYM(kprobe_mutex, "kprobe_mutex"),
	SYM2(poking_mm, KVIEW_POKING_MM_NAME, KVIEW_POKING_MM_NAME2),
	SYM(stext, "_stext"),
	SYM(etext, "_etext"),
	SYM(max_pfn, "max_pfn"),
	SYM(ftrace_location, "ftrace_location"),
	SYM(ptrace_may_access, "ptrace_may_access"),
	SYM(set_memory_nonglobal, "set_memory_nonglobal"),
	SYM(set_memory_global, "set_memory_global"),
	SYM(rethook_alloc, "rethook_alloc"),
	SYM(rethook_free, "rethook_free"),
#ifndef KVIEW_RETHOOK_OBJPOOL
	SYM(rethook_add_node, "rethook_add_node"),
#endif
	SYM(rethook_try_get, "rethook_try_get"),
	SYM(rethook_hook, "rethook_hook"),
	SYM(bpf_prog_active, "bpf_prog_active"),
	SYM(current_kprobe, "current_kprobe"),
	SYM(get_kprobe, "get_kprobe"),
	SYM(module_text_address, "__module_text_address"),
	SYM(flush_tlb_mm_range, "flush_tlb_mm_range"),
};

/*
 * The prototypes we call must be the ones the kernel's headers declare.
 * Not checkable: kprobe_mutex (static in kernel/kprobes.c), _stext/_etext
 * (kept as addresses), flush_tlb_mm_range (declared for built-in code only,
 * the same in 6.1 and 6.12).
 */
static void __always_unused ksyms_check_types(void)
{
	BUILD_BUG_ON(!__same_type(kv_sym.lookup_name, &kallsyms_lookup_name));
	BUILD_BUG_ON(!__same_type(kv_sym.init_mm, &init_mm));
	BUILD_BUG_ON(!__same_type(kv_sym.text_mutex, &text_mutex));
	BUILD_BUG_ON(!__same_type(kv_sym.poking_mm, &poking_mm));
	BUILD_BUG_ON(!__same_type(kv_sym.max_pfn, &max_pfn));
	BUILD_BUG_ON(!__same_type(kv_sym.ftrace_location, &ftrace_location));
	BUILD_BUG_ON(!__same_type(kv_sym.ptrace_may_access, &ptrace_may_access));
	BUILD_BUG_ON(!__same_type(kv_sym.set_memory_nonglobal, &set_memory_nonglobal));
	BUILD_BUG_ON(!__same_type(kv_sym.set_memory_global, &set_memory_global));
	BUILD_BUG_ON(!__same_type(kv_sym.rethook_alloc, &rethook_alloc));
	BUILD_BUG_ON(!__same_type(kv_sym.rethook_free, &rethook_free));
#ifndef KVIEW_RETHOOK_OBJPOOL
	BUILD_BUG_ON(!__same_type(kv_sym.rethook_add_node, &rethook_add_node));
#endif
	BUILD_BUG_ON(!__same_type(kv_sym.rethook_try_get, &rethook_try_get));
	BUILD_BUG_ON(!__same_type(kv_sym.rethook_hook, &rethook_hook));
	BUILD_BUG_ON(!__same_type(*kv_sym.bpf_prog_active, bpf_prog_active));
	BUILD_BUG_ON(!__same_type(*kv_sym.current_kprobe, current_kprobe));
	BUILD_BUG_ON(!__same_type(kv_sym.get_kprobe, &get_kprobe));
	BUILD_BUG_ON(!__same_type(kv_sym.module_text_address,
				  &__module_text_address));
}

int kview_ksyms_init(void)
{
	unsigned long addr = find_lookup_name();
	int i, err = 0;

	if (!addr) {
		pr_err("cannot locate kallsyms_lookup_name (CONFIG_KPROBES?)\n");
		return -ENOENT;
	}
	kv_sym.lookup_name = (unsigned long (*)(const char *))addr;

	for (i = 0; i < ARRAY_SIZE(wanted); i++) {
		addr = kv_sym.lookup_name(wanted[i].name);
		if (!addr && wanted[i].name2)
			addr = kv_sym.lookup_name(wanted[i].name2);
		if (!addr) {
			pr_err("kernel symbol %s not found\n", wanted[i].name);
			err = -ENOENT;
		}
		*(unsigned long *)((char *)&kv_sym + wanted[i].offset) = addr;
	}
	return err;
}
