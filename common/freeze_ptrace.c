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
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "clondike/freeze_ptrace.h"
#include "clondike/inject.h"

/* ---- uapi bits newer than Debian 12's headers ---------------------------- */

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#endif
#ifndef PTRACE_PEEKSIGINFO
#define PTRACE_PEEKSIGINFO 0x4209
#endif
#ifndef PTRACE_PEEKSIGINFO_SHARED
#define PTRACE_PEEKSIGINFO_SHARED 1
#endif
#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif
#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif

/* PAGEMAP_SCAN (Linux 6.7, fs/proc/task_mmu.c) */
#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN _IOWR('f', 16, struct cld_pm_scan_arg)
#endif
#ifndef PAGE_IS_FILE
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#endif

struct cld_page_region {
	uint64_t start, end, categories;
};

struct cld_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

struct cld_rseq_conf {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size, signature, flags, pad;
};

struct cld_peeksiginfo {
	uint64_t off;
	uint32_t flags;
	int32_t nr;
};

#define PF_KTHREAD 0x00200000u
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

#define PAGE CLD_PAGE_SIZE

/* ---- The frozen object ---------------------------------------------------- */

struct ptr_frozen {
	pid_t pid;
	unsigned int flags;
	int mem_fd; /* /proc/PID/mem, for what process_vm_readv refuses */
	int attached;
	struct cld_proc proc;
	struct cld_image *img;
};

/* ---- Small /proc helpers --------------------------------------------------- */

/* Read a whole small /proc file into a NUL-terminated malloc'ed buffer. */
static int slurp(pid_t pid, const char *name, char **out, size_t *len)
{
	char path[64];
	size_t cap = 4096, n = 0;
	char *buf;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			free(buf);
			close(fd);
			return -e;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

static int read_link(pid_t pid, const char *name, char **out)
{
	char path[96], buf[PATH_MAX + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

/* "Key:\tvalue" line of /proc/PID/status. */
static const char *status_field(const char *status, const char *key)
{
	size_t kl = strlen(key);
	const char *p = status;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':')
			return p + kl + 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static uint64_t status_hex(const char *status, const char *key)
{
	const char *v = status_field(status, key);

	return v ? strtoull(v, NULL, 16) : 0;
}

static long long status_dec(const char *status, const char *key, long long dflt)
{
	const char *v = status_field(status, key);

	return v ? strtoll(v, NULL, 10) : dflt;
}

/* /proc/PID/stat, split after the comm (which may hold spaces and ')'). */
struct stat_fields {
	char state;
	char comm[16];
	long long f[53]; /* f[n] = field n (1-based as in proc(5)), n >= 4 */
};

static int read_stat(pid_t pid, struct stat_fields *sf)
{
	char *buf, *open_p, *close_p, *p;
	size_t clen;
	int ret, i;

	ret = slurp(pid, "stat", &buf, NULL);
	if (ret)
		return ret;
	memset(sf, 0, sizeof(*sf));
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (!open_p || !close_p || close_p < open_p || close_p[1] != ' ') {
		free(buf);
		return -EPROTO;
	}
	clen = (size_t)(close_p - open_p - 1);
	if (clen > sizeof(sf->comm) - 1)
		clen = sizeof(sf->comm) - 1;
	memcpy(sf->comm, open_p + 1, clen);
	sf->state = close_p[2];
	p = close_p + 3;
	for (i = 4; i < 53 && *p; i++) {
		char *end;

		/* unsigned fields above LLONG_MAX (kstkesp...) do not matter here */
		sf->f[i] = strtoll(p, &end, 10);
		if (end == p)
			break;
		p = end;
		while (*p == ' ')
			p++;
	}
	free(buf);
	return 0;
}

static uint64_t encode_dev(dev_t d)
{
	return ((uint64_t)major(d) << 32) | minor(d);
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* ---- Pure helpers ------------------------------------------------------------ */

int cld_maps_parse(const char *line, struct cld_maps_line *l)
{
	unsigned long long s, e, off, ino;
	unsigned int maj, min;
	char perms[5];
	int pos = 0;
	const char *path;
	size_t plen;

	memset(l, 0, sizeof(*l));
	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu%n", &s, &e, perms, &off, &maj, &min, &ino,
		   &pos) != 7 ||
	    pos <= 0)
		return -EINVAL;
	if (strlen(perms) != 4 || s >= e || (s | e) % PAGE)
		return -EINVAL;
	l->start = s;
	l->end = e;
	l->pgoff = off;
	l->ino = ino;
	l->dev_major = maj;
	l->dev_minor = min;
	l->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	l->shared = perms[3] == 's';
	path = line + pos;
	while (*path == ' ' || *path == '\t')
		path++;
	plen = strcspn(path, "\n");
	if (plen >= sizeof(l->path))
		return -ENAMETOOLONG;
	memcpy(l->path, path, plen);
	l->path[plen] = '\0';
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

uint32_t cld_maps_classify(struct cld_maps_line *l, const char **name)
{
	uint32_t flags = l->shared ? CLD_VMA_SHARED : 0;
	char *p = l->path;

	*name = NULL;
	if (!p[0])
		return flags;
	if (p[0] == '[') {
		*name = p;
		if (!strcmp(p, "[heap]"))
			return flags | CLD_VMA_HEAP;
		if (!strcmp(p, "[stack]"))
			return flags | CLD_VMA_STACK | CLD_VMA_GROWSDOWN;
		if (!strcmp(p, "[vdso]"))
			return flags | CLD_VMA_VDSO;
		if (!strncmp(p, "[vvar", 5)) /* [vvar] and [vvar_vclock] (6.13+) */
			return flags | CLD_VMA_VVAR;
		if (!strcmp(p, "[vsyscall]"))
			return flags | CLD_VMA_VSYSCALL;
		/* Named anonymous memory (PR_SET_VMA_ANON_NAME) is ordinary memory. */
		if (!strncmp(p, "[anon:", 6) || !strncmp(p, "[anon_shmem:", 12))
			return flags;
		return flags | CLD_VMA_SPECIAL;
	}
	if (p[0] != '/') {
		/* anon_inode:... and other non-path names: not restorable as files */
		*name = p;
		return flags | CLD_VMA_SPECIAL;
	}
	/* MAP_SHARED|MAP_ANONYMOUS memory is a deleted shmem "/dev/zero". */
	if (l->shared && !strcmp(p, "/dev/zero (deleted)"))
		return flags;
	if (!strncmp(p, "/SYSV", 5) && ends_with(p, " (deleted)")) {
		*name = p;
		return flags | CLD_VMA_SYSVSHM;
	}
	flags |= CLD_VMA_FILE;
	if (ends_with(p, " (deleted)")) {
		p[strlen(p) - strlen(" (deleted)")] = '\0';
		flags |= CLD_VMA_DELETED;
	}
	*name = p;
	return flags;
}

void cld_restart_normalize(struct cld_regs *live, struct cld_regs *image,
			   struct cld_thread_rec *rec)
{
	int64_t nr = (int64_t)live->orig_rax;
	int64_t res = (int64_t)live->rax;

	*image = *live;
	rec->syscall_state = CLD_SYSCALL_NONE;
	rec->orig_syscall = -1;
	rec->orig_result = 0;
	if (nr < 0)
		return;
	rec->orig_syscall = nr;
	rec->orig_result = res;
	switch (res) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		/* Rewind onto the "syscall" instruction: the task reissues the
		 * call by itself when it runs again, here or after a restart. */
		live->rax = (uint64_t)nr;
		live->rip -= 2;
		live->orig_rax = (uint64_t)-1;
		*image = *live;
		rec->syscall_state = CLD_SYSCALL_RESTART;
		break;
	case -ERESTART_RESTARTBLOCK:
		/* The live task resumes through restart_syscall(), which uses the
		 * kernel's restart block (remaining time of a nanosleep...).  A
		 * restored process has no restart block, so the image reissues
		 * the original call with its original arguments. */
		live->rax = SYS_restart_syscall;
		live->rip -= 2;
		live->orig_rax = (uint64_t)-1;
		*image = *live;
		image->rax = (uint64_t)nr;
		rec->syscall_state = CLD_SYSCALL_RESTART;
		break;
	default:
		rec->syscall_state = CLD_SYSCALL_DONE;
		break;
	}
}

enum dump_policy {
	DUMP_NONE,
	DUMP_ALL,  /* every page (the vDSO, see docs/decisions.md) */
	DUMP_ANY,  /* present or swapped, file pages too (shared anon, deleted) */
	DUMP_ANON, /* present or swapped anonymous pages (private mappings) */
};

static enum dump_policy vma_policy(uint32_t flags)
{
	if (flags & CLD_VMA_VDSO)
		return DUMP_ALL;
	if (flags &
	    (CLD_VMA_VVAR | CLD_VMA_VSYSCALL | CLD_VMA_SPECIAL | CLD_VMA_SYSVSHM | CLD_VMA_HUGETLB))
		return DUMP_NONE;
	if (flags & CLD_VMA_SHARED) {
		/* A live file holds shared file data; only memory with no file
		 * to go back to (shared anonymous, memfd, deleted) is dumped. */
		if ((flags & CLD_VMA_FILE) && !(flags & CLD_VMA_DELETED))
			return DUMP_NONE;
		return DUMP_ANY;
	}
	if (flags & CLD_VMA_DELETED)
		return DUMP_ANY;
	return DUMP_ANON;
}

int cld_pagemap_dumped(uint64_t entry, uint32_t vma_flags)
{
	int present = !!(entry & (1ull << 63)), swapped = !!(entry & (1ull << 62));
	int file = !!(entry & (1ull << 61));

	switch (vma_policy(vma_flags)) {
	case DUMP_ALL:
		return 1;
	case DUMP_ANY:
		return present || swapped;
	case DUMP_ANON:
		return (present && !file) || swapped;
	default:
		return 0;
	}
}

/* ---- Extents ----------------------------------------------------------------- */

struct ext_vec {
	struct cld_extent *e;
	uint32_t n, cap;
};

static int ext_add(struct ext_vec *v, uint64_t first, uint64_t count)
{
	if (!count)
		return 0;
	if (v->n) {
		struct cld_extent *l = &v->e[v->n - 1];

		if (first < l->first)
			return -EIO; /* the scans go upwards: never happens */
		/* Adjacent or overlapping with the last run: one run.  Overlap
		 * happens when PAGEMAP_SCAN resumes at a walk_end inside a run
		 * it already reported. */
		if (first <= l->first + l->count) {
			if (first + count > l->first + l->count)
				l->count = first + count - l->first;
			return 0;
		}
	}
	if (v->n == v->cap) {
		uint32_t ncap = v->cap ? v->cap * 2 : 8;
		struct cld_extent *ne = realloc(v->e, ncap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		v->e = ne;
		v->cap = ncap;
	}
	v->e[v->n].first = first;
	v->e[v->n].count = count;
	v->n++;
	return 0;
}

static int cmp_ext(const void *a, const void *b)
{
	const struct cld_extent *x = a, *y = b;

	return (x->first > y->first) - (x->first < y->first);
}

/*
 * PAGEMAP_SCAN: the kernel walks the page tables and hands back runs.
 * With huge pages and a full output vector the runs of successive calls
 * can come back out of order or overlapping (seen on 6.18 with THPs made
 * by MADV_COLLAPSE), so they are collected, sorted and merged.
 */
static int scan_vma_ioctl(int pm_fd, struct cld_vma *vma, enum dump_policy pol, struct ext_vec *ev)
{
	enum { NREG = 1024 };
	struct cld_page_region reg[NREG];
	struct ext_vec raw = { 0 };
	uint64_t start = vma->rec.start, end = vma->rec.end;
	uint32_t i;
	int ret = 0;

	while (start < end) {
		struct cld_pm_scan_arg a = {
			.size = sizeof(a),
			.start = start,
			.end = end,
			.vec = (uint64_t)(uintptr_t)reg,
			.vec_len = NREG,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		};
		long n, k;

		if (pol == DUMP_ANON) {
			/* not a page-cache page, not the shared zero page */
			a.category_inverted = PAGE_IS_FILE | PAGE_IS_PFNZERO;
			a.category_mask = PAGE_IS_FILE | PAGE_IS_PFNZERO;
		} else {
			a.category_inverted = PAGE_IS_PFNZERO;
			a.category_mask = PAGE_IS_PFNZERO;
		}
		n = ioctl(pm_fd, PAGEMAP_SCAN, &a);
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		for (k = 0; k < n; k++) {
			uint64_t s = reg[k].start < vma->rec.start ? vma->rec.start : reg[k].start;
			uint64_t e = reg[k].end > end ? end : reg[k].end;
			struct cld_extent *ne;

			if (e <= s)
				continue;
			if (raw.n == raw.cap) {
				uint32_t ncap = raw.cap ? raw.cap * 2 : 64;

				ne = realloc(raw.e, ncap * sizeof(*ne));
				if (!ne) {
					ret = -ENOMEM;
					goto out;
				}
				raw.e = ne;
				raw.cap = ncap;
			}
			raw.e[raw.n].first = (s - vma->rec.start) / PAGE;
			raw.e[raw.n].count = (e - s) / PAGE;
			raw.n++;
		}
		if (a.walk_end <= start) {
			ret = -EIO;
			goto out;
		}
		start = a.walk_end;
	}
	if (raw.n)
		qsort(raw.e, raw.n, sizeof(*raw.e), cmp_ext);
	for (i = 0; i < raw.n && !ret; i++)
		ret = ext_add(ev, raw.e[i].first, raw.e[i].count);
out:
	free(raw.e);
	return ret;
}

/* The pre-6.7 way: 8 bytes of /proc/PID/pagemap per page. */
static int scan_vma_pagemap(int pm_fd, struct cld_vma *vma, struct ext_vec *ev)
{
	enum { N = 4096 };
	uint64_t ent[N];
	uint64_t npages = (vma->rec.end - vma->rec.start) / PAGE, pg = 0;

	while (pg < npages) {
		uint64_t want = npages - pg < N ? npages - pg : N, i;
		ssize_t r = pread(pm_fd, ent, want * 8, (off_t)((vma->rec.start / PAGE + pg) * 8));

		if (r < 0)
			return -errno;
		if (r < 8)
			return -EIO;
		want = (uint64_t)r / 8;
		for (i = 0; i < want; i++) {
			if (cld_pagemap_dumped(ent[i], vma->rec.flags)) {
				int ret = ext_add(ev, pg + i, 1);

				if (ret)
					return ret;
			}
		}
		pg += want;
	}
	return 0;
}

/* ---- Collecting the state ---------------------------------------------------- */

struct collect {
	pid_t pid;
	unsigned int flags;
	struct cld_proc *p;
	struct cld_err *err;
	char *status;
	struct stat_fields sf;
	int pm_fd;
	int use_scan; /* 1 yes, 0 unknown, -1 no */
};

static int collect_vmas(struct collect *c)
{
	struct cld_proc *p = c->p;
	struct cld_maps_line *l;
	char *maps = NULL, *line, *next;
	uint32_t cap = 0;
	struct stat last = { 0 };
	char last_path[PATH_MAX] = "";
	int ret;

	ret = slurp(c->pid, "maps", &maps, NULL);
	if (ret)
		return cld_err_set(c->err, ret, "reading /proc/%d/maps: %s", c->pid,
				   strerror(-ret));
	l = malloc(sizeof(*l));
	if (!l) {
		ret = cld_err_set(c->err, -ENOMEM, "out of memory");
		goto out;
	}
	for (line = maps; line && *line; line = next) {
		struct cld_vma *v;
		const char *name;
		uint32_t flags;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		ret = cld_maps_parse(line, l);
		if (ret) {
			ret = cld_err_set(c->err, ret, "cannot parse /proc/%d/maps line '%.120s'",
					  c->pid, line);
			goto out;
		}
		if (p->nr_vmas == cap) {
			uint32_t ncap = cap ? cap * 2 : 64;
			struct cld_vma *nv;

			if (ncap > CLD_MAX_VMAS + 1) {
				ret = cld_err_set(c->err, -E2BIG, "more than %u mappings",
						  CLD_MAX_VMAS);
				goto out;
			}
			nv = realloc(p->vmas, ncap * sizeof(*nv));
			if (!nv) {
				ret = cld_err_set(c->err, -ENOMEM, "out of memory");
				goto out;
			}
			p->vmas = nv;
			cap = ncap;
		}
		flags = cld_maps_classify(l, &name);
		v = &p->vmas[p->nr_vmas++];
		memset(v, 0, sizeof(*v));
		v->rec.start = l->start;
		v->rec.end = l->end;
		v->rec.prot = l->prot;
		v->rec.flags = flags;
		if (name) {
			v->name = strdup(name);
			if (!v->name) {
				ret = cld_err_set(c->err, -ENOMEM, "out of memory");
				goto out;
			}
		}
		if (flags & CLD_VMA_VDSO) {
			p->mm.vdso_start = l->start;
			p->mm.vdso_end = l->end;
		}
		if (flags & CLD_VMA_VVAR) {
			if (!p->mm.vvar_start || l->start < p->mm.vvar_start)
				p->mm.vvar_start = l->start;
			if (l->end > p->mm.vvar_end)
				p->mm.vvar_end = l->end;
		}
		if (!(flags & CLD_VMA_FILE))
			continue;
		v->rec.pgoff = l->pgoff;
		/* Identity of the mapped file.  A file still in place is
		 * stat'ed by path (once per run of mappings of it), which is
		 * what the restorer will compare with; a deleted one through
		 * map_files (root or CAP_CHECKPOINT_RESTORE), else what maps
		 * says. */
		if (!(flags & CLD_VMA_DELETED) && !strcmp(last_path, name)) {
			/* same file as the previous mapping */
		} else {
			char mf[96];
			int ok;

			if (flags & CLD_VMA_DELETED) {
				snprintf(mf, sizeof(mf), "/proc/%d/map_files/%llx-%llx", c->pid,
					 (unsigned long long)l->start, (unsigned long long)l->end);
				ok = !stat(mf, &last);
			} else {
				ok = !stat(name, &last) && last.st_ino == l->ino;
			}
			if (!ok) {
				memset(&last, 0, sizeof(last));
				last.st_dev = makedev(l->dev_major, l->dev_minor);
				last.st_ino = l->ino;
			}
			snprintf(last_path, sizeof(last_path), "%s",
				 (flags & CLD_VMA_DELETED) ? "" : name);
		}
		v->rec.dev = encode_dev(last.st_dev);
		v->rec.ino = last.st_ino;
		v->rec.fsize = (uint64_t)last.st_size;
		v->rec.mtime_ns = ts_ns(&last.st_mtim);
		if (S_ISCHR(last.st_mode) || S_ISBLK(last.st_mode))
			v->rec.flags |= CLD_VMA_SPECIAL;
	}
	ret = 0;
out:
	free(l);
	free(maps);
	return ret;
}

/* VM_LOCKED / VM_DONTDUMP are only in smaps; read it only when needed. */
static int collect_vmflags(struct collect *c)
{
	struct cld_proc *p = c->p;
	char *smaps, *line, *next;
	uint32_t vi = 0;
	int ret;

	if (status_dec(c->status, "VmLck", 0) <= 0)
		return 0;
	ret = slurp(c->pid, "smaps", &smaps, NULL);
	if (ret)
		return 0; /* best effort: the flags are advisory for the restorer */
	for (line = smaps; line && *line; line = next) {
		unsigned long long s, e;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (sscanf(line, "%llx-%llx ", &s, &e) == 2 && strchr(line, ' ')) {
			while (vi < p->nr_vmas && p->vmas[vi].rec.start < s)
				vi++;
			continue;
		}
		if (strncmp(line, "VmFlags:", 8) || vi >= p->nr_vmas)
			continue;
		if (strstr(line, " lo"))
			p->vmas[vi].rec.flags |= CLD_VMA_LOCKED;
		if (strstr(line, " dd"))
			p->vmas[vi].rec.flags |= CLD_VMA_DONTDUMP;
	}
	free(smaps);
	return 0;
}

static int collect_pages(struct collect *c)
{
	struct cld_proc *p = c->p;
	char path[64];
	uint32_t i;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	c->pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->pm_fd < 0)
		return cld_err_set(c->err, -errno, "opening %s: %s", path, strerror(errno));
	c->use_scan = (c->flags & CLD_PTRACE_NO_PAGEMAP_SCAN) ? -1 : 0;
	for (i = 0; i < p->nr_vmas; i++) {
		struct cld_vma *v = &p->vmas[i];
		enum dump_policy pol = vma_policy(v->rec.flags);
		struct ext_vec ev = { 0 };

		if (pol == DUMP_NONE)
			continue;
		if (pol == DUMP_ALL) {
			ret = ext_add(&ev, 0, (v->rec.end - v->rec.start) / PAGE);
		} else if (c->use_scan >= 0) {
			ret = scan_vma_ioctl(c->pm_fd, v, pol, &ev);
			if (ret == -ENOTTY || ret == -EINVAL) {
				/* kernel before 6.7: fall back for good */
				c->use_scan = -1;
				ev.n = 0;
				ret = scan_vma_pagemap(c->pm_fd, v, &ev);
			} else if (!ret) {
				c->use_scan = 1;
			}
		} else {
			ret = scan_vma_pagemap(c->pm_fd, v, &ev);
		}
		if (ret) {
			free(ev.e);
			return cld_err_set(c->err, ret, "scanning pages of %#llx-%#llx: %s",
					   (unsigned long long)v->rec.start,
					   (unsigned long long)v->rec.end, strerror(-ret));
		}
		v->ext = ev.e;
		v->nr_ext = ev.n;
	}
	return 0;
}

static int fill_fd_kind(struct cld_fd *f, const char *link, const struct stat *st)
{
	unsigned int maj = major(st->st_rdev), min = minor(st->st_rdev);
	const char *name = link;

	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		f->rec.kind = CLD_FD_REG;
		break;
	case S_IFDIR:
		f->rec.kind = CLD_FD_DIR;
		break;
	case S_IFIFO:
		f->rec.kind = strncmp(link, "pipe:", 5) ? CLD_FD_FIFO : CLD_FD_PIPE;
		break;
	case S_IFCHR:
		/* 4: virtual consoles and serial; 136-143: pts; 5:0 /dev/tty,
		 * 5:1 console */
		if (maj == 4 || (maj >= 136 && maj <= 143) || (maj == 5 && min <= 1))
			f->rec.kind = CLD_FD_TTY;
		else
			f->rec.kind = CLD_FD_CHR;
		break;
	case S_IFSOCK:
		f->rec.kind = CLD_FD_UNSUPPORTED;
		break;
	default:
		/* anon_inode:[eventfd], [eventpoll], [timerfd], block devices... */
		f->rec.kind = CLD_FD_UNSUPPORTED;
		break;
	}
	f->name = strdup(name);
	return f->name ? 0 : -ENOMEM;
}

static int cmp_fd(const void *a, const void *b)
{
	const struct cld_fd *x = a, *y = b;

	return (x->rec.fd > y->rec.fd) - (x->rec.fd < y->rec.fd);
}

static int collect_one_fd(struct collect *c, struct cld_fd *f, int fd)
{
	char path[96], link[PATH_MAX + 1], *info = NULL, *v;
	struct stat st;
	ssize_t n;
	int ret;

	f->rec.fd = fd;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	if (stat(path, &st) < 0) {
		/* Unreachable target (e.g. another mount namespace): record
		 * what the link says. */
		memset(&st, 0, sizeof(st));
	}
	f->rec.dev = encode_dev(st.st_dev);
	f->rec.ino = st.st_ino;
	f->rec.rdev = encode_dev(st.st_rdev);
	f->rec.size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	f->rec.mtime_ns = S_ISREG(st.st_mode) ? ts_ns(&st.st_mtim) : 0;
	f->rec.mode = st.st_mode;
	ret = fill_fd_kind(f, link, &st);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "fdinfo/%d", fd);
	ret = slurp(c->pid, path, &info, NULL);
	if (ret)
		return ret;
	v = strstr(info, "pos:");
	if (v)
		f->rec.pos = strtoull(v + 4, NULL, 10);
	v = strstr(info, "flags:");
	if (v) {
		unsigned long fl = strtoul(v + 6, NULL, 8);

		f->rec.fd_flags = (fl & O_CLOEXEC) ? FD_CLOEXEC : 0;
		f->rec.fl_flags = (uint32_t)(fl & ~(unsigned long)O_CLOEXEC);
	}
	free(info);
	return 0;
}

static int collect_fds(struct collect *c)
{
	struct cld_proc *p = c->p;
	char path[64];
	struct dirent *de;
	uint32_t cap = 0;
	DIR *d;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", c->pid);
	d = opendir(path);
	if (!d)
		return cld_err_set(c->err, -errno, "opening %s: %s", path, strerror(errno));
	while ((de = readdir(d))) {
		struct cld_fd *f;
		char *end;
		long fd;

		if (de->d_name[0] == '.')
			continue;
		fd = strtol(de->d_name, &end, 10);
		if (*end || fd < 0)
			continue;
		if (p->nr_fds == cap) {
			uint32_t ncap = cap ? cap * 2 : 16;
			struct cld_fd *nf = realloc(p->fds, ncap * sizeof(*nf));

			if (!nf) {
				ret = cld_err_set(c->err, -ENOMEM, "out of memory");
				break;
			}
			p->fds = nf;
			cap = ncap;
		}
		f = &p->fds[p->nr_fds];
		memset(f, 0, sizeof(*f));
		ret = collect_one_fd(c, f, (int)fd);
		if (ret == -ENOENT) {
			/* cannot happen while frozen, unless a holder of the file
			 * table outside the process closed it: skip */
			free(f->name);
			ret = 0;
			continue;
		}
		if (ret) {
			free(f->name);
			ret = cld_err_set(c->err, ret, "fd %ld of %d: %s", fd, c->pid,
					  strerror(-ret));
			break;
		}
		p->nr_fds++;
		if (p->nr_fds > CLD_MAX_FDS) {
			ret = cld_err_set(c->err, -E2BIG, "more than %u open fds", CLD_MAX_FDS);
			break;
		}
	}
	closedir(d);
	if (!ret && p->nr_fds)
		qsort(p->fds, p->nr_fds, sizeof(*p->fds), cmp_fd);
	return ret;
}

/*
 * Unread data of pipes whose both ends the process holds: the restorer
 * recreates such a pipe and must refill it.  tee() copies the bytes into a
 * pipe of ours without consuming them, so the frozen process loses nothing.
 */
static int collect_pipe_data(struct collect *c)
{
	struct cld_proc *p = c->p;
	uint32_t i, j;
	int ret = 0;

	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd *r = &p->fds[i];
		struct cld_pipedata *pd;
		int has_writer = 0, seen = 0, src = -1, pp[2] = { -1, -1 };
		char path[96];
		ssize_t n;
		int sz;

		if (r->rec.kind != CLD_FD_PIPE || (r->rec.fl_flags & O_ACCMODE) != O_RDONLY)
			continue;
		for (j = 0; j < p->nr_fds; j++) {
			const struct cld_fd *w = &p->fds[j];

			if (w->rec.kind == CLD_FD_PIPE && w->rec.ino == r->rec.ino) {
				if ((w->rec.fl_flags & O_ACCMODE) == O_WRONLY)
					has_writer = 1;
				if (j < i && (w->rec.fl_flags & O_ACCMODE) == O_RDONLY)
					seen = 1; /* data already taken via a lower fd */
			}
		}
		if (!has_writer || seen)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, r->rec.fd);
		src = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (src < 0) {
			ret = cld_err_set(c->err, -errno, "opening pipe fd %d of %d: %s", r->rec.fd,
					  c->pid, strerror(errno));
			goto next;
		}
		if (pipe2(pp, O_CLOEXEC | O_NONBLOCK) < 0) {
			ret = cld_err_set(c->err, -errno, "pipe: %s", strerror(errno));
			goto next;
		}
		sz = fcntl(src, F_GETPIPE_SZ);
		if (sz > 0 && (unsigned int)sz > CLD_MAX_PIPE_DATA)
			sz = CLD_MAX_PIPE_DATA;
		if (sz > 0 && fcntl(pp[1], F_SETPIPE_SZ, sz) < 0) {
			ret = cld_err_set(c->err, -errno,
					  "cannot size a pipe to %d bytes to copy pipe %llu: %s",
					  sz, (unsigned long long)r->rec.ino, strerror(errno));
			goto next;
		}
		n = tee(src, pp[1], CLD_MAX_PIPE_DATA, SPLICE_F_NONBLOCK);
		if (n < 0 && errno != EAGAIN) {
			ret = cld_err_set(c->err, -errno, "tee from pipe %llu: %s",
					  (unsigned long long)r->rec.ino, strerror(errno));
			goto next;
		}
		if (n <= 0)
			goto next;
		pd = realloc(p->pipes, (p->nr_pipes + 1) * sizeof(*pd));
		if (!pd) {
			ret = cld_err_set(c->err, -ENOMEM, "out of memory");
			goto next;
		}
		p->pipes = pd;
		pd = &p->pipes[p->nr_pipes];
		memset(pd, 0, sizeof(*pd));
		pd->ino = r->rec.ino;
		pd->data = malloc((size_t)n);
		if (!pd->data) {
			ret = cld_err_set(c->err, -ENOMEM, "out of memory");
			goto next;
		}
		pd->len = (uint32_t)read(pp[0], pd->data, (size_t)n);
		if ((ssize_t)pd->len != n) {
			free(pd->data);
			ret = cld_err_set(c->err, -EIO, "short read of copied pipe data");
			goto next;
		}
		p->nr_pipes++;
next:
		if (src >= 0)
			close(src);
		if (pp[0] >= 0) {
			close(pp[0]);
			close(pp[1]);
		}
		if (ret)
			return ret;
	}
	return 0;
}

static int collect_creds(struct collect *c)
{
	struct cld_creds_rec *cr = &c->p->creds;
	const char *v;
	unsigned int u[4] = { 0 };
	uint32_t n = 0, *groups = NULL;

	v = status_field(c->status, "Uid");
	if (!v || sscanf(v, "%u %u %u %u", &u[0], &u[1], &u[2], &u[3]) != 4)
		return cld_err_set(c->err, -EPROTO, "no Uid line in /proc/%d/status", c->pid);
	cr->uid = u[0], cr->euid = u[1], cr->suid = u[2], cr->fsuid = u[3];
	v = status_field(c->status, "Gid");
	if (!v || sscanf(v, "%u %u %u %u", &u[0], &u[1], &u[2], &u[3]) != 4)
		return cld_err_set(c->err, -EPROTO, "no Gid line in /proc/%d/status", c->pid);
	cr->gid = u[0], cr->egid = u[1], cr->sgid = u[2], cr->fsgid = u[3];
	cr->cap_inh = status_hex(c->status, "CapInh");
	cr->cap_prm = status_hex(c->status, "CapPrm");
	cr->cap_eff = status_hex(c->status, "CapEff");
	cr->cap_bnd = status_hex(c->status, "CapBnd");
	cr->cap_amb = status_hex(c->status, "CapAmb");
	v = status_field(c->status, "Groups");
	while (v && *v && *v != '\n') {
		char *end;
		unsigned long g;
		uint32_t *ng;

		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == '\n' || !*v)
			break;
		g = strtoul(v, &end, 10);
		if (end == v)
			break;
		v = end;
		if (n >= CLD_MAX_GROUPS)
			break;
		ng = realloc(groups, (n + 1) * sizeof(*ng));
		if (!ng) {
			free(groups);
			return cld_err_set(c->err, -ENOMEM, "out of memory");
		}
		groups = ng;
		groups[n++] = (uint32_t)g;
	}
	c->p->groups = groups;
	cr->nr_groups = n;
	return 0;
}

static int peek_siginfo(pid_t pid, int shared, struct cld_siginfo **out, uint32_t *nr)
{
	struct cld_siginfo *q = NULL;
	uint32_t n = 0;

	for (;;) {
		struct cld_peeksiginfo a = { n, shared ? PTRACE_PEEKSIGINFO_SHARED : 0, 16 };
		struct cld_siginfo *nq;
		long r;

		if (n >= CLD_MAX_SIGQ)
			break;
		nq = realloc(q, (n + 16) * sizeof(*q));
		if (!nq) {
			free(q);
			return -ENOMEM;
		}
		q = nq;
		r = ptrace(PTRACE_PEEKSIGINFO, pid, &a, q + n);
		if (r < 0) {
			int e = errno;

			free(q);
			return -e;
		}
		n += (uint32_t)r;
		if (r < 16)
			break;
	}
	if (n > CLD_MAX_SIGQ)
		n = CLD_MAX_SIGQ;
	if (!n) {
		free(q);
		q = NULL;
	}
	*out = q;
	*nr = n;
	return 0;
}

static int collect_thread(struct collect *c, struct user_regs_struct *live)
{
	struct cld_proc *p = c->p;
	struct cld_thread *t;
	struct cld_rseq_conf rs = { 0 };
	struct iovec iov;
	uint64_t robust_head = 0;
	size_t robust_len = 0;
	long hz = sysconf(_SC_CLK_TCK);
	uint8_t *xs;
	int ret;

	p->threads = calloc(1, sizeof(*p->threads));
	if (!p->threads)
		return cld_err_set(c->err, -ENOMEM, "out of memory");
	p->nr_threads = 1;
	t = &p->threads[0];

	if (ptrace(PTRACE_GETREGS, c->pid, NULL, live) < 0)
		return cld_err_set(c->err, -errno, "PTRACE_GETREGS: %s", strerror(errno));
	cld_restart_normalize((struct cld_regs *)live, &t->prstatus.pr_reg, &t->rec);
	if (ptrace(PTRACE_SETREGS, c->pid, NULL, live) < 0)
		return cld_err_set(c->err, -errno, "PTRACE_SETREGS: %s", strerror(errno));

	iov.iov_base = t->fpregs;
	iov.iov_len = sizeof(t->fpregs);
	if (ptrace(PTRACE_GETREGSET, c->pid, (void *)NT_PRFPREG, &iov) < 0)
		return cld_err_set(c->err, -errno, "PTRACE_GETREGSET NT_PRFPREG: %s",
				   strerror(errno));
	xs = malloc(CLD_MAX_XSTATE);
	if (!xs)
		return cld_err_set(c->err, -ENOMEM, "out of memory");
	iov.iov_base = xs;
	iov.iov_len = CLD_MAX_XSTATE;
	if (ptrace(PTRACE_GETREGSET, c->pid, (void *)NT_X86_XSTATE, &iov) < 0) {
		/* no XSAVE on this CPU: the fxsave area says it all */
		free(xs);
	} else {
		t->xstate = xs;
		t->xstate_len = (uint32_t)iov.iov_len;
	}

	t->rec.tid = c->pid;
	if (ptrace(PTRACE_GETSIGMASK, c->pid, (void *)sizeof(uint64_t), &t->rec.blocked) < 0)
		return cld_err_set(c->err, -errno, "PTRACE_GETSIGMASK: %s", strerror(errno));
	t->rec.pending = status_hex(c->status, "SigPnd");
	ret = peek_siginfo(c->pid, 0, &t->queue, &t->rec.nr_queue);
	if (!ret)
		ret = peek_siginfo(c->pid, 1, &p->shared_queue, &p->sig.nr_shared_queue);
	if (ret)
		return cld_err_set(c->err, ret, "PTRACE_PEEKSIGINFO: %s", strerror(-ret));
	p->sig.shared_pending = status_hex(c->status, "ShdPnd");

	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, c->pid, (void *)sizeof(rs), &rs) > 0) {
		t->rec.rseq_addr = rs.rseq_abi_pointer;
		t->rec.rseq_len = rs.rseq_abi_size;
		t->rec.rseq_sig = rs.signature;
	}
	if (!syscall(SYS_get_robust_list, c->pid, &robust_head, &robust_len)) {
		t->rec.robust_list = robust_head;
		t->rec.robust_len = robust_len;
	}

	t->prstatus.pr_pid = c->pid;
	t->prstatus.pr_ppid = (int32_t)c->sf.f[4];
	t->prstatus.pr_pgrp = (int32_t)c->sf.f[5];
	t->prstatus.pr_sid = (int32_t)c->sf.f[6];
	/* As docs/image-format.md defines them (and the kernel module writes
	 * them): the thread's own pending set, CPU times zero (they are
	 * accounting, not state, and would differ between backends). */
	t->prstatus.pr_sigpend = t->rec.pending;
	t->prstatus.pr_sighold = t->rec.blocked;
	(void)hz;
	t->prstatus.pr_fpvalid = 1;
	return 0;
}

/* What only the task can tell: inject the calls, then put everything back. */
static int collect_injected(struct collect *c)
{
	struct cld_proc *p = c->p;
	struct cld_thread *t = &p->threads[0];
	struct cld_remote r;
	struct cld_err ierr = { 0 };
	uint64_t scratch;
	long ret;
	int rc, sig, i;
	struct {
		uint64_t ss_sp;
		int32_t ss_flags;
		int32_t pad;
		uint64_t ss_size;
	} ss;
	struct itimerval itv;
	uint64_t u64;
	int32_t i32;

	rc = cld_remote_open(&r, c->pid, 0, c->err);
	if (rc)
		return rc;
	rc = cld_remote_scratch(&r, PAGE, &scratch, c->err);
	if (rc)
		goto close;

#define INJECT(nr, a1, a2, a3, a4)                                                          \
	do {                                                                                \
		rc = cld_remote_syscall(&r, &ret, (nr), (long)(a1), (long)(a2), (long)(a3), \
					(long)(a4), 0, 0, c->err);                          \
		if (rc)                                                                     \
			goto close;                                                         \
	} while (0)

	INJECT(SYS_brk, 0, 0, 0, 0);
	p->mm.brk = (uint64_t)ret;
	for (sig = 1; sig <= 64; sig++) {
		INJECT(SYS_rt_sigaction, sig, 0, scratch, 8);
		if (ret < 0)
			continue; /* 32/33 on some libcs' kernels: nothing to keep */
		rc = cld_remote_read(c->pid, scratch, &p->sig.action[sig - 1],
				     sizeof(p->sig.action[0]));
		if (rc)
			goto read_fail;
	}
	INJECT(SYS_sigaltstack, 0, scratch, 0, 0);
	if (ret == 0) {
		rc = cld_remote_read(c->pid, scratch, &ss, sizeof(ss));
		if (rc)
			goto read_fail;
		t->rec.sas_sp = ss.ss_sp;
		t->rec.sas_size = ss.ss_size;
		t->rec.sas_flags = ss.ss_flags;
	}
	for (i = 0; i < 3; i++) {
		INJECT(SYS_getitimer, i, scratch, 0, 0);
		if (ret)
			continue;
		rc = cld_remote_read(c->pid, scratch, &itv, sizeof(itv));
		if (rc)
			goto read_fail;
		p->proc.itimer[i].interval_sec = itv.it_interval.tv_sec;
		p->proc.itimer[i].interval_usec = itv.it_interval.tv_usec;
		p->proc.itimer[i].value_sec = itv.it_value.tv_sec;
		p->proc.itimer[i].value_usec = itv.it_value.tv_usec;
	}
	INJECT(SYS_prctl, PR_GET_TID_ADDRESS, scratch, 0, 0);
	if (ret == 0) {
		rc = cld_remote_read(c->pid, scratch, &u64, sizeof(u64));
		if (rc)
			goto read_fail;
		t->rec.tid_address = u64;
	}
	INJECT(SYS_prctl, PR_GET_PDEATHSIG, scratch, 0, 0);
	if (ret == 0) {
		rc = cld_remote_read(c->pid, scratch, &i32, sizeof(i32));
		if (rc)
			goto read_fail;
		p->proc.pdeath_signal = i32;
	}
	INJECT(SYS_prctl, PR_GET_CHILD_SUBREAPER, scratch, 0, 0);
	if (ret == 0) {
		rc = cld_remote_read(c->pid, scratch, &i32, sizeof(i32));
		if (rc)
			goto read_fail;
		if (i32)
			p->proc.flags |= CLD_PROC_SUBREAPER;
	}
	INJECT(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0);
	if (ret > 0)
		p->proc.flags |= CLD_PROC_DUMPABLE;
	INJECT(SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0);
	if (ret >= 0)
		p->creds.securebits = (uint32_t)ret;
#undef INJECT
	rc = cld_remote_close(&r, 0, c->err);
	if (rc)
		return cld_err_prefix(c->err, "ending injected calls in %d", c->pid);
	return 0;
read_fail:
	cld_err_set(c->err, rc, "reading an injected call's result from %d: %s", c->pid,
		    strerror(-rc));
close:
	/* Put registers and mask back whatever happened; keep the first error. */
	cld_remote_close(&r, 0, &ierr);
	return rc;
}

/* /proc/PID/limits: rows in RLIMIT_* order, "unlimited" or a number. */
static int read_proc_limits(struct collect *c)
{
	char *buf, *line, *next;
	int i = 0, ret;

	ret = slurp(c->pid, "limits", &buf, NULL);
	if (ret)
		return ret;
	line = strchr(buf, '\n'); /* header */
	for (line = line ? line + 1 : NULL; line && *line && i < 16; line = next, i++) {
		char soft[32], hard[32];

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* the name column is 26 characters wide */
		if (strlen(line) < 26 || sscanf(line + 26, "%31s %31s", soft, hard) != 2) {
			free(buf);
			return -EPROTO;
		}
		c->p->proc.rlim[i].cur =
			strcmp(soft, "unlimited") ? strtoull(soft, NULL, 10) : RLIM_INFINITY;
		c->p->proc.rlim[i].max =
			strcmp(hard, "unlimited") ? strtoull(hard, NULL, 10) : RLIM_INFINITY;
	}
	free(buf);
	return i == 16 ? 0 : -EPROTO;
}

static int collect_misc(struct collect *c)
{
	struct cld_proc *p = c->p;
	struct cld_proc_rec *pr = &p->proc;
	struct utsname un;
	struct timespec now;
	struct stat st;
	char *buf = NULL;
	size_t len, i;
	int ret;

	pr->pid = pr->tgid = c->pid;
	pr->ppid = (int32_t)c->sf.f[4];
	pr->pgid = (int32_t)c->sf.f[5];
	pr->sid = (int32_t)c->sf.f[6];
	pr->nice = (int32_t)c->sf.f[19];
	pr->start_time = (uint64_t)c->sf.f[22];
	pr->exit_signal = (int32_t)c->sf.f[38];
	pr->umask = (uint32_t)strtoul(status_field(c->status, "Umask") ?: "0022", NULL, 8);
	if (status_dec(c->status, "NoNewPrivs", 0))
		pr->flags |= CLD_PROC_NO_NEW_PRIVS;
	if (status_dec(c->status, "Seccomp", 0) == 2)
		pr->flags |= CLD_PROC_SECCOMP;
	memcpy(pr->comm, c->sf.comm, sizeof(pr->comm));
	if (!slurp(c->pid, "personality", &buf, NULL)) {
		pr->personality = (uint32_t)strtoul(buf, NULL, 16);
		free(buf);
	}
	if (!slurp(c->pid, "timers", &buf, NULL)) {
		char *q;

		for (q = buf; (q = strstr(q, "ID:")); q += 3)
			pr->nr_posix_timers++;
		free(buf);
	}
	for (i = 0; i < 16; i++) {
		struct rlimit rl;

		if (prlimit(c->pid, (int)i, NULL, &rl) < 0) {
			/* prlimit wants matching uids or CAP_SYS_RESOURCE even to
			 * read; /proc/PID/limits is world-readable. */
			ret = errno == EPERM ? read_proc_limits(c) : -errno;
			if (ret)
				return cld_err_set(c->err, ret, "rlimits of %d: %s", c->pid,
						   strerror(-ret));
			break;
		}
		pr->rlim[i].cur = rl.rlim_cur;
		pr->rlim[i].max = rl.rlim_max;
	}
	ret = read_link(c->pid, "cwd", &p->cwd);
	if (!ret)
		ret = read_link(c->pid, "root", &p->root);
	if (ret)
		return cld_err_set(c->err, ret, "reading cwd/root of %d: %s", c->pid,
				   strerror(-ret));
	if (read_link(c->pid, "exe", &p->exe) == 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/exe", c->pid);
		if (!stat(path, &st)) {
			p->mm.exe_dev = encode_dev(st.st_dev);
			p->mm.exe_ino = st.st_ino;
			p->mm.exe_size = (uint64_t)st.st_size;
			p->mm.exe_mtime_ns = ts_ns(&st.st_mtim);
		}
	}

	/* mm fields; /proc shows them only to who may ptrace, which we can */
	p->mm.start_code = (uint64_t)c->sf.f[26];
	p->mm.end_code = (uint64_t)c->sf.f[27];
	p->mm.start_stack = (uint64_t)c->sf.f[28];
	p->mm.start_data = (uint64_t)c->sf.f[45];
	p->mm.end_data = (uint64_t)c->sf.f[46];
	p->mm.start_brk = (uint64_t)c->sf.f[47];
	p->mm.arg_start = (uint64_t)c->sf.f[48];
	p->mm.arg_end = (uint64_t)c->sf.f[49];
	p->mm.env_start = (uint64_t)c->sf.f[50];
	p->mm.env_end = (uint64_t)c->sf.f[51];

	ret = slurp(c->pid, "auxv", &buf, &len);
	if (ret)
		return cld_err_set(c->err, ret, "reading /proc/%d/auxv: %s", c->pid,
				   strerror(-ret));
	len -= len % 16;
	if (len > CLD_MAX_AUXV)
		len = CLD_MAX_AUXV;
	p->auxv = (uint8_t *)buf;
	p->mm.auxv_len = len;

	/* psinfo: the state is the frozen state, 'T', whatever the task did
	 * before (a snapshot of R vs S would only be a race). */
	p->psinfo.pr_state = 3;
	p->psinfo.pr_sname = 'T';
	p->psinfo.pr_nice = (int8_t)c->sf.f[19];
	p->psinfo.pr_flag = 0; /* task flags are kernel-internal: defined 0 */
	p->psinfo.pr_uid = p->creds.uid;
	p->psinfo.pr_gid = p->creds.gid;
	p->psinfo.pr_pid = c->pid;
	p->psinfo.pr_ppid = pr->ppid;
	p->psinfo.pr_pgrp = pr->pgid;
	p->psinfo.pr_sid = pr->sid;
	memcpy(p->psinfo.pr_fname, pr->comm, sizeof(p->psinfo.pr_fname));
	if (!slurp(c->pid, "cmdline", &buf, &len)) {
		if (len > sizeof(p->psinfo.pr_psargs) - 1)
			len = sizeof(p->psinfo.pr_psargs) - 1;
		/* As the kernel builds it: NULs become spaces, the last
		 * argument's NUL included. */
		for (i = 0; i < len; i++)
			p->psinfo.pr_psargs[i] = buf[i] ? buf[i] : ' ';
		free(buf);
	}

	p->hdr.flags = CLD_IMG_LIVE;
	clock_gettime(CLOCK_REALTIME, &now);
	p->hdr.created_ns = (uint64_t)ts_ns(&now);
	snprintf(p->hdr.backend, sizeof(p->hdr.backend), "ptrace");
	snprintf(p->hdr.producer, sizeof(p->hdr.producer), "clondike %s", CLD_VERSION);
	if (!uname(&un)) {
		snprintf(p->hdr.node, sizeof(p->hdr.node), "%.63s", un.nodename);
		snprintf(p->hdr.kernel, sizeof(p->hdr.kernel), "%.64s", un.release);
	}
	return 0;
}

static int collect_vdso_digest(struct collect *c)
{
	struct cld_proc *p = c->p;
	uint64_t len = p->mm.vdso_end - p->mm.vdso_start;
	void *buf;
	int ret;

	if (!p->mm.vdso_start || !len || len > (1u << 20))
		return 0;
	buf = malloc(len);
	if (!buf)
		return cld_err_set(c->err, -ENOMEM, "out of memory");
	ret = cld_remote_read(c->pid, p->mm.vdso_start, buf, len);
	if (!ret)
		p->hdr.vdso_digest = XXH3_64bits(buf, len);
	free(buf);
	if (ret)
		return cld_err_set(c->err, ret, "reading the vDSO of %d: %s", c->pid,
				   strerror(-ret));
	return 0;
}

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

static int ptr_detach(struct ptr_frozen *pf, enum cld_thaw_how how, struct cld_err *err)
{
	int ret = 0, st;

	if (!pf->attached)
		return 0;
	pf->attached = 0;
	if (how == CLD_THAW_KILL) {
		if (kill(pf->pid, SIGKILL) < 0)
			return cld_err_set(err, -errno, "kill %d: %s", pf->pid, strerror(errno));
		/* Consume the exit report we get as tracer, so the real parent
		 * is notified right away. */
		while (waitpid(pf->pid, &st, __WALL) >= 0 || errno == EINTR)
			if (errno != EINTR && (WIFEXITED(st) || WIFSIGNALED(st)))
				break;
		return 0;
	}
	if (ptrace(PTRACE_DETACH, pf->pid, NULL, NULL) == 0)
		return 0;
	if (errno != ESRCH)
		return cld_err_set(err, -errno, "PTRACE_DETACH of %d: %s", pf->pid, strerror(errno));
	/*
	 * Killed while frozen (SIGKILL needs no thaw): as its tracer we get
	 * its exit report first, and until we consume it the real parent's
	 * wait() blocks on a zombie.  It is dead or dying: reap the report.
	 */
	for (int i = 0; i < 200; i++) {
		pid_t r = waitpid(pf->pid, &st, __WALL | WNOHANG);

		if (r < 0 || (r == pf->pid && (WIFEXITED(st) || WIFSIGNALED(st))))
			break;
		usleep(5000);
	}
	return ret;
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

	ret = collect_pages(&c);
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
	struct cld_remote r;
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
		rc = cld_remote_syscall(&r, &ret, SYS_madvise, (long)v->start,
					(long)(v->end - v->start), MADV_DONTNEED, 0, 0, 0, err);
		if (rc)
			break;
		if (!ret)
			*bytes += v->end - v->start;
	}
	if (cld_remote_close(&r, 0, rc ? &ierr : err) && !rc)
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

static int precheck(pid_t pid, struct stat_fields *sf, char **status, struct cld_err *err)
{
	long long threads, tracer;
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
	if ((unsigned long long)sf->f[9] & PF_KTHREAD)
		return cld_err_set(
			err, -EINVAL,
			"process %d (%s) is a kernel thread: it has no user state to freeze", pid,
			sf->comm);
	ret = slurp(pid, "status", status, NULL);
	if (ret)
		return cld_err_set(err, ret == -ENOENT ? -ESRCH : ret,
				   "reading /proc/%d/status: %s", pid, strerror(-ret));
	threads = status_dec(*status, "Threads", 1);
	if (threads > 1)
		return cld_err_set(
			err, -EOPNOTSUPP,
			"process %d (%s) has %lld threads: only single-threaded processes can be frozen yet",
			pid, sf->comm, threads);
	tracer = status_dec(*status, "TracerPid", 0);
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
 * Seize and stop; a signal that arrives first is delivered first.
 * -ETIMEDOUT when the task did not stop in time: it then stays seized
 * (running, with our interrupt pending) until it stops and *stuck is set;
 * the calling thread must release it (cld_freeze_ptrace says how).
 */
static int seize(pid_t pid, const char *comm, unsigned int timeout_ms, bool *stuck,
		 struct cld_err *err)
{
	uint64_t deadline = mono_ms() + timeout_ms;
	pid_t r;
	int st;

	*stuck = false;
	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)PTRACE_O_TRACESYSGOOD) < 0) {
		int e = errno;

		if (e == EPERM)
			return cld_err_set(
				err, -EPERM,
				"permission denied: cannot ptrace process %d (%s); you may freeze or checkpoint only processes you could debug (same user, not setuid, and as the ptrace policy allows)",
				pid, comm);
		if (e == ESRCH)
			return cld_err_set(err, -ESRCH, "no process with pid %d", pid);
		return cld_err_set(err, -e, "PTRACE_SEIZE of %d: %s", pid, strerror(e));
	}
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0) {
		int e = errno;

		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return cld_err_set(err, -e, "PTRACE_INTERRUPT of %d: %s", pid, strerror(e));
	}
	for (;;) {
		r = wait_deadline(pid, &st, deadline);
		if (r == 0) {
			*stuck = true;
			return cld_err_set(
				err, -ETIMEDOUT,
				"process %d (%s) did not stop within %u ms (blocked in the kernel: in vfork, uninterruptible I/O, or a request to this very daemon); not frozen",
				pid, comm, timeout_ms);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return cld_err_set(err, -errno, "waitpid %d: %s", pid, strerror(errno));
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return cld_err_set(err, -ESRCH, "process %d exited while being frozen",
					   pid);
		if (!WIFSTOPPED(st))
			continue;
		if ((st >> 16) == PTRACE_EVENT_STOP)
			return 0; /* our interrupt, or a group stop reported to us */
		/*
		 * Signal-delivery stop: the signal was sent before the freeze,
		 * so let it take effect now (the pending interrupt stops the
		 * task right after).  Swallowing it would change the program.
		 */
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(st)) < 0 &&
		    errno != ESRCH)
			return cld_err_set(err, -errno, "PTRACE_CONT of %d: %s", pid,
					   strerror(errno));
	}
}

int cld_freeze_ptrace(pid_t pid, unsigned int flags, unsigned int timeout_ms,
		      struct cld_frozen **out, struct cld_err *err)
{
	bool stuck = false;
	struct user_regs_struct live;
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

	ret = seize(pid, c.sf.comm, timeout_ms ? timeout_ms : CLD_FREEZE_TIMEOUT_MS, &stuck, err);
	if (stuck) {
		/* Not stopped, so not detachable: leave it to the thread's
		 * exit (or its next stop) rather than wait here. */
		cld_freeze_ptrace_abandon(pid);
		goto fail_nodetach;
	}
	if (ret)
		goto fail;
	pf->attached = 1;

	/* Re-read what may have changed between the check and the stop. */
	free(c.status);
	c.status = NULL;
	ret = slurp(pid, "status", &c.status, NULL);
	if (!ret)
		ret = read_stat(pid, &c.sf);
	if (ret) {
		ret = cld_err_set(err, ret, "reading /proc/%d: %s", pid, strerror(-ret));
		goto fail;
	}
	if (status_dec(c.status, "Threads", 1) > 1) {
		ret = cld_err_set(
			err, -EOPNOTSUPP,
			"process %d (%s) started a thread while being frozen: only single-threaded processes can be frozen yet",
			pid, c.sf.comm);
		goto fail;
	}

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	pf->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pf->mem_fd < 0) {
		ret = cld_err_set(err, -errno, "opening %s: %s", path, strerror(errno));
		goto fail;
	}

	ret = collect_thread(&c, &live);
	if (!ret)
		ret = collect_creds(&c);
	if (!ret)
		ret = collect_injected(&c);
	if (!ret)
		ret = collect_misc(&c);
	if (!ret)
		ret = collect_vmas(&c);
	if (!ret)
		ret = collect_vmflags(&c);
	if (!ret)
		ret = collect_fds(&c);
	if (!ret)
		ret = collect_pipe_data(&c);
	if (!ret)
		ret = collect_vdso_digest(&c);
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
	free(pf);
	free(fz);
out:
	if (c.pm_fd >= 0)
		close(c.pm_fd);
	free(c.status);
	return ret;
}
