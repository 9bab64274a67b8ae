// SPDX-License-Identifier: MIT
/*
 * Restart test: memory.  rst_mem RESULT CTL SIZE_MB [DATAFILE]
 *  - SIZE_MB MiB of pseudo-random data in one mapping, plus its checksum;
 *  - a malloc'ed heap (brk) of small blocks with known contents;
 *  - large sparse mmap regions (every 7th page written) and one never
 *    touched region, which must come back unpopulated;
 *  - guard pages (PROT_NONE) around a written region, which must still
 *    fault after restart;
 *  - a private file mapping of DATAFILE with some pages written: those
 *    pages keep the new bytes, the others read the file, the file itself
 *    is unchanged.
 * SIZE_MB 0 skips the big region (for quick runs).
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

#include "rst_common.h"

#define PG 4096ul
#define NBLOCKS 3000
#define NSPARSE 3
#define SPARSE_LEN (16ul << 20)
#define UNTOUCHED_LEN (64ul << 20)
#define FILE_PAGES 64

static uint64_t *big;
static size_t big_words;
static uint64_t big_sum;
static unsigned char *blocks[NBLOCKS];
static size_t block_len[NBLOCKS];
static unsigned char *sparse[NSPARSE];
static unsigned char *untouched;
static unsigned char *guarded; /* guard page, 14 data pages, guard page */
static unsigned char *fmap;
static sigjmp_buf jb;
static volatile sig_atomic_t faults;

static uint64_t sum_words(const uint64_t *w, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ w[i]) * 0x100000001b3ull + (h >> 29);
	return h;
}

static unsigned char pat(size_t i, size_t j)
{
	return (unsigned char)(i * 31 + j * 7 + (j >> 8));
}

static unsigned char fpat(size_t off)
{
	return (unsigned char)((off >> 12) * 13 + off * 3);
}

static void on_segv(int sig)
{
	(void)sig;
	faults++;
	siglongjmp(jb, 1);
}

static int probe_faults(volatile unsigned char *p)
{
	if (sigsetjmp(jb, 1))
		return 1;
	(void)*p;
	return 0;
}

/* Resident pages in [start, start + len): mincore, since adjacent
 * anonymous mappings merge and smaps cannot single one out. */
static size_t resident_pages(void *start, size_t len)
{
	static unsigned char vec[UNTOUCHED_LEN / PG];
	size_t i, n = 0;

	if (mincore(start, len, vec) < 0)
		return (size_t)-1;
	for (i = 0; i < len / PG; i++)
		n += vec[i] & 1;
	return n;
}

int main(int argc, char **argv)
{
	size_t mb, i, j;
	uint64_t seed = 0x1234567887654321ull;
	char datafile[4096];
	struct sigaction sa;
	int fd;

	rst_init(argc, argv, 1, "SIZE_MB [DATAFILE]");
	mb = strtoul(argv[3], NULL, 0);
	if (argc > 4)
		snprintf(datafile, sizeof(datafile), "%s", argv[4]);
	else
		snprintf(datafile, sizeof(datafile), "%s.data", argv[1]);

	if (mb) {
		big_words = (mb << 20) / 8;
		big = mmap(NULL, mb << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
		RST_CHECK(big != MAP_FAILED, "mmap %zu MiB", mb);
		for (i = 0; i < big_words; i++)
			big[i] = rst_xorshift(&seed);
		big_sum = sum_words(big, big_words);
	}
	for (i = 0; i < NBLOCKS; i++) {
		block_len[i] = 16 + (i * 37) % 2000;
		blocks[i] = malloc(block_len[i]);
		RST_CHECK(blocks[i], "malloc");
		for (j = 0; j < block_len[i]; j++)
			blocks[i][j] = pat(i, j);
	}
	for (i = 0; i < NSPARSE; i++) {
		sparse[i] = mmap(NULL, SPARSE_LEN, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		RST_CHECK(sparse[i] != MAP_FAILED, "mmap sparse");
		for (j = 0; j < SPARSE_LEN / PG; j += 7)
			memset(sparse[i] + j * PG, (int)(i * 50 + j % 200 + 1), PG);
	}
	untouched = mmap(NULL, UNTOUCHED_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	RST_CHECK(untouched != MAP_FAILED, "mmap untouched");
	guarded = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RST_CHECK(guarded != MAP_FAILED, "mmap guarded");
	for (j = PG; j < 15 * PG; j++)
		guarded[j] = (unsigned char)(j * 11);
	RST_CHECK(!mprotect(guarded, PG, PROT_NONE) && !mprotect(guarded + 15 * PG, PG, PROT_NONE),
		  "mprotect guard");

	fd = open(datafile, O_RDWR | O_CREAT | O_TRUNC, 0644);
	RST_CHECK(fd >= 0, "create %s", datafile);
	{
		unsigned char page[PG];

		for (i = 0; i < FILE_PAGES; i++) {
			for (j = 0; j < PG; j++)
				page[j] = fpat(i * PG + j);
			RST_CHECK(write(fd, page, PG) == (ssize_t)PG, "write datafile");
		}
	}
	fmap = mmap(NULL, FILE_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	RST_CHECK(fmap != MAP_FAILED, "mmap datafile");
	close(fd);
	for (j = 0; j < FILE_PAGES * PG; j += 4096 * 9)
		(void)*(volatile unsigned char *)(fmap + j); /* some clean pages in cache */
	memset(fmap + 3 * PG, 0xa3, PG);
	memset(fmap + 10 * PG + 100, 0xb4, 50);
	memset(fmap + 40 * PG, 0xc5, 2 * PG);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, NULL);

	rst_ready();
	rst_wait_trigger();

	if (mb)
		RST_CHECK(sum_words(big, big_words) == big_sum, "checksum of %zu MiB differs", mb);
	seed = 0x1234567887654321ull;
	for (i = 0; i < big_words; i++)
		RST_CHECK(big[i] == rst_xorshift(&seed), "big word %zu differs", i);
	for (i = 0; i < NBLOCKS; i++)
		for (j = 0; j < block_len[i]; j++)
			RST_CHECK(blocks[i][j] == pat(i, j), "heap block %zu byte %zu", i, j);
	/* The heap still works: more brk. */
	for (i = 0; i < 100; i++) {
		void *p = malloc(100000);

		RST_CHECK(p, "malloc after restart");
		memset(p, 1, 100000);
	}
	RST_CHECK(sbrk(1 << 20) != (void *)-1, "sbrk after restart");
	for (i = 0; i < NSPARSE; i++)
		for (j = 0; j < SPARSE_LEN / PG; j++) {
			unsigned char want = j % 7 ? 0 : (unsigned char)(i * 50 + j % 200 + 1);

			RST_CHECK(sparse[i][j * PG] == want && sparse[i][j * PG + PG - 1] == want,
				  "sparse region %zu page %zu: %u, want %u", i, j,
				  sparse[i][j * PG], want);
		}
	RST_CHECK(resident_pages(untouched, UNTOUCHED_LEN) == 0,
		  "untouched region has %zu pages resident",
		  resident_pages(untouched, UNTOUCHED_LEN));
	for (j = PG; j < 15 * PG; j++)
		RST_CHECK(guarded[j] == (unsigned char)(j * 11), "guarded byte %zu", j);
	RST_CHECK(probe_faults(guarded) && probe_faults(guarded + 15 * PG + 5),
		  "guard pages do not fault");
	for (i = 0; i < FILE_PAGES * PG; i++) {
		unsigned char want = fpat(i);

		if (i >= 3 * PG && i < 4 * PG)
			want = 0xa3;
		else if (i >= 10 * PG + 100 && i < 10 * PG + 150)
			want = 0xb4;
		else if (i >= 40 * PG && i < 42 * PG)
			want = 0xc5;
		RST_CHECK(fmap[i] == want, "file mapping byte %zu: %02x want %02x", i, fmap[i],
			  want);
	}
	fd = open(datafile, O_RDONLY);
	RST_CHECK(fd >= 0, "reopen datafile");
	{
		unsigned char page[PG];

		for (i = 0; i < FILE_PAGES; i++) {
			RST_CHECK(read(fd, page, PG) == (ssize_t)PG, "read datafile");
			for (j = 0; j < PG; j++)
				RST_CHECK(page[j] == fpat(i * PG + j), "datafile changed at %zu",
					  i * PG + j);
		}
	}
	close(fd);
	rst_pass("memory");
}
