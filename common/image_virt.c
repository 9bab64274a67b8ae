// SPDX-License-Identifier: MIT
/*
 * The virtual image in userspace.  Its fixed part (headers, notes, runs,
 * the digest note) is the shared codec's (common/codec/codec_vimg.c); here
 * page data is read from the memory source when someone reads those bytes,
 * warming the digest cache, and the whole image is written out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clondike/image.h"
#include "clondike/util.h"
#include "image_priv.h"

struct cld_image {
	struct cld_proc *p;
	const struct cld_mem_ops *ops;
	void *ctx;
	struct cld_vimg v; /* headers, runs, digest cache: the shared codec */
};

int cld_image_new(struct cld_proc *p, const struct cld_mem_ops *ops, void *ctx,
		  struct cld_image **out, struct cld_err *err)
{
	struct cld_image *img;
	int ret;

	ret = cld_proc_validate(p, err);
	if (ret)
		return ret;
	img = calloc(1, sizeof(*img));
	if (!img)
		return cld_err_set(err, -ENOMEM, "out of memory");
	img->p = p;
	img->ops = ops;
	img->ctx = ctx;
	ret = cld_vimg_build(&img->v, p, err);
	if (ret) {
		free(img);
		return ret;
	}
	*out = img;
	return 0;
}

void cld_image_free(struct cld_image *img)
{
	if (!img)
		return;
	cld_vimg_release(&img->v);
	free(img);
}

const struct cld_layout *cld_image_layout(const struct cld_image *img)
{
	return &img->v.lo;
}

/* Read [off, off+len) lying inside run r; cache digests of whole pages. */
static int read_run(struct cld_image *img, const struct cld_vrun *r, uint8_t *buf, size_t len,
		    uint64_t off)
{
	uint64_t rel = off - r->off;
	uint64_t first, last, pg;
	int ret;

	if (!img->ops || !img->ops->read)
		return -EIO;
	ret = img->ops->read(img->ctx, r->vaddr + rel, buf, len);
	if (ret)
		return ret;
	first = (rel + PAGE - 1) / PAGE;
	last = (rel + len) / PAGE; /* exclusive */
	for (pg = first; pg < last; pg++) {
		uint64_t i = r->idx + pg;

		if (!cld_vimg_digest_known(&img->v, i))
			cld_vimg_digest_store(&img->v, i, cld_page_digest(buf + (pg * PAGE - rel)));
	}
	return 0;
}

/* Fill digests [first, first+n): batch reads of contiguous unknown pages. */
static int fill_digests(void *ctx, uint64_t first, uint64_t n)
{
	enum { BATCH = 64 };
	struct cld_image *img = ctx;
	uint64_t i = first, end = first + n;
	uint8_t *scratch = NULL;
	int ret = 0;

	while (i < end) {
		const struct cld_vrun *r;
		uint64_t k, cnt;
		size_t at;

		if (cld_vimg_digest_known(&img->v, i)) {
			i++;
			continue;
		}
		at = cld_vimg_run_of_idx(&img->v, i);
		if (at >= img->v.nr_runs) {
			ret = -EIO;
			break;
		}
		r = &img->v.runs[at];
		if (!scratch) {
			scratch = malloc(BATCH * PAGE);
			if (!scratch) {
				ret = -ENOMEM;
				break;
			}
		}
		cnt = r->idx + r->count - i;
		if (cnt > BATCH)
			cnt = BATCH;
		if (cnt > end - i)
			cnt = end - i;
		for (k = 1; k < cnt && !cld_vimg_digest_known(&img->v, i + k); k++)
			;
		cnt = k;
		ret = read_run(img, r, scratch, cnt * PAGE, r->off + (i - r->idx) * PAGE);
		if (ret)
			break;
		i += cnt;
	}
	free(scratch);
	return ret;
}

/* Bytes at o inside the page data: a run's pages, or a hole's zeros. */
static ssize_t read_data(struct cld_image *img, uint8_t *buf, size_t want, uint64_t o)
{
	size_t k = cld_vimg_run_after(&img->v, o);
	uint64_t lim = img->v.lo.tail_off;
	size_t n;
	int ret;

	if (k < img->v.nr_runs && img->v.runs[k].off <= o) {
		const struct cld_vrun *r = &img->v.runs[k];

		lim = r->off + r->count * PAGE;
		n = lim - o < want ? lim - o : want;
		ret = read_run(img, r, buf, n, o);
		return ret ? ret : (ssize_t)n;
	}
	if (k < img->v.nr_runs)
		lim = img->v.runs[k].off;
	n = lim - o < want ? lim - o : want;
	memset(buf, 0, n);
	return (ssize_t)n;
}

ssize_t cld_image_pread(struct cld_image *img, void *vbuf, size_t len, uint64_t off)
{
	const struct cld_layout *lo = &img->v.lo;
	uint8_t *buf = vbuf;
	size_t done = 0;

	if (off >= lo->size)
		return 0;
	if (len > lo->size - off)
		len = (size_t)(lo->size - off);
	while (done < len) {
		uint64_t o = off + done;
		size_t want = len - done;
		ssize_t n;

		if (o < img->v.head_len) {
			n = img->v.head_len - o < want ? img->v.head_len - o : want;
			memcpy(buf + done, img->v.head + o, n);
		} else if (o < lo->data_off) {
			n = lo->data_off - o < want ? lo->data_off - o : want;
			memset(buf + done, 0, n);
		} else if (o < lo->tail_off) {
			n = read_data(img, buf + done, want, o);
		} else {
			int ret = cld_vimg_tail(&img->v, buf + done, want, o - lo->tail_off,
						fill_digests, img);

			n = ret ? ret : (ssize_t)want;
		}
		if (n < 0)
			return done ? (ssize_t)done : n;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int64_t cld_image_seek(const struct cld_image *img, int64_t soff, int whence)
{
	return cld_vimg_seek(&img->v, soff, whence);
}

int cld_image_write_fd(struct cld_image *img, int fd,
		       void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg,
		       struct cld_err *err)
{
	enum { CHUNK = 1 << 20 };
	const struct cld_layout *lo = &img->v.lo;
	int seekable = lseek(fd, 0, SEEK_CUR) >= 0;
	uint64_t off = 0, total = lo->size, data_done = 0;
	uint8_t *buf;
	int ret = 0;

	buf = malloc(CHUNK);
	if (!buf)
		return cld_err_set(err, -ENOMEM, "out of memory");
	while (off < total) {
		uint64_t next;
		ssize_t n;
		size_t want;

		if (seekable) {
			/* Skip holes: the destination stays sparse. */
			int64_t d = cld_image_seek(img, (int64_t)off, SEEK_DATA);

			if (d < 0)
				break;
			off = (uint64_t)d;
			next = (uint64_t)cld_image_seek(img, (int64_t)off, SEEK_HOLE);
		} else {
			next = total;
		}
		want = next - off < CHUNK ? (size_t)(next - off) : CHUNK;
		n = cld_image_pread(img, buf, want, off);
		if (n <= 0) {
			ret = cld_err_set(err, n ? (int)n : -EIO,
					  "reading image at offset %llu: %s",
					  (unsigned long long)off, n ? strerror((int)-n) : "short");
			goto out;
		}
		if (seekable && lseek(fd, (off_t)off, SEEK_SET) < 0) {
			ret = cld_err_set(err, -errno, "seek in output: %s", strerror(errno));
			goto out;
		}
		ret = cld_write_all(fd, buf, (size_t)n);
		if (ret) {
			cld_err_set(err, ret, "writing image: %s", strerror(-ret));
			goto out;
		}
		off += (uint64_t)n;
		data_done += (uint64_t)n;
		if (progress)
			progress(arg, data_done, lo->data_bytes);
	}
	if (seekable && ftruncate(fd, (off_t)total) < 0) {
		/* Not a regular file (a pipe or device): nothing to size. */
		if (errno != EINVAL)
			ret = cld_err_set(err, -errno, "sizing output: %s", strerror(errno));
	}
out:
	free(buf);
	return ret;
}
