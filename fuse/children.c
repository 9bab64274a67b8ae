// SPDX-License-Identifier: MIT
#include "children.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "frozen.h"
#include "log.h"

struct watch {
	pid_t pid;
	cldd_child_cb cb;
	void *arg;
	struct watch *next;
};

/* Exits nobody watched yet: a guest may end before its restore's answer
 * reached us. */
#define KEPT 64
#define KEPT_NS (60ull * 1000000000ull)

struct kept {
	pid_t pid;
	uint64_t at_ns;
	siginfo_t si;
};

struct cldd_children {
	struct cldd *d;
	uv_signal_t sigchld; /* data: this */
	pid_t tid; /* the loop thread: its children are ours */
	struct watch *watches;
	struct kept kept[KEPT];
	unsigned int next_kept;
};

static struct watch **find(struct cldd_children *C, pid_t pid)
{
	struct watch **pp;

	for (pp = &C->watches; *pp; pp = &(*pp)->next)
		if ((*pp)->pid == pid)
			return pp;
	return NULL;
}

static bool exited(const siginfo_t *si)
{
	return si->si_code == CLD_EXITED || si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED;
}

static void report(struct cldd_children *C, pid_t pid, const siginfo_t *si)
{
	struct watch **pp = find(C, pid), *w;
	struct kept *k;

	if (!pp) {
		if (!exited(si))
			return;
		k = &C->kept[C->next_kept++ % KEPT];
		k->pid = pid;
		k->at_ns = cldd_now_ns();
		k->si = *si;
		cldd_dbg("child %d ended (code %d, status %d)", (int)pid, si->si_code,
			 si->si_status);
		return;
	}
	w = *pp;
	if (exited(si)) {
		*pp = w->next;
		w->cb(w->arg, pid, si);
		free(w);
		return;
	}
	w->cb(w->arg, pid, si);
}

static void reap_one(struct cldd_children *C, pid_t pid)
{
	siginfo_t si;

	/* Its reports are its tracer's while it is frozen. */
	if (cldd_freeze_held(C->d, pid))
		return;
	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si,
			   WEXITED | WSTOPPED | WCONTINUED | WNOHANG | __WNOTHREAD) < 0 ||
		    si.si_pid == 0)
			return;
		report(C, pid, &si);
		if (exited(&si))
			return;
	}
}

void cldd_children_poll(struct cldd *d)
{
	struct cldd_children *C = d->kids;
	char path[64], buf[8192];
	ssize_t n;
	char *p, *end;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)C->tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Large lists come in pieces: reap what each piece names. */
	while ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = 0;
		for (p = buf; *p; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			if (v > 0)
				reap_one(C, (pid_t)v);
		}
	}
	close(fd);
}

static void on_sigchld(uv_signal_t *h, int sig)
{
	struct cldd_children *C = h->data;

	(void)sig;
	cldd_children_poll(C->d);
}

int cldd_children_init(struct cldd *d)
{
	struct cldd_children *C = calloc(1, sizeof(*C));
	int r;

	if (!C)
		return -ENOMEM;
	C->d = d;
	C->sigchld.data = C;
	d->kids = C;
	C->tid = (pid_t)syscall(SYS_gettid);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		cldd_warn("cannot become a child subreaper (%s): guests' exits will not reach home",
			  strerror(errno));
	r = uv_signal_init(d->loop, &C->sigchld);
	if (!r)
		r = uv_signal_start(&C->sigchld, on_sigchld, SIGCHLD);
	return r;
}

int cldd_child_watch(struct cldd *d, pid_t pid, cldd_child_cb cb, void *arg)
{
	struct cldd_children *C = d->kids;
	struct watch *w;
	unsigned int i;

	if (find(C, pid))
		return -EEXIST;
	for (i = 0; i < KEPT; i++) {
		struct kept *k = &C->kept[i];

		if (k->pid != pid)
			continue;
		k->pid = 0;
		/* A pid that lives is a new process (restores reuse pids). */
		if (kill(pid, 0) < 0 && errno == ESRCH && cldd_now_ns() - k->at_ns < KEPT_NS) {
			cb(arg, pid, &k->si);
			return 0;
		}
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->pid = pid;
	w->cb = cb;
	w->arg = arg;
	w->next = C->watches;
	C->watches = w;
	/* A SIGCHLD before the watch found nobody: look again. */
	reap_one(C, pid);
	return 0;
}

void cldd_child_unwatch(struct cldd *d, pid_t pid)
{
	struct watch **pp = find(d->kids, pid), *w;

	if (!pp)
		return;
	w = *pp;
	*pp = w->next;
	free(w);
}

void cldd_child_reaped(struct cldd *d, pid_t pid, int status)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGCHLD;
	si.si_pid = pid;
	if (WIFEXITED(status)) {
		si.si_code = CLD_EXITED;
		si.si_status = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		si.si_code = WCOREDUMP(status) ? CLD_DUMPED : CLD_KILLED;
		si.si_status = WTERMSIG(status);
	} else {
		return;
	}
	report(d->kids, pid, &si);
}
