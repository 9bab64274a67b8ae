// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the image reader: any byte string is handed to
 * cld_rimage_open_buf(); an accepted image is then walked the way the
 * tools walk it (digest check, page lookups) so that the parts of the
 * reader that trust a validated layout are exercised too.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "clondike/image_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Probe a few addresses of every segment: its first and last page, one
 * byte before and one past it. */
static void probe_layout(const struct cld_rimage *ri)
{
	const struct cld_layout *lo = &ri->layout;
	uint64_t idx, off;
	uint32_t i, step;

	step = lo->nr_segs > 64 ? lo->nr_segs / 64 : 1;
	for (i = 0; i < lo->nr_segs; i += step) {
		const struct cld_seg *s = &lo->segs[i];
		const uint64_t probes[] = { s->vaddr, s->vaddr + s->memsz - 1, s->vaddr - 1,
					    s->vaddr + s->memsz };
		size_t k;

		for (k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
			int r = cld_layout_find(lo, &ri->proc, probes[k], &idx, &off);

			/* A dumped page (its offset is the page's) must lie in the
			 * data area and have a digest. */
			if (r == 0 && (idx >= lo->nr_dumped || off < lo->data_off ||
				       off % CLD_PAGE_SIZE || off + CLD_PAGE_SIZE > lo->tail_off))
				__builtin_trap();
		}
	}
	cld_layout_find(lo, &ri->proc, 0, &idx, &off);
	cld_layout_find(lo, &ri->proc, UINT64_MAX, &idx, &off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cld_rimage *ri = NULL;
	struct cld_err err = { 0 };
	uint64_t checked = 0, d;

	if (cld_rimage_open_buf(data, size, &ri, &err)) {
		/* Every refusal must say why. */
		if (err.code >= 0 || !err.msg[0])
			__builtin_trap();
		return 0;
	}
	probe_layout(ri);
	if (ri->layout.nr_dumped) {
		cld_rimage_digest(ri, 0, &d, &err);
		cld_rimage_digest(ri, ri->layout.nr_dumped - 1, &d, &err);
	}
	cld_rimage_digest(ri, ri->layout.nr_dumped, &d, &err); /* out of range */
	cld_err_clear(&err);
	cld_rimage_verify(ri, &checked, &err);
	cld_rimage_free(ri);
	return 0;
}
