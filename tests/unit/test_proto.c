// SPDX-License-Identifier: MIT
/*
 * The peer protocol: handshake, sealed channel, frame reassembly, messages.
 * The cases are in proto_*.c (test_proto.h lists them); this file makes
 * the suites.
 */
#include "test_proto.h"

/* test_proto --aes: the cases that use AES-256-GCM, as a test of their own. */
static int aes_main(void)
{
	Suite *s = suite_create("proto-aes");
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
	suite_add_tcase(s, proto_handshake_tcase());
	suite_add_tcase(s, proto_sealed_tcase());

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	Suite *s;
	SRunner *sr;
	int failed;

	if (argc > 1 && !strcmp(argv[1], "--aes"))
		return aes_main();
	s = suite_create("proto");
	suite_add_tcase(s, proto_handshake_tcase());
	suite_add_tcase(s, proto_sealed_tcase());
	suite_add_tcase(s, proto_rx_tcase());
	suite_add_tcase(s, proto_msg_tcase());

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
