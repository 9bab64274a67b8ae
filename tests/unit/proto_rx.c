// SPDX-License-Identifier: MIT
/* Frame reassembly: a stream of length-prefixed frames pushed in pieces. */
#include "test_proto.h"

/* A stream of frames of these lengths; body byte k of frame i is (i*7 + k). */
static uint8_t *make_stream(const size_t *lens, size_t nr, size_t *total)
{
	size_t i, k, n = 0;
	uint8_t *s, *p;

	for (i = 0; i < nr; i++)
		n += 4 + lens[i];
	s = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(s);
	p = s;
	for (i = 0; i < nr; i++) {
		uint32_t l = (uint32_t)lens[i];

		memcpy(p, &l, 4);
		p += 4;
		for (k = 0; k < lens[i]; k++)
			*p++ = (uint8_t)(i * 7 + k);
	}
	*total = n;
	return s;
}

static void check_frame(const uint8_t *body, size_t len, size_t i, const size_t *lens)
{
	size_t k;

	ck_assert_uint_eq(len, lens[i]);
	for (k = 0; k < len; k++)
		if (body[k] != (uint8_t)(i * 7 + k))
			ck_abort_msg("frame %zu byte %zu: %u", i, k, body[k]);
}

/* Push the stream in pieces of chunk bytes; every frame must come out. */
static void push_stream(const uint8_t *s, size_t total, size_t chunk, const size_t *lens, size_t nr)
{
	struct cldp_rx rx = { 0 };
	size_t off = 0, got = 0;

	while (off < total) {
		size_t want = total - off < chunk ? total - off : chunk, avail = 0;
		uint8_t *space = cldp_rx_space(&rx, want, &avail), *body;
		size_t len;
		int r;

		ck_assert_ptr_nonnull(space);
		ck_assert_uint_ge(avail, want);
		memcpy(space, s + off, want);
		cldp_rx_commit(&rx, want);
		off += want;
		while ((r = cldp_rx_next(&rx, CLDP_FRAME_MAX, &body, &len)) == 1) {
			ck_assert_uint_lt(got, nr);
			check_frame(body, len, got, lens);
			got++;
		}
		ck_assert_int_eq(r, 0);
	}
	ck_assert_uint_eq(got, nr);
	cldp_rx_free(&rx);
	ck_assert_ptr_null(rx.buf);
}

START_TEST(rx_one_byte_at_a_time)
{
	static const size_t lens[] = { 0, 1, 2, 3, 4, 5, 100, 0, 0, 4096, 300000, 17, 0, 65536, 9 };
	const size_t nr = sizeof(lens) / sizeof(lens[0]);
	size_t total;
	uint8_t *s = make_stream(lens, nr, &total);

	push_stream(s, total, 1, lens, nr);
	push_stream(s, total, 3, lens, nr);
	free(s);
}
END_TEST

START_TEST(rx_big_chunks)
{
	static const size_t lens[] = { 10, CLDP_FRAME_MAX, 0, 5, CLDP_READ_MAX + 32, 1, 2, 300000,
				       3,  CLDP_FRAME_MAX, 4 };
	static const size_t chunks[] = { 4093, 65536, 256 << 10, 1 << 20, 3 << 20, 64 << 20 };
	const size_t nr = sizeof(lens) / sizeof(lens[0]);
	size_t total, i;
	uint8_t *s = make_stream(lens, nr, &total);

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		push_stream(s, total, chunks[i], lens, nr);
	free(s);
}
END_TEST

START_TEST(rx_many_small_frames)
{
	size_t lens[5000], total, i;
	uint8_t *s;

	for (i = 0; i < 5000; i++)
		lens[i] = (i * 37) % 200;
	s = make_stream(lens, 5000, &total);
	push_stream(s, total, 1000, lens, 5000);
	push_stream(s, total, total, lens, 5000);
	free(s);
}
END_TEST

static void rx_push(struct cldp_rx *rx, const void *data, size_t n)
{
	size_t avail;
	uint8_t *space = cldp_rx_space(rx, n, &avail);

	ck_assert_ptr_nonnull(space);
	ck_assert_uint_ge(avail, n);
	memcpy(space, data, n);
	cldp_rx_commit(rx, n);
}

START_TEST(rx_oversized)
{
	struct cldp_rx rx = { 0 };
	uint8_t hdr[4], *body;
	uint32_t l;
	size_t len;

	/* A good frame, then one that announces max + 1. */
	l = 3;
	rx_push(&rx, &l, 4);
	rx_push(&rx, "abc", 3);
	l = 1001;
	memcpy(hdr, &l, 4);
	rx_push(&rx, hdr, 2); /* half a length: more bytes needed */
	ck_assert_int_eq(cldp_rx_next(&rx, 1000, &body, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(body, "abc", 3);
	ck_assert_int_eq(cldp_rx_next(&rx, 1000, &body, &len), 0);
	rx_push(&rx, hdr + 2, 2);
	ck_assert_int_eq(cldp_rx_next(&rx, 1000, &body, &len), -EMSGSIZE);
	ck_assert_int_eq(cldp_rx_next(&rx, 1000, &body, &len), -EMSGSIZE);
	cldp_rx_free(&rx);

	/* Exactly max is fine; a huge length is refused before any body. */
	l = 1000;
	rx_push(&rx, &l, 4);
	ck_assert_int_eq(cldp_rx_next(&rx, 1000, &body, &len), 0);
	{
		uint8_t *p = calloc(1, 1000);

		rx_push(&rx, p, 1000);
		free(p);
	}
	ck_assert_int_eq(cldp_rx_next(&rx, 1000, &body, &len), 1);
	ck_assert_uint_eq(len, 1000);
	l = 0xffffffffu;
	rx_push(&rx, &l, 4);
	ck_assert_int_eq(cldp_rx_next(&rx, CLDP_FRAME_MAX, &body, &len), -EMSGSIZE);
	cldp_rx_free(&rx);

	l = CLDP_FRAME_MAX + 1;
	rx_push(&rx, &l, 4);
	ck_assert_int_eq(cldp_rx_next(&rx, CLDP_FRAME_MAX, &body, &len), -EMSGSIZE);
	cldp_rx_free(&rx);
}
END_TEST

TCase *proto_rx_tcase(void)
{
	TCase *rx = tcase_create("reassembly");

	tcase_set_timeout(rx, 120);
	tcase_add_test(rx, rx_one_byte_at_a_time);
	tcase_add_test(rx, rx_big_chunks);
	tcase_add_test(rx, rx_many_small_frames);
	tcase_add_test(rx, rx_oversized);
	return rx;
}
