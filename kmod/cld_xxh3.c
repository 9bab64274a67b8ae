// SPDX-License-Identifier: GPL-2.0
/*
 * XXH3-64 (default secret, seed 0) of one 4096-byte page, the digest the
 * image format uses.  The kernel has no XXH3, so this is a scalar version
 * written from the public algorithm description, specialised for the one
 * input length the module hashes (the "long input" path of XXH3: > 240
 * bytes).  It builds in the kernel and, with CLD_XXH3_USERSPACE, in user
 * space, where tests/qemu/xxh3_check.c compares it with libxxhash.
 */
#ifdef CLD_XXH3_USERSPACE
#include <stddef.h>
#include <stdint.h>
#include <string.h>
typedef uint64_t u64;
typedef uint32_t u32;
typedef uint8_t u8;
#define CLD_XXH3_API
static inline u64 cld_rd64(const u8 *p)
{
	u64 v;

	memcpy(&v, p, sizeof(v));
	return v; /* x86_64: little-endian, as the algorithm reads */
}
u64 cld_xxh3_page(const void *page);
u64 cld_xxh3(const void *data, size_t len);
#else
#include <linux/string.h>
#include <linux/types.h>
#include "cld_internal.h"
#define CLD_XXH3_API
static inline u64 cld_rd64(const u8 *p)
{
	__le64 v;

	memcpy(&v, p, sizeof(v));
	return le64_to_cpu(v);
}
#endif

#define XXH_PRIME32_1 0x9E3779B1U
#define XXH_PRIME32_2 0x85EBCA77U
#define XXH_PRIME32_3 0xC2B2AE3DU
#define XXH_PRIME64_1 0x9E3779B185EBCA87ULL
#define XXH_PRIME64_2 0xC2B2AE3D27D4EB4FULL
#define XXH_PRIME64_3 0x165667B19E3779F9ULL
#define XXH_PRIME64_4 0x85EBCA77C2B2AE63ULL
#define XXH_PRIME64_5 0x27D4EB2F165667C5ULL

#define CLD_PAGE_LEN 4096u
#define STRIPE_LEN 64u
#define SECRET_LEN 192u /* the default secret */
#define SECRET_CONSUME 8u /* secret advance per stripe */
#define STRIPES_PER_BLOCK ((SECRET_LEN - STRIPE_LEN) / SECRET_CONSUME)
#define BLOCK_LEN (STRIPE_LEN * STRIPES_PER_BLOCK)
#define SECRET_LASTACC_START 7u
#define SECRET_MERGEACCS_START 11u

/* The 192-byte default secret of the XXH3 specification. */
static const u8 cld_xxh3_secret[SECRET_LEN] = {
	0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c,
	0xf7, 0x21, 0xad, 0x1c, 0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb,
	0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f, 0xcb, 0x79, 0xe6, 0x4e,
	0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
	0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6,
	0x81, 0x3a, 0x26, 0x4c, 0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb,
	0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3, 0x71, 0x64, 0x48, 0x97,
	0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
	0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7,
	0xc7, 0x0b, 0x4f, 0x1d, 0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31,
	0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64, 0xea, 0xc5, 0xac, 0x83,
	0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
	0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26,
	0x29, 0xd4, 0x68, 0x9e, 0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc,
	0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce, 0x45, 0xcb, 0x3a, 0x8f,
	0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
};

/* One 64-byte stripe into the eight 64-bit lanes. */
static inline void cld_xxh3_stripe(u64 acc[8], const u8 *in, const u8 *sec)
{
	unsigned int i;

	for (i = 0; i < 8; i++) {
		u64 data = cld_rd64(in + 8 * i);
		u64 key = data ^ cld_rd64(sec + 8 * i);

		/* Each lane takes its neighbour's raw input, then the product
		 * of the low and high halves of its keyed input. */
		acc[i ^ 1] += data;
		acc[i] += (u64)(u32)key * (key >> 32);
	}
}

/* End of block: fold the high bits back in and re-key each lane. */
static inline void cld_xxh3_scramble(u64 acc[8], const u8 *sec)
{
	unsigned int i;

	for (i = 0; i < 8; i++) {
		u64 a = acc[i];

		a ^= a >> 47;
		a ^= cld_rd64(sec + 8 * i);
		a *= XXH_PRIME32_1;
		acc[i] = a;
	}
}

/* 64x64 -> 128 multiply, high half xor low half. */
static inline u64 cld_xxh3_mulfold(u64 a, u64 b)
{
	unsigned __int128 p = (unsigned __int128)a * b;

	return (u64)p ^ (u64)(p >> 64);
}

static inline u64 cld_xxh3_avalanche(u64 h)
{
	h ^= h >> 37;
	h *= 0x165667919E3779F9ULL;
	h ^= h >> 32;
	return h;
}

/*
 * XXH3-64 of an input longer than 240 bytes (the only path this module
 * needs: pages and the vDSO).  Shorter inputs use other formulas in XXH3;
 * they return 0 here.
 */
CLD_XXH3_API u64 cld_xxh3(const void *data, size_t len)
{
	const u8 *in = data;
	const u8 *sec = cld_xxh3_secret;
	u64 acc[8] = {
		XXH_PRIME32_3, XXH_PRIME64_1, XXH_PRIME64_2, XXH_PRIME64_3,
		XXH_PRIME64_4, XXH_PRIME32_2, XXH_PRIME64_5, XXH_PRIME32_1,
	};
	size_t nb_blocks, b, s, nb_stripes;
	u64 h;

	if (len <= 240)
		return 0;
	/* Full blocks: the block holding the last byte is never complete. */
	nb_blocks = (len - 1) / BLOCK_LEN;
	for (b = 0; b < nb_blocks; b++) {
		for (s = 0; s < STRIPES_PER_BLOCK; s++)
			cld_xxh3_stripe(acc, in + b * BLOCK_LEN + s * STRIPE_LEN,
					sec + s * SECRET_CONSUME);
		cld_xxh3_scramble(acc, sec + SECRET_LEN - STRIPE_LEN);
	}
	/* The partial last block, then the input's final 64 bytes. */
	nb_stripes = ((len - 1) - BLOCK_LEN * nb_blocks) / STRIPE_LEN;
	for (s = 0; s < nb_stripes; s++)
		cld_xxh3_stripe(acc, in + nb_blocks * BLOCK_LEN + s * STRIPE_LEN,
				sec + s * SECRET_CONSUME);
	cld_xxh3_stripe(acc, in + len - STRIPE_LEN,
			sec + SECRET_LEN - STRIPE_LEN - SECRET_LASTACC_START);

	/* Merge the lanes pairwise with the secret and the length. */
	h = (u64)len * XXH_PRIME64_1;
	for (s = 0; s < 4; s++) {
		const u8 *k = sec + SECRET_MERGEACCS_START + 16 * s;

		h += cld_xxh3_mulfold(acc[2 * s] ^ cld_rd64(k),
				      acc[2 * s + 1] ^ cld_rd64(k + 8));
	}
	return cld_xxh3_avalanche(h);
}

CLD_XXH3_API u64 cld_xxh3_page(const void *page)
{
	return cld_xxh3(page, CLD_PAGE_LEN);
}
