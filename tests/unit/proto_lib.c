// SPDX-License-Identifier: MIT
/* What the cases of test_proto share: the keys, two sides and their handshake. */
#include "test_proto.h"

uint8_t psk1[CLD_KEY_BYTES], psk2[CLD_KEY_BYTES];

void crypto_setup(void)
{
	size_t i;

	ck_assert_int_eq(cldp_crypto_init(), 0);
	for (i = 0; i < CLD_KEY_BYTES; i++) {
		psk1[i] = (uint8_t)(i + 1);
		psk2[i] = (uint8_t)(i + 1);
	}
	psk2[CLD_KEY_BYTES - 1] ^= 0x80; /* one bit apart */
}

/* The channel's cipher contexts; a side starts zeroed. */
void side_free(struct side *s)
{
	cldp_chan_free(&s->ch);
}

/* Both HELLOs exchanged; 0 when both sides accepted the other's. */
void handshake(struct side *a, const uint8_t *pa, struct side *b, const uint8_t *pb)
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

int aes_ok(void)
{
	return crypto_aead_aes256gcm_is_available();
}

/*
 * Which AEAD a run covers: ChaCha20-Poly1305 by default (every CPU has it),
 * AES-256-GCM with --aes.  That run is a CTest test of its own
 * (unit.test_proto_aes) which, on a CPU without AES-NI, reports skipped
 * instead of passing with nothing tested.
 */
bool aes_run;

bool in_run(int aead)
{
	return aead == (aes_run ? CLDP_AEAD_AES256GCM : CLDP_AEAD_CHACHA20POLY1305);
}

void force_aead(struct side *a, struct side *b, enum cldp_aead aead)
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
int auth_exchange(struct side *a, struct side *b)
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
