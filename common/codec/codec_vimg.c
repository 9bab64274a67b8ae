// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The virtual image's fixed part.  An image is computed, never stored: the
 * ELF header, program headers and first note segment are encoded once
 * (O(VMAs + threads)), page data is read from the frozen memory when
 * someone reads those bytes (by the host: kmod/cld_image.c,
 * common/image_virt.c), and the digest note at the end is filled from a
 * cache that page reads keep warm.  Shared by clondike.ko and userspace.
 */
#include "codec_env.h"

static void encode_ehdr(struct cld_vimg *v)
{
	const struct cld_layout *lo = &v->lo;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)v->head;
	Elf64_Phdr *ph = (Elf64_Phdr *)(v->head + lo->phoff);
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
		Elf64_Shdr *sh = (Elf64_Shdr *)(v->head + lo->shoff);

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
		q->p_align = CLD_PG;
	}
	ph[lo->phnum - 1].p_type = PT_NOTE;
	ph[lo->phnum - 1].p_offset = lo->tail_off;
	ph[lo->phnum - 1].p_filesz = lo->tail_size;
	ph[lo->phnum - 1].p_align = 4;
}

static int build_runs(struct cld_vimg *v, const struct cld_proc *p, struct cld_err *err)
{
	const struct cld_layout *lo = &v->lo;
	uint64_t n = 0;
	uint32_t i, j;

	for (i = 0; i < p->nr_vmas; i++)
		n += p->vmas[i].nr_ext;
	v->runs = cld_calloc(n ? n : 1, sizeof(*v->runs));
	if (!v->runs)
		return cld_codec_err(err, -ENOMEM, "out of memory for %llu page runs",
				     (unsigned long long)n);
	n = 0;
	for (i = 0; i < lo->nr_segs; i++) {
		const struct cld_seg *s = &lo->segs[i];
		const struct cld_vma *vma = &p->vmas[s->vma];
		uint64_t idx = s->first_dumped;

		if (!s->filesz)
			continue;
		for (j = 0; j < vma->nr_ext; j++) {
			uint64_t a = vma->rec.start + vma->ext[j].first * CLD_PG;

			if (a < s->vaddr || a >= s->vaddr + s->memsz)
				continue;
			v->runs[n].vaddr = a;
			v->runs[n].count = vma->ext[j].count;
			v->runs[n].off = s->offset + (a - s->vaddr);
			v->runs[n].idx = idx;
			idx += vma->ext[j].count;
			n++;
		}
	}
	v->nr_runs = n;
	return 0;
}

/* The digest note's header and an empty cache of its digests. */
static int build_tail(struct cld_vimg *v, struct cld_err *err)
{
	struct cld_digests_hdr dh = { 8, CLD_DIGEST_XXH3_64, v->lo.nr_dumped };
	uint64_t n = v->lo.nr_dumped, words = (n + 63) / 64;
	Elf64_Nhdr nh;

	if ((uint64_t)sizeof(dh) + 8 * n > 0xffffffffu)
		return cld_codec_err(err, -E2BIG, "too many pages for one digest note");
	nh.n_namesz = sizeof(CLD_NOTE_NAME);
	nh.n_descsz = (uint32_t)(sizeof(dh) + 8 * n);
	nh.n_type = CLD_NT_DIGESTS;
	memcpy(v->tail_hdr, &nh, sizeof(nh));
	memcpy(v->tail_hdr + 12, CLD_NOTE_NAME, sizeof(CLD_NOTE_NAME));
	memcpy(v->tail_hdr + 24, &dh, sizeof(dh));

	v->digest = cld_calloc(n ? n : 1, 8);
	v->digest_ok = cld_calloc(words ? words : 1, 8);
	if (!v->digest || !v->digest_ok)
		return cld_codec_err(err, -ENOMEM, "out of memory for page digests");
	return 0;
}

int cld_vimg_build(struct cld_vimg *v, struct cld_proc *p, struct cld_err *err)
{
	struct cld_nbuf notes = { 0 };
	int ret;

	memset(v, 0, sizeof(*v));
	ret = cld_notes_build(p, &notes);
	if (ret == -ENOMEM) {
		ret = cld_codec_err(err, ret, "out of memory encoding notes");
		goto fail;
	} else if (ret) {
		ret = cld_codec_err(err, ret, "notes exceed the %u byte limit", CLD_MAX_NOTES_SIZE);
		goto fail;
	}
	ret = cld_layout_compute(p, notes.len, &v->lo, err);
	if (ret)
		goto fail;
	v->head_len = v->lo.notes_off + notes.len;
	v->head = cld_calloc(1, v->head_len);
	if (!v->head) {
		ret = cld_codec_err(err, -ENOMEM, "out of memory for image headers");
		goto fail;
	}
	encode_ehdr(v);
	memcpy(v->head + v->lo.notes_off, notes.p, notes.len);
	cld_nbuf_release(&notes);
	ret = build_runs(v, p, err);
	if (!ret)
		ret = build_tail(v, err);
	if (ret)
		goto fail;
	return 0;
fail:
	cld_nbuf_release(&notes);
	cld_vimg_release(v);
	return ret;
}

void cld_vimg_release(struct cld_vimg *v)
{
	cld_layout_release(&v->lo);
	cld_free(v->head);
	cld_free(v->runs);
	cld_free(v->digest);
	cld_free(v->digest_ok);
	memset(v, 0, sizeof(*v));
}

/* The first i in [0, n) for which before(ctx, i, key) is false (it is
 * true for a prefix): the one binary search of the layout's lookups. */
static size_t first_not_before(size_t n, const void *ctx, uint64_t key,
			       int (*before)(const void *ctx, size_t i, uint64_t key))
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (before(ctx, mid, key))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int seg_ends_before(const void *ctx, size_t i, uint64_t addr)
{
	const struct cld_seg *s = &((const struct cld_layout *)ctx)->segs[i];

	return s->vaddr + s->memsz <= addr;
}

static int run_ends_before(const void *ctx, size_t i, uint64_t off)
{
	const struct cld_vrun *r = &((const struct cld_vimg *)ctx)->runs[i];

	return r->off + r->count * CLD_PG <= off;
}

static int run_idx_before(const void *ctx, size_t i, uint64_t idx)
{
	const struct cld_vrun *r = &((const struct cld_vimg *)ctx)->runs[i];

	return r->idx + r->count <= idx;
}

const struct cld_seg *cld_layout_seg_at(const struct cld_layout *lo, uint64_t addr)
{
	size_t i = first_not_before(lo->nr_segs, lo, addr, seg_ends_before);

	if (i >= lo->nr_segs || lo->segs[i].vaddr > addr)
		return NULL;
	return &lo->segs[i];
}

size_t cld_vimg_run_after(const struct cld_vimg *v, uint64_t off)
{
	return first_not_before(v->nr_runs, v, off, run_ends_before);
}

size_t cld_vimg_run_of_idx(const struct cld_vimg *v, uint64_t idx)
{
	return first_not_before(v->nr_runs, v, idx, run_idx_before);
}

int cld_vimg_tail(struct cld_vimg *v, uint8_t *out, size_t len, uint64_t rel,
		  int (*fill)(void *ctx, uint64_t first, uint64_t n), void *ctx)
{
	size_t done = 0;

	if (rel < sizeof(v->tail_hdr)) {
		done = sizeof(v->tail_hdr) - rel;
		if (done > len)
			done = len;
		memcpy(out, v->tail_hdr + rel, done);
		rel += done;
	}
	if (done < len) {
		uint64_t drel = rel - sizeof(v->tail_hdr);
		uint64_t first = drel / 8, last = (drel + (len - done) + 7) / 8;
		int ret;

		if (last > v->lo.nr_dumped)
			last = v->lo.nr_dumped;
		ret = fill(ctx, first, last - first);
		if (ret)
			return ret;
		memcpy(out + done, (uint8_t *)v->digest + drel, len - done);
	}
	return 0;
}

int64_t cld_vimg_seek(const struct cld_vimg *v, int64_t soff, int whence)
{
	const struct cld_layout *lo = &v->lo;
	uint64_t off = (uint64_t)soff;
	size_t k;

	if (soff < 0)
		return -EINVAL;
	if (off >= lo->size)
		return -ENXIO;
	if (whence == SEEK_DATA) {
		if (off < v->head_len || off >= lo->tail_off)
			return soff;
		k = cld_vimg_run_after(v, off);
		if (k < v->nr_runs)
			return (int64_t)(v->runs[k].off > off ? v->runs[k].off : off);
		return (int64_t)lo->tail_off;
	}
	if (whence != SEEK_HOLE)
		return -EINVAL;
	/* Walk forward through adjacent data regions to the first gap. */
	if (off < v->head_len) {
		off = v->head_len;
		if (off < lo->data_off)
			return (int64_t)off;
	}
	if (off >= lo->tail_off)
		return (int64_t)lo->size;
	k = cld_vimg_run_after(v, off);
	while (k < v->nr_runs && v->runs[k].off <= off) {
		off = v->runs[k].off + v->runs[k].count * CLD_PG;
		k++;
	}
	/* Data running up to the digest note continues to the end. */
	return (int64_t)(off == lo->tail_off ? lo->size : off);
}
