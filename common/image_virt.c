// SPDX-License-Identifier: MIT
/*
 * The virtual image.  An image is computed, never stored: the ELF header,
 * program headers and the first note segment are encoded once when the
 * image is built (their size is O(VMAs + threads)), page data is read from
 * the memory source when someone reads those bytes, and the digest note at
 * the end is filled from a cache that page reads keep warm.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clondike/image.h"
#include "clondike/util.h"
#include "image_priv.h"

/* A run of dumped pages with its place in the image. */
struct img_ext {
	uint64_t vaddr; /* of the first page */
	uint64_t count; /* pages */
	uint64_t off; /* file offset of the first page */
	uint64_t idx; /* image-wide index of the first dumped page */
};

struct cld_image {
	struct cld_proc *p;
	const struct cld_mem_ops *ops;
	void *ctx;
	struct cld_layout lo;
	uint8_t *head; /* ELF header, phdrs, [shdr], first note segment */
	size_t head_len;
	struct img_ext *ext; /* sorted by vaddr and by off */
	size_t nr_ext;
	uint8_t tail_hdr[40]; /* note header + cld_digests_hdr */
	uint64_t *digest; /* nr_dumped digests */
	uint64_t *digest_ok; /* bitmap of computed digests */
};

static void encode_ehdr(struct cld_image *img)
{
	const struct cld_layout *lo = &img->lo;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img->head;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img->head + lo->phoff);
	uint32_t i;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = lo->phoff;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	if (lo->shoff) {
		Elf64_Shdr *sh = (Elf64_Shdr *)(img->head + lo->shoff);

		/* PN_XNUM: the real count lives in section 0's sh_info. */
		eh->e_phnum = PN_XNUM;
		eh->e_shoff = lo->shoff;
		eh->e_shentsize = sizeof(Elf64_Shdr);
		eh->e_shnum = 1;
		sh->sh_info = lo->phnum;
	} else {
		eh->e_phnum = (uint16_t)lo->phnum;
	}

	ph[0].p_type = PT_NOTE;
	ph[0].p_offset = lo->notes_off;
	ph[0].p_filesz = lo->notes_size;
	ph[0].p_align = 4;
	for (i = 0; i < lo->nr_segs; i++) {
		const struct cld_seg *s = &lo->segs[i];
		Elf64_Phdr *q = &ph[1 + i];

		q->p_type = PT_LOAD;
		q->p_flags = s->pflags;
		q->p_offset = s->offset;
		q->p_vaddr = s->vaddr;
		q->p_filesz = s->filesz;
		q->p_memsz = s->memsz;
		q->p_align = PAGE;
	}
	ph[lo->phnum - 1].p_type = PT_NOTE;
	ph[lo->phnum - 1].p_offset = lo->tail_off;
	ph[lo->phnum - 1].p_filesz = lo->tail_size;
	ph[lo->phnum - 1].p_align = 4;
}

static int build_extents(struct cld_image *img, struct cld_err *err)
{
	const struct cld_proc *p = img->p;
	const struct cld_layout *lo = &img->lo;
	uint64_t n = 0;
	uint32_t i, j;

	for (i = 0; i < p->nr_vmas; i++)
		n += p->vmas[i].nr_ext;
	img->ext = calloc(n ? n : 1, sizeof(*img->ext));
	if (!img->ext)
		return cld_err_set(err, -ENOMEM, "out of memory for %llu page runs",
				   (unsigned long long)n);
	n = 0;
	for (i = 0; i < lo->nr_segs; i++) {
		const struct cld_seg *s = &lo->segs[i];
		const struct cld_vma *v = &p->vmas[s->vma];
		uint64_t idx = s->first_dumped;

		if (!s->filesz)
			continue;
		for (j = 0; j < v->nr_ext; j++) {
			uint64_t a = v->rec.start + v->ext[j].first * PAGE;

			if (a < s->vaddr || a >= s->vaddr + s->memsz)
				continue;
			img->ext[n].vaddr = a;
			img->ext[n].count = v->ext[j].count;
			img->ext[n].off = s->offset + (a - s->vaddr);
			img->ext[n].idx = idx;
			idx += v->ext[j].count;
			n++;
		}
	}
	img->nr_ext = n;
	return 0;
}

int cld_image_new(struct cld_proc *p, const struct cld_mem_ops *ops, void *ctx,
		  struct cld_image **out, struct cld_err *err)
{
	struct cld_image *img;
	struct cld_digests_hdr dh = { 8, CLD_DIGEST_XXH3_64, 0 };
	Elf64_Nhdr nh;
	uint8_t *notes = NULL;
	size_t notes_len;
	uint64_t words;
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
	ret = cld_notes_encode(p, &notes, &notes_len, err);
	if (ret)
		goto fail;
	ret = cld_layout_compute(p, notes_len, &img->lo, err);
	if (ret)
		goto fail;
	img->head_len = img->lo.notes_off + notes_len;
	img->head = calloc(1, img->head_len);
	if (!img->head) {
		ret = cld_err_set(err, -ENOMEM, "out of memory for image headers");
		goto fail;
	}
	encode_ehdr(img);
	memcpy(img->head + img->lo.notes_off, notes, notes_len);
	free(notes);
	notes = NULL;
	ret = build_extents(img, err);
	if (ret)
		goto fail;

	nh.n_namesz = sizeof(CLD_NOTE_NAME);
	nh.n_descsz = (uint32_t)(sizeof(dh) + 8 * img->lo.nr_dumped);
	nh.n_type = CLD_NT_DIGESTS;
	if ((uint64_t)sizeof(dh) + 8 * img->lo.nr_dumped > UINT32_MAX) {
		ret = cld_err_set(err, -E2BIG, "too many pages for one digest note");
		goto fail;
	}
	dh.count = img->lo.nr_dumped;
	memcpy(img->tail_hdr, &nh, sizeof(nh));
	memcpy(img->tail_hdr + 12, CLD_NOTE_NAME, sizeof(CLD_NOTE_NAME));
	memcpy(img->tail_hdr + 24, &dh, sizeof(dh));

	words = (img->lo.nr_dumped + 63) / 64;
	img->digest = calloc(img->lo.nr_dumped ? img->lo.nr_dumped : 1, 8);
	img->digest_ok = calloc(words ? words : 1, 8);
	if (!img->digest || !img->digest_ok) {
		ret = cld_err_set(err, -ENOMEM, "out of memory for page digests");
		goto fail;
	}
	*out = img;
	return 0;
fail:
	free(notes);
	cld_image_free(img);
	return ret;
}

void cld_image_free(struct cld_image *img)
{
	if (!img)
		return;
	cld_layout_release(&img->lo);
	free(img->head);
	free(img->ext);
	free(img->digest);
	free(img->digest_ok);
	free(img);
}

const struct cld_layout *cld_image_layout(const struct cld_image *img)
{
	return &img->lo;
}

/* First extent whose data ends after off (by file offset). */
static size_t ext_after(const struct cld_image *img, uint64_t off)
{
	size_t lo = 0, hi = img->nr_ext;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct img_ext *e = &img->ext[mid];

		if (e->off + e->count * PAGE <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline int digest_known(const struct cld_image *img, uint64_t i)
{
	return (img->digest_ok[i / 64] >> (i % 64)) & 1;
}

static inline void digest_store(struct cld_image *img, uint64_t i, uint64_t d)
{
	img->digest[i] = d;
	img->digest_ok[i / 64] |= 1ull << (i % 64);
}

/* Read [off, off+len) lying inside extent e; cache digests of whole pages. */
static int read_ext(struct cld_image *img, const struct img_ext *e, uint8_t *buf, size_t len,
		    uint64_t off)
{
	uint64_t rel = off - e->off;
	uint64_t first, last, pg;
	int ret;

	if (!img->ops || !img->ops->read)
		return -EIO;
	ret = img->ops->read(img->ctx, e->vaddr + rel, buf, len);
	if (ret)
		return ret;
	first = (rel + PAGE - 1) / PAGE;
	last = (rel + len) / PAGE; /* exclusive */
	for (pg = first; pg < last; pg++) {
		uint64_t i = e->idx + pg;

		if (!digest_known(img, i))
			digest_store(img, i, cld_page_digest(buf + (pg * PAGE - rel)));
	}
	return 0;
}

/* Fill digests [first, first+n): batch reads of contiguous unknown pages. */
static int fill_digests(struct cld_image *img, uint64_t first, uint64_t n)
{
	enum { BATCH = 64 };
	uint64_t i = first, end = first + n;
	uint8_t *scratch = NULL;
	int ret = 0;

	while (i < end) {
		size_t lo = 0, hi = img->nr_ext;
		const struct img_ext *e;
		uint64_t k, cnt;

		if (digest_known(img, i)) {
			i++;
			continue;
		}
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (img->ext[mid].idx + img->ext[mid].count <= i)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo >= img->nr_ext) {
			ret = -EIO;
			break;
		}
		e = &img->ext[lo];
		if (!scratch) {
			scratch = malloc(BATCH * PAGE);
			if (!scratch) {
				ret = -ENOMEM;
				break;
			}
		}
		cnt = e->idx + e->count - i;
		if (cnt > BATCH)
			cnt = BATCH;
		if (cnt > end - i)
			cnt = end - i;
		for (k = 1; k < cnt && !digest_known(img, i + k); k++)
			;
		cnt = k;
		ret = read_ext(img, e, scratch, cnt * PAGE, e->off + (i - e->idx) * PAGE);
		if (ret)
			break;
		i += cnt;
	}
	free(scratch);
	return ret;
}

static ssize_t read_tail(struct cld_image *img, uint8_t *buf, size_t len, uint64_t rel)
{
	size_t done = 0;
	int ret;

	if (rel < sizeof(img->tail_hdr)) {
		size_t n = sizeof(img->tail_hdr) - rel;

		if (n > len)
			n = len;
		memcpy(buf, img->tail_hdr + rel, n);
		done = n;
		rel += n;
	}
	if (done < len) {
		uint64_t drel = rel - sizeof(img->tail_hdr);
		uint64_t first = drel / 8, last = (drel + (len - done) + 7) / 8;

		if (last > img->lo.nr_dumped)
			last = img->lo.nr_dumped;
		ret = fill_digests(img, first, last - first);
		if (ret)
			return ret;
		memcpy(buf + done, (uint8_t *)img->digest + drel, len - done);
		done = len;
	}
	return (ssize_t)done;
}

ssize_t cld_image_pread(struct cld_image *img, void *vbuf, size_t len, uint64_t off)
{
	const struct cld_layout *lo = &img->lo;
	uint8_t *buf = vbuf;
	size_t done = 0;

	if (off >= lo->size)
		return 0;
	if (len > lo->size - off)
		len = (size_t)(lo->size - off);
	while (done < len) {
		uint64_t o = off + done;
		size_t want = len - done, n;

		if (o < img->head_len) {
			n = img->head_len - o < want ? img->head_len - o : want;
			memcpy(buf + done, img->head + o, n);
		} else if (o < lo->data_off) {
			n = lo->data_off - o < want ? lo->data_off - o : want;
			memset(buf + done, 0, n);
		} else if (o < lo->tail_off) {
			size_t k = ext_after(img, o);
			uint64_t lim = lo->tail_off;

			if (k < img->nr_ext && img->ext[k].off <= o) {
				const struct img_ext *e = &img->ext[k];
				int ret;

				lim = e->off + e->count * PAGE;
				n = lim - o < want ? lim - o : want;
				ret = read_ext(img, e, buf + done, n, o);
				if (ret)
					return done ? (ssize_t)done : ret;
			} else {
				if (k < img->nr_ext)
					lim = img->ext[k].off;
				n = lim - o < want ? lim - o : want;
				memset(buf + done, 0, n);
			}
		} else {
			ssize_t r = read_tail(img, buf + done, want, o - lo->tail_off);

			if (r < 0)
				return done ? (ssize_t)done : r;
			n = (size_t)r;
		}
		done += n;
	}
	return (ssize_t)done;
}

int64_t cld_image_seek(const struct cld_image *img, int64_t soff, int whence)
{
	const struct cld_layout *lo = &img->lo;
	uint64_t off = (uint64_t)soff;
	size_t k;

	if (soff < 0)
		return -EINVAL;
	if (off >= lo->size)
		return -ENXIO;
	if (whence == SEEK_DATA) {
		if (off < img->head_len || off >= lo->tail_off)
			return soff;
		k = ext_after(img, off);
		if (k < img->nr_ext)
			return (int64_t)(img->ext[k].off > off ? img->ext[k].off : off);
		return (int64_t)lo->tail_off;
	}
	if (whence != SEEK_HOLE)
		return -EINVAL;
	/* Walk forward through adjacent data regions to the first gap. */
	if (off < img->head_len) {
		off = img->head_len;
		if (off < lo->data_off)
			return (int64_t)off;
	}
	if (off >= lo->tail_off)
		return (int64_t)lo->size;
	k = ext_after(img, off);
	while (k < img->nr_ext && img->ext[k].off <= off) {
		off = img->ext[k].off + img->ext[k].count * PAGE;
		k++;
	}
	/* Data running up to the digest note continues to the end. */
	return (int64_t)(off == lo->tail_off ? lo->size : off);
}

int cld_image_write_fd(struct cld_image *img, int fd,
		       void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg,
		       struct cld_err *err)
{
	enum { CHUNK = 1 << 20 };
	const struct cld_layout *lo = &img->lo;
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
