/* SPDX-License-Identifier: MIT */
/*
 * The cache of a peer's image bytes: chunks of up to 1 MiB keyed by (peer
 * slot, freeze, offset of their first byte), so a re-read of the same frozen image is local and a new
 * freeze never sees old bytes.  Ready chunks are kept in LRU order within
 * a budget; a chunk being read by a reply (busy) is never evicted.  Pure
 * bookkeeping: the requests that fill chunks are remote_read.c's.
 */
#ifndef CLDD_REMOTE_CACHE_H
#define CLDD_REMOTE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "clondike/proto.h"

#define CLDD_CHUNK CLDP_READ_MAX
#define CLDD_CHUNK_BUCKETS 4096
/* The smallest budget, in chunks. */
#define CLDD_CACHE_MIN_CHUNKS 16

enum cldd_chunk_state { CLDD_CH_PENDING, CLDD_CH_READY, CLDD_CH_FAILED };

struct cldd_wlink; /* the reads waiting for a chunk (remote_read.c) */
struct cldd_chunk_cache;

struct cldd_chunk {
	struct cldd_chunk_cache *cache; /* remote_read.c's: for its request's answer */
	unsigned int slot;
	uint64_t freeze_id, off; /* off: of its first byte in the image */
	enum cldd_chunk_state state;
	uint8_t *data;
	size_t len;
	unsigned int busy; /* waiters holding it: not evicted */
	struct cldd_wlink *waiters;
	struct cldd_chunk *hnext, *lprev, *lnext; /* hash chain; LRU when ready */
};

/* Counters, for the statistics xattr and the log. */
struct cldd_remote_stats {
	uint64_t chunk_hits, chunk_fetches, bytes_fetched, readahead, waits;
};

struct cldd_chunk_cache {
	struct cldd_chunk *hash[CLDD_CHUNK_BUCKETS];
	struct cldd_chunk *lru_head, *lru_tail; /* head: most recent */
	size_t ready, budget;			/* in chunks */
	void *pool;				/* free chunk buffers */
	struct cldd_remote_stats st;
};

/* Budget in MiB (the configuration's "cache"), at least the minimum. */
void cldd_cache_set_budget(struct cldd_chunk_cache *cc, unsigned int mib);
/* Fault the first region of chunk buffers in now, at start: a VM's first
 * touch of fresh memory costs more than the transfer that fills it, and
 * a migration's first reads would wait for it.  0 or -ENOMEM. */
int cldd_cache_prefault(struct cldd_chunk_cache *cc);

struct cldd_chunk *cldd_cache_find(struct cldd_chunk_cache *cc, unsigned int slot, uint64_t fid,
				   uint64_t off);
/* A new pending chunk, not yet in the cache (NULL: out of memory). */
struct cldd_chunk *cldd_chunk_new(unsigned int slot, uint64_t fid, uint64_t off);
/* Its request went out: found from now on (a fetch). */
void cldd_cache_insert(struct cldd_chunk_cache *cc, struct cldd_chunk *c);
/*
 * The answer to c's request: status 0 with len bytes (copied; READY, most
 * recent), or a negative errno (FAILED, no longer found).  Returns the
 * status, -ENOMEM when no buffer could be had.
 */
int cldd_cache_fill(struct cldd_chunk_cache *cc, struct cldd_chunk *c, int status,
		    const uint8_t *data, size_t len);
/* A read found c ready: a hit, and most recent. */
void cldd_cache_hit(struct cldd_chunk_cache *cc, struct cldd_chunk *c);
/* Down to the budget, least recent first, skipping busy chunks. */
void cldd_cache_evict(struct cldd_chunk_cache *cc);
/* Free a chunk out of the cache (failed, or never inserted). */
void cldd_chunk_free(struct cldd_chunk_cache *cc, struct cldd_chunk *c);

#endif /* CLDD_REMOTE_CACHE_H */
