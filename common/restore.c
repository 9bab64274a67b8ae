// SPDX-License-Identifier: MIT
/*
 * The ptrace restorer (see restore.h and docs/restore.md).
 *
 * Phases:
 *  1. check: list every blocker before touching anything;
 *  2. prepare, in the parent: open every file the child will need (fds,
 *     mapped files, the exe), re-create pipes and refill them, so identity
 *     checks and their errors happen before any process exists;
 *  3. fork (clone3 with set_tid for the image's pid); the child, running
 *     only async-signal-safe code, puts fds at their numbers and sets what
 *     does not depend on its address space (cwd, umask, limits, sigactions,
 *     sigaltstack, pending signals, comm...), reports, and waits;
 *  4. the parent seizes it and injects system calls: rseq off, everything
 *     unmapped but the vDSO/vvar, which move to the image's place, each VMA
 *     mapped, memory filled (the fill hook), protections, PR_SET_MM_MAP,
 *     rseq/robust list/tid address, itimers, creds; then registers, FPU
 *     state and signal mask are set and the child is let go.
 * Any failure from 3 on kills the child: nothing half-built survives.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>
#include <linux/prctl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <xxhash.h>

#include "clondike/restore.h"

/* Newer than the 6.1 uapi headers of the build machine. */
#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif
#ifndef PTRACE_SETSIGMASK
#define PTRACE_SETSIGMASK 0x420b
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_rseq
#define SYS_rseq 334
#endif
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif
#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#endif
#ifndef PR_SET_PTRACER
#define PR_SET_PTRACER 0x59616d61
#endif

#define PAGE 4096ull
#define TASK_SIZE_4L 0x7ffffffff000ull
#define SCRATCH_MIN (64u << 10)
#define FILL_CHUNK (1ull << 30) /* bytes per injected pread */
/* Margin kept between a temporary mapping and the image's VMAs, so a
 * growsdown stack keeps its guard gap. */
#define GAP_MARGIN (1ull << 20)
/* x86_64 AT_VECTOR_SIZE * 8: the most PR_SET_MM_MAP takes as auxv. */
#define MAX_SAVED_AUXV 416u

#define ERESTARTSYS_ 512
#define ERESTARTNOINTR_ 513
#define ERESTARTNOHAND_ 514
#define ERESTART_RESTARTBLOCK_ 516

struct clone_args_v1 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size;
};

struct ptrace_rseq_conf {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
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

/* What a VMA is to the restorer. */
enum vkind { VK_SKIP, VK_SPECIAL, VK_ANON, VK_SHANON, VK_FILE, VK_BLOCKER };

struct cld_rst {
	struct cld_rimage *ri;
	struct cld_proc *p;
	const struct cld_restore_opts *o;
	struct cld_restore_result *res;
	struct cld_remote r;
	bool remote_open;
	pid_t pid;
	pid_t helper; /* the intermediate process of --detach */

	/* fds the parent opened (or borrowed) for the child: slot i lands at
	 * svc_base + i in the child. */
	int *pfd;
	bool *pfd_owned;
	uint32_t nr_pfd, cap_pfd;
	int svc_base;
	int slot_img, slot_status, slot_life, slot_exe;
	int *fd_slot; /* per image fd */
	int *vma_slot; /* per VMA, -1 if none */
	uint8_t *vkind;
	uint32_t *prot_now; /* per VMA: protection it is mapped with */
	int status_rd, life_wr;

	/* Child-side values the child's code reads (inherited memory). */
	char *cwd;
	uint64_t scratch;
	size_t scratch_len;
	uint64_t t0;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cld_restore_opts_init(struct cld_restore_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->image_fd = -1;
	o->tty_fd = -1;
	o->caller_uid = geteuid();
	o->caller_gid = getegid();
}

struct cld_remote *cld_rst_remote(struct cld_rst *rs)
{
	return &rs->r;
}

const struct cld_rimage *cld_rst_image(const struct cld_rst *rs)
{
	return rs->ri;
}

int cld_rst_child_image_fd(const struct cld_rst *rs)
{
	return rs->svc_base + rs->slot_img;
}

void cld_rst_account(struct cld_rst *rs, uint64_t bytes)
{
	rs->res->bytes_filled += bytes;
}

/* ---- Classification and checks -------------------------------------------- */

static bool name_is(const char *n, const char *what)
{
	return n && !strcmp(n, what);
}

static bool is_vdso_block(const struct cld_vma *v)
{
	return (v->rec.flags & (CLD_VMA_VDSO | CLD_VMA_VVAR)) || name_is(v->name, "[vdso]") ||
	       (v->name && !strncmp(v->name, "[vvar", 5));
}

static enum vkind classify(const struct cld_vma *v)
{
	uint32_t f = v->rec.flags;

	if ((f & CLD_VMA_VSYSCALL) || v->rec.start == CLD_VSYSCALL_ADDR)
		return VK_SKIP;
	if (is_vdso_block(v))
		return VK_SPECIAL;
	if (f & (CLD_VMA_SYSVSHM | CLD_VMA_HUGETLB))
		return VK_BLOCKER;
	/* MAP_SHARED|MAP_ANONYMOUS is a shmem file named /dev/zero. */
	if ((f & CLD_VMA_SHARED) &&
	    (!(f & CLD_VMA_FILE) || (v->name && !strncmp(v->name, "/dev/zero", 9))))
		return VK_SHANON;
	if (f & CLD_VMA_FILE) {
		if ((f & CLD_VMA_DELETED) || !v->name || v->name[0] != '/')
			return VK_BLOCKER;
		return VK_FILE;
	}
	if (f & CLD_VMA_SPECIAL)
		return VK_BLOCKER;
	return VK_ANON;
}

bool cld_rst_vma_fillable(const struct cld_rst *rs, uint32_t i)
{
	const struct cld_vma *v = &rs->p->vmas[i];

	if (!v->nr_ext)
		return false;
	return rs->vkind[i] == VK_ANON || rs->vkind[i] == VK_SHANON ||
	       (rs->vkind[i] == VK_FILE && !(v->rec.flags & CLD_VMA_SHARED));
}

static uint64_t dev_enc(dev_t d)
{
	return ((uint64_t)major(d) << 32) | minor(d);
}

static int64_t mtime_of(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000ll + st->st_mtim.tv_nsec;
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

/* Does a pipe inode have both ends among the image's fds? */
static bool pipe_has_both(const struct cld_proc *p, uint64_t ino)
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

static const char *fd_kind_name(uint32_t k)
{
	switch (k) {
	case CLD_FD_REG: return "file";
	case CLD_FD_DIR: return "directory";
	case CLD_FD_PIPE: return "pipe";
	case CLD_FD_FIFO: return "fifo";
	case CLD_FD_TTY: return "terminal";
	case CLD_FD_CHR: return "device";
	default: return "unsupported";
	}
}

static void check_vdso(const struct cld_proc *p, struct report *rp)
{
	uint64_t digest = 0, len = 0;
	uint32_t i;
	bool has = false;

	for (i = 0; i < p->nr_vmas; i++)
		if (is_vdso_block(&p->vmas[i]))
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
	const struct cld_proc *p = &ri->proc;
	struct report rp = { 0 };
	bool perm = false;
	uint32_t i;
	int ret = 0;

	if (report)
		*report = NULL;
	if (p->nr_threads != 1)
		blocker(&rp, "%u threads (only single-threaded processes can be restarted yet)",
			p->nr_threads);
	if (p->proc.flags & CLD_PROC_SECCOMP)
		blocker(&rp, "a seccomp filter is installed (cannot be restored)");
	if (p->proc.nr_posix_timers)
		blocker(&rp, "%u POSIX timer(s) (timer_create) are not restorable yet",
			p->proc.nr_posix_timers);
	if (p->root && strcmp(p->root, "/"))
		blocker(&rp, "the process ran chrooted in %s (not supported)", p->root);
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		const char *n = v->name ? v->name : "anonymous";

		if (classify(v) != VK_BLOCKER)
			continue;
		if (v->rec.flags & CLD_VMA_SYSVSHM)
			blocker(&rp, "mapping %llx-%llx is SysV shared memory",
				(unsigned long long)v->rec.start, (unsigned long long)v->rec.end);
		else if (v->rec.flags & CLD_VMA_HUGETLB)
			blocker(&rp, "mapping %llx-%llx is hugetlbfs (%s)",
				(unsigned long long)v->rec.start, (unsigned long long)v->rec.end, n);
		else if (v->rec.flags & CLD_VMA_DELETED)
			blocker(&rp, "mapping %llx-%llx is of a deleted file (%s)",
				(unsigned long long)v->rec.start, (unsigned long long)v->rec.end, n);
		else
			blocker(&rp, "mapping %llx-%llx is a special mapping (%s)",
				(unsigned long long)v->rec.start, (unsigned long long)v->rec.end, n);
	}
	check_vdso(p, &rp);
	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd *f = &p->fds[i];
		const char *n = f->name ? f->name : "?";

		switch (f->rec.kind) {
		case CLD_FD_REG:
		case CLD_FD_DIR:
		case CLD_FD_FIFO:
		case CLD_FD_CHR:
			if (n[0] != '/')
				blocker(&rp, "fd %d: %s without a path (%s)", f->rec.fd,
					fd_kind_name(f->rec.kind), n);
			else if (strstr(n, " (deleted)"))
				blocker(&rp, "fd %d: file %s was deleted", f->rec.fd, n);
			break;
		case CLD_FD_TTY:
			if (o->tty_fd < 0)
				blocker(&rp, "fd %d is a terminal (%s) and the restarting command has none",
					f->rec.fd, n);
			break;
		case CLD_FD_PIPE:
			if (!pipe_has_both(p, f->rec.ino) &&
			    (f->rec.fd > 2 || (o->flags & CLD_RST_NO_STDIO)))
				blocker(&rp, "fd %d: the other end of pipe:[%llu] belongs to another process",
					f->rec.fd, (unsigned long long)f->rec.ino);
			break;
		default:
			blocker(&rp, "fd %d: %s is not restorable", f->rec.fd, n);
			break;
		}
	}
	if (creds_foreign(p, o) && o->caller_uid != 0) {
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

/* ---- Phase 2: open what the child inherits ------------------------------- */

static int add_pfd(struct cld_rst *rs, int fd, bool owned)
{
	if (rs->nr_pfd == rs->cap_pfd) {
		uint32_t cap = rs->cap_pfd ? rs->cap_pfd * 2 : 16;
		int *a = realloc(rs->pfd, cap * sizeof(*a));
		bool *b;

		if (!a)
			return -ENOMEM;
		rs->pfd = a;
		b = realloc(rs->pfd_owned, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		rs->pfd_owned = b;
		rs->cap_pfd = cap;
	}
	rs->pfd[rs->nr_pfd] = fd;
	rs->pfd_owned[rs->nr_pfd] = owned;
	return (int)rs->nr_pfd++;
}

static int add_owned(struct cld_rst *rs, int fd, struct cld_err *err)
{
	int slot = add_pfd(rs, fd, true);

	if (slot < 0) {
		close(fd);
		return cld_err_set(err, -ENOMEM, "out of memory");
	}
	return slot;
}

static void close_pfds(struct cld_rst *rs)
{
	uint32_t i;

	for (i = 0; i < rs->nr_pfd; i++)
		if (rs->pfd_owned[i] && rs->pfd[i] >= 0)
			close(rs->pfd[i]);
	rs->nr_pfd = 0;
}

static int check_ident(const char *what, const char *path, const struct stat *st, uint64_t dev,
		       uint64_t ino, struct cld_err *err)
{
	/* An image that does not say which file it was gets no file. */
	if (!dev && !ino)
		return cld_err_set(err, -ESTALE,
				   "%s %s: the image does not identify the file (no dev/inode)",
				   what, path);
	if (dev_enc(st->st_dev) != dev || st->st_ino != ino)
		return cld_err_set(err, -ESTALE,
				   "%s %s is not the same file any more (dev/inode %llx/%llu, "
				   "image has %llx/%llu)",
				   what, path, (unsigned long long)dev_enc(st->st_dev),
				   (unsigned long long)st->st_ino, (unsigned long long)dev,
				   (unsigned long long)ino);
	return 0;
}

/* The file type each fd kind must find (a FIFO named as a regular file
 * would block open or read; a directory swapped for a file...). */
static mode_t kind_type(uint32_t kind)
{
	switch (kind) {
	case CLD_FD_REG:
		return S_IFREG;
	case CLD_FD_DIR:
		return S_IFDIR;
	case CLD_FD_FIFO:
		return S_IFIFO;
	case CLD_FD_CHR:
		return S_IFCHR;
	default:
		return 0;
	}
}

static int open_fd_file(struct cld_rst *rs, const struct cld_fd *f, struct cld_err *err)
{
	const struct cld_fd_rec *r = &f->rec;
	int flags = (int)(r->fl_flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)) | O_CLOEXEC |
		    O_NOCTTY | O_NONBLOCK;
	struct stat st;
	int fd, tmp = -1;

	if (r->kind == CLD_FD_DIR)
		flags |= O_DIRECTORY;
	/* Never block in open: hold a reader while opening a FIFO's write end. */
	if (r->kind == CLD_FD_FIFO)
		tmp = open(f->name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	fd = open(f->name, flags);
	if (fd < 0) {
		int e = errno;

		if (tmp >= 0)
			close(tmp);
		return cld_err_set(err, -e, "fd %d: cannot open %s: %s", r->fd, f->name,
				   strerror(e));
	}
	if (tmp >= 0)
		close(tmp);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return cld_err_set(err, -errno, "fd %d: fstat %s", r->fd, f->name);
	}
	if ((st.st_mode & S_IFMT) != kind_type(r->kind)) {
		close(fd);
		return cld_err_set(err, -ESTALE, "fd %d: %s is not a %s any more", r->fd, f->name,
				   fd_kind_name(r->kind));
	}
	/* Status flags as the process had them (O_NONBLOCK only if it did). */
	if (!(r->fl_flags & O_NONBLOCK) && fcntl(fd, F_SETFL, (int)(r->fl_flags & ~O_ACCMODE &
								  ~O_NONBLOCK)) < 0) {
		int e = errno;

		close(fd);
		return cld_err_set(err, -e, "fd %d: fcntl %s: %s", r->fd, f->name, strerror(e));
	}
	if (r->kind == CLD_FD_CHR) {
		if (r->rdev && dev_enc(st.st_rdev) != r->rdev) {
			close(fd);
			return cld_err_set(err, -ESTALE, "fd %d: %s is not the same device", r->fd,
					   f->name);
		}
	} else if (r->kind == CLD_FD_REG) {
		int ret = check_ident("fd", f->name, &st, r->dev, r->ino, err);

		if (ret) {
			close(fd);
			return cld_err_set(err, ret, "fd %d: %s", r->fd, err->msg);
		}
	}
	if ((r->kind == CLD_FD_REG || r->kind == CLD_FD_DIR) && r->pos &&
	    lseek(fd, (off_t)r->pos, SEEK_SET) < 0) {
		int e = errno;

		close(fd);
		return cld_err_set(err, -e, "fd %d: seek %s to %llu: %s", r->fd, f->name,
				   (unsigned long long)r->pos, strerror(e));
	}
	return add_owned(rs, fd, err);
}

/* Both ends of an in-process pipe, its unread data written back. */
static int open_pipe(struct cld_rst *rs, uint32_t idx, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	uint64_t ino = p->fds[idx].rec.ino;
	int pfd[2], rslot, wslot;
	uint32_t i;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cld_err_set(err, -errno, "pipe: %s", strerror(errno));
	for (i = 0; i < p->nr_pipes; i++) {
		const struct cld_pipedata *d = &p->pipes[i];
		size_t off = 0;

		if (d->ino != ino || !d->len)
			continue;
		if (d->len > 65536)
			fcntl(pfd[1], F_SETPIPE_SZ, (int)d->len);
		while (off < d->len) {
			ssize_t n = write(pfd[1], d->data + off, d->len - off);

			if (n <= 0) {
				close(pfd[0]);
				close(pfd[1]);
				return cld_err_set(err, -EIO,
						   "writing %u bytes back into pipe:[%llu]",
						   d->len, (unsigned long long)ino);
			}
			off += (size_t)n;
		}
	}
	rslot = add_owned(rs, pfd[0], err);
	if (rslot < 0) {
		close(pfd[1]);
		return rslot;
	}
	wslot = add_owned(rs, pfd[1], err);
	if (wslot < 0)
		return wslot;
	/* Every fd of this pipe takes the end of its access mode; status flags
	 * (O_NONBLOCK) live in the shared file description. */
	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd_rec *f = &p->fds[i].rec;

		if (f->kind != CLD_FD_PIPE || f->ino != ino)
			continue;
		rs->fd_slot[i] = (f->fl_flags & O_ACCMODE) == O_RDONLY ? rslot : wslot;
		fcntl(rs->pfd[rs->fd_slot[i]], F_SETFL, (int)(f->fl_flags & O_NONBLOCK));
	}
	return 0;
}

static int open_fds(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	int tty_slot = -1, ret;
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++)
		rs->fd_slot[i] = -1;
	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd *f = &p->fds[i];

		if (rs->fd_slot[i] >= 0)
			continue;
		switch (f->rec.kind) {
		case CLD_FD_TTY:
			if (tty_slot < 0) {
				tty_slot = add_pfd(rs, rs->o->tty_fd, false);
				if (tty_slot < 0)
					return cld_err_set(err, -ENOMEM, "out of memory");
			}
			rs->fd_slot[i] = tty_slot;
			break;
		case CLD_FD_PIPE:
			if (!pipe_has_both(p, f->rec.ino)) {
				/* One end of a pipeline at 0-2: the restarting
				 * command's own stdio takes its place. */
				ret = add_pfd(rs, f->rec.fd, false);
				if (ret < 0)
					return cld_err_set(err, -ENOMEM, "out of memory");
				if (fcntl(f->rec.fd, F_GETFD) < 0)
					return cld_err_set(err, -EBADF,
							   "fd %d is one end of a pipe and the "
							   "restarting command has no fd %d to give",
							   f->rec.fd, f->rec.fd);
				rs->fd_slot[i] = ret;
				break;
			}
			ret = open_pipe(rs, i, err);
			if (ret)
				return ret;
			break;
		default:
			ret = open_fd_file(rs, f, err);
			if (ret < 0)
				return ret;
			rs->fd_slot[i] = ret;
			break;
		}
	}
	return 0;
}

static int open_mapped_files(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	uint32_t i, j;

	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		bool shared = v->rec.flags & CLD_VMA_SHARED;
		struct stat st;
		int fd, ret;

		rs->vma_slot[i] = -1;
		if (rs->vkind[i] != VK_FILE)
			continue;
		/* Most files are mapped several times in a row (text, data...). */
		for (j = i; j-- > 0;) {
			const struct cld_vma *w = &p->vmas[j];

			if (rs->vma_slot[j] >= 0 && w->rec.ino == v->rec.ino &&
			    w->rec.dev == v->rec.dev &&
			    !!(w->rec.flags & CLD_VMA_SHARED) == shared &&
			    !strcmp(w->name, v->name)) {
				rs->vma_slot[i] = rs->vma_slot[j];
				break;
			}
		}
		if (rs->vma_slot[i] >= 0)
			continue;
		fd = -1;
		if (shared)
			fd = open(v->name, O_RDWR | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			fd = open(v->name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			return cld_err_set(err, -errno, "mapping %llx-%llx: cannot open %s: %s",
					   (unsigned long long)v->rec.start,
					   (unsigned long long)v->rec.end, v->name, strerror(errno));
		if (fstat(fd, &st) < 0) {
			close(fd);
			return cld_err_set(err, -errno, "fstat %s", v->name);
		}
		ret = S_ISREG(st.st_mode) ? 0
					  : cld_err_set(err, -ESTALE,
							"mapped file %s is not a regular file",
							v->name);
		if (!ret)
			ret = check_ident("mapped file", v->name, &st, v->rec.dev, v->rec.ino,
					  err);
		if (!ret && v->rec.mtime_ns && ((uint64_t)st.st_size != v->rec.fsize ||
						mtime_of(&st) != v->rec.mtime_ns))
			ret = cld_err_set(err, -ESTALE,
					  "mapped file %s changed since the checkpoint (size %lld, "
					  "was %llu; mtime differs: %s)",
					  v->name, (long long)st.st_size,
					  (unsigned long long)v->rec.fsize,
					  mtime_of(&st) != v->rec.mtime_ns ? "yes" : "no");
		if (ret) {
			close(fd);
			return ret;
		}
		ret = add_owned(rs, fd, err);
		if (ret < 0)
			return ret;
		rs->vma_slot[i] = ret;
	}
	return 0;
}

/* The exe for PR_SET_MM_MAP; needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE,
 * so only tried as root; /proc/PID/exe stays the restorer's otherwise. */
static void open_exe(struct cld_rst *rs)
{
	struct stat st;
	int fd, slot;

	rs->slot_exe = -1;
	if (geteuid() != 0 || !rs->p->exe || rs->p->exe[0] != '/')
		return;
	fd = open(rs->p->exe, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || (rs->p->mm.exe_ino && (st.st_ino != rs->p->mm.exe_ino ||
							  dev_enc(st.st_dev) != rs->p->mm.exe_dev))) {
		close(fd);
		return;
	}
	slot = add_pfd(rs, fd, true);
	if (slot < 0) {
		close(fd);
		return;
	}
	rs->slot_exe = slot;
}

/* ---- Phase 3: the child ---------------------------------------------------- */

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
static int spawn(struct cld_rst *rs, struct cld_err *err)
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
	close_pfds(rs);
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

static int seize(struct cld_rst *rs, struct cld_err *err)
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

/* ---- Phase 4: injected rebuild ------------------------------------------ */

static int rcall(struct cld_rst *rs, long *ret, const char *what, long nr, long a1, long a2,
		 long a3, long a4, long a5, long a6, struct cld_err *err)
{
	long r;
	int rc = cld_remote_syscall(&rs->r, &r, nr, a1, a2, a3, a4, a5, a6, err);

	if (rc)
		return rc;
	if (ret)
		*ret = r;
	if (r < 0 && r > -4096)
		return cld_err_set(err, (int)r, "%s: %s", what, strerror((int)-r));
	return 0;
}

struct lvma {
	uint64_t start, end;
	char name[32];
};

/* The child's own vvar/vdso mappings (in address order). */
static int child_special(pid_t pid, struct lvma *out, int max, int *n, struct cld_err *err)
{
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return cld_err_set(err, -errno, "open %s: %s", path, strerror(errno));
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		char *nm = strchr(line, '[');

		if (!nm || sscanf(line, "%llx-%llx", &s, &e) != 2)
			continue;
		if (strncmp(nm, "[vvar", 5) && strncmp(nm, "[vdso]", 6))
			continue;
		if (*n == max)
			break;
		out[*n].start = s;
		out[*n].end = e;
		nm[strcspn(nm, "\n")] = '\0';
		snprintf(out[*n].name, sizeof(out[*n].name), "%s", nm);
		(*n)++;
	}
	fclose(f);
	return 0;
}

static bool overlaps(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return s1 < e2 && s2 < e1;
}

/* A free range of len bytes: clear of the image's VMAs and of [as, ae). */
static uint64_t find_gap(const struct cld_proc *p, uint64_t len, uint64_t as, uint64_t ae)
{
	uint64_t cand = 0x10000000ull;
	bool moved;
	uint32_t i;

	do {
		moved = false;
		for (i = 0; i < p->nr_vmas; i++) {
			const struct cld_vma_rec *v = &p->vmas[i].rec;
			uint64_t s = v->start > GAP_MARGIN ? v->start - GAP_MARGIN : 0;

			if (v->start >= CLD_VSYSCALL_ADDR)
				continue;
			if (overlaps(cand, cand + len, s, v->end + GAP_MARGIN)) {
				cand = v->end + GAP_MARGIN;
				moved = true;
			}
		}
		if (overlaps(cand, cand + len, as, ae)) {
			cand = ae + GAP_MARGIN;
			moved = true;
		}
	} while (moved && cand + len < CLD_MAX_VADDR);
	return cand + len <= CLD_MAX_VADDR ? cand : 0;
}

/*
 * Empty the child's address space but for vvar/vdso, and move those to
 * the image's addresses (same relative layout: the vDSO finds its data
 * at a fixed offset).
 */
static int rebuild_special(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	struct lvma loc[8];
	uint64_t ls, le, is = 0, ie = 0, site_off, dst, tmp;
	uint32_t i, k = 0;
	int n = 0, ret, j;

	ret = child_special(rs->pid, loc, 8, &n, err);
	if (ret)
		return ret;
	if (!n)
		return cld_err_set(err, -ENOENT, "the restore child has no vDSO");
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];

		if (!is_vdso_block(v))
			continue;
		if ((int)k >= n || v->rec.end - v->rec.start != loc[k].end - loc[k].start ||
		    (v->name && strcmp(v->name, loc[k].name)))
			return cld_err_set(err, -EXDEV,
					   "the image's vDSO/vvar mappings (%s %llu bytes) differ "
					   "from this kernel's (%s); restart needs the same kernel",
					   v->name ? v->name : "?",
					   (unsigned long long)(v->rec.end - v->rec.start),
					   (int)k < n ? loc[k].name : "none");
		if (!k)
			is = v->rec.start;
		else if (v->rec.start - is != loc[k].start - loc[0].start)
			return cld_err_set(err, -EXDEV,
					   "the image's vDSO/vvar are not laid out as this kernel's");
		ie = v->rec.end;
		k++;
	}
	if ((int)k != n)
		return cld_err_set(err, -EXDEV,
				   "the image has %u vDSO/vvar mappings, this kernel %d", k, n);
	ls = loc[0].start;
	le = loc[n - 1].end;
	site_off = rs->r.site - ls;

	/* Everything else goes: our text, heap, stack, libraries. */
	ret = rcall(rs, NULL, "munmap below the vDSO", SYS_munmap, 0, (long)ls, 0, 0, 0, 0, err);
	if (!ret && le < TASK_SIZE_4L)
		ret = rcall(rs, NULL, "munmap above the vDSO", SYS_munmap, (long)le,
			    (long)(TASK_SIZE_4L - le), 0, 0, 0, 0, err);
	for (j = 0; !ret && j + 1 < n; j++)
		if (loc[j].end < loc[j + 1].start)
			ret = rcall(rs, NULL, "munmap between vDSO parts", SYS_munmap,
				    (long)loc[j].end, (long)(loc[j + 1].start - loc[j].end), 0, 0,
				    0, 0, err);
	if (ret)
		return ret;
	if (ls == is)
		return 0;
	/* mremap cannot move a mapping onto itself: go through a free place
	 * when the old and new blocks overlap. */
	dst = is;
	if (overlaps(ls, le, is, ie)) {
		tmp = find_gap(p, le - ls, ls, le);
		if (!tmp)
			return cld_err_set(err, -ENOMEM, "no room to move the vDSO");
		dst = tmp;
	}
	for (;;) {
		for (j = 0; j < n; j++) {
			uint64_t to = dst + (loc[j].start - ls);

			ret = rcall(rs, NULL, "mremap of the vDSO", SYS_mremap, (long)loc[j].start,
				    (long)(loc[j].end - loc[j].start),
				    (long)(loc[j].end - loc[j].start),
				    MREMAP_MAYMOVE | MREMAP_FIXED, (long)to, 0, err);
			if (ret)
				return ret;
			loc[j].end = to + (loc[j].end - loc[j].start);
			loc[j].start = to;
		}
		ls = dst;
		le = loc[n - 1].end;
		/* The syscall instruction moved with the vDSO. */
		cld_remote_set_site(&rs->r, ls + site_off);
		if (dst == is)
			return 0;
		dst = is;
	}
}

static int map_scratch(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	size_t len = SCRATCH_MIN + (((size_t)p->creds.nr_groups * 4 + PAGE - 1) & ~(PAGE - 1));
	uint64_t at = find_gap(p, len, 0, 0);
	long r;
	int ret;

	if (!at)
		return cld_err_set(err, -ENOMEM, "no room for the restorer's scratch page");
	ret = rcall(rs, &r, "mmap of the scratch area", SYS_mmap, (long)at, (long)len,
		    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		    0, err);
	if (ret)
		return ret;
	rs->scratch = (uint64_t)r;
	rs->scratch_len = len;
	return 0;
}

static int map_vmas(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	uint32_t i;
	int ret;

	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		uint64_t len = v->rec.end - v->rec.start;
		long prot = v->rec.prot & 7, flags = MAP_FIXED, fd = -1, off = 0, r;
		char what[96];

		switch (rs->vkind[i]) {
		case VK_ANON:
			flags |= MAP_PRIVATE | MAP_ANONYMOUS;
			if (v->rec.flags & CLD_VMA_GROWSDOWN)
				flags |= MAP_GROWSDOWN;
			break;
		case VK_SHANON:
			flags |= MAP_SHARED | MAP_ANONYMOUS;
			break;
		case VK_FILE:
			flags |= (v->rec.flags & CLD_VMA_SHARED) ? MAP_SHARED : MAP_PRIVATE;
			fd = rs->svc_base + rs->vma_slot[i];
			off = (long)v->rec.pgoff;
			break;
		default:
			continue;
		}
		/* Written pages need a writable mapping until filled. */
		if (cld_rst_vma_fillable(rs, i))
			prot |= PROT_WRITE;
		rs->prot_now[i] = (uint32_t)prot;
		snprintf(what, sizeof(what), "mmap %llx-%llx %s", (unsigned long long)v->rec.start,
			 (unsigned long long)v->rec.end, v->name ? v->name : "");
		ret = rcall(rs, &r, what, SYS_mmap, (long)v->rec.start, (long)len, prot, flags, fd,
			    off, err);
		if (ret)
			return ret;
		if ((uint64_t)r != v->rec.start)
			return cld_err_set(err, -EFAULT, "%s landed at %lx", what, r);
	}
	return 0;
}

static const struct cld_seg *seg_at(const struct cld_layout *lo, uint64_t addr)
{
	uint32_t a = 0, b = lo->nr_segs;

	while (a < b) {
		uint32_t m = a + (b - a) / 2;

		if (lo->segs[m].vaddr + lo->segs[m].memsz <= addr)
			a = m + 1;
		else
			b = m;
	}
	if (a >= lo->nr_segs || lo->segs[a].vaddr > addr)
		return NULL;
	return &lo->segs[a];
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#define HPAGE (2ull << 20)

/*
 * Back the 2 MiB-aligned stretches of [addr, end) with transparent huge
 * pages before they are filled.  Taking a fault per 4 KiB page is what
 * dominates a big restore (tens of microseconds each under some
 * hypervisors); MADV_COLLAPSE needs one populated page per stretch and
 * leaves the VMA's flags alone (unlike MADV_HUGEPAGE), and only ranges
 * the image fills completely are collapsed, so no memory is added.  Best
 * effort: without THP the pread simply faults page by page.
 */
static void prefault_huge(struct cld_rst *rs, uint64_t addr, uint64_t end)
{
	static const char zero;
	uint64_t hs = (addr + HPAGE - 1) & ~(HPAGE - 1), he = end & ~(HPAGE - 1), a;
	struct iovec l = { (void *)&zero, 1 }, r[512];
	unsigned int n = 0;
	long ret;

	if (he <= hs)
		return;
	for (a = hs; a < he; a += HPAGE) {
		r[n].iov_base = (void *)(uintptr_t)a;
		r[n].iov_len = 1;
		if (++n == 512 || a + HPAGE >= he) {
			struct iovec lv[512];
			unsigned int i;

			for (i = 0; i < n; i++)
				lv[i] = l;
			if (process_vm_writev(rs->pid, lv, n, r, n, 0) < 0)
				return;
			n = 0;
		}
	}
	cld_remote_syscall(&rs->r, &ret, SYS_madvise, (long)hs, (long)(he - hs), MADV_COLLAPSE,
			   0, 0, 0, NULL);
}

int cld_rst_fill_eager(struct cld_rst *rs, void *arg, struct cld_err *err)
{
	const struct cld_layout *lo = &rs->ri->layout;
	const struct cld_proc *p = rs->p;
	long fd = cld_rst_child_image_fd(rs);
	uint32_t i, j;
	int ret;

	(void)arg;
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];

		if (!cld_rst_vma_fillable(rs, i))
			continue;
		for (j = 0; j < v->nr_ext; j++) {
			uint64_t addr = v->rec.start + v->ext[j].first * PAGE;
			uint64_t end = addr + v->ext[j].count * PAGE;

			if (rs->vkind[i] == VK_ANON && v->ext[j].count * PAGE >= HPAGE)
				prefault_huge(rs, addr, end);
			while (addr < end) {
				const struct cld_seg *s = seg_at(lo, addr);
				uint64_t len, off;
				long r;

				if (!s || !s->filesz)
					return cld_err_set(err, -EBADMSG,
							   "page %llx is dumped but has no data "
							   "in the image layout",
							   (unsigned long long)addr);
				len = s->vaddr + s->memsz - addr;
				if (len > end - addr)
					len = end - addr;
				if (len > FILL_CHUNK)
					len = FILL_CHUNK;
				off = s->offset + (addr - s->vaddr);
				ret = rcall(rs, &r, "pread of the image into memory", SYS_pread64,
					    fd, (long)addr, (long)len, (long)off, 0, 0, err);
				if (ret)
					return cld_err_prefix(err, "at %llx",
							      (unsigned long long)addr);
				if (r == 0)
					return cld_err_set(err, -EIO,
							   "image ends before the data of %llx",
							   (unsigned long long)addr);
				addr += (uint64_t)r;
				cld_rst_account(rs, (uint64_t)r);
			}
		}
	}
	return 0;
}

static int finish_vmas(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	uint32_t i;
	int ret = 0;

	for (i = 0; i < p->nr_vmas && !ret; i++) {
		const struct cld_vma *v = &p->vmas[i];
		long len = (long)(v->rec.end - v->rec.start), st = (long)v->rec.start;

		if (rs->vkind[i] != VK_ANON && rs->vkind[i] != VK_SHANON &&
		    rs->vkind[i] != VK_FILE)
			continue;
		if (rs->prot_now[i] != (v->rec.prot & 7))
			ret = rcall(rs, NULL, "mprotect", SYS_mprotect, st, len, v->rec.prot & 7,
				    0, 0, 0, err);
		if (!ret && (v->rec.flags & CLD_VMA_DONTDUMP))
			ret = rcall(rs, NULL, "madvise(MADV_DONTDUMP)", SYS_madvise, st, len,
				    MADV_DONTDUMP, 0, 0, 0, err);
		if (!ret && (v->rec.flags & CLD_VMA_LOCKED))
			ret = rcall(rs, NULL, "mlock", SYS_mlock, st, len, 0, 0, 0, 0, err);
	}
	return ret;
}

static int set_mm(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	struct prctl_mm_map mm;
	uint32_t alen = (uint32_t)p->mm.auxv_len;
	long r;
	int ret;

	if (alen > MAX_SAVED_AUXV)
		alen = MAX_SAVED_AUXV;
	alen &= ~15u;
	memset(&mm, 0, sizeof(mm));
	mm.start_code = p->mm.start_code;
	mm.end_code = p->mm.end_code;
	mm.start_data = p->mm.start_data;
	mm.end_data = p->mm.end_data;
	mm.start_brk = p->mm.start_brk;
	mm.brk = p->mm.brk;
	mm.start_stack = p->mm.start_stack;
	mm.arg_start = p->mm.arg_start;
	mm.arg_end = p->mm.arg_end;
	mm.env_start = p->mm.env_start;
	mm.env_end = p->mm.env_end;
	mm.auxv = (__u64 *)(uintptr_t)(rs->scratch + 256);
	mm.auxv_size = p->auxv ? alen : 0;
	mm.exe_fd = rs->slot_exe >= 0 ? (uint32_t)(rs->svc_base + rs->slot_exe) : (uint32_t)-1;
	if (cld_remote_write(rs->pid, rs->scratch, &mm, sizeof(mm)) ||
	    (mm.auxv_size && cld_remote_write(rs->pid, rs->scratch + 256, p->auxv, alen)))
		return cld_err_set(err, -EIO, "writing PR_SET_MM_MAP arguments into the child");
	ret = cld_remote_syscall(&rs->r, &r, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP,
				 (long)rs->scratch, sizeof(mm), 0, 0, err);
	if (ret)
		return ret;
	if (r == -EPERM && mm.exe_fd != (uint32_t)-1) {
		/* No right to change /proc/PID/exe: restore the rest. */
		mm.exe_fd = (uint32_t)-1;
		if (cld_remote_write(rs->pid, rs->scratch, &mm, sizeof(mm)))
			return cld_err_set(err, -EIO, "writing PR_SET_MM_MAP arguments");
		ret = cld_remote_syscall(&rs->r, &r, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP,
					 (long)rs->scratch, sizeof(mm), 0, 0, err);
		if (ret)
			return ret;
	}
	if (r < 0)
		return cld_err_set(err, (int)r, "PR_SET_MM_MAP (brk %llx, stack %llx): %s",
				   (unsigned long long)mm.brk, (unsigned long long)mm.start_stack,
				   strerror((int)-r));
	rs->res->exe_set = mm.exe_fd != (uint32_t)-1;
	return 0;
}

static int set_thread_state(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	const struct cld_thread_rec *t = &p->threads[0].rec;
	struct itimerval itv[3];
	int ret = 0, i;

	if (t->rseq_addr)
		ret = rcall(rs, NULL, "rseq registration", SYS_rseq, (long)t->rseq_addr,
			    (long)t->rseq_len, 0, (long)t->rseq_sig, 0, 0, err);
	if (!ret)
		ret = rcall(rs, NULL, "set_robust_list", SYS_set_robust_list, (long)t->robust_list,
			    t->robust_list ? (long)t->robust_len : 24, 0, 0, 0, 0, err);
	if (!ret)
		ret = rcall(rs, NULL, "set_tid_address", SYS_set_tid_address,
			    (long)t->tid_address, 0, 0, 0, 0, 0, err);
	if (ret)
		return ret;
	for (i = 0; i < 3; i++) {
		itv[i].it_interval.tv_sec = p->proc.itimer[i].interval_sec;
		itv[i].it_interval.tv_usec = p->proc.itimer[i].interval_usec;
		itv[i].it_value.tv_sec = p->proc.itimer[i].value_sec;
		itv[i].it_value.tv_usec = p->proc.itimer[i].value_usec;
	}
	for (i = 0; i < 3 && !ret; i++) {
		/*
		 * An expired ITIMER_REAL whose SIGALRM is still pending reads
		 * as value 0 with its interval (the kernel re-arms it when the
		 * signal is dequeued), but setitimer() with value 0 disarms:
		 * arm it one interval ahead instead.
		 */
		if (!itv[i].it_value.tv_sec && !itv[i].it_value.tv_usec)
			itv[i].it_value = itv[i].it_interval;
		if (!itv[i].it_value.tv_sec && !itv[i].it_value.tv_usec)
			continue;
		if (cld_remote_write(rs->pid, rs->scratch + i * sizeof(itv[0]), &itv[i],
				     sizeof(itv[0])))
			return cld_err_set(err, -EIO, "writing itimer values into the child");
		ret = rcall(rs, NULL, "setitimer", SYS_setitimer, i,
			    (long)(rs->scratch + i * sizeof(itv[0])), 0, 0, 0, 0, err);
	}
	if (!ret && p->proc.pdeath_signal)
		ret = rcall(rs, NULL, "PR_SET_PDEATHSIG", SYS_prctl, PR_SET_PDEATHSIG,
			    p->proc.pdeath_signal, 0, 0, 0, 0, err);
	/* Undo the child's PR_SET_PTRACER; EINVAL just means no Yama. */
	if (!ret && (rs->o->flags & CLD_RST_DETACH)) {
		long r;

		ret = cld_remote_syscall(&rs->r, &r, SYS_prctl, PR_SET_PTRACER, 0, 0, 0, 0, 0, err);
	}
	return ret;
}

/*
 * The child runs with our credentials until set_creds: it takes the image's
 * ids whenever they differ from ours (root restoring a user's image).
 * Supplementary groups are the image's only when root restores: anyone
 * else's process keeps the groups the system gives that user (an image
 * may claim any list).
 */
static bool creds_differ_from_ours(const struct cld_proc *p)
{
	const struct cld_creds_rec *c = &p->creds;
	gid_t groups[256];
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int n, i;

	if (getresuid(&ru, &eu, &su) || getresgid(&rg, &eg, &sg))
		return true;
	if (c->uid != ru || c->euid != eu || c->suid != su || c->fsuid != eu || c->gid != rg ||
	    c->egid != eg || c->sgid != sg || c->fsgid != eg)
		return true;
	if (eu != 0)
		return false;
	n = getgroups(256, groups);
	if (n < 0 || (uint32_t)n != c->nr_groups)
		return true;
	for (i = 0; i < n; i++)
		if ((uint32_t)groups[i] != p->groups[i])
			return true;
	return false;
}

static int set_creds(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_creds_rec *c = &rs->p->creds;
	int ret;

	if (!creds_differ_from_ours(rs->p))
		return 0;
	if (geteuid() != 0)
		return cld_err_set(err, -EPERM,
				   "the image's credentials (uid %u gid %u) are not ours and we are not root",
				   c->uid, c->gid);
	if (c->nr_groups && cld_remote_write(rs->pid, rs->scratch, rs->p->groups,
					     (size_t)c->nr_groups * 4))
		return cld_err_set(err, -EIO, "writing groups into the child");
	ret = rcall(rs, NULL, "setgroups", SYS_setgroups, (long)c->nr_groups,
		    (long)rs->scratch, 0, 0, 0, 0, err);
	if (!ret)
		ret = rcall(rs, NULL, "setresgid", SYS_setresgid, c->gid, c->egid, c->sgid, 0, 0,
			    0, err);
	if (!ret)
		ret = rcall(rs, NULL, "setresuid", SYS_setresuid, c->uid, c->euid, c->suid, 0, 0,
			    0, err);
	if (!ret)
		ret = rcall(rs, NULL, "setfsuid", SYS_setfsuid, c->fsuid, 0, 0, 0, 0, 0, err);
	if (!ret)
		ret = rcall(rs, NULL, "setfsgid", SYS_setfsgid, c->fsgid, 0, 0, 0, 0, 0, err);
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

static int set_cpu(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_thread *t = &rs->p->threads[0];
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
		if (ptrace(PTRACE_GETREGSET, rs->pid, (void *)NT_X86_XSTATE, &iov) < 0) {
			free(buf);
			return cld_err_set(err, -errno, "PTRACE_GETREGSET xstate: %s",
					   strerror(errno));
		}
		local = iov.iov_len;
		memset(buf, 0, local);
		memcpy(buf, t->xstate, t->xstate_len < local ? t->xstate_len : local);
		iov.iov_len = local;
		if (ptrace(PTRACE_SETREGSET, rs->pid, (void *)NT_X86_XSTATE, &iov) < 0)
			ret = cld_err_set(err, -errno,
					  "PTRACE_SETREGSET xstate (%u bytes in the image, %zu "
					  "here): %s; is this the same CPU?",
					  t->xstate_len, local, strerror(errno));
		free(buf);
	} else {
		iov.iov_base = (void *)t->fpregs;
		iov.iov_len = sizeof(t->fpregs);
		if (ptrace(PTRACE_SETREGSET, rs->pid, (void *)NT_PRFPREG, &iov) < 0)
			ret = cld_err_set(err, -errno, "PTRACE_SETREGSET fpregs: %s",
					  strerror(errno));
	}
	if (ret)
		return ret;
	if (ptrace(PTRACE_SETREGS, rs->pid, NULL, &u) < 0)
		return cld_err_set(err, -errno, "PTRACE_SETREGS: %s", strerror(errno));
	if (ptrace(PTRACE_SETSIGMASK, rs->pid, (void *)sizeof(blocked), &blocked) < 0)
		return cld_err_set(err, -errno, "PTRACE_SETSIGMASK: %s", strerror(errno));
	return 0;
}

/*
 * Fault injection for the tests (CLD_RESTORE_FAULT=map|fill|regs): fail at
 * that point as a real error would, to show nothing is left behind.
 */
static int fault(const char *where, struct cld_err *err)
{
	const char *f = getenv("CLD_RESTORE_FAULT");

	if (f && !strcmp(f, where))
		return cld_err_set(err, -EIO, "injected fault at '%s' (CLD_RESTORE_FAULT)", where);
	return 0;
}

static int rebuild(struct cld_rst *rs, struct cld_err *err)
{
	struct ptrace_rseq_conf rc;
	cld_rst_fill_fn fill = rs->o->fill ? rs->o->fill : cld_rst_fill_eager;
	uint64_t t;
	int ret;

	ret = cld_remote_open(&rs->r, rs->pid, 0, err);
	if (ret)
		return ret;
	rs->remote_open = true;
	/* The child inherited our rseq area: unregister it before its page
	 * goes, or the kernel would write the cpu id into the new memory. */
	memset(&rc, 0, sizeof(rc));
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, rs->pid, (void *)sizeof(rc), &rc) > 0 &&
	    rc.rseq_abi_pointer) {
		ret = rcall(rs, NULL, "rseq unregistration", SYS_rseq, (long)rc.rseq_abi_pointer,
			    (long)rc.rseq_abi_size, 1 /* RSEQ_FLAG_UNREGISTER */,
			    (long)rc.signature, 0, 0, err);
		if (ret)
			return ret;
	}
	t = now_ns();
	ret = rebuild_special(rs, err);
	if (!ret)
		ret = map_scratch(rs, err);
	if (!ret)
		ret = map_vmas(rs, err);
	if (!ret)
		ret = fault("map", err);
	rs->res->map_ns = now_ns() - t;
	if (ret)
		return ret;
	t = now_ns();
	ret = fill(rs, rs->o->fill_arg, err);
	if (!ret)
		ret = fault("fill", err);
	rs->res->fill_ns = now_ns() - t;
	if (ret)
		return ret;
	ret = finish_vmas(rs, err);
	if (!ret)
		ret = set_mm(rs, err);
	if (!ret)
		ret = set_thread_state(rs, err);
	if (!ret)
		ret = set_creds(rs, err);
	if (!ret)
		ret = rcall(rs, NULL, "munmap of the scratch area", SYS_munmap, (long)rs->scratch,
			    (long)rs->scratch_len, 0, 0, 0, 0, err);
	rs->scratch = 0;
	/* The restorer's own fds sit above every image fd. */
	if (!ret)
		ret = rcall(rs, NULL, "close_range", SYS_close_range, rs->svc_base, ~0u, 0, 0, 0,
			    0, err);
	if (ret)
		return ret;
	rs->res->nr_syscalls = rs->r.nr_calls;
	ret = cld_remote_close(&rs->r, 1, err);
	rs->remote_open = false;
	if (!ret)
		ret = set_cpu(rs, err);
	if (!ret)
		ret = fault("regs", err);
	if (!ret && ptrace(PTRACE_DETACH, rs->pid, NULL, NULL) < 0)
		ret = cld_err_set(err, -errno, "PTRACE_DETACH: %s", strerror(errno));
	return ret;
}

/* ---- Driver ---------------------------------------------------------------- */

static void kill_child(struct cld_rst *rs)
{
	int st;

	if (rs->pid > 0) {
		kill(rs->pid, SIGKILL);
		if (!(rs->o->flags & CLD_RST_DETACH))
			while (waitpid(rs->pid, &st, __WALL) < 0 && errno == EINTR)
				;
		rs->pid = 0;
	}
}

int cld_restore(struct cld_rimage *ri, const struct cld_restore_opts *o,
		struct cld_restore_result *res, struct cld_err *err)
{
	struct cld_proc *p = &ri->proc;
	struct cld_rst rs;
	int sp[2] = { -1, -1 }, lp[2] = { -1, -1 };
	int ret, maxfd = 2, st;
	uint32_t i;

	memset(res, 0, sizeof(*res));
	memset(&rs, 0, sizeof(rs));
	rs.t0 = now_ns();
	rs.ri = ri;
	rs.p = p;
	rs.o = o;
	rs.res = res;
	rs.status_rd = -1;
	rs.slot_exe = -1;
	if (o->image_fd < 0)
		return cld_err_set(err, -EBADF, "no image fd given to the restorer");
	ret = cld_restore_check(ri, o, NULL, err);
	if (ret)
		return ret;
	rs.fd_slot = calloc(p->nr_fds + 1, sizeof(*rs.fd_slot));
	rs.vma_slot = calloc(p->nr_vmas + 1, sizeof(*rs.vma_slot));
	rs.vkind = calloc(p->nr_vmas + 1, 1);
	rs.prot_now = calloc(p->nr_vmas + 1, sizeof(*rs.prot_now));
	if (!rs.fd_slot || !rs.vma_slot || !rs.vkind || !rs.prot_now) {
		ret = cld_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < p->nr_vmas; i++)
		rs.vkind[i] = (uint8_t)classify(&p->vmas[i]);
	rs.cwd = p->cwd;

	/* Phase 2. */
	ret = -ENOMEM;
	rs.slot_img = add_pfd(&rs, o->image_fd, false);
	if (rs.slot_img < 0)
		goto nomem;
	if (pipe2(sp, O_CLOEXEC) < 0 || pipe2(lp, O_CLOEXEC) < 0) {
		ret = cld_err_set(err, -errno, "pipe: %s", strerror(errno));
		goto out;
	}
	rs.status_rd = sp[0];
	rs.slot_status = add_pfd(&rs, sp[1], true);
	if (rs.slot_status < 0) {
		close(sp[1]);
		goto nomem;
	}
	rs.life_wr = lp[1];
	rs.slot_life = add_pfd(&rs, lp[0], true);
	if (rs.slot_life < 0) {
		close(lp[0]);
		goto nomem;
	}
	ret = open_fds(&rs, err);
	if (!ret)
		ret = open_mapped_files(&rs, err);
	if (ret)
		goto out;
	open_exe(&rs);
	for (i = 0; i < p->nr_fds; i++)
		if (p->fds[i].rec.fd > maxfd)
			maxfd = p->fds[i].rec.fd;
	for (i = 0; i < rs.nr_pfd; i++)
		if (rs.pfd[i] > maxfd)
			maxfd = rs.pfd[i];
	rs.svc_base = maxfd + 1;

	/* Phase 3. */
	ret = spawn(&rs, err);
	if (rs.helper > 0)
		while (waitpid(rs.helper, &st, 0) < 0 && errno == EINTR)
			;
	res->pid = rs.pid;
	res->prep_ns = now_ns() - rs.t0;
	if (ret)
		goto fail;
	ret = seize(&rs, err);
	if (ret)
		goto fail;
	/* Phase 4. */
	ret = rebuild(&rs, err);
	if (ret)
		goto fail;
	res->total_ns = now_ns() - rs.t0;
	goto out;

fail:
	cld_err_prefix(err, "restart of pid %d failed", p->proc.pid);
	kill_child(&rs);
	res->pid = 0;
	goto out;
nomem:
	ret = cld_err_set(err, -ENOMEM, "out of memory");
out:
	close_pfds(&rs);
	if (rs.status_rd >= 0)
		close(rs.status_rd);
	if (lp[1] >= 0)
		close(lp[1]);
	free(rs.pfd);
	free(rs.pfd_owned);
	free(rs.fd_slot);
	free(rs.vma_slot);
	free(rs.vkind);
	free(rs.prot_now);
	return ret;
}
