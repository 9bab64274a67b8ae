// SPDX-License-Identifier: MIT
/*
 * The shared image codec (clondike/codec.h, common/codec/) driven the way
 * clondike.ko drives it (kmod/cld_image.c: cld_vimg_build(), then the file
 * generated page by page, runs from memory, the digest note through
 * cld_vimg_tail() with a per-page filler) gives the bytes of the userspace
 * writer's public API (cld_image_new/pread) for the same synthetic task,
 * and both give the bytes the writer gave before the codec was shared.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "clondike/codec.h"
#include "clondike/digest.h"
#include "synth.h"

#define PG 4096u

/*
 * XXH3-64 and size of the synthetic images as the writer produced them
 * before the codec was shared (commit 3a90ee3): the format's bytes did not
 * move.  A deliberate format change (or a change of synth.c) updates them:
 * format 1.1 (thread names, synth's "synth"/"worker-N"), then 1.2 (the
 * header's minor, FDS and PROC records grown; synth sets none of 1.2's
 * fields; the 3-thread image crosses a page with it), then 1.3 (the
 * header's minor).
 */
static const struct {
	unsigned int threads, flags;
	size_t size;
	uint64_t xxh3;
} golden[] = {
	{ 2, 0, 155920, 0x393ed8b739452bdfull },
	{ 3, 0, 160016, 0xc70c5d2ecac25f28ull },
	{ 1, SYNTH_NO_PIPES, 155920, 0xdc92fb822066e2e9ull },
	{ 2, SYNTH_MANY_SEGS, 97812624, 0x4cccea0f15b96f29ull },
};

/* The module's digest filler: one page at a time, from "memory". */
static int kmod_fill(void *ctx, uint64_t first, uint64_t n)
{
	struct cld_vimg *v = ctx;
	uint8_t page[PG];
	uint64_t i;

	for (i = first; i < first + n; i++) {
		const struct cld_vrun *r;
		size_t k;

		if (cld_vimg_digest_known(v, i))
			continue;
		k = cld_vimg_run_of_idx(v, i);
		if (k >= v->nr_runs)
			return -EIO;
		r = &v->runs[k];
		synth_fill(r->vaddr + (i - r->idx) * PG, page, PG);
		cld_vimg_digest_store(v, i, cld_page_digest(page));
	}
	return 0;
}

/* kmod/cld_image.c's cld_gen(): len bytes at off, within one file page. */
static int kmod_gen(struct cld_vimg *v, uint8_t *out, size_t len, uint64_t off)
{
	if (off < v->head_len) {
		size_t n = len < v->head_len - off ? len : v->head_len - off;

		memcpy(out, v->head + off, n);
		memset(out + n, 0, len - n);
		return 0;
	}
	if (off < v->lo.tail_off) {
		size_t k = cld_vimg_run_after(v, off);
		const struct cld_vrun *r = &v->runs[k];

		if (k >= v->nr_runs || r->off > off)
			memset(out, 0, len);
		else
			synth_fill(r->vaddr + (off - r->off), out, len);
		return 0;
	}
	return cld_vimg_tail(v, out, len, off - v->lo.tail_off, kmod_fill, v);
}

/* The whole image the module's way; *len its size. */
static uint8_t *kmod_image(struct cld_vimg *v, size_t *len)
{
	uint8_t *b = malloc(v->lo.size);
	uint64_t off = 0;

	ck_assert_ptr_nonnull(b);
	while (off < v->lo.size) {
		size_t n = PG - off % PG;

		if (n > v->lo.size - off)
			n = v->lo.size - off;
		ck_assert_int_eq(kmod_gen(v, b + off, n, off), 0);
		off += n;
	}
	*len = v->lo.size;
	return b;
}

START_TEST(kmod_path_equals_writer)
{
	struct cld_proc *p = synth_proc(golden[_i].threads, golden[_i].flags);
	struct cld_proc *q = synth_proc(golden[_i].threads, golden[_i].flags);
	struct cld_err err = { 0 };
	struct cld_vimg v;
	uint8_t *w, *k;
	size_t wl, kl;

	ck_assert_int_eq(synth_image_bytes(p, &w, &wl), 0);
	ck_assert_msg(cld_vimg_build(&v, q, &err) == 0, "build: %s", cld_err_str(&err));
	k = kmod_image(&v, &kl);
	ck_assert_uint_eq(kl, wl);
	ck_assert_msg(!memcmp(k, w, wl), "shared encoder and writer differ");
	ck_assert_uint_eq(wl, golden[_i].size);
	ck_assert_msg(XXH3_64bits(w, wl) == golden[_i].xxh3, "image bytes moved: %#llx",
		      (unsigned long long)XXH3_64bits(w, wl));
	/* The description's counts, as the encoder filled them, agree. */
	ck_assert_mem_eq(&q->hdr, &p->hdr, sizeof(p->hdr));
	cld_vimg_release(&v);
	free(w);
	free(k);
	cld_proc_free(p);
	cld_proc_free(q);
}
END_TEST

/* A synthetic task: its writer image (w, wl) and a fresh shared encoding. */
struct pair {
	struct cld_proc *p, *q;
	uint8_t *w;
	size_t wl;
	struct cld_vimg v;
};

static void pair_new(struct pair *x)
{
	struct cld_err err = { 0 };

	x->p = synth_proc(2, 0);
	x->q = synth_proc(2, 0);
	ck_assert_int_eq(synth_image_bytes(x->p, &x->w, &x->wl), 0);
	ck_assert_msg(cld_vimg_build(&x->v, x->q, &err) == 0, "build: %s", cld_err_str(&err));
}

static void pair_free(struct pair *x)
{
	cld_vimg_release(&x->v);
	free(x->w);
	cld_proc_free(x->p);
	cld_proc_free(x->q);
}

/* The digest note read cold in odd pieces, as reads may straddle it. */
START_TEST(tail_in_pieces)
{
	struct pair x;
	uint64_t rel = 0;
	size_t step = 1;
	uint8_t *t;

	pair_new(&x);
	t = calloc(1, x.v.lo.tail_size);
	while (rel < x.v.lo.tail_size) {
		size_t n = x.v.lo.tail_size - rel;

		if (n > step)
			n = step;
		ck_assert_int_eq(cld_vimg_tail(&x.v, t + rel, n, rel, kmod_fill, &x.v), 0);
		rel += n;
		step = step * 3 + 1;
	}
	ck_assert_mem_eq(t, x.w + x.v.lo.tail_off, x.v.lo.tail_size);
	free(t);
	pair_free(&x);
}
END_TEST

/* SEEK_DATA/SEEK_HOLE: every hole reads as zeros, data ends at a hole. */
START_TEST(seek_holes_are_zero)
{
	int64_t off = 0, data, hole = -1;
	struct pair x;

	pair_new(&x);
	ck_assert_int_eq(cld_vimg_seek(&x.v, (int64_t)x.wl, SEEK_DATA), -ENXIO);
	while ((data = cld_vimg_seek(&x.v, off, SEEK_DATA)) >= 0) {
		int64_t i;

		for (i = off; i < data; i++)
			ck_assert_uint_eq(x.w[i], 0);
		hole = cld_vimg_seek(&x.v, data, SEEK_HOLE);
		ck_assert_int_gt(hole, data);
		if ((uint64_t)hole >= x.wl)
			break;
		off = hole;
	}
	ck_assert_int_eq(hole, (int64_t)x.wl);
	pair_free(&x);
}
END_TEST

START_TEST(dump_policy)
{
	ck_assert_int_eq(cld_dump_policy(CLD_VMA_VDSO), CLD_DUMP_ALL);
	ck_assert_int_eq(cld_dump_policy(CLD_VMA_VVAR), CLD_DUMP_NONE);
	ck_assert_int_eq(cld_dump_policy(CLD_VMA_FILE | CLD_VMA_SPECIAL), CLD_DUMP_NONE);
	ck_assert_int_eq(cld_dump_policy(CLD_VMA_SHARED | CLD_VMA_FILE), CLD_DUMP_NONE);
	ck_assert_int_eq(cld_dump_policy(CLD_VMA_SHARED | CLD_VMA_FILE | CLD_VMA_DELETED),
			 CLD_DUMP_ANY);
	ck_assert_int_eq(cld_dump_policy(CLD_VMA_SHARED), CLD_DUMP_ANY);
	ck_assert_int_eq(cld_dump_policy(CLD_VMA_FILE | CLD_VMA_DELETED), CLD_DUMP_ANY);
	ck_assert_int_eq(cld_dump_policy(CLD_VMA_FILE), CLD_DUMP_ANON);
	ck_assert_int_eq(cld_dump_policy(CLD_VMA_HEAP), CLD_DUMP_ANON);
}
END_TEST

/* The module borrows its threads' buffers: dropping leaves them alone. */
START_TEST(drop_borrowed_threads)
{
	struct cld_proc *p = synth_proc(2, 0);
	struct cld_thread *t = p->threads; /* the owner of the buffers */
	uint32_t i, n = p->nr_threads;

	p->threads = calloc(n, sizeof(*t));
	memcpy(p->threads, t, n * sizeof(*t));
	cld_proc_drop(p, 0);
	for (i = 0; i < n; i++) {
		if (t[i].xstate_len)
			t[i].xstate[t[i].xstate_len - 1] ^= 1; /* still ours */
		free(t[i].xstate);
		free(t[i].queue);
	}
	free(t);
	free(p);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, kmod_path_equals_writer, 0, sizeof(golden) / sizeof(golden[0]));
	tcase_add_test(tc, tail_in_pieces);
	tcase_add_test(tc, seek_holes_are_zero);
	tcase_add_test(tc, dump_policy);
	tcase_add_test(tc, drop_borrowed_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
