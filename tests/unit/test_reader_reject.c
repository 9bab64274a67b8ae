// SPDX-License-Identifier: MIT
/* The reader refuses every kind of malformed image, naming the problem. */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "clondike/image_read.h"
#include "synth.h"

static uint8_t *B;
static size_t L;

static void setup(void)
{
	struct cld_proc *p = synth_proc(1, 0);

	ck_assert_int_eq(synth_image_bytes(p, &B, &L), 0);
	cld_proc_free(p);
}

static void teardown(void)
{
	free(B);
}

static Elf64_Ehdr *ehdr(void)
{
	return (Elf64_Ehdr *)B;
}

static Elf64_Phdr *phdr(unsigned int i)
{
	return (Elf64_Phdr *)(B + 64 + 56 * i);
}

/* Descriptor of the idx-th note (name, type) of the first note segment. */
static uint8_t *find_note(const char *name, uint32_t type, unsigned int idx, Elf64_Nhdr **nhp)
{
	size_t at = phdr(0)->p_offset, end = at + phdr(0)->p_filesz;

	while (at < end) {
		Elf64_Nhdr *nh = (Elf64_Nhdr *)(B + at);
		size_t nsz = (nh->n_namesz + 3) & ~3u, dsz = (nh->n_descsz + 3) & ~3u;

		if (nh->n_type == type && nh->n_namesz == strlen(name) + 1 &&
		    !memcmp(B + at + 12, name, nh->n_namesz) && idx-- == 0) {
			if (nhp)
				*nhp = nh;
			return B + at + 12 + nsz;
		}
		at += 12 + nsz + dsz;
	}
	ck_abort_msg("note %s/%#x not found", name, type);
	return NULL;
}

/* Notes are only 4-byte aligned: patch records through memcpy. */
#define SET(at, type, field, expr)                                                     \
	do {                                                                           \
		type t_;                                                               \
		memcpy(&t_, (at), sizeof(t_));                                         \
		t_.field = (expr);                                                     \
		memcpy((at), &t_, sizeof(t_));                                         \
	} while (0)
#define REC(d, type, i) ((d) + sizeof(struct cld_array_hdr) + (i) * sizeof(type))

static void expect_reject(size_t len, int code, const char *what)
{
	struct cld_err err = { 0 };
	struct cld_rimage *r = NULL;
	int ret = cld_rimage_open_buf(B, len, &r, &err);

	ck_assert_msg(ret < 0, "image accepted, expected refusal mentioning '%s'", what);
	ck_assert_ptr_null(r);
	if (code)
		ck_assert_int_eq(ret, code);
	ck_assert_msg(strstr(err.msg, what), "error '%s' does not mention '%s'", err.msg, what);
}

static void expect_ok(void)
{
	struct cld_err err = { 0 };
	struct cld_rimage *r = NULL;

	ck_assert_msg(cld_rimage_open_buf(B, L, &r, &err) == 0, "refused: %s", err.msg);
	cld_rimage_free(r);
}

START_TEST(accepts_pristine)
{
	expect_ok();
}
END_TEST

START_TEST(empty_file)
{
	expect_reject(0, -EBADMSG, "truncated");
}
END_TEST

START_TEST(truncated_ehdr)
{
	expect_reject(40, -EBADMSG, "truncated");
}
END_TEST

START_TEST(truncated_phdrs)
{
	expect_reject(64 + 56, -EBADMSG, "truncated");
}
END_TEST

START_TEST(truncated_notes)
{
	expect_reject(phdr(0)->p_offset + 100, -EBADMSG, "truncated");
}
END_TEST

START_TEST(truncated_data)
{
	expect_reject(L - 5000, -EBADMSG, "truncated image");
}
END_TEST

START_TEST(trailing_data)
{
	uint8_t *nb = realloc(B, L + 4096);

	ck_assert_ptr_nonnull(nb);
	B = nb;
	memset(B + L, 0, 4096);
	expect_reject(L + 4096, -EBADMSG, "trailing data");
}
END_TEST

START_TEST(bad_magic)
{
	B[1] = 'X';
	expect_reject(L, -EBADMSG, "bad magic");
}
END_TEST

START_TEST(wrong_class)
{
	B[EI_CLASS] = ELFCLASS32;
	expect_reject(L, -EBADMSG, "wrong architecture");
}
END_TEST

START_TEST(wrong_machine)
{
	ehdr()->e_machine = EM_AARCH64;
	expect_reject(L, -EBADMSG, "wrong architecture");
}
END_TEST

START_TEST(not_core)
{
	ehdr()->e_type = ET_EXEC;
	expect_reject(L, -EBADMSG, "not an ELF core");
}
END_TEST

START_TEST(wrong_major_version)
{
	SET(find_note(CLD_NOTE_NAME, CLD_NT_HEADER, 0, NULL), struct cld_hdr, major, 2);
	expect_reject(L, -EPROTONOSUPPORT, "format version 2.");
}
END_TEST

START_TEST(newer_minor_accepted)
{
	SET(find_note(CLD_NOTE_NAME, CLD_NT_HEADER, 0, NULL), struct cld_hdr, minor, 7);
	expect_ok();
}
END_TEST

START_TEST(notes_offset_out_of_range)
{
	phdr(0)->p_offset = (uint64_t)1 << 40;
	expect_reject(L, -EBADMSG, "beyond");
}
END_TEST

START_TEST(notes_size_absurd)
{
	phdr(0)->p_filesz = (uint64_t)1 << 40;
	expect_reject(L, -EBADMSG, "sane size");
}
END_TEST

START_TEST(segment_offset_out_of_range)
{
	unsigned int i;

	for (i = 1; phdr(i)->p_filesz == 0; i++)
		;
	phdr(i)->p_offset += (uint64_t)1 << 40;
	expect_reject(L, -EBADMSG, "disagrees");
}
END_TEST

START_TEST(overlapping_segments)
{
	phdr(2)->p_vaddr = phdr(1)->p_vaddr;
	expect_reject(L, -EBADMSG, "disagrees");
}
END_TEST

START_TEST(overlapping_vmas)
{
	uint8_t *d = find_note(CLD_NOTE_NAME, CLD_NT_VMAS, 0, NULL);
	struct cld_vma_rec v4;

	/* Two anonymous mappings. */
	memcpy(&v4, REC(d, struct cld_vma_rec, 4), sizeof(v4));
	SET(REC(d, struct cld_vma_rec, 5), struct cld_vma_rec, start, v4.start);
	expect_reject(L, -EBADMSG, "overlaps");
}
END_TEST

START_TEST(absurd_phnum)
{
	ehdr()->e_phnum = 1;
	expect_reject(L, -EBADMSG, "absurd program header count");
}
END_TEST

START_TEST(xnum_without_section)
{
	ehdr()->e_phnum = PN_XNUM;
	expect_reject(L, -EBADMSG, "PN_XNUM");
}
END_TEST

START_TEST(absurd_vma_count)
{
	struct cld_array_hdr *ah =
		(struct cld_array_hdr *)find_note(CLD_NOTE_NAME, CLD_NT_VMAS, 0, NULL);

	ah->count = 0xffffffffu;
	expect_reject(L, -E2BIG, "records");
}
END_TEST

START_TEST(absurd_record_size)
{
	struct cld_array_hdr *ah =
		(struct cld_array_hdr *)find_note(CLD_NOTE_NAME, CLD_NT_FDS, 0, NULL);

	ah->rec_size = 8;
	expect_reject(L, -EBADMSG, "record size");
}
END_TEST

START_TEST(absurd_groups)
{
	SET(find_note(CLD_NOTE_NAME, CLD_NT_CREDS, 0, NULL), struct cld_creds_rec, nr_groups,
	    1u << 30);
	expect_reject(L, -EBADMSG, "groups exceed");
}
END_TEST

START_TEST(absurd_signal_queue)
{
	SET(find_note(CLD_NOTE_NAME, CLD_NT_SIGNALS, 0, NULL), struct cld_signals_rec,
	    nr_shared_queue, 1000);
	expect_reject(L, -EBADMSG, "queued signals exceed");
}
END_TEST

START_TEST(note_runs_past_segment)
{
	Elf64_Nhdr *nh;

	find_note("CORE", CLD_NT_PRSTATUS, 0, &nh);
	nh->n_descsz = 0xfffffff0u;
	expect_reject(L, -EBADMSG, "runs past");
}
END_TEST

START_TEST(inconsistent_thread_count)
{
	SET(find_note(CLD_NOTE_NAME, CLD_NT_HEADER, 0, NULL), struct cld_hdr, nr_threads, 5);
	expect_reject(L, -EBADMSG, "header counts");
}
END_TEST

START_TEST(inconsistent_dumped_count)
{
	uint8_t *d = find_note(CLD_NOTE_NAME, CLD_NT_VMAS, 0, NULL);

	SET(REC(d, struct cld_vma_rec, 3), struct cld_vma_rec, nr_dumped, t_.nr_dumped + 1);
	expect_reject(L, -EBADMSG, "dumped pages");
}
END_TEST

START_TEST(inconsistent_file_note)
{
	uint8_t *f = find_note("CORE", CLD_NT_FILE, 0, NULL);
	uint64_t start;

	memcpy(&start, f + 16, 8); /* first entry's start */
	start += 4096;
	memcpy(f + 16, &start, 8);
	expect_reject(L, -EBADMSG, "NT_FILE");
}
END_TEST

START_TEST(inconsistent_prstatus_pid)
{
	SET(find_note("CORE", CLD_NT_PRSTATUS, 0, NULL), struct cld_prstatus, pr_pid, 1);
	expect_reject(L, -EBADMSG, "differs from NT_PRSTATUS");
}
END_TEST

START_TEST(thread_name_not_padded)
{
	uint8_t *d = find_note(CLD_NOTE_NAME, CLD_NT_THREAD, 0, NULL);

	d[offsetof(struct cld_thread_rec, name) + 9] = 'x'; /* after "synth\0" */
	expect_reject(L, -EBADMSG, "name not NUL terminated and NUL padded");
}
END_TEST

START_TEST(thread_name_unterminated)
{
	uint8_t *d = find_note(CLD_NOTE_NAME, CLD_NT_THREAD, 0, NULL);

	memset(d + offsetof(struct cld_thread_rec, name), 'a', CLD_THREAD_NAME_LEN);
	expect_reject(L, -EBADMSG, "name not NUL terminated and NUL padded");
}
END_TEST

/*
 * The image a 1.0 writer made: a 104-byte THREAD record (its queue moved
 * up), the 16 bytes freed kept as an empty foreign note, minor 0.
 */
static void make_1_0_threads(void)
{
	Elf64_Nhdr *nh, filler = { .n_namesz = 1, .n_descsz = 0, .n_type = 0x4242 };
	uint8_t *d = find_note(CLD_NOTE_NAME, CLD_NT_THREAD, 0, &nh);
	struct cld_thread_rec rec;
	size_t q;

	memcpy(&rec, d, sizeof(rec));
	q = 128 * (size_t)rec.nr_queue;
	ck_assert_uint_eq(nh->n_descsz, sizeof(rec) + q);
	memmove(d + CLD_THREAD_REC_SIZE_1_0, d + sizeof(rec), q);
	memcpy(d + CLD_THREAD_REC_SIZE_1_0 + q, &filler, sizeof(filler));
	memset(d + CLD_THREAD_REC_SIZE_1_0 + q + sizeof(filler), 0, 4);
	nh->n_descsz = CLD_THREAD_REC_SIZE_1_0 + (uint32_t)q;
}

START_TEST(format_1_0_thread_has_no_name)
{
	struct cld_err err = { 0 };
	struct cld_rimage *r = NULL;

	make_1_0_threads();
	SET(find_note(CLD_NOTE_NAME, CLD_NT_HEADER, 0, NULL), struct cld_hdr, minor, 0);
	ck_assert_msg(cld_rimage_open_buf(B, L, &r, &err) == 0, "refused: %s", err.msg);
	ck_assert_int_eq(r->proc.threads[0].rec.name[0], 0);
	ck_assert_uint_eq(r->proc.threads[0].rec.nr_queue, 1);
	ck_assert_int_eq(r->proc.threads[0].queue[0].bytes[0], SIGUSR1);
	cld_rimage_free(r);
}
END_TEST

START_TEST(format_1_1_thread_without_name)
{
	make_1_0_threads();
	expect_reject(L, -EBADMSG, "(1.0 size, need 120)");
}
END_TEST

START_TEST(extent_outside_vma)
{
	uint8_t *d = find_note(CLD_NOTE_NAME, CLD_NT_PAGES, 0, NULL);

	SET(REC(d, struct cld_extent_rec, 0), struct cld_extent_rec, first, 1ull << 40);
	expect_reject(L, -EBADMSG, "outside the mapping");
}
END_TEST

START_TEST(extent_names_missing_vma)
{
	uint8_t *d = find_note(CLD_NOTE_NAME, CLD_NT_PAGES, 0, NULL);

	SET(REC(d, struct cld_extent_rec, 0), struct cld_extent_rec, vma, 9999);
	expect_reject(L, -EBADMSG, "names mapping");
}
END_TEST

START_TEST(name_outside_string_table)
{
	uint8_t *d = find_note(CLD_NOTE_NAME, CLD_NT_FDS, 0, NULL);

	SET(REC(d, struct cld_fd_rec, 1), struct cld_fd_rec, name_off, 0x7fffffff);
	expect_reject(L, -EBADMSG, "outside its");
}
END_TEST

START_TEST(digest_count_mismatch)
{
	struct cld_digests_hdr *dh =
		(struct cld_digests_hdr *)(B + phdr(ehdr()->e_phnum - 1)->p_offset + 24);

	dh->count++;
	expect_reject(L, -EBADMSG, "digest");
}
END_TEST

START_TEST(duplicate_note)
{
	Elf64_Nhdr *nh;

	find_note(CLD_NOTE_NAME, CLD_NT_PIPEDATA, 0, &nh);
	nh->n_type = CLD_NT_MM;
	expect_reject(L, -EBADMSG, "duplicate CLONDIKE/MM");
}
END_TEST

START_TEST(missing_note)
{
	Elf64_Nhdr *nh;

	find_note(CLD_NOTE_NAME, CLD_NT_SIGNALS, 0, &nh);
	nh->n_type = 0x1ff; /* now an unknown, skippable note */
	expect_reject(L, -EBADMSG, "no CLONDIKE/SIGNALS note");
}
END_TEST

START_TEST(unknown_critical_note)
{
	Elf64_Nhdr *nh;

	find_note(CLD_NOTE_NAME, CLD_NT_PIPEDATA, 0, &nh);
	nh->n_type = CLD_NT_CRITICAL | 0x1ff;
	expect_reject(L, -EPROTONOSUPPORT, "critical");
}
END_TEST

START_TEST(unknown_note_skipped)
{
	struct cld_err err = { 0 };
	struct cld_rimage *r;
	Elf64_Nhdr *nh;

	find_note(CLD_NOTE_NAME, CLD_NT_PIPEDATA, 0, &nh);
	nh->n_type = 0x1ff;
	ck_assert_msg(cld_rimage_open_buf(B, L, &r, &err) == 0, "refused: %s", err.msg);
	ck_assert_uint_eq(r->proc.nr_pipes, 0);
	cld_rimage_free(r);
}
END_TEST

START_TEST(bad_pipe_length)
{
	SET(find_note(CLD_NOTE_NAME, CLD_NT_PIPEDATA, 0, NULL), struct cld_pipedata_rec, len,
	    5000);
	expect_reject(L, -EBADMSG, "PIPEDATA");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reader_reject");
	TCase *tc = tcase_create("malformed");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, accepts_pristine);
	tcase_add_test(tc, empty_file);
	tcase_add_test(tc, truncated_ehdr);
	tcase_add_test(tc, truncated_phdrs);
	tcase_add_test(tc, truncated_notes);
	tcase_add_test(tc, truncated_data);
	tcase_add_test(tc, trailing_data);
	tcase_add_test(tc, bad_magic);
	tcase_add_test(tc, wrong_class);
	tcase_add_test(tc, wrong_machine);
	tcase_add_test(tc, not_core);
	tcase_add_test(tc, wrong_major_version);
	tcase_add_test(tc, newer_minor_accepted);
	tcase_add_test(tc, notes_offset_out_of_range);
	tcase_add_test(tc, notes_size_absurd);
	tcase_add_test(tc, segment_offset_out_of_range);
	tcase_add_test(tc, overlapping_segments);
	tcase_add_test(tc, overlapping_vmas);
	tcase_add_test(tc, absurd_phnum);
	tcase_add_test(tc, xnum_without_section);
	tcase_add_test(tc, absurd_vma_count);
	tcase_add_test(tc, absurd_record_size);
	tcase_add_test(tc, absurd_groups);
	tcase_add_test(tc, absurd_signal_queue);
	tcase_add_test(tc, note_runs_past_segment);
	tcase_add_test(tc, inconsistent_thread_count);
	tcase_add_test(tc, inconsistent_dumped_count);
	tcase_add_test(tc, inconsistent_file_note);
	tcase_add_test(tc, inconsistent_prstatus_pid);
	tcase_add_test(tc, extent_outside_vma);
	tcase_add_test(tc, extent_names_missing_vma);
	tcase_add_test(tc, name_outside_string_table);
	tcase_add_test(tc, digest_count_mismatch);
	tcase_add_test(tc, duplicate_note);
	tcase_add_test(tc, missing_note);
	tcase_add_test(tc, unknown_critical_note);
	tcase_add_test(tc, unknown_note_skipped);
	tcase_add_test(tc, bad_pipe_length);
	tcase_add_test(tc, thread_name_not_padded);
	tcase_add_test(tc, thread_name_unterminated);
	tcase_add_test(tc, format_1_0_thread_has_no_name);
	tcase_add_test(tc, format_1_1_thread_without_name);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
