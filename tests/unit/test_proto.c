// SPDX-License-Identifier: MIT
/* The peer protocol: handshake, sealed channel, frame reassembly, messages. */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clondike/proto.h"

static uint8_t psk1[CLD_KEY_BYTES], psk2[CLD_KEY_BYTES];

static void crypto_setup(void)
{
	size_t i;

	ck_assert_int_eq(cldp_crypto_init(), 0);
	for (i = 0; i < CLD_KEY_BYTES; i++) {
		psk1[i] = (uint8_t)(i + 1);
		psk2[i] = (uint8_t)(i + 1);
	}
	psk2[CLD_KEY_BYTES - 1] ^= 0x80; /* one bit apart */
}

/* A side of a connection after the handshake. */
struct side {
	struct cldp_hs hs;
	struct cldp_chan ch;
};

/* The channel's cipher contexts; a side starts zeroed. */
static void side_free(struct side *s)
{
	cldp_chan_free(&s->ch);
}

/* Both HELLOs exchanged; 0 when both sides accepted the other's. */
static void handshake(struct side *a, const uint8_t *pa, struct side *b, const uint8_t *pb)
{
	struct cld_err err = { 0 };

	side_free(a);
	side_free(b);
	cldp_hs_start(&a->hs, true, "n1", pa);
	cldp_hs_start(&b->hs, false, "n2", pb);
	ck_assert_msg(cldp_hs_finish(&a->hs, &b->hs.mine, sizeof(b->hs.mine), &a->ch, &err) == 0,
		      "initiator: %s", cld_err_str(&err));
	ck_assert_msg(cldp_hs_finish(&b->hs, &a->hs.mine, sizeof(a->hs.mine), &b->ch, &err) == 0,
		      "acceptor: %s", cld_err_str(&err));
}

static int aes_ok(void)
{
	return crypto_aead_aes256gcm_is_available();
}

/*
 * Which AEAD a run covers: ChaCha20-Poly1305 by default (every CPU has it),
 * AES-256-GCM with --aes.  That run is a CTest test of its own
 * (unit.test_proto_aes) which, on a CPU without AES-NI, reports skipped
 * instead of passing with nothing tested.
 */
static bool aes_run;

static bool in_run(int aead)
{
	return aead == (aes_run ? CLDP_AEAD_AES256GCM : CLDP_AEAD_CHACHA20POLY1305);
}

static void force_aead(struct side *a, struct side *b, enum cldp_aead aead)
{
	a->ch.aead = aead;
	b->ch.aead = aead;
}

/* hdr + payload sealed into out (room for len + header + tag); sealed size. */
static size_t seal_msg(struct cldp_chan *ch, uint16_t type, uint16_t flags, uint32_t id,
		       const void *payload, uint32_t len, uint8_t *out)
{
	struct cldp_hdr h = { .type = type, .flags = flags, .id = id, .len = len };

	memcpy(out, &h, sizeof(h));
	if (len)
		memcpy(out + sizeof(h), payload, len);
	cldp_seal(ch, out, sizeof(h) + len);
	return sizeof(h) + len + CLDP_TAG_BYTES;
}

/* Each side proves it has the key: AUTH both ways; returns what B's open
 * of A's AUTH gave (0 or -EBADMSG). */
static int auth_exchange(struct side *a, struct side *b)
{
	uint8_t buf[sizeof(struct cldp_hdr) + 32 + CLDP_TAG_BYTES];
	struct cld_err err = { 0 };
	size_t n;
	int r;

	n = seal_msg(&a->ch, CLDP_AUTH, 0, 0, a->hs.transcript, 32, buf);
	r = cldp_open(&b->ch, buf, n);
	if (r)
		return r;
	ck_assert_int_eq(cldp_msg_check(buf, n - CLDP_TAG_BYTES, &err), 0);
	ck_assert_mem_eq(buf + sizeof(struct cldp_hdr), b->hs.transcript, 32);

	n = seal_msg(&b->ch, CLDP_AUTH, 0, 0, b->hs.transcript, 32, buf);
	r = cldp_open(&a->ch, buf, n);
	if (r)
		return r;
	ck_assert_mem_eq(buf + sizeof(struct cldp_hdr), a->hs.transcript, 32);
	return 0;
}

START_TEST(wire_sizes)
{
	ck_assert_uint_eq(sizeof(struct cldp_hello), 136);
	ck_assert_uint_eq(sizeof(struct cldp_hdr), 16);
	ck_assert_uint_eq(sizeof(struct cldp_pentry), 48);
	ck_assert_uint_eq(sizeof(struct cldp_pid_req), 24);
	ck_assert_uint_eq(sizeof(struct cldp_read_req), 24);
	ck_assert_uint_eq(sizeof(struct cldp_seek_req), 24);
	ck_assert_uint_eq(sizeof(struct cldp_open_resp), 48);
	ck_assert_uint_eq(sizeof(struct cldp_xattr_req), 80);
}
END_TEST

START_TEST(hs_same_psk)
{
	struct side a = { 0 }, b = { 0 };

	handshake(&a, psk1, &b, psk1);
	ck_assert_mem_eq(a.hs.transcript, b.hs.transcript, 32);
	ck_assert_mem_eq(a.ch.tx_key, b.ch.rx_key, 32);
	ck_assert_mem_eq(a.ch.rx_key, b.ch.tx_key, 32);
	ck_assert_mem_ne(a.ch.tx_key, a.ch.rx_key, 32);
	ck_assert_int_eq(a.ch.aead, b.ch.aead);
	ck_assert_int_eq(a.ch.aead, aes_ok() ? CLDP_AEAD_AES256GCM : CLDP_AEAD_CHACHA20POLY1305);
	ck_assert_uint_eq(a.ch.tx_seq, 0);
	ck_assert_uint_eq(a.ch.rx_seq, 0);
	ck_assert_str_eq(a.hs.theirs.node, "n2");
	ck_assert_str_eq(b.hs.theirs.node, "n1");
	ck_assert_int_eq(memcmp(a.hs.mine.magic, CLDP_MAGIC, 4), 0);
	ck_assert_uint_eq(a.hs.mine.version, CLDP_VERSION);
	ck_assert_int_eq(auth_exchange(&a, &b), 0);

	/* A second session with the same key has other keys. */
	{
		struct side c = { 0 }, d = { 0 };

		handshake(&c, psk1, &d, psk1);
		ck_assert_mem_ne(c.ch.tx_key, a.ch.tx_key, 32);
		ck_assert_mem_ne(c.hs.transcript, a.hs.transcript, 32);
		side_free(&c);
		side_free(&d);
	}
	side_free(&a);
	side_free(&b);
}
END_TEST

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

START_TEST(hs_wrong_psk)
{
	struct side a = { 0 }, b = { 0 };
	int aead;

	for (aead = 0; aead < 2; aead++) {
		if (!in_run(aead))
			continue;
		/* The HELLOs are plaintext: both sides accept them... */
		handshake(&a, psk1, &b, psk2);
		force_aead(&a, &b, (enum cldp_aead)aead);
		ck_assert_mem_eq(a.hs.transcript, b.hs.transcript, 32);
		ck_assert_mem_ne(a.ch.tx_key, b.ch.rx_key, 32);
		/* ...but the AUTH frame does not open, either way. */
		ck_assert_int_eq(auth_exchange(&a, &b), -EBADMSG);
		ck_assert_uint_eq(b.ch.rx_seq, 0);
		handshake(&a, psk2, &b, psk1);
		force_aead(&a, &b, (enum cldp_aead)aead);
		ck_assert_int_eq(auth_exchange(&b, &a), -EBADMSG);
	}
	side_free(&a);
	side_free(&b);
}
END_TEST

static int finish_with(struct cldp_hs *hs, const void *hello, size_t len, struct cld_err *err)
{
	struct cldp_chan ch;

	cld_err_clear(err);
	return cldp_hs_finish(hs, hello, len, &ch, err);
}

START_TEST(hs_version)
{
	struct cldp_hs a, b;
	struct cldp_hello h;
	struct cld_err err = { 0 };

	cldp_hs_start(&a, true, "n1", psk1);
	cldp_hs_start(&b, false, "n2", psk1);
	h = b.mine;
	h.version = CLDP_VERSION + 1;
	ck_assert_int_eq(finish_with(&a, &h, sizeof(h), &err), -EPROTONOSUPPORT);
	ck_assert_int_eq(err.code, -EPROTONOSUPPORT);
	ck_assert_msg(strstr(err.msg, "version"), "message: %s", err.msg);
	h.version = 0;
	ck_assert_int_eq(finish_with(&a, &h, sizeof(h), &err), -EPROTONOSUPPORT);
	/* Another version may have another HELLO: the version counts first. */
	h.version = 7;
	ck_assert_int_eq(finish_with(&a, &h, 6, &err), -EPROTONOSUPPORT);
	ck_assert_int_eq(finish_with(&a, &h, sizeof(h) + 40, &err), -EPROTONOSUPPORT);
}
END_TEST

START_TEST(hs_bad_hello)
{
	struct cldp_hs a, b;
	struct cldp_hello h;
	struct cld_err err = { 0 };
	uint8_t big[sizeof(h) + 1];
	size_t n;

	cldp_hs_start(&a, true, "n1", psk1);
	cldp_hs_start(&b, false, "n2", psk1);

	h = b.mine;
	memcpy(h.magic, "CLDX", 4);
	ck_assert_int_eq(finish_with(&a, &h, sizeof(h), &err), -EPROTO);
	ck_assert_int_eq(err.code, -EPROTO);
	memcpy(h.magic, "HTTP", 4);
	ck_assert_int_eq(finish_with(&a, &h, sizeof(h), &err), -EPROTO);

	/* Short or long: every length but the right one. */
	h = b.mine;
	for (n = 0; n < sizeof(h); n++)
		ck_assert_msg(finish_with(&a, &h, n, &err) == -EPROTO, "HELLO of %zu bytes", n);
	memcpy(big, &h, sizeof(h));
	big[sizeof(h)] = 0;
	ck_assert_int_eq(finish_with(&a, big, sizeof(big), &err), -EPROTO);

	/* Node names: terminated and valid. */
	h = b.mine;
	memset(h.node, 'x', sizeof(h.node));
	ck_assert_int_eq(finish_with(&a, &h, sizeof(h), &err), -EPROTO);
	memset(h.node, 0, sizeof(h.node));
	ck_assert_int_eq(finish_with(&a, &h, sizeof(h), &err), -EPROTO);
	strcpy(h.node, "..");
	ck_assert_int_eq(finish_with(&a, &h, sizeof(h), &err), -EPROTO);
	strcpy(h.node, "a/b");
	ck_assert_int_eq(finish_with(&a, &h, sizeof(h), &err), -EPROTO);

	/* A key share that makes the shared secret all zeros. */
	h = b.mine;
	memset(h.epk, 0, sizeof(h.epk));
	ck_assert_int_eq(finish_with(&a, &h, sizeof(h), &err), -EPROTO);

	/* After all that, the real HELLO still works. */
	cldp_hs_start(&a, true, "n1", psk1);
	ck_assert_int_eq(finish_with(&a, &b.mine, sizeof(b.mine), &err), 0);
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

/* ---- Frame reassembly ---------------------------------------------------- */

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

/* ---- Messages ------------------------------------------------------------ */

static uint8_t *msg_buf;

static void msg_setup(void)
{
	msg_buf = calloc(1, sizeof(struct cldp_hdr) + CLDP_READ_MAX + 64);
	ck_assert_ptr_nonnull(msg_buf);
}

static void msg_teardown(void)
{
	free(msg_buf);
}

/* Build hdr + len zero bytes (or payload) in msg_buf; check it. */
static int check(uint16_t type, uint16_t flags, int32_t status, uint32_t len, const void *payload,
		 struct cld_err *err)
{
	struct cldp_hdr h = {
		.type = type, .flags = flags, .id = 42, .status = status, .len = len
	};

	memcpy(msg_buf, &h, sizeof(h));
	if (payload)
		memcpy(msg_buf + sizeof(h), payload, len);
	else
		memset(msg_buf + sizeof(h), 0, len);
	cld_err_clear(err);
	return cldp_msg_check(msg_buf, sizeof(h) + len, err);
}

#define OK(type, flags, status, len, payload)                                                  \
	ck_assert_msg(check(type, flags, status, len, payload, &err) == 0, "%s %s len %u: %s", \
		      cldp_type_name(type), (flags) ? "resp" : "req", (unsigned int)(len),     \
		      cld_err_str(&err))
#define BAD(type, flags, status, len, payload)                                           \
	do {                                                                             \
		ck_assert_msg(check(type, flags, status, len, payload, &err) == -EPROTO, \
			      "%s %s len %u accepted", cldp_type_name(type),             \
			      (flags) ? "resp" : "req", (unsigned int)(len));            \
		ck_assert_int_eq(err.code, -EPROTO);                                     \
		ck_assert(err.msg[0]);                                                   \
	} while (0)

START_TEST(msg_good)
{
	struct cld_err err = { 0 };
	struct cldp_read_req rr = { .handle = 1, .off = 0, .len = CLDP_READ_MAX };
	struct cldp_xattr_req xr = { .pid = 1, .name = "state" };
	struct cldp_migrate_req mr = { .pid = 1, .target = "n2" };

	/* Requests. */
	OK(CLDP_AUTH, 0, 0, 32, NULL);
	OK(CLDP_PING, 0, 0, 8, NULL);
	OK(CLDP_LIST, 0, 0, sizeof(struct cldp_cred), NULL);
	OK(CLDP_STAT, 0, 0, sizeof(struct cldp_pid_req), NULL);
	OK(CLDP_OPEN, 0, 0, sizeof(struct cldp_pid_req), NULL);
	OK(CLDP_READ, 0, 0, sizeof(rr), &rr);
	OK(CLDP_SEEK, 0, 0, sizeof(struct cldp_seek_req), NULL);
	OK(CLDP_CLOSE, 0, 0, 8, NULL);
	OK(CLDP_XATTR, 0, 0, sizeof(xr), &xr);
	OK(CLDP_MIGRATE, 0, 0, sizeof(mr), &mr);
	OK(CLDP_RESTORE, 0, 0, sizeof(struct cldp_restore_req), NULL);

	/* Responses. */
	OK(CLDP_PING, CLDP_F_RESP, 0, 8, NULL);
	OK(CLDP_LIST, CLDP_F_RESP, 0, 0, NULL);
	OK(CLDP_LIST, CLDP_F_RESP, 0, sizeof(struct cldp_pentry), NULL);
	OK(CLDP_LIST, CLDP_F_RESP, 0, 1000 * sizeof(struct cldp_pentry), NULL);
	OK(CLDP_STAT, CLDP_F_RESP, 0, sizeof(struct cldp_pentry), NULL);
	OK(CLDP_OPEN, CLDP_F_RESP, 0, sizeof(struct cldp_open_resp), NULL);
	OK(CLDP_READ, CLDP_F_RESP, 0, 0, NULL);
	OK(CLDP_READ, CLDP_F_RESP, 0, 4096, NULL);
	OK(CLDP_READ, CLDP_F_RESP, 0, CLDP_READ_MAX, NULL);
	OK(CLDP_SEEK, CLDP_F_RESP, 0, 8, NULL);
	OK(CLDP_XATTR, CLDP_F_RESP, 0, 0, NULL);
	OK(CLDP_XATTR, CLDP_F_RESP, 0, 2, "up");
	OK(CLDP_MIGRATE, CLDP_F_RESP, 0, sizeof(struct cldp_migrate_resp), NULL);
	OK(CLDP_RESTORE, CLDP_F_RESP, 0, sizeof(struct cldp_migrate_resp), NULL);
	OK(CLDP_RESTORE, CLDP_F_RESP, -EOPNOTSUPP, 0, NULL);

	/* Error responses carry nothing. */
	OK(CLDP_STAT, CLDP_F_RESP, -ESRCH, 0, NULL);
	OK(CLDP_OPEN, CLDP_F_RESP, -EACCES, 0, NULL);
	OK(CLDP_READ, CLDP_F_RESP, -EIO, 0, NULL);
	OK(CLDP_XATTR, CLDP_F_RESP, -ENODATA, 0, NULL);
	OK(CLDP_SEEK, CLDP_F_RESP, -ENXIO, 0, NULL);
}
END_TEST

START_TEST(msg_bad)
{
	struct cld_err err = { 0 };
	struct cldp_read_req rr = { .handle = 1, .len = CLDP_READ_MAX + 1 };
	struct cldp_xattr_req xr;
	struct cldp_hdr h = { .type = CLDP_PING, .len = 8 };
	static const uint32_t req[CLDP_TYPE_MAX] = {
		[CLDP_AUTH] = 32,
		[CLDP_PING] = 8,
		[CLDP_LIST] = sizeof(struct cldp_cred),
		[CLDP_STAT] = sizeof(struct cldp_pid_req),
		[CLDP_OPEN] = sizeof(struct cldp_pid_req),
		[CLDP_READ] = sizeof(struct cldp_read_req),
		[CLDP_SEEK] = sizeof(struct cldp_seek_req),
		[CLDP_CLOSE] = 8,
		[CLDP_XATTR] = sizeof(struct cldp_xattr_req),
		[CLDP_MIGRATE] = sizeof(struct cldp_migrate_req),
		[CLDP_RESTORE] = sizeof(struct cldp_restore_req),
		[CLDP_SIGNAL] = sizeof(struct cldp_signal_req),
		[CLDP_GUEST] = sizeof(struct cldp_guest_req),
		[CLDP_FWD_DATA] = sizeof(struct cldp_fwd_hdr),
		[CLDP_FWD_ACK] = sizeof(struct cldp_fwd_ack),
		[CLDP_FWD_TTY] = sizeof(struct cldp_fwd_tty),
	};
	struct cldp_fwd_hdr fh = { .chan = 1, .flags = 0x8 };
	struct cldp_restore_req rs;
	struct cldp_migrate_req mr;
	size_t n;
	unsigned int t;

	/* No header, or a header whose length disagrees with the frame. */
	for (n = 0; n < sizeof(struct cldp_hdr); n++) {
		memset(msg_buf, 0, sizeof(struct cldp_hdr));
		ck_assert_int_eq(cldp_msg_check(msg_buf, n, &err), -EPROTO);
	}
	memcpy(msg_buf, &h, sizeof(h));
	ck_assert_int_eq(cldp_msg_check(msg_buf, sizeof(h) + 8, &err), 0);
	ck_assert_int_eq(cldp_msg_check(msg_buf, sizeof(h) + 7, &err), -EPROTO);
	ck_assert_int_eq(cldp_msg_check(msg_buf, sizeof(h) + 9, &err), -EPROTO);
	ck_assert_int_eq(cldp_msg_check(msg_buf, sizeof(h), &err), -EPROTO);

	/* Unknown types and flags. */
	BAD(0, 0, 0, 8, NULL);
	BAD(CLDP_TYPE_MAX, 0, 0, 8, NULL);
	BAD(0xffff, 0, 0, 8, NULL);
	BAD(CLDP_PING, 0x2, 0, 8, NULL);
	BAD(CLDP_PING, 0x8000 | CLDP_F_RESP, 0, 8, NULL);

	/* Every request type: one byte short, one byte over, a status. */
	for (t = 1; t < CLDP_TYPE_MAX; t++) {
		BAD(t, 0, 0, req[t] - 1, NULL);
		if (t != CLDP_FWD_DATA) /* a header and its bytes */
			BAD(t, 0, 0, req[t] + 1, NULL);
		BAD(t, 0, -EIO, req[t], NULL);
		OK(t, 0, 0, req[t], NULL);
	}
	BAD(CLDP_READ, 0, 0, sizeof(rr), &rr); /* reads too much */
	memset(&xr, 'x', sizeof(xr));
	BAD(CLDP_XATTR, 0, 0, sizeof(xr), &xr); /* name not terminated */
	memset(&mr, 'x', sizeof(mr));
	BAD(CLDP_MIGRATE, 0, 0, sizeof(mr), &mr); /* target not terminated */
	BAD(CLDP_MIGRATE, CLDP_F_RESP, 0, sizeof(struct cldp_migrate_resp) - 1, NULL);
	/* Forwarded bytes: up to a chunk, known flags; a bounded fd table. */
	OK(CLDP_FWD_DATA, 0, 0, sizeof(fh) + CLDP_FWD_CHUNK_MAX, NULL);
	BAD(CLDP_FWD_DATA, 0, 0, sizeof(fh) + CLDP_FWD_CHUNK_MAX + 1, NULL);
	BAD(CLDP_FWD_DATA, 0, 0, sizeof(fh), &fh);
	BAD(CLDP_FWD_DATA, CLDP_F_RESP, 0, 0, NULL);
	BAD(CLDP_FWD_ACK, CLDP_F_RESP, 0, 0, NULL);
	BAD(CLDP_FWD_TTY, CLDP_F_RESP, 0, 0, NULL);
	memset(&rs, 0, sizeof(rs));
	rs.nr_fwd = CLDP_FWD_MAX;
	OK(CLDP_RESTORE, 0, 0, sizeof(rs), &rs);
	rs.nr_fwd = CLDP_FWD_MAX + 1;
	BAD(CLDP_RESTORE, 0, 0, sizeof(rs), &rs);

	/* Responses of the wrong size. */
	BAD(CLDP_PING, CLDP_F_RESP, 0, 7, NULL);
	BAD(CLDP_PING, CLDP_F_RESP, 0, 0, NULL);
	BAD(CLDP_SEEK, CLDP_F_RESP, 0, 16, NULL);
	BAD(CLDP_LIST, CLDP_F_RESP, 0, sizeof(struct cldp_pentry) + 1, NULL);
	BAD(CLDP_LIST, CLDP_F_RESP, 0, sizeof(struct cldp_pentry) - 1, NULL);
	BAD(CLDP_STAT, CLDP_F_RESP, 0, 0, NULL);
	BAD(CLDP_STAT, CLDP_F_RESP, 0, 2 * sizeof(struct cldp_pentry), NULL);
	BAD(CLDP_OPEN, CLDP_F_RESP, 0, sizeof(struct cldp_open_resp) - 1, NULL);
	BAD(CLDP_READ, CLDP_F_RESP, 0, CLDP_READ_MAX + 1, NULL);
	BAD(CLDP_XATTR, CLDP_F_RESP, 0, 4097, NULL);
	/* A signal's and a guest's news are answered by a status alone. */
	OK(CLDP_SIGNAL, CLDP_F_RESP, 0, 0, NULL);
	OK(CLDP_GUEST, CLDP_F_RESP, -ESRCH, 0, NULL);
	BAD(CLDP_SIGNAL, CLDP_F_RESP, 0, 4, NULL);
	BAD(CLDP_GUEST, CLDP_F_RESP, 0, 16, NULL);
	/* Messages that have no response. */
	BAD(CLDP_AUTH, CLDP_F_RESP, 0, 32, NULL);
	BAD(CLDP_CLOSE, CLDP_F_RESP, 0, 0, NULL);
	BAD(CLDP_CLOSE, CLDP_F_RESP, 0, 8, NULL);
	/* Statuses: errors carry nothing; no positive statuses. */
	BAD(CLDP_STAT, CLDP_F_RESP, -ESRCH, sizeof(struct cldp_pentry), NULL);
	BAD(CLDP_READ, CLDP_F_RESP, 1, 0, NULL);
	BAD(CLDP_READ, CLDP_F_RESP, -5000, 0, NULL);
}
END_TEST

START_TEST(type_names)
{
	ck_assert_str_eq(cldp_type_name(CLDP_AUTH), "AUTH");
	ck_assert_str_eq(cldp_type_name(CLDP_READ), "READ");
	ck_assert_str_eq(cldp_type_name(CLDP_XATTR), "XATTR");
	ck_assert_str_eq(cldp_type_name(CLDP_SIGNAL), "SIGNAL");
	ck_assert_str_eq(cldp_type_name(CLDP_GUEST), "GUEST");
	ck_assert_str_eq(cldp_type_name(0), "?");
	ck_assert_str_eq(cldp_type_name(CLDP_TYPE_MAX), "?");
	ck_assert_str_eq(cldp_type_name(100000), "?");
}
END_TEST

/* test_proto --aes: the cases that use AES-256-GCM, as a test of their own. */
static int aes_main(void)
{
	Suite *s = suite_create("proto-aes");
	TCase *hs = tcase_create("handshake");
	TCase *ch = tcase_create("sealed");
	SRunner *sr;
	int failed;

	if (cldp_crypto_init()) {
		fprintf(stderr, "test_proto --aes: sodium_init failed\n");
		return 1;
	}
	if (!aes_ok()) {
		printf("SKIPPED: the AES-256-GCM cases need AES-NI, which this CPU lacks "
		       "(crypto_aead_aes256gcm_is_available() is 0)\n");
		fprintf(stderr, "test_proto --aes: SKIPPED: no AES-NI on this CPU\n");
		return 77; /* CTest's SKIP_RETURN_CODE (tests/unit/CMakeLists.txt) */
	}
	aes_run = true;
	tcase_add_checked_fixture(hs, crypto_setup, NULL);
	tcase_add_test(hs, hs_same_psk);
	tcase_add_test(hs, hs_wrong_psk);
	suite_add_tcase(s, hs);

	tcase_add_checked_fixture(ch, crypto_setup, NULL);
	tcase_set_timeout(ch, 60);
	tcase_add_test(ch, frames_aes);
	tcase_add_test(ch, sealed_tamper);
	tcase_add_test(ch, sealed_replay_reorder);
	tcase_add_test(ch, sealed_truncated);
	tcase_add_test(ch, sealed_foreign);
	suite_add_tcase(s, ch);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	Suite *s;
	TCase *hs, *ch, *rx, *msg;
	SRunner *sr;
	int failed;

	if (argc > 1 && !strcmp(argv[1], "--aes"))
		return aes_main();
	s = suite_create("proto");
	hs = tcase_create("handshake");
	ch = tcase_create("sealed");
	rx = tcase_create("reassembly");
	msg = tcase_create("messages");
	tcase_add_checked_fixture(hs, crypto_setup, NULL);
	tcase_add_test(hs, wire_sizes);
	tcase_add_test(hs, hs_same_psk);
	tcase_add_test(hs, hs_wrong_psk);
	tcase_add_test(hs, hs_version);
	tcase_add_test(hs, hs_bad_hello);
	suite_add_tcase(s, hs);

	tcase_add_checked_fixture(ch, crypto_setup, NULL);
	tcase_set_timeout(ch, 60);
	tcase_add_test(ch, frames_chacha);
	tcase_add_test(ch, sealed_tamper);
	tcase_add_test(ch, sealed_replay_reorder);
	tcase_add_test(ch, sealed_truncated);
	tcase_add_test(ch, sealed_foreign);
	suite_add_tcase(s, ch);

	tcase_set_timeout(rx, 120);
	tcase_add_test(rx, rx_one_byte_at_a_time);
	tcase_add_test(rx, rx_big_chunks);
	tcase_add_test(rx, rx_many_small_frames);
	tcase_add_test(rx, rx_oversized);
	suite_add_tcase(s, rx);

	tcase_add_checked_fixture(msg, msg_setup, msg_teardown);
	tcase_add_test(msg, msg_good);
	tcase_add_test(msg, msg_bad);
	tcase_add_test(msg, type_names);
	suite_add_tcase(s, msg);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
