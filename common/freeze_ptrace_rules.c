// SPDX-License-Identifier: MIT
/*
 * The freezer's rules, pure functions of what it read: how a task stopped
 * in a system call is recorded (restart normalisation, docs/freezer.md)
 * and which pages of a mapping the image holds (docs/image-format.md).
 */
#include "clondike/codec.h"
#include "freeze_ptrace_priv.h"

/*
 * cld_restart_normalize() and the dump policy are the shared codec's
 * (common/codec/codec_rules.c), which clondike.ko applies too; enum
 * dump_policy has the values of enum cld_dump_policy.
 */
enum dump_policy ptr_vma_policy(uint32_t flags)
{
	return (enum dump_policy)cld_dump_policy(flags);
}

int cld_pagemap_dumped(uint64_t entry, uint32_t vma_flags)
{
	int present = !!(entry & (1ull << 63)), swapped = !!(entry & (1ull << 62));
	int file = !!(entry & (1ull << 61));

	switch (ptr_vma_policy(vma_flags)) {
	case DUMP_ALL:
		return 1;
	case DUMP_ANY:
		return present || swapped;
	case DUMP_ANON:
		return (present && !file) || swapped;
	default:
		return 0;
	}
}
