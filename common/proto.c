// SPDX-License-Identifier: MIT
/*
 * The peer protocol: handshake, sealed frames, frame reassembly and message
 * validation.  The design is in docs/protocol.md; in short, an ephemeral
 * X25519 exchange mixed with the cluster key (BLAKE2b keyed by it) gives one
 * key per direction, and every frame is an AEAD whose nonce is its sequence
 * number, so the TCP stream cannot be altered without the receiver noticing.
 */
#include "clondike/proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#define KDF_LABEL "clondike kdf v1"
#define RX_MIN_ROOM (256u << 10)

int cldp_crypto_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

void cldp_hs_start(struct cldp_hs *hs, bool initiator, const char *node,
		   const uint8_t psk[CLD_KEY_BYTES])
{
	memset(hs, 0, sizeof(*hs));
	hs->initiator = initiator;
	memcpy(hs->psk, psk, CLD_KEY_BYTES);
	memcpy(hs->mine.magic, CLDP_MAGIC, 4);
	hs->mine.version = CLDP_VERSION;
	if (crypto_aead_aes256gcm_is_available())
		hs->mine.flags |= CLDP_HF_AES256GCM;
	strncpy(hs->mine.node, node, sizeof(hs->mine.node) - 1);
	randombytes_buf(hs->mine.nonce, sizeof(hs->mine.nonce));
	randombytes_buf(hs->esk, sizeof(hs->esk));
	crypto_scalarmult_base(hs->mine.epk, hs->esk);
}

int cldp_hs_finish(struct cldp_hs *hs, const void *body, size_t len, struct cldp_chan *ch,
		   struct cld_err *err)
{
	const struct cldp_hello *first, *second;
	crypto_generichash_state st;
	uint8_t shared[32], keys[64];
	struct cldp_hello h;
	uint16_t version;
	int ret = 0;

	if (len < 6 || memcmp(body, CLDP_MAGIC, 4))
		return cld_err_set(err, -EPROTO, "not a clondike peer (no HELLO)");
	memcpy(&version, (const uint8_t *)body + 4, 2);
	if (version != CLDP_VERSION)
		return cld_err_set(err, -EPROTONOSUPPORT,
				   "peer speaks protocol version %u, this node speaks %u",
				   (unsigned int)version, CLDP_VERSION);
	if (len != sizeof(h))
		return cld_err_set(err, -EPROTO, "HELLO of %zu bytes (expected %zu)", len,
				   sizeof(h));
	memcpy(&h, body, sizeof(h));
	if (!memchr(h.node, 0, sizeof(h.node)) || !cld_node_name_ok(h.node))
		return cld_err_set(err, -EPROTO, "HELLO with an invalid node name");
	hs->theirs = h;
	if (crypto_scalarmult(shared, hs->esk, h.epk))
		return cld_err_set(err, -EPROTO, "HELLO with a degenerate key share");

	first = hs->initiator ? &hs->mine : &hs->theirs;
	second = hs->initiator ? &hs->theirs : &hs->mine;
	crypto_generichash_init(&st, NULL, 0, sizeof(hs->transcript));
	crypto_generichash_update(&st, (const uint8_t *)first, sizeof(*first));
	crypto_generichash_update(&st, (const uint8_t *)second, sizeof(*second));
	crypto_generichash_final(&st, hs->transcript, sizeof(hs->transcript));

	/* Without the cluster key these keys cannot be derived: the AUTH
	 * frames that follow are the proof of membership. */
	crypto_generichash_init(&st, hs->psk, CLD_KEY_BYTES, sizeof(keys));
	crypto_generichash_update(&st, (const uint8_t *)KDF_LABEL, sizeof(KDF_LABEL));
	crypto_generichash_update(&st, shared, sizeof(shared));
	crypto_generichash_update(&st, hs->transcript, sizeof(hs->transcript));
	crypto_generichash_final(&st, keys, sizeof(keys));

	memset(ch, 0, sizeof(*ch));
	memcpy(ch->tx_key, hs->initiator ? keys : keys + 32, 32);
	memcpy(ch->rx_key, hs->initiator ? keys + 32 : keys, 32);
	ch->aead = (hs->mine.flags & h.flags & CLDP_HF_AES256GCM) ? CLDP_AEAD_AES256GCM :
								    CLDP_AEAD_CHACHA20POLY1305;
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(keys, sizeof(keys));
	sodium_memzero(hs->esk, sizeof(hs->esk));
	sodium_memzero(hs->psk, sizeof(hs->psk));
	return ret;
}

static void make_nonce(uint8_t nonce[12], uint64_t seq)
{
	memset(nonce, 0, 12);
	memcpy(nonce, &seq, sizeof(seq));
}

/*
 * The channel's context each way, reused: the key schedule is redone per
 * frame, which costs a microsecond against the hundreds a 1 MiB frame
 * takes (and follows a change of ch->aead).
 */
static EVP_CIPHER_CTX *chan_ctx(struct cldp_chan *ch, bool tx)
{
	const EVP_CIPHER *ciph =
		ch->aead == CLDP_AEAD_AES256GCM ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
	EVP_CIPHER_CTX **ctx = &ch->ctx[tx];

	if (!*ctx)
		*ctx = EVP_CIPHER_CTX_new();
	if (!*ctx)
		return NULL;
	if ((tx ? EVP_EncryptInit_ex(*ctx, ciph, NULL, ch->tx_key, NULL) :
		  EVP_DecryptInit_ex(*ctx, ciph, NULL, ch->rx_key, NULL)) != 1)
		return NULL;
	return *ctx;
}

void cldp_chan_free(struct cldp_chan *ch)
{
	/* EVP_CIPHER_CTX_free() wipes the key schedule too. */
	EVP_CIPHER_CTX_free(ch->ctx[0]);
	EVP_CIPHER_CTX_free(ch->ctx[1]);
	sodium_memzero(ch, sizeof(*ch));
}

int cldp_seal(struct cldp_chan *ch, uint8_t *buf, size_t len)
{
	EVP_CIPHER_CTX *ctx = chan_ctx(ch, true);
	uint8_t nonce[12];
	int l;

	if (!ctx || len > INT32_MAX)
		return -ENOMEM;
	make_nonce(nonce, ch->tx_seq++);
	if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, buf, &l, buf, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, buf + l, &l) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CLDP_TAG_BYTES, buf + len) != 1)
		return -EIO;
	return 0;
}

int cldp_open(struct cldp_chan *ch, uint8_t *buf, size_t len)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t nonce[12];
	size_t mlen;
	int l;

	if (len < CLDP_TAG_BYTES || len > INT32_MAX)
		return -EBADMSG;
	ctx = chan_ctx(ch, false);
	if (!ctx)
		return -ENOMEM;
	mlen = len - CLDP_TAG_BYTES;
	make_nonce(nonce, ch->rx_seq);
	/* Decrypted in place before the tag is checked: on failure the
	 * buffer holds garbage, and the caller drops the frame. */
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CLDP_TAG_BYTES, buf + mlen) != 1 ||
	    EVP_DecryptUpdate(ctx, buf, &l, buf, (int)mlen) != 1 ||
	    EVP_DecryptFinal_ex(ctx, buf + l, &l) != 1)
		return -EBADMSG;
	ch->rx_seq++;
	return 0;
}

/* ---- Frame reassembly ---------------------------------------------------- */

uint8_t *cldp_rx_space(struct cldp_rx *rx, size_t min, size_t *avail)
{
	size_t held = rx->len - rx->off, need = min;

	/* Room for the whole frame being received: one read can finish it. */
	if (held >= 4) {
		uint32_t flen;

		memcpy(&flen, rx->buf + rx->off, 4);
		if ((size_t)flen + 4 > held && (size_t)flen + 4 - held > need &&
		    flen <= CLDP_FRAME_MAX)
			need = (size_t)flen + 4 - held;
	}
	if (need < RX_MIN_ROOM)
		need = RX_MIN_ROOM;
	if (rx->cap - rx->len < need) {
		if (rx->off) {
			memmove(rx->buf, rx->buf + rx->off, held);
			rx->len = held;
			rx->off = 0;
		}
		if (rx->cap - rx->len < need) {
			size_t cap = rx->cap ? rx->cap : RX_MIN_ROOM;
			uint8_t *p;

			while (cap - rx->len < need)
				cap *= 2;
			p = realloc(rx->buf, cap);
			if (!p)
				return NULL;
			rx->buf = p;
			rx->cap = cap;
		}
	}
	*avail = rx->cap - rx->len;
	return rx->buf + rx->len;
}

void cldp_rx_commit(struct cldp_rx *rx, size_t n)
{
	rx->len += n;
}

int cldp_rx_next(struct cldp_rx *rx, size_t max, uint8_t **body, size_t *len)
{
	size_t held = rx->len - rx->off;
	uint32_t flen;

	if (held == 0 && rx->off) {
		rx->len = rx->off = 0;
		return 0;
	}
	if (held < 4)
		return 0;
	memcpy(&flen, rx->buf + rx->off, 4);
	if (flen > max)
		return -EMSGSIZE;
	if (held < (size_t)flen + 4)
		return 0;
	*body = rx->buf + rx->off + 4;
	*len = flen;
	rx->off += (size_t)flen + 4;
	return 1;
}

void cldp_rx_free(struct cldp_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof(*rx));
}

/* ---- Messages ------------------------------------------------------------ */

static const char *const type_names[CLDP_TYPE_MAX] = {
	[CLDP_AUTH] = "AUTH", [CLDP_PING] = "PING",   [CLDP_LIST] = "LIST",
	[CLDP_STAT] = "STAT", [CLDP_OPEN] = "OPEN",   [CLDP_READ] = "READ",
	[CLDP_SEEK] = "SEEK", [CLDP_CLOSE] = "CLOSE", [CLDP_XATTR] = "XATTR",
	[CLDP_MIGRATE] = "MIGRATE", [CLDP_RESTORE] = "RESTORE", [CLDP_SIGNAL] = "SIGNAL",
	[CLDP_GUEST] = "GUEST",	    [CLDP_FWD_DATA] = "FWD_DATA", [CLDP_FWD_ACK] = "FWD_ACK",
	[CLDP_FWD_TTY] = "FWD_TTY", [CLDP_PUT] = "PUT", [CLDP_PUT_DATA] = "PUT_DATA",
	[CLDP_PUT_END] = "PUT_END", [CLDP_COMMIT] = "COMMIT", [CLDP_QUERY] = "QUERY",
	[CLDP_FWD_RESYNC] = "FWD_RESYNC", [CLDP_FILE] = "FILE",
};

const char *cldp_type_name(unsigned int type)
{
	return type < CLDP_TYPE_MAX && type_names[type] ? type_names[type] : "?";
}

/* Payload size of a request of each type; responses are checked below. */
static const uint32_t req_size[CLDP_TYPE_MAX] = {
	[CLDP_AUTH] = 32,
	[CLDP_PING] = sizeof(uint64_t),
	[CLDP_LIST] = sizeof(struct cldp_cred),
	[CLDP_STAT] = sizeof(struct cldp_pid_req),
	[CLDP_OPEN] = sizeof(struct cldp_pid_req),
	[CLDP_READ] = sizeof(struct cldp_read_req),
	[CLDP_SEEK] = sizeof(struct cldp_seek_req),
	[CLDP_CLOSE] = sizeof(uint64_t),
	[CLDP_XATTR] = sizeof(struct cldp_xattr_req),
	[CLDP_MIGRATE] = sizeof(struct cldp_migrate_req),
	[CLDP_RESTORE] = sizeof(struct cldp_restore_req),
	[CLDP_SIGNAL] = sizeof(struct cldp_signal_req),
	[CLDP_GUEST] = sizeof(struct cldp_guest_req),
	[CLDP_FWD_DATA] = sizeof(struct cldp_fwd_hdr), /* and up to a chunk */
	[CLDP_FWD_ACK] = sizeof(struct cldp_fwd_ack),
	[CLDP_FWD_TTY] = sizeof(struct cldp_fwd_tty),
	[CLDP_PUT] = sizeof(struct cldp_put_req),
	[CLDP_PUT_DATA] = sizeof(struct cldp_put_data), /* and up to a chunk */
	[CLDP_PUT_END] = sizeof(struct cldp_put_end),
	[CLDP_COMMIT] = sizeof(struct cldp_commit_req),
	[CLDP_QUERY] = sizeof(struct cldp_commit_req),
	[CLDP_FWD_RESYNC] = sizeof(struct cldp_fwd_resync),
	[CLDP_FILE] = sizeof(struct cldp_file_req), /* WRITE: and its bytes */
};

static int check_resp(const struct cldp_hdr *h, const uint8_t *p, struct cld_err *err)
{
	bool sized;

	(void)p;
	if (h->status > 0 || h->status < -4095)
		return cld_err_set(err, -EPROTO, "%s response with status %d",
				   cldp_type_name(h->type), (int)h->status);
	if (h->status < 0) {
		if (h->len)
			return cld_err_set(err, -EPROTO, "%s error response with a payload",
					   cldp_type_name(h->type));
		return 0;
	}
	switch (h->type) {
	case CLDP_PING:
	case CLDP_SEEK:
		sized = h->len == sizeof(uint64_t);
		break;
	case CLDP_LIST:
		sized = h->len % sizeof(struct cldp_pentry) == 0;
		break;
	case CLDP_STAT:
		sized = h->len == sizeof(struct cldp_pentry);
		break;
	case CLDP_OPEN:
		sized = h->len == sizeof(struct cldp_open_resp);
		break;
	case CLDP_READ:
	case CLDP_FILE: /* its size depends on the op: the caller checks */
		sized = h->len <= CLDP_READ_MAX;
		break;
	case CLDP_XATTR:
		sized = h->len <= 4096;
		break;
	case CLDP_MIGRATE:
	case CLDP_RESTORE:
		sized = h->len == sizeof(struct cldp_migrate_resp);
		break;
	case CLDP_PUT:
		sized = h->len == sizeof(uint64_t);
		break;
	case CLDP_PUT_END:
		sized = h->len == sizeof(struct cldp_put_resp);
		break;
	case CLDP_SIGNAL:
	case CLDP_GUEST:
	case CLDP_PUT_DATA:
	case CLDP_COMMIT:
	case CLDP_QUERY:
		sized = h->len == 0;
		break;
	default:
		return cld_err_set(err, -EPROTO, "response to %s, which has none",
				   cldp_type_name(h->type));
	}
	if (!sized)
		return cld_err_set(err, -EPROTO, "%s response of %u bytes", cldp_type_name(h->type),
				   (unsigned int)h->len);
	return 0;
}

/* A FILE request: a known op, and exactly the bytes a WRITE says. */
static int check_file(const struct cldp_hdr *h, const uint8_t *p, struct cld_err *err)
{
	struct cldp_file_req f;

	if (h->len < sizeof(f))
		return cld_err_set(err, -EPROTO, "FILE request of %u bytes", (unsigned int)h->len);
	memcpy(&f, p, sizeof(f));
	if (!f.op || f.op >= CLDP_FILE_OP_MAX)
		return cld_err_set(err, -EPROTO, "FILE op %u", f.op);
	if (f.len > CLDP_READ_MAX)
		return cld_err_set(err, -EPROTO, "FILE of %u bytes (at most %u)", f.len,
				   CLDP_READ_MAX);
	if (h->len != sizeof(f) + (f.op == CLDP_FILE_WRITE ? f.len : 0))
		return cld_err_set(err, -EPROTO, "FILE %u request of %u bytes for %u", f.op,
				   (unsigned int)h->len, f.len);
	return 0;
}

int cldp_msg_check(const uint8_t *msg, size_t len, struct cld_err *err)
{
	struct cldp_hdr h;

	if (len < sizeof(h))
		return cld_err_set(err, -EPROTO, "message of %zu bytes (no header)", len);
	memcpy(&h, msg, sizeof(h));
	if (h.len != len - sizeof(h))
		return cld_err_set(err, -EPROTO, "message header says %u bytes, frame has %zu",
				   (unsigned int)h.len, len - sizeof(h));
	if (!h.type || h.type >= CLDP_TYPE_MAX)
		return cld_err_set(err, -EPROTO, "unknown message type %u", (unsigned int)h.type);
	if (h.flags & ~CLDP_F_RESP)
		return cld_err_set(err, -EPROTO, "unknown flags 0x%x", (unsigned int)h.flags);
	if (h.flags & CLDP_F_RESP)
		return check_resp(&h, msg + sizeof(h), err);
	if (h.status)
		return cld_err_set(err, -EPROTO, "%s request with a status",
				   cldp_type_name(h.type));
	if (h.type == CLDP_FWD_DATA) {
		struct cldp_fwd_hdr f;

		if (h.len < sizeof(f) || h.len > sizeof(f) + CLDP_FWD_CHUNK_MAX)
			return cld_err_set(err, -EPROTO, "FWD_DATA of %u bytes", (unsigned int)h.len);
		memcpy(&f, msg + sizeof(h), sizeof(f));
		if (f.flags & ~(uint32_t)(CLDP_FWD_EOF | CLDP_FWD_TO_HOME))
			return cld_err_set(err, -EPROTO, "FWD_DATA flags 0x%x", f.flags);
		return 0;
	}
	if (h.type == CLDP_PUT_DATA) {
		if (h.len <= sizeof(struct cldp_put_data) ||
		    h.len > sizeof(struct cldp_put_data) + CLDP_PUT_CHUNK_MAX)
			return cld_err_set(err, -EPROTO, "PUT_DATA of %u bytes", (unsigned int)h.len);
		return 0;
	}
	if (h.type == CLDP_FILE)
		return check_file(&h, msg + sizeof(h), err);
	if (h.len != req_size[h.type])
		return cld_err_set(err, -EPROTO, "%s request of %u bytes (expected %u)",
				   cldp_type_name(h.type), (unsigned int)h.len,
				   (unsigned int)req_size[h.type]);
	if (h.type == CLDP_READ) {
		struct cldp_read_req r;

		memcpy(&r, msg + sizeof(h), sizeof(r));
		if (r.len > CLDP_READ_MAX)
			return cld_err_set(err, -EPROTO, "READ of %u bytes (at most %u)",
					   (unsigned int)r.len, CLDP_READ_MAX);
	}
	if (h.type == CLDP_XATTR) {
		struct cldp_xattr_req x;

		memcpy(&x, msg + sizeof(h), sizeof(x));
		if (!memchr(x.name, 0, sizeof(x.name)))
			return cld_err_set(err, -EPROTO, "XATTR name not terminated");
	}
	if (h.type == CLDP_RESTORE) {
		struct cldp_restore_req r;

		memcpy(&r, msg + sizeof(h), sizeof(r));
		if (r.nr_fwd > CLDP_FWD_MAX)
			return cld_err_set(err, -EPROTO, "RESTORE with %u forwarded fds", r.nr_fwd);
	}
	if (h.type == CLDP_MIGRATE) {
		struct cldp_migrate_req m;

		memcpy(&m, msg + sizeof(h), sizeof(m));
		if (!memchr(m.target, 0, sizeof(m.target)))
			return cld_err_set(err, -EPROTO, "MIGRATE target not terminated");
	}
	if (h.type == CLDP_PUT) {
		struct cldp_put_req r;

		memcpy(&r, msg + sizeof(h), sizeof(r));
		if (!memchr(r.name, 0, sizeof(r.name)))
			return cld_err_set(err, -EPROTO, "PUT name not terminated");
	}
	if (h.type == CLDP_PUT_END) {
		struct cldp_put_end e;

		memcpy(&e, msg + sizeof(h), sizeof(e));
		if (e.flags & ~(uint32_t)CLDP_PUT_RESTART)
			return cld_err_set(err, -EPROTO, "PUT_END flags 0x%x", e.flags);
	}
	return 0;
}
