// SPDX-License-Identifier: MIT
/* The handshake: wire sizes, the HELLOs, keys agreed or not, versions, bad HELLOs. */
#include "test_proto.h"

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

/* The handshake cases; with aes_run, only those that depend on the AEAD. */
TCase *proto_handshake_tcase(void)
{
	TCase *hs = tcase_create("handshake");

	tcase_add_checked_fixture(hs, crypto_setup, NULL);
	if (aes_run) {
		tcase_add_test(hs, hs_same_psk);
		tcase_add_test(hs, hs_wrong_psk);
		return hs;
	}
	tcase_add_test(hs, wire_sizes);
	tcase_add_test(hs, hs_same_psk);
	tcase_add_test(hs, hs_wrong_psk);
	tcase_add_test(hs, hs_version);
	tcase_add_test(hs, hs_bad_hello);
	return hs;
}
