// SPDX-License-Identifier: GPL-2.0
/*
 * Ordinary libbpf kprobe programs, nothing kview-specific: count vfs_read
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

/*
 * Tracepoint programs of syscalls:sys_enter_read / sys_exit_read, with the
 * context the kernel gives them (trace_syscalls.c): a view runs them on its
 * syscall hooks. tp_stat: [0] sum of read's count argument, [1] sum of its
 * return values, [2] contexts whose syscall number was not read's.
 */
struct sys_enter_ctx {
	__u64 regs;
	long nr;
	unsigned long args[6];
};

struct sys_exit_ctx {
	__u64 regs;
	long nr;
	long ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} tp_enters SEC(".maps"), tp_exits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} tp_stat SEC(".maps");

static void add(__u32 k, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&tp_stat, &k);

	if (v)
		__sync_fetch_and_add(v, n);
}

SEC("tracepoint/syscalls/sys_enter_read")
int tp_enter(struct sys_enter_ctx *c)
{
	bump(&tp_enters);
	add(0, c->args[2]);
	if ((int)c->nr != 0)	/* __NR_read */
		add(2, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int tp_exit(struct sys_exit_ctx *c)
{
	bump(&tp_exits);
	add(1, c->ret);
	if ((int)c->nr != 0)
		add(2, 1);
	return 0;
}

/* Reads far past any syscall context: the kernel refuses it (EACCES). */
SEC("tracepoint/syscalls/sys_enter_write")
int tp_far(unsigned long *c)
{
	return c[16] != 0;
}
