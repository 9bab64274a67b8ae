// SPDX-License-Identifier: MIT
/*
 * Restore phase 4: system calls injected into the seized child.  rseq
 * off, everything unmapped but the vDSO/vvar, which move to the image's
 * place, each VMA mapped, memory filled (the fill hook; the eager filler
 * is here), protections, PR_SET_MM_MAP, the threads (restore_threads.c),
 * itimers, creds; then registers, FPU state and signal mask are set and
 * the child is let go.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <elf.h>
#include <linux/prctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>

#include "clondike/codec.h"
#include "clondike/compat.h"
#include "restore_priv.h"

#define PAGE 4096ull
#define TASK_SIZE_4L 0x7ffffffff000ull
#define SCRATCH_MIN (64u << 10)
#define FILL_CHUNK (1ull << 30) /* bytes per injected pread */
/* Margin kept between a temporary mapping and the image's VMAs, so a
 * growsdown stack keeps its guard gap. */
#define GAP_MARGIN (1ull << 20)
/* x86_64 AT_VECTOR_SIZE * 8: the most PR_SET_MM_MAP takes as auxv. */
#define MAX_SAVED_AUXV 416u

struct ptrace_rseq_conf {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

static int rcall(struct cld_rst *rs, long *ret, const char *what, long nr, long a1, long a2,
		 long a3, long a4, long a5, long a6, struct cld_err *err)
{
	long r;
	int rc = cld_remote_syscall(rs->r, &r, nr, a1, a2, a3, a4, a5, a6, err);

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

		if (!rst_is_vdso_block(v))
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
	site_off = cld_remote_site(rs->r) - ls;

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
		cld_remote_set_site(rs->r, ls + site_off);
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
	cld_remote_syscall(rs->r, &ret, SYS_madvise, (long)hs, (long)(he - hs), MADV_COLLAPSE,
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
				const struct cld_seg *s = cld_layout_seg_at(lo, addr);
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

/* The madvise state a mapping had (format 1.2 for all but DONTDUMP). */
static const struct {
	uint32_t flag;
	int advice;
	const char *what;
} advice[] = {
	{ CLD_VMA_DONTDUMP, MADV_DONTDUMP, "madvise(MADV_DONTDUMP)" },
	{ CLD_VMA_DONTFORK, MADV_DONTFORK, "madvise(MADV_DONTFORK)" },
	{ CLD_VMA_WIPEONFORK, MADV_WIPEONFORK, "madvise(MADV_WIPEONFORK)" },
	{ CLD_VMA_HUGEPAGE, MADV_HUGEPAGE, "madvise(MADV_HUGEPAGE)" },
	{ CLD_VMA_NOHUGEPAGE, MADV_NOHUGEPAGE, "madvise(MADV_NOHUGEPAGE)" },
};

static int finish_vmas(struct cld_rst *rs, struct cld_err *err)
{
	const struct cld_proc *p = rs->p;
	uint32_t i;
	size_t k;
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
		for (k = 0; k < sizeof(advice) / sizeof(advice[0]) && !ret; k++)
			if (v->rec.flags & advice[k].flag)
				ret = rcall(rs, NULL, advice[k].what, SYS_madvise, st, len,
					    advice[k].advice, 0, 0, 0, err);
		if (!ret && (v->rec.flags & CLD_VMA_LOCKED))
			ret = rcall(rs, NULL, "mlock", SYS_mlock, st, len, 0, 0, 0, 0, err);
	}
	for (i = 0; i < p->nr_guards && !ret; i++)
		ret = rcall(rs, NULL, "madvise(MADV_GUARD_INSTALL)", SYS_madvise,
			    (long)p->guards[i].start, (long)(p->guards[i].end - p->guards[i].start),
			    CLD_MADV_GUARD_INSTALL, 0, 0, 0, err);
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
	ret = cld_remote_syscall(rs->r, &r, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP,
				 (long)rs->scratch, sizeof(mm), 0, 0, err);
	if (ret)
		return ret;
	if (r == -EPERM && mm.exe_fd != (uint32_t)-1) {
		/* No right to change /proc/PID/exe: restore the rest. */
		mm.exe_fd = (uint32_t)-1;
		if (cld_remote_write(rs->pid, rs->scratch, &mm, sizeof(mm)))
			return cld_err_set(err, -EIO, "writing PR_SET_MM_MAP arguments");
		ret = cld_remote_syscall(rs->r, &r, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP,
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
	struct itimerval itv[3];
	int ret, i;

	ret = rst_thread_state(rs, rs->r, &p->threads[0], err);
	if (!ret)
		ret = rst_leader_tid_word(rs, err);
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

		ret = cld_remote_syscall(rs->r, &r, SYS_prctl, PR_SET_PTRACER, 0, 0, 0, 0, 0, err);
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

int rst_rebuild(struct cld_rst *rs, struct cld_err *err)
{
	struct ptrace_rseq_conf rc;
	cld_rst_fill_fn fill = rs->o->fill ? rs->o->fill : cld_rst_fill_eager;
	uint64_t t;
	int ret;

	ret = cld_remote_open(&rs->r, rs->pid, 0, err);
	if (ret)
		return ret;
	/* The child inherited our rseq area: unregister it before its page
	 * goes, or the kernel would write the cpu id into the new memory. */
	memset(&rc, 0, sizeof(rc));
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, rs->pid, (void *)sizeof(rc), &rc) > 0 &&
	    rc.rseq_abi_pointer) {
		ret = rcall(rs, NULL, "rseq unregistration", SYS_rseq, (long)rc.rseq_abi_pointer,
			    (long)rc.rseq_abi_size, 1 /* RSEQ_FLAG_UNREGISTER */,
			    (long)rc.signature, 0, 0, err);
		if (ret)
			goto fail;
	}
	t = rst_now_ns();
	ret = rebuild_special(rs, err);
	if (!ret)
		ret = map_scratch(rs, err);
	if (!ret)
		ret = map_vmas(rs, err);
	if (!ret)
		ret = fault("map", err);
	rs->res->map_ns = rst_now_ns() - t;
	if (ret)
		goto fail;
	t = rst_now_ns();
	ret = fill(rs, rs->o->fill_arg, err);
	if (!ret)
		ret = fault("fill", err);
	rs->res->fill_ns = rst_now_ns() - t;
	if (ret)
		goto fail;
	ret = finish_vmas(rs, err);
	if (!ret)
		ret = set_mm(rs, err);
	if (!ret)
		ret = set_thread_state(rs, err);
	if (!ret)
		ret = set_creds(rs, err);
	if (!ret)
		ret = rst_threads_create(rs, err);
	if (!ret)
		ret = rst_timers_create(rs, err);
	if (!ret)
		ret = rcall(rs, NULL, "munmap of the scratch area", SYS_munmap, (long)rs->scratch,
			    (long)rs->scratch_len, 0, 0, 0, 0, err);
	rs->scratch = 0;
	/* The restorer's own fds sit above every image fd. */
	if (!ret)
		ret = rcall(rs, NULL, "close_range", SYS_close_range, rs->svc_base, ~0u, 0, 0, 0,
			    0, err);
	/* Last of the calls: a change of uid cleared it, and once cleared a
	 * non-root restorer could not write into the child any more. */
	if (!ret)
		ret = rcall(rs, NULL, "prctl(PR_SET_DUMPABLE)", SYS_prctl, PR_SET_DUMPABLE,
			    (rs->p->proc.flags & CLD_PROC_DUMPABLE) ? 1 : 0, 0, 0, 0, 0, err);
	if (ret)
		goto fail;
	rs->res->nr_syscalls = cld_remote_nr_calls(rs->r);
	ret = cld_remote_close(rs->r, 1, err);
	rs->r = NULL;
	if (!ret)
		ret = rst_thread_cpu(rs->pid, &rs->p->threads[0], err);
	if (!ret)
		ret = rst_threads_cpu(rs, err);
	if (!ret)
		ret = fault("regs", err);
	if (!ret && rs->o->hold)
		ret = rs->o->hold(rs->o->hold_arg, rs->pid, err);
	if (!ret)
		ret = rst_threads_detach(rs, err);
	if (!ret && ptrace(PTRACE_DETACH, rs->pid, NULL, NULL) < 0)
		ret = cld_err_set(err, -errno, "PTRACE_DETACH: %s", strerror(errno));
	return ret;
fail:
	/* The child is killed: nothing to put back in it. */
	cld_remote_free(rs->r);
	rs->r = NULL;
	return ret;
}
