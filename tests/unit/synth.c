// SPDX-License-Identifier: MIT
#include <elf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"

#define PG 4096ull

void synth_fill(uint64_t addr, void *vbuf, size_t len)
{
	uint8_t *buf = vbuf;
	size_t i;

	/* Byte = a mix of its address, so misplaced pages are caught. */
	for (i = 0; i < len; i++) {
		uint64_t a = addr + i;

		buf[i] = (uint8_t)((a >> 12) * 131 + (a & 0xfff) * 7 + (a >> 24));
	}
}

static int synth_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	synth_fill(addr, buf, len);
	return 0;
}

const struct cld_mem_ops synth_mem_ops = { .read = synth_read };

static char *xstrdup(const char *s)
{
	char *r = strdup(s);

	if (!r)
		abort();
	return r;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p)
		abort();
	return p;
}

static struct cld_vma *add_vma(struct cld_proc *p, uint64_t start, uint64_t pages, uint32_t prot,
			       uint32_t flags, const char *name, uint64_t pgoff)
{
	struct cld_vma *v = &p->vmas[p->nr_vmas++];

	memset(v, 0, sizeof(*v));
	v->rec.start = start;
	v->rec.end = start + pages * PG;
	v->rec.prot = prot;
	v->rec.flags = flags;
	v->rec.pgoff = pgoff;
	if (flags & CLD_VMA_FILE) {
		v->rec.dev = (8ull << 32) | 1;
		v->rec.ino = 1000 + p->nr_vmas;
		v->rec.fsize = 0x5000;
		v->rec.mtime_ns = 1700000000123456789ll;
	}
	v->name = name ? xstrdup(name) : NULL;
	return v;
}

static void add_ext(struct cld_vma *v, uint64_t first, uint64_t count)
{
	struct cld_extent *e = realloc(v->ext, (v->nr_ext + 1) * sizeof(*e));

	if (!e)
		abort();
	v->ext = e;
	v->ext[v->nr_ext].first = first;
	v->ext[v->nr_ext].count = count;
	v->nr_ext++;
}

static void add_fd(struct cld_proc *p, int fd, uint32_t kind, uint32_t fl, uint64_t pos,
		   const char *name)
{
	struct cld_fd *f = &p->fds[p->nr_fds++];

	memset(f, 0, sizeof(*f));
	f->rec.fd = fd;
	f->rec.kind = kind;
	f->rec.fl_flags = fl;
	f->rec.pos = pos;
	f->rec.ino = 5000 + (uint64_t)fd;
	f->rec.mode = kind == CLD_FD_REG ? 0100644 : 020620;
	f->name = name ? xstrdup(name) : NULL;
}

struct cld_proc *synth_proc(unsigned int nr_threads, unsigned int flags)
{
	static const uint64_t auxv[] = { AT_PAGESZ, 4096, AT_SYSINFO_EHDR, 0x7ffd00104000ull,
					 AT_ENTRY, 0x401040, AT_NULL, 0 };
	uint32_t nr_many = (flags & SYNTH_MANY_SEGS) ? 22000 : 0;
	struct cld_proc *p = xcalloc(1, sizeof(*p));
	struct cld_vma *v;
	unsigned int i;

	snprintf(p->hdr.backend, sizeof(p->hdr.backend), "synth");
	snprintf(p->hdr.producer, sizeof(p->hdr.producer), "clondike tests");
	snprintf(p->hdr.node, sizeof(p->hdr.node), "n1");
	snprintf(p->hdr.kernel, sizeof(p->hdr.kernel), "6.18.0-test");
	p->hdr.created_ns = 1764000000000000000ull;
	p->hdr.flags = CLD_IMG_LIVE;
	p->hdr.vdso_digest = 0x1234abcd5678ef00ull;

	p->proc.pid = SYNTH_PID;
	p->proc.ppid = 1;
	p->proc.pgid = SYNTH_PID;
	p->proc.sid = 100;
	p->proc.tgid = SYNTH_PID;
	p->proc.umask = 022;
	p->proc.nice = 5;
	p->proc.start_time = 123456;
	strcpy(p->proc.comm, "synth");
	for (i = 0; i < 16; i++) {
		p->proc.rlim[i].cur = 1000 + i;
		p->proc.rlim[i].max = ~0ull;
	}
	p->proc.itimer[0].interval_usec = 250000;
	p->proc.itimer[0].value_usec = 100000;
	p->proc.flags = CLD_PROC_DUMPABLE;
	p->proc.exit_signal = SIGCHLD;
	p->cwd = xstrdup("/home/user/work");
	p->root = xstrdup("/");
	p->exe = xstrdup("/usr/bin/synth");

	p->mm.start_code = 0x401000;
	p->mm.end_code = 0x403000;
	p->mm.start_data = 0x404000;
	p->mm.end_data = 0x405000;
	p->mm.start_brk = 0x1000000;
	p->mm.brk = 0x1400000;
	p->mm.start_stack = 0x7ffd00020000ull;
	p->mm.arg_start = 0x7ffd00020100ull;
	p->mm.arg_end = 0x7ffd00020110ull;
	p->mm.env_start = 0x7ffd00020110ull;
	p->mm.env_end = 0x7ffd00020200ull;
	p->mm.exe_dev = (8ull << 32) | 1;
	p->mm.exe_ino = 1001;
	p->mm.exe_size = 0x5000;
	p->mm.vdso_start = 0x7ffd00104000ull;
	p->mm.vdso_end = 0x7ffd00106000ull;
	p->mm.vvar_start = 0x7ffd00100000ull;
	p->mm.vvar_end = 0x7ffd00104000ull;
	p->mm.auxv_len = sizeof(auxv);
	p->auxv = xcalloc(1, sizeof(auxv));
	memcpy(p->auxv, auxv, sizeof(auxv));

	p->creds.uid = p->creds.euid = p->creds.suid = p->creds.fsuid = 1000;
	p->creds.gid = p->creds.egid = p->creds.sgid = p->creds.fsgid = 1000;
	p->creds.cap_bnd = 0x1ffffffffffull;
	p->creds.nr_groups = 3;
	p->groups = xcalloc(3, sizeof(uint32_t));
	p->groups[0] = 1000;
	p->groups[1] = 27;
	p->groups[2] = 100;

	p->psinfo.pr_state = 3;
	p->psinfo.pr_sname = 'T';
	p->psinfo.pr_nice = 5;
	p->psinfo.pr_uid = 1000;
	p->psinfo.pr_gid = 1000;
	p->psinfo.pr_pid = SYNTH_PID;
	p->psinfo.pr_ppid = 1;
	p->psinfo.pr_pgrp = SYNTH_PID;
	p->psinfo.pr_sid = 100;
	strcpy(p->psinfo.pr_fname, "synth");
	strcpy(p->psinfo.pr_psargs, "synth --demo");

	p->sig.action[SIGUSR1 - 1].handler = 0x401200;
	p->sig.action[SIGUSR1 - 1].flags = 0x04000004; /* SA_RESTORER | SA_SIGINFO */
	p->sig.action[SIGUSR1 - 1].restorer = 0x401300;
	p->sig.action[SIGUSR1 - 1].mask = 1ull << (SIGUSR2 - 1);
	p->sig.action[SIGPIPE - 1].handler = 1; /* SIG_IGN */
	p->sig.shared_pending = 1ull << (SIGUSR2 - 1);
	p->sig.nr_shared_queue = 1;
	p->shared_queue = xcalloc(1, sizeof(struct cld_siginfo));
	p->shared_queue[0].bytes[0] = SIGUSR2;

	p->nr_threads = nr_threads ? nr_threads : 1;
	p->threads = xcalloc(p->nr_threads, sizeof(*p->threads));
	for (i = 0; i < p->nr_threads; i++) {
		struct cld_thread *t = &p->threads[i];
		struct cld_regs *r = &t->prstatus.pr_reg;
		unsigned int k;

		t->prstatus.pr_pid = SYNTH_PID + (int)i;
		t->prstatus.pr_ppid = 1;
		t->prstatus.pr_pgrp = SYNTH_PID;
		t->prstatus.pr_sid = 100;
		t->prstatus.pr_sighold = 1ull << (SIGUSR2 - 1);
		t->prstatus.pr_fpvalid = 1;
		r->rip = SYNTH_RIP;
		r->rsp = SYNTH_RSP - i * 0x100;
		r->rbp = SYNTH_RSP + 0x40;
		r->rax = 0xdeadbeef + i;
		r->orig_rax = (uint64_t)-1;
		r->cs = 0x33;
		r->ss = 0x2b;
		r->eflags = 0x246;
		r->fs_base = 0x7f1000001000ull + i * 0x1000;
		for (k = 0; k < sizeof(t->fpregs); k++)
			t->fpregs[k] = (uint8_t)(k + i);
		t->fpregs[24] = 0x80; /* mxcsr 0x1f80 */
		t->fpregs[25] = 0x1f;
		t->xstate_len = 832;
		t->xstate = xcalloc(1, 832);
		memcpy(t->xstate, t->fpregs, sizeof(t->fpregs));
		/* gdb takes XCR0 from the fxsave software area (bytes 464..471):
		 * x87 | SSE | AVX, which the 832 bytes cover. */
		memset(t->xstate + 464, 0, 48);
		t->xstate[464] = 7;
		t->xstate[512] = 7; /* XSTATE_BV */
		t->rec.tid = t->prstatus.pr_pid;
		t->rec.syscall_state = CLD_SYSCALL_NONE;
		t->rec.blocked = t->prstatus.pr_sighold;
		t->rec.sas_flags = 2; /* SS_DISABLE */
		t->rec.rseq_addr = 0x7f1000001800ull;
		t->rec.rseq_len = 32;
		t->rec.rseq_sig = 0x53053053;
		t->rec.tid_address = 0x7f1000001090ull;
		t->rec.orig_syscall = -1;
		snprintf(t->rec.name, sizeof(t->rec.name), i ? "worker-%u" : "synth", i % 100);
		if (i == 0) {
			t->rec.nr_queue = 1;
			t->queue = xcalloc(1, sizeof(struct cld_siginfo));
			t->queue[0].bytes[0] = SIGUSR1;
		}
	}

	p->vmas = xcalloc(10 + nr_many, sizeof(*p->vmas));
	add_vma(p, 0x400000, 1, 1, CLD_VMA_FILE, "/usr/bin/synth", 0);
	add_vma(p, 0x401000, 2, 5, CLD_VMA_FILE, "/usr/bin/synth", 0x1000);
	v = add_vma(p, 0x404000, 2, 3, CLD_VMA_FILE, "/usr/bin/synth", 0x3000);
	add_ext(v, 0, 1); /* the COWed .data page */
	v = add_vma(p, 0x1000000, 1024, 3, CLD_VMA_HEAP, "[heap]", 0);
	add_ext(v, 0, 4);
	add_ext(v, 10, 2); /* gap of 6: stays a hole in the same segment */
	add_ext(v, 900, 3); /* gap of 888: a segment of its own */
	for (i = 0; i < nr_many; i++) {
		/* One dumped page in the middle of each: three segments each. */
		v = add_vma(p, 0x100000000ull + (uint64_t)i * 4 * PG, 3, 3, CLD_VMA_FILE,
			    "/var/lib/synth/many", (uint64_t)i * 3 * PG);
		add_ext(v, 1, 1);
	}
	add_vma(p, 0x7f0000000000ull, 262144, 3, 0, NULL, 0); /* 1 GiB untouched */
	add_vma(p, 0x7f1000000000ull, 16, 0, 0, NULL, 0); /* PROT_NONE guard */
	v = add_vma(p, 0x7ffd00000000ull, 0x21, 3, CLD_VMA_STACK | CLD_VMA_GROWSDOWN, "[stack]",
		    0);
	add_ext(v, 0x10, 0x11);
	add_vma(p, 0x7ffd00100000ull, 4, 1, CLD_VMA_VVAR, "[vvar]", 0);
	v = add_vma(p, 0x7ffd00104000ull, 2, 5, CLD_VMA_VDSO, "[vdso]", 0);
	add_ext(v, 0, 2);

	p->fds = xcalloc(6, sizeof(*p->fds));
	add_fd(p, 0, CLD_FD_TTY, 2, 0, "/dev/pts/0");
	add_fd(p, 1, CLD_FD_REG, 02001, 123, "/tmp/out.log");
	add_fd(p, 2, CLD_FD_CHR, 1, 0, "/dev/null");
	add_fd(p, 3, CLD_FD_PIPE, 0, 0, "pipe:[777]");
	add_fd(p, 4, CLD_FD_PIPE, 1, 0, "pipe:[777]");
	add_fd(p, 5, CLD_FD_UNSUPPORTED, 2, 0, "socket:[1234]");
	p->fds[3].rec.ino = p->fds[4].rec.ino = 777;
	p->fds[3].rec.fd_flags = 1;

	if (!(flags & SYNTH_NO_PIPES)) {
		p->nr_pipes = 1;
		p->pipes = xcalloc(1, sizeof(*p->pipes));
		p->pipes[0].ino = 777;
		p->pipes[0].len = 10;
		p->pipes[0].data = xcalloc(1, 10);
		memcpy(p->pipes[0].data, "hello pipe", 10);
	}
	return p;
}

int synth_image_bytes(struct cld_proc *p, uint8_t **buf, size_t *len)
{
	struct cld_image *img;
	struct cld_err err = { 0 };
	ssize_t n;
	int ret;

	ret = cld_image_new(p, &synth_mem_ops, NULL, &img, &err);
	if (ret)
		return ret;
	*len = cld_image_layout(img)->size;
	*buf = malloc(*len);
	if (!*buf) {
		cld_image_free(img);
		return -12;
	}
	n = cld_image_pread(img, *buf, *len, 0);
	cld_image_free(img);
	if (n != (ssize_t)*len) {
		free(*buf);
		return n < 0 ? (int)n : -5;
	}
	return 0;
}
