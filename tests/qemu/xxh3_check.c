// SPDX-License-Identifier: MIT
/*
 * Unit check of the module's XXH3-64 page digest (kmod/cld_xxh3.c, built
 * here for user space) against libxxhash's XXH3_64bits on random and
 * patterned 4096-byte pages.  Exit 0 when all match.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

uint64_t cld_xxh3_page(const void *page);

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	/* xorshift64*: reproducible pages without libc's rand state. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

int main(int argc, char **argv)
{
	static unsigned char page[4096] __attribute__((aligned(64)));
	int n = argc > 1 ? atoi(argv[1]) : 2000, i, bad = 0;

	for (i = 0; i < n; i++) {
		size_t j;

		if (i == 0)
			memset(page, 0, sizeof(page));
		else if (i == 1)
			memset(page, 0xff, sizeof(page));
		else
			for (j = 0; j < sizeof(page); j += 8) {
				uint64_t v = next();

				memcpy(page + j, &v, 8);
			}
		if (cld_xxh3_page(page) != XXH3_64bits(page, sizeof(page))) {
			fprintf(stderr, "page %d: cld %016llx libxxhash %016llx\n", i,
				(unsigned long long)cld_xxh3_page(page),
				(unsigned long long)XXH3_64bits(page, sizeof(page)));
			bad++;
		}
	}
	printf("xxh3: %d pages, %d mismatches\n", n, bad);
	return bad ? 1 : 0;
}
