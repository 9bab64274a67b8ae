/* SPDX-License-Identifier: MIT */
/*
 * The image writer's private header, shared by common/image*.c only (the
 * public API is clondike/image.h):
 *
 *   image.c        the process description and the layout
 *   image_notes.c  the note encoder
 *   image_virt.c   the virtual image: bytes on demand, the digest cache
 *
 * (image_read.c, the reader, does not use it.)
 */
#ifndef CLONDIKE_IMAGE_PRIV_H
#define CLONDIKE_IMAGE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "clondike/image.h"

#define PAGE CLD_PAGE_SIZE

/* image.c */
size_t img_str_len(const char *s);
uint64_t img_count_segments(const struct cld_proc *p);
/* Size of the digest note at the end, for nr_dumped pages. */
uint64_t img_tail_size(uint64_t nr_dumped);

#endif /* CLONDIKE_IMAGE_PRIV_H */
