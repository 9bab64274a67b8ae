/* SPDX-License-Identifier: MIT */
/*
 * The image reader: parses and validates a clondike image from any byte
 * source and returns its process description plus layout.  It trusts
 * nothing: every count, offset and size is checked before use, and every
 * refusal names the problem in the cld_err.
 */
#ifndef CLONDIKE_IMAGE_READ_H
#define CLONDIKE_IMAGE_READ_H

#include <stdint.h>
#include <sys/types.h>

#include "clondike/image.h"

/* A source of image bytes (a file, a buffer, a FUSE file...). */
struct cld_src {
	/* Returns bytes read (short only at end of file) or -errno. */
	ssize_t (*pread)(void *ctx, void *buf, size_t len, uint64_t off);
	void *ctx;
	uint64_t size; /* total size of the source */
};

struct cld_rimage {
	struct cld_proc proc;
	struct cld_layout layout;
	struct cld_src src;
	uint64_t digests_off; /* file offset of the first digest */
	void *src_owned; /* freed with the image (open_buf's context) */
};

/* Parse and validate the headers and all notes of the first PT_NOTE and
 * the header of the DIGESTS note.  Page data is not read. */
int cld_rimage_open(const struct cld_src *src, struct cld_rimage **out,
		    struct cld_err *err);

/* The same, with CLD_RIMAGE_* flags. */
#define CLD_RIMAGE_NO_DIGESTS 0x1u /* check the digest note only when one is read */
int cld_rimage_open_flags(const struct cld_src *src, unsigned int flags, struct cld_rimage **out,
			  struct cld_err *err);
int cld_rimage_open_fd_flags(int fd, unsigned int flags, struct cld_rimage **out,
			     struct cld_err *err);

/* Convenience: open a file by fd (kept open by the caller) or path. */
int cld_rimage_open_fd(int fd, struct cld_rimage **out, struct cld_err *err);
int cld_rimage_open_buf(const void *buf, size_t len, struct cld_rimage **out,
			struct cld_err *err);
void cld_rimage_free(struct cld_rimage *ri);

/* Digest idx as recorded in the image. */
int cld_rimage_digest(struct cld_rimage *ri, uint64_t idx, uint64_t *d,
		      struct cld_err *err);

/*
 * Read every dumped page, compare with its recorded digest.  Returns 0 if
 * all match, -EBADMSG naming the first bad page (address) otherwise.
 * *nr_checked gets the count of pages checked.
 */
int cld_rimage_verify(struct cld_rimage *ri, uint64_t *nr_checked,
		      struct cld_err *err);

#endif /* CLONDIKE_IMAGE_READ_H */
