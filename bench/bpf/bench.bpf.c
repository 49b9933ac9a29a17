// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark's program body, in the three shapes the configurations need.
 * Every hook runs exactly one of them; the attach cookie says which hook
 * (0 = read, 1 = sendmsg, 2 = vfs_read) so one counter array serves all.
 *
 *   count          the body alone: kview and pre-eBPF (the module filters)
 *   count_if_pid   pid check first, as bpftrace's /pid == N/ does: in-eBPF
 *   record         no filter: every event goes to a ring buffer and the
 *                  bench filters in userspace: post-eBPF
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bench_event.h"

const volatile __u32 target_tgid;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KVIEW_BENCH_COUNTS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

static __always_inline void body(void *ctx)
{
	__u32 hook = bpf_get_attach_cookie(ctx) & 3;
	__u64 *v = bpf_map_lookup_elem(&counts, &hook);

	if (v)
		*v += 1;
}

SEC("kprobe")
int count(void *ctx)
{
	body(ctx);
	return 0;
}

SEC("kprobe")
int count_if_pid(void *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	body(ctx);
	return 0;
}

SEC("kprobe")
int record(void *ctx)
{
	struct kview_bench_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__u32 lost = KVIEW_BENCH_DROPPED;
		__u64 *v = bpf_map_lookup_elem(&counts, &lost);

		if (v)
			*v += 1;
		return 0;
	}
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->hook = bpf_get_attach_cookie(ctx) & 3;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
