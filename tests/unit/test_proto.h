/* SPDX-License-Identifier: MIT */
/*
 * What the files of test_proto share.  test_proto.c assembles the suite
 * from the test cases of
 *
 *   proto_handshake.c  the handshake
 *   proto_sealed.c     the sealed channel
 *   proto_rx.c         frame reassembly
 *   proto_msg.c        message checks
 *
 * and proto_lib.c holds the keys and the handshaken pairs they share.
 */
#ifndef CLD_TEST_PROTO_H
#define CLD_TEST_PROTO_H

#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clondike/proto.h"

/* A side of a connection after the handshake. */
struct side {
	struct cldp_hs hs;
	struct cldp_chan ch;
};

/* proto_lib.c */
extern uint8_t psk1[CLD_KEY_BYTES], psk2[CLD_KEY_BYTES];
extern bool aes_run; /* test_proto --aes: the AES-256-GCM cases */

void crypto_setup(void);
void side_free(struct side *s);
void handshake(struct side *a, const uint8_t *pa, struct side *b, const uint8_t *pb);
int aes_ok(void);
bool in_run(int aead);
void force_aead(struct side *a, struct side *b, enum cldp_aead aead);
int auth_exchange(struct side *a, struct side *b);

/* One TCase each, with the cases of this run (aes_run). */
TCase *proto_handshake_tcase(void);
TCase *proto_sealed_tcase(void);
TCase *proto_rx_tcase(void);
TCase *proto_msg_tcase(void);

#endif /* CLD_TEST_PROTO_H */
