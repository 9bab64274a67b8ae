/* SPDX-License-Identifier: MIT */
/*
 * The image writer's private header, shared by common/image*.c only (the
 * public API is clondike/image.h):
 *
 *   image.c        the process description and the layout lookup
 *   image_notes.c  the note encoder's userspace entry
 *   image_virt.c   the virtual image: bytes on demand, the digest cache
 *
 * The format itself is encoded by the shared codec (clondike/codec.h,
 * common/codec/).  (image_read.c, the reader, does not use this header.)
 */
#ifndef CLONDIKE_IMAGE_PRIV_H
#define CLONDIKE_IMAGE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "clondike/codec.h"
#include "clondike/image.h"

#define PAGE CLD_PAGE_SIZE

#endif /* CLONDIKE_IMAGE_PRIV_H */
