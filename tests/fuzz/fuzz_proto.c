// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for what a peer (or an administrator's typo) controls:
 * the first byte picks the parser, the rest is its input.
 *   0: a byte stream cut into frames by cldp_rx (the cut points come from
 *      the input too), each frame checked as a message plaintext;
 *   1: a HELLO given to the handshake;
 *   2: a sealed frame given to cldp_open (it must never open);
 *   3: a configuration file.
 * Nothing here may crash, leak or read out of bounds; anything accepted is
 * checked against the rules it was accepted under.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "clondike/config.h"
#include "clondike/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void frames(const uint8_t *d, size_t n)
{
	struct cldp_rx rx = { 0 };
	size_t pos = 0;

	while (pos < n) {
		size_t avail = 0, take = 1 + d[pos] % 97;
		uint8_t *space = cldp_rx_space(&rx, 0, &avail), *body;
		size_t len;
		int r;

		pos++;
		if (!space)
			break;
		if (take > n - pos)
			take = n - pos;
		if (take > avail)
			take = avail;
		memcpy(space, d + pos, take);
		cldp_rx_commit(&rx, take);
		pos += take;
		while ((r = cldp_rx_next(&rx, 4096, &body, &len)) == 1) {
			if (len > 4096)
				__builtin_trap();
			if (cldp_msg_check(body, len, NULL) == 0) {
				struct cldp_hdr h;

				/* Accepted: the header must say what it checked. */
				memcpy(&h, body, sizeof(h));
				if (h.len != len - sizeof(h) || !h.type || h.type >= CLDP_TYPE_MAX)
					__builtin_trap();
			}
		}
		if (r < 0)
			break;
	}
	cldp_rx_free(&rx);
}

static void hello(const uint8_t *d, size_t n)
{
	static const uint8_t psk[CLD_KEY_BYTES] = { 1, 2, 3 };
	struct cldp_hs hs;
	struct cldp_chan ch = { 0 };
	struct cld_err err = { 0 };

	cldp_hs_start(&hs, n & 1, "fuzz", psk);
	if (cldp_hs_finish(&hs, d, n, &ch, &err) == 0 && n != sizeof(struct cldp_hello))
		__builtin_trap();
	cldp_chan_free(&ch);
}

static void sealed(const uint8_t *d, size_t n)
{
	struct cldp_chan ch = { .aead = n & 1 ? CLDP_AEAD_AES256GCM : CLDP_AEAD_CHACHA20POLY1305 };
	uint8_t buf[4096];

	if (n > sizeof(buf))
		n = sizeof(buf);
	memcpy(buf, d, n);
	memset(ch.rx_key, 0x5a, sizeof(ch.rx_key));
	/* Forging a tag by chance is not going to happen. */
	if (cldp_open(&ch, buf, n) == 0)
		__builtin_trap();
	cldp_chan_free(&ch);
}

static void config(const uint8_t *d, size_t n)
{
	struct cld_cluster_conf c;
	size_t i;

	if (cld_conf_parse((const char *)d, n, "fuzz.conf", &c, NULL))
		return;
	for (i = 0; i < c.n; i++)
		if (!cld_node_name_ok(c.nodes[i].name) || !c.nodes[i].port ||
		    cld_conf_find(&c, c.nodes[i].name) != &c.nodes[i])
			__builtin_trap();
	cld_conf_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;

	if (!init) {
		if (cldp_crypto_init())
			__builtin_trap();
		init = 1;
	}
	if (!size)
		return 0;
	switch (data[0] % 4) {
	case 0:
		frames(data + 1, size - 1);
		break;
	case 1:
		hello(data + 1, size - 1);
		break;
	case 2:
		sealed(data + 1, size - 1);
		break;
	default:
		config(data + 1, size - 1);
	}
	return 0;
}
