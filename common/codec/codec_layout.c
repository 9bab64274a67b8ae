// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * A process description's release and counts, and its image layout: the
 * segment rule of docs/image-format.md ("Segments"), file offsets, the
 * digest note's size.
 * Shared by clondike.ko and userspace (codec_env.h).
 */
#include "codec_env.h"

void cld_proc_drop(struct cld_proc *p, int thread_bufs)
{
	uint32_t i;

	cld_free(p->cwd);
	cld_free(p->root);
	cld_free(p->exe);
	cld_free(p->groups);
	cld_free(p->auxv);
	cld_free(p->shared_queue);
	for (i = 0; thread_bufs && i < p->nr_threads && p->threads; i++) {
		cld_free(p->threads[i].xstate);
		cld_free(p->threads[i].queue);
	}
	cld_free(p->threads);
	for (i = 0; i < p->nr_vmas && p->vmas; i++) {
		cld_free(p->vmas[i].name);
		cld_free(p->vmas[i].ext);
	}
	cld_free(p->vmas);
	for (i = 0; i < p->nr_fds && p->fds; i++)
		cld_free(p->fds[i].name);
	cld_free(p->fds);
	for (i = 0; i < p->nr_pipes && p->pipes; i++)
		cld_free(p->pipes[i].data);
	cld_free(p->pipes);
	cld_free(p->epolls);
	cld_free(p->timers);
	cld_free(p->guards);
	for (i = 0; i < p->nr_watches && p->watches; i++)
		cld_free(p->watches[i].path);
	cld_free(p->watches);
}

uint64_t cld_proc_nr_dumped(const struct cld_proc *p)
{
	uint64_t n = 0;
	uint32_t i, j;

	for (i = 0; i < p->nr_vmas; i++)
		for (j = 0; j < p->vmas[i].nr_ext; j++)
			n += p->vmas[i].ext[j].count;
	return n;
}

size_t cld_str_len(const char *s)
{
	return s ? strlen(s) : 0;
}

static uint32_t prot_to_pflags(uint32_t prot)
{
	return ((prot & 1) ? PF_R : 0) | ((prot & 2) ? PF_W : 0) | ((prot & 4) ? PF_X : 0);
}

static void seg_set(struct cld_seg *s, const struct cld_vma *v, uint32_t vi, uint64_t first,
		    uint64_t count, int data)
{
	s->vaddr = v->rec.start + first * CLD_PG;
	s->memsz = count * CLD_PG;
	s->filesz = data ? count * CLD_PG : 0;
	s->vma = vi;
	s->pflags = prot_to_pflags(v->rec.prot);
}

/*
 * Emit (or count, when segs is NULL) the segments of one VMA.  Data runs
 * are the extents; in anonymous VMAs, gaps shorter than CLD_ANON_GAP_PAGES
 * are kept inside a data run as holes (they read as zeros, which is what
 * the memory holds), so a sparse heap stays one segment.
 */
static uint32_t vma_segments(const struct cld_vma *v, uint32_t vi, struct cld_seg *segs)
{
	uint64_t npages = (v->rec.end - v->rec.start) / CLD_PG;
	int anon = !(v->rec.flags & CLD_VMA_FILE);
	uint64_t pos = 0; /* next page not yet covered */
	uint32_t n = 0, j = 0;

	while (j < v->nr_ext) {
		uint64_t s = v->ext[j].first, e = s + v->ext[j].count;

		if (s > pos) {
			if (segs)
				seg_set(&segs[n], v, vi, pos, s - pos, 0);
			n++;
		}
		j++;
		while (anon && j < v->nr_ext && v->ext[j].first - e < CLD_ANON_GAP_PAGES) {
			e = v->ext[j].first + v->ext[j].count;
			j++;
		}
		if (segs)
			seg_set(&segs[n], v, vi, s, e - s, 1);
		n++;
		pos = e;
	}
	if (pos < npages) {
		if (segs)
			seg_set(&segs[n], v, vi, pos, npages - pos, 0);
		n++;
	}
	return n;
}

uint64_t cld_count_segments(const struct cld_proc *p)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < p->nr_vmas; i++)
		n += vma_segments(&p->vmas[i], i, NULL);
	return n;
}

uint64_t cld_tail_size(uint64_t nr_dumped)
{
	/* note header (12) + "CLONDIKE\0" padded (12) + cld_digests_hdr + digests */
	return 12 + 12 + sizeof(struct cld_digests_hdr) + 8 * nr_dumped;
}

int cld_layout_compute(const struct cld_proc *p, uint64_t notes_size, struct cld_layout *lo,
		       struct cld_err *err)
{
	uint64_t nsegs = cld_count_segments(p), off, idx = 0;
	uint32_t i, n = 0;

	memset(lo, 0, sizeof(*lo));
	if (nsegs > CLD_MAX_SEGS)
		return cld_codec_err(err, -E2BIG, "%llu segments (limit %u)",
				     (unsigned long long)nsegs, CLD_MAX_SEGS);
	lo->segs = cld_calloc(nsegs ? nsegs : 1, sizeof(*lo->segs));
	if (!lo->segs)
		return cld_codec_err(err, -ENOMEM, "out of memory for %llu segments",
				     (unsigned long long)nsegs);
	for (i = 0; i < p->nr_vmas; i++)
		n += vma_segments(&p->vmas[i], i, lo->segs + n);
	lo->nr_segs = n;
	lo->phnum = n + 2;
	lo->phoff = sizeof(Elf64_Ehdr);
	off = lo->phoff + (uint64_t)lo->phnum * sizeof(Elf64_Phdr);
	if (lo->phnum >= PN_XNUM) {
		lo->shoff = off;
		off += sizeof(Elf64_Shdr);
	}
	lo->notes_off = off;
	lo->notes_size = notes_size;
	off = (off + notes_size + CLD_PG - 1) / CLD_PG * CLD_PG;
	lo->data_off = off;
	lo->data_bytes = lo->notes_off + notes_size;
	for (i = 0; i < n; i++) {
		struct cld_seg *s = &lo->segs[i];
		const struct cld_vma *v = &p->vmas[s->vma];
		uint32_t j;

		s->offset = off;
		s->first_dumped = idx;
		if (!s->filesz)
			continue;
		/* Count the dumped pages inside this data segment. */
		for (j = 0; j < v->nr_ext; j++) {
			uint64_t a = v->rec.start + v->ext[j].first * CLD_PG;

			if (a >= s->vaddr && a < s->vaddr + s->memsz)
				idx += v->ext[j].count;
		}
		off += s->filesz;
	}
	lo->nr_dumped = idx;
	lo->data_bytes += idx * CLD_PG;
	lo->tail_off = off;
	lo->tail_size = cld_tail_size(idx);
	lo->size = off + lo->tail_size;
	lo->data_bytes += lo->tail_size;
	return 0;
}

void cld_layout_release(struct cld_layout *lo)
{
	cld_free(lo->segs);
	memset(lo, 0, sizeof(*lo));
}
