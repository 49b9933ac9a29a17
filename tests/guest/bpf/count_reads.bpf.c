// SPDX-License-Identifier: GPL-2.0
/*
 * An ordinary libbpf kprobe program, nothing kview-specific: count vfs_read
 * entries and returns per process, and remember the attach cookie and what
 * bpf_get_func_ip() said at entry (the function's address). The guest
 * tests attach it through a view and, as a control, globally with libbpf.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} entries SEC(".maps"), returns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cookie SEC(".maps"), func_ip SEC(".maps");

static void bump(void *map)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *v = bpf_map_lookup_elem(map, &pid);

	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, &pid, &one, BPF_NOEXIST);
}

SEC("kprobe/vfs_read")
int count_entry(void *ctx)
{
	__u32 zero = 0;
	__u64 c = bpf_get_attach_cookie(ctx), ip = bpf_get_func_ip(ctx);

	bpf_map_update_elem(&cookie, &zero, &c, BPF_ANY);
	bpf_map_update_elem(&func_ip, &zero, &ip, BPF_ANY);
	bump(&entries);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_out SEC(".maps");

SEC("kretprobe/vfs_read")
int count_return(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;

	bump(&returns);
	bpf_perf_event_output(ctx, &perf_out, BPF_F_CURRENT_CPU, &pid, sizeof(pid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
