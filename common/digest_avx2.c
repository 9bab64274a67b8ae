// SPDX-License-Identifier: MIT
/* Built with -mavx2 (common/CMakeLists.txt): XXH3 picks its AVX2 kernel. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "clondike/digest.h"
#include "clondike/format.h"

uint64_t cld_page_digest_avx2(const void *page)
{
	return XXH3_64bits(page, CLD_PAGE_SIZE);
}
