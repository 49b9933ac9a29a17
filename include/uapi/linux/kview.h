/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kview: per-process kernel views -- the one ABI between the kview module
 * and userspace (libkview, the kview CLI, tests).
 *
 * Device: /dev/kview (misc device). Every ioctl below is issued on an open
 * file descriptor of that device. All state a descriptor creates (its view,
 * the hooks in it) belongs to that descriptor: closing it tears everything
 * down and restores the original kernel mapping of the target. Since ABI
 * 1.3 several descriptors may own one view (KVIEW_VIEW_JOIN): it is torn
 * down when the last of them is closed; each one's hooks are its own. Since
 * 1.4 hooks may go in the core text of loaded modules (which stay loaded
 * while hooked).
 *
 * Versioning: KVIEW_ABI_MAJOR changes on any incompatible change; userspace
 * refuses a module whose major differs. KVIEW_ABI_MINOR grows when commands
 * or fields are added; userspace may require a minimum minor. Command numbers
 * are never reused. Argument structs that may grow start with a __u32 size
 * field (sizeof the struct as userspace knows it): the module zero-fills a
 * short struct and rejects a longer one with a non-zero unknown tail (E2BIG),
 * as copy_struct_from_user() does. Reserved fields and unknown flag bits must
 * be zero (EINVAL). See docs/abi.md for the changelog and per-command errnos.
 *
 * Common errnos: ENOTTY unknown command, EFAULT bad user pointer, EINVAL bad
 * field, E2BIG struct too large with non-zero tail, EPERM missing privilege.
 *
 * KVIEW_IOC_GET_VERSION -- ABI and module version. Never fails on a valid
 *   pointer. Needs no privilege.
 *
 * KVIEW_IOC_VIEW_CREATE -- create the view of this descriptor for process
 *   @pid (threads share it), or with KVIEW_VIEW_JOIN (ABI 1.3) become one
 *   more owner of the view @pid already has. Each descriptor with a view is
 *   a session (@session_id): its hooks are its own, and closing it detaches
 *   their programs; the view ends with its last owner. Needs CAP_SYS_ADMIN
 *   (or CAP_BPF + CAP_PERFMON) and ptrace-attach rights over the target.
 *   Errnos: EBUSY this descriptor already has a view, the target has one
 *   and no KVIEW_VIEW_JOIN was given, or its flags differ from the
 *   requested ones; ESRCH no such process; EINVAL pid <= 0 or a kernel
 *   thread (no mm) or unknown flag; EPERM; EOPNOTSUPP unsupported platform (Xen PV, a 5-level
 *   layout that shares the kernel's top-level entry with vmalloc, vmemmap or
 *   the direct map); ENOMEM.
 *
 * KVIEW_IOC_HOOK_ADD -- plant a hook in the view. Kinds:
 *   KVIEW_HOOK_KPROBE: @symbol + @offset, where offset 0 means the first
 *     instruction after the function's fentry call (function entry).
 *   KVIEW_HOOK_SYSCALL_ENTER: @symbol is a syscall name ("read").
 *   KVIEW_HOOK_KRETPROBE: return of function @symbol (@offset must be 0);
 *     the entry is caught by a private int3, the return by the kernel's
 *     rethook trampoline for the traced tasks only.
 *   KVIEW_HOOK_SYSCALL_EXIT: return of syscall @symbol.
 *   With KVIEW_HOOK_F_BPF in @flags, the BPF_PROG_TYPE_KPROBE program
 *   @prog_fd runs on every hit of the view (ctx: the hit's pt_regs; return
 *   hooks: the registers at return), like a kprobe-attached program, with
 *   @cookie as its bpf_get_attach_cookie(). On a SYSCALL_ENTER/_EXIT hook
 *   (ABI 1.2) a BPF_PROG_TYPE_TRACEPOINT program may run instead, with the
 *   context of the syscalls:sys_enter_<name> / sys_exit_<name> tracepoint
 *   (docs/abi.md). EBADF bad fd; EINVAL not a kprobe program (nor a
 *   tracepoint program on a syscall hook), kprobe.multi, sleepable, or
 *   using bpf_override_return; EACCES a tracepoint program reading past
 *   the context.
 *   (ABI 1.4) @symbol may be a module's function ("name" or "module:name"):
 *   the module cannot be unloaded while a view holds a copy of its text.
 *   Errnos: ENOENT unknown symbol, or its module still loading or going;
 *   EINVAL bad kind/offset/not an instruction boundary/address outside the
 *   kernel image text and modules' core text (init text too); EOPNOTSUPP
 *   module text where this kernel's module space cannot be kept coherent
 *   (dmesg says why); EADDRNOTAVAIL address the
 *   kernel refuses to probe (blacklisted, jump-label, static-call, BUG or
 *   alternative site); EEXIST a hook of this session already sits there;
 *   ENOSPC KVIEW_MAX_HOOKS reached in the view (every session's hooks
 *   count); ENXIO no view yet; ESRCH the view has ended
 *   (target exited or exec'd).
 *
 * KVIEW_IOC_VIEW_STATS -- counters of this descriptor's view, and up to
 *   @hooks_cap struct kview_hook_stats written to @hooks_ptr: the hooks of
 *   this session, or with @scope KVIEW_STATS_VIEW (ABI 1.3) every
 *   session's; the hit sums are over the same hooks. ENXIO no view;
 *   EFAULT bad @hooks_ptr; EINVAL unknown @scope or @reserved not 0.
 *
 * KVIEW_IOC_READ_TEXT -- copy @len (<= KVIEW_READ_TEXT_MAX) bytes of kernel
 *   image text at @addr to @buf_ptr, read through the *caller's* page tables:
 *   the traced process sees its hooks (0xcc), everybody else the original.
 *   (ABI 1.4) Or the core text of a live module, the whole range in one.
 *   Needs CAP_SYS_ADMIN. EINVAL range outside those. EIO not mapped.
 *
 * KVIEW_IOC_GLOBAL_STATS -- module-wide accounting (live views, pages and
 *   bytes held), used by tests to prove nothing leaks.
 *
 * KVIEW_IOC_LIST_VIEWS -- every view in the system (any descriptor's), up to
 *   @cap entries at @views_ptr; @nr_views is the total. Needs CAP_SYS_ADMIN.
 *   EINVAL reserved non-zero; EFAULT bad @views_ptr.
 *
 * KVIEW_IOC_HOOK_FD (ABI 1.1) -- plant a hook like KVIEW_IOC_HOOK_ADD, but
 *   behind a new descriptor of its own (@fd, O_CLOEXEC) that speaks the
 *   perf_event ioctls a kprobe perf event does: PERF_EVENT_IOC_SET_BPF (a
 *   BPF_PROG_TYPE_KPROBE program fd, resolved in the caller's fd table; on
 *   a syscall hook also a BPF_PROG_TYPE_TRACEPOINT one, ABI 1.2, as a
 *   syscalls:sys_enter_* / sys_exit_* tracepoint event takes it),
 *   PERF_EVENT_IOC_ENABLE / _DISABLE (the program runs only while enabled),
 *   PERF_EVENT_IOC_ID, PERF_EVENT_IOC_QUERY_BPF. Several hook descriptors may
 *   sit on one address of one view (no EEXIST); at most KVIEW_MAX_VIEW_HOOKS
 *   hooks per view (ENOSPC). Closing the last reference detaches the program;
 *   the hook itself stays in the view (KVIEW_HOOK_CLOSED) until the view
 *   ends. The hook descriptor keeps the view's /dev/kview file open. Errnos:
 *   those of KVIEW_IOC_HOOK_ADD (no EEXIST, no EBADF), EINVAL a flag or
 *   @prog_fd/@fd not zero, EMFILE/ENFILE no descriptor left.
 */
#ifndef _UAPI_LINUX_KVIEW_H
#define _UAPI_LINUX_KVIEW_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KVIEW_ABI_MAJOR 1
#define KVIEW_ABI_MINOR 4

#define KVIEW_DEVICE_NAME "kview"
#define KVIEW_DEVICE_PATH "/dev/kview"

/* 0xB9: not claimed in Documentation/userspace-api/ioctl/ioctl-number.rst */
#define KVIEW_IOC_MAGIC 0xB9

#define KVIEW_VERSION_LEN 56
#define KVIEW_SYMBOL_LEN 64
#define KVIEW_MAX_HOOKS 64	/* KVIEW_IOC_HOOK_ADD: while fewer hooks in the view */
#define KVIEW_MAX_VIEW_HOOKS 1024	/* all of a view's hooks, hook descriptors' too */
#define KVIEW_READ_TEXT_MAX 4096
#define KVIEW_VIEW_MAX_MMS 64	/* address spaces in a view at once */

struct kview_version {
	__u32 abi_major;
	__u32 abi_minor;
	char module_version[KVIEW_VERSION_LEN]; /* NUL-terminated */
};

/* struct kview_view_create.flags */
#define KVIEW_VIEW_FOLLOW_FORK (1u << 0)  /* forked children join the view */
#define KVIEW_VIEW_EXEC_REAPPLY (1u << 1) /* after exec, the new image stays
					   * traced (default: the view ends)
					   */
/*
 * Comparison mode ("pre-eBPF", for benchmarks): hooks are armed in SHARED
 * text, so every process traps; the module drops other address spaces before
 * counting or running programs (counted in foreign_mm_hits). Not zero-cost
 * by design; no text is copied.
 */
#define KVIEW_VIEW_SHARED_TEXT (1u << 2)
/*
 * (ABI 1.3) If the target already has a view, this descriptor becomes one
 * more owner ("session") of it instead of failing with EBUSY; the view
 * ends when its last owner is closed. The other flags must equal the
 * view's (EBUSY otherwise). Without a view, one is created as without it.
 */
#define KVIEW_VIEW_JOIN (1u << 3)
#define KVIEW_VIEW_FLAGS_ALL (KVIEW_VIEW_FOLLOW_FORK | KVIEW_VIEW_EXEC_REAPPLY | \
			      KVIEW_VIEW_SHARED_TEXT | KVIEW_VIEW_JOIN)

struct kview_view_create {
	__u32 size;	/* sizeof(struct kview_view_create) */
	__u32 flags;	/* KVIEW_VIEW_* */
	__s32 pid;	/* target process (tgid or any of its threads) */
	__u32 view_id;	/* out: module-wide id of the view */
	__u32 session_id; /* out (1.3): this descriptor's session, never reused */
	__u32 nr_sessions; /* out (1.3): owners of the view, this one included */
};

enum kview_hook_kind {
	KVIEW_HOOK_KPROBE = 1,
	KVIEW_HOOK_SYSCALL_ENTER = 2,
	KVIEW_HOOK_KRETPROBE = 3,	/* return of @symbol (kretprobe semantics) */
	KVIEW_HOOK_SYSCALL_EXIT = 4,	/* return of syscall @symbol */
};

struct kview_hook_add {
	__u32 size;	/* sizeof(struct kview_hook_add) */
	__u32 kind;	/* enum kview_hook_kind */
	__u64 cookie;	/* opaque, reported back in stats */
	__u32 offset;	/* KPROBE: bytes past the function's entry point */
	__u32 hook_id;	/* out: index of the hook in this view */
	__u64 addr;	/* out: kernel address where the hook sits */
	char symbol[KVIEW_SYMBOL_LEN]; /* NUL-terminated */
	__u32 flags;	/* KVIEW_HOOK_F_* */
	__s32 prog_fd;	/* with KVIEW_HOOK_F_BPF: a BPF_PROG_TYPE_KPROBE program */
};

/* struct kview_hook_add.flags */
#define KVIEW_HOOK_F_BPF (1u << 0)	/* run prog_fd on every hit of the view */
#define KVIEW_HOOK_F_ALL KVIEW_HOOK_F_BPF

/* struct kview_hook_stats.flags */
#define KVIEW_HOOK_LOST (1u << 0) /* a kernel text write hit the hook */
#define KVIEW_HOOK_FD (1u << 1)	  /* behind a hook descriptor (KVIEW_IOC_HOOK_FD) */
#define KVIEW_HOOK_PROG (1u << 2) /* hook descriptor: a program is attached */
#define KVIEW_HOOK_DISABLED (1u << 3) /* hook descriptor: PERF_EVENT_IOC_DISABLE'd */
#define KVIEW_HOOK_CLOSED (1u << 4) /* hook descriptor closed, program detached */
#define KVIEW_HOOK_SESSION_CLOSED (1u << 5) /* (1.3) its session closed: program
					     * detached, hits no longer counted
					     */

struct kview_hook_stats {
	__u64 addr;
	__u64 cookie;
	__u64 hits;		/* handler entries from the traced mm's tasks */
	__u64 other_hits;	/* entries from other contexts: interrupts,
				 * lazy-TLB kernel threads on the traced CR3
				 */
	__u64 foreign_mm_hits;	/* entries from a task of another mm: must be 0 */
	__u64 missed;		/* return hooks: returns not caught because all
				 * return instances were in use
				 */
	__u64 prog_runs;	/* BPF program runs */
	__u64 prog_skipped;	/* BPF runs skipped: a BPF program was already
				 * running on this CPU (recursion guard)
				 */
	__u32 hook_id;
	__u32 kind;
	__u32 flags;		/* KVIEW_HOOK_* */
	__u32 session_id;	/* (1.3) the session that added it */
	char symbol[KVIEW_SYMBOL_LEN];
};

/* struct kview_view_stats.state */
#define KVIEW_VIEW_LIVE 1	/* mapped into the target */
#define KVIEW_VIEW_ENDED 2	/* target exited or exec'd; hooks removed */

struct kview_view_stats {
	__u32 size;		/* sizeof(struct kview_view_stats) */
	__u32 view_id;		/* out */
	__s32 pid;		/* out */
	__u32 state;		/* out: KVIEW_VIEW_* */
	__u32 flags;		/* out: creation flags */
	__u32 nr_mms;		/* out: joins over the view's life: the target,
				 * each followed child (a vfork/posix_spawn
				 * child twice: at fork and at exec), each
				 * re-applied exec image
				 */
	__u64 text_pages;	/* out: private copies of 4 KiB text pages */
	__u64 table_pages;	/* out: private page-table pages */
	__u64 bytes;		/* out: memory held by the view */
	__u64 hits;		/* out: sums over hooks */
	__u64 other_hits;
	__u64 foreign_mm_hits;
	__u64 mirrored_writes;	/* out: shared text writes copied into the view */
	__u64 unfollowed;	/* out: forks/execs that could not join the
				 * view (KVIEW_VIEW_MAX_MMS address spaces in
				 * it at once)
				 */
	__u32 nr_hooks;		/* out: hooks in @scope */
	__u32 hooks_cap;	/* in: room at hooks_ptr, in entries */
	__u64 hooks_ptr;	/* in: struct kview_hook_stats[hooks_cap] */
	__u32 session_id;	/* out (1.3): this descriptor's session */
	__u32 nr_sessions;	/* out (1.3): open sessions (owners) of the view */
	__u32 scope;		/* in (1.3): KVIEW_STATS_SESSION or _VIEW */
	__u32 reserved;		/* must be 0 */
};

/* struct kview_view_stats.scope: which hooks are listed and summed */
#define KVIEW_STATS_SESSION 0	/* this descriptor's (its session's) */
#define KVIEW_STATS_VIEW 1	/* every session's, closed ones' too */

struct kview_read_text {
	__u32 size;	/* sizeof(struct kview_read_text) */
	__u32 len;	/* 1..KVIEW_READ_TEXT_MAX */
	__u64 addr;	/* kernel text address */
	__u64 buf_ptr;	/* user buffer of len bytes */
};

struct kview_global_stats {
	__u32 size;		/* sizeof(struct kview_global_stats) */
	__u32 live_views;	/* out */
	__u64 views_created;	/* out: since load */
	__u64 views_destroyed;	/* out: since load */
	__u64 pages;		/* out: pages held by all views */
	__u64 bytes;		/* out: bytes held by all views */
};

/* KVIEW_IOC_LIST_VIEWS: every view in the system, one entry each. */
struct kview_view_info {
	__u32 view_id;
	__s32 pid;		/* target tgid */
	__u32 state;		/* KVIEW_VIEW_* */
	__u32 flags;		/* creation flags */
	__u32 nr_hooks;
	__u32 nr_mms;
	__u64 pages;		/* text + table pages held */
};

struct kview_list_views {
	__u32 size;		/* sizeof(struct kview_list_views) */
	__u32 nr_views;		/* out: views in the system (may exceed cap) */
	__u32 cap;		/* in: entries at views_ptr */
	__u32 reserved;		/* must be 0 */
	__u64 views_ptr;	/* in: struct kview_view_info[cap] */
};

/*
 * KVIEW_IOC_HOOK_FD: the fields of struct kview_hook_add up to @symbol mean
 * the same; no program at creation (PERF_EVENT_IOC_SET_BPF on @fd attaches
 * one).
 */
struct kview_hook_fd {
	__u32 size;	/* sizeof(struct kview_hook_fd) */
	__u32 kind;	/* enum kview_hook_kind */
	__u64 cookie;	/* bpf_get_attach_cookie() of the program; in stats */
	__u32 offset;	/* KPROBE: bytes past the function's entry point */
	__u32 hook_id;	/* out */
	__u64 addr;	/* out: kernel address where the hook sits */
	char symbol[KVIEW_SYMBOL_LEN]; /* NUL-terminated */
	__u32 flags;	/* KVIEW_HOOK_FD_* */
	__s32 fd;	/* out: the hook's descriptor; 0 on input */
};

/* struct kview_hook_fd.flags */
#define KVIEW_HOOK_FD_DISABLED (1u << 0) /* created disabled (perf attr.disabled) */
#define KVIEW_HOOK_FD_ALL KVIEW_HOOK_FD_DISABLED

#define KVIEW_IOC_GET_VERSION _IOR(KVIEW_IOC_MAGIC, 0x00, struct kview_version)
#define KVIEW_IOC_VIEW_CREATE _IOWR(KVIEW_IOC_MAGIC, 0x01, struct kview_view_create)
#define KVIEW_IOC_HOOK_ADD _IOWR(KVIEW_IOC_MAGIC, 0x02, struct kview_hook_add)
#define KVIEW_IOC_VIEW_STATS _IOWR(KVIEW_IOC_MAGIC, 0x03, struct kview_view_stats)
#define KVIEW_IOC_READ_TEXT _IOW(KVIEW_IOC_MAGIC, 0x04, struct kview_read_text)
#define KVIEW_IOC_GLOBAL_STATS _IOWR(KVIEW_IOC_MAGIC, 0x05, struct kview_global_stats)
#define KVIEW_IOC_LIST_VIEWS _IOWR(KVIEW_IOC_MAGIC, 0x06, struct kview_list_views)
#define KVIEW_IOC_HOOK_FD _IOWR(KVIEW_IOC_MAGIC, 0x07, struct kview_hook_fd)

#endif /* _UAPI_LINUX_KVIEW_H */
