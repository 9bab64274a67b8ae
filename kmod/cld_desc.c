// SPDX-License-Identifier: GPL-2.0
/*
 * The description of a frozen group (struct cld_proc, the shared codec's
 * input): the per-thread snapshots the threads took themselves
 * (cld_snap.c) plus the process-wide state read here, every field filled
 * the way the ptrace backend (common/freeze_ptrace*.c) fills it from /proc
 * and injected calls, so both backends give the same bytes.  Mappings are
 * in cld_vmas.c, fds in cld_fds.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/hrtimer.h>
#include <linux/mm.h>
#include <linux/namei.h>
#include <linux/pid_namespace.h>
#include <linux/posix-timers.h>
#include <linux/sched/coredump.h>
#include <linux/sched/mm.h>
#include <linux/sched/prio.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/seccomp.h>
#include <linux/slab.h>
#include <linux/tty.h>
#include <linux/utsname.h>
#include <linux/version.h>
#include <linux/audit.h>
#include <uapi/linux/membarrier.h>

#include "cld_desc.h"
#include "cld_fds.h"
#include "cld_image.h"
#include "cld_vmas.h"

#define PG CLD_PAGE_SIZE

/* ---- helpers ----------------------------------------------------------- */

/*
 * d_path() into a fresh string.  Unlinked files come back with the
 * " (deleted)" suffix d_path() appends; *deleted tells, and strip removes
 * it (VMA names carry the fact in CLD_VMA_DELETED instead).
 */
char *cld_path(const struct path *path, bool strip, bool *deleted)
{
	char *buf, *p, *res = NULL;
	size_t len;

	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	p = d_path(path, buf, PATH_MAX);
	if (IS_ERR(p)) {
		res = ERR_CAST(p);
		goto out;
	}
	len = strlen(p);
	if (deleted)
		*deleted = d_unlinked(path->dentry);
	if (strip && d_unlinked(path->dentry) && len >= 10 &&
	    !strcmp(p + len - 10, " (deleted)"))
		len -= 10;
	if (len > CLD_MAX_PATH) {
		res = ERR_PTR(-ENAMETOOLONG);
		goto out;
	}
	res = kmemdup_nul(p, len, GFP_KERNEL);
	if (!res)
		res = ERR_PTR(-ENOMEM);
out:
	kfree(buf);
	return res;
}

int cld_stat(const struct path *path, struct kstat *st)
{
	return vfs_getattr(path, st, STATX_BASIC_STATS, AT_STATX_SYNC_AS_STAT);
}

/* Lock t's sighand, coping with a concurrent exit (it becomes NULL). */
static struct sighand_struct *cld_lock_sighand(struct task_struct *t,
					       unsigned long *flags)
{
	struct sighand_struct *sh;

	for (;;) {
		rcu_read_lock();
		sh = rcu_dereference(t->sighand);
		if (!sh) {
			rcu_read_unlock();
			return NULL;
		}
		spin_lock_irqsave(&sh->siglock, *flags);
		if (likely(sh == rcu_access_pointer(t->sighand))) {
			rcu_read_unlock();
			return sh;
		}
		spin_unlock_irqrestore(&sh->siglock, *flags);
		rcu_read_unlock();
	}
}

/* ---- process-wide state ------------------------------------------------ */

static void cld_fill_ids(struct cld_frz *frz, struct task_struct *t,
			 s32 *pid, s32 *ppid, s32 *pgid, s32 *sid)
{
	struct pid_namespace *ns = frz->ns;

	rcu_read_lock();
	if (pid)
		*pid = task_pid_nr_ns(t, ns);
	*ppid = pid_alive(t) ?
		task_tgid_nr_ns(rcu_dereference(t->real_parent), ns) : 0;
	*pgid = task_pgrp_nr_ns(t, ns);
	*sid = task_session_nr_ns(t, ns);
	rcu_read_unlock();
}

static int cld_snap_fs(struct cld_proc *p, struct task_struct *t)
{
	struct path pwd = {}, root = {};
	bool have = false;
	char *s;
	int err = 0;

	task_lock(t);
	if (t->fs) {
		spin_lock(&t->fs->lock);
		pwd = t->fs->pwd;
		root = t->fs->root;
		path_get(&pwd);
		path_get(&root);
		p->proc.umask = t->fs->umask;
		spin_unlock(&t->fs->lock);
		have = true;
	}
	task_unlock(t);
	if (!have)
		return -ESRCH;
	s = cld_path(&pwd, false, NULL);
	if (IS_ERR(s))
		err = PTR_ERR(s);
	else
		p->cwd = s;
	s = cld_path(&root, false, NULL);
	if (IS_ERR(s))
		err = err ?: PTR_ERR(s);
	else
		p->root = s;
	path_put(&pwd);
	path_put(&root);
	return err;
}

static void cld_fill_creds(struct cld_frz *frz, struct cld_proc *p,
			   struct task_struct *t)
{
	const struct cred *c = get_task_cred(t);
	struct user_namespace *ns = frz->user_ns;
	struct group_info *gi = c->group_info;
	u32 i, n;

	p->creds.uid = from_kuid_munged(ns, c->uid);
	p->creds.euid = from_kuid_munged(ns, c->euid);
	p->creds.suid = from_kuid_munged(ns, c->suid);
	p->creds.fsuid = from_kuid_munged(ns, c->fsuid);
	p->creds.gid = from_kgid_munged(ns, c->gid);
	p->creds.egid = from_kgid_munged(ns, c->egid);
	p->creds.sgid = from_kgid_munged(ns, c->sgid);
	p->creds.fsgid = from_kgid_munged(ns, c->fsgid);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	p->creds.cap_inh = c->cap_inheritable.val;
	p->creds.cap_prm = c->cap_permitted.val;
	p->creds.cap_eff = c->cap_effective.val;
	p->creds.cap_bnd = c->cap_bset.val;
	p->creds.cap_amb = c->cap_ambient.val;
#else
#define CLD_CAP64(k) (((u64)(k).cap[1] << 32) | (k).cap[0])
	p->creds.cap_inh = CLD_CAP64(c->cap_inheritable);
	p->creds.cap_prm = CLD_CAP64(c->cap_permitted);
	p->creds.cap_eff = CLD_CAP64(c->cap_effective);
	p->creds.cap_bnd = CLD_CAP64(c->cap_bset);
	p->creds.cap_amb = CLD_CAP64(c->cap_ambient);
#undef CLD_CAP64
#endif
	p->creds.securebits = c->securebits;
	n = gi ? min_t(u32, gi->ngroups, CLD_MAX_GROUPS) : 0;
	if (n)
		p->groups = kvmalloc_array(n, sizeof(u32), GFP_KERNEL);
	if (p->groups) {
		for (i = 0; i < n; i++)
			p->groups[i] = from_kgid_munged(ns, gi->gid[i]);
		p->creds.nr_groups = n;
	}
	put_cred(c);
}

static void cld_fill_itimers(struct cld_proc *p, struct signal_struct *sig,
			     u64 cpu_ns[2])
{
	struct hrtimer *tmr = &sig->real_timer;
	struct timespec64 ts;
	ktime_t rem = 0;
	int i;

	/* ITIMER_REAL as getitimer() reports it. */
	if (hrtimer_active(tmr)) {
		rem = __hrtimer_get_remaining(tmr, false);
		if (rem <= 0)
			rem = NSEC_PER_USEC;
	}
	ts = ktime_to_timespec64(rem);
	p->proc.itimer[0].value_sec = ts.tv_sec;
	p->proc.itimer[0].value_usec = ts.tv_nsec / NSEC_PER_USEC;
	ts = ktime_to_timespec64(sig->it_real_incr);
	p->proc.itimer[0].interval_sec = ts.tv_sec;
	p->proc.itimer[0].interval_usec = ts.tv_nsec / NSEC_PER_USEC;

	/* ITIMER_VIRTUAL, ITIMER_PROF: expiry against the group's CPU time. */
	for (i = 0; i < 2; i++) {
		struct cpu_itimer *it = &sig->it[i];
		u64 val = 0;

		if (it->expires)
			val = it->expires > cpu_ns[i] ?
			      it->expires - cpu_ns[i] : NSEC_PER_USEC;
		ts = ns_to_timespec64(val);
		p->proc.itimer[1 + i].value_sec = ts.tv_sec;
		p->proc.itimer[1 + i].value_usec = ts.tv_nsec / NSEC_PER_USEC;
		ts = ns_to_timespec64(it->incr);
		p->proc.itimer[1 + i].interval_sec = ts.tv_sec;
		p->proc.itimer[1 + i].interval_usec = ts.tv_nsec / NSEC_PER_USEC;
	}
}

static int cld_fill_signals(struct cld_proc *p, struct task_struct *t)
{
	struct sighand_struct *sh;
	struct sigqueue *sq;
	unsigned long flags;
	unsigned int n = 0, want = 0, i;

	/* Count, allocate unlocked, copy what still fits. */
	sh = cld_lock_sighand(t, &flags);
	if (!sh)
		return -ESRCH;
	list_for_each_entry(sq, &t->signal->shared_pending.list, list)
		want++;
	spin_unlock_irqrestore(&sh->siglock, flags);
	want = min_t(unsigned int, want, CLD_MAX_SIGQ);
	if (want) {
		p->shared_queue = kvcalloc(want, sizeof(*p->shared_queue),
					   GFP_KERNEL);
		if (!p->shared_queue)
			return -ENOMEM;
	}

	sh = cld_lock_sighand(t, &flags);
	if (!sh)
		return -ESRCH;
	for (i = 0; i < 64; i++) {
		const struct sigaction *sa = &sh->action[i].sa;

		p->sig.action[i].handler = (unsigned long)sa->sa_handler;
		p->sig.action[i].flags = sa->sa_flags;
		p->sig.action[i].restorer = (unsigned long)sa->sa_restorer;
		p->sig.action[i].mask = sa->sa_mask.sig[0];
	}
	p->sig.shared_pending = t->signal->shared_pending.signal.sig[0];
	list_for_each_entry(sq, &t->signal->shared_pending.list, list) {
		if (n == want)
			break;
		memcpy(p->shared_queue[n].bytes, &sq->info,
		       min(sizeof(p->shared_queue[n].bytes), sizeof(sq->info)));
		n++;
	}
	p->sig.nr_shared_queue = n;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
	{
		struct hlist_node *hn;

		hlist_for_each(hn, &t->signal->posix_timers)
			p->proc.nr_posix_timers++;
	}
#else
	{
		struct list_head *ln;

		list_for_each(ln, &t->signal->posix_timers)
			p->proc.nr_posix_timers++;
	}
#endif
	spin_unlock_irqrestore(&sh->siglock, flags);
	return 0;
}

/*
 * What membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS) answers (6.3 and
 * later; the ptrace backend cannot ask before, so neither do we), from the
 * mm's state as kernel/sched/membarrier.c maps it.
 */
static void cld_fill_membarrier(struct cld_proc *p, struct mm_struct *mm)
{
#if defined(CONFIG_MEMBARRIER) && LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	static const struct {
		int state, cmd;
	} map[] = {
		{ MEMBARRIER_STATE_GLOBAL_EXPEDITED | MEMBARRIER_STATE_GLOBAL_EXPEDITED_READY,
		  MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED },
		{ MEMBARRIER_STATE_PRIVATE_EXPEDITED | MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY,
		  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED },
		{ MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE |
			  MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE_READY,
		  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE },
		{ MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ |
			  MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ_READY,
		  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ },
	};
	int st = atomic_read(&mm->membarrier_state);
	u32 i;

	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (st & map[i].state)
			p->proc.membarrier |= map[i].cmd;
	p->proc.flags2 |= CLD_PROC2_MEMBARRIER;
#endif
}

/* Children of any of its threads, zombies included: restarted alone, its
 * wait() and kill() of them would fail. */
static bool cld_has_children(struct task_struct *t)
{
	struct task_struct *th;
	bool has = false;

	/* tasklist_lock is not exported: a look at each list head under RCU
	 * is enough for a frozen group, which forks no more. */
	rcu_read_lock();
	for_each_thread(t, th)
		if (!list_empty_careful(&th->children)) {
			has = true;
			break;
		}
	rcu_read_unlock();
	return has;
}

static int cld_fill_proc(struct cld_frz *frz, struct cld_proc *p,
			 struct task_struct *t, struct mm_struct *mm,
			 u64 cpu_ns[2])
{
	struct signal_struct *sig = t->signal;
	struct task_struct *leader;
	unsigned long flags;
	u32 i;
	int err;

	rcu_read_lock();
	leader = t->group_leader;
	p->proc.tgid = task_tgid_nr_ns(t, frz->ns);
	p->proc.start_time = cld_ns_to_ticks(leader->start_boottime);
	rcu_read_unlock();
	p->proc.pid = p->proc.tgid;
	cld_fill_ids(frz, t, NULL, &p->proc.ppid, &p->proc.pgid,
		     &p->proc.sid);
	p->proc.personality = t->personality;
	p->proc.nice = PRIO_TO_NICE(t->static_prio);
	__get_task_comm(p->proc.comm, sizeof(p->proc.comm), t);
	p->proc.pdeath_signal = t->pdeath_signal;
	p->proc.exit_signal = t->exit_signal;
	if (task_no_new_privs(t))
		p->proc.flags |= CLD_PROC_NO_NEW_PRIVS;
#ifdef CONFIG_SECCOMP
	if (t->seccomp.mode == SECCOMP_MODE_FILTER)
		p->proc.flags |= CLD_PROC_SECCOMP;
#endif
	if (sig->is_child_subreaper)
		p->proc.flags |= CLD_PROC_SUBREAPER;
	if (get_dumpable(mm) != SUID_DUMP_DISABLE)
		p->proc.flags |= CLD_PROC_DUMPABLE;
	if (cld_has_children(t))
		p->proc.flags |= CLD_PROC_CHILDREN;
	if (test_bit(MMF_DISABLE_THP, &mm->flags))
		p->proc.flags |= CLD_PROC_THP_DISABLE;
	p->proc.oom_score_adj = sig->oom_score_adj;
#ifdef CONFIG_AUDIT
	/* As /proc/PID/loginuid prints it (from the initial namespace). */
	p->proc.loginuid = from_kuid(&init_user_ns, audit_get_loginuid(t));
	p->proc.flags2 |= CLD_PROC2_LOGINUID;
#endif

	/* rlimits and itimers live in signal_struct, under siglock. */
	if (!cld_lock_sighand(t, &flags))
		return -ESRCH;
	BUILD_BUG_ON(RLIM_NLIMITS != 16);
	for (i = 0; i < RLIM_NLIMITS; i++) {
		p->proc.rlim[i].cur = sig->rlim[i].rlim_cur;
		p->proc.rlim[i].max = sig->rlim[i].rlim_max;
	}
	cld_fill_itimers(p, sig, cpu_ns);
	/* stat's tty_nr, read under the same lock as /proc does */
	if (sig->tty)
		p->proc.tty_nr = new_encode_dev(tty_devnum(sig->tty));
	spin_unlock_irqrestore(&t->sighand->siglock, flags);
	cld_fill_membarrier(p, mm);

	err = cld_snap_fs(p, t);
	if (err)
		return err;
	cld_fill_creds(frz, p, t);
	return cld_fill_signals(p, t);
}

static void cld_fill_psinfo(struct cld_frz *frz, struct cld_proc *p,
			    struct task_struct *t, struct mm_struct *mm)
{
	struct cld_prpsinfo *ps = &p->psinfo;
	const struct cred *c;
	unsigned long len;
	int i;

	/* The frozen state, whatever the task did before: 'T' (format rule). */
	ps->pr_state = 3;
	ps->pr_sname = 'T';
	ps->pr_zomb = 0;
	ps->pr_nice = PRIO_TO_NICE(t->static_prio);
	ps->pr_flag = 0; /* image-format.md: task flags differ by backend */
	c = get_task_cred(t);
	ps->pr_uid = from_kuid_munged(frz->user_ns, c->uid);
	ps->pr_gid = from_kgid_munged(frz->user_ns, c->gid);
	put_cred(c);
	ps->pr_pid = p->proc.tgid;
	ps->pr_ppid = p->proc.ppid;
	ps->pr_pgrp = p->proc.pgid;
	ps->pr_sid = p->proc.sid;
	memcpy(ps->pr_fname, p->proc.comm, sizeof(ps->pr_fname));
	/*
	 * As Linux core dumps fill it (image-format.md 5.1): the first
	 * min(arg_end - arg_start, 79) bytes, every NUL a space, then NUL.
	 */
	len = mm->arg_end - mm->arg_start;
	if (len >= sizeof(ps->pr_psargs))
		len = sizeof(ps->pr_psargs) - 1;
	if (len && cld_read_mem(mm, mm->arg_start, (u8 *)ps->pr_psargs, len))
		len = 0;
	for (i = 0; i < len; i++)
		if (!ps->pr_psargs[i])
			ps->pr_psargs[i] = ' ';
	memset(ps->pr_psargs + len, 0, sizeof(ps->pr_psargs) - len);
}

static int cld_fill_mm(struct cld_proc *p, struct mm_struct *mm)
{
	struct cld_mm_rec *m = &p->mm;
	struct file *exe;
	unsigned int n = 0;

	m->start_code = mm->start_code;
	m->end_code = mm->end_code;
	m->start_data = mm->start_data;
	m->end_data = mm->end_data;
	m->start_brk = mm->start_brk;
	m->brk = mm->brk;
	m->start_stack = mm->start_stack;
	m->arg_start = mm->arg_start;
	m->arg_end = mm->arg_end;
	m->env_start = mm->env_start;
	m->env_end = mm->env_end;

	/* What /proc/PID/auxv returns: pairs up to and including AT_NULL. */
	do {
		n += 2;
	} while (n < ARRAY_SIZE(mm->saved_auxv) && mm->saved_auxv[n - 2]);
	n = min_t(unsigned int, n * sizeof(unsigned long), CLD_MAX_AUXV);
	p->auxv = kmemdup(mm->saved_auxv, n, GFP_KERNEL);
	if (!p->auxv)
		return -ENOMEM;
	m->auxv_len = n;

	/* The exe file cannot change while every thread is parked. */
	mmap_read_lock(mm);
	exe = mm->exe_file;
	if (exe)
		get_file(exe);
	mmap_read_unlock(mm);
	if (exe) {
		struct kstat st;
		char *s = cld_path(&exe->f_path, false, NULL);

		if (!IS_ERR(s))
			p->exe = s;
		if (!cld_stat(&exe->f_path, &st)) {
			m->exe_dev = cld_dev(st.dev);
			m->exe_ino = st.ino;
			m->exe_size = st.size;
			m->exe_mtime_ns = cld_ts_ns(st.mtime);
		}
		fput(exe);
	}
	return 0;
}

/* ---- threads ----------------------------------------------------------- */

/*
 * Threads in the order /proc/PID/task lists them (the group's thread list:
 * leader first, then by creation), which is also the order readers show.
 */
static int cld_fill_threads(struct cld_frz *frz, struct cld_proc *p,
			    struct task_struct **first, u64 cpu_ns[2])
{
	struct task_struct *any = NULL, *t;
	struct cld_thr **thr;
	u32 i, n = 0, got = 0;
	int err = 0;

	spin_lock(&frz->lock);
	for (i = 0; i < frz->nr_thr; i++) {
		if (frz->thr[i]->parked && frz->thr[i]->snapped) {
			n++;
			any = any ?: frz->thr[i]->task;
		}
		if (frz->thr[i]->parked && frz->thr[i]->snap_err) {
			spin_unlock(&frz->lock);
			return frz->thr[i]->snap_err;
		}
	}
	spin_unlock(&frz->lock);
	if (!n)
		return -ESRCH;
	p->threads = kvcalloc(n, sizeof(*p->threads), GFP_KERNEL);
	thr = kvcalloc(n, sizeof(*thr), GFP_KERNEL);
	if (!p->threads || !thr) {
		err = -ENOMEM;
		goto out;
	}

	rcu_read_lock();
	for_each_thread(any, t) {
		for (i = 0; i < frz->nr_thr; i++) {
			struct cld_thr *th = frz->thr[i];

			if (th->task != t || !th->parked || !th->snapped)
				continue;
			if (got < n)
				thr[got++] = th;
			break;
		}
	}
	rcu_read_unlock();
	if (got != n) {
		err = -ESRCH; /* one left the list: it is dying */
		goto out;
	}
	*first = thr[0]->task;

	for (i = 0; i < n; i++) {
		struct cld_thread *kt = &p->threads[i];
		struct cld_prstatus *ps = &kt->prstatus;
		struct cld_thr *th = thr[i];

		cld_fill_ids(frz, th->task, &ps->pr_pid, &ps->pr_ppid,
			     &ps->pr_pgrp, &ps->pr_sid);
		th->rec.tid = ps->pr_pid;
		/* NUL padded as strscpy_pad leaves it: what the ptrace
		 * backend reads from /proc/PID/task/TID/comm, padded. */
		__get_task_comm(th->rec.name, sizeof(th->rec.name), th->task);
		/*
		 * image-format.md 5.1: the thread's private pending set; CPU
		 * times are not restartable state and stay 0, so two images of
		 * one frozen state do not differ by a clock tick.
		 */
		ps->pr_sigpend = th->rec.pending;
		ps->pr_sighold = th->rec.blocked;
		ps->pr_reg = th->regs;
		ps->pr_fpvalid = 1;
		/* The snapshot's buffers are borrowed, not copied. */
		memcpy(kt->fpregs, th->fxsave, sizeof(kt->fpregs));
		kt->xstate = th->xstate;
		kt->xstate_len = th->xstate_len;
		kt->rec = th->rec;
		kt->queue = th->queue;
		cpu_ns[0] += th->utime_ns;
		cpu_ns[1] += th->utime_ns + th->stime_ns;
	}
	p->nr_threads = n;
out:
	kvfree(thr);
	return err;
}

/* XXH3-64 of the vDSO text, as a reader of the process would hash it. */
static u64 cld_vdso_digest(struct cld_proc *p, struct mm_struct *mm)
{
	u64 len = p->mm.vdso_end - p->mm.vdso_start, d = 0;
	u8 *buf;

	if (!p->mm.vdso_start || len > 16 * PG)
		return 0;
	buf = kvmalloc(len, GFP_KERNEL);
	if (!buf)
		return 0;
	if (!cld_read_mem(mm, p->mm.vdso_start, buf, len))
		d = cld_xxh3(buf, len);
	kvfree(buf);
	return d;
}

void cld_desc_free(struct cld_proc *p)
{
	/* The threads' snapshot buffers belong to their cld_thr. */
	cld_proc_drop(p, 0);
	kfree(p);
}

int cld_desc_build(struct cld_frz *frz, struct cld_proc *p,
		   struct mm_struct **mmp)
{
	struct task_struct *t = NULL;
	struct new_utsname *u;
	struct mm_struct *mm;
	u64 cpu_ns[2] = { 0, 0 };
	int err;

	err = cld_fill_threads(frz, p, &t, cpu_ns);
	if (err)
		return err;
	mm = get_task_mm(t);
	if (!mm)
		return -ESRCH;
	*mmp = mm;

	p->hdr.flags = CLD_IMG_LIVE;
	p->hdr.created_ns = ktime_get_real_ns();
	strscpy(p->hdr.backend, "kmod", sizeof(p->hdr.backend));
	strscpy(p->hdr.producer, "clondike.ko " CLD_MODULE_VERSION,
		sizeof(p->hdr.producer));
	/* The freezer's view of the node (its uts namespace). */
	u = utsname();
	strscpy(p->hdr.node, u->nodename, sizeof(p->hdr.node));
	strscpy(p->hdr.kernel, u->release, sizeof(p->hdr.kernel));

	err = cld_fill_proc(frz, p, t, mm, cpu_ns);
	if (err)
		return err;
	err = cld_fill_mm(p, mm);
	if (err)
		return err;
	cld_fill_psinfo(frz, p, t, mm);
	err = cld_fill_vmas(p, mm);
	if (err)
		return err;
	err = cld_fill_fds(p, t, frz->ns);
	if (err)
		return err;
	p->hdr.vdso_digest = cld_vdso_digest(p, mm);
	return 0;
}
