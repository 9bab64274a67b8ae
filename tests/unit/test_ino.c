// SPDX-License-Identifier: MIT
/* The daemon's inode numbers (fuse/ino.c): every kind decoded from its
 * range, the edges of each range, and the constructors as inverses. */
#include <check.h>
#include <stdlib.h>

#include "ino.h"

static struct cldd_ino dec(uint64_t ino)
{
	struct cldd_ino n;

	cldd_ino_decode(ino, &n);
	ck_assert_uint_eq(n.ino, ino);
	return n;
}

START_TEST(single_inodes)
{
	ck_assert_int_eq(dec(CLDD_INO_ROOT).kind, CLDD_K_ROOT);
	ck_assert_int_eq(dec(CLDD_INO_NODE).kind, CLDD_K_NODE);
	ck_assert_int_eq(dec(0).kind, CLDD_K_NONE);
	ck_assert_int_eq(dec(CLDD_INO_FWD).kind, CLDD_K_FWD);
	/* 4-15 are free */
	ck_assert_int_eq(dec(4).kind, CLDD_K_NONE);
	ck_assert_int_eq(dec(15).kind, CLDD_K_NONE);
}
END_TEST

START_TEST(peer_dirs)
{
	struct cldd_ino n = dec(cldd_ino_rdir(0));

	ck_assert_int_eq(n.kind, CLDD_K_RDIR);
	ck_assert_uint_eq(n.slot, 0);
	n = dec(cldd_ino_rdir(CLDD_RDIR_MAX - 1));
	ck_assert_int_eq(n.kind, CLDD_K_RDIR);
	ck_assert_uint_eq(n.slot, CLDD_RDIR_MAX - 1);
	ck_assert_int_eq(dec(cldd_ino_rdir(CLDD_RDIR_MAX)).kind, CLDD_K_NONE);
	ck_assert_int_eq(dec(CLDD_INO_FWDPID_BASE - 1).kind, CLDD_K_NONE);
}
END_TEST

START_TEST(forwarded_fds)
{
	struct cldd_ino n = dec(cldd_ino_fwdpid(42));

	ck_assert_int_eq(n.kind, CLDD_K_FWDPID);
	ck_assert_int_eq(n.pid, 42);
	n = dec(cldd_ino_fwdpid(4194304));
	ck_assert_int_eq(n.kind, CLDD_K_FWDPID);
	ck_assert_int_eq(n.pid, 4194304);
	ck_assert_int_eq(dec(CLDD_INO_FWDPID_BASE).kind, CLDD_K_NONE);
	n = dec(cldd_ino_fwdfd(42, 0));
	ck_assert_int_eq(n.kind, CLDD_K_FWDFD);
	ck_assert_int_eq(n.pid, 42);
	ck_assert_int_eq(n.fd, 0);
	n = dec(cldd_ino_fwdfd(4194304, (1 << CLDD_FWDFD_BITS) - 1));
	ck_assert_int_eq(n.kind, CLDD_K_FWDFD);
	ck_assert_int_eq(n.pid, 4194304);
	ck_assert_int_eq(n.fd, (1 << CLDD_FWDFD_BITS) - 1);
	/* pid 0 is no shadow; between the peers' images and 2^56, nothing */
	ck_assert_int_eq(dec(cldd_ino_fwdfd(0, 5)).kind, CLDD_K_NONE);
	ck_assert_int_eq(dec(CLDD_INO_FWDFD_BASE - 1).kind, CLDD_K_NONE);
	ck_assert_int_eq(dec(cldd_ino_rpid(CLDD_RDIR_MAX, 1)).kind, CLDD_K_NONE);
	ck_assert_int_eq(dec(CLDD_INO_FWDFD_BASE * 2).kind, CLDD_K_NONE);
}
END_TEST

START_TEST(peer_forwarded_files)
{
	struct cldd_ino n = dec(cldd_ino_rfwd(0));

	ck_assert_int_eq(n.kind, CLDD_K_RFWD);
	ck_assert_uint_eq(n.slot, 0);
	n = dec(cldd_ino_rfwd(CLDD_RDIR_MAX - 1));
	ck_assert_int_eq(n.kind, CLDD_K_RFWD);
	ck_assert_uint_eq(n.slot, CLDD_RDIR_MAX - 1);
	ck_assert_int_eq(dec(cldd_ino_rfwd(CLDD_RDIR_MAX)).kind, CLDD_K_NONE);
	n = dec(cldd_ino_rfwdpid(7, 4194304));
	ck_assert_int_eq(n.kind, CLDD_K_RFWDPID);
	ck_assert_uint_eq(n.slot, 7);
	ck_assert_int_eq(n.pid, 4194304);
	n = dec(cldd_ino_rfwdpid(CLDD_RDIR_MAX - 1, 1));
	ck_assert_int_eq(n.kind, CLDD_K_RFWDPID);
	ck_assert_uint_eq(n.slot, CLDD_RDIR_MAX - 1);
	ck_assert_int_eq(n.pid, 1);
	/* pid 0 is nobody's */
	ck_assert_int_eq(dec(cldd_ino_rfwdpid(3, 0)).kind, CLDD_K_NONE);
	ck_assert_int_eq(dec(cldd_ino_rfwdpid(CLDD_RDIR_MAX, 1)).kind, CLDD_K_NONE);
	n = dec(cldd_ino_rfwdfd(CLDD_RDIR_MAX - 1, 4194304, (1 << CLDD_FWDFD_BITS) - 1));
	ck_assert_int_eq(n.kind, CLDD_K_RFWDFD);
	ck_assert_uint_eq(n.slot, CLDD_RDIR_MAX - 1);
	ck_assert_int_eq(n.pid, 4194304);
	ck_assert_int_eq(n.fd, (1 << CLDD_FWDFD_BITS) - 1);
	n = dec(cldd_ino_rfwdfd(0, 42, 0));
	ck_assert_int_eq(n.kind, CLDD_K_RFWDFD);
	ck_assert_uint_eq(n.slot, 0);
	ck_assert_int_eq(n.pid, 42);
	ck_assert_int_eq(n.fd, 0);
	ck_assert_int_eq(dec(cldd_ino_rfwdfd(2, 0, 5)).kind, CLDD_K_NONE);
	ck_assert_int_eq(dec(cldd_ino_rfwdfd(CLDD_RDIR_MAX, 1, 1)).kind, CLDD_K_NONE);
	/* none of them is taken for another kind */
	ck_assert_int_eq(dec(cldd_ino_rfwdpid(0, 1)).kind, CLDD_K_RFWDPID);
	ck_assert_int_eq(dec(cldd_ino_rpid(0, 1)).kind, CLDD_K_RPID);
	ck_assert_int_eq(dec(cldd_ino_fwdpid(1)).kind, CLDD_K_FWDPID);
}
END_TEST

START_TEST(local_pids)
{
	struct cldd_ino n = dec(cldd_ino_pid(1));

	ck_assert_int_eq(n.kind, CLDD_K_PID);
	ck_assert_int_eq(n.pid, 1);
	n = dec(cldd_ino_pid(4194304));
	ck_assert_int_eq(n.kind, CLDD_K_PID);
	ck_assert_int_eq(n.pid, 4194304);
	/* the base itself (pid 0) is no process */
	ck_assert_int_eq(dec(CLDD_INO_PID_BASE).kind, CLDD_K_NONE);
}
END_TEST

START_TEST(incoming)
{
	struct cldd_ino n = dec(cldd_ino_in(1));

	ck_assert_int_eq(n.kind, CLDD_K_IN);
	ck_assert_uint_eq(n.seq, 1);
	n = dec(CLDD_INO_RPID_BASE - 1);
	ck_assert_int_eq(n.kind, CLDD_K_IN);
	ck_assert_int_eq(dec(CLDD_INO_IN_BASE).kind, CLDD_K_NONE);
}
END_TEST

START_TEST(peer_pids)
{
	struct cldd_ino n = dec(cldd_ino_rpid(0, 42));

	ck_assert_int_eq(n.kind, CLDD_K_RPID);
	ck_assert_uint_eq(n.slot, 0);
	ck_assert_int_eq(n.pid, 42);
	n = dec(cldd_ino_rpid(7, 4194304));
	ck_assert_int_eq(n.kind, CLDD_K_RPID);
	ck_assert_uint_eq(n.slot, 7);
	ck_assert_int_eq(n.pid, 4194304);
	n = dec(cldd_ino_rpid(CLDD_RDIR_MAX - 1, 1));
	ck_assert_uint_eq(n.slot, CLDD_RDIR_MAX - 1);
	ck_assert_int_eq(dec(CLDD_INO_RPID_BASE).kind, CLDD_K_NONE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ino");
	TCase *tc = tcase_create("decode");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, single_inodes);
	tcase_add_test(tc, peer_dirs);
	tcase_add_test(tc, local_pids);
	tcase_add_test(tc, incoming);
	tcase_add_test(tc, peer_pids);
	tcase_add_test(tc, forwarded_fds);
	tcase_add_test(tc, peer_forwarded_files);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
