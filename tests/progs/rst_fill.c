// SPDX-License-Identifier: MIT
/*
 * Benchmark subject: rst_fill RESULT CTL SIZE_MB.  SIZE_MB MiB of
 * pseudo-random data in one mapping and nothing else of note, so its image
 * is SIZE_MB plus a few hundred KiB.  On the trigger it checks the data.
 */
#include <sys/mman.h>

#include "rst_common.h"

int main(int argc, char **argv)
{
	uint64_t seed = 42, *w, sum = 0, again = 0;
	size_t n, i;

	rst_init(argc, argv, 1, "SIZE_MB");
	n = (strtoul(argv[3], NULL, 0) << 20) / 8;
	w = mmap(NULL, n * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RST_CHECK(w != MAP_FAILED, "mmap");
	for (i = 0; i < n; i++)
		sum += (w[i] = rst_xorshift(&seed)) * (i | 1);
	rst_ready();
	rst_wait_trigger();
	for (i = 0; i < n; i++)
		again += w[i] * (i | 1);
	RST_CHECK(sum == again, "checksum differs");
	rst_pass("fill");
}
