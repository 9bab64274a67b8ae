/* SPDX-License-Identifier: MIT */
/*
 * Page digests: XXH3-64 (seed 0) of one 4096-byte page, the digest the
 * image format records.  The AVX2 build of XXH3 is used when the CPU has
 * it (about twice the speed of the SSE2 baseline); both give the same
 * value, XXH3 being defined independently of vector width.
 */
#ifndef CLONDIKE_DIGEST_H
#define CLONDIKE_DIGEST_H

#include <stdint.h>

uint64_t cld_page_digest(const void *page);

/* digest_avx2.c, compiled with -mavx2; call only if the CPU has AVX2. */
uint64_t cld_page_digest_avx2(const void *page);

#endif /* CLONDIKE_DIGEST_H */
