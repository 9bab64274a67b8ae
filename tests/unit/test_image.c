// SPDX-License-Identifier: MIT
/* Writer/reader round trips and the virtual image's byte-range behaviour. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clondike/image_read.h"
#include "synth.h"

static struct cld_proc *P;
static uint8_t *B;
static size_t L;
static struct cld_rimage *R;

static void setup(void)
{
	struct cld_err err = { 0 };

	P = synth_proc(3, 0);
	ck_assert_int_eq(synth_image_bytes(P, &B, &L), 0);
	ck_assert_msg(cld_rimage_open_buf(B, L, &R, &err) == 0, "open: %s", cld_err_str(&err));
}

static void teardown(void)
{
	cld_rimage_free(R);
	free(B);
	cld_proc_free(P);
}

START_TEST(rt_header)
{
	const struct cld_hdr *h = &R->proc.hdr;

	ck_assert_mem_eq(h, &P->hdr, sizeof(*h));
	ck_assert_uint_eq(h->nr_threads, 3);
	ck_assert_uint_eq(h->nr_vmas, P->nr_vmas);
	ck_assert_uint_eq(h->nr_dumped, cld_proc_nr_dumped(P));
	ck_assert_str_eq(h->backend, "synth");
	ck_assert_str_eq(h->node, "n1");
}
END_TEST

START_TEST(rt_proc)
{
	ck_assert_mem_eq(&R->proc.proc, &P->proc, sizeof(P->proc));
	ck_assert_str_eq(R->proc.cwd, "/home/user/work");
	ck_assert_str_eq(R->proc.root, "/");
	ck_assert_str_eq(R->proc.exe, "/usr/bin/synth");
}
END_TEST

START_TEST(rt_mm_auxv_psinfo)
{
	ck_assert_mem_eq(&R->proc.mm, &P->mm, sizeof(P->mm));
	ck_assert_mem_eq(R->proc.auxv, P->auxv, P->mm.auxv_len);
	ck_assert_mem_eq(&R->proc.psinfo, &P->psinfo, sizeof(P->psinfo));
}
END_TEST

START_TEST(rt_creds)
{
	ck_assert_mem_eq(&R->proc.creds, &P->creds, sizeof(P->creds));
	ck_assert_mem_eq(R->proc.groups, P->groups, 4 * P->creds.nr_groups);
}
END_TEST

START_TEST(rt_threads)
{
	uint32_t i;

	ck_assert_uint_eq(R->proc.nr_threads, P->nr_threads);
	for (i = 0; i < P->nr_threads; i++) {
		const struct cld_thread *a = &P->threads[i], *b = &R->proc.threads[i];

		ck_assert_mem_eq(&b->prstatus, &a->prstatus, sizeof(a->prstatus));
		ck_assert_mem_eq(b->fpregs, a->fpregs, sizeof(a->fpregs));
		ck_assert_uint_eq(b->xstate_len, a->xstate_len);
		ck_assert_mem_eq(b->xstate, a->xstate, a->xstate_len);
		ck_assert_mem_eq(&b->rec, &a->rec, sizeof(a->rec));
		if (a->rec.nr_queue)
			ck_assert_mem_eq(b->queue, a->queue, sizeof(*a->queue) * a->rec.nr_queue);
	}
}
END_TEST

START_TEST(rt_vmas)
{
	uint32_t i;

	ck_assert_uint_eq(R->proc.nr_vmas, P->nr_vmas);
	for (i = 0; i < P->nr_vmas; i++) {
		const struct cld_vma *a = &P->vmas[i], *b = &R->proc.vmas[i];

		ck_assert_mem_eq(&b->rec, &a->rec, sizeof(a->rec));
		if (a->name)
			ck_assert_str_eq(b->name, a->name);
		else
			ck_assert_ptr_null(b->name);
		ck_assert_uint_eq(b->nr_ext, a->nr_ext);
		if (a->nr_ext)
			ck_assert_mem_eq(b->ext, a->ext, sizeof(*a->ext) * a->nr_ext);
	}
}
END_TEST

START_TEST(rt_fds_pipes)
{
	uint32_t i;

	ck_assert_uint_eq(R->proc.nr_fds, P->nr_fds);
	for (i = 0; i < P->nr_fds; i++) {
		ck_assert_mem_eq(&R->proc.fds[i].rec, &P->fds[i].rec, sizeof(P->fds[i].rec));
		ck_assert_str_eq(R->proc.fds[i].name, P->fds[i].name);
	}
	ck_assert_uint_eq(R->proc.nr_pipes, 1);
	ck_assert_uint_eq(R->proc.pipes[0].ino, 777);
	ck_assert_uint_eq(R->proc.pipes[0].len, 10);
	ck_assert_mem_eq(R->proc.pipes[0].data, "hello pipe", 10);
}
END_TEST

START_TEST(rt_signals)
{
	ck_assert_mem_eq(&R->proc.sig, &P->sig, sizeof(P->sig));
	ck_assert_mem_eq(R->proc.shared_queue, P->shared_queue, sizeof(struct cld_siginfo));
}
END_TEST

START_TEST(rt_dup)
{
	struct cld_err err = { 0 };
	struct cld_proc *q;
	uint8_t *b2;
	size_t l2;

	ck_assert_int_eq(cld_proc_dup(P, &q, &err), 0);
	ck_assert_int_eq(synth_image_bytes(q, &b2, &l2), 0);
	ck_assert_uint_eq(l2, L);
	ck_assert_mem_eq(b2, B, L);
	free(b2);
	cld_proc_free(q);
}
END_TEST

/* Every dumped page's bytes sit where cld_layout_find says. */
START_TEST(page_placement)
{
	uint8_t want[CLD_PAGE_SIZE];
	uint64_t seen = 0;
	uint32_t i, j;

	for (i = 0; i < P->nr_vmas; i++) {
		const struct cld_vma *v = &P->vmas[i];

		for (j = 0; j < v->nr_ext; j++) {
			uint64_t k;

			for (k = 0; k < v->ext[j].count; k++) {
				uint64_t a = v->rec.start + (v->ext[j].first + k) * CLD_PAGE_SIZE;
				uint64_t idx, off;

				ck_assert_int_eq(cld_layout_find(&R->layout, &R->proc, a, &idx, &off), 0);
				ck_assert_uint_eq(off % CLD_PAGE_SIZE, 0);
				ck_assert_uint_eq(idx, seen);
				synth_fill(a, want, sizeof(want));
				ck_assert_mem_eq(B + off, want, sizeof(want));
				seen++;
			}
		}
	}
	ck_assert_uint_eq(seen, R->layout.nr_dumped);
	/* A hole inside the heap's data segment, an empty file page, nothing. */
	ck_assert_int_eq(cld_layout_find(&R->layout, &R->proc, 0x1000000 + 5 * 4096, NULL, NULL),
			 -ENODATA);
	ck_assert_int_eq(cld_layout_find(&R->layout, &R->proc, 0x401000, NULL, NULL), -ENODATA);
	ck_assert_int_eq(cld_layout_find(&R->layout, &R->proc, 0x3000, NULL, NULL), -ENOENT);
}
END_TEST

/* Any byte range read from a fresh image equals the same slice of the whole. */
START_TEST(pread_ranges)
{
	struct cld_err err = { 0 };
	struct cld_image *img;
	uint8_t *buf = malloc(L);
	unsigned int seed = 42, i;

	ck_assert_int_eq(cld_image_new(P, &synth_mem_ops, NULL, &img, &err), 0);
	for (i = 0; i < 2000; i++) {
		uint64_t off = (uint64_t)rand_r(&seed) % L;
		size_t len = (size_t)rand_r(&seed) % (i % 10 ? 9000 : 200000);
		ssize_t n = cld_image_pread(img, buf, len, off);

		if (len > L - off)
			len = L - off;
		ck_assert_int_eq(n, (ssize_t)len);
		ck_assert_mem_eq(buf, B + off, len);
	}
	ck_assert_int_eq(cld_image_pread(img, buf, 10, L), 0);
	cld_image_free(img);
	free(buf);
}
END_TEST

/* Reading the digest note first computes digests of unread pages. */
START_TEST(digests_tail_first)
{
	struct cld_err err = { 0 };
	struct cld_image *img;
	const struct cld_layout *lo;
	uint8_t *tail;
	ssize_t n;

	ck_assert_int_eq(cld_image_new(P, &synth_mem_ops, NULL, &img, &err), 0);
	lo = cld_image_layout(img);
	tail = malloc(lo->tail_size);
	n = cld_image_pread(img, tail, lo->tail_size, lo->tail_off);
	ck_assert_int_eq(n, (ssize_t)lo->tail_size);
	ck_assert_mem_eq(tail, B + lo->tail_off, lo->tail_size);
	free(tail);
	cld_image_free(img);
}
END_TEST

START_TEST(seek_data_hole)
{
	struct cld_err err = { 0 };
	struct cld_image *img;
	uint64_t off, data = 0;
	const struct cld_layout *lo;

	ck_assert_int_eq(cld_image_new(P, &synth_mem_ops, NULL, &img, &err), 0);
	lo = cld_image_layout(img);
	ck_assert_int_eq(cld_image_seek(img, 0, SEEK_DATA), 0);
	ck_assert_int_eq(cld_image_seek(img, (int64_t)lo->size, SEEK_DATA), -ENXIO);
	/* Walk data regions: holes read as zeros, data adds up to data_bytes. */
	off = 0;
	while (off < lo->size) {
		int64_t d = cld_image_seek(img, (int64_t)off, SEEK_DATA), h;
		uint64_t z;

		ck_assert_int_ge(d, (int64_t)off);
		for (z = off; z < (uint64_t)d; z++)
			ck_assert_uint_eq(B[z], 0);
		h = cld_image_seek(img, d, SEEK_HOLE);
		ck_assert_int_gt(h, d);
		data += (uint64_t)(h - d);
		off = (uint64_t)h;
	}
	ck_assert_uint_eq(off, lo->size);
	ck_assert_uint_eq(data, lo->data_bytes);
	cld_image_free(img);
}
END_TEST

START_TEST(write_fd_sparse)
{
	struct cld_err err = { 0 };
	struct cld_image *img;
	char path[] = "/tmp/cld_unit_XXXXXX";
	uint8_t *back = malloc(L);
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(cld_image_new(P, &synth_mem_ops, NULL, &img, &err), 0);
	ck_assert_int_eq(cld_image_write_fd(img, fd, NULL, NULL, &err), 0);
	ck_assert_int_eq(pread(fd, back, L, 0), (ssize_t)L);
	ck_assert_mem_eq(back, B, L);
	cld_image_free(img);
	close(fd);
	free(back);
}
END_TEST

START_TEST(verify_detects_corruption)
{
	struct cld_err err = { 0 };
	struct cld_rimage *r2;
	uint64_t n, off;

	ck_assert_int_eq(cld_rimage_verify(R, &n, &err), 0);
	ck_assert_uint_eq(n, R->layout.nr_dumped);
	ck_assert_int_eq(cld_layout_find(&R->layout, &R->proc, 0x7ffd00010000ull, NULL, &off), 0);
	B[off + 100] ^= 0x40;
	ck_assert_int_eq(cld_rimage_open_buf(B, L, &r2, &err), 0);
	ck_assert_int_eq(cld_rimage_verify(r2, &n, &err), -EBADMSG);
	ck_assert_msg(strstr(err.msg, "0x7ffd00010000"), "message: %s", err.msg);
	cld_rimage_free(r2);
}
END_TEST

static ssize_t img_src_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	return cld_image_pread(ctx, buf, len, off);
}

/* More than 65535 program headers: PN_XNUM, read straight from the
 * virtual image without materializing it. */
START_TEST(many_segments_xnum)
{
	struct cld_proc *p = synth_proc(1, SYNTH_MANY_SEGS | SYNTH_NO_PIPES);
	struct cld_err err = { 0 };
	struct cld_image *img;
	struct cld_rimage *r;
	struct cld_src src;
	uint64_t n;

	ck_assert_int_eq(cld_image_new(p, &synth_mem_ops, NULL, &img, &err), 0);
	ck_assert_uint_gt(cld_image_layout(img)->phnum, 0xffff);
	src.pread = img_src_pread;
	src.ctx = img;
	src.size = cld_image_layout(img)->size;
	ck_assert_msg(cld_rimage_open(&src, &r, &err) == 0, "open: %s", cld_err_str(&err));
	ck_assert_uint_eq(r->layout.phnum, cld_image_layout(img)->phnum);
	ck_assert_int_eq(cld_rimage_verify(r, &n, &err), 0);
	ck_assert_uint_eq(n, cld_proc_nr_dumped(p));
	cld_rimage_free(r);
	cld_image_free(img);
	cld_proc_free(p);
}
END_TEST

START_TEST(writer_rejects_bad_description)
{
	struct cld_proc *p = synth_proc(1, 0);
	struct cld_err err = { 0 };
	struct cld_image *img;

	p->vmas[1].rec.start = p->vmas[0].rec.start; /* overlap */
	ck_assert_int_eq(cld_image_new(p, &synth_mem_ops, NULL, &img, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "overlaps"), "message: %s", err.msg);
	cld_proc_free(p);

	p = synth_proc(1, 0);
	p->vmas[3].ext[2].first = 5000; /* beyond the 1024-page heap */
	ck_assert_int_eq(cld_image_new(p, &synth_mem_ops, NULL, &img, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "outside the mapping"), "message: %s", err.msg);
	cld_proc_free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image");
	TCase *rt = tcase_create("roundtrip");
	TCase *v = tcase_create("virtual");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(rt, setup, teardown);
	tcase_add_test(rt, rt_header);
	tcase_add_test(rt, rt_proc);
	tcase_add_test(rt, rt_mm_auxv_psinfo);
	tcase_add_test(rt, rt_creds);
	tcase_add_test(rt, rt_threads);
	tcase_add_test(rt, rt_vmas);
	tcase_add_test(rt, rt_fds_pipes);
	tcase_add_test(rt, rt_signals);
	tcase_add_test(rt, rt_dup);
	tcase_add_test(rt, page_placement);
	suite_add_tcase(s, rt);

	tcase_add_checked_fixture(v, setup, teardown);
	tcase_set_timeout(v, 120);
	tcase_add_test(v, pread_ranges);
	tcase_add_test(v, digests_tail_first);
	tcase_add_test(v, seek_data_hole);
	tcase_add_test(v, write_fd_sparse);
	tcase_add_test(v, verify_detects_corruption);
	tcase_add_test(v, many_segments_xnum);
	tcase_add_test(v, writer_rejects_bad_description);
	suite_add_tcase(s, v);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
