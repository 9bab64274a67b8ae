// SPDX-License-Identifier: MIT
/* The sealed channel: frames both ways, tampered, replayed, reordered, truncated, foreign. */
#include "test_proto.h"

/* Many frames both ways through one channel pair with the given AEAD. */
static void many_frames(enum cldp_aead aead)
{
	const size_t big = CLDP_READ_MAX + sizeof(struct cldp_hdr);
	uint8_t *buf = malloc(big + CLDP_TAG_BYTES), *want = malloc(big);
	struct side a = { 0 }, b = { 0 };
	unsigned int i;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(want);
	handshake(&a, psk1, &b, psk1);
	force_aead(&a, &b, aead);
	ck_assert_int_eq(auth_exchange(&a, &b), 0);
	for (i = 0; i < 2000; i++) {
		struct side *tx = i % 3 ? &a : &b, *rx = i % 3 ? &b : &a;
		size_t n = i == 1000 ? big : (i * 7919u) % 3000, k;

		for (k = 0; k < n; k++)
			want[k] = (uint8_t)(k * 31 + i);
		memcpy(buf, want, n);
		cldp_seal(&tx->ch, buf, n);
		if (n > 16)
			ck_assert_mem_ne(buf, want, 16); /* really encrypted */
		ck_assert_int_eq(cldp_open(&rx->ch, buf, n + CLDP_TAG_BYTES), 0);
		ck_assert_mem_eq(buf, want, n);
		ck_assert_uint_eq(tx->ch.tx_seq, rx->ch.rx_seq);
	}
	ck_assert_uint_eq(a.ch.tx_seq + b.ch.tx_seq, 2000 + 2);
	side_free(&a);
	side_free(&b);
	free(buf);
	free(want);
}

START_TEST(frames_chacha)
{
	many_frames(CLDP_AEAD_CHACHA20POLY1305);
}
END_TEST

START_TEST(frames_aes)
{
	many_frames(CLDP_AEAD_AES256GCM);
}
END_TEST

/* A pair past AUTH with this AEAD; false when this run does not cover it. */
static int ready_pair(struct side *a, struct side *b, int aead)
{
	if (!in_run(aead))
		return 0;
	handshake(a, psk1, b, psk1);
	force_aead(a, b, (enum cldp_aead)aead);
	ck_assert_int_eq(auth_exchange(a, b), 0);
	return 1;
}

START_TEST(sealed_tamper)
{
	uint8_t frame[100 + CLDP_TAG_BYTES], copy[sizeof(frame)], plain[100];
	struct side a = { 0 }, b = { 0 };
	size_t i;
	int aead, bit;

	for (i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)i;
	for (aead = 0; aead < 2; aead++) {
		if (!ready_pair(&a, &b, aead))
			continue;
		memcpy(frame, plain, sizeof(plain));
		cldp_seal(&a.ch, frame, sizeof(plain));
		for (i = 0; i < sizeof(frame); i++) {
			for (bit = 0; bit < 8; bit += 7) {
				memcpy(copy, frame, sizeof(frame));
				copy[i] ^= (uint8_t)(1u << bit);
				ck_assert_msg(cldp_open(&b.ch, copy, sizeof(copy)) == -EBADMSG,
					      "aead %d: flipped bit %d of byte %zu accepted", aead,
					      bit, i);
				ck_assert_uint_eq(b.ch.rx_seq, 1);
			}
		}
		/* The untouched frame still opens. */
		ck_assert_int_eq(cldp_open(&b.ch, frame, sizeof(frame)), 0);
		ck_assert_mem_eq(frame, plain, sizeof(plain));
		ck_assert_uint_eq(b.ch.rx_seq, 2);
	}
	side_free(&a);
	side_free(&b);
}
END_TEST

START_TEST(sealed_replay_reorder)
{
	uint8_t f[3][64 + CLDP_TAG_BYTES], copy[64 + CLDP_TAG_BYTES];
	struct side a = { 0 }, b = { 0 };
	int aead, i;

	for (aead = 0; aead < 2; aead++) {
		if (!ready_pair(&a, &b, aead))
			continue;
		for (i = 0; i < 3; i++) {
			memset(f[i], 'a' + i, 64);
			cldp_seal(&a.ch, f[i], 64);
		}
		/* Reordered: 1 before 0, 2 before 0. */
		memcpy(copy, f[1], sizeof(copy));
		ck_assert_int_eq(cldp_open(&b.ch, copy, sizeof(copy)), -EBADMSG);
		memcpy(copy, f[2], sizeof(copy));
		ck_assert_int_eq(cldp_open(&b.ch, copy, sizeof(copy)), -EBADMSG);
		ck_assert_uint_eq(b.ch.rx_seq, 1);
		/* In order: fine. */
		memcpy(copy, f[0], sizeof(copy));
		ck_assert_int_eq(cldp_open(&b.ch, copy, sizeof(copy)), 0);
		ck_assert_int_eq(copy[0], 'a');
		/* Replayed: frame 0 again. */
		memcpy(copy, f[0], sizeof(copy));
		ck_assert_int_eq(cldp_open(&b.ch, copy, sizeof(copy)), -EBADMSG);
		/* Dropped frame 1: frame 2 does not open in its place. */
		memcpy(copy, f[2], sizeof(copy));
		ck_assert_int_eq(cldp_open(&b.ch, copy, sizeof(copy)), -EBADMSG);
		memcpy(copy, f[1], sizeof(copy));
		ck_assert_int_eq(cldp_open(&b.ch, copy, sizeof(copy)), 0);
		ck_assert_int_eq(cldp_open(&b.ch, f[2], sizeof(copy)), 0);
		ck_assert_int_eq(f[2][63], 'c');
		ck_assert_uint_eq(b.ch.rx_seq, 4);

		/* Reflected: a frame sent back to its sender does not open. */
		memset(copy, 'r', 64);
		cldp_seal(&a.ch, copy, 64);
		ck_assert_int_eq(cldp_open(&a.ch, copy, sizeof(copy)), -EBADMSG);
	}
	side_free(&a);
	side_free(&b);
}
END_TEST

START_TEST(sealed_truncated)
{
	uint8_t frame[200 + CLDP_TAG_BYTES + 1], copy[sizeof(frame)];
	struct side a = { 0 }, b = { 0 };
	size_t n;
	int aead;

	for (aead = 0; aead < 2; aead++) {
		if (!ready_pair(&a, &b, aead))
			continue;
		memset(frame, 'x', 200);
		cldp_seal(&a.ch, frame, 200);
		for (n = 0; n < 200 + CLDP_TAG_BYTES; n++) {
			memcpy(copy, frame, sizeof(copy));
			ck_assert_msg(cldp_open(&b.ch, copy, n) == -EBADMSG,
				      "aead %d: %zu of %d bytes accepted", aead, n,
				      200 + CLDP_TAG_BYTES);
		}
		/* One byte too many. */
		memcpy(copy, frame, sizeof(copy));
		copy[200 + CLDP_TAG_BYTES] = 0;
		ck_assert_int_eq(cldp_open(&b.ch, copy, 200 + CLDP_TAG_BYTES + 1), -EBADMSG);
		ck_assert_int_eq(cldp_open(&b.ch, frame, 200 + CLDP_TAG_BYTES), 0);

		/* An empty plaintext is just a tag, and it is authenticated. */
		cldp_seal(&a.ch, frame, 0);
		memcpy(copy, frame, CLDP_TAG_BYTES);
		copy[3] ^= 4;
		ck_assert_int_eq(cldp_open(&b.ch, copy, CLDP_TAG_BYTES), -EBADMSG);
		ck_assert_int_eq(cldp_open(&b.ch, frame, CLDP_TAG_BYTES), 0);
	}
	side_free(&a);
	side_free(&b);
}
END_TEST

START_TEST(sealed_foreign)
{
	enum cldp_aead aead = aes_run ? CLDP_AEAD_AES256GCM : CLDP_AEAD_CHACHA20POLY1305;
	uint8_t frame[32 + CLDP_TAG_BYTES];
	struct side a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };

	/* Same key, another session: frames do not cross over. */
	handshake(&a, psk1, &b, psk1);
	handshake(&c, psk1, &d, psk1);
	force_aead(&a, &b, aead);
	force_aead(&c, &d, aead);
	memset(frame, 1, 32);
	cldp_seal(&a.ch, frame, 32);
	ck_assert_int_eq(cldp_open(&d.ch, frame, sizeof(frame)), -EBADMSG);

	/* Sides that disagree on the cipher fail too (needs both). */
	if (aes_run) {
		handshake(&a, psk1, &b, psk1);
		a.ch.aead = CLDP_AEAD_AES256GCM;
		b.ch.aead = CLDP_AEAD_CHACHA20POLY1305;
		memset(frame, 1, 32);
		cldp_seal(&a.ch, frame, 32);
		ck_assert_int_eq(cldp_open(&b.ch, frame, sizeof(frame)), -EBADMSG);
	}
	side_free(&a);
	side_free(&b);
	side_free(&c);
	side_free(&d);
}
END_TEST

/* The sealed channel's cases, with the AEAD of this run (aes_run). */
TCase *proto_sealed_tcase(void)
{
	TCase *ch = tcase_create("sealed");

	tcase_add_checked_fixture(ch, crypto_setup, NULL);
	tcase_set_timeout(ch, 60);
	if (aes_run)
		tcase_add_test(ch, frames_aes);
	else
		tcase_add_test(ch, frames_chacha);
	tcase_add_test(ch, sealed_tamper);
	tcase_add_test(ch, sealed_replay_reorder);
	tcase_add_test(ch, sealed_truncated);
	tcase_add_test(ch, sealed_foreign);
	return ch;
}
