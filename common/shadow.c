// SPDX-License-Identifier: MIT
/*
 * The shadow's ptrace side (clondike/shadow.h).  Why pause(2) and not a
 * ptrace stop: a task in a ptrace stop does not report the signals sent to
 * it, and its parent sees neither it stop nor go on.  In pause(2), with
 * nothing blocked, every signal arrives as a signal-delivery stop, which
 * the tracer suppresses (the kernel then restarts pause: no handler ran).
 */
#include "clondike/procfs.h"
#include "clondike/shadow.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clondike/compat.h"
#include "clondike/inject.h"

/* The wake: a queued real-time signal (never merged with the program's
 * own), recognised by its sender and value. */
#define WAKE_SIG (SIGRTMAX)
#define WAKE_MAGIC 0x636c6477 /* "cldw" */

static bool is_stop_sig(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static uint64_t status_mask(pid_t pid, const char *key)
{
	char path[64], line[256];
	unsigned long long v = 0;
	size_t kl = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtoull(line + kl + 1, NULL, 16);
			break;
		}
	fclose(f);
	return v;
}

uint64_t cld_shadow_pending(pid_t pid)
{
	return status_mask(pid, "SigPnd") | status_mask(pid, "ShdPnd");
}

/* Consume the signals that were pending at the freeze: the guest got them
 * with the image.  Later ones stay, to be forwarded. */
static int flush_pending(struct cld_remote *r, pid_t pid, uint64_t set, struct cld_err *err)
{
	const struct timespec zero = { 0, 0 };
	uint64_t at;
	unsigned int i;
	long ret;
	int rc;

	if (!set)
		return 0;
	rc = cld_remote_scratch(r, 4096, &at, err);
	if (rc)
		return rc;
	rc = cld_remote_write(pid, at, &set, sizeof(set));
	if (!rc)
		rc = cld_remote_write(pid, at + 64, &zero, sizeof(zero));
	if (rc)
		return cld_err_set(err, rc, "writing to shadow %d: %s", (int)pid, strerror(-rc));
	for (i = 0; i < 4096; i++) {
		rc = cld_remote_syscall(r, &ret, SYS_rt_sigtimedwait, (long)at, 0, (long)(at + 64),
					8, 0, 0, err);
		if (rc)
			return rc;
		if (ret < 0)
			return 0; /* EAGAIN: none left */
	}
	return 0;
}

/*
 * The guest runs the process's timers now: the shadow's own would go on
 * firing at home, and their signals would reach the guest a second time.
 * Its itimers are disarmed and its POSIX timers deleted (the ids from
 * /proc/PID/timers, each "ID:" at a line's start).
 */
static int quiet_timers(struct cld_remote *r, pid_t pid, struct cld_err *err)
{
	const struct itimerval zero = { { 0, 0 }, { 0, 0 } };
	char *buf = NULL, *q;
	uint64_t at;
	long ret;
	int rc, which;

	rc = cld_remote_scratch(r, 4096, &at, err);
	if (rc)
		return rc;
	rc = cld_remote_write(pid, at, &zero, sizeof(zero));
	if (rc)
		return cld_err_set(err, rc, "writing to shadow %d: %s", (int)pid, strerror(-rc));
	for (which = 0; which < 3 && !rc; which++)
		rc = cld_remote_syscall(r, &ret, SYS_setitimer, which, (long)at, 0, 0, 0, 0, err);
	if (rc || cld_procfs_slurp(pid, "timers", &buf, NULL))
		return rc;
	for (q = buf; q && !rc; q = strchr(q, '\n'), q = q ? q + 1 : NULL)
		if (!strncmp(q, "ID:", 3))
			rc = cld_remote_syscall(r, &ret, SYS_timer_delete, strtol(q + 3, NULL, 10), 0,
						0, 0, 0, 0, err);
	free(buf);
	return rc;
}

/*
 * A shadow is one thread: the guest runs the others.  Each stopped thread
 * but the leader leaves with an injected exit(2), after forgetting its
 * robust list and clear_child_tid, so its exit writes nothing to the
 * memory the guest may still be paging in from here.  (Stopped threads
 * would also keep a group stop from completing, and the parent from
 * seeing the shadow stop.)
 */
static int shed_threads(pid_t pid, uint64_t site, struct cld_err *err)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int rc = 0;
	unsigned int round, others = 1;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	/* Entries vanish as threads exit, and a readdir of a changing
	 * directory may skip some: read it again until only the leader is
	 * left (a missed thread would stay stopped, and its unreaped exit
	 * would keep the shadow from ever being reported dead). */
	for (round = 0; !rc && others && round < 64; round++) {
		others = 0;
		dir = opendir(path);
		if (!dir)
			return cld_err_set(err, -errno, "reading %s: %s", path, strerror(errno));
		while (!rc && (d = readdir(dir))) {
			pid_t tid = (pid_t)strtol(d->d_name, NULL, 10);
			struct cld_remote *r;
			struct cld_err ierr = { 0 };
			long ret;

			if (tid <= 0 || tid == pid)
				continue;
			rc = cld_remote_open(&r, tid, site, err);
			if (rc)
				break;
			rc = cld_remote_syscall(r, &ret, SYS_set_robust_list, 0, 24, 0, 0, 0, 0,
						err);
			if (!rc)
				rc = cld_remote_syscall(r, &ret, SYS_set_tid_address, 0, 0, 0, 0, 0,
							0, err);
			/* Its exit report ends the call (and is consumed): -ESRCH. */
			if (!rc && cld_remote_syscall(r, &ret, SYS_exit, 0, 0, 0, 0, 0, 0, &ierr) !=
					   -ESRCH)
				rc = cld_err_set(err, -EIO, "thread %d of shadow %d did not exit",
						 (int)tid, (int)pid);
			cld_remote_free(r);
			others++;
		}
		closedir(dir);
	}
	return rc;
}

int cld_shadow_begin(struct cld_shadow *s, pid_t pid, uint64_t pending, struct cld_err *err)
{
	struct cld_remote *r;
	uint64_t none = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	rc = cld_remote_open(&r, pid, 0, err);
	if (rc)
		return rc;
	rc = shed_threads(pid, cld_remote_site(r), err);
	if (!rc)
		rc = quiet_timers(r, pid, err);
	if (!rc)
		rc = flush_pending(r, pid, pending, err);
	s->park = *cld_remote_saved_regs(r);
	s->park.rip = cld_remote_site(r);
	s->park.rax = SYS_pause;
	s->park.orig_rax = (unsigned long)-1; /* not in a call: no restart */
	if (cld_remote_close(r, 1, rc ? NULL : err) && !rc)
		rc = -EIO;
	if (rc)
		return rc;
	if (ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(none), &none) < 0)
		return cld_err_set(err, -errno, "emptying the mask of shadow %d: %s", (int)pid,
				   strerror(errno));
	s->in_stop = true;
	return 0;
}

int cld_shadow_park(struct cld_shadow *s, int sig, struct cld_err *err)
{
	if (!s->in_stop)
		return 0;
	s->in_stop = false;
	if (s->group_sig && !sig) {
		/* Still stopped as far as its parent knows. */
		s->group_sig = 0;
		s->listening = true;
		if (ptrace(PTRACE_LISTEN, s->pid, NULL, NULL) < 0 && errno != ESRCH)
			return cld_err_set(err, -errno, "PTRACE_LISTEN of %d: %s", (int)s->pid,
					   strerror(errno));
		return 0;
	}
	s->group_sig = 0;
	if (ptrace(PTRACE_SETREGS, s->pid, NULL, &s->park) < 0 ||
	    ptrace(PTRACE_CONT, s->pid, NULL, (void *)(long)sig) < 0)
		return errno == ESRCH ? 0 /* it died: GONE follows */
					:
					cld_err_set(err, -errno, "resuming shadow %d: %s",
						    (int)s->pid, strerror(errno));
	return 0;
}

static bool is_wake(const siginfo_t *si)
{
	return si->si_signo == WAKE_SIG && si->si_code == SI_QUEUE && si->si_pid == getpid() &&
	       si->si_value.sival_int == WAKE_MAGIC;
}

int cld_shadow_next(struct cld_shadow *s, bool block, struct cld_shadow_event *ev,
		    struct cld_err *err)
{
	int st, sig;
	pid_t r;

	memset(ev, 0, sizeof(*ev));
	for (;;) {
		/* A stopped task reports nothing but SIGCONT and SIGKILL. */
		r = waitpid(s->pid, &st, __WALL | (block && !s->listening ? 0 : WNOHANG));
		if (r == 0)
			return 0; /* CLD_SHADOW_NONE */
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return cld_err_set(err, -errno, "waitpid of shadow %d: %s", (int)s->pid,
					   strerror(errno));
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			ev->what = CLD_SHADOW_GONE;
			ev->status = st;
			s->listening = s->in_stop = false;
			return 0;
		}
		if (!WIFSTOPPED(st))
			continue;
		sig = WSTOPSIG(st);
		if ((st >> 16) == PTRACE_EVENT_STOP) {
			if (s->interrupting) {
				s->interrupting = false;
				s->listening = false;
				s->in_stop = true;
				s->group_sig = is_stop_sig(sig) ? sig : 0;
				ev->what = CLD_SHADOW_WAKE;
				return 0;
			}
			if (is_stop_sig(sig) && !s->listening) {
				/* The group stop we made: the parent sees it;
				 * stay stopped, but hear of SIGCONT. */
				if (ptrace(PTRACE_LISTEN, s->pid, NULL, NULL) < 0 && errno != ESRCH)
					return cld_err_set(err, -errno, "PTRACE_LISTEN of %d: %s",
							   (int)s->pid, strerror(errno));
				s->listening = true;
				continue;
			}
			/* Our interrupt, or SIGCONT ending the group stop. */
			s->listening = false;
			s->in_stop = true;
			ev->what = CLD_SHADOW_WAKE;
			return 0;
		}
		if ((st >> 8) != sig) {
			/* Another ptrace event (none asked for): go on. */
			s->in_stop = true;
			ev->what = CLD_SHADOW_WAKE;
			return 0;
		}
		/* A signal-delivery stop. */
		if (ptrace(PTRACE_GETSIGINFO, s->pid, NULL, &ev->si) < 0) {
			if (errno == ESRCH)
				continue;
			return cld_err_set(err, -errno, "PTRACE_GETSIGINFO of %d: %s", (int)s->pid,
					   strerror(errno));
		}
		s->in_stop = true;
		if (is_wake(&ev->si)) {
			ev->what = CLD_SHADOW_WAKE;
			return 0;
		}
		/* A timer's, fired here before it was deleted: the guest's
		 * own timer gives the guest its signal. */
		if (ev->si.si_code == SI_TIMER) {
			if (cld_shadow_park(s, 0, err))
				return -EIO;
			continue;
		}
		if (s->dying == sig || s->stopping == sig) {
			/* One we sent ourselves: let it take effect. */
			s->stopping = 0;
			if (cld_shadow_park(s, sig, err))
				return -EIO;
			continue;
		}
		ev->what = CLD_SHADOW_SIGNAL;
		return 0;
	}
}

static int send_self(struct cld_shadow *s, int sig, struct cld_err *err)
{
	if (syscall(SYS_tgkill, s->pid, s->pid, sig) < 0)
		return cld_err_set(err, -errno, "signal %d to shadow %d: %s", sig, (int)s->pid,
				   strerror(errno));
	return 0;
}

int cld_shadow_stop(struct cld_shadow *s, int sig, struct cld_err *err)
{
	uint64_t bit = 1ull << (sig - 1);

	/* A handled or ignored stop signal would not stop it: SIGSTOP does. */
	if (!is_stop_sig(sig) ||
	    ((status_mask(s->pid, "SigCgt") | status_mask(s->pid, "SigIgn")) & bit))
		sig = SIGSTOP;
	s->stopping = sig;
	return send_self(s, sig, err);
}

/* Its disposition of sig back to the default, so that sig kills it. */
static int default_action(struct cld_shadow *s, int sig, struct cld_err *err)
{
	struct cld_remote *r;
	uint64_t at;
	long ret;
	int rc;

	rc = cld_remote_open(&r, s->pid, s->park.rip, err);
	if (rc)
		return rc;
	/* A fresh anonymous page is all zeros: SIG_DFL, no flags, no mask. */
	rc = cld_remote_scratch(r, 4096, &at, err);
	if (!rc)
		rc = cld_remote_syscall(r, &ret, SYS_rt_sigaction, sig, (long)at, 0, 8, 0, 0, err);
	if (cld_remote_close(r, 1, rc ? NULL : err) && !rc)
		rc = -EIO;
	return rc;
}

int cld_shadow_exit(struct cld_shadow *s, int code, int status, struct cld_err *err)
{
	struct rlimit rl;
	int rc;

	if (code == CLD_EXITED) {
		/* The parking place becomes the exit: a stop that comes
		 * before the call runs (a wake queued meanwhile) resumes
		 * into it, not into pause(2). */
		s->park.rax = SYS_exit_group;
		s->park.rdi = (unsigned long)status;
		s->in_stop = false;
		if (ptrace(PTRACE_SETREGS, s->pid, NULL, &s->park) < 0 ||
		    ptrace(PTRACE_CONT, s->pid, NULL, NULL) < 0)
			return errno == ESRCH ? 0 :
						cld_err_set(err, -errno, "ending shadow %d: %s",
							    (int)s->pid, strerror(errno));
		return 0;
	}
	if (status <= 0 || status >= 65)
		return cld_err_set(err, -EINVAL, "no signal %d", status);
	if (status == SIGKILL) {
		kill(s->pid, SIGKILL);
		return 0;
	}
	rc = default_action(s, status, err);
	if (rc)
		return rc;
	/* The core flag as the guest had it: a core is dumped here only if
	 * the guest dumped one (the useful core is the guest's). */
	if (code == CLD_KILLED) {
		rl.rlim_cur = rl.rlim_max = 0;
		prlimit(s->pid, RLIMIT_CORE, &rl, NULL);
	} else if (!prlimit(s->pid, RLIMIT_CORE, NULL, &rl) && rl.rlim_cur == 0) {
		rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
		prlimit(s->pid, RLIMIT_CORE, &rl, NULL);
	}
	s->dying = status;
	rc = send_self(s, status, err);
	if (rc)
		return rc;
	return cld_shadow_park(s, 0, err);
}

int cld_shadow_interrupt(struct cld_shadow *s, struct cld_err *err)
{
	if (ptrace(PTRACE_INTERRUPT, s->pid, NULL, NULL) < 0 && errno != ESRCH)
		return cld_err_set(err, -errno, "PTRACE_INTERRUPT of shadow %d: %s", (int)s->pid,
				   strerror(errno));
	/* Its report must not be taken for a group stop of its own. */
	s->interrupting = true;
	return 0;
}

int cld_shadow_wake(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = WAKE_SIG;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = WAKE_MAGIC;
	if (syscall(SYS_rt_tgsigqueueinfo, pid, pid, WAKE_SIG, &si) < 0)
		return -errno;
	return 0;
}
