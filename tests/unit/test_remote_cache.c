// SPDX-License-Identifier: MIT
/* The cache of peers' image chunks (fuse/remote_cache.c): keys, filling,
 * failures, LRU eviction within the budget, busy chunks kept. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "remote_cache.h"

static struct cldd_chunk_cache *cache_new(unsigned int mib)
{
	struct cldd_chunk_cache *cc = calloc(1, sizeof(*cc));

	ck_assert_ptr_nonnull(cc);
	cldd_cache_set_budget(cc, mib);
	return cc;
}

/* Every chunk still in the cache, then the cache (the buffers stay in its
 * pool's mapping). */
static void cache_free(struct cldd_chunk_cache *cc)
{
	unsigned int b;

	for (b = 0; b < CLDD_CHUNK_BUCKETS; b++)
		while (cc->hash[b]) {
			struct cldd_chunk *c = cc->hash[b];

			cc->hash[b] = c->hnext;
			cldd_chunk_free(cc, c);
		}
	free(cc);
}

/* A chunk requested and answered with len bytes of value v. */
static struct cldd_chunk *fetched(struct cldd_chunk_cache *cc, unsigned int slot, uint64_t fid,
				  uint64_t idx, uint8_t v, size_t len)
{
	static uint8_t buf[CLDD_CHUNK];
	struct cldd_chunk *c = cldd_chunk_new(slot, fid, idx);

	ck_assert_ptr_nonnull(c);
	cldd_cache_insert(cc, c);
	memset(buf, v, len);
	ck_assert_int_eq(cldd_cache_fill(cc, c, 0, buf, len), 0);
	return c;
}

START_TEST(budget_has_a_floor)
{
	struct cldd_chunk_cache *cc = cache_new(1);

	ck_assert_uint_eq(cc->budget, CLDD_CACHE_MIN_CHUNKS);
	cldd_cache_set_budget(cc, 100);
	ck_assert_uint_eq(cc->budget, 100);
	cache_free(cc);
}
END_TEST

START_TEST(keyed_by_peer_freeze_and_index)
{
	struct cldd_chunk_cache *cc = cache_new(64);
	struct cldd_chunk *pending = cldd_chunk_new(1, 7, 0);
	struct cldd_chunk *c;

	/* Not found before its request went out. */
	ck_assert_ptr_null(cldd_cache_find(cc, 1, 7, 0));
	cldd_cache_insert(cc, pending);
	ck_assert_ptr_eq(cldd_cache_find(cc, 1, 7, 0), pending);
	ck_assert_int_eq(pending->state, CLDD_CH_PENDING);
	ck_assert_uint_eq(cc->st.chunk_fetches, 1);

	c = fetched(cc, 1, 7, 1, 0xab, 100);
	ck_assert_int_eq(c->state, CLDD_CH_READY);
	ck_assert_uint_eq(c->len, 100);
	ck_assert_uint_eq(c->data[99], 0xab);
	ck_assert_ptr_eq(cldd_cache_find(cc, 1, 7, 1), c);
	/* Another freeze, another peer: other bytes. */
	ck_assert_ptr_null(cldd_cache_find(cc, 1, 8, 1));
	ck_assert_ptr_null(cldd_cache_find(cc, 2, 7, 1));
	ck_assert_uint_eq(cc->ready, 1);
	ck_assert_uint_eq(cc->st.bytes_fetched, 100);
	cldd_cache_hit(cc, c);
	ck_assert_uint_eq(cc->st.chunk_hits, 1);
	cache_free(cc);
}
END_TEST

START_TEST(a_failed_chunk_is_forgotten)
{
	struct cldd_chunk_cache *cc = cache_new(64);
	struct cldd_chunk *c = cldd_chunk_new(0, 1, 3);

	cldd_cache_insert(cc, c);
	ck_assert_int_eq(cldd_cache_fill(cc, c, -EHOSTDOWN, NULL, 0), -EHOSTDOWN);
	ck_assert_int_eq(c->state, CLDD_CH_FAILED);
	ck_assert_ptr_null(cldd_cache_find(cc, 0, 1, 3));
	ck_assert_uint_eq(cc->ready, 0);
	cldd_chunk_free(cc, c);
	cache_free(cc);
}
END_TEST

START_TEST(evicts_least_recent_first)
{
	struct cldd_chunk_cache *cc = cache_new(CLDD_CACHE_MIN_CHUNKS);
	unsigned int i, n = CLDD_CACHE_MIN_CHUNKS;

	for (i = 0; i < n; i++)
		fetched(cc, 0, 1, i, (uint8_t)i, 16);
	/* Chunk 0 read again: now the most recent. */
	cldd_cache_hit(cc, cldd_cache_find(cc, 0, 1, 0));
	fetched(cc, 0, 1, n, 0, 16);
	ck_assert_uint_eq(cc->ready, n + 1);
	cldd_cache_evict(cc);
	ck_assert_uint_eq(cc->ready, n);
	ck_assert_ptr_nonnull(cldd_cache_find(cc, 0, 1, 0));
	ck_assert_ptr_null(cldd_cache_find(cc, 0, 1, 1)); /* the least recent */
	ck_assert_ptr_nonnull(cldd_cache_find(cc, 0, 1, n));
	cache_free(cc);
}
END_TEST

START_TEST(busy_chunks_stay)
{
	struct cldd_chunk_cache *cc = cache_new(CLDD_CACHE_MIN_CHUNKS);
	unsigned int i, n = CLDD_CACHE_MIN_CHUNKS;
	struct cldd_chunk *oldest = fetched(cc, 0, 1, 0, 1, 16);

	oldest->busy = 1; /* a reply is being made from it */
	for (i = 1; i <= n; i++)
		fetched(cc, 0, 1, i, 1, 16);
	cldd_cache_evict(cc);
	ck_assert_uint_eq(cc->ready, n);
	ck_assert_ptr_eq(cldd_cache_find(cc, 0, 1, 0), oldest);
	ck_assert_ptr_null(cldd_cache_find(cc, 0, 1, 1));
	cache_free(cc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("remote chunk cache");
	TCase *tc = tcase_create("all");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, budget_has_a_floor);
	tcase_add_test(tc, keyed_by_peer_freeze_and_index);
	tcase_add_test(tc, a_failed_chunk_is_forgotten);
	tcase_add_test(tc, evicts_least_recent_first);
	tcase_add_test(tc, busy_chunks_stay);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
