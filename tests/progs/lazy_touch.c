// SPDX-License-Identifier: MIT
/*
 * Lazy restart test: lazy_touch RESULT CTL SIZE_MB PERCENT [MODES]
 *
 * Fills SIZE_MB MiB of anonymous memory with values that are a function of
 * their index, becomes READY, and on the trigger verifies a contiguous
 * PERCENT of it (from the middle), so a lazily restored copy faults in only
 * that much.  MODES adds work done while the memory is still lazy:
 *   f  fork; the child verifies a sample of the whole region and exits
 *   r  mremap the region to a new address (MREMAP_MAYMOVE) and verify there
 *   d  madvise(MADV_DONTNEED) a slice, which must then read as zeros
 * (the protocol is tests/progs/rst_common.h).
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "rst_common.h"

#define PG 4096ul

static uint64_t val(size_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull + 12345;

	x ^= x >> 31;
	return x * 0xbf58476d1ce4e5b9ull;
}

static void verify(const uint64_t *w, size_t from, size_t to, size_t step, const char *what)
{
	size_t i;

	for (i = from; i < to; i += step)
		RST_CHECK(w[i] == val(i), "%s: word %zu is %llx, want %llx", what, i,
			  (unsigned long long)w[i], (unsigned long long)val(i));
}

int main(int argc, char **argv)
{
	size_t size, words, i, from, to;
	const char *modes;
	uint64_t *w;
	int pct;

	rst_init(argc, argv, 2, "SIZE_MB PERCENT [MODES]");
	size = (size_t)atol(argv[3]) << 20;
	pct = atoi(argv[4]);
	modes = argc > 5 ? argv[5] : "";
	words = size / 8;
	w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RST_CHECK(w != MAP_FAILED, "mmap of %zu bytes failed", size);
	for (i = 0; i < words; i++)
		w[i] = val(i);
	rst_ready();
	rst_wait_trigger();

	/* The touched part: contiguous, from the middle. */
	from = words / 2;
	to = from + words / 100 * (size_t)pct;
	if (to > words)
		to = words;
	verify(w, from, to, 1, "touched part");

	if (strchr(modes, 'f')) {
		pid_t c = fork();
		int st;

		RST_CHECK(c >= 0, "fork failed");
		if (c == 0) {
			size_t k;

			/* Untouched pages of the parent are lazy in the child too. */
			for (k = 0; k < words; k += words / 64 + 1)
				if (w[k] != val(k))
					_exit(1);
			_exit(0);
		}
		RST_CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "forked child saw wrong memory (status %#x)", st);
	}
	if (strchr(modes, 'd')) {
		size_t off = words / 8 / (PG / 8) * (PG / 8); /* page aligned */

		RST_CHECK(madvise(w + off, 16 * PG, MADV_DONTNEED) == 0, "madvise failed");
		for (i = off; i < off + 16 * PG / 8; i++)
			RST_CHECK(w[i] == 0, "word %zu not zero after MADV_DONTNEED", i);
		for (i = off; i < off + 16 * PG / 8; i++)
			w[i] = val(i); /* so the sweeps below still hold */
	}
	if (strchr(modes, 'r')) {
		uint64_t *nw = mremap(w, size, size + (64ul << 20), MREMAP_MAYMOVE);

		RST_CHECK(nw != MAP_FAILED, "mremap failed");
		w = nw;
		verify(w, 0, words, PG / 8 * 3, "after mremap");
	}
	if (modes[0])
		verify(w, 0, words, PG / 8, "every page");
	rst_pass("lazy");
}
