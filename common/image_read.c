// SPDX-License-Identifier: MIT
/*
 * The image reader.  Nothing in a file is trusted: every size is checked
 * against what contains it before it is used, and after decoding
 * (image_read_notes.c), the segment table is recomputed from the notes and
 * must equal the program headers exactly, which catches any disagreement
 * between the two.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clondike/image_read.h"
#include "image_read_priv.h"

static int src_read(const struct cld_src *src, void *buf, size_t len, uint64_t off,
		    struct cld_err *err, const char *what)
{
	ssize_t n;

	if (off > src->size || len > src->size - off)
		return cld_err_set(err, -EBADMSG,
				   "truncated image: %s at %llu+%zu lies beyond its %llu bytes", what,
				   (unsigned long long)off, len, (unsigned long long)src->size);
	n = src->pread(src->ctx, buf, len, off);
	if (n < 0)
		return cld_err_set(err, (int)n, "reading %s: %s", what, strerror((int)-n));
	if ((size_t)n != len)
		return cld_err_set(err, -EBADMSG, "truncated image: short read of %s", what);
	return 0;
}

static int check_phdrs(struct cld_rimage *ri, const Elf64_Phdr *ph, uint32_t phnum,
		       struct cld_err *err)
{
	const struct cld_layout *lo = &ri->layout;
	uint32_t i;

	if (phnum != lo->phnum)
		return cld_err_set(err, -EBADMSG, "%u program headers; the notes imply %u", phnum,
				   lo->phnum);
	for (i = 0; i < lo->nr_segs; i++) {
		const Elf64_Phdr *q = &ph[1 + i];
		const struct cld_seg *s = &lo->segs[i];

		if (q->p_type != PT_LOAD || q->p_vaddr != s->vaddr || q->p_memsz != s->memsz ||
		    q->p_filesz != s->filesz || (q->p_filesz && q->p_offset != s->offset) ||
		    q->p_flags != s->pflags)
			return cld_err_set(err, -EBADMSG,
					   "segment %u (vaddr %#llx, offset %llu, %llu/%llu bytes) disagrees with the mappings and page runs (expected %#llx, %llu, %llu/%llu)",
					   i, (unsigned long long)q->p_vaddr,
					   (unsigned long long)q->p_offset,
					   (unsigned long long)q->p_filesz,
					   (unsigned long long)q->p_memsz,
					   (unsigned long long)s->vaddr,
					   (unsigned long long)s->offset,
					   (unsigned long long)s->filesz,
					   (unsigned long long)s->memsz);
	}
	if (ph[phnum - 1].p_type != PT_NOTE || ph[phnum - 1].p_offset != lo->tail_off ||
	    ph[phnum - 1].p_filesz != lo->tail_size)
		return cld_err_set(err, -EBADMSG,
				   "digest note segment at %llu+%llu; expected %llu+%llu",
				   (unsigned long long)ph[phnum - 1].p_offset,
				   (unsigned long long)ph[phnum - 1].p_filesz,
				   (unsigned long long)lo->tail_off,
				   (unsigned long long)lo->tail_size);
	return 0;
}

static int check_tail(struct cld_rimage *ri, struct cld_err *err)
{
	const struct cld_layout *lo = &ri->layout;
	uint8_t h[40];
	Elf64_Nhdr nh;
	struct cld_digests_hdr dh;
	int ret;

	ret = src_read(&ri->src, h, sizeof(h), lo->tail_off, err, "digest note");
	if (ret)
		return ret;
	memcpy(&nh, h, sizeof(nh));
	memcpy(&dh, h + 24, sizeof(dh));
	if (nh.n_type != CLD_NT_DIGESTS || !rimg_name_is(h + 12, nh.n_namesz, CLD_NOTE_NAME) ||
	    nh.n_descsz != sizeof(dh) + 8 * lo->nr_dumped)
		return cld_err_set(err, -EBADMSG, "bad digest note header (type %#x, %u bytes)",
				   nh.n_type, nh.n_descsz);
	if (dh.rec_size != 8 || dh.algo != CLD_DIGEST_XXH3_64 || dh.count != lo->nr_dumped)
		return cld_err_set(err, -EBADMSG,
				   "digest note: record size %u, algorithm %u, %llu digests for %llu pages",
				   dh.rec_size, dh.algo, (unsigned long long)dh.count,
				   (unsigned long long)lo->nr_dumped);
	ri->digests_off = lo->tail_off + sizeof(h);
	return 0;
}

int cld_rimage_open(const struct cld_src *src, struct cld_rimage **out, struct cld_err *err)
{
	return cld_rimage_open_flags(src, 0, out, err);
}

int cld_rimage_open_flags(const struct cld_src *src, unsigned int flags, struct cld_rimage **out,
			  struct cld_err *err)
{
	struct cld_rimage *ri;
	Elf64_Ehdr eh;
	Elf64_Phdr *ph = NULL;
	uint8_t *notes = NULL;
	uint64_t phnum;
	int ret;

	ri = calloc(1, sizeof(*ri));
	if (!ri)
		return cld_err_set(err, -ENOMEM, "out of memory");
	ri->src = *src;
	ret = src_read(src, &eh, sizeof(eh), 0, err, "ELF header");
	if (ret)
		goto fail;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
		ret = cld_err_set(err, -EBADMSG, "not an ELF file (bad magic)");
		goto fail;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64) {
		ret = cld_err_set(err, -EBADMSG,
				  "wrong architecture: class %u, data %u, machine %u (need x86_64)",
				  eh.e_ident[EI_CLASS], eh.e_ident[EI_DATA], eh.e_machine);
		goto fail;
	}
	if (eh.e_type != ET_CORE || eh.e_version != EV_CURRENT ||
	    eh.e_ident[EI_VERSION] != EV_CURRENT) {
		ret = cld_err_set(err, -EBADMSG, "not an ELF core file (type %u, version %u)",
				  eh.e_type, eh.e_version);
		goto fail;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_ehsize != sizeof(Elf64_Ehdr)) {
		ret = cld_err_set(err, -EBADMSG, "bad ELF header sizes (%u, %u)", eh.e_ehsize,
				  eh.e_phentsize);
		goto fail;
	}
	phnum = eh.e_phnum;
	if (phnum == PN_XNUM) {
		Elf64_Shdr sh;

		if (eh.e_shnum < 1 || eh.e_shentsize != sizeof(sh)) {
			ret = cld_err_set(err, -EBADMSG, "PN_XNUM without a section header");
			goto fail;
		}
		ret = src_read(src, &sh, sizeof(sh), eh.e_shoff, err, "section header 0");
		if (ret)
			goto fail;
		phnum = sh.sh_info;
	}
	if (phnum < 2 || phnum > CLD_MAX_SEGS + 2) {
		ret = cld_err_set(err, -EBADMSG, "absurd program header count %llu",
				  (unsigned long long)phnum);
		goto fail;
	}
	if (eh.e_phoff != sizeof(Elf64_Ehdr)) {
		ret = cld_err_set(err, -EBADMSG, "program headers at %llu, expected %zu",
				  (unsigned long long)eh.e_phoff, sizeof(Elf64_Ehdr));
		goto fail;
	}
	ph = malloc(phnum * sizeof(*ph));
	if (!ph) {
		ret = cld_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	ret = src_read(src, ph, phnum * sizeof(*ph), eh.e_phoff, err, "program headers");
	if (ret)
		goto fail;
	if (ph[0].p_type != PT_NOTE || ph[0].p_filesz > CLD_MAX_NOTES_SIZE ||
	    ph[0].p_filesz < sizeof(Elf64_Nhdr)) {
		ret = cld_err_set(err, -EBADMSG,
				  "first program header is not a note segment of sane size");
		goto fail;
	}
	notes = malloc(ph[0].p_filesz);
	if (!notes) {
		ret = cld_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	ret = src_read(src, notes, ph[0].p_filesz, ph[0].p_offset, err, "note segment");
	if (ret)
		goto fail;
	ret = rimg_decode_notes(notes, ph[0].p_filesz, &ri->proc, err);
	if (ret)
		goto fail;
	ret = cld_layout_compute(&ri->proc, ph[0].p_filesz, &ri->layout, err);
	if (ret)
		goto fail;
	if (ph[0].p_offset != ri->layout.notes_off) {
		ret = cld_err_set(err, -EBADMSG, "note segment at %llu, expected %llu",
				  (unsigned long long)ph[0].p_offset,
				  (unsigned long long)ri->layout.notes_off);
		goto fail;
	}
	if (ri->proc.hdr.nr_segs != ri->layout.nr_segs) {
		ret = cld_err_set(err, -EBADMSG, "header says %u segments, mappings give %u",
				  ri->proc.hdr.nr_segs, ri->layout.nr_segs);
		goto fail;
	}
	ret = check_phdrs(ri, ph, (uint32_t)phnum, err);
	if (ret)
		goto fail;
	if (src->size != ri->layout.size) {
		ret = cld_err_set(err, -EBADMSG,
				  src->size < ri->layout.size ?
					  "truncated image: %llu bytes, its headers describe %llu" :
					  "image of %llu bytes has trailing data after its %llu bytes",
				  (unsigned long long)src->size,
				  (unsigned long long)ri->layout.size);
		goto fail;
	}
	/* Reading the digest note's header can cost a lot where the image is
	 * generated (its neighbours are digests of every page): a caller that
	 * needs no digests checks it when it first reads one, if ever. */
	ret = (flags & CLD_RIMAGE_NO_DIGESTS) ? 0 : check_tail(ri, err);
	if (ret)
		goto fail;
	free(ph);
	free(notes);
	*out = ri;
	return 0;
fail:
	free(ph);
	free(notes);
	cld_rimage_free(ri);
	return ret;
}

static ssize_t fd_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	int fd = (int)(intptr_t)ctx;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int cld_rimage_open_fd(int fd, struct cld_rimage **out, struct cld_err *err)
{
	return cld_rimage_open_fd_flags(fd, 0, out, err);
}

int cld_rimage_open_fd_flags(int fd, unsigned int flags, struct cld_rimage **out,
			     struct cld_err *err)
{
	struct cld_src src = { .pread = fd_pread, .ctx = (void *)(intptr_t)fd };
	struct stat st;

	if (fstat(fd, &st) < 0)
		return cld_err_set(err, -errno, "stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cld_err_set(err, -EINVAL, "not a regular file");
	src.size = (uint64_t)st.st_size;
	return cld_rimage_open_flags(&src, flags, out, err);
}

struct membuf {
	const uint8_t *p;
	size_t len;
};

static ssize_t buf_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	const struct membuf *m = ctx;

	if (off >= m->len)
		return 0;
	if (len > m->len - off)
		len = (size_t)(m->len - off);
	memcpy(buf, m->p + off, len);
	return (ssize_t)len;
}

int cld_rimage_open_buf(const void *buf, size_t len, struct cld_rimage **out, struct cld_err *err)
{
	struct membuf *m = malloc(sizeof(*m));
	struct cld_src src = { .pread = buf_pread, .ctx = m, .size = len };
	int ret;

	if (!m)
		return cld_err_set(err, -ENOMEM, "out of memory");
	m->p = buf;
	m->len = len;
	ret = cld_rimage_open(&src, out, err);
	if (ret) {
		free(m);
		return ret;
	}
	(*out)->src_owned = m;
	return 0;
}

void cld_rimage_free(struct cld_rimage *ri)
{
	if (!ri)
		return;
	free(ri->src_owned);
	cld_proc_release(&ri->proc);
	cld_layout_release(&ri->layout);
	free(ri);
}

int cld_rimage_digest(struct cld_rimage *ri, uint64_t idx, uint64_t *d, struct cld_err *err)
{
	int ret = ri->digests_off ? 0 : check_tail(ri, err);

	if (ret)
		return ret;
	if (idx >= ri->layout.nr_dumped)
		return cld_err_set(err, -ERANGE, "digest %llu of %llu", (unsigned long long)idx,
				   (unsigned long long)ri->layout.nr_dumped);
	return src_read(&ri->src, d, 8, ri->digests_off + 8 * idx, err, "page digest");
}

int cld_rimage_verify(struct cld_rimage *ri, uint64_t *nr_checked, struct cld_err *err)
{
	enum { BATCH = 256 };
	const struct cld_layout *lo = &ri->layout;
	uint8_t *pages = NULL;
	uint64_t *dig = NULL, idx = 0;
	uint32_t i;
	int ret = ri->digests_off ? 0 : check_tail(ri, err);

	*nr_checked = 0;
	if (ret)
		return ret;
	pages = malloc(BATCH * PAGE);
	dig = malloc(BATCH * 8);
	if (!pages || !dig) {
		ret = cld_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < lo->nr_segs; i++) {
		const struct cld_seg *s = &lo->segs[i];
		const struct cld_vma *v = &ri->proc.vmas[s->vma];
		uint32_t j;

		if (!s->filesz)
			continue;
		for (j = 0; j < v->nr_ext; j++) {
			uint64_t a = v->rec.start + v->ext[j].first * PAGE, done = 0;

			if (a < s->vaddr || a >= s->vaddr + s->memsz)
				continue;
			while (done < v->ext[j].count) {
				uint64_t n = v->ext[j].count - done, k;

				if (n > BATCH)
					n = BATCH;
				ret = src_read(&ri->src, pages, n * PAGE,
					       s->offset + (a - s->vaddr) + done * PAGE, err,
					       "page data");
				if (!ret)
					ret = src_read(&ri->src, dig, n * 8,
						       ri->digests_off + 8 * idx, err, "digests");
				if (ret)
					goto out;
				for (k = 0; k < n; k++) {
					if (cld_page_digest(pages + k * PAGE) != dig[k]) {
						ret = cld_err_set(err, -EBADMSG,
								  "page at %#llx (image offset %llu) does not match its digest",
								  (unsigned long long)(a + (done + k) * PAGE),
								  (unsigned long long)(s->offset + (a - s->vaddr) + (done + k) * PAGE));
						goto out;
					}
				}
				done += n;
				idx += n;
				*nr_checked += n;
			}
		}
	}
out:
	free(pages);
	free(dig);
	return ret;
}
