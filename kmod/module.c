// SPDX-License-Identifier: GPL-2.0
/*
 * kview: per-process kernel views (README.md; the files, in data-path
 * order: kview.h). Load: the kernel symbols the module needs, the check
 * that this kernel's interfaces are the ones the module was built for
 * (compat.h), then the device. Unload: the device goes first (no open file, so no view and no
 * hook is left), then the deferred work of every part, in data-path order.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <asm/cpufeature.h>
#include <asm/pgtable.h>
#include "kview.h"

static int __init kview_init(void)
{
	int err;

	err = kview_ksyms_init();
	if (err)
		return err;
	err = kview_compat_check();	/* through the symbols just found */
	if (err)
		return err;
	kview_mirror_init();
	err = kview_device_init();
	if (err)
		return err;
	pr_info("loaded, version %s, ABI %d.%d, %d-level paging, PTI %s\n",
		KVIEW_MODULE_VERSION, KVIEW_ABI_MAJOR, KVIEW_ABI_MINOR,
		pgtable_l5_enabled() ? 5 : 4,
		boot_cpu_has(X86_FEATURE_PTI) ? "on" : "off");
	return 0;
}

static void __exit kview_exit(void)
{
	kview_device_exit();
	kview_views_exit();
	kview_reap_exit();
	kview_hooks_exit();
	kview_modtext_exit();
	kview_mirror_exit();
	pr_info("unloaded\n");
}

module_init(kview_init);
module_exit(kview_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Per-process kernel views: hooks that fire for one process only");
MODULE_VERSION(KVIEW_MODULE_VERSION);
