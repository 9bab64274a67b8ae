// SPDX-License-Identifier: MIT
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "clondike/digest.h"
#include "clondike/format.h"

static uint64_t digest_baseline(const void *page)
{
	return XXH3_64bits(page, CLD_PAGE_SIZE);
}

static uint64_t (*digest_fn)(const void *page);

uint64_t cld_page_digest(const void *page)
{
	/* Chosen once; a race only picks the same function twice. */
	if (!digest_fn)
		digest_fn = __builtin_cpu_supports("avx2") ? cld_page_digest_avx2 :
							     digest_baseline;
	return digest_fn(page);
}
