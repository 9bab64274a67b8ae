/* SPDX-License-Identifier: MIT */
/*
 * The image reader's private header, shared by common/image_read*.c only
 * (the public API is clondike/image_read.h).
 */
#ifndef CLONDIKE_IMAGE_READ_PRIV_H
#define CLONDIKE_IMAGE_READ_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "clondike/err.h"
#include "clondike/image.h"

#define PAGE CLD_PAGE_SIZE

/* image_read_notes.c */
int rimg_name_is(const uint8_t *name, uint32_t namesz, const char *want);
/* The note segment buf of len bytes into *p; 0 or a negative errno. */
int rimg_decode_notes(const uint8_t *buf, size_t len, struct cld_proc *p, struct cld_err *err);

#endif /* CLONDIKE_IMAGE_READ_PRIV_H */
