// SPDX-License-Identifier: MIT
/* Messages: what cldp_msg_check accepts and refuses, and the type names. */
#include "test_proto.h"

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
		[CLDP_PUT] = sizeof(struct cldp_put_req),
		[CLDP_PUT_DATA] = sizeof(struct cldp_put_data) + 1, /* one byte at least */
		[CLDP_PUT_END] = sizeof(struct cldp_put_end),
		[CLDP_COMMIT] = sizeof(struct cldp_commit_req),
		[CLDP_QUERY] = sizeof(struct cldp_commit_req),
		[CLDP_FWD_RESYNC] = sizeof(struct cldp_fwd_resync),
		[CLDP_FILE] = sizeof(struct cldp_file_req),
	};
	struct cldp_file_req fr = { .pid = 1, .fd = 3 };
	uint8_t fb[sizeof(fr) + 101] = { 0 };
	struct cldp_put_req pr;
	struct cldp_put_end pe = { .flags = 0x2 };
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
		if (t != CLDP_FWD_DATA && t != CLDP_PUT_DATA) /* a header and its bytes */
			BAD(t, 0, 0, req[t] + 1, NULL);
		BAD(t, 0, -EIO, req[t], NULL);
		if (t != CLDP_FILE) /* op 0 is none */
			OK(t, 0, 0, req[t], NULL);
	}
	/* Forwarded files: a known op, a WRITE's bytes exactly, up to a read. */
	BAD(CLDP_FILE, 0, 0, sizeof(fr), &fr);
	fr.op = CLDP_FILE_OP_MAX;
	BAD(CLDP_FILE, 0, 0, sizeof(fr), &fr);
	fr.op = CLDP_FILE_STAT;
	OK(CLDP_FILE, 0, 0, sizeof(fr), &fr);
	fr.op = CLDP_FILE_READ;
	fr.len = CLDP_READ_MAX;
	OK(CLDP_FILE, 0, 0, sizeof(fr), &fr);
	fr.len = CLDP_READ_MAX + 1;
	BAD(CLDP_FILE, 0, 0, sizeof(fr), &fr);
	fr.op = CLDP_FILE_WRITE;
	fr.len = 0;
	OK(CLDP_FILE, 0, 0, sizeof(fr), &fr);
	fr.len = 100;
	memcpy(fb, &fr, sizeof(fr));
	BAD(CLDP_FILE, 0, 0, sizeof(fr), fb); /* the 100 bytes are missing */
	OK(CLDP_FILE, 0, 0, sizeof(fr) + 100, fb);
	BAD(CLDP_FILE, 0, 0, sizeof(fr) + 101, fb);
	fr.op = CLDP_FILE_SYNC;
	fr.len = 0;
	memcpy(fb, &fr, sizeof(fr));
	OK(CLDP_FILE, 0, 0, sizeof(fr), fb);
	BAD(CLDP_FILE, 0, 0, sizeof(fr) + 1, fb); /* only a WRITE has bytes */
	OK(CLDP_FILE, CLDP_F_RESP, 0, 0, NULL);
	OK(CLDP_FILE, CLDP_F_RESP, 0, CLDP_READ_MAX, NULL);
	OK(CLDP_FILE, CLDP_F_RESP, -EBADF, 0, NULL);
	BAD(CLDP_FILE, CLDP_F_RESP, 0, CLDP_READ_MAX + 1, NULL);
	BAD(CLDP_FILE, CLDP_F_RESP, -EBADF, 8, NULL);
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
	BAD(CLDP_FWD_RESYNC, CLDP_F_RESP, 0, 0, NULL);
	/* An image sent to restart: up to a chunk at a time, a named sender,
	 * known flags; answered by a handle, a status, the pid. */
	OK(CLDP_PUT_DATA, 0, 0, sizeof(struct cldp_put_data) + CLDP_PUT_CHUNK_MAX, NULL);
	BAD(CLDP_PUT_DATA, 0, 0, sizeof(struct cldp_put_data) + CLDP_PUT_CHUNK_MAX + 1, NULL);
	memset(&pr, 'x', sizeof(pr));
	BAD(CLDP_PUT, 0, 0, sizeof(pr), &pr);
	BAD(CLDP_PUT_END, 0, 0, sizeof(pe), &pe);
	OK(CLDP_PUT, CLDP_F_RESP, 0, 8, NULL);
	BAD(CLDP_PUT, CLDP_F_RESP, 0, 4, NULL);
	OK(CLDP_PUT_DATA, CLDP_F_RESP, -EDQUOT, 0, NULL);
	BAD(CLDP_PUT_DATA, CLDP_F_RESP, 0, 8, NULL);
	OK(CLDP_PUT_END, CLDP_F_RESP, 0, sizeof(struct cldp_put_resp), NULL);
	BAD(CLDP_PUT_END, CLDP_F_RESP, 0, sizeof(struct cldp_put_resp) + 1, NULL);
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
	OK(CLDP_COMMIT, CLDP_F_RESP, 0, 0, NULL);
	OK(CLDP_QUERY, CLDP_F_RESP, -ESRCH, 0, NULL);
	BAD(CLDP_QUERY, CLDP_F_RESP, 0, 4, NULL);
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
	ck_assert_str_eq(cldp_type_name(CLDP_PUT_END), "PUT_END");
	ck_assert_str_eq(cldp_type_name(CLDP_FILE), "FILE");
	ck_assert_str_eq(cldp_type_name(0), "?");
	ck_assert_str_eq(cldp_type_name(CLDP_TYPE_MAX), "?");
	ck_assert_str_eq(cldp_type_name(100000), "?");
}
END_TEST

TCase *proto_msg_tcase(void)
{
	TCase *msg = tcase_create("messages");

	tcase_add_checked_fixture(msg, msg_setup, msg_teardown);
	tcase_add_test(msg, msg_good);
	tcase_add_test(msg, msg_bad);
	tcase_add_test(msg, type_names);
	return msg;
}
