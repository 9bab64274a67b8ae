// SPDX-License-Identifier: MIT
/*
 * Collecting a stopped task's state: its mappings, credentials, its one
 * thread (registers, signals, rseq), what only the task can tell through
 * injected calls, and the rest of /proc (ids, limits, cwd, exe, mm
 * fields, auxv, psinfo).  The pages are left to freeze_ptrace_scan.c.
 */
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <xxhash.h>

#include "clondike/inject.h"
#include "freeze_ptrace_priv.h"

/* Arguments of PTRACE_GET_RSEQ_CONFIGURATION and PTRACE_PEEKSIGINFO. */
struct cld_rseq_conf {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size, signature, flags, pad;
};

struct cld_peeksiginfo {
	uint64_t off;
	uint32_t flags;
	int32_t nr;
};

/* ---- Mappings ------------------------------------------------------------------ */

int ptr_collect_vmas(struct collect *c)
{
	struct cld_proc *p = c->p;
	struct cld_maps_line *l;
	char *maps = NULL, *line, *next;
	uint32_t cap = 0;
	struct stat last = { 0 };
	char last_path[PATH_MAX] = "";
	int ret;

	ret = cld_procfs_slurp(c->pid, "maps", &maps, NULL);
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
		v->rec.dev = ptr_encode_dev(last.st_dev);
		v->rec.ino = last.st_ino;
		v->rec.fsize = (uint64_t)last.st_size;
		v->rec.mtime_ns = ptr_ts_ns(&last.st_mtim);
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
int ptr_collect_vmflags(struct collect *c)
{
	struct cld_proc *p = c->p;
	char *smaps, *line, *next;
	uint32_t vi = 0;
	int ret;

	/* smaps walks the page tables (~11 ms a GiB resident): the only
	 * place that says which mappings have madvise state.  Read when the
	 * image is laid out (ptr_prepare), not at the freeze. */
	ret = cld_procfs_slurp(c->pid, "smaps", &smaps, NULL);
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
		if (strstr(line, " dc"))
			p->vmas[vi].rec.flags |= CLD_VMA_DONTFORK;
		if (strstr(line, " wf"))
			p->vmas[vi].rec.flags |= CLD_VMA_WIPEONFORK;
		if (strstr(line, " hg"))
			p->vmas[vi].rec.flags |= CLD_VMA_HUGEPAGE;
		if (strstr(line, " nh"))
			p->vmas[vi].rec.flags |= CLD_VMA_NOHUGEPAGE;
	}
	free(smaps);
	return 0;
}

/* ---- Credentials and the thread ------------------------------------------------ */

int ptr_collect_creds(struct collect *c)
{
	struct cld_creds_rec *cr = &c->p->creds;
	const char *v;
	unsigned int u[4] = { 0 };
	uint32_t n = 0, *groups = NULL;

	v = cld_status_field(c->status, "Uid");
	if (!v || sscanf(v, "%u %u %u %u", &u[0], &u[1], &u[2], &u[3]) != 4)
		return cld_err_set(c->err, -EPROTO, "no Uid line in /proc/%d/status", c->pid);
	cr->uid = u[0], cr->euid = u[1], cr->suid = u[2], cr->fsuid = u[3];
	v = cld_status_field(c->status, "Gid");
	if (!v || sscanf(v, "%u %u %u %u", &u[0], &u[1], &u[2], &u[3]) != 4)
		return cld_err_set(c->err, -EPROTO, "no Gid line in /proc/%d/status", c->pid);
	cr->gid = u[0], cr->egid = u[1], cr->sgid = u[2], cr->fsgid = u[3];
	cr->cap_inh = cld_status_hex(c->status, "CapInh");
	cr->cap_prm = cld_status_hex(c->status, "CapPrm");
	cr->cap_eff = cld_status_hex(c->status, "CapEff");
	cr->cap_bnd = cld_status_hex(c->status, "CapBnd");
	cr->cap_amb = cld_status_hex(c->status, "CapAmb");
	v = cld_status_field(c->status, "Groups");
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

/* Threads must share the leader's credentials: a restart gives all of
 * them the process's. */
static int thread_status(struct collect *c, pid_t tid, char **status)
{
	static const char *const keys[] = { "Uid", "Gid", "Groups", "CapEff", "CapPrm" };
	char name[48];
	unsigned int k;
	int ret;

	snprintf(name, sizeof(name), "task/%d/status", tid);
	ret = cld_procfs_slurp(c->pid, name, status, NULL);
	if (ret)
		return cld_err_set(c->err, ret, "reading /proc/%d/%s: %s", c->pid, name,
				   strerror(-ret));
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const char *a = cld_status_field(c->status, keys[k]);
		const char *b = cld_status_field(*status, keys[k]);

		if (!a || !b || strcspn(a, "\n") != strcspn(b, "\n") ||
		    strncmp(a, b, strcspn(a, "\n")))
			return cld_err_set(
				c->err, -EOPNOTSUPP,
				"process %d (%s): thread %d has other credentials (%s) than the process; threads with differing credentials cannot be checkpointed",
				c->pid, c->sf.comm, tid, keys[k]);
	}
	return 0;
}

/* One thread's registers, FPU state, name, signals, rseq and robust list. */
static int collect_one(struct collect *c, pid_t tid, struct cld_thread *t, const char *status)
{
	struct user_regs_struct live;
	struct cld_rseq_conf rs = { 0 };
	struct iovec iov;
	uint64_t robust_head = 0;
	size_t robust_len = 0, name_len = 0;
	char comm[48], *name = NULL;
	uint8_t *xs;
	int ret;

	if (ptrace(PTRACE_GETREGS, tid, NULL, &live) < 0)
		return cld_err_set(c->err, -errno, "PTRACE_GETREGS of %d: %s", tid,
				   strerror(errno));
	cld_restart_normalize((struct cld_regs *)&live, &t->prstatus.pr_reg, &t->rec);
	if (ptrace(PTRACE_SETREGS, tid, NULL, &live) < 0)
		return cld_err_set(c->err, -errno, "PTRACE_SETREGS of %d: %s", tid,
				   strerror(errno));

	iov.iov_base = t->fpregs;
	iov.iov_len = sizeof(t->fpregs);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRFPREG, &iov) < 0)
		return cld_err_set(c->err, -errno, "PTRACE_GETREGSET NT_PRFPREG of %d: %s", tid,
				   strerror(errno));
	xs = malloc(CLD_MAX_XSTATE);
	if (!xs)
		return cld_err_set(c->err, -ENOMEM, "out of memory");
	iov.iov_base = xs;
	iov.iov_len = CLD_MAX_XSTATE;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0) {
		/* no XSAVE on this CPU: the fxsave area says it all */
		free(xs);
	} else {
		t->xstate = xs;
		t->xstate_len = (uint32_t)iov.iov_len;
	}

	t->rec.tid = tid;
	/* comm as the kernel prints it, "\n" ended; NUL padded by calloc like
	 * the module's strscpy_pad, so both backends write the same bytes. */
	snprintf(comm, sizeof(comm), "task/%d/comm", tid);
	ret = cld_procfs_slurp(c->pid, comm, &name, &name_len);
	if (ret)
		return cld_err_set(c->err, ret, "reading /proc/%d/%s: %s", c->pid, comm,
				   strerror(-ret));
	if (name_len && name[name_len - 1] == '\n')
		name_len--;
	memcpy(t->rec.name, name,
	       name_len < sizeof(t->rec.name) - 1 ? name_len : sizeof(t->rec.name) - 1);
	free(name);
	if (ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(uint64_t), &t->rec.blocked) < 0)
		return cld_err_set(c->err, -errno, "PTRACE_GETSIGMASK of %d: %s", tid,
				   strerror(errno));
	t->rec.pending = cld_status_hex(status, "SigPnd");
	ret = peek_siginfo(tid, 0, &t->queue, &t->rec.nr_queue);
	if (ret)
		return cld_err_set(c->err, ret, "PTRACE_PEEKSIGINFO of %d: %s", tid,
				   strerror(-ret));

	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, (void *)sizeof(rs), &rs) > 0) {
		t->rec.rseq_addr = rs.rseq_abi_pointer;
		t->rec.rseq_len = rs.rseq_abi_size;
		t->rec.rseq_sig = rs.signature;
	}
	if (!syscall(SYS_get_robust_list, tid, &robust_head, &robust_len)) {
		t->rec.robust_list = robust_head;
		t->rec.robust_len = robust_len;
	}

	t->prstatus.pr_pid = tid;
	t->prstatus.pr_ppid = (int32_t)c->sf.f[4];
	t->prstatus.pr_pgrp = (int32_t)c->sf.f[5];
	t->prstatus.pr_sid = (int32_t)c->sf.f[6];
	/* As docs/image-format.md defines them (and the kernel module writes
	 * them): the thread's own pending set, CPU times zero (they are
	 * accounting, not state, and would differ between backends). */
	t->prstatus.pr_sigpend = t->rec.pending;
	t->prstatus.pr_sighold = t->rec.blocked;
	t->prstatus.pr_fpvalid = 1;
	return 0;
}

int ptr_collect_threads(struct collect *c)
{
	struct cld_proc *p = c->p;
	unsigned int i;
	int ret;

	p->threads = calloc(c->nr_tids, sizeof(*p->threads));
	if (!p->threads)
		return cld_err_set(c->err, -ENOMEM, "out of memory");
	p->nr_threads = c->nr_tids;
	for (i = 0; i < c->nr_tids; i++) {
		char *status = NULL;

		if (i) {
			ret = thread_status(c, c->tids[i], &status);
			if (!ret)
				ret = collect_one(c, c->tids[i], &p->threads[i], status);
			free(status);
		} else {
			ret = collect_one(c, c->pid, &p->threads[0], c->status);
		}
		if (ret)
			return ret;
	}
	ret = peek_siginfo(c->pid, 1, &p->shared_queue, &p->sig.nr_shared_queue);
	if (ret)
		return cld_err_set(c->err, ret, "PTRACE_PEEKSIGINFO: %s", strerror(-ret));
	p->sig.shared_pending = cld_status_hex(c->status, "ShdPnd");
	return 0;
}

/*
 * What only a thread can tell of itself: its alternate signal stack and
 * clear_child_tid.  scratch is a page of the process (threads share it).
 */
static int injected_thread(struct collect *c, struct cld_remote *r, uint64_t scratch,
			   struct cld_thread *t)
{
	pid_t tid = cld_remote_pid(r);
	struct {
		uint64_t ss_sp;
		int32_t ss_flags;
		int32_t pad;
		uint64_t ss_size;
	} ss;
	uint64_t u64;
	long ret;
	int rc;

	rc = cld_remote_syscall(r, &ret, SYS_sigaltstack, 0, (long)scratch, 0, 0, 0, 0, c->err);
	if (rc)
		return rc;
	if (ret == 0) {
		rc = cld_remote_read(tid, scratch, &ss, sizeof(ss));
		if (rc)
			goto read_fail;
		t->rec.sas_sp = ss.ss_sp;
		t->rec.sas_size = ss.ss_size;
		t->rec.sas_flags = ss.ss_flags;
	}
	rc = cld_remote_syscall(r, &ret, SYS_prctl, PR_GET_TID_ADDRESS, (long)scratch, 0, 0, 0,
				0, c->err);
	if (rc)
		return rc;
	if (ret == 0) {
		rc = cld_remote_read(tid, scratch, &u64, sizeof(u64));
		if (rc)
			goto read_fail;
		t->rec.tid_address = u64;
	}
	return 0;
read_fail:
	return cld_err_set(c->err, rc, "reading an injected call's result from %d: %s", tid,
			   strerror(-rc));
}

/* The other threads', through the leader's syscall site and scratch page. */
static int injected_threads(struct collect *c, uint64_t site, uint64_t scratch)
{
	struct cld_err ierr = { 0 };
	unsigned int i;
	int rc;

	for (i = 1; i < c->nr_tids; i++) {
		struct cld_remote *r;

		rc = cld_remote_open(&r, c->tids[i], site, c->err);
		if (rc)
			return rc;
		rc = injected_thread(c, r, scratch, &c->p->threads[i]);
		if (cld_remote_close(r, 0, rc ? &ierr : c->err) && !rc)
			return cld_err_prefix(c->err, "ending injected calls in thread %d",
					      c->tids[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* What only the task can tell: inject the calls, then put everything back. */
int ptr_collect_injected(struct collect *c)
{
	struct cld_proc *p = c->p;
	struct cld_remote *r;
	struct cld_err ierr = { 0 };
	uint64_t scratch;
	long ret;
	int rc, sig, i;
	struct itimerval itv;
	int32_t i32;

	rc = cld_remote_open(&r, c->pid, 0, c->err);
	if (rc)
		return rc;
	rc = cld_remote_scratch(r, PAGE, &scratch, c->err);
	if (rc)
		goto close;
	rc = injected_thread(c, r, scratch, &p->threads[0]);
	if (!rc)
		rc = injected_threads(c, cld_remote_site(r), scratch);
	if (rc)
		goto close;

#define INJECT(nr, a1, a2, a3, a4)                                                         \
	do {                                                                               \
		rc = cld_remote_syscall(r, &ret, (nr), (long)(a1), (long)(a2), (long)(a3), \
					(long)(a4), 0, 0, c->err);                         \
		if (rc)                                                                    \
			goto close;                                                        \
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
	rc = ptr_collect_timers(c, r, scratch);
	if (rc)
		goto close;
	/* 6.3; before it EINVAL, and the registrations are not known. */
	INJECT(SYS_membarrier, CLD_MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0, 0);
	if (ret >= 0) {
		p->proc.membarrier = (uint32_t)ret;
		p->proc.flags2 |= CLD_PROC2_MEMBARRIER;
	}
	INJECT(SYS_prctl, PR_GET_THP_DISABLE, 0, 0, 0);
	if (ret > 0)
		p->proc.flags |= CLD_PROC_THP_DISABLE;
	INJECT(SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0);
	if (ret >= 0)
		p->creds.securebits = (uint32_t)ret;
#undef INJECT
	rc = cld_remote_close(r, 0, c->err);
	if (rc)
		return cld_err_prefix(c->err, "ending injected calls in %d", c->pid);
	return 0;
read_fail:
	cld_err_set(c->err, rc, "reading an injected call's result from %d: %s", c->pid,
		    strerror(-rc));
close:
	/* Put registers and mask back whatever happened; keep the first error. */
	cld_remote_close(r, 0, &ierr);
	return rc;
}

/* ---- The rest of /proc ----------------------------------------------------------- */

int ptr_collect_misc(struct collect *c)
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
	pr->tty_nr = (uint32_t)c->sf.f[7];
	pr->nice = (int32_t)c->sf.f[19];
	pr->start_time = (uint64_t)c->sf.f[22];
	pr->exit_signal = (int32_t)c->sf.f[38];
	pr->umask = (uint32_t)strtoul(cld_status_field(c->status, "Umask") ?: "0022", NULL, 8);
	if (cld_status_dec(c->status, "NoNewPrivs", 0))
		pr->flags |= CLD_PROC_NO_NEW_PRIVS;
	if (cld_status_dec(c->status, "Seccomp", 0) == 2)
		pr->flags |= CLD_PROC_SECCOMP;
	memcpy(pr->comm, c->sf.comm, sizeof(pr->comm));
	/* Frozen, it forks no more: the count is the one its wait() sees. */
	if (cld_procfs_children(c->pid) > 0)
		pr->flags |= CLD_PROC_CHILDREN;
	if (!cld_procfs_slurp(c->pid, "oom_score_adj", &buf, NULL)) {
		pr->oom_score_adj = (int32_t)strtol(buf, NULL, 10);
		free(buf);
	}
	if (!cld_procfs_slurp(c->pid, "loginuid", &buf, NULL)) {
		pr->loginuid = (uint32_t)strtoul(buf, NULL, 10);
		pr->flags2 |= CLD_PROC2_LOGINUID;
		free(buf);
	}
	if (!cld_procfs_slurp(c->pid, "personality", &buf, NULL)) {
		pr->personality = (uint32_t)strtoul(buf, NULL, 16);
		free(buf);
	}
	for (i = 0; i < 16; i++) {
		struct rlimit rl;

		if (prlimit(c->pid, (int)i, NULL, &rl) < 0) {
			/* prlimit wants matching uids or CAP_SYS_RESOURCE even to
			 * read; /proc/PID/limits is world-readable. */
			ret = errno == EPERM ? cld_procfs_limits(c->pid, &c->p->proc) : -errno;
			if (ret)
				return cld_err_set(c->err, ret, "rlimits of %d: %s", c->pid,
						   strerror(-ret));
			break;
		}
		pr->rlim[i].cur = rl.rlim_cur;
		pr->rlim[i].max = rl.rlim_max;
	}
	ret = cld_procfs_link(c->pid, "cwd", &p->cwd);
	if (!ret)
		ret = cld_procfs_link(c->pid, "root", &p->root);
	if (ret)
		return cld_err_set(c->err, ret, "reading cwd/root of %d: %s", c->pid,
				   strerror(-ret));
	if (cld_procfs_link(c->pid, "exe", &p->exe) == 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/exe", c->pid);
		if (!stat(path, &st)) {
			p->mm.exe_dev = ptr_encode_dev(st.st_dev);
			p->mm.exe_ino = st.st_ino;
			p->mm.exe_size = (uint64_t)st.st_size;
			p->mm.exe_mtime_ns = ptr_ts_ns(&st.st_mtim);
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

	ret = cld_procfs_slurp(c->pid, "auxv", &buf, &len);
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
	if (!cld_procfs_slurp(c->pid, "cmdline", &buf, &len)) {
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
	p->hdr.created_ns = (uint64_t)ptr_ts_ns(&now);
	snprintf(p->hdr.backend, sizeof(p->hdr.backend), "ptrace");
	snprintf(p->hdr.producer, sizeof(p->hdr.producer), "clondike %s", CLD_VERSION);
	if (!uname(&un)) {
		snprintf(p->hdr.node, sizeof(p->hdr.node), "%.63s", un.nodename);
		snprintf(p->hdr.kernel, sizeof(p->hdr.kernel), "%.64s", un.release);
	}
	return 0;
}

int ptr_collect_vdso_digest(struct collect *c)
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
