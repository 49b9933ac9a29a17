/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What bench.bpf.c and the benchmark (bench/setup.cpp) share: the counter
 * slots of map `counts` and the post-eBPF ring-buffer event. One
 * definition, included by both sides.
 */
#ifndef KVIEW_BENCH_EVENT_H
#define KVIEW_BENCH_EVENT_H

#include <linux/types.h>

/*
 * Map `counts`: slots 0 .. KVIEW_BENCH_HOOKS - 1 count the events of each
 * hook (the attach cookie: 0 = read, 1 = sendmsg, 2 = vfs_read); slot
 * KVIEW_BENCH_DROPPED counts the events the ring buffer had no room for.
 */
#define KVIEW_BENCH_HOOKS	3
#define KVIEW_BENCH_DROPPED	3
#define KVIEW_BENCH_COUNTS	4

/* Ring-buffer record of program `record` (post-eBPF). */
struct kview_bench_event {
	__u32 tgid;
	__u32 hook;	/* the attach cookie */
};

#endif /* KVIEW_BENCH_EVENT_H */
