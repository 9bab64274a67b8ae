// SPDX-License-Identifier: GPL-2.0
/*
 * The image of a frozen group, generated in the kernel.
 *
 * cld_img_build() runs once, in the freezer, after every thread parked:
 * it describes the process (the per-thread snapshots the threads took
 * themselves plus the process-wide state read here), finds which pages
 * have data (page table lookups that never fault), encodes the ELF header,
 * program headers and first note segment, and keeps a reference on the mm.
 * That is O(mappings + threads + present pages' table entries); no page
 * is copied.  Page data and digests are produced by cld_img_read().
 *
 * The byte layout follows docs/image-format.md and must equal what the
 * userspace writer (common/image.c) produces for the same description:
 * note order, padding, segment rule (CLD_ANON_GAP_PAGES), digest note.
 * The encoder here is a kernel rewrite of those rules, not a copy of the
 * code; tests/qemu compares the two byte for byte.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/elf.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/highmem.h>
#include <linux/hrtimer.h>
#include <linux/kdev_t.h>
#include <linux/magic.h>
#include <linux/major.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/namei.h>
#include <linux/pid_namespace.h>
#include <linux/pipe_fs_i.h>
#include <linux/posix-timers.h>
#include <linux/sched/coredump.h>
#include <linux/sched/mm.h>
#include <linux/sched/prio.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/seccomp.h>
#include <linux/slab.h>
#include <linux/stat.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>
#include <linux/vmalloc.h>

#include "cld_internal.h"

#define PG CLD_PAGE_SIZE

/* ---- the description (kernel twin of struct cld_proc) ------------------ */

struct cld_kext {
	u64 first, count; /* pages relative to the VMA start */
};

struct cld_kvma {
	struct cld_vma_rec rec;
	char *name; /* kmalloc'ed or NULL */
	struct cld_kext *ext;
	u32 nr_ext, cap_ext;
};

struct cld_kfd {
	struct cld_fd_rec rec;
	char *name;
};

struct cld_kpipe {
	u64 ino;
	u32 len;
	u8 *data;
};

struct cld_kthread {
	struct cld_prstatus prstatus;
	struct cld_thr *th; /* fxsave, rec, queue */
};

struct cld_kproc {
	struct cld_hdr hdr;
	struct cld_proc_rec proc;
	char *cwd, *root, *exe;
	struct cld_mm_rec mm;
	struct cld_creds_rec creds;
	u32 *groups;
	struct cld_prpsinfo psinfo;
	u8 auxv[CLD_MAX_AUXV];
	struct cld_signals_rec sig;
	struct cld_siginfo *shared_queue;
	struct cld_kthread *threads;
	u32 nr_threads;
	struct cld_kvma *vmas;
	u32 nr_vmas;
	struct cld_kfd *fds;
	u32 nr_fds;
	struct cld_kpipe *pipes;
	u32 nr_pipes;
};

/* A data segment's run of dumped pages, located in the file. */
struct cld_run {
	u64 vaddr, count, off, idx;
};

struct cld_kseg {
	u64 vaddr, memsz, offset, filesz;
	u32 vma, pflags;
	u64 first_dumped;
};

struct cld_img {
	struct mm_struct *mm; /* mmget() held while the image exists */
	u8 *head; /* ELF header, phdrs, [shdr], first note segment */
	size_t head_len;
	u64 notes_off, notes_size, data_off, tail_off, tail_size, size;
	u64 nr_dumped;
	struct cld_run *runs; /* sorted by vaddr and by file offset */
	size_t nr_runs;
	u8 tail_hdr[40]; /* Elf64_Nhdr, "CLONDIKE\0" padded to 12, digests hdr */
	u64 *digest;
	unsigned long *digest_ok;
};

static void cld_kproc_free(struct cld_kproc *p)
{
	u32 i;

	kfree(p->cwd);
	kfree(p->root);
	kfree(p->exe);
	kvfree(p->groups);
	kvfree(p->shared_queue);
	kvfree(p->threads);
	for (i = 0; i < p->nr_vmas; i++) {
		kfree(p->vmas[i].name);
		kvfree(p->vmas[i].ext);
	}
	kvfree(p->vmas);
	for (i = 0; i < p->nr_fds; i++)
		kfree(p->fds[i].name);
	kvfree(p->fds);
	for (i = 0; i < p->nr_pipes; i++)
		kvfree(p->pipes[i].data);
	kfree(p->pipes);
	kfree(p);
}

/* ---- helpers ----------------------------------------------------------- */

static u64 cld_dev(dev_t d)
{
	return ((u64)MAJOR(d) << 32) | MINOR(d);
}

static s64 cld_ts_ns(struct timespec64 ts)
{
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* Clock ticks the way /proc/PID/stat reports them (USER_HZ). */
static u64 cld_ns_to_ticks(u64 ns)
{
	return div_u64(ns, NSEC_PER_SEC / USER_HZ);
}

/*
 * d_path() into a fresh string.  Unlinked files come back with the
 * " (deleted)" suffix d_path() appends; *deleted tells, and strip removes
 * it (VMA names carry the fact in CLD_VMA_DELETED instead).
 */
static char *cld_path(const struct path *path, bool strip, bool *deleted)
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

static int cld_stat(const struct path *path, struct kstat *st)
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

static int cld_read_mem(struct mm_struct *mm, unsigned long addr, u8 *kbuf,
			size_t n);

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

static int cld_snap_fs(struct cld_kproc *p, struct task_struct *t)
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

static void cld_fill_creds(struct cld_frz *frz, struct cld_kproc *p,
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

static void cld_fill_itimers(struct cld_kproc *p, struct signal_struct *sig,
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

static int cld_fill_signals(struct cld_kproc *p, struct task_struct *t)
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

static int cld_fill_proc(struct cld_frz *frz, struct cld_kproc *p,
			 struct task_struct *t, struct mm_struct *mm)
{
	struct signal_struct *sig = t->signal;
	struct task_struct *leader;
	u64 cpu_ns[2] = { 0, 0 };
	unsigned long flags;
	u32 i;
	int err;

	for (i = 0; i < p->nr_threads; i++) {
		cpu_ns[0] += p->threads[i].th->utime_ns;
		cpu_ns[1] += p->threads[i].th->utime_ns +
			     p->threads[i].th->stime_ns;
	}
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

	/* rlimits and itimers live in signal_struct, under siglock. */
	if (!cld_lock_sighand(t, &flags))
		return -ESRCH;
	BUILD_BUG_ON(RLIM_NLIMITS != 16);
	for (i = 0; i < RLIM_NLIMITS; i++) {
		p->proc.rlim[i].cur = sig->rlim[i].rlim_cur;
		p->proc.rlim[i].max = sig->rlim[i].rlim_max;
	}
	cld_fill_itimers(p, sig, cpu_ns);
	spin_unlock_irqrestore(&t->sighand->siglock, flags);

	err = cld_snap_fs(p, t);
	if (err)
		return err;
	cld_fill_creds(frz, p, t);
	return cld_fill_signals(p, t);
}

static void cld_fill_psinfo(struct cld_frz *frz, struct cld_kproc *p,
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

static void cld_fill_mm(struct cld_kproc *p, struct mm_struct *mm)
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
	memcpy(p->auxv, mm->saved_auxv, n);
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
}

/* ---- mappings and their dumped pages ----------------------------------- */

static int cld_ext_add(struct cld_kvma *v, u64 pg)
{
	struct cld_kext *e;

	if (v->nr_ext && v->ext[v->nr_ext - 1].first +
			 v->ext[v->nr_ext - 1].count == pg) {
		v->ext[v->nr_ext - 1].count++;
		return 0;
	}
	if (v->nr_ext == v->cap_ext) {
		u32 cap = v->cap_ext ? 2 * v->cap_ext : 8;

		e = kvmalloc_array(cap, sizeof(*e), GFP_KERNEL);
		if (!e)
			return -ENOMEM;
		if (v->nr_ext)
			memcpy(e, v->ext, v->nr_ext * sizeof(*e));
		kvfree(v->ext);
		v->ext = e;
		v->cap_ext = cap;
	}
	v->ext[v->nr_ext].first = pg;
	v->ext[v->nr_ext].count = 1;
	v->nr_ext++;
	return 0;
}

static int cld_ext_add_run(struct cld_kvma *v, u64 first, u64 count)
{
	int err = 0;

	/* Whole-mapping runs are short (the vDSO): page by page is fine. */
	while (count-- && !err)
		err = cld_ext_add(v, first++);
	return err;
}

static long cld_gup(struct mm_struct *mm, unsigned long addr,
		    unsigned long n, unsigned int flags, struct page **pages)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	return get_user_pages_remote(mm, addr, n, flags, pages, NULL);
#else
	return get_user_pages_remote(mm, addr, n, flags, pages, NULL, NULL);
#endif
}

/*
 * Which pages of a mapping go into the image: the policy of the ptrace
 * backend (docs/freezer.md), so both backends dump the same pages.
 */
enum cld_dump {
	CLD_DUMP_NONE,
	CLD_DUMP_ALL, /* every page: the vDSO */
	CLD_DUMP_ANY, /* present pages, page cache too (shared anon, deleted) */
	CLD_DUMP_ANON, /* present anonymous pages (private mappings) */
};

static enum cld_dump cld_policy(u32 flags)
{
	if (flags & CLD_VMA_VDSO)
		return CLD_DUMP_ALL;
	if (flags & (CLD_VMA_VVAR | CLD_VMA_VSYSCALL | CLD_VMA_SPECIAL |
		     CLD_VMA_SYSVSHM | CLD_VMA_HUGETLB))
		return CLD_DUMP_NONE;
	if (flags & CLD_VMA_SHARED) {
		/* A live file holds shared file data itself. */
		if ((flags & CLD_VMA_FILE) && !(flags & CLD_VMA_DELETED))
			return CLD_DUMP_NONE;
		return CLD_DUMP_ANY;
	}
	if (flags & CLD_VMA_DELETED)
		return CLD_DUMP_ANY;
	return CLD_DUMP_ANON;
}

/*
 * Find the pages to dump by asking GUP for each page with FOLL_NOFAULT:
 * looking must not populate anything.  A present page counts unless it is
 * the shared zero page, and under CLD_DUMP_ANON unless it is page cache
 * (what PAGEMAP_SCAN calls PAGE_IS_PFNZERO and PAGE_IS_FILE).  Swapped-out
 * pages are not seen (they would fault): docs/kmod.md.  Called with
 * mmap_read_lock held.
 */
static int cld_scan_vma(struct mm_struct *mm, struct vm_area_struct *vma,
			struct cld_kvma *v, enum cld_dump pol,
			struct page **pages)
{
	unsigned long addr = vma->vm_start;
	int err = 0;

	/*
	 * Without an anon_vma a mapping has no anonymous page, only page
	 * cache or the zero page, which this policy does not dump: skip the
	 * scan (unpopulated heaps and stacks cost nothing).
	 */
	if (pol == CLD_DUMP_ANON && !vma->anon_vma)
		return 0;
	while (addr < vma->vm_end) {
		unsigned long n = min_t(unsigned long, 64,
					(vma->vm_end - addr) >> PAGE_SHIFT);
		long got, i;

		got = cld_gup(mm, addr, n, FOLL_FORCE | FOLL_NOFAULT, pages);
		if (got <= 0) {
			/* Not present: skip this page. */
			addr += PAGE_SIZE;
			continue;
		}
		for (i = 0; i < got; i++) {
			struct page *pg = pages[i];
			bool take = !is_zero_pfn(page_to_pfn(pg));

			if (pol == CLD_DUMP_ANON && !PageAnon(pg))
				take = false;
			if (!err && take)
				err = cld_ext_add(v, ((addr - vma->vm_start) >>
						      PAGE_SHIFT) + i);
			put_page(pg);
		}
		if (err)
			return err;
		addr += got << PAGE_SHIFT;
	}
	return 0;
}

static const char *cld_special_name(struct vm_area_struct *vma)
{
	if (vma->vm_ops && vma->vm_ops->name)
		return vma->vm_ops->name(vma);
	return NULL;
}

/*
 * One mapping, described the way cld_maps_classify() reads it from
 * /proc/PID/maps (the ptrace backend): the same name, the same flags.
 */
static int cld_fill_vma(struct cld_kproc *p, struct mm_struct *mm,
			struct vm_area_struct *vma, struct cld_kvma *v,
			struct page **pages)
{
	vm_flags_t f = vma->vm_flags;
	const char *special = NULL;
	enum cld_dump pol;

	v->rec.start = vma->vm_start;
	v->rec.end = vma->vm_end;
	v->rec.prot = ((f & VM_READ) ? 1 : 0) | ((f & VM_WRITE) ? 2 : 0) |
		      ((f & VM_EXEC) ? 4 : 0);
	if (f & VM_MAYSHARE)
		v->rec.flags |= CLD_VMA_SHARED;
	/* smaps VmFlags, which the ptrace backend reads only when VmLck > 0. */
	if (mm->locked_vm) {
		if (f & VM_LOCKED)
			v->rec.flags |= CLD_VMA_LOCKED;
		if (f & VM_DONTDUMP)
			v->rec.flags |= CLD_VMA_DONTDUMP;
	}

	if (vma->vm_file) {
		struct file *file = vma->vm_file;
		struct inode *inode = file_inode(file);
		bool deleted = false;
		size_t len;
		char *s;

		s = cld_path(&file->f_path, false, &deleted);
		if (IS_ERR(s))
			return PTR_ERR(s);
		len = strlen(s);
		if ((f & VM_MAYSHARE) && !strcmp(s, "/dev/zero (deleted)")) {
			/* MAP_SHARED|MAP_ANONYMOUS: shmem, plain memory here. */
			kfree(s);
			goto scan;
		}
		if (s[0] != '/') {
			/* anon_inode:... : a name, not a file to map again. */
			v->name = s;
			v->rec.flags |= CLD_VMA_SPECIAL;
			goto scan;
		}
		if (!strncmp(s, "/SYSV", 5) && deleted) {
			v->name = s; /* with its " (deleted)" */
			v->rec.flags |= CLD_VMA_SYSVSHM;
			goto scan;
		}
		v->rec.flags |= CLD_VMA_FILE;
		if (deleted && len >= 10 && !strcmp(s + len - 10, " (deleted)")) {
			s[len - 10] = 0;
			v->rec.flags |= CLD_VMA_DELETED;
		}
		v->name = s;
		v->rec.pgoff = (u64)vma->vm_pgoff << PAGE_SHIFT;
		v->rec.dev = cld_dev(inode->i_sb->s_dev);
		v->rec.ino = inode->i_ino;
		v->rec.fsize = i_size_read(inode);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
		v->rec.mtime_ns = cld_ts_ns(inode_get_mtime(inode));
#else
		v->rec.mtime_ns = cld_ts_ns(inode->i_mtime);
#endif
		if (S_ISCHR(inode->i_mode) || S_ISBLK(inode->i_mode))
			v->rec.flags |= CLD_VMA_SPECIAL;
		goto scan;
	}

	/* The order /proc/PID/maps names anonymous mappings in. */
	special = cld_special_name(vma);
	if (special) {
		if (!strcmp(special, "[vdso]")) {
			v->rec.flags |= CLD_VMA_VDSO;
			p->mm.vdso_start = vma->vm_start;
			p->mm.vdso_end = vma->vm_end;
		} else if (!strncmp(special, "[vvar", 5)) {
			v->rec.flags |= CLD_VMA_VVAR;
			if (!p->mm.vvar_start || vma->vm_start < p->mm.vvar_start)
				p->mm.vvar_start = vma->vm_start;
			if (vma->vm_end > p->mm.vvar_end)
				p->mm.vvar_end = vma->vm_end;
		} else {
			v->rec.flags |= CLD_VMA_SPECIAL;
		}
	} else if (vma->vm_start <= mm->brk && vma->vm_end >= mm->start_brk) {
		v->rec.flags |= CLD_VMA_HEAP;
		special = "[heap]";
	} else if (vma->vm_start <= mm->start_stack &&
		   vma->vm_end >= mm->start_stack) {
		v->rec.flags |= CLD_VMA_STACK | CLD_VMA_GROWSDOWN;
		special = "[stack]";
	}
	if (special) {
		v->name = kstrdup(special, GFP_KERNEL);
		if (!v->name)
			return -ENOMEM;
	}
scan:
	pol = cld_policy(v->rec.flags);
	/* Device and pfn mappings have no pages GUP could return. */
	if (pol == CLD_DUMP_NONE || (f & (VM_IO | VM_PFNMAP)))
		return 0;
	if (pol == CLD_DUMP_ALL)
		return cld_ext_add_run(v, 0, vma_pages(vma));
	return cld_scan_vma(mm, vma, v, pol, pages);
}

static int cld_fill_vmas(struct cld_kproc *p, struct mm_struct *mm)
{
	struct vm_area_struct *vma;
	struct page **pages;
	unsigned long addr = 0;
	u32 cap = 0;
	int err = 0;

	pages = kmalloc_array(64, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	if (mmap_read_lock_killable(mm)) {
		err = -EINTR;
		goto out;
	}
	/* find_vma() is in both 6.1 and 6.12 and needs no iterator. */
	while ((vma = find_vma(mm, addr))) {
		if (p->nr_vmas == cap) {
			struct cld_kvma *n;

			cap = cap ? 2 * cap : 64;
			if (cap > CLD_MAX_VMAS + 1)
				cap = CLD_MAX_VMAS + 1;
			if (p->nr_vmas == cap) {
				err = -E2BIG;
				break;
			}
			n = kvcalloc(cap, sizeof(*n), GFP_KERNEL);
			if (!n) {
				err = -ENOMEM;
				break;
			}
			if (p->nr_vmas)
				memcpy(n, p->vmas, p->nr_vmas * sizeof(*n));
			kvfree(p->vmas);
			p->vmas = n;
		}
		err = cld_fill_vma(p, mm, vma, &p->vmas[p->nr_vmas++], pages);
		if (err)
			break;
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
out:
	kfree(pages);
	return err;
}

/* ---- file descriptors -------------------------------------------------- */

struct cld_fdcol {
	struct files_struct *files;
	struct file **file;
	int *fd;
	bool *cloexec;
	u32 n, cap;
	bool overflow;
};

/* iterate_fd() callback, under files->file_lock: only take references. */
static int cld_fd_collect(const void *arg, struct file *file, unsigned int fd)
{
	struct cld_fdcol *c = (struct cld_fdcol *)arg;

	if (c->n == c->cap) {
		c->overflow = true;
		return 1;
	}
	get_file(file);
	c->file[c->n] = file;
	c->fd[c->n] = fd;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	c->cloexec[c->n] = close_on_exec(fd, c->files);
#else
	c->cloexec[c->n] = close_on_exec(fd, files_fdtable(c->files));
#endif
	c->n++;
	return 0;
}

/* Consoles and serial lines (4), pty slaves (136-143), /dev/tty and
 * /dev/console (5:0, 5:1); not /dev/ptmx (5:2). */
static bool cld_is_tty(dev_t rdev)
{
	unsigned int maj = MAJOR(rdev);

	return maj == TTY_MAJOR || (maj == TTYAUX_MAJOR && MINOR(rdev) <= 1) ||
	       (maj >= UNIX98_PTY_SLAVE_MAJOR &&
		maj < UNIX98_PTY_SLAVE_MAJOR + UNIX98_PTY_MAJOR_COUNT);
}

static int cld_fill_fd(struct cld_kfd *k, struct file *file, int fd,
		       bool cloexec)
{
	struct kstat st;
	char *s;
	int err;

	k->rec.fd = fd;
	k->rec.fd_flags = cloexec ? FD_CLOEXEC : 0;
	/* fdinfo's flags without the O_CLOEXEC that fd_flags carries. */
	k->rec.fl_flags = file->f_flags & ~O_CLOEXEC;
	k->rec.pos = file->f_pos;
	err = cld_stat(&file->f_path, &st);
	if (err)
		return err;
	k->rec.dev = cld_dev(st.dev);
	k->rec.ino = st.ino;
	k->rec.rdev = cld_dev(st.rdev);
	/* Size and mtime identify regular files only. */
	if (S_ISREG(st.mode)) {
		k->rec.size = st.size;
		k->rec.mtime_ns = cld_ts_ns(st.mtime);
	}
	k->rec.mode = st.mode;
	if (S_ISREG(st.mode))
		k->rec.kind = CLD_FD_REG;
	else if (S_ISDIR(st.mode))
		k->rec.kind = CLD_FD_DIR;
	else if (S_ISFIFO(st.mode))
		k->rec.kind = file_inode(file)->i_sb->s_magic == PIPEFS_MAGIC ?
			      CLD_FD_PIPE : CLD_FD_FIFO;
	else if (S_ISCHR(st.mode))
		k->rec.kind = cld_is_tty(st.rdev) ? CLD_FD_TTY : CLD_FD_CHR;
	else
		k->rec.kind = CLD_FD_UNSUPPORTED;
	/* The readlink(/proc/PID/fd/N) text: a path, "pipe:[ino]", ... */
	s = cld_path(&file->f_path, false, NULL);
	if (IS_ERR(s))
		return PTR_ERR(s);
	k->name = s;
	return 0;
}

/*
 * Copy the unread bytes of a pipe without consuming them (what tee(2)
 * gives the ptrace backend): the pipe's buffers, oldest first.
 */
static int cld_peek_pipe(struct file *file, struct cld_kpipe *kp)
{
	struct pipe_inode_info *pipe = file_inode(file)->i_pipe;
	unsigned int t, mask;
	size_t total = 0, done = 0;
	int err = 0;

	if (!pipe)
		return 0;
	pipe_lock(pipe);
	mask = pipe->ring_size - 1;
	for (t = pipe->tail; t != pipe->head; t++)
		total += pipe->bufs[t & mask].len;
	total = min_t(size_t, total, CLD_MAX_PIPE_DATA);
	if (!total)
		goto out;
	kp->data = kvmalloc(total, GFP_KERNEL);
	if (!kp->data) {
		err = -ENOMEM;
		goto out;
	}
	for (t = pipe->tail; t != pipe->head && done < total; t++) {
		struct pipe_buffer *buf = &pipe->bufs[t & mask];
		size_t n = min_t(size_t, buf->len, total - done);
		void *v = kmap_local_page(buf->page);

		memcpy(kp->data + done, v + buf->offset, n);
		kunmap_local(v);
		done += n;
	}
	kp->len = done;
out:
	pipe_unlock(pipe);
	return err;
}

/*
 * Pipes whose both ends the process holds: their data must come along.
 * One record per pipe, at its lowest read-only fd.
 */
static int cld_fill_pipes(struct cld_kproc *p, struct file **files)
{
	u32 i, j;
	int err;

	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd_rec *r = &p->fds[i].rec;
		bool writer = false, seen = false;
		struct cld_kpipe kp = {};
		struct cld_kpipe *np;

		if (r->kind != CLD_FD_PIPE || (r->fl_flags & O_ACCMODE) != O_RDONLY)
			continue;
		for (j = 0; j < p->nr_fds; j++) {
			const struct cld_fd_rec *w = &p->fds[j].rec;

			if (w->kind != CLD_FD_PIPE || w->ino != r->ino)
				continue;
			if ((w->fl_flags & O_ACCMODE) == O_WRONLY)
				writer = true;
			if (j < i && (w->fl_flags & O_ACCMODE) == O_RDONLY)
				seen = true;
		}
		if (!writer || seen)
			continue;
		err = cld_peek_pipe(files[i], &kp);
		if (err)
			return err;
		if (!kp.len)
			continue;
		np = krealloc(p->pipes, (p->nr_pipes + 1) * sizeof(*np),
			      GFP_KERNEL);
		if (!np) {
			kvfree(kp.data);
			return -ENOMEM;
		}
		kp.ino = r->ino;
		p->pipes = np;
		p->pipes[p->nr_pipes++] = kp;
	}
	return 0;
}

static int cld_fill_fds(struct cld_kproc *p, struct task_struct *t)
{
	struct cld_fdcol c = {};
	unsigned int max = 256;
	int err = 0;
	u32 i;

	for (;;) {
		c.cap = max;
		c.file = kvmalloc_array(max, sizeof(*c.file), GFP_KERNEL);
		c.fd = kvmalloc_array(max, sizeof(*c.fd), GFP_KERNEL);
		c.cloexec = kvmalloc_array(max, sizeof(*c.cloexec), GFP_KERNEL);
		if (!c.file || !c.fd || !c.cloexec) {
			err = -ENOMEM;
			goto out;
		}
		task_lock(t);
		c.files = t->files;
		if (c.files)
			iterate_fd(c.files, 0, cld_fd_collect, &c);
		task_unlock(t);
		if (!c.overflow)
			break;
		for (i = 0; i < c.n; i++)
			fput(c.file[i]);
		kvfree(c.file);
		kvfree(c.fd);
		kvfree(c.cloexec);
		memset(&c, 0, sizeof(c));
		if (max >= CLD_MAX_FDS)
			return -E2BIG;
		max *= 4;
	}
	if (c.n) {
		p->fds = kvcalloc(c.n, sizeof(*p->fds), GFP_KERNEL);
		if (!p->fds) {
			err = -ENOMEM;
			goto out;
		}
	}
	/* iterate_fd() walks in ascending fd order: already sorted. */
	for (i = 0; i < c.n && !err; i++) {
		err = cld_fill_fd(&p->fds[i], c.file[i], c.fd[i], c.cloexec[i]);
		if (!err)
			p->nr_fds++;
	}
	if (!err)
		err = cld_fill_pipes(p, c.file);
out:
	for (i = 0; i < c.n; i++)
		fput(c.file[i]);
	kvfree(c.file);
	kvfree(c.fd);
	kvfree(c.cloexec);
	return err;
}

/* ---- threads ----------------------------------------------------------- */

/*
 * Threads in the order /proc/PID/task lists them (the group's thread list:
 * leader first, then by creation), which is also the order readers show.
 */
static int cld_fill_threads(struct cld_frz *frz, struct cld_kproc *p,
			    struct task_struct **first)
{
	struct task_struct *any = NULL, *t;
	u32 i, n = 0;

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
	if (!p->threads)
		return -ENOMEM;

	rcu_read_lock();
	for_each_thread(any, t) {
		for (i = 0; i < frz->nr_thr; i++) {
			struct cld_thr *th = frz->thr[i];

			if (th->task != t || !th->parked || !th->snapped)
				continue;
			if (p->nr_threads < n)
				p->threads[p->nr_threads++].th = th;
			break;
		}
	}
	rcu_read_unlock();
	if (p->nr_threads != n)
		return -ESRCH; /* one left the list: it is dying */
	*first = p->threads[0].th->task;

	for (i = 0; i < n; i++) {
		struct cld_kthread *kt = &p->threads[i];
		struct cld_thr *th = kt->th;
		struct cld_prstatus *ps = &kt->prstatus;

		cld_fill_ids(frz, th->task, &ps->pr_pid, &ps->pr_ppid,
			     &ps->pr_pgrp, &ps->pr_sid);
		th->rec.tid = ps->pr_pid;
		/*
		 * image-format.md 5.1: the thread's private pending set; CPU
		 * times are not restartable state and stay 0, so two images of
		 * one frozen state do not differ by a clock tick.
		 */
		ps->pr_sigpend = th->rec.pending;
		ps->pr_sighold = th->rec.blocked;
		ps->pr_reg = th->regs;
		ps->pr_fpvalid = 1;
	}
	return 0;
}

/* ---- encoding: the rules of docs/image-format.md ----------------------- */

struct cld_buf {
	u8 *p;
	size_t len, cap;
	int err;
};

static void *cld_buf_grow(struct cld_buf *b, size_t n)
{
	void *at;

	if (b->err)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		u8 *np;

		while (cap < b->len + n)
			cap *= 2;
		if (cap > CLD_MAX_NOTES_SIZE + PAGE_SIZE) {
			b->err = -E2BIG;
			return NULL;
		}
		np = kvmalloc(cap, GFP_KERNEL);
		if (!np) {
			b->err = -ENOMEM;
			return NULL;
		}
		if (b->len)
			memcpy(np, b->p, b->len);
		kvfree(b->p);
		b->p = np;
		b->cap = cap;
	}
	at = b->p + b->len;
	memset(at, 0, n);
	b->len += n;
	return at;
}

static void cld_put(struct cld_buf *b, const void *d, size_t n)
{
	void *at = cld_buf_grow(b, n);

	if (at && n)
		memcpy(at, d, n);
}

static void cld_put_str(struct cld_buf *b, const char *s)
{
	if (s)
		cld_put(b, s, strlen(s));
}

static void cld_pad(struct cld_buf *b, size_t align)
{
	cld_buf_grow(b, (align - b->len % align) % align);
}

/* Note header + owner name padded to 4; returns where descsz goes. */
static size_t cld_note_begin(struct cld_buf *b, const char *name, u32 type)
{
	Elf64_Nhdr nh = { .n_namesz = strlen(name) + 1, .n_type = type };
	size_t at = b->len + offsetof(Elf64_Nhdr, n_descsz);

	cld_put(b, &nh, sizeof(nh));
	cld_put(b, name, nh.n_namesz);
	cld_pad(b, 4);
	return at;
}

static void cld_note_end(struct cld_buf *b, size_t at)
{
	u32 descsz, namesz;

	if (b->err)
		return;
	/* The descriptor starts after n_type and the padded owner name. */
	memcpy(&namesz, b->p + at - 4, sizeof(namesz));
	descsz = b->len - (at + 8 + round_up(namesz, 4));
	memcpy(b->p + at, &descsz, sizeof(descsz));
	cld_pad(b, 4);
}

static void cld_note(struct cld_buf *b, const char *name, u32 type,
		     const void *d, size_t n)
{
	size_t at = cld_note_begin(b, name, type);

	cld_put(b, d, n);
	cld_note_end(b, at);
}

static void cld_enc_file_note(struct cld_buf *b, const struct cld_kproc *p)
{
	u64 count = 0, page = PG, pgoff;
	size_t at = cld_note_begin(b, "CORE", CLD_NT_FILE);
	u32 i;

	for (i = 0; i < p->nr_vmas; i++)
		count += !!(p->vmas[i].rec.flags & CLD_VMA_FILE);
	cld_put(b, &count, 8);
	cld_put(b, &page, 8);
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_kvma *v = &p->vmas[i];

		if (!(v->rec.flags & CLD_VMA_FILE))
			continue;
		pgoff = v->rec.pgoff / PG;
		cld_put(b, &v->rec.start, 8);
		cld_put(b, &v->rec.end, 8);
		cld_put(b, &pgoff, 8);
	}
	for (i = 0; i < p->nr_vmas; i++)
		if (p->vmas[i].rec.flags & CLD_VMA_FILE)
			cld_put(b, p->vmas[i].name, strlen(p->vmas[i].name) + 1);
	cld_note_end(b, at);
}

static u64 cld_nr_dumped(const struct cld_kproc *p)
{
	u64 n = 0;
	u32 i, j;

	for (i = 0; i < p->nr_vmas; i++)
		for (j = 0; j < p->vmas[i].nr_ext; j++)
			n += p->vmas[i].ext[j].count;
	return n;
}

static u32 cld_prot_pflags(u32 prot)
{
	return ((prot & 1) ? PF_R : 0) | ((prot & 2) ? PF_W : 0) |
	       ((prot & 4) ? PF_X : 0);
}

/*
 * Segments of one VMA (counted when segs is NULL): each run of dumped
 * pages is a data segment, except that in an anonymous VMA runs separated
 * by fewer than CLD_ANON_GAP_PAGES pages merge (the gap reads as zeros);
 * what no data segment covers becomes segments without file data.
 */
static u32 cld_vma_segs(const struct cld_kvma *v, u32 vi, struct cld_kseg *s)
{
	u64 npages = (v->rec.end - v->rec.start) / PG, pos = 0;
	bool anon = !(v->rec.flags & CLD_VMA_FILE);
	u32 n = 0, j = 0;

	while (j < v->nr_ext || pos < npages) {
		u64 first, end;
		bool data;

		if (j < v->nr_ext && v->ext[j].first == pos) {
			first = pos;
			end = v->ext[j].first + v->ext[j].count;
			j++;
			while (anon && j < v->nr_ext &&
			       v->ext[j].first - end < CLD_ANON_GAP_PAGES) {
				end = v->ext[j].first + v->ext[j].count;
				j++;
			}
			data = true;
		} else {
			first = pos;
			end = j < v->nr_ext ? v->ext[j].first : npages;
			data = false;
		}
		if (s) {
			s[n].vaddr = v->rec.start + first * PG;
			s[n].memsz = (end - first) * PG;
			s[n].filesz = data ? s[n].memsz : 0;
			s[n].vma = vi;
			s[n].pflags = cld_prot_pflags(v->rec.prot);
		}
		n++;
		pos = end;
	}
	return n;
}

static u64 cld_count_segs(const struct cld_kproc *p)
{
	u64 n = 0;
	u32 i;

	for (i = 0; i < p->nr_vmas; i++)
		n += cld_vma_segs(&p->vmas[i], i, NULL);
	return n;
}

static int cld_enc_notes(struct cld_kproc *p, struct cld_buf *b)
{
	size_t at;
	u32 i, j, soff;

	p->hdr.magic = CLD_HDR_MAGIC;
	p->hdr.major = CLD_FORMAT_MAJOR;
	p->hdr.minor = CLD_FORMAT_MINOR;
	p->hdr.page_size = PG;
	p->hdr.nr_threads = p->nr_threads;
	p->hdr.nr_vmas = p->nr_vmas;
	p->hdr.nr_fds = p->nr_fds;
	p->hdr.nr_segs = cld_count_segs(p);
	p->hdr.nr_dumped = cld_nr_dumped(p);
	p->proc.cwd_len = p->cwd ? strlen(p->cwd) : 0;
	p->proc.root_len = p->root ? strlen(p->root) : 0;
	p->proc.exe_len = p->exe ? strlen(p->exe) : 0;

	/* Standard notes, grouped per thread as gdb expects them. */
	for (i = 0; i < p->nr_threads; i++) {
		const struct cld_kthread *t = &p->threads[i];

		cld_note(b, "CORE", CLD_NT_PRSTATUS, &t->prstatus,
			 sizeof(t->prstatus));
		if (i == 0) {
			cld_note(b, "CORE", CLD_NT_PRPSINFO, &p->psinfo,
				 sizeof(p->psinfo));
			cld_note(b, "CORE", CLD_NT_AUXV, p->auxv,
				 p->mm.auxv_len);
			cld_enc_file_note(b, p);
		}
		cld_note(b, "CORE", CLD_NT_FPREGSET, t->th->fxsave,
			 sizeof(t->th->fxsave));
		if (t->th->xstate_len)
			cld_note(b, "LINUX", CLD_NT_X86_XSTATE, t->th->xstate,
				 t->th->xstate_len);
	}

	cld_note(b, CLD_NOTE_NAME, CLD_NT_HEADER, &p->hdr, sizeof(p->hdr));

	at = cld_note_begin(b, CLD_NOTE_NAME, CLD_NT_PROC);
	cld_put(b, &p->proc, sizeof(p->proc));
	cld_put_str(b, p->cwd);
	cld_put_str(b, p->root);
	cld_put_str(b, p->exe);
	cld_note_end(b, at);

	cld_note(b, CLD_NOTE_NAME, CLD_NT_MM, &p->mm, sizeof(p->mm));

	at = cld_note_begin(b, CLD_NOTE_NAME, CLD_NT_CREDS);
	cld_put(b, &p->creds, sizeof(p->creds));
	if (p->creds.nr_groups)
		cld_put(b, p->groups, 4 * (size_t)p->creds.nr_groups);
	cld_note_end(b, at);

	for (i = 0; i < p->nr_threads; i++) {
		const struct cld_thr *th = p->threads[i].th;

		at = cld_note_begin(b, CLD_NOTE_NAME, CLD_NT_THREAD);
		cld_put(b, &th->rec, sizeof(th->rec));
		if (th->rec.nr_queue)
			cld_put(b, th->queue,
				sizeof(*th->queue) * (size_t)th->rec.nr_queue);
		cld_note_end(b, at);
	}

	/* VMAS: array header, records, then the names back to back. */
	{
		struct cld_array_hdr ah = { sizeof(struct cld_vma_rec),
					    p->nr_vmas };

		at = cld_note_begin(b, CLD_NOTE_NAME, CLD_NT_VMAS);
		cld_put(b, &ah, sizeof(ah));
		for (i = 0, soff = 0; i < p->nr_vmas; i++) {
			struct cld_kvma *v = &p->vmas[i];

			v->rec.name_off = soff;
			v->rec.name_len = v->name ? strlen(v->name) : 0;
			soff += v->rec.name_len;
			v->rec.nr_dumped = 0;
			for (j = 0; j < v->nr_ext; j++)
				v->rec.nr_dumped += v->ext[j].count;
			cld_put(b, &v->rec, sizeof(v->rec));
		}
		for (i = 0; i < p->nr_vmas; i++)
			cld_put_str(b, p->vmas[i].name);
		cld_note_end(b, at);
	}

	/* PAGES: every extent, VMA by VMA. */
	{
		struct cld_array_hdr ah = { sizeof(struct cld_extent_rec), 0 };

		at = cld_note_begin(b, CLD_NOTE_NAME, CLD_NT_PAGES);
		for (i = 0; i < p->nr_vmas; i++)
			ah.count += p->vmas[i].nr_ext;
		cld_put(b, &ah, sizeof(ah));
		for (i = 0; i < p->nr_vmas; i++) {
			for (j = 0; j < p->vmas[i].nr_ext; j++) {
				struct cld_extent_rec r = {
					.vma = i,
					.first = p->vmas[i].ext[j].first,
					.count = p->vmas[i].ext[j].count,
				};

				cld_put(b, &r, sizeof(r));
			}
		}
		cld_note_end(b, at);
	}

	/* FDS: array header, records, then the names. */
	{
		struct cld_array_hdr ah = { sizeof(struct cld_fd_rec),
					    p->nr_fds };

		at = cld_note_begin(b, CLD_NOTE_NAME, CLD_NT_FDS);
		cld_put(b, &ah, sizeof(ah));
		for (i = 0, soff = 0; i < p->nr_fds; i++) {
			struct cld_kfd *f = &p->fds[i];

			f->rec.name_off = soff;
			f->rec.name_len = f->name ? strlen(f->name) : 0;
			soff += f->rec.name_len;
			cld_put(b, &f->rec, sizeof(f->rec));
		}
		for (i = 0; i < p->nr_fds; i++)
			cld_put_str(b, p->fds[i].name);
		cld_note_end(b, at);
	}

	/* PIPEDATA only when there is pipe data: records padded to 8. */
	if (p->nr_pipes) {
		at = cld_note_begin(b, CLD_NOTE_NAME, CLD_NT_PIPEDATA);
		for (i = 0; i < p->nr_pipes; i++) {
			struct cld_pipedata_rec r = {
				.ino = p->pipes[i].ino,
				.len = p->pipes[i].len,
			};

			cld_put(b, &r, sizeof(r));
			cld_put(b, p->pipes[i].data, r.len);
			cld_buf_grow(b, (8 - r.len % 8) % 8);
		}
		cld_note_end(b, at);
	}

	at = cld_note_begin(b, CLD_NOTE_NAME, CLD_NT_SIGNALS);
	cld_put(b, &p->sig, sizeof(p->sig));
	if (p->sig.nr_shared_queue)
		cld_put(b, p->shared_queue, sizeof(*p->shared_queue) *
			(size_t)p->sig.nr_shared_queue);
	cld_note_end(b, at);

	if (!b->err && b->len > CLD_MAX_NOTES_SIZE)
		b->err = -E2BIG;
	return b->err;
}

/* Headers + layout from the description and its encoded notes. */
static int cld_layout(struct cld_img *img, struct cld_kproc *p,
		      struct cld_buf *notes)
{
	u64 nsegs = cld_count_segs(p), off, idx = 0, nruns = 0;
	u32 phnum, i, j, n = 0;
	struct cld_kseg *segs;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
	u64 shoff = 0;
	int err = 0;

	if (nsegs > CLD_MAX_SEGS)
		return -E2BIG;
	segs = kvcalloc(nsegs ?: 1, sizeof(*segs), GFP_KERNEL);
	if (!segs)
		return -ENOMEM;
	for (i = 0; i < p->nr_vmas; i++) {
		n += cld_vma_segs(&p->vmas[i], i, segs + n);
		nruns += p->vmas[i].nr_ext;
	}
	phnum = n + 2;
	off = sizeof(Elf64_Ehdr) + (u64)phnum * sizeof(Elf64_Phdr);
	if (phnum >= PN_XNUM) {
		shoff = off;
		off += sizeof(Elf64_Shdr);
	}
	img->notes_off = off;
	img->notes_size = notes->len;
	img->head_len = off + notes->len;
	img->data_off = round_up(off + notes->len, PG);

	img->runs = kvcalloc(nruns ?: 1, sizeof(*img->runs), GFP_KERNEL);
	img->head = kvzalloc(img->head_len, GFP_KERNEL);
	if (!img->runs || !img->head) {
		err = -ENOMEM;
		goto out;
	}

	/* File offsets: data segments back to back from data_off. */
	off = img->data_off;
	for (i = 0; i < n; i++) {
		struct cld_kseg *s = &segs[i];
		const struct cld_kvma *v = &p->vmas[s->vma];

		s->offset = off;
		s->first_dumped = idx;
		if (!s->filesz)
			continue;
		for (j = 0; j < v->nr_ext; j++) {
			u64 a = v->rec.start + v->ext[j].first * PG;
			struct cld_run *r;

			if (a < s->vaddr || a >= s->vaddr + s->memsz)
				continue;
			r = &img->runs[img->nr_runs++];
			r->vaddr = a;
			r->count = v->ext[j].count;
			r->off = s->offset + (a - s->vaddr);
			r->idx = idx;
			idx += v->ext[j].count;
		}
		off += s->filesz;
	}
	img->nr_dumped = idx;
	img->tail_off = off;
	img->tail_size = 12 + 12 + sizeof(struct cld_digests_hdr) + 8 * idx;
	img->size = off + img->tail_size;
	if (sizeof(struct cld_digests_hdr) + 8 * idx > U32_MAX) {
		err = -E2BIG;
		goto out;
	}

	eh = (Elf64_Ehdr *)img->head;
	ph = (Elf64_Phdr *)(img->head + sizeof(Elf64_Ehdr));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	if (shoff) {
		Elf64_Shdr *sh = (Elf64_Shdr *)(img->head + shoff);

		/* PN_XNUM: the real count is in section 0's sh_info. */
		eh->e_phnum = PN_XNUM;
		eh->e_shoff = shoff;
		eh->e_shentsize = sizeof(Elf64_Shdr);
		eh->e_shnum = 1;
		sh->sh_info = phnum;
	} else {
		eh->e_phnum = phnum;
	}
	ph[0].p_type = PT_NOTE;
	ph[0].p_offset = img->notes_off;
	ph[0].p_filesz = notes->len;
	ph[0].p_align = 4;
	for (i = 0; i < n; i++) {
		Elf64_Phdr *q = &ph[1 + i];

		q->p_type = PT_LOAD;
		q->p_flags = segs[i].pflags;
		q->p_offset = segs[i].offset;
		q->p_vaddr = segs[i].vaddr;
		q->p_filesz = segs[i].filesz;
		q->p_memsz = segs[i].memsz;
		q->p_align = PG;
	}
	ph[phnum - 1].p_type = PT_NOTE;
	ph[phnum - 1].p_offset = img->tail_off;
	ph[phnum - 1].p_filesz = img->tail_size;
	ph[phnum - 1].p_align = 4;
	memcpy(img->head + img->notes_off, notes->p, notes->len);

	{
		struct cld_digests_hdr dh = { 8, CLD_DIGEST_XXH3_64, idx };
		Elf64_Nhdr nh = {
			.n_namesz = sizeof(CLD_NOTE_NAME),
			.n_descsz = sizeof(dh) + 8 * idx,
			.n_type = CLD_NT_DIGESTS,
		};

		BUILD_BUG_ON(sizeof(img->tail_hdr) != 12 + 12 + sizeof(dh));
		memcpy(img->tail_hdr, &nh, sizeof(nh));
		memcpy(img->tail_hdr + 12, CLD_NOTE_NAME, sizeof(CLD_NOTE_NAME));
		memcpy(img->tail_hdr + 24, &dh, sizeof(dh));
	}
	img->digest = kvcalloc(idx ?: 1, sizeof(u64), GFP_KERNEL);
	img->digest_ok = kvcalloc(BITS_TO_LONGS(idx ?: 1), sizeof(long),
				  GFP_KERNEL);
	if (!img->digest || !img->digest_ok)
		err = -ENOMEM;
out:
	kvfree(segs);
	return err;
}

/* ---- page data --------------------------------------------------------- */

/* Copy n bytes at addr of the frozen mm into kbuf. */
static int cld_read_mem(struct mm_struct *mm, unsigned long addr, u8 *kbuf,
			size_t n)
{
	while (n) {
		unsigned long pgoff = addr & ~PAGE_MASK;
		size_t chunk = min_t(size_t, n, PAGE_SIZE - pgoff);
		struct page *page;
		long got;
		void *v;

		if (mmap_read_lock_killable(mm))
			return -EINTR;
		got = cld_gup(mm, addr & PAGE_MASK, 1, FOLL_FORCE, &page);
		mmap_read_unlock(mm);
		if (got != 1)
			return got < 0 ? (int)got : -EFAULT;
		v = kmap_local_page(page);
		memcpy(kbuf, v + pgoff, chunk);
		kunmap_local(v);
		put_page(page);
		kbuf += chunk;
		addr += chunk;
		n -= chunk;
	}
	return 0;
}

static size_t cld_run_after(const struct cld_img *img, u64 off)
{
	size_t lo = 0, hi = img->nr_runs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cld_run *r = &img->runs[mid];

		if (r->off + r->count * PG <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t cld_run_of_idx(const struct cld_img *img, u64 idx)
{
	size_t lo = 0, hi = img->nr_runs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (img->runs[mid].idx + img->runs[mid].count <= idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Digest of dumped page idx, reading it if not cached.  img_lock held. */
static int cld_digest(struct cld_img *img, u64 idx, u8 *scratch)
{
	size_t k;
	int err;

	if (test_bit(idx, img->digest_ok))
		return 0;
	k = cld_run_of_idx(img, idx);
	if (k >= img->nr_runs)
		return -EIO;
	err = cld_read_mem(img->mm, img->runs[k].vaddr +
				    (idx - img->runs[k].idx) * PG, scratch, PG);
	if (err)
		return err;
	img->digest[idx] = cld_xxh3_page(scratch);
	set_bit(idx, img->digest_ok);
	return 0;
}

/*
 * Produce [off, off + len) of the image into the scratch page (len is at
 * most one page and never crosses a page boundary of the file), caching
 * digests of whole data pages that stream by.
 */
static int cld_gen(struct cld_img *img, u8 *out, size_t len, u64 off,
		   u8 *scratch)
{
	if (off < img->head_len) {
		size_t n = min_t(u64, len, img->head_len - off);

		memcpy(out, img->head + off, n);
		memset(out + n, 0, len - n);
		return 0;
	}
	if (off < img->tail_off) {
		size_t k = cld_run_after(img, off);
		const struct cld_run *r;
		u64 pg, idx;
		int err;

		if (k >= img->nr_runs || img->runs[k].off > off) {
			memset(out, 0, len);
			return 0;
		}
		r = &img->runs[k];
		pg = (off - r->off) / PG;
		idx = r->idx + pg;
		err = cld_read_mem(img->mm, r->vaddr + pg * PG, scratch, PG);
		if (err)
			return err;
		if (!test_bit(idx, img->digest_ok)) {
			img->digest[idx] = cld_xxh3_page(scratch);
			set_bit(idx, img->digest_ok);
		}
		memcpy(out, scratch + (off - r->off) % PG, len);
		return 0;
	}
	/* The digest note. */
	{
		u64 rel = off - img->tail_off;
		size_t done = 0;

		if (rel < sizeof(img->tail_hdr)) {
			done = min_t(u64, len, sizeof(img->tail_hdr) - rel);
			memcpy(out, img->tail_hdr + rel, done);
			rel += done;
		}
		if (done < len) {
			u64 drel = rel - sizeof(img->tail_hdr);
			u64 first = drel / 8, last = DIV_ROUND_UP(drel + len - done, 8);
			u64 i;
			int err;

			last = min(last, img->nr_dumped);
			for (i = first; i < last; i++) {
				err = cld_digest(img, i, scratch);
				if (err)
					return err;
			}
			memcpy(out + done, (u8 *)img->digest + drel, len - done);
		}
	}
	return 0;
}

#define CLD_READ_BATCH 16

/*
 * Stream dumped pages of run r straight to user space, starting at image
 * offset o (inside r), at most want bytes: one GUP call for up to
 * CLD_READ_BATCH pages, digests cached on the way.  Returns bytes copied
 * or a negative errno.  img_lock held.
 */
static ssize_t cld_read_run(struct cld_img *img, const struct cld_run *r,
			    u64 o, char __user *ubuf, size_t want,
			    struct page **pages)
{
	u64 pg = (o - r->off) / PG, end = min(r->off + r->count * PG, o + want);
	unsigned long npg = min_t(u64, DIV_ROUND_UP(end - (r->off + pg * PG), PG),
				  CLD_READ_BATCH);
	size_t copied = 0;
	long got, i;
	int err = 0;

	if (mmap_read_lock_killable(img->mm))
		return -EINTR;
	got = cld_gup(img->mm, r->vaddr + pg * PG, npg, FOLL_FORCE, pages);
	mmap_read_unlock(img->mm);
	if (got <= 0)
		return got ? got : -EFAULT;
	for (i = 0; i < got; i++) {
		u64 idx = r->idx + pg + i;
		size_t at = i ? 0 : (o - r->off) % PG;
		size_t n = min_t(u64, PG - at, end - (o + copied));
		void *v = kmap_local_page(pages[i]);

		if (!test_bit(idx, img->digest_ok)) {
			img->digest[idx] = cld_xxh3_page(v);
			set_bit(idx, img->digest_ok);
		}
		if (!err && n && copy_to_user(ubuf + copied, v + at, n))
			err = -EFAULT;
		kunmap_local(v);
		put_page(pages[i]);
		if (!err)
			copied += n;
	}
	return copied ? copied : err;
}

ssize_t cld_img_read(struct cld_frz *frz, char __user *buf, size_t len,
		     loff_t off)
{
	struct page *pages[CLD_READ_BATCH];
	struct cld_img *img = frz->img;
	u8 *scratch, *out;
	size_t done = 0;
	int err = 0;

	if (!img || off >= img->size)
		return 0;
	len = min_t(u64, len, img->size - off);
	scratch = kmalloc(2 * PG, GFP_KERNEL);
	if (!scratch)
		return -ENOMEM;
	out = scratch + PG;
	if (mutex_lock_killable(&frz->img_lock)) {
		kfree(scratch);
		return -EINTR;
	}
	while (done < len) {
		u64 o = off + done;
		size_t n = min_t(u64, len - done, PG - (o % PG));

		if (READ_ONCE(frz->state) != CLD_KSTATE_FROZEN) {
			err = -ESRCH;
			break;
		}
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		if (o >= img->head_len && o < img->tail_off) {
			size_t k = cld_run_after(img, o);

			if (k < img->nr_runs && img->runs[k].off <= o) {
				ssize_t r = cld_read_run(img, &img->runs[k], o,
							 buf + done, len - done,
							 pages);

				if (r < 0) {
					err = r;
					break;
				}
				done += r;
				cond_resched();
				continue;
			}
		}
		err = cld_gen(img, out, n, o, scratch);
		if (err)
			break;
		if (copy_to_user(buf + done, out, n)) {
			err = -EFAULT;
			break;
		}
		done += n;
		cond_resched();
	}
	mutex_unlock(&frz->img_lock);
	kfree(scratch);
	return done ? done : err;
}

loff_t cld_img_seek_data(struct cld_frz *frz, loff_t soff, int whence)
{
	struct cld_img *img = frz->img;
	u64 off = soff;
	size_t k;

	if (soff < 0)
		return -EINVAL;
	if (off >= img->size)
		return -ENXIO;
	if (whence == SEEK_DATA) {
		if (off < img->head_len || off >= img->tail_off)
			return soff;
		k = cld_run_after(img, off);
		if (k < img->nr_runs)
			return max(img->runs[k].off, off);
		return img->tail_off;
	}
	/* SEEK_HOLE: the end of the data region containing off. */
	if (off < img->head_len) {
		off = img->head_len;
		if (off < img->data_off)
			return off;
	}
	if (off >= img->tail_off)
		return img->size;
	k = cld_run_after(img, off);
	while (k < img->nr_runs && img->runs[k].off <= off) {
		off = img->runs[k].off + img->runs[k].count * PG;
		k++;
	}
	return off == img->tail_off ? img->size : off;
}

u64 cld_img_size(const struct cld_img *img)
{
	return img->size;
}

u64 cld_img_nr_dumped(const struct cld_img *img)
{
	return img->nr_dumped;
}

/* Bytes that are not holes: headers and notes, dumped pages, digests. */
u64 cld_img_data_bytes(const struct cld_img *img)
{
	return img->head_len + img->nr_dumped * PG + img->tail_size;
}

void cld_img_free(struct cld_img *img)
{
	if (img->mm)
		mmput(img->mm);
	kvfree(img->head);
	kvfree(img->runs);
	kvfree(img->digest);
	kvfree(img->digest_ok);
	kfree(img);
}

/* XXH3-64 of the vDSO text, as a reader of the process would hash it. */
static u64 cld_vdso_digest(struct cld_kproc *p, struct mm_struct *mm)
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

int cld_img_build(struct cld_frz *frz)
{
	struct cld_buf notes = {};
	struct task_struct *t = NULL;
	struct new_utsname *u;
	struct mm_struct *mm;
	struct cld_kproc *p;
	struct cld_img *img;
	int err;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	img = kzalloc(sizeof(*img), GFP_KERNEL);
	if (!p || !img) {
		err = -ENOMEM;
		goto out;
	}
	err = cld_fill_threads(frz, p, &t);
	if (err)
		goto out;
	mm = get_task_mm(t);
	if (!mm) {
		err = -ESRCH;
		goto out;
	}
	img->mm = mm;

	p->hdr.flags = CLD_IMG_LIVE;
	p->hdr.created_ns = ktime_get_real_ns();
	strscpy(p->hdr.backend, "kmod", sizeof(p->hdr.backend));
	strscpy(p->hdr.producer, "clondike.ko " CLD_MODULE_VERSION,
		sizeof(p->hdr.producer));
	/* The freezer's view of the node (its uts namespace). */
	u = utsname();
	strscpy(p->hdr.node, u->nodename, sizeof(p->hdr.node));
	strscpy(p->hdr.kernel, u->release, sizeof(p->hdr.kernel));

	err = cld_fill_proc(frz, p, t, mm);
	if (err)
		goto out;
	cld_fill_mm(p, mm);
	cld_fill_psinfo(frz, p, t, mm);
	err = cld_fill_vmas(p, mm);
	if (err)
		goto out;
	err = cld_fill_fds(p, t);
	if (err)
		goto out;
	p->hdr.vdso_digest = cld_vdso_digest(p, mm);

	err = cld_enc_notes(p, &notes);
	if (err)
		goto out;
	err = cld_layout(img, p, &notes);
	if (err)
		goto out;
	frz->img = img;
	img = NULL;
out:
	if (img)
		cld_img_free(img);
	kvfree(notes.p);
	if (p)
		cld_kproc_free(p);
	return err;
}

/* The records are shared with userspace: their sizes are the format. */
static void __maybe_unused cld_format_sizes(void)
{
	BUILD_BUG_ON(sizeof(struct cld_prstatus) != 336);
	BUILD_BUG_ON(sizeof(struct cld_prpsinfo) != 136);
}
