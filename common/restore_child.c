// SPDX-License-Identifier: MIT
/*
 * Restore phase 3: fork the child (clone3 with set_tid for the image's
 * pid), which, running only async-signal-safe code, puts fds at their
 * numbers and sets what does not depend on its address space (cwd,
 * umask, limits, sigactions, sigaltstack, pending signals, comm...),
 * reports on the status pipe and waits to be seized.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/personality.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "clondike/compat.h"
#include "restore_priv.h"

struct clone_args_v1 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size;
};

/* Messages on the status pipe (each write is atomic: < PIPE_BUF). */
enum { MSG_PID = 1, MSG_PREP = 2 };
/* Steps of the child's preparation, for error messages. */
enum prep_step {
	ST_NOFILE = 1,
	ST_DUP_SVC,
	ST_CLOSE,
	ST_DUP_FD,
	ST_CHDIR,
	ST_PERSONALITY,
	ST_PRCTL,
	ST_SIGACTION,
	ST_ALTSTACK,
	ST_SIGQUEUE,
	ST_RLIMIT,
	ST_OOM,
	ST_EPOLL,
	ST_SESSION,
	ST_MEMBARRIER,
	ST_LOGINUID,
};
static const char *const step_names[] = {
	[ST_NOFILE] = "raising RLIMIT_NOFILE",
	[ST_DUP_SVC] = "moving restorer fds",
	[ST_CLOSE] = "closing inherited fds",
	[ST_DUP_FD] = "placing fd",
	[ST_CHDIR] = "changing to the working directory",
	[ST_PERSONALITY] = "setting the personality",
	[ST_PRCTL] = "prctl",
	[ST_SIGACTION] = "setting the action of signal",
	[ST_ALTSTACK] = "setting the alternate signal stack",
	[ST_SIGQUEUE] = "queueing pending signal",
	[ST_RLIMIT] = "setting resource limit",
	[ST_OOM] = "setting oom_score_adj to",
	[ST_EPOLL] = "an epoll registration of fd",
	[ST_SESSION] = "a session or process group of its own (0: setsid, 1: setpgid)",
	[ST_MEMBARRIER] = "membarrier registration",
	[ST_LOGINUID] = "setting the login uid (audit) to",
};

struct rst_msg {
	int kind;
	int err; /* positive errno, 0 = ok */
	int step;
	int arg;
	pid_t pid;
	int same_pid;
	int pid_errno;
};

static void child_send(int fd, int step, int e, int arg)
{
	struct rst_msg m = { .kind = MSG_PREP, .err = e, .step = step, .arg = arg };
	ssize_t n;

	do {
		n = write(fd, &m, sizeof(m));
	} while (n < 0 && errno == EINTR);
}

#define CHILD_FAIL(step, arg)                                   \
	do {                                                    \
		child_send(status, (step), errno, (int)(arg));  \
		_exit(127);                                     \
	} while (0)

static int raw_sigaction(int sig, const struct cld_sigaction *a)
{
	return (int)syscall(SYS_rt_sigaction, sig, a, NULL, 8);
}

static void child_queue(int status, pid_t pid, int sig, const struct cld_siginfo *si, bool thread)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	if (si)
		memcpy(&info, si->bytes, sizeof(info) < sizeof(si->bytes) ? sizeof(info) :
									     sizeof(si->bytes));
	else
		info.si_code = SI_USER;
	info.si_signo = sig;
	if ((thread ? syscall(SYS_rt_tgsigqueueinfo, pid, pid, sig, &info)
		    : syscall(SYS_rt_sigqueueinfo, pid, sig, &info)) < 0)
		CHILD_FAIL(ST_SIGQUEUE, sig);
}

/* A number of /proc/self (oom_score_adj, loginuid) as the image has it;
 * async-signal-safe (no stdio).  0 if it was already, -1 with errno if it
 * cannot be set. */
static int child_proc_num(const char *path, long long want)
{
	char buf[24], *q = buf + sizeof(buf);
	unsigned long long v = want < 0 ? (unsigned long long)-want : (unsigned long long)want;
	long long cur = 0;
	ssize_t n;
	int fd, neg = 0, i;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	for (i = 0; i < n; i++) {
		if (buf[i] == '-')
			neg = 1;
		else if (buf[i] >= '0' && buf[i] <= '9')
			cur = cur * 10 + (buf[i] - '0');
	}
	if ((neg ? -cur : cur) == want) {
		close(fd);
		return 0;
	}
	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (want < 0)
		*--q = '-';
	n = pwrite(fd, q, (size_t)(buf + sizeof(buf) - q), 0);
	close(fd);
	return n < 0 ? -1 : 0;
}

/*
 * A session leader gets a session of its own again, and its terminal (the
 * restarting command's) as its controlling one where the kernel lets it
 * (not while it is another session's).  A group leader without a terminal
 * gets a group of its own; with one it stays in the restarting command's,
 * whose job control its terminal follows.  A guest whose terminal is a
 * pty of its own (CLD_RST_OWN_CTTY) leads a session on it.
 */
static void child_session(struct cld_rst *rs)
{
	const struct cld_proc *p = rs->p;
	int status = rs->svc_base + rs->slot_status, tty = -1;
	uint32_t i;

	for (i = 0; i < p->nr_fds && tty < 0; i++)
		if (p->fds[i].rec.kind == CLD_FD_TTY)
			tty = p->fds[i].rec.fd;
	if (p->proc.sid == p->proc.pid ||
	    ((rs->o->flags & CLD_RST_OWN_CTTY) && tty >= 0 && p->proc.tty_nr)) {
		if (setsid() < 0)
			CHILD_FAIL(ST_SESSION, 0);
		if (tty >= 0 && p->proc.tty_nr)
			ioctl(tty, TIOCSCTTY, 0);
	} else if (p->proc.pgid == p->proc.pid && tty < 0 && getpgrp() != getpid()) {
		if (setpgid(0, 0) < 0)
			CHILD_FAIL(ST_SESSION, 1);
	}
}

/*
 * Runs in the fresh child, between fork and the ptrace stop: only
 * async-signal-safe calls (the caller may be multi-threaded), data read
 * from the parent's memory as it was at fork.  All signals are blocked.
 */
static void __attribute__((noreturn)) child_main(struct cld_rst *rs)
{
	const struct cld_proc *p = rs->p;
	const struct cld_thread *t = &p->threads[0];
	int status = rs->pfd[rs->slot_status];
	int base = rs->svc_base, n = (int)rs->nr_pfd;
	struct rlimit rl;
	uint64_t pending;
	pid_t pid;
	uint32_t i;
	char c;
	int s;

	/* Room for the restorer's fds above every fd the image uses. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		CHILD_FAIL(ST_NOFILE, 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)(base + n))
		CHILD_FAIL(ST_NOFILE, base + n);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	/* Every source fd is below base, so no dup3 clobbers a source. */
	for (s = 0; s < n; s++)
		if (dup3(rs->pfd[s], base + s, O_CLOEXEC) < 0)
			CHILD_FAIL(ST_DUP_SVC, rs->pfd[s]);
	status = base + rs->slot_status;
	if (syscall(SYS_close_range, 0, base - 1, 0) < 0 ||
	    syscall(SYS_close_range, base + n, ~0u, 0) < 0)
		CHILD_FAIL(ST_CLOSE, 0);
	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd_rec *f = &p->fds[i].rec;

		if (dup3(base + rs->fd_slot[i], f->fd,
			 (f->fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
			CHILD_FAIL(ST_DUP_FD, f->fd);
	}
	/* Registrations key on the fd number: made once each has its own. */
	for (i = 0; i < p->nr_epolls; i++) {
		const struct cld_epoll_rec *e = &p->epolls[i];
		struct epoll_event ev = { .events = e->events, .data.u64 = e->data };

		if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->tfd, &ev) < 0)
			CHILD_FAIL(ST_EPOLL, e->tfd);
	}
	child_session(rs);
	for (s = 2; s <= 8; s += 2)
		if ((p->proc.flags2 & CLD_PROC2_MEMBARRIER) && (p->proc.membarrier & (1u << s)) &&
		    syscall(SYS_membarrier, 1 << s, 0, 0) < 0)
			CHILD_FAIL(ST_MEMBARRIER, 1 << s);
	if (rs->cwd && chdir(rs->cwd) < 0)
		CHILD_FAIL(ST_CHDIR, 0);
	umask(p->proc.umask & 0777);
	if (personality(p->proc.personality) < 0)
		CHILD_FAIL(ST_PERSONALITY, 0);
	if (prctl(PR_SET_NAME, p->proc.comm, 0, 0, 0) < 0)
		CHILD_FAIL(ST_PRCTL, PR_SET_NAME);
	if ((p->proc.flags & CLD_PROC_NO_NEW_PRIVS) &&
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		CHILD_FAIL(ST_PRCTL, PR_SET_NO_NEW_PRIVS);
	if ((p->proc.flags & CLD_PROC_SUBREAPER) &&
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		CHILD_FAIL(ST_PRCTL, PR_SET_CHILD_SUBREAPER);
	if ((p->proc.flags & CLD_PROC_THP_DISABLE) && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) < 0)
		CHILD_FAIL(ST_PRCTL, PR_SET_THP_DISABLE);
	if (child_proc_num("/proc/self/oom_score_adj", p->proc.oom_score_adj) < 0)
		CHILD_FAIL(ST_OOM, p->proc.oom_score_adj);
	/* Unset in the image and no audit here: nothing to set. */
	if ((p->proc.flags2 & CLD_PROC2_LOGINUID) &&
	    child_proc_num("/proc/self/loginuid", p->proc.loginuid) < 0 &&
	    !(errno == ENOENT && p->proc.loginuid == UINT32_MAX))
		CHILD_FAIL(ST_LOGINUID, (int)p->proc.loginuid);
	/* With Yama, a detached child is no longer our descendant. */
	if (rs->o->flags & CLD_RST_DETACH)
		prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	/* Handlers point into the image's address space, which is fine: no
	 * signal can be delivered before it is in place (all blocked). */
	for (s = 1; s <= 64; s++) {
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		if (raw_sigaction(s, &p->sig.action[s - 1]) < 0)
			CHILD_FAIL(ST_SIGACTION, s);
	}
	{
		stack_t ss = { 0 };

		if ((t->rec.sas_flags & SS_DISABLE) || !t->rec.sas_size) {
			ss.ss_flags = SS_DISABLE;
		} else {
			ss.ss_sp = (void *)(uintptr_t)t->rec.sas_sp;
			ss.ss_size = t->rec.sas_size;
			ss.ss_flags = (int)(t->rec.sas_flags & SS_AUTODISARM);
		}
		if (sigaltstack(&ss, NULL) < 0)
			CHILD_FAIL(ST_ALTSTACK, 0);
	}
	/* Pending signals: queued with their siginfo to ourselves (a process
	 * may send itself any si_code), per thread and process-wide. */
	pid = (pid_t)syscall(SYS_getpid);
	pending = t->rec.pending;
	for (i = 0; i < t->rec.nr_queue; i++) {
		int sig;

		memcpy(&sig, t->queue[i].bytes, sizeof(sig));
		if (sig < 1 || sig > 64 || sig == SIGKILL || sig == SIGSTOP)
			continue;
		child_queue(status, pid, sig, &t->queue[i], true);
		pending &= ~(1ull << (sig - 1));
	}
	for (s = 1; s <= 64; s++)
		if ((pending & (1ull << (s - 1))) && s != SIGKILL && s != SIGSTOP)
			child_queue(status, pid, s, NULL, true);
	pending = p->sig.shared_pending;
	for (i = 0; i < p->sig.nr_shared_queue; i++) {
		int sig;

		memcpy(&sig, p->shared_queue[i].bytes, sizeof(sig));
		if (sig < 1 || sig > 64 || sig == SIGKILL || sig == SIGSTOP)
			continue;
		child_queue(status, pid, sig, &p->shared_queue[i], false);
		pending &= ~(1ull << (sig - 1));
	}
	for (s = 1; s <= 64; s++)
		if ((pending & (1ull << (s - 1))) && s != SIGKILL && s != SIGSTOP)
			child_queue(status, pid, s, NULL, false);
	for (s = 0; s < 16; s++) {
		struct rlimit r = { p->proc.rlim[s].cur, p->proc.rlim[s].max };

		if (setrlimit(s, &r) < 0)
			CHILD_FAIL(ST_RLIMIT, s);
	}
	child_send(status, 0, 0, 0);
	/* Wait for the ptrace stop; EOF means the restorer died. */
	while (read(base + rs->slot_life, &c, 1) < 0 && errno == EINTR)
		;
	_exit(126);
}

static pid_t do_clone3(pid_t want, int *perr)
{
	struct clone_args_v1 a;
	pid_t tid = want;
	long r;

	*perr = 0;
	if (want > 0) {
		memset(&a, 0, sizeof(a));
		a.exit_signal = SIGCHLD;
		a.set_tid = (uint64_t)(uintptr_t)&tid;
		a.set_tid_size = 1;
		r = syscall(SYS_clone3, &a, sizeof(a));
		if (r >= 0)
			return (pid_t)r;
		*perr = errno;
	}
	memset(&a, 0, sizeof(a));
	a.exit_signal = SIGCHLD;
	r = syscall(SYS_clone3, &a, sizeof(a));
	if (r < 0 && errno == ENOSYS)
		r = syscall(SYS_fork);
	return (pid_t)r;
}

static int read_msg(int fd, struct rst_msg *m)
{
	ssize_t n;

	do {
		n = read(fd, m, sizeof(*m));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(*m) ? 0 : -EPIPE;
}

/*
 * Fork the child (through a helper that exits at once with --detach, so
 * the child is reparented) and wait for its preparation to finish.
 */
int rst_spawn(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	pid_t want = (rs->o->flags & CLD_RST_NEW_PID) ? 0 : p->proc.pid;
	bool detach = rs->o->flags & CLD_RST_DETACH;
	uint64_t all = ~0ull, old;
	struct rst_msg m;
	int perr = 0, ret;
	pid_t pid;

	/* Block everything (raw call: glibc would keep its internal signals)
	 * so the child starts with all blocked. */
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
	if (detach) {
		rs->helper = fork();
		if (rs->helper == 0) {
			struct rst_msg pm = { .kind = MSG_PID };

			pid = do_clone3(want, &perr);
			if (pid == 0)
				child_main(rs);
			pm.pid = pid;
			pm.err = pid < 0 ? errno : 0;
			pm.same_pid = pid > 0 && pid == want;
			pm.pid_errno = perr;
			if (write(rs->pfd[rs->slot_status], &pm, sizeof(pm)) < 0)
				_exit(1);
			_exit(0);
		}
		pid = rs->helper;
	} else {
		pid = do_clone3(want, &perr);
		if (pid == 0)
			child_main(rs);
		rs->pid = pid;
		rs->res->same_pid = pid > 0 && pid == want;
		rs->res->pid_errno = perr;
	}
	ret = pid < 0 ? -errno : 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
	if (ret)
		return cld_err_set(err, ret, "fork: %s", strerror(-ret));
	/* Our copies of the child's fds go: the child holds its own now.  The
	 * status pipe's write end must go too, so a dead child reads as EOF. */
	rst_close_pfds(rs);
	for (;;) {
		ret = read_msg(rs->status_rd, &m);
		if (ret)
			return cld_err_set(err, -ECHILD,
					   "the restore child died during its preparation");
		if (m.kind == MSG_PID) {
			if (m.pid < 0)
				return cld_err_set(err, -m.err, "fork: %s", strerror(m.err));
			rs->pid = m.pid;
			rs->res->same_pid = m.same_pid;
			rs->res->pid_errno = m.pid_errno;
			continue;
		}
		break;
	}
	if (m.err) {
		const char *what = m.step > 0 && m.step <= ST_RLIMIT ? step_names[m.step] : "?";

		return cld_err_set(err, -m.err, "restore child: %s %d: %s", what, m.arg,
				   strerror(m.err));
	}
	if (detach && rs->pid <= 0) {
		/* The pid message may come after the child's (another writer). */
		if (read_msg(rs->status_rd, &m) || m.kind != MSG_PID || m.pid <= 0)
			return cld_err_set(err, -ECHILD, "lost the restore child's pid");
		rs->pid = m.pid;
		rs->res->same_pid = m.same_pid;
		rs->res->pid_errno = m.pid_errno;
	}
	return 0;
}

int rst_seize(struct cld_rst *rs, struct cld_err *err)
{
	int st;

	if (ptrace(PTRACE_SEIZE, rs->pid, NULL,
		   (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)) < 0)
		return cld_err_set(err, -errno, "PTRACE_SEIZE of the restore child %d: %s",
				   rs->pid, strerror(errno));
	if (ptrace(PTRACE_INTERRUPT, rs->pid, NULL, NULL) < 0)
		return cld_err_set(err, -errno, "PTRACE_INTERRUPT %d: %s", rs->pid,
				   strerror(errno));
	for (;;) {
		if (waitpid(rs->pid, &st, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return cld_err_set(err, -errno, "waitpid %d: %s", rs->pid, strerror(errno));
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return cld_err_set(err, -ECHILD, "the restore child %d died", rs->pid);
		if (WIFSTOPPED(st))
			return 0;
	}
}
