// SPDX-License-Identifier: MIT
/*
 * Format 1.3's memfds and deleted files: the content record round-trips,
 * the reader refuses content that lies about its length or has no fd, and
 * the up-front check names why a deleted file without content is refused.
 */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clondike/image_read.h"
#include "clondike/restore.h"
#include "synth.h"

#define GHOST "ghost!"

/* fd 1 of the synthetic process as a sealed memfd with its content. */
static struct cld_proc *ghost_proc(uint64_t flags)
{
	struct cld_proc *p = synth_proc(1, 0);
	struct cld_fd *f = &p->fds[1];
	struct cld_pipedata *d;

	free(f->name);
	f->name = strdup("/memfd:x (deleted)");
	f->rec.state[0] = flags;
	f->rec.state[1] = (flags & CLD_FDREG_MEMFD) ? 3 : 0;
	f->rec.size = strlen(GHOST);
	if (!(flags & CLD_FDREG_CONTENT))
		return p;
	p->pipes = realloc(p->pipes, (p->nr_pipes + 1) * sizeof(*p->pipes));
	d = &p->pipes[p->nr_pipes++];
	memset(d, 0, sizeof(*d));
	d->ino = f->rec.ino;
	d->kind = CLD_PIPEDATA_FILE;
	d->len = (uint32_t)strlen(GHOST);
	d->data = (uint8_t *)strdup(GHOST);
	return p;
}

static uint8_t *B;
static size_t L;

static void write_ghost(void)
{
	struct cld_proc *p = ghost_proc(CLD_FDREG_DELETED | CLD_FDREG_CONTENT | CLD_FDREG_MEMFD);

	ck_assert_int_eq(synth_image_bytes(p, &B, &L), 0);
	cld_proc_free(p);
}

/* The FILE record in the image bytes (after the pipe's: 16 + 16 bytes). */
static uint8_t *file_rec(void)
{
	uint8_t *at = memmem(B, L, GHOST, strlen(GHOST));

	ck_assert_ptr_nonnull(at);
	return at - sizeof(struct cld_pipedata_rec);
}

static void expect_reject(const char *what)
{
	struct cld_err err = { 0 };
	struct cld_rimage *r = NULL;

	ck_assert_msg(cld_rimage_open_buf(B, L, &r, &err) < 0,
		      "image accepted, expected a refusal mentioning '%s'", what);
	ck_assert_msg(strstr(err.msg, what), "error '%s' does not mention '%s'", err.msg, what);
	free(B);
}

START_TEST(round_trip)
{
	struct cld_err err = { 0 };
	struct cld_rimage *r = NULL;
	const struct cld_pipedata *d;

	write_ghost();
	ck_assert_msg(cld_rimage_open_buf(B, L, &r, &err) == 0, "refused: %s", err.msg);
	ck_assert_uint_eq(r->proc.hdr.minor, 3);
	d = cld_proc_file_data(&r->proc, r->proc.fds[1].rec.ino);
	ck_assert_ptr_nonnull(d);
	ck_assert_mem_eq(d->data, GHOST, strlen(GHOST));
	ck_assert_uint_eq(r->proc.fds[1].rec.state[1], 3);
	ck_assert_ptr_eq(cld_proc_ghost_fd(&r->proc, 0, r->proc.fds[1].rec.ino), &r->proc.fds[1]);
	cld_rimage_free(r);
	free(B);
}
END_TEST

/* The written image with its FILE record's ino and len changed. */
static void patch_file_rec(uint64_t ino, uint32_t len)
{
	struct cld_pipedata_rec rec;

	write_ghost();
	memcpy(&rec, file_rec(), sizeof(rec));
	rec.ino = ino ? ino : rec.ino;
	rec.len = len ? len : rec.len;
	memcpy(file_rec(), &rec, sizeof(rec));
}

START_TEST(content_length_lies)
{
	patch_file_rec(0, 5); /* still inside the note: the fd's size disagrees */
	expect_reject("of another size");
}
END_TEST

START_TEST(content_past_note)
{
	patch_file_rec(0, 4096);
	expect_reject("exceed the note");
}
END_TEST

START_TEST(content_without_fd)
{
	patch_file_rec(4242, 0);
	expect_reject("missing");
}
END_TEST

START_TEST(bad_flags)
{
	struct cld_err err = { 0 };
	struct cld_proc *p = ghost_proc(CLD_FDREG_CONTENT); /* content, not deleted */

	ck_assert_int_lt(cld_proc_validate(p, &err), 0);
	ck_assert_msg(strstr(err.msg, "file state"), "%s", err.msg);
	cld_proc_free(p);
}
END_TEST

START_TEST(over_the_limit)
{
	struct cld_err err = { 0 };
	struct cld_proc *p = ghost_proc(CLD_FDREG_DELETED | CLD_FDREG_CONTENT);

	/* The lengths alone: the rule is on the sum, no data is read. */
	p->fds[1].rec.size = p->pipes[p->nr_pipes - 1].len = CLD_MAX_FILE_DATA + 1;
	ck_assert_int_eq(cld_proc_validate(p, &err), -E2BIG);
	ck_assert_msg(strstr(err.msg, "deleted-file content"), "%s", err.msg);
	p->pipes[p->nr_pipes - 1].len = (uint32_t)strlen(GHOST);
	cld_proc_free(p);
}
END_TEST

static void expect_blocker(struct cld_proc *p, const char *what)
{
	struct cld_restore_opts o = { .flags = CLD_RST_CHECK_PORTABLE, .tty_fd = -1 };
	struct cld_err err = { 0 };
	char *report = NULL;

	ck_assert_int_lt(cld_restore_check_proc(p, &o, &report, &err), 0);
	ck_assert_msg(report && strstr(report, what), "report '%s' does not say '%s'",
		      report ? report : "", what);
	free(report);
	cld_proc_free(p);
}

START_TEST(refused_without_content)
{
	expect_blocker(ghost_proc(0), "does not have its content");
	expect_blocker(ghost_proc(CLD_FDREG_DELETED | CLD_FDREG_TOOBIG), "bytes are over what");
}
END_TEST

START_TEST(restorable_with_content)
{
	struct cld_proc *p = ghost_proc(CLD_FDREG_DELETED | CLD_FDREG_CONTENT | CLD_FDREG_MEMFD);
	struct cld_restore_opts o = { .flags = CLD_RST_CHECK_PORTABLE, .tty_fd = -1 };
	struct cld_err err = { 0 };
	char *report = NULL;

	cld_restore_check_proc(p, &o, &report, &err);
	ck_assert_msg(!report || !strstr(report, "fd 1"), "fd 1 refused: %s", report);
	free(report);
	cld_proc_free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image_files");
	TCase *tc = tcase_create("ghost");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, content_length_lies);
	tcase_add_test(tc, content_past_note);
	tcase_add_test(tc, content_without_fd);
	tcase_add_test(tc, bad_flags);
	tcase_add_test(tc, over_the_limit);
	tcase_add_test(tc, refused_without_content);
	tcase_add_test(tc, restorable_with_content);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
