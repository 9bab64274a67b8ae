/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * The image codec shared by the kernel module and userspace: the process
 * description (struct cld_proc), the segment rule and layout, the note
 * encoder, the virtual image's fixed part (ELF header, program headers,
 * notes, digest note header, runs of dumped pages) and the freezer rules
 * both backends apply (which pages are dumped, how a task stopped in a
 * system call is recorded).  The sources are in common/codec/; they build
 * in clondike.ko (kmod/cld_codec.c) and in libclondike_common against
 * common/codec/codec_env.h, so a format change is made once.
 *
 * Only <linux/types.h>/<stdint.h> types: this header is read by both.
 */
#ifndef CLONDIKE_CODEC_H
#define CLONDIKE_CODEC_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stddef.h>
#include <stdint.h>
#endif

#include "clondike/format.h"

struct cld_err; /* userspace: err.h; the kernel passes NULL */

/* ---- The process description ------------------------------------------- */

/* A run of dumped pages within a VMA, in pages relative to vma start. */
struct cld_extent {
	uint64_t first;
	uint64_t count;
};

struct cld_vma {
	struct cld_vma_rec rec; /* name_off/name_len/nr_dumped set by codec */
	char *name; /* path, "[heap]"..., or NULL */
	struct cld_extent *ext; /* sorted, disjoint, non-adjacent */
	uint32_t nr_ext;
};

struct cld_thread {
	struct cld_prstatus prstatus; /* pr_reg, pids, masks */
	uint8_t fpregs[512]; /* NT_FPREGSET: fxsave layout */
	uint8_t *xstate; /* NT_X86_XSTATE, may be NULL */
	uint32_t xstate_len;
	struct cld_thread_rec rec;
	struct cld_siginfo *queue; /* rec.nr_queue entries */
};

struct cld_fd {
	struct cld_fd_rec rec; /* name_off/name_len set by codec */
	char *name;
};

struct cld_inotify {
	struct cld_inotify_rec rec; /* name_off/name_len set by codec */
	char *path;
};

struct cld_pipedata {
	uint64_t ino;
	uint32_t len;
	uint32_t kind; /* CLD_PIPEDATA_* */
	uint8_t *data;
};

struct cld_proc {
	struct cld_hdr hdr; /* counts are filled by the codec */
	struct cld_proc_rec proc; /* *_len are filled by the codec */
	char *cwd, *root, *exe;
	struct cld_mm_rec mm;
	struct cld_creds_rec creds;
	uint32_t *groups; /* creds.nr_groups */
	struct cld_prpsinfo psinfo;
	uint8_t *auxv; /* mm.auxv_len bytes */
	struct cld_signals_rec sig;
	struct cld_siginfo *shared_queue; /* sig.nr_shared_queue */
	struct cld_thread *threads;
	uint32_t nr_threads;
	struct cld_vma *vmas; /* sorted by address, disjoint */
	uint32_t nr_vmas;
	struct cld_fd *fds; /* sorted by fd */
	uint32_t nr_fds;
	struct cld_pipedata *pipes;
	uint32_t nr_pipes;
	struct cld_epoll_rec *epolls; /* by epfd, then as fdinfo lists them */
	uint32_t nr_epolls;
	struct cld_timer_rec *timers; /* by id; proc.nr_posix_timers of them */
	uint32_t nr_timers;
	struct cld_range_rec *guards; /* sorted */
	uint32_t nr_guards;
	struct cld_inotify *watches; /* by fd, then wd */
	uint32_t nr_watches;
};

/*
 * Free what p points to (not p itself, nor zero it); thread_bufs: also
 * the threads' xstate and queues (the kernel borrows those).
 */
void cld_proc_drop(struct cld_proc *p, int thread_bufs);

/* Number of pages with data, summed over all VMAs' extents. */
uint64_t cld_proc_nr_dumped(const struct cld_proc *p);
/* strlen() that takes NULL as "". */
size_t cld_str_len(const char *s);

/* ---- Layout (codec_layout.c, with the functions above) ---------------- */

/* One PT_LOAD segment. */
struct cld_seg {
	uint64_t vaddr, memsz;
	uint64_t offset; /* file offset of vaddr's byte (valid if filesz) */
	uint64_t filesz; /* 0 or memsz */
	uint32_t vma; /* index of the VMA it belongs to */
	uint32_t pflags; /* PF_R | PF_W | PF_X */
	uint64_t first_dumped; /* index of its first dumped page, image-wide */
};

struct cld_layout {
	struct cld_seg *segs;
	uint32_t nr_segs;
	uint32_t phnum; /* nr_segs + 2 */
	uint64_t phoff; /* 64 */
	uint64_t shoff; /* 0, or the PN_XNUM section header */
	uint64_t notes_off, notes_size; /* first PT_NOTE */
	uint64_t data_off; /* page aligned start of segment data */
	uint64_t tail_off, tail_size; /* DIGESTS PT_NOTE */
	uint64_t size; /* logical size of the image */
	uint64_t nr_dumped;
	uint64_t data_bytes; /* bytes that are not holes */
};

/* Number of PT_LOAD segments the description makes. */
uint64_t cld_count_segments(const struct cld_proc *p);
/* Size of the digest note at the end, for nr_dumped pages. */
uint64_t cld_tail_size(uint64_t nr_dumped);

/*
 * Compute the segment table from the VMAs and their extents (the rule of
 * docs/image-format.md "Segments").  notes_size is the encoded size of the
 * first note segment.
 */
int cld_layout_compute(const struct cld_proc *p, uint64_t notes_size,
		       struct cld_layout *lo, struct cld_err *err);
void cld_layout_release(struct cld_layout *lo);
/* The segment holding addr, or NULL (codec_vimg.c, with the lookups). */
const struct cld_seg *cld_layout_seg_at(const struct cld_layout *lo,
					uint64_t addr);

/* ---- Notes (codec_notes.c) --------------------------------------------- */

/* A growing buffer; err latches the first failure (-ENOMEM, -E2BIG). */
struct cld_nbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

/*
 * Encode the first PT_NOTE segment of p's image into b (fills p->hdr's
 * counts and the name offsets of the records).  Returns 0 or b->err;
 * b->p is the codec's allocation (free with cld_nbuf_release).
 */
int cld_notes_build(struct cld_proc *p, struct cld_nbuf *b);
void cld_nbuf_release(struct cld_nbuf *b);

/* ---- The virtual image's fixed part (codec_vimg.c) --------------------- */

/* A run of dumped pages with its place in the image. */
struct cld_vrun {
	uint64_t vaddr; /* of the first page */
	uint64_t count; /* pages */
	uint64_t off; /* file offset of the first page */
	uint64_t idx; /* image-wide index of the first dumped page */
};

struct cld_vimg {
	struct cld_layout lo;
	uint8_t *head; /* ELF header, phdrs, [shdr], first note segment */
	size_t head_len;
	struct cld_vrun *runs; /* sorted by vaddr and by off */
	size_t nr_runs;
	uint8_t tail_hdr[40]; /* note header + cld_digests_hdr */
	uint64_t *digest; /* nr_dumped digests */
	uint64_t *digest_ok; /* bitmap of computed digests */
};

/*
 * Build everything but the page data and digests from p: the notes, the
 * layout, the headers, the runs, the digest note header, an empty digest
 * cache.  O(VMAs + extents + threads).  On failure v is released.
 */
int cld_vimg_build(struct cld_vimg *v, struct cld_proc *p,
		   struct cld_err *err);
void cld_vimg_release(struct cld_vimg *v);

/* First run whose data ends after file offset off (nr_runs: none). */
size_t cld_vimg_run_after(const struct cld_vimg *v, uint64_t off);
/* The run holding dumped page idx (nr_runs: none). */
size_t cld_vimg_run_of_idx(const struct cld_vimg *v, uint64_t idx);

static inline int cld_vimg_digest_known(const struct cld_vimg *v, uint64_t i)
{
	return (v->digest_ok[i / 64] >> (i % 64)) & 1;
}

static inline void cld_vimg_digest_store(struct cld_vimg *v, uint64_t i,
					 uint64_t d)
{
	v->digest[i] = d;
	v->digest_ok[i / 64] |= 1ull << (i % 64);
}

/*
 * Bytes [rel, rel + len) of the digest note (rel from its start) into out;
 * fill(ctx, first, n) is asked first to compute digests [first, first+n)
 * not yet known.  Returns 0 or fill's error.
 */
int cld_vimg_tail(struct cld_vimg *v, uint8_t *out, size_t len, uint64_t rel,
		  int (*fill)(void *ctx, uint64_t first, uint64_t n),
		  void *ctx);

/* SEEK_DATA / SEEK_HOLE of lseek(2) on the image; -ENXIO past the end. */
int64_t cld_vimg_seek(const struct cld_vimg *v, int64_t off, int whence);

/* ---- Freezer rules both backends apply (codec_rules.c) ----------------- */

/* Which pages of a mapping the image holds (docs/freezer.md). */
enum cld_dump_policy {
	CLD_DUMP_NONE,
	CLD_DUMP_ALL, /* every page (the vDSO, see docs/decisions.md) */
	CLD_DUMP_ANY, /* present (or swapped), file pages too: shared anon, deleted */
	CLD_DUMP_ANON, /* present (or swapped) anonymous pages (private mappings) */
};

enum cld_dump_policy cld_dump_policy(uint32_t vma_flags);

/* The PIPEDATA kind recorded for fd i of p, or -1 (codec_rules.c). */
int cld_pipedata_kind(const struct cld_proc *p, uint32_t i);

/*
 * A task stopped at a system call's exit, as its registers show it (rax
 * the result, orig_rax the number), recorded in restarted form
 * (docs/freezer.md): *image gets the registers the image holds, rec the
 * syscall fields, and *live what the live task must get to reissue the
 * call itself (the ptrace backend sets them; the kernel's own signal code
 * does that for the module, which discards *live).
 */
void cld_restart_normalize(struct cld_regs *live, struct cld_regs *image,
			   struct cld_thread_rec *rec);

/* ---- fdinfo (codec_fdinfo.c) ---------------------------------------- */

/*
 * The kind of an anonymous-inode file, by its readlink text: one a restart
 * re-creates (1.2), else CLD_FD_UNSUPPORTED.
 */
uint32_t cld_anon_kind(const char *link);

/*
 * The state[] of an fd of a kind a restart re-creates (EVENTFD, TIMERFD,
 * SIGNALFD, PIDFD), from its fdinfo text (/proc/PID/fdinfo/N, or what the
 * file's show_fdinfo prints); a kind whose state the text does not give
 * in full becomes CLD_FD_UNSUPPORTED.  realtime_ns: CLOCK_REALTIME now.
 */
void cld_fdinfo_state(struct cld_fd_rec *r, const char *info, uint64_t realtime_ns);

/*
 * The registrations listed in the fdinfo text of the epoll fd
 * p->fds[idx], appended to p->epolls (after the fd table is complete: a
 * watched fd must be in it).  An epoll fd watching a file no longer at
 * its registered fd becomes CLD_FD_UNSUPPORTED.  0 or -ENOMEM.
 */
int cld_fdinfo_epoll(struct cld_proc *p, uint32_t idx, const char *info);

#endif /* CLONDIKE_CODEC_H */
