/* SPDX-License-Identifier: MIT */
/*
 * The userspace image API: a process description (struct cld_proc, which
 * codec.h defines with the layout: the codec shared with clondike.ko) and
 * the virtual image, any byte range of the image generated on demand from
 * the description plus a memory source.  The freezer backends fill a
 * cld_proc; the reader (image_read.h) produces one from a file.
 */
#ifndef CLONDIKE_IMAGE_H
#define CLONDIKE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clondike/codec.h"
#include "clondike/digest.h"
#include "clondike/err.h"
#include "clondike/format.h"

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

/* image_files.c (1.3): memfds and deleted files with their content.  The
 * rules of cld_proc_validate for them; the content record of an inode
 * (PIPEDATA kind FILE), or NULL; the first fd with the content of inode
 * (dev, ino), or NULL. */
int cld_proc_validate_files(const struct cld_proc *p, struct cld_err *err);
const struct cld_pipedata *cld_proc_file_data(const struct cld_proc *p, uint64_t ino);
const struct cld_fd *cld_proc_ghost_fd(const struct cld_proc *p, uint64_t dev, uint64_t ino);

/* A word for an fd kind (CLD_FD_*): "file", "dir", "pipe", "fifo", "tty",
 * "chr", "epoll"...; `inspect --json` prints it. */
const char *cld_fd_kind_name(uint32_t kind);

/* Whether an fd kind is an anonymous-inode file that a restart re-creates
 * from its recorded state (epoll, eventfd, timerfd, signalfd, pidfd,
 * inotify). */
bool cld_fd_kind_is_anon(uint32_t kind);

/* The record of fd in p's (sorted) fd table, NULL if it has none. */
const struct cld_fd *cld_proc_fd(const struct cld_proc *p, int fd);

/* ---- Layout ------------------------------------------------------------ */

/* struct cld_seg, struct cld_layout, cld_layout_compute(): codec.h */

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
