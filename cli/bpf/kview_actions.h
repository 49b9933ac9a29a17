/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What kview_actions.bpf.c and the CLI (cli/actions.cpp) share: the action
 * numbers, the histogram layout and the ring-buffer event. One definition,
 * included by both sides.
 */
#ifndef KVIEW_ACTIONS_H
#define KVIEW_ACTIONS_H

#include <linux/types.h>
#include <linux/kview.h> /* KVIEW_MAX_HOOKS: hooks per view, hist rows */

/* The `action` rodata of the BPF object. */
enum kview_action {
	KVIEW_ACTION_COUNT = 0,		/* counts only: no program */
	KVIEW_ACTION_HIST = 1,		/* log2 histogram of argument hist_arg */
	KVIEW_ACTION_LATENCY = 2,	/* log2 histogram of entry -> return ns */
	KVIEW_ACTION_PRINT = 3,		/* one kview_action_event per hit */
};

/* log2 buckets per hook: map `hist` is KVIEW_MAX_HOOKS rows of these. */
#define KVIEW_ACTION_SLOTS 64

/* Ring-buffer record of the print action. */
struct kview_action_event {
	__u64 ts;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 pid;
	__u32 tid;
	__u32 hook;		/* user hook index; KVIEW_MAX_HOOKS + n: tracepoint n */
	__u32 is_return;
	__u64 value;		/* first argument, or return value */
	char comm[16];
};

#endif /* KVIEW_ACTIONS_H */
