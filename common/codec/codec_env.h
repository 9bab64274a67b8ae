/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * What the shared image codec (common/codec/) needs from its host, in the
 * kernel (clondike.ko, kmod/cld_codec.c) and in userspace
 * (libclondike_common): types, allocation, errors, byte order, ELF and
 * lseek constants.  The kernel's lib/xz does the same with xz_config.h.
 * Nothing else in the codec may include a host header.
 */
#ifndef CLONDIKE_CODEC_ENV_H
#define CLONDIKE_CODEC_ENV_H

#ifdef __KERNEL__

#include <linux/elf.h>
#include <linux/errno.h>
#include <linux/fs.h> /* SEEK_DATA, SEEK_HOLE */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/types.h>
#include <asm/byteorder.h>

#ifndef __LITTLE_ENDIAN
#error "the image format is little-endian: records are copied as they are"
#endif

#define cld_calloc(n, size) kvcalloc(n, size, GFP_KERNEL)
#define cld_malloc(size) kvmalloc(size, GFP_KERNEL)
#define cld_free(p) kvfree(p)
/* No messages in the kernel: the errno is the module's answer. */
#define cld_codec_err(err, code, ...) ((void)(err), (code))

#else /* userspace */

#include <elf.h>
#include <errno.h>
#include <fcntl.h> /* O_ACCMODE */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* SEEK_DATA, SEEK_HOLE (_GNU_SOURCE) */

#include "clondike/err.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the image format is little-endian: records are copied as they are"
#endif

#define cld_calloc(n, size) calloc(n, size)
#define cld_malloc(size) malloc(size)
#define cld_free(p) free(p)
#define cld_codec_err(err, code, ...) cld_err_set(err, code, __VA_ARGS__)

#endif /* __KERNEL__ */

#include "clondike/codec.h"

#define CLD_PG CLD_PAGE_SIZE

#endif /* CLONDIKE_CODEC_ENV_H */
