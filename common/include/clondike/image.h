/* SPDX-License-Identifier: MIT */
/*
 * A process description (struct cld_proc), the image layout derived from
 * it, and the virtual image: any byte range of the image generated on
 * demand from the description plus a memory source.  The freezer backends
 * fill a cld_proc; the reader (image_read.h) produces one from a file.
 */
#ifndef CLONDIKE_IMAGE_H
#define CLONDIKE_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clondike/digest.h"
#include "clondike/err.h"
#include "clondike/format.h"

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

struct cld_pipedata {
	uint64_t ino;
	uint32_t len;
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
};

/* Free everything a cld_proc owns (not the struct). */
void cld_proc_release(struct cld_proc *p);
void cld_proc_free(struct cld_proc *p);

/* Deep copy. */
int cld_proc_dup(const struct cld_proc *src, struct cld_proc **out,
		 struct cld_err *err);

/*
 * Check a description for internal consistency (the same rules the reader
 * applies to a file): sorted disjoint page-aligned VMAs, extents inside
 * their VMAs, counts within limits, fds sorted and unique...
 */
int cld_proc_validate(const struct cld_proc *p, struct cld_err *err);

/* Number of pages with data, summed over all VMAs' extents. */
uint64_t cld_proc_nr_dumped(const struct cld_proc *p);

/* ---- Layout ------------------------------------------------------------ */

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

/*
 * Compute the segment table from the VMAs and their extents (the rule of
 * docs/image-format.md "Segments").  notes_size is the encoded size of the
 * first note segment.
 */
int cld_layout_compute(const struct cld_proc *p, uint64_t notes_size,
		       struct cld_layout *lo, struct cld_err *err);
void cld_layout_release(struct cld_layout *lo);

/*
 * Locate the page containing addr: returns its image-wide dumped index and
 * file offset, 0 if it is dumped, -ENODATA if it lies in the image's
 * address space but has no data (hole or file-backed), -ENOENT otherwise.
 */
int cld_layout_find(const struct cld_layout *lo, const struct cld_proc *p,
		    uint64_t addr, uint64_t *dumped_idx, uint64_t *offset);

/* ---- Notes codec ------------------------------------------------------- */

/* Encode the first PT_NOTE segment; *buf is malloc'ed. */
int cld_notes_encode(struct cld_proc *p, uint8_t **buf, size_t *len,
		     struct cld_err *err);

/* ---- Virtual image ----------------------------------------------------- */

/*
 * Where page data comes from: read len bytes at addr of the frozen process.
 * Calls only cover dumped pages and may span several of them.  Returns 0
 * or a negative errno.
 */
struct cld_mem_ops {
	int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
};

struct cld_image;

/*
 * Build the image of a described process.  The image keeps p (does not
 * copy it; p must outlive the image) and fills p->hdr counts.  Costs
 * O(VMAs + extents + threads): no page is read.
 */
int cld_image_new(struct cld_proc *p, const struct cld_mem_ops *ops,
		  void *ctx, struct cld_image **out, struct cld_err *err);
void cld_image_free(struct cld_image *img);

const struct cld_layout *cld_image_layout(const struct cld_image *img);

/* Bytes [off, off + len) of the image; short only at its end.
 * Returns the count or a negative errno. Not thread safe. */
ssize_t cld_image_pread(struct cld_image *img, void *buf, size_t len,
			uint64_t off);

/* SEEK_DATA / SEEK_HOLE semantics of lseek(2) on the image; -ENXIO
 * past the end. */
int64_t cld_image_seek(const struct cld_image *img, int64_t off, int whence);

/* Write the whole image to fd (sparse: holes are skipped with lseek when
 * fd supports it).  progress(arg, done, total) is called now and then. */
int cld_image_write_fd(struct cld_image *img, int fd,
		       void (*progress)(void *arg, uint64_t done,
					uint64_t total),
		       void *arg, struct cld_err *err);


#endif /* CLONDIKE_IMAGE_H */
