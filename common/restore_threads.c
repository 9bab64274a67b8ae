// SPDX-License-Identifier: MIT
/*
 * Restore phase 4, per thread: the leader's and every other thread's own
 * state (name, rseq, robust list, clear_child_tid, alternate stack, queued
 * signals, registers, FPU state, mask), and the other threads themselves,
 * created by injected clone3 calls in the leader once its address space,
 * files and credentials are the image's (a CLONE_THREAD child shares or
 * inherits all of them).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <elf.h>
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "clondike/compat.h"
#include "restore_priv.h"

#define ERESTARTSYS_ 512
#define ERESTARTNOINTR_ 513
#define ERESTARTNOHAND_ 514
#define ERESTART_RESTARTBLOCK_ 516

/* Offsets in the leader's scratch area (map_scratch gives >= 64 KiB; the
 * first KiB holds PR_SET_MM_MAP's and setitimer's arguments). */
#define SCR_CLONE 1024
#define SCR_TID (SCR_CLONE + 128)
#define SCR_ALTSTACK (SCR_TID + 64)
#define SCR_SIGINFO (SCR_ALTSTACK + 64)
#define SCR_NAME (SCR_SIGINFO + 128)

#define THREAD_FLAGS                                                                    \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

struct clone_args_v2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size;
};

static int tcall(struct cld_remote *r, const char *what, long nr, long a1, long a2, long a3,
		 long a4, struct cld_err *err)
{
	long v;
	int rc = cld_remote_syscall(r, &v, nr, a1, a2, a3, a4, 0, 0, err);

	if (rc)
		return rc;
	if (v < 0 && v > -4096)
		return cld_err_set(err, (int)v, "thread %d: %s: %s", (int)cld_remote_pid(r), what,
				   strerror((int)-v));
	return 0;
}

int rst_thread_state(struct cld_rst *rs, struct cld_remote *r, const struct cld_thread *t,
		     struct cld_err *err)
{
	const struct cld_thread_rec *tr = &t->rec;
	int ret = 0;

	/* A 1.0 image has no name (""): the thread keeps the comm it got. */
	if (tr->name[0]) {
		if (cld_remote_write(rs->pid, rs->scratch + SCR_NAME, tr->name, sizeof(tr->name)))
			return cld_err_set(err, -EIO, "writing a thread name into the child");
		ret = tcall(r, "prctl(PR_SET_NAME)", SYS_prctl, PR_SET_NAME,
			    (long)(rs->scratch + SCR_NAME), 0, 0, err);
	}
	if (!ret && tr->rseq_addr)
		ret = tcall(r, "rseq registration", SYS_rseq, (long)tr->rseq_addr,
			    (long)tr->rseq_len, 0, (long)tr->rseq_sig, err);
	if (!ret)
		ret = tcall(r, "set_robust_list", SYS_set_robust_list, (long)tr->robust_list,
			    tr->robust_list ? (long)tr->robust_len : 24, 0, 0, err);
	if (!ret)
		ret = tcall(r, "set_tid_address", SYS_set_tid_address, (long)tr->tid_address, 0, 0,
			    0, err);
	return ret;
}

/*
 * The 32-bit word at addr as the image holds it (no access to the child's
 * memory, which a lazy restore has not paged in): -1 when it has no data.
 */
static int64_t image_word(const struct cld_rst *rs, uint64_t addr)
{
	const struct cld_rimage *ri = rs->ri;
	uint64_t idx, off;
	int32_t v;

	if (!addr || (addr & 3) ||
	    cld_layout_find(&ri->layout, &ri->proc, addr & ~4095ull, &idx, &off))
		return -1;
	if (ri->src.pread(ri->src.ctx, &v, sizeof(v), off + (addr & 4095)) != sizeof(v))
		return -1;
	return v;
}

/*
 * glibc keeps each thread's tid in its struct pthread, at the address the
 * kernel clears on exit (clear_child_tid), and pthread_kill/pthread_join
 * use it.  When a thread comes back with another tid, that word must say
 * the new one: only when it holds the old tid, so another runtime's word
 * there (musl keeps a lock at that address) is left alone.
 */
static bool tid_word_is(const struct cld_rst *rs, const struct cld_thread_rec *tr)
{
	return tr->tid_address && image_word(rs, tr->tid_address) == tr->tid;
}

int rst_leader_tid_word(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_thread_rec *tr = &rs->p->threads[0].rec;
	int32_t now = rs->pid;

	/* A lazy child's memory is the pager's to fill: only the eager one
	 * is written here (a root restore keeps the pid anyway). */
	if (rs->pid == tr->tid || rs->o->fill || !tid_word_is(rs, tr))
		return 0;
	if (cld_remote_write(rs->pid, tr->tid_address, &now, sizeof(now)))
		return cld_err_set(err, -EIO, "writing the new tid at %llx",
				   (unsigned long long)tr->tid_address);
	return 0;
}

/* Create thread i: clone3 in the leader, with its tid when we may. */
static int clone_thread(struct cld_rst *rs, uint32_t i, pid_t *tid, struct cld_err *err)
{
	const struct cld_thread_rec *tr = &rs->p->threads[i].rec;
	struct clone_args_v2 a;
	int32_t want = tr->tid;
	long v = -EINVAL;
	int rc, pass;

	for (pass = (rs->o->flags & CLD_RST_NEW_PID) ? 1 : 0; pass < 2; pass++) {
		memset(&a, 0, sizeof(a));
		a.flags = THREAD_FLAGS;
		if (pass == 0) {
			a.set_tid = rs->scratch + SCR_TID;
			a.set_tid_size = 1;
		} else if (tid_word_is(rs, tr)) {
			/* The kernel writes the new tid there as the thread
			 * starts (through the pager, if lazy). */
			a.flags |= CLONE_CHILD_SETTID;
			a.child_tid = tr->tid_address;
		}
		if (cld_remote_write(rs->pid, rs->scratch + SCR_CLONE, &a, sizeof(a)) ||
		    cld_remote_write(rs->pid, rs->scratch + SCR_TID, &want, sizeof(want)))
			return cld_err_set(err, -EIO, "writing clone3 arguments into the child");
		rc = cld_remote_syscall(rs->r, &v, SYS_clone3, (long)(rs->scratch + SCR_CLONE),
					sizeof(a), 0, 0, 0, 0, err);
		if (rc)
			return rc;
		if (v > 0)
			break;
	}
	if (v <= 0)
		return cld_err_set(err, v < 0 ? (int)v : -EIO, "clone3 of thread %d: %s", want,
				   strerror(v < 0 ? (int)-v : EIO));
	*tid = (pid_t)v;
	return 0;
}

/* The new thread starts in an event stop (auto-attached: TRACECLONE). */
static int wait_new(pid_t tid, struct cld_err *err)
{
	int st;

	for (;;) {
		if (waitpid(tid, &st, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return cld_err_set(err, -errno, "waitpid of new thread %d: %s", tid,
					   strerror(errno));
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return cld_err_set(err, -ECHILD, "new thread %d died", tid);
		if (WIFSTOPPED(st))
			return 0;
	}
}

/* Thread-directed pending signals, queued by the thread to itself. */
static int queue_signals(struct cld_rst *rs, struct cld_remote *r, const struct cld_thread *t,
			 struct cld_err *err)
{
	uint64_t pending = t->rec.pending;
	pid_t tid = cld_remote_pid(r);
	uint32_t i;
	int s, ret = 0;

	for (i = 0; i < t->rec.nr_queue && !ret; i++) {
		int sig;

		memcpy(&sig, t->queue[i].bytes, sizeof(sig));
		if (sig < 1 || sig > 64 || sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (cld_remote_write(rs->pid, rs->scratch + SCR_SIGINFO, t->queue[i].bytes,
				     sizeof(t->queue[i].bytes)))
			return cld_err_set(err, -EIO, "writing a siginfo into the child");
		ret = tcall(r, "rt_tgsigqueueinfo", SYS_rt_tgsigqueueinfo, rs->pid, tid, sig,
			    (long)(rs->scratch + SCR_SIGINFO), err);
		pending &= ~(1ull << (sig - 1));
	}
	for (s = 1; s <= 64 && !ret; s++)
		if ((pending & (1ull << (s - 1))) && s != SIGKILL && s != SIGSTOP)
			ret = tcall(r, "tgkill", SYS_tgkill, rs->pid, tid, s, 0, err);
	return ret;
}

static int thread_altstack(struct cld_rst *rs, struct cld_remote *r, const struct cld_thread *t,
			   struct cld_err *err)
{
	stack_t ss = { 0 };

	if ((t->rec.sas_flags & SS_DISABLE) || !t->rec.sas_size)
		return 0; /* a new thread has none */
	ss.ss_sp = (void *)(uintptr_t)t->rec.sas_sp;
	ss.ss_size = t->rec.sas_size;
	ss.ss_flags = (int)(t->rec.sas_flags & SS_AUTODISARM);
	if (cld_remote_write(rs->pid, rs->scratch + SCR_ALTSTACK, &ss, sizeof(ss)))
		return cld_err_set(err, -EIO, "writing a stack_t into the child");
	return tcall(r, "sigaltstack", SYS_sigaltstack, (long)(rs->scratch + SCR_ALTSTACK), 0, 0,
		     0, err);
}

int rst_threads_create(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL;
	uint32_t i;
	int ret = 0;

	if (p->nr_threads < 2)
		return 0;
	rs->tids = calloc(p->nr_threads, sizeof(*rs->tids));
	if (!rs->tids)
		return cld_err_set(err, -ENOMEM, "out of memory");
	rs->tids[0] = rs->pid;
	if (ptrace(PTRACE_SETOPTIONS, rs->pid, NULL, (void *)(opts | PTRACE_O_TRACECLONE)) < 0)
		return cld_err_set(err, -errno, "PTRACE_SETOPTIONS: %s", strerror(errno));
	for (i = 1; i < p->nr_threads && !ret; i++) {
		struct cld_remote *tr;
		struct cld_err ierr = { 0 };
		pid_t tid = 0;

		ret = clone_thread(rs, i, &tid, err);
		if (ret)
			break;
		rs->tids[i] = tid;
		rs->nr_tids = i + 1;
		ret = wait_new(tid, err);
		if (!ret)
			ret = cld_remote_open(&tr, tid, cld_remote_site(rs->r), err);
		if (ret)
			break;
		ret = rst_thread_state(rs, tr, &p->threads[i], err);
		if (!ret)
			ret = thread_altstack(rs, tr, &p->threads[i], err);
		if (!ret)
			ret = queue_signals(rs, tr, &p->threads[i], err);
		/* keep_regs: its registers are set with the leader's, at the end */
		if (cld_remote_close(tr, 1, ret ? &ierr : err) && !ret)
			ret = -EIO;
		if (!ret && tid != p->threads[i].rec.tid)
			rs->res->nr_new_tids++;
	}
	if (!ret && ptrace(PTRACE_SETOPTIONS, rs->pid, NULL, (void *)opts) < 0)
		ret = cld_err_set(err, -errno, "PTRACE_SETOPTIONS: %s", strerror(errno));
	return ret;
}

/*
 * The image's registers, in a form that resumes correctly when the task
 * leaves our syscall-exit stop: a system call interrupted by the freeze
 * (-ERESTART* in rax) is rewound to be issued again, and orig_rax is
 * cleared so the kernel's own restart logic does not rewind it twice.
 */
static void final_regs(const struct cld_thread *t, struct user_regs_struct *u)
{
	long rax, orig;

	memcpy(u, &t->prstatus.pr_reg, sizeof(*u));
	rax = (long)u->rax;
	orig = (long)u->orig_rax;
	if (t->rec.syscall_state == CLD_SYSCALL_NONE && orig >= 0) {
		switch (-rax) {
		case ERESTARTSYS_:
		case ERESTARTNOINTR_:
		case ERESTARTNOHAND_:
		case ERESTART_RESTARTBLOCK_:
			/* The kernel's restart_block is gone with the old
			 * task: issue the original call again. */
			u->rip -= 2;
			u->rax = (unsigned long)orig;
			if (orig == SYS_restart_syscall) {
				u->rip += 2;
				u->rax = (unsigned long)-EINTR;
			}
			break;
		}
	}
	u->orig_rax = (unsigned long)-1;
}

int rst_thread_cpu(pid_t tid, const struct cld_thread *t, struct cld_err *err)
{
	struct user_regs_struct u;
	uint64_t blocked = t->rec.blocked & ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
	struct iovec iov;
	int ret = 0;

	final_regs(t, &u);
	if (t->xstate && t->xstate_len) {
		uint8_t *buf = NULL;
		size_t local;

		/* The kernel wants exactly its own xsave size. */
		buf = malloc(CLD_MAX_XSTATE);
		if (!buf)
			return cld_err_set(err, -ENOMEM, "out of memory");
		iov.iov_base = buf;
		iov.iov_len = CLD_MAX_XSTATE;
		if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0) {
			free(buf);
			return cld_err_set(err, -errno, "PTRACE_GETREGSET xstate of %d: %s", tid,
					   strerror(errno));
		}
		local = iov.iov_len;
		memset(buf, 0, local);
		memcpy(buf, t->xstate, t->xstate_len < local ? t->xstate_len : local);
		iov.iov_len = local;
		if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0)
			ret = cld_err_set(err, -errno,
					  "PTRACE_SETREGSET xstate (%u bytes in the image, %zu "
					  "here): %s; is this the same CPU?",
					  t->xstate_len, local, strerror(errno));
		free(buf);
	} else {
		iov.iov_base = (void *)t->fpregs;
		iov.iov_len = sizeof(t->fpregs);
		if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRFPREG, &iov) < 0)
			ret = cld_err_set(err, -errno, "PTRACE_SETREGSET fpregs of %d: %s", tid,
					  strerror(errno));
	}
	if (ret)
		return ret;
	if (ptrace(PTRACE_SETREGS, tid, NULL, &u) < 0)
		return cld_err_set(err, -errno, "PTRACE_SETREGS of %d: %s", tid, strerror(errno));
	if (ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(blocked), &blocked) < 0)
		return cld_err_set(err, -errno, "PTRACE_SETSIGMASK of %d: %s", tid,
				   strerror(errno));
	return 0;
}

int rst_threads_cpu(struct cld_rst *rs, struct cld_err *err)
{
	uint32_t i;
	int ret;

	for (i = 1; i < rs->nr_tids; i++) {
		ret = rst_thread_cpu(rs->tids[i], &rs->p->threads[i], err);
		if (ret)
			return ret;
	}
	return 0;
}

int rst_threads_detach(struct cld_rst *rs, struct cld_err *err)
{
	uint32_t i;

	for (i = 1; i < rs->nr_tids; i++)
		if (ptrace(PTRACE_DETACH, rs->tids[i], NULL, NULL) < 0)
			return cld_err_set(err, -errno, "PTRACE_DETACH of thread %d: %s",
					   rs->tids[i], strerror(errno));
	return 0;
}
