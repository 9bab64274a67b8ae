// SPDX-License-Identifier: MIT
/*
 * The ptrace freezer backend.
 *
 * Freezing is PTRACE_SEIZE + PTRACE_INTERRUPT: the task stops in a ptrace
 * trap that, unlike SIGSTOP, is invisible to its parent (no SIGCHLD, no
 * WUNTRACED report).  While it is stopped we read everything /proc offers,
 * inject the few system calls that only the task can answer (brk(0),
 * rt_sigaction, sigaltstack, getitimer, prctl) and scan the page tables for
 * the pages to dump.  No page is read: that happens when the image is read,
 * through process_vm_readv (or /proc/PID/mem for PROT_NONE memory).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clondike/freeze_ptrace.h"
#include "clondike/inject.h"
#include "freeze_ptrace_priv.h"

/* ---- The frozen object ---------------------------------------------------- */

struct ptr_frozen {
	pid_t pid;
	pid_t *tids; /* every thread, seized and stopped; the leader first */
	unsigned int nr_tids, cap_tids;
	unsigned int flags;
	int mem_fd; /* /proc/PID/mem, for what process_vm_readv refuses */
	int attached;
	struct cld_proc proc;
	struct cld_image *img;
};

/* ---- Memory source and frozen ops -------------------------------------------- */

static int mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct ptr_frozen *pf = ctx;
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	size_t done = 0;
	ssize_t n;

	n = process_vm_readv(pf->pid, &l, 1, &r, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n > 0)
		done = (size_t)n;
	/* PROT_NONE or otherwise unreadable for the task itself: /proc/PID/mem
	 * reads with FOLL_FORCE. */
	while (done < len) {
		n = pread(pf->mem_fd, (char *)buf + done, len - done, (off_t)(addr + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static const struct cld_mem_ops ptr_mem_ops = { .read = mem_read };

static ssize_t ptr_pread(struct cld_frozen *fz, void *buf, size_t len, uint64_t off)
{
	struct ptr_frozen *pf = fz->priv;

	return cld_image_pread(pf->img, buf, len, off);
}

static int64_t ptr_seek(struct cld_frozen *fz, int64_t off, int whence)
{
	struct ptr_frozen *pf = fz->priv;

	return cld_image_seek(pf->img, off, whence);
}

/* Wait for a killed task's exit report, which we get as its tracer. */
static void reap_killed(pid_t tid)
{
	int st;

	while (waitpid(tid, &st, __WALL) >= 0 || errno == EINTR)
		if (errno != EINTR && (WIFEXITED(st) || WIFSIGNALED(st)))
			break;
}

static int ptr_detach(struct ptr_frozen *pf, enum cld_thaw_how how, struct cld_err *err)
{
	unsigned int i;
	int st;

	if (!pf->attached)
		return 0;
	pf->attached = 0;
	if (how == CLD_THAW_KILL) {
		if (kill(pf->pid, SIGKILL) < 0)
			return cld_err_set(err, -errno, "kill %d: %s", pf->pid, strerror(errno));
		/* Consume the exit reports we get as tracer, so the real parent
		 * is notified right away (the leader's comes last). */
		for (i = pf->nr_tids; i-- > 0;)
			reap_killed(pf->tids[i]);
		return 0;
	}
	/* Threads first: the leader resumes once all can run. */
	for (i = pf->nr_tids; i-- > 1;)
		if (ptrace(PTRACE_DETACH, pf->tids[i], NULL, NULL) < 0 && errno == ESRCH)
			waitpid(pf->tids[i], &st, __WALL | WNOHANG);
	if (ptrace(PTRACE_DETACH, pf->pid, NULL, NULL) == 0)
		return 0;
	if (errno != ESRCH)
		return cld_err_set(err, -errno, "PTRACE_DETACH of %d: %s", pf->pid, strerror(errno));
	/*
	 * Killed while frozen (SIGKILL needs no thaw): as its tracer we get
	 * its exit report first, and until we consume it the real parent's
	 * wait() blocks on a zombie.  It is dead or dying: reap the report.
	 */
	for (i = 0; i < 200; i++) {
		pid_t r = waitpid(pf->pid, &st, __WALL | WNOHANG);

		if (r < 0 || (r == pf->pid && (WIFEXITED(st) || WIFSIGNALED(st))))
			break;
		usleep(5000);
	}
	return 0;
}

static int ptr_thaw(struct cld_frozen *fz, enum cld_thaw_how how, struct cld_err *err)
{
	return ptr_detach(fz->priv, how, err);
}

static void ptr_release(struct cld_frozen *fz)
{
	struct ptr_frozen *pf = fz->priv;

	if (!pf)
		return;
	ptr_detach(pf, CLD_THAW_RESUME, NULL);
	cld_image_free(pf->img);
	cld_proc_release(&pf->proc);
	if (pf->mem_fd >= 0)
		close(pf->mem_fd);
	free(pf->tids);
	free(pf);
}

/*
 * The page-table scan and the layout, on first use of the image: the scan
 * is O(resident pages) (~25 ms per GiB of 4 KiB pages), which would make
 * the freeze itself grow with memory.  The task is stopped, so scanning
 * later sees exactly what it would have seen at freeze.
 */
static int ptr_prepare(struct cld_frozen *fz, struct cld_err *err)
{
	struct ptr_frozen *pf = fz->priv;
	struct collect c = {
		.pid = pf->pid, .flags = pf->flags, .p = &pf->proc, .err = err, .pm_fd = -1
	};
	const struct cld_layout *lo;
	int ret;

	/* smaps walks the page tables, as the scan does: both are paid at
	 * the first read, not by the freeze. */
	ret = ptr_collect_vmflags(&c);
	if (!ret)
		ret = ptr_collect_pages(&c);
	if (c.pm_fd >= 0)
		close(c.pm_fd);
	if (ret)
		return ret;
	ret = cld_image_new(&pf->proc, &ptr_mem_ops, pf, &pf->img, err);
	if (ret)
		return cld_err_prefix(err, "building the image of %d", pf->pid);
	lo = cld_image_layout(pf->img);
	fz->size = lo->size;
	fz->data_bytes = lo->data_bytes;
	return 0;
}

/*
 * A shadow whose guest has all its pages: give its memory back.  Every
 * private mapping is dropped with an injected MADV_DONTNEED (the process
 * keeps its layout, pid, parent and fds; it never runs again as it is).
 */
static int ptr_drop_memory(struct cld_frozen *fz, uint64_t *bytes, struct cld_err *err)
{
	struct ptr_frozen *pf = fz->priv;
	struct cld_remote *r;
	struct cld_err ierr = { 0 };
	uint32_t i;
	long ret;
	int rc;

	*bytes = 0;
	rc = cld_remote_open(&r, pf->pid, 0, err);
	if (rc)
		return rc;
	for (i = 0; i < pf->proc.nr_vmas; i++) {
		const struct cld_vma_rec *v = &pf->proc.vmas[i].rec;

		if (v->flags & (CLD_VMA_SHARED | CLD_VMA_VDSO | CLD_VMA_VVAR | CLD_VMA_VSYSCALL |
				CLD_VMA_SPECIAL | CLD_VMA_SYSVSHM | CLD_VMA_HUGETLB | CLD_VMA_LOCKED))
			continue;
		rc = cld_remote_syscall(r, &ret, SYS_madvise, (long)v->start,
					(long)(v->end - v->start), MADV_DONTNEED, 0, 0, 0, err);
		if (rc)
			break;
		if (!ret)
			*bytes += v->end - v->start;
	}
	if (cld_remote_close(r, 0, rc ? &ierr : err) && !rc)
		rc = -EIO;
	return rc;
}

static const struct cld_frozen_ops ptr_ops = {
	.prepare = ptr_prepare,
	.pread = ptr_pread,
	.seek = ptr_seek,
	.drop_memory = ptr_drop_memory,
	.thaw = ptr_thaw,
	.release = ptr_release,
};

/* ---- Freeze -------------------------------------------------------------------- */

/* The comm as the kernel keeps a user task's (TASK_COMM_LEN): what the
 * image records and messages name. */
static int read_stat(pid_t pid, struct cld_procfs_stat *sf)
{
	int ret = cld_procfs_stat(pid, sf);

	if (!ret)
		sf->comm[15] = '\0';
	return ret;
}

static int precheck(pid_t pid, struct cld_procfs_stat *sf, char **status, struct cld_err *err)
{
	long long tracer;
	int ret;

	if (pid == getpid())
		return cld_err_set(err, -EINVAL, "a process cannot freeze itself");
	ret = read_stat(pid, sf);
	if (ret == -ENOENT || ret == -ESRCH)
		return cld_err_set(err, -ESRCH, "no process with pid %d", pid);
	if (ret)
		return cld_err_set(err, ret, "reading /proc/%d/stat: %s", pid, strerror(-ret));
	if (sf->state == 'Z' || sf->state == 'X')
		return cld_err_set(
			err, -ESRCH,
			"process %d is a zombie (it has exited; only its parent's wait() remains)",
			pid);
	if ((unsigned long long)sf->f[9] & CLD_PF_KTHREAD)
		return cld_err_set(
			err, -EINVAL,
			"process %d (%s) is a kernel thread: it has no user state to freeze", pid,
			sf->comm);
	ret = cld_procfs_slurp(pid, "status", status, NULL);
	if (ret)
		return cld_err_set(err, ret == -ENOENT ? -ESRCH : ret,
				   "reading /proc/%d/status: %s", pid, strerror(-ret));
	tracer = cld_status_dec(*status, "TracerPid", 0);
	if (tracer)
		return cld_err_set(
			err, -EBUSY,
			"process %d is already traced by pid %lld (a debugger, strace, or another freezer)",
			pid, tracer);
	return 0;
}

/*
 * Tasks this thread seized but could not stop in time.  A running tracee
 * cannot be detached; it is released at its next stop (reaped here at the
 * next freeze) or when this thread exits, whichever comes first.
 */
#define MAX_ABANDONED 64
static __thread pid_t abandoned[MAX_ABANDONED];
static __thread unsigned int nr_abandoned;

void cld_freeze_ptrace_abandon(pid_t pid)
{
	if (nr_abandoned < MAX_ABANDONED)
		abandoned[nr_abandoned++] = pid;
}

unsigned int cld_freeze_ptrace_reap(void)
{
	unsigned int i = 0;
	int st;

	while (i < nr_abandoned) {
		pid_t pid = abandoned[i], r = waitpid(pid, &st, __WALL | WNOHANG);
		bool gone = r < 0 && errno == ECHILD;

		if (r == pid && WIFSTOPPED(st)) {
			/* A signal-delivery stop keeps its signal. */
			long sig = (st >> 16) == PTRACE_EVENT_STOP ? 0 : WSTOPSIG(st);

			ptrace(PTRACE_DETACH, pid, NULL, (void *)sig);
			gone = true;
		} else if (r == pid) {
			gone = true; /* exited */
		}
		if (gone)
			abandoned[i] = abandoned[--nr_abandoned];
		else
			i++;
	}
	return nr_abandoned;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * waitpid with a deadline: a task blocked in the kernel (waiting for a
 * vfork child, in D state, or in a request that our own caller must answer)
 * reaches no stop until it returns to user mode.  Returns the pid, or 0
 * when the deadline passed.
 */
static pid_t wait_deadline(pid_t pid, int *st, uint64_t deadline_ms)
{
	struct timespec nap = { 0, 20000 };

	for (;;) {
		pid_t r = waitpid(pid, st, __WALL | WNOHANG);

		if (r != 0 || mono_ms() >= deadline_ms)
			return r;
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 2000000)
			nap.tv_nsec *= 2;
	}
}

/*
 * Whether thread tid of pid is on its way out: gone from /proc, or a
 * zombie or dead there.  The kernel refuses to attach to an exiting task
 * with EPERM, which is then no permission problem.
 */
static bool thread_exiting(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the state follows the command's name */
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X' || p[2] == 'x');
}

/* Attach to one task of the process and ask it to stop. */
static int attach_one(pid_t pid, pid_t tid, const char *comm, struct cld_err *err)
{
	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)PTRACE_O_TRACESYSGOOD) < 0) {
		int e = errno;

		if (e == ESRCH && tid != pid)
			return -ESRCH; /* a thread that just exited: not an error */
		if (e == EPERM && tid != pid && thread_exiting(pid, tid))
			return -ESRCH; /* the same, caught while it exits */
		if (e == EPERM)
			return cld_err_set(
				err, -EPERM,
				"permission denied: cannot ptrace process %d (%s)%s; you may freeze or checkpoint only processes you could debug (same user, not setuid, and as the ptrace policy allows)",
				pid, comm, tid != pid ? " (one of its threads)" : "");
		if (e == ESRCH)
			return cld_err_set(err, -ESRCH, "no process with pid %d", pid);
		return cld_err_set(err, -e, "PTRACE_SEIZE of %d: %s", tid, strerror(e));
	}
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0) {
		int e = errno;

		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		if (e == ESRCH && tid != pid)
			return -ESRCH;
		return cld_err_set(err, -e, "PTRACE_INTERRUPT of %d: %s", tid, strerror(e));
	}
	return 0;
}

/*
 * Wait until a seized task stops; a signal that arrives first is delivered
 * first.  -ETIMEDOUT when it did not stop by the deadline (it then stays
 * seized, running with our interrupt pending, and the caller must abandon
 * it); -ESRCH when it exited (err set only for the leader).
 */
static int wait_stopped(pid_t pid, pid_t tid, const char *comm, unsigned int timeout_ms,
			uint64_t deadline, struct cld_err *err)
{
	pid_t r;
	int st;

	for (;;) {
		r = wait_deadline(tid, &st, deadline);
		if (r == 0)
			return cld_err_set(
				err, -ETIMEDOUT,
				"process %d (%s) did not stop within %u ms (blocked in the kernel: in vfork, uninterruptible I/O, or a request to this very daemon); not frozen",
				pid, comm, timeout_ms);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return cld_err_set(err, -errno, "waitpid %d: %s", tid, strerror(errno));
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return tid != pid ? -ESRCH :
					    cld_err_set(err, -ESRCH,
							"process %d exited while being frozen", pid);
		if (!WIFSTOPPED(st))
			continue;
		if ((st >> 16) == PTRACE_EVENT_STOP)
			return 0; /* our interrupt, or a group stop reported to us */
		/*
		 * Signal-delivery stop: the signal was sent before the freeze,
		 * so let it take effect now (the pending interrupt stops the
		 * task right after).  Swallowing it would change the program.
		 */
		if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)WSTOPSIG(st)) < 0 &&
		    errno != ESRCH)
			return cld_err_set(err, -errno, "PTRACE_CONT of %d: %s", tid,
					   strerror(errno));
	}
}

/* The tids of /proc/PID/task, the leader first. */
static int list_tasks(pid_t pid, pid_t **out, unsigned int *n)
{
	char path[64];
	struct dirent *d;
	pid_t *t = NULL;
	unsigned int cap = 0;
	DIR *dir;

	*n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((d = readdir(dir))) {
		long v = strtol(d->d_name, NULL, 10);

		if (v <= 0)
			continue;
		if (*n == cap) {
			pid_t *nt = realloc(t, (cap = cap ? cap * 2 : 16) * sizeof(*t));

			if (!nt) {
				closedir(dir);
				free(t);
				return -ENOMEM;
			}
			t = nt;
		}
		t[(*n)++] = (pid_t)v;
		if (v == pid && *n > 1) {
			t[*n - 1] = t[0];
			t[0] = pid;
		}
	}
	closedir(dir);
	*out = t;
	return 0;
}

static bool has_tid(const struct ptr_frozen *pf, pid_t tid)
{
	unsigned int i;

	for (i = 0; i < pf->nr_tids; i++)
		if (pf->tids[i] == tid)
			return true;
	return false;
}

/*
 * Seize and stop every thread.  Threads can be created or exit meanwhile,
 * so the task list is read again until it shows no thread we do not hold
 * stopped: a stopped thread creates none, so the set is then complete.
 * On -ETIMEDOUT the threads that did not stop are abandoned (they cannot
 * be detached while running); the caller detaches pf->tids.
 */
static int seize_all(struct ptr_frozen *pf, const char *comm, unsigned int timeout_ms,
		     struct cld_err *err)
{
	uint64_t deadline = mono_ms() + timeout_ms;
	pid_t pid = pf->pid, *list = NULL;
	unsigned int i, n, first, round;
	int ret;

	for (round = 0;; round++) {
		ret = list_tasks(pid, &list, &n);
		if (ret)
			return cld_err_set(err, ret, "reading /proc/%d/task: %s", pid,
					   strerror(-ret));
		if (round == 0 && (!n || list[0] != pid)) {
			free(list);
			return cld_err_set(err, -ESRCH, "no process with pid %d", pid);
		}
		first = pf->nr_tids;
		for (i = 0; i < n; i++) {
			if (has_tid(pf, list[i]))
				continue;
			if (pf->nr_tids >= CLD_MAX_THREADS) {
				free(list);
				return cld_err_set(err, -E2BIG,
						   "process %d (%s) has more than %u threads", pid,
						   comm, CLD_MAX_THREADS);
			}
			ret = attach_one(pid, list[i], comm, err);
			if (ret == -ESRCH && list[i] != pid)
				continue;
			if (ret) {
				free(list);
				return ret;
			}
			if (pf->nr_tids == pf->cap_tids) {
				unsigned int cap = pf->cap_tids ? pf->cap_tids * 2 : 16;
				pid_t *nt = realloc(pf->tids, cap * sizeof(*nt));

				if (!nt) {
					ptrace(PTRACE_DETACH, list[i], NULL, NULL);
					free(list);
					return cld_err_set(err, -ENOMEM, "out of memory");
				}
				pf->tids = nt;
				pf->cap_tids = cap;
			}
			pf->tids[pf->nr_tids++] = list[i];
		}
		free(list);
		list = NULL;
		if (first == pf->nr_tids)
			return 0;
		for (i = first; i < pf->nr_tids;) {
			pid_t tid = pf->tids[i];

			ret = wait_stopped(pid, tid, comm, timeout_ms, deadline, err);
			if (ret == -ESRCH && tid != pid) {
				/* exited before it stopped: forget it */
				memmove(&pf->tids[i], &pf->tids[i + 1],
					(pf->nr_tids - i - 1) * sizeof(pf->tids[0]));
				pf->nr_tids--;
				continue;
			}
			if (ret == -ETIMEDOUT) {
				/* This one and the later ones may still run. */
				for (; i < pf->nr_tids; i++)
					cld_freeze_ptrace_abandon(pf->tids[i]);
				pf->nr_tids = first;
				return ret;
			}
			if (ret) {
				pf->nr_tids = i; /* it is gone or not ours to detach */
				return ret;
			}
			i++;
		}
	}
}

static int freeze_once(pid_t pid, unsigned int flags, unsigned int timeout_ms,
		       struct cld_frozen **out, struct cld_err *err)
{
	struct cld_frozen *fz = NULL;
	struct ptr_frozen *pf = NULL;
	struct collect c = { .pid = pid, .flags = flags, .err = err, .pm_fd = -1 };
	char path[64];
	int ret;

	cld_freeze_ptrace_reap();
	ret = precheck(pid, &c.sf, &c.status, err);
	if (ret)
		goto fail;
	pf = calloc(1, sizeof(*pf));
	fz = calloc(1, sizeof(*fz));
	if (!pf || !fz) {
		ret = cld_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	pf->pid = pid;
	pf->flags = flags;
	pf->mem_fd = -1;
	c.p = &pf->proc;

	ret = seize_all(pf, c.sf.comm, timeout_ms ? timeout_ms : CLD_FREEZE_TIMEOUT_MS, err);
	/* What did stop is detached on failure; what did not was abandoned
	 * (not detachable while it runs: released at its next stop). */
	pf->attached = pf->nr_tids > 0;
	if (ret && !pf->attached)
		goto fail_nodetach;
	if (ret)
		goto fail;
	c.tids = pf->tids;
	c.nr_tids = pf->nr_tids;

	/* Re-read what may have changed between the check and the stop. */
	free(c.status);
	c.status = NULL;
	ret = cld_procfs_slurp(pid, "status", &c.status, NULL);
	if (!ret)
		ret = read_stat(pid, &c.sf);
	if (ret) {
		ret = cld_err_set(err, ret, "reading /proc/%d: %s", pid, strerror(-ret));
		goto fail;
	}
	if (cld_status_dec(c.status, "Threads", 1) != (long long)pf->nr_tids) {
		ret = cld_err_set(err, -EAGAIN,
				  "process %d (%s): %lld threads, %u of them stopped; try again",
				  pid, c.sf.comm, cld_status_dec(c.status, "Threads", 1),
				  pf->nr_tids);
		goto fail;
	}

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	pf->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pf->mem_fd < 0) {
		ret = cld_err_set(err, -errno, "opening %s: %s", path, strerror(errno));
		goto fail;
	}

	ret = ptr_collect_threads(&c);
	if (!ret)
		ret = ptr_collect_creds(&c);
	if (!ret)
		ret = ptr_collect_injected(&c);
	if (!ret)
		ret = ptr_collect_misc(&c);
	if (!ret)
		ret = ptr_collect_vmas(&c);
	if (!ret)
		ret = ptr_collect_fds(&c);
	if (!ret)
		ret = ptr_collect_pipe_data(&c);
	if (!ret)
		ret = ptr_collect_file_data(&c);
	if (!ret)
		ret = ptr_collect_vdso_digest(&c);
	if (ret)
		goto fail;

	fz->ops = &ptr_ops;
	snprintf(fz->backend, sizeof(fz->backend), "ptrace");
	fz->pid = pid;
	fz->proc = &pf->proc;
	fz->owns_freeze = true;
	fz->priv = pf;
	*out = fz;
	ret = 0;
	goto out;
fail:
	if (pf) {
		/* detach (thaw) before anything else: the task must not stay
		 * stopped because we failed */
		ptr_release(&(struct cld_frozen){ .priv = pf });
	}
	free(fz);
	goto out;
fail_nodetach:
	cld_proc_release(&pf->proc);
	free(pf->tids);
	free(pf);
	free(fz);
out:
	if (c.pm_fd >= 0)
		close(c.pm_fd);
	free(c.status);
	return ret;
}

/* Threads created or ending while the freeze happens make the count
 * disagree (EAGAIN, everything let go): tried again a few times, as a
 * user would. */
#define FREEZE_TRIES 5

int cld_freeze_ptrace(pid_t pid, unsigned int flags, unsigned int timeout_ms,
		      struct cld_frozen **out, struct cld_err *err)
{
	unsigned int i;
	int ret;

	for (i = 0;; i++) {
		ret = freeze_once(pid, flags, timeout_ms, out, err);
		if (ret != -EAGAIN || i + 1 >= FREEZE_TRIES)
			return ret;
		usleep(1000u << i);
	}
}
