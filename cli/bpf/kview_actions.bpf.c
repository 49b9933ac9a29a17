// SPDX-License-Identifier: GPL-2.0
/*
 * The kview CLI's built-in actions, attached to view hooks (never globally):
 * hist (log2 histogram of an argument), latency (entry -> return, log2
 * histogram of nanoseconds) and print (one ring-buffer event per hit). The
 * hook's cookie is the index of the user's hook (-k/-r/-s) it belongs to,
 * with bit 31 set on syscall hooks (whose arguments are in the pt_regs that
 * the syscall wrapper receives).
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "kview_actions.h"

const volatile __u32 action;
const volatile __u32 hist_arg;	/* 1..5 */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KVIEW_MAX_HOOKS * KVIEW_ACTION_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);	/* hook << 32 | tid */
	__type(value, __u64);	/* entry time */
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");


static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return v ? r + 1 : 0;	/* slot 0: value 0; slot n: [2^(n-1), 2^n) */
}

static __always_inline void hist_add(__u32 hook, __u64 v)
{
	__u32 key = (hook % KVIEW_MAX_HOOKS) * KVIEW_ACTION_SLOTS + log2_slot(v) % KVIEW_ACTION_SLOTS;
	__u64 *c = bpf_map_lookup_elem(&hist, &key);

	if (c)
		__sync_fetch_and_add(c, 1);
}

static __always_inline void emit(__u32 hook, __u32 is_return, __u64 value)
{
	struct kview_action_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u64 id = bpf_get_current_pid_tgid();

	if (!e)
		return;
	e->ts = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->hook = hook;
	e->is_return = is_return;
	e->value = value;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

#define SYSCALL_HOOK (1u << 31)

static __always_inline __u64 arg(struct pt_regs *ctx, __u32 n, __u32 cookie)
{
	/* fixed-offset context loads only: the verifier refuses computed ones */
	__u64 p1 = PT_REGS_PARM1(ctx), p2 = PT_REGS_PARM2(ctx);
	__u64 p3 = PT_REGS_PARM3(ctx), p4 = PT_REGS_PARM4(ctx);
	__u64 p5 = PT_REGS_PARM5(ctx);
	struct pt_regs *regs = (struct pt_regs *)p1;
	__u64 v = 0;

	if (!(cookie & SYSCALL_HOOK))
		return n == 1 ? p1 : n == 2 ? p2 : n == 3 ? p3 : n == 4 ? p4 : p5;
	/* __x64_sys_*(const struct pt_regs *regs): the user's registers */
	switch (n) {
	case 1: bpf_probe_read_kernel(&v, sizeof(v), &regs->rdi); break;
	case 2: bpf_probe_read_kernel(&v, sizeof(v), &regs->rsi); break;
	case 3: bpf_probe_read_kernel(&v, sizeof(v), &regs->rdx); break;
	case 4: bpf_probe_read_kernel(&v, sizeof(v), &regs->r10); break;
	default: bpf_probe_read_kernel(&v, sizeof(v), &regs->r8); break;
	}
	return v;
}

SEC("kprobe/kview_entry")
int kview_entry(struct pt_regs *ctx)
{
	__u32 cookie = bpf_get_attach_cookie(ctx);
	__u32 hook = cookie & ~SYSCALL_HOOK;
	__u64 key, ts;

	if (action == KVIEW_ACTION_HIST) {
		hist_add(hook, arg(ctx, hist_arg, cookie));
	} else if (action == KVIEW_ACTION_LATENCY) {
		key = (__u64)hook << 32 | (__u32)bpf_get_current_pid_tgid();
		ts = bpf_ktime_get_ns();
		bpf_map_update_elem(&start, &key, &ts, BPF_ANY);
	} else if (action == KVIEW_ACTION_PRINT) {
		emit(hook, 0, arg(ctx, 1, cookie));
	}
	return 0;
}

SEC("kretprobe/kview_return")
int kview_return(struct pt_regs *ctx)
{
	__u32 hook = bpf_get_attach_cookie(ctx) & ~SYSCALL_HOOK;
	__u64 key, *ts;

	if (action == KVIEW_ACTION_LATENCY) {
		key = (__u64)hook << 32 | (__u32)bpf_get_current_pid_tgid();
		ts = bpf_map_lookup_elem(&start, &key);
		if (!ts)
			return 0;
		hist_add(hook, bpf_ktime_get_ns() - *ts);
		bpf_map_delete_elem(&start, &key);
	} else if (action == KVIEW_ACTION_PRINT) {
		emit(hook, 1, PT_REGS_RC(ctx));
	}
	return 0;
}

/*
 * Tracepoints are not private yet: this program is attached GLOBALLY (every
 * process that hits the tracepoint runs it) and filters on the traced tgids.
 * The CLI labels these counts "filtered (not private)"; tp_filtered counts
 * what the other processes paid.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KVIEW_MAX_HOOKS);
	__type(key, __u32);
	__type(value, __u64);
} tp_hits SEC(".maps"), tp_filtered SEC(".maps");

SEC("tracepoint/kview/filtered")
int kview_tracepoint(void *ctx)
{
	__u32 tp = bpf_get_attach_cookie(ctx) % KVIEW_MAX_HOOKS;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *c;

	if (!bpf_map_lookup_elem(&traced, &tgid)) {
		c = bpf_map_lookup_elem(&tp_filtered, &tp);
		if (c)
			__sync_fetch_and_add(c, 1);
		return 0;
	}
	c = bpf_map_lookup_elem(&tp_hits, &tp);
	if (c)
		__sync_fetch_and_add(c, 1);
	if (action == KVIEW_ACTION_PRINT)
		emit(KVIEW_MAX_HOOKS + tp, 0, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
