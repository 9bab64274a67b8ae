// SPDX-License-Identifier: MIT
#include "remote_cache.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "clondike/compat.h"

void cldd_cache_set_budget(struct cldd_chunk_cache *cc, unsigned int mib)
{
	cc->budget = mib < CLDD_CACHE_MIN_CHUNKS ? CLDD_CACHE_MIN_CHUNKS : mib;
}

static unsigned int chunk_bucket(unsigned int slot, uint64_t fid, uint64_t off)
{
	uint64_t h = (fid * 0x9e3779b97f4a7c15ull) ^ ((off >> 12) * 0xc2b2ae3d27d4eb4full) ^ slot;

	return (unsigned int)(h >> 40) % CLDD_CHUNK_BUCKETS;
}

struct cldd_chunk *cldd_cache_find(struct cldd_chunk_cache *cc, unsigned int slot, uint64_t fid,
				   uint64_t off)
{
	struct cldd_chunk *c;

	for (c = cc->hash[chunk_bucket(slot, fid, off)]; c; c = c->hnext)
		if (c->off == off && c->freeze_id == fid && c->slot == slot)
			return c;
	return NULL;
}

static void hash_del(struct cldd_chunk_cache *cc, struct cldd_chunk *c)
{
	struct cldd_chunk **pp = &cc->hash[chunk_bucket(c->slot, c->freeze_id, c->off)];

	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			return;
		}
}

static void lru_del(struct cldd_chunk_cache *cc, struct cldd_chunk *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		cc->lru_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else
		cc->lru_tail = c->lprev;
	c->lprev = c->lnext = NULL;
}

static void lru_add(struct cldd_chunk_cache *cc, struct cldd_chunk *c)
{
	c->lprev = NULL;
	c->lnext = cc->lru_head;
	if (cc->lru_head)
		cc->lru_head->lprev = c;
	cc->lru_head = c;
	if (!cc->lru_tail)
		cc->lru_tail = c;
}

/*
 * Chunk buffers: 1 MiB slots carved from huge-page-backed regions and
 * recycled, never returned.  A fresh malloc'ed MiB costs 256 page faults,
 * which on a VM take longer than the network transfer that fills them.
 */
#define POOL_REGION (32u << 20)
#define HUGE (2u << 20)

/* One more region of free buffers; populated now if asked (its pages
 * faulted in, so that no reader pays for them later). */
static int pool_grow(struct cldd_chunk_cache *cc, bool populate)
{
	uint8_t *r = mmap(NULL, POOL_REGION + HUGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
		*a;
	size_t i;

	if (r == MAP_FAILED)
		return -ENOMEM;
	a = (uint8_t *)(((uintptr_t)r + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
	madvise(a, POOL_REGION, MADV_HUGEPAGE);
	if (populate && madvise(a, POOL_REGION, MADV_POPULATE_WRITE) < 0)
		for (i = 0; i < POOL_REGION; i += 4096)
			a[i] = 0;
	for (i = POOL_REGION / CLDD_CHUNK; i-- > 0;) {
		*(void **)(a + i * CLDD_CHUNK) = cc->pool;
		cc->pool = a + i * CLDD_CHUNK;
	}
	return 0;
}

int cldd_cache_prefault(struct cldd_chunk_cache *cc)
{
	return cc->pool ? 0 : pool_grow(cc, true);
}

static void *buf_get(struct cldd_chunk_cache *cc)
{
	void *b;

	if (!cc->pool && pool_grow(cc, false))
		return NULL;
	b = cc->pool;
	cc->pool = *(void **)b;
	return b;
}

static void buf_put(struct cldd_chunk_cache *cc, void *b)
{
	if (!b)
		return;
	*(void **)b = cc->pool;
	cc->pool = b;
}

struct cldd_chunk *cldd_chunk_new(unsigned int slot, uint64_t fid, uint64_t off)
{
	struct cldd_chunk *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->slot = slot;
	c->freeze_id = fid;
	c->off = off;
	c->state = CLDD_CH_PENDING;
	return c;
}

void cldd_chunk_free(struct cldd_chunk_cache *cc, struct cldd_chunk *c)
{
	buf_put(cc, c->data);
	free(c);
}

void cldd_cache_insert(struct cldd_chunk_cache *cc, struct cldd_chunk *c)
{
	unsigned int b = chunk_bucket(c->slot, c->freeze_id, c->off);

	c->hnext = cc->hash[b];
	cc->hash[b] = c;
	cc->st.chunk_fetches++;
}

int cldd_cache_fill(struct cldd_chunk_cache *cc, struct cldd_chunk *c, int status,
		    const uint8_t *data, size_t len)
{
	if (!status) {
		c->data = buf_get(cc);
		if (!c->data)
			status = -ENOMEM;
	}
	if (status) {
		hash_del(cc, c);
		c->state = CLDD_CH_FAILED;
		return status;
	}
	memcpy(c->data, data, len);
	c->len = len;
	c->state = CLDD_CH_READY;
	lru_add(cc, c);
	cc->ready++;
	cc->st.bytes_fetched += len;
	return 0;
}

void cldd_cache_hit(struct cldd_chunk_cache *cc, struct cldd_chunk *c)
{
	cc->st.chunk_hits++;
	lru_del(cc, c);
	lru_add(cc, c);
}

void cldd_cache_evict(struct cldd_chunk_cache *cc)
{
	struct cldd_chunk *c = cc->lru_tail;

	while (c && cc->ready > cc->budget) {
		struct cldd_chunk *prev = c->lprev;

		if (!c->busy) {
			lru_del(cc, c);
			hash_del(cc, c);
			cc->ready--;
			cldd_chunk_free(cc, c);
		}
		c = prev;
	}
}
