// SPDX-License-Identifier: MIT
/*
 * The note encoder's userspace entry: a struct cld_proc to the first note
 * segment of its image.  The encoding itself is the shared codec's
 * (common/codec/codec_notes.c), which clondike.ko runs too.
 */
#include <errno.h>

#include "clondike/image.h"
#include "image_priv.h"

int cld_notes_encode(struct cld_proc *p, uint8_t **out, size_t *len, struct cld_err *err)
{
	struct cld_nbuf b = { 0 };
	int ret = cld_notes_build(p, &b);

	if (ret) {
		cld_nbuf_release(&b);
		if (ret == -ENOMEM)
			return cld_err_set(err, ret, "out of memory encoding notes");
		return cld_err_set(err, ret, "notes exceed the %u byte limit",
				   CLD_MAX_NOTES_SIZE);
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
