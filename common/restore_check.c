// SPDX-License-Identifier: MIT
/*
 * The restorer's up-front checks (cld_restore_check): every reason an
 * image cannot be restarted here, listed before anything is touched, and
 * the classification of VMAs the later phases share.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "clondike/compat.h"
#include "restore_priv.h"

static bool name_is(const char *n, const char *what)
{
	return n && !strcmp(n, what);
}

bool rst_is_vdso_block(const struct cld_vma *v)
{
	return (v->rec.flags & (CLD_VMA_VDSO | CLD_VMA_VVAR)) || name_is(v->name, "[vdso]") ||
	       (v->name && !strncmp(v->name, "[vvar", 5));
}

enum vkind rst_classify(const struct cld_proc *p, const struct cld_vma *v)
{
	uint32_t f = v->rec.flags;

	if ((f & CLD_VMA_VSYSCALL) || v->rec.start == CLD_VSYSCALL_ADDR)
		return VK_SKIP;
	if (rst_is_vdso_block(v))
		return VK_SPECIAL;
	if (f & (CLD_VMA_SYSVSHM | CLD_VMA_HUGETLB))
		return VK_BLOCKER;
	/* MAP_SHARED|MAP_ANONYMOUS is a shmem file named /dev/zero. */
	if ((f & CLD_VMA_SHARED) &&
	    (!(f & CLD_VMA_FILE) || (v->name && !strncmp(v->name, "/dev/zero", 9))))
		return VK_SHANON;
	if (f & CLD_VMA_FILE) {
		/* A deleted file comes back from the content an fd of it
		 * recorded (1.3), else not at all. */
		if (f & CLD_VMA_DELETED)
			return cld_proc_ghost_fd(p, v->rec.dev, v->rec.ino) ? VK_FILE : VK_BLOCKER;
		if (!v->name || v->name[0] != '/')
			return VK_BLOCKER;
		return VK_FILE;
	}
	if (f & CLD_VMA_SPECIAL)
		return VK_BLOCKER;
	return VK_ANON;
}


static int find_local_vdso(uint64_t *start, uint64_t *len)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (!strstr(line, "[vdso]") || sscanf(line, "%llx-%llx", &s, &e) != 2)
			continue;
		*start = s;
		*len = e - s;
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

int cld_local_vdso_digest(uint64_t *digest, uint64_t *len)
{
	uint64_t start;
	int ret = find_local_vdso(&start, len);

	if (ret)
		return ret;
	*digest = XXH3_64bits((const void *)(uintptr_t)start, *len);
	return 0;
}

struct report {
	char *buf;
	size_t len, cap;
	unsigned int n;
};

static void __attribute__((format(printf, 2, 3))) blocker(struct report *rp, const char *fmt, ...)
{
	va_list ap;
	char line[600];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	rp->n++;
	if (rp->len + (size_t)n + 2 > rp->cap) {
		size_t cap = (rp->cap + (size_t)n + 2) * 2;
		char *b = realloc(rp->buf, cap);

		if (!b)
			return;
		rp->buf = b;
		rp->cap = cap;
	}
	memcpy(rp->buf + rp->len, line, (size_t)n);
	rp->len += (size_t)n;
	rp->buf[rp->len++] = '\n';
	rp->buf[rp->len] = '\0';
}

bool rst_pipe_has_both(const struct cld_proc *p, uint64_t ino)
{
	bool rd = false, wr = false;
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd_rec *f = &p->fds[i].rec;

		if (f->kind != CLD_FD_PIPE || f->ino != ino)
			continue;
		if ((f->fl_flags & O_ACCMODE) == O_RDONLY)
			rd = true;
		else
			wr = true;
	}
	return rd && wr;
}

static void check_vdso(const struct cld_proc *p, struct report *rp)
{
	uint64_t digest = 0, len = 0;
	uint32_t i;
	bool has = false;

	for (i = 0; i < p->nr_vmas; i++)
		if (rst_is_vdso_block(&p->vmas[i]))
			has = true;
	if (!has) {
		blocker(rp, "the image has no vDSO mapping (restoring one is not supported)");
		return;
	}
	if (cld_local_vdso_digest(&digest, &len)) {
		blocker(rp, "this system has no vDSO to put in place of the image's");
		return;
	}
	if (p->mm.vdso_end - p->mm.vdso_start != len || p->hdr.vdso_digest != digest)
		blocker(rp,
			"different vDSO: the image was frozen on kernel %.65s (vDSO %llu bytes, "
			"digest %016llx), this kernel's vDSO is %llu bytes, digest %016llx; "
			"restart needs the same kernel",
			p->hdr.kernel, (unsigned long long)(p->mm.vdso_end - p->mm.vdso_start),
			(unsigned long long)p->hdr.vdso_digest, (unsigned long long)len,
			(unsigned long long)digest);
}

static long long read_num(const char *path, long long dflt)
{
	char buf[32] = "";
	FILE *f = fopen(path, "re");

	if (!f)
		return dflt;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] ? strtoll(buf, NULL, 10) : dflt;
}

/*
 * The audit login uid: a fresh process has ours, and only a task whose
 * login uid is unset, or one with CAP_AUDIT_CONTROL (root here), may set
 * its own.  Images before 1.3 do not have it: it stays ours.
 */
static void check_loginuid(const struct cld_proc *p, const struct cld_restore_opts *o,
			   struct report *rp)
{
	long long cur = read_num("/proc/self/loginuid", -2);

	if (!(p->proc.flags2 & CLD_PROC2_LOGINUID) || cur == (long long)p->proc.loginuid)
		return;
	if (cur == -2) {
		if (p->proc.loginuid != UINT32_MAX)
			blocker(rp, "its login uid is %u, and this kernel keeps none (no audit)",
				p->proc.loginuid);
		return;
	}
	if (cur != (long long)UINT32_MAX && o->caller_uid != 0)
		blocker(rp, "its login uid %u differs from this command's %lld, and only "
			    "CAP_AUDIT_CONTROL may change a login uid once set",
			p->proc.loginuid, cur);
}

/* What only privilege could set again here: a lower oom_score_adj than
 * ours (CAP_SYS_RESOURCE), a pipe above pipe-max-size. */
static void check_limits(const struct cld_proc *p, const struct cld_restore_opts *o,
			 struct report *rp)
{
	long long cur = read_num("/proc/self/oom_score_adj", 0);
	long long max = read_num("/proc/sys/fs/pipe-max-size", 1048576);
	uint32_t i;

	check_loginuid(p, o, rp);
	if (o->caller_uid == 0)
		return;
	if (p->proc.oom_score_adj < cur)
		blocker(rp, "its oom_score_adj %d is below this command's %lld (lowering it needs "
			    "CAP_SYS_RESOURCE)", p->proc.oom_score_adj, cur);
	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd_rec *f = &p->fds[i].rec;

		if ((f->kind == CLD_FD_PIPE || f->kind == CLD_FD_FIFO) && f->size > (uint64_t)max &&
		    f->file_id == i + 1)
			blocker(rp, "fd %d: a pipe of %llu bytes, above pipe-max-size (%lld)",
				f->fd, (unsigned long long)f->size, max);
	}
}

/* Whether this kernel makes guard pages: tried on a page of our own. */
static bool guards_here(void)
{
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok;

	if (m == MAP_FAILED)
		return false;
	ok = madvise(m, 4096, CLD_MADV_GUARD_INSTALL) == 0;
	munmap(m, 4096);
	return ok;
}

/* POSIX timers: all recorded, on clocks a new process has, notifying
 * threads it will have. */
static void check_timers(const struct cld_proc *p, struct report *rp)
{
	uint32_t i, k;

	if (p->proc.nr_posix_timers && p->nr_timers != p->proc.nr_posix_timers) {
		blocker(rp, "%u POSIX timer(s) (timer_create) the image does not describe",
			p->proc.nr_posix_timers);
		return;
	}
	for (i = 0; i < p->nr_timers; i++) {
		const struct cld_timer_rec *t = &p->timers[i];

		if (t->clock < 0)
			blocker(rp, "POSIX timer %d runs on a CPU-time clock of a given process "
				    "(clock %d), whose pid changes", t->id, t->clock);
		if (!(t->notify & SIGEV_THREAD_ID))
			continue;
		for (k = 0; k < p->nr_threads && p->threads[k].rec.tid != t->tid; k++)
			;
		if (k == p->nr_threads)
			blocker(rp, "POSIX timer %d notifies thread %d, not a thread of the image",
				t->id, t->tid);
	}
}

static bool has_sock_end(const struct cld_proc *p, uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++)
		if (p->fds[i].rec.kind == CLD_FD_SOCKPAIR && p->fds[i].rec.ino == ino)
			return true;
	return false;
}

/* A memfd or deleted file comes back only from the content in the image. */
static void check_ghost(const struct cld_fd *f, struct report *rp)
{
	uint64_t fl = f->rec.state[0];

	if (fl & CLD_FDREG_CONTENT)
		return;
	if (fl & CLD_FDREG_TOOBIG)
		blocker(rp, "fd %d: deleted file %s: its %llu bytes are over what an image "
			    "records of memfds and deleted files (%u MiB in all)",
			f->rec.fd, f->name, (unsigned long long)f->rec.size,
			CLD_MAX_FILE_DATA >> 20);
	else
		blocker(rp, "fd %d: file %s was deleted, and the image does not have its content "
			    "(it could not be read, or the kernel module wrote the image)",
			f->rec.fd, f->name);
}

/* What re-creating an anonymous-inode fd would not give back. */
static void check_anon(const struct cld_proc *p, const struct cld_fd *f, struct report *rp)
{
	const struct cld_fd_rec *r = &f->rec;
	uint32_t i;

	switch (r->kind) {
	case CLD_FD_TIMERFD:
		if (r->state[4] > 1)
			blocker(rp, "fd %d: a timerfd with %llu expirations not read (one comes back)",
				r->fd, (unsigned long long)r->state[4]);
		if (r->state[0] != CLOCK_REALTIME && r->state[0] != CLOCK_MONOTONIC &&
		    r->state[0] != CLOCK_BOOTTIME && r->state[0] != CLOCK_REALTIME_ALARM &&
		    r->state[0] != CLOCK_BOOTTIME_ALARM)
			blocker(rp, "fd %d: a timerfd on clock %llu", r->fd,
				(unsigned long long)r->state[0]);
		break;
	case CLD_FD_INOTIFY:
		for (i = 0; i < p->nr_watches; i++) {
			const struct cld_inotify *w = &p->watches[i];
			struct stat st;

			if (w->rec.fd == r->fd &&
			    (stat(w->path, &st) || st.st_ino != w->rec.ino ||
			     rst_dev_enc(st.st_dev) != w->rec.dev))
				blocker(rp, "fd %d: inotify watches %s, which is not the same file here",
					r->fd, w->path);
		}
		break;
	case CLD_FD_PIDFD:
		if (!rst_pidfd_target_here(r))
			blocker(rp, "fd %d: a pidfd of process %lld, which does not run here", r->fd,
				(long long)r->state[0]);
		break;
	case CLD_FD_EPOLL:
		for (i = 0; i < p->nr_epolls; i++) {
			const struct cld_epoll_rec *e = &p->epolls[i];
			const struct cld_fd *t = e->epfd == r->fd ? cld_proc_fd(p, e->tfd) : NULL;

			if (e->epfd != r->fd)
				continue;
			if (!t)
				blocker(rp, "fd %d: epoll watches fd %d, which the process does not hold",
					r->fd, e->tfd);
			else if (t->rec.kind == CLD_FD_EPOLL)
				blocker(rp, "fd %d: epoll watches epoll fd %d (nested: not supported)",
					r->fd, e->tfd);
		}
		break;
	default:
		break;
	}
}

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static bool creds_foreign(const struct cld_proc *p, const struct cld_restore_opts *o)
{
	const struct cld_creds_rec *c = &p->creds;

	return c->uid != o->caller_uid || c->euid != o->caller_uid || c->suid != o->caller_uid ||
	       c->fsuid != o->caller_uid || c->gid != o->caller_gid ||
	       c->egid != o->caller_gid || c->sgid != o->caller_gid ||
	       c->fsgid != o->caller_gid;
}

int cld_restore_check(const struct cld_rimage *ri, const struct cld_restore_opts *o,
		      char **report, struct cld_err *err)
{
	return cld_restore_check_proc(&ri->proc, o, report, err);
}

int cld_restore_check_proc(const struct cld_proc *p, const struct cld_restore_opts *o,
			   char **report, struct cld_err *err)
{
	bool here = !(o->flags & CLD_RST_CHECK_PORTABLE);
	struct report rp = { 0 };
	bool perm = false;
	uint32_t i;
	int ret = 0;

	if (report)
		*report = NULL;
	if (p->nr_threads < 1 || p->threads[0].rec.tid != p->proc.pid)
		blocker(&rp, "the first thread (tid %d) is not the process (pid %d)",
			p->nr_threads ? p->threads[0].rec.tid : 0, p->proc.pid);
	if ((p->proc.flags & CLD_PROC_CHILDREN) && !(o->flags & CLD_RST_WITHOUT_CHILDREN))
		blocker(&rp, "the process had children when it was frozen, and process trees are "
			     "not restored: alone, its wait() and kill() of them would fail "
			     "(--without-children accepts that)");
	if (p->cwd && (strstr(p->cwd, " (deleted)") || p->cwd[0] != '/'))
		blocker(&rp, "its working directory %s is deleted or unreachable", p->cwd);
	else if (here && p->cwd && !is_dir(p->cwd))
		blocker(&rp, "its working directory %s is not a directory here", p->cwd);
	if (p->proc.flags & CLD_PROC_LOCKS)
		blocker(&rp, "it held file locks or leases (flock, POSIX, OFD; not restored)");
	if (here)
		check_limits(p, o, &rp);
	if (p->proc.flags & CLD_PROC_SECCOMP)
		blocker(&rp, "a seccomp filter is installed (cannot be restored)");
	check_timers(p, &rp);
	if (here && p->nr_guards && !guards_here())
		blocker(&rp, "%u guard region(s) (MADV_GUARD_INSTALL), which this kernel cannot make "
			     "(Linux 6.13 or later)", p->nr_guards);
	if (p->root && strcmp(p->root, "/"))
		blocker(&rp, "the process ran chrooted in %s (not supported)", p->root);
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		const char *n = v->name ? v->name : "anonymous";

		if (rst_classify(p, v) != VK_BLOCKER)
			continue;
		if (v->rec.flags & CLD_VMA_SYSVSHM)
			blocker(&rp, "mapping %llx-%llx is SysV shared memory",
				(unsigned long long)v->rec.start, (unsigned long long)v->rec.end);
		else if (v->rec.flags & CLD_VMA_HUGETLB)
			blocker(&rp, "mapping %llx-%llx is hugetlbfs (%s)",
				(unsigned long long)v->rec.start, (unsigned long long)v->rec.end, n);
		else if (v->rec.flags & CLD_VMA_DELETED)
			blocker(&rp, "mapping %llx-%llx is of a deleted file (%s) whose content "
				     "is not in the image (no fd of it recorded it)",
				(unsigned long long)v->rec.start, (unsigned long long)v->rec.end, n);
		else
			blocker(&rp, "mapping %llx-%llx is a special mapping (%s)",
				(unsigned long long)v->rec.start, (unsigned long long)v->rec.end, n);
	}
	if (here)
		check_vdso(p, &rp);
	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd *f = &p->fds[i];
		const char *n = f->name ? f->name : "?";

		if (cld_restore_fwd(o, f->rec.fd) >= 0)
			continue; /* forwarded home */
		if (cld_fd_kind_is_anon(f->rec.kind)) {
			check_anon(p, f, &rp);
			continue;
		}
		switch (f->rec.kind) {
		case CLD_FD_REG:
		case CLD_FD_DIR:
		case CLD_FD_FIFO:
		case CLD_FD_CHR:
			if (n[0] != '/')
				blocker(&rp, "fd %d: %s without a path (%s)", f->rec.fd,
					cld_fd_kind_name(f->rec.kind), n);
			else if (strstr(n, " (deleted)"))
				check_ghost(f, &rp);
			break;
		case CLD_FD_TTY:
			if (here && o->tty_fd < 0)
				blocker(&rp, "fd %d is a terminal (%s) and the restarting command has none",
					f->rec.fd, n);
			break;
		case CLD_FD_SOCKPAIR:
			if (!has_sock_end(p, f->rec.state[1]))
				blocker(&rp, "fd %d: the other end of its socketpair is not in the process",
					f->rec.fd);
			break;
		case CLD_FD_PIPE:
			if (!rst_pipe_has_both(p, f->rec.ino) &&
			    (f->rec.fd > 2 || (o->flags & CLD_RST_NO_STDIO)))
				blocker(&rp, "fd %d: the other end of pipe:[%llu] belongs to another process",
					f->rec.fd, (unsigned long long)f->rec.ino);
			break;
		default:
			blocker(&rp, "fd %d: %s is not restorable", f->rec.fd, n);
			break;
		}
	}
	if (here && creds_foreign(p, o) && o->caller_uid != 0) {
		blocker(&rp, "the image belongs to uid %u gid %u; only they or root may restart it",
			p->creds.uid, p->creds.gid);
		perm = true;
	}
	if (rp.n) {
		char first[300];
		size_t l = strcspn(rp.buf ? rp.buf : "", "\n");

		snprintf(first, sizeof(first), "%.*s", (int)(l < 280 ? l : 280), rp.buf ? rp.buf : "");
		ret = cld_err_set(err, perm && rp.n == 1 ? -EPERM : -EOPNOTSUPP,
				  "cannot restart: %u blocker%s: %s%s", rp.n, rp.n > 1 ? "s" : "",
				  first, rp.n > 1 ? " ..." : "");
		if (report) {
			*report = rp.buf;
			rp.buf = NULL;
		}
	}
	free(rp.buf);
	return ret;
}
