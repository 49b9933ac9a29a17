// SPDX-License-Identifier: GPL-2.0
/*
 * Hook sites: a kprobe per kernel address ("site"), registered DISABLED so
 * shared text is never written, plus an int3 planted only in the private
 * copies of the views that hook that address (plant_int3). The kprobe
 * machinery then handles the private int3 like its own:
 * kprobe_int3_handler() finds the kprobe by address, runs
 * kview_pre_handler() (hit.c) and single-steps the original instruction out
 * of line, resuming in the same (private) page.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bpf.h>
#include <linux/kallsyms.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "kview.h"

static DEFINE_MUTEX(site_lock);
static LIST_HEAD(sites);

/*
 * Somebody else's kprobe at one of our addresses. The kprobe core then puts
 * both in an aggregator, which it arms in shared text while any child is
 * enabled -- and ours must be enabled so the aggregator runs our handler
 * for our private int3. So when the other kprobe is disabled or removed,
 * the aggregator would stay armed for everybody. The handler notices
 * (foreign hits) and this poll disables our child once, which disarms the
 * aggregator if no other child needs it, then re-enables our child without
 * re-arming (only enable_kprobe() arms).
 */
#define SITE_POLL_INTERVAL (HZ / 4)
static void site_poll_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(site_poll, site_poll_fn);
static void sites_retire(bool all);

/*
 * Let the aggregator holding our kprobe run our handler: enable our child
 * only. No kprobe API does that without arming the aggregator when it is
 * disabled, so the flag is cleared under kprobe_mutex, as the kprobe core
 * changes flags; nothing arms on a child's flag.
 */
static void site_child_enable_locked(struct kview_site *s)
{
	if (!list_empty(&s->kp.list))
		s->kp.flags &= ~KPROBE_FLAG_DISABLED;
}

static void site_child_enable(struct kview_site *s)
{
	mutex_lock(kv_sym.kprobe_mutex);
	site_child_enable_locked(s);
	mutex_unlock(kv_sym.kprobe_mutex);
}

/*
 * Disarm @s's aggregator unless another child needs it; keep ours enabled.
 * Between disable_kprobe() and our child's flag back, the traced process's
 * int3 runs no handler of ours, so the flag does not wait for kprobe_mutex
 * when somebody holds it: the kprobe optimizer does, across an RCU-tasks
 * grace period (seconds on PREEMPT_RT under TCG; 1323 of 990303 reads were
 * lost so, Patching.StockKprobeComingAndGoingAtTheHookLosesNoEvent). Then
 * it is cleared with cmpxchg: the kprobe core changes our child's flags
 * for our own calls only (serialized by site_lock), and, when a module
 * goes, to add GONE with a plain read-modify-write, which sees our clear or
 * undoes it (the poll clears it again); GONE itself is never lost.
 */
static void site_quiet(struct kview_site *s)
{
	u32 old;

	if (disable_kprobe(&s->kp))
		return;
	if (mutex_trylock(kv_sym.kprobe_mutex)) {
		site_child_enable_locked(s);
		mutex_unlock(kv_sym.kprobe_mutex);
		return;
	}
	old = READ_ONCE(s->kp.flags);
	while (!try_cmpxchg(&s->kp.flags, &old, old & ~KPROBE_FLAG_DISABLED))
		;
}

/*
 * Also: a kprobe that was not aggregated when we registered it (the address
 * cannot take an optimized jump) keeps DISABLED, which arms nothing; if
 * someone later registers a kprobe at the same address, the kprobe core
 * puts ours in an aggregator as a disabled child, whose handler it skips:
 * our hook would count nothing from then on. Enable it.
 */
static void site_poll_fn(struct work_struct *work)
{
	struct kview_site *s;

	mutex_lock(&site_lock);
	list_for_each_entry(s, &sites, node) {
		if (atomic_xchg(&s->shared_armed, 0) && !list_empty(&s->kp.list))
			site_quiet(s);
		else if (!list_empty(&s->kp.list) && kprobe_disabled(&s->kp))
			site_child_enable(s);
	}
	sites_retire(false);
	if (!list_empty(&sites))
		schedule_delayed_work(&site_poll, SITE_POLL_INTERVAL);
	mutex_unlock(&site_lock);
}

/* Module exit: no view is left, so every site is idle. */
void kview_hooks_exit(void)
{
	cancel_delayed_work_sync(&site_poll);
	mutex_lock(&site_lock);
	sites_retire(true);
	WARN_ON_ONCE(!list_empty(&sites));
	mutex_unlock(&site_lock);
}

/* Return instances per site: tasks of the view inside the function at once. */
static unsigned int return_instances(void)
{
	return max(16u, 4 * num_possible_cpus());
}

/* Give @s its rethook on first use by a return hook. Caller holds site_lock. */
static int site_enable_return(struct kview_site *s)
{
	struct rethook *rh;

	if (s->rh)
		return 0;
	rh = kview_rethook_alloc(s, kview_return_handler, return_instances());
	if (IS_ERR(rh))
		return PTR_ERR(rh);
	WRITE_ONCE(s->rh, rh);
	return 0;
}

static int map_register_error(int err)
{
	switch (err) {
	case -EILSEQ:	/* not an instruction boundary */
		return -EINVAL;
	case -EINVAL:	/* blacklist, jump label, static call, BUG, alternative */
	case -EBUSY:
		return -EADDRNOTAVAIL;
	default:
		return err;
	}
}

/*
 * A site for @addr: shared by every view hooking it privately (a disabled
 * kprobe; our int3 lives in private copies), or, for a KVIEW_VIEW_SHARED_TEXT
 * view, a kprobe of its own, armed in shared text for everybody.
 */
static struct kview_site *site_get(unsigned long addr, bool shared)
{
	struct kview_site *s;
	int err;

	mutex_lock(&site_lock);
	list_for_each_entry(s, &sites, node) {
		/* a gone one's module was unloaded: sites_retire() frees it */
		if (!shared && (unsigned long)s->kp.addr == addr &&
		    !kprobe_gone(&s->kp)) {
			s->refs++;	/* perhaps an idle one (site_drop()) */
			goto out;
		}
	}
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s) {
		s = ERR_PTR(-ENOMEM);
		goto out;
	}
	INIT_LIST_HEAD(&s->subs);
	INIT_LIST_HEAD(&s->node);
	s->kp.addr = (kprobe_opcode_t *)addr;
	s->kp.pre_handler = kview_pre_handler;
	s->shared = shared;
	if (!shared)
		s->kp.flags = KPROBE_FLAG_DISABLED;	/* never armed in shared text */
	err = register_kprobe(&s->kp);
	if (err) {
		kfree(s);
		s = ERR_PTR(map_register_error(err));
		goto out;
	}
	if (s->kp.flags & KPROBE_FLAG_FTRACE) {
		/* an fentry site: no out-of-line copy to single-step */
		unregister_kprobe(&s->kp);
		kfree(s);
		s = ERR_PTR(-EADDRNOTAVAIL);
		goto out;
	}
	/*
	 * With OPTPROBES the kprobe may have been wrapped in an aggregator
	 * that inherits DISABLED (so it is never armed or optimized) and skips
	 * disabled children. Enable the child only: the aggregator then calls
	 * our handler when our private int3 traps. An aggregator that was
	 * being lazily unoptimized is instead rescued armed by the kprobe core
	 * (reuse_unused_kprobe): disarm it at once unless another child needs
	 * it, rather than waiting for foreign hits and the poll.
	 */
	s->refs = 1;
	if (shared)
		goto out;	/* armed; not in the list of private sites */
	if (!list_empty(&s->kp.list)) {
		site_child_enable(s);
		site_quiet(s);
	}
	if (list_empty(&sites))
		schedule_delayed_work(&site_poll, SITE_POLL_INTERVAL);
	list_add(&s->node, &sites);
out:
	mutex_unlock(&site_lock);
	return s;
}

/*
 * How long a private site stays registered after its last hook left: a
 * view made again on the same function (the next run of a tool, the next
 * session) reuses it, and the sites of many closes leave together, with
 * one grace period (unregister_kprobes()) for all of them. A disabled
 * kprobe changes nothing that others run (the int3 lives only in private
 * copies); it is listed in debugfs meanwhile.
 */
#define SITE_LINGER HZ

/*
 * Drop a reference to @s. A private site's last one leaves it idle, for
 * sites_retire(). True if @s must go now (a shared-text site's last one):
 * the caller hands it to site_batch_add() before releasing site_lock, as
 * site_get() must not register a new kprobe at this address meanwhile
 * (both at once would form an aggregator, and one being lazily unoptimized
 * is rescued armed by the kprobe core). Caller holds site_lock.
 */
static bool site_drop(struct kview_site *s)
{
	if (--s->refs)
		return false;
	if (!s->shared) {	/* idle until sites_retire() */
		s->idle_since = jiffies;
		return false;
	}
	return true;
}

/*
 * Unregister and free the sites of @kps (site_batch_add()) with one grace
 * period for all of them: unregister_kprobes() waits for running kprobe
 * handlers with one; that it also covers the return handlers that started
 * before rethook_free() is checked, not assumed (cond_synchronize_rcu()
 * waits only if no grace period has elapsed). Caller holds site_lock.
 */
static void sites_free(struct kprobe **kps, int n)
{
	unsigned long gp = get_state_synchronize_rcu();
	int i;

	unregister_kprobes(kps, n);
	cond_synchronize_rcu(gp);
	for (i = 0; i < n; i++)
		kfree(container_of(kps[i], struct kview_site, kp));
}

#define KVIEW_SITE_BATCH 16

/* Sites leaving together, KVIEW_SITE_BATCH to one sites_free(). */
struct site_batch {
	struct kprobe *kps[KVIEW_SITE_BATCH];
	int n;
};

/*
 * @s leaves: out of the list, its rethook stopped (pending returns run no
 * handler from now on, their nodes are freed by the rethook core when they
 * come back), its kprobe queued in @b. Caller holds site_lock.
 */
static void site_batch_add(struct site_batch *b, struct kview_site *s)
{
	list_del_init(&s->node);
	if (s->rh)
		kv_sym.rethook_free(s->rh);
	b->kps[b->n++] = &s->kp;
	if (b->n == KVIEW_SITE_BATCH) {
		sites_free(b->kps, b->n);
		b->n = 0;
	}
}

/* Free what @b still holds, before site_lock is released. */
static void site_batch_flush(struct site_batch *b)
{
	if (b->n)
		sites_free(b->kps, b->n);
	b->n = 0;
}

/*
 * Unregister the private sites idle for SITE_LINGER (@all: every idle
 * one). Caller holds site_lock.
 */
static void sites_retire(bool all)
{
	struct site_batch b = { .n = 0 };
	struct kview_site *s, *next;

	list_for_each_entry_safe(s, next, &sites, node)
		if (!s->refs &&
		    (all || !time_before(jiffies, s->idle_since + SITE_LINGER)))
			site_batch_add(&b, s);
	site_batch_flush(&b);
}

static void site_put(struct kview_site *s)
{
	struct site_batch b = { .n = 0 };

	mutex_lock(&site_lock);
	if (site_drop(s))
		site_batch_add(&b, s);
	site_batch_flush(&b);
	mutex_unlock(&site_lock);
}

/*
 * Resolve the hook's kernel address. Function entry skips the fentry call;
 * *@func is the function's address.
 */
static int hook_address(const struct kview_hook_add *req, unsigned long *addr,
			unsigned long *func_out)
{
	char name[KSYM_NAME_LEN];
	struct module *mod;
	unsigned long func;
	int n, err;

	if (!req->symbol[0])
		return -EINVAL;
	if (kview_hook_is_return(req->kind) && req->offset)
		return -EINVAL;	/* a return hook catches the entry */
	if (req->kind == KVIEW_HOOK_SYSCALL_ENTER ||
	    req->kind == KVIEW_HOOK_SYSCALL_EXIT) {
		if (req->offset)
			return -EINVAL;
		n = snprintf(name, sizeof(name), "__x64_sys_%s", req->symbol);
	} else {
		n = snprintf(name, sizeof(name), "%s", req->symbol);
	}
	if (n >= sizeof(name))
		return -EINVAL;
	func = kv_sym.lookup_name(name);
	if (!func)
		return -ENOENT;
	*func_out = func;
	if (func >= kv_sym.stext && func < kv_sym.etext) {
		func = kview_func_body(func);	/* past fentry (and endbr64) */
		if (req->offset >= kv_sym.etext - func)
			return -EINVAL;
		*addr = func + req->offset;
		return 0;
	}
	if (!kview_is_module_addr(func))
		return -EINVAL;	/* not text */
	/* module text (modtext.c): the hook in the same module's core text */
	mod = kview_modtext_get(func);
	if (IS_ERR(mod))
		return PTR_ERR(mod);
	func = kview_func_body(func);	/* reads its text: pinned meanwhile */
	*addr = func + req->offset;
	err = req->offset >= MODULES_END - func ? -EINVAL :
	      kview_modtext_check(*func_out, *addr);
	module_put(mod);
	return err;
}

/*
 * As the kernel's PERF_EVENT_IOC_SET_BPF on a syscall tracepoint event: a
 * tracepoint program that reads no further than the context (EACCES).
 * The kernel bounds it by the event's format (fewer arguments for most
 * syscalls); ours holds all six.
 */
static int check_tp_prog(struct bpf_prog *prog, u32 kind)
{
	u32 size = kind == KVIEW_HOOK_SYSCALL_EXIT ?
		   sizeof(struct kview_sys_exit_ctx) :
		   sizeof(struct kview_sys_enter_ctx);

	return prog->aux->max_ctx_offset > size ? -EACCES : 0;
}

/*
 * A program we can run from a hook of @kind, or a precise refusal: a kprobe
 * program on any hook, a tracepoint program on a syscall hook only (run
 * with the context of a syscall tracepoint, hit.c).
 */
int kview_get_prog(int fd, u32 kind, struct bpf_prog **out)
{
	struct bpf_prog *prog;
	int err = 0;

	if (fd < 0)
		return -EBADF;
	prog = bpf_prog_get_type_dev(fd, BPF_PROG_TYPE_KPROBE, false);
	if (PTR_ERR_OR_ZERO(prog) == -EINVAL && kview_hook_is_syscall(kind))
		prog = bpf_prog_get_type_dev(fd, BPF_PROG_TYPE_TRACEPOINT, false);
	if (IS_ERR(prog))
		return PTR_ERR(prog);	/* EBADF, EINVAL (other type) */
	if (prog->type == BPF_PROG_TYPE_TRACEPOINT)
		err = check_tp_prog(prog, kind);
	else if (prog->expected_attach_type == BPF_TRACE_KPROBE_MULTI ||
		 prog->kprobe_override || kview_prog_sleepable(prog))
		err = -EINVAL;
	if (err) {
		bpf_prog_put(prog);
		return err;
	}
	*out = prog;
	return 0;
}

static void add_to_view(struct kview_view *v, struct kview_hook *h)
{
	v->hooks[v->nr_hooks++] = h;
	if (!kview_hook_is_internal(h->kind))
		v->nr_user_hooks++;
}

/* Write our int3 into the view's private copy only. */
static void plant_int3(struct kview_view *v, struct kview_hook *h)
{
	int o = offset_in_page(h->site->kp.addr);
	u8 *byte = (u8 *)page_address(h->page->copy) + o;
	int half = KVIEW_HOOK_WINDOW / 2, j;

	mutex_lock(kv_sym.text_mutex);	/* serializes with mirror.c */
	for (j = -half; j <= half; j++)	/* the part inside this page */
		if (o + j >= 0 && o + j < PAGE_SIZE)
			h->orig[j + half] = byte[j];
	h->orig[half] = h->site->kp.opcode;
	WRITE_ONCE(*byte, KVIEW_INT3);
	h->page->nr_hooks++;
	add_to_view(v, h);
	mutex_unlock(kv_sym.text_mutex);
	kview_flush_view(v);	/* serializes the CPUs that may run the copy */
}

/*
 * @fd: a hook descriptor's (perf_fd.c), which may share its address with
 * any other hook of the view and counts against KVIEW_MAX_VIEW_HOOKS only.
 */
static int hook_add(struct kview_view *v, u32 session,
		    struct kview_hook_add *req, bool fd, struct kview_hook **out)
{
	bool shared = v->flags & KVIEW_VIEW_SHARED_TEXT;
	bool internal = kview_hook_is_internal(req->kind);
	struct kview_hook *h;
	unsigned long addr, func;
	u32 i;
	int err;

	err = hook_address(req, &addr, &func);
	if (err)
		return err;
	/* One entry hook and one return hook per address and session. */
	for (i = 0; i < v->nr_hooks && !internal && !fd; i++)
		if ((unsigned long)v->hooks[i]->site->kp.addr == addr &&
		    v->hooks[i]->session == session &&
		    !kview_hook_is_internal(v->hooks[i]->kind) &&
		    !v->hooks[i]->fd &&
		    kview_hook_is_return(v->hooks[i]->kind) ==
		    kview_hook_is_return(req->kind))
			return -EEXIST;
	if (internal ? v->nr_hooks - v->nr_user_hooks >= KVIEW_FOLLOW_HOOKS :
		       v->nr_user_hooks >= (fd ? KVIEW_MAX_VIEW_HOOKS : KVIEW_MAX_HOOKS))
		return -ENOSPC;
	if (!v->hooks) {	/* mirror.c reads it only once nr_hooks > 0 */
		v->hooks = kvcalloc(KVIEW_MAX_VIEW_HOOKS + KVIEW_FOLLOW_HOOKS,
				    sizeof(*v->hooks), GFP_KERNEL);
		if (!v->hooks)
			return -ENOMEM;
	}

	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return -ENOMEM;
	if (req->flags & KVIEW_HOOK_F_BPF) {
		err = kview_get_prog(req->prog_fd, req->kind, &h->prog);
		if (err)
			goto err_free;
	}
	h->view = v;
	h->session = session;
	h->fd = fd;
	if (!req->offset && !kview_hook_is_return(req->kind))
		kview_entry_kprobe(&h->entry_kp, func);
	h->before = min_t(u32, req->offset, KVIEW_HOOK_WINDOW / 2);
	h->id = internal ? U32_MAX : v->nr_user_hooks;
	h->kind = req->kind;
	h->cookie = req->cookie;
	strscpy(h->symbol, req->symbol, sizeof(h->symbol));

	h->site = site_get(addr, shared);
	if (IS_ERR(h->site)) {
		err = PTR_ERR(h->site);
		goto err_free;
	}
	if (!shared) {
		err = kview_view_map_page(v, addr, &h->page);
		if (err)
			goto err_site;
	}

	mutex_lock(&site_lock);
	err = kview_hook_is_return(h->kind) ? site_enable_return(h->site) : 0;
	if (!err)
		list_add_rcu(&h->site_node, &h->site->subs);
	mutex_unlock(&site_lock);
	if (err)
		goto err_site;
	if (shared)
		add_to_view(v, h);	/* the kprobe core armed it */
	else
		plant_int3(v, h);

	req->hook_id = h->id;
	req->addr = addr;
	if (out)
		*out = h;
	return 0;

err_site:
	site_put(h->site);
err_free:
	if (h->prog)
		bpf_prog_put(h->prog);
	kfree(h);
	return err;
}

int kview_hook_add(struct kview_view *v, u32 session, struct kview_hook_add *req)
{
	if (req->kind < KVIEW_HOOK_KPROBE || req->kind > KVIEW_HOOK_SYSCALL_EXIT)
		return -EINVAL;
	return hook_add(v, session, req, false, NULL);
}

/* A hook descriptor's hook (perf_fd.c): no program yet, @req->flags ignored. */
int kview_hook_add_fd(struct kview_view *v, u32 session,
		      struct kview_hook_add *req, struct kview_hook **out)
{
	if (req->kind < KVIEW_HOOK_KPROBE || req->kind > KVIEW_HOOK_SYSCALL_EXIT)
		return -EINVAL;
	req->flags = 0;
	return hook_add(v, session, req, true, out);
}

/* One of the view's own hooks (follow.c) at the entry of @symbol. */
int kview_hook_add_internal(struct kview_view *v, u32 kind, const char *symbol)
{
	struct kview_hook_add req = { .kind = kind };

	strscpy(req.symbol, symbol, sizeof(req.symbol));
	return hook_add(v, 0, &req, false, NULL);
}

static int follow_hook(struct kview_view *v, u32 kind, const char *symbol)
{
	int err = kview_hook_add_internal(v, kind, symbol);

	if (err)
		pr_info("view %u: cannot hook %s (%d): fork/exec following unavailable\n",
			v->id, symbol, err);
	return err;
}

/*
 * The view's own hooks (follow.c), planted like a user's before the target
 * can fork: only its processes ever run them.
 */
int kview_follow_init(struct kview_view *v)
{
	int err = 0;

	if (v->flags & KVIEW_VIEW_FOLLOW_FORK)
		err = follow_hook(v, KVIEW_HOOK_FOLLOW_FORK, "wake_up_new_task");
	if (!err && (v->flags & KVIEW_VIEW_EXEC_REAPPLY))
		err = follow_hook(v, KVIEW_HOOK_FOLLOW_EXEC, "begin_new_exec");
	return err;
}

/*
 * Take @h's program off it, and put it at once, while the hook stays (a
 * closed hook descriptor's, a closed session's). The program's memory is
 * freed after an RCU grace period once its last reference goes
 * (bpf_prog_put() defers the free), as for a kprobe event's program array:
 * a handler that read h->prog under rcu_read_lock() before the exchange
 * finishes safely, so no grace period is waited for here (a tool closes
 * hundreds of descriptors at exit).
 */
void kview_hook_drop_prog(struct kview_hook *h)
{
	struct bpf_prog *prog = xchg(&h->prog, NULL);

	if (prog)
		bpf_prog_put(prog);
}

/*
 * Session @session left view @v, which other sessions keep: its hooks stay
 * planted (hooks leave a view only with it) but count nothing more and run
 * no program. Its hook descriptors are closed already (each holds the
 * session's file). Caller holds v->lock.
 */
void kview_hooks_close_session(struct kview_view *v, u32 session)
{
	u32 i;

	for (i = 0; i < v->nr_hooks; i++) {
		struct kview_hook *h = v->hooks[i];

		if (h->session != session)
			continue;
		WRITE_ONCE(h->session_closed, true);
		kview_hook_drop_prog(h);
	}
}

/*
 * Detach every hook of an unmapped view from its site; the last user of a
 * shared-text site unregisters its kprobe (one grace period for a batch of
 * KVIEW_SITE_BATCH), private sites go idle (site_drop()). The private
 * copies are freed by the caller after this returns; the hooks and their
 * programs, which a handler that started before may still be running, by
 * kview_hooks_free() after a grace period nobody waits for here: on
 * PREEMPT_RT each one wakes RCU's and the timers' RT threads, whose sleep
 * again sends other CPUs push IPIs (docs/design.md §7, R3).
 */
void kview_hooks_release(struct kview_view *v)
{
	struct site_batch b = { .n = 0 };
	u32 i;

	WARN_ON_ONCE(v->installed);
	mutex_lock(&site_lock);
	for (i = 0; i < v->nr_hooks; i++)
		list_del_rcu(&v->hooks[i]->site_node);
	for (i = 0; i < v->nr_hooks; i++)
		if (site_drop(v->hooks[i]->site))
			site_batch_add(&b, v->hooks[i]->site);
	site_batch_flush(&b);
	mutex_unlock(&site_lock);
}

/* A grace period after kview_hooks_release(): no handler sees them. */
void kview_hooks_free(struct kview_view *v)
{
	u32 i;

	for (i = 0; i < v->nr_hooks; i++) {
		if (v->hooks[i]->prog)
			bpf_prog_put(v->hooks[i]->prog);
		kfree(v->hooks[i]);
	}
	kvfree(v->hooks);
}
