/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The image of a frozen group (cld_image.c): built once by the freezer,
 * its bytes generated on demand by reads of the image fd.
 */
#ifndef CLD_IMAGE_H
#define CLD_IMAGE_H

#include <linux/mm_types.h>
#include <linux/types.h>

#include "cld_internal.h"

int cld_img_build(struct cld_frz *frz);
void cld_img_free(struct cld_img *img);
u64 cld_img_size(const struct cld_img *img);
u64 cld_img_nr_dumped(const struct cld_img *img);
u64 cld_img_data_bytes(const struct cld_img *img);
ssize_t cld_img_read(struct cld_frz *frz, char __user *buf, size_t len,
		     loff_t off);
loff_t cld_img_seek_data(struct cld_frz *frz, loff_t off, int whence);

/* get_user_pages_remote() of either kernel series. */
long cld_gup(struct mm_struct *mm, unsigned long addr, unsigned long n,
	     unsigned int flags, struct page **pages);
/* Copy n bytes at addr of a frozen mm into kbuf (mmap lock taken inside). */
int cld_read_mem(struct mm_struct *mm, unsigned long addr, u8 *kbuf, size_t n);

#endif /* CLD_IMAGE_H */
