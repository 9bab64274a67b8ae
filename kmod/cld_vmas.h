/* SPDX-License-Identifier: GPL-2.0 */
/* The mappings of a frozen group and their dumped pages (cld_vmas.c). */
#ifndef CLD_VMAS_H
#define CLD_VMAS_H

#include <linux/mm_types.h>

#include "clondike/codec.h"

/* Fill p->vmas from mm (the mmap lock is taken inside). */
int cld_fill_vmas(struct cld_proc *p, struct mm_struct *mm);

#endif /* CLD_VMAS_H */
