// SPDX-License-Identifier: MIT
/*
 * Restart test: memfds and deleted ("ghost") files, whose content the
 * image carries (format 1.3).  rst_ghost RESULT CTL MODE DIR, MODE:
 *   memfd      a sealed memfd (F_SEAL_SHRINK | F_SEAL_GROW, MFD_CLOEXEC)
 *              with a dup and a separate open (one inode, offsets of their
 *              own), and a memfd without MFD_ALLOW_SEALING nor CLOEXEC:
 *              name, content, size, seals, FD_CLOEXEC, offsets;
 *   memfd_map  a memfd mapped MAP_SHARED and MAP_PRIVATE: writes through
 *              the shared mapping and through the fd meet after restart,
 *              the private copy keeps its own change;
 *   ghost      a file in DIR, unlinked, with an fd at an offset and a
 *              separate O_APPEND one: content, mode, offset, flags, one
 *              inode, no links;
 *   ghost_gone as ghost, its directory removed too: the restorer's
 *              fallback, a memfd named after the path, must give the same;
 *   ghost_map  a deleted file mapped MAP_SHARED, as memfd_map;
 *   ghost_big  a deleted file over the image's limit for such content:
 *              refused (only becomes READY);
 *   map_only   a memfd mapped MAP_SHARED, its fd closed: nothing records
 *              its content, refused.
 */
#include <sys/mman.h>

#include "rst_common.h"

#define LEN (3 * 4096 + 123)

static int a, a_dup, a_sep, b, m;
static char *shr, *prv;
static uint8_t want[LEN];

static void fill(void)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < LEN; i++)
		want[i] = (uint8_t)rst_xorshift(&s);
}

static void put(int fd, const void *buf, size_t len)
{
	RST_CHECK(write(fd, buf, len) == (ssize_t)len, "write: %s", strerror(errno));
}

/* The fd's content, from offset 0 (pread: its offset stays). */
static void same_content(int fd, const uint8_t *exp, size_t len, const char *what)
{
	static uint8_t got[LEN + 16];
	struct stat st;

	RST_CHECK(!fstat(fd, &st) && (size_t)st.st_size == len, "%s: size %lld, not %zu", what,
		  (long long)st.st_size, len);
	RST_CHECK(pread(fd, got, sizeof(got), 0) == (ssize_t)len && !memcmp(got, exp, len),
		  "%s: content differs", what);
}

/* What /proc/self/fd/FD names, in l (4096 bytes). */
static const char *link_of(int fd, char *l)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, l, 4095);
	RST_CHECK(n > 0, "readlink %s", path);
	l[n] = '\0';
	return l;
}

static void link_is(int fd, const char *exp)
{
	char l[4096];

	RST_CHECK(!strcmp(link_of(fd, l), exp), "fd %d is %s, not %s", fd, l, exp);
}

/* The fd is an O_TMPFILE in dir: /proc names it "DIR/#INO (deleted)". */
static void link_starts(int fd, const char *dir)
{
	size_t n = strlen(dir);
	char l[4096];

	link_of(fd, l);
	RST_CHECK(!strncmp(l, dir, n) && !strncmp(l + n, "/#", 2), "fd %d is %s, not in %s", fd, l,
		  dir);
}

static ino_t ino_of(int fd)
{
	struct stat st;

	RST_CHECK(!fstat(fd, &st), "fstat");
	return st.st_ino;
}

static void reopen(int fd, int *out, int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	*out = open(path, flags);
	RST_CHECK(*out >= 0, "reopen %s: %s", path, strerror(errno));
}

static void memfd_setup(void)
{
	a = memfd_create("cld-ghost", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	RST_CHECK(a >= 0, "memfd_create: %s", strerror(errno));
	put(a, want, LEN);
	RST_CHECK(!fcntl(a, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), "F_ADD_SEALS: %s",
		  strerror(errno));
	a_dup = dup(a);
	lseek(a, 100, SEEK_SET);
	reopen(a, &a_sep, O_RDONLY | O_CLOEXEC);
	lseek(a_sep, 200, SEEK_SET);
	b = memfd_create("plain", 0);
	RST_CHECK(b >= 0, "memfd_create: %s", strerror(errno));
	put(b, "plain", 5);
	fchmod(b, 0640);
}

static void memfd_check(void)
{
	struct stat st;

	link_is(a, "/memfd:cld-ghost (deleted)");
	link_is(b, "/memfd:plain (deleted)");
	same_content(a, want, LEN, "sealed memfd");
	same_content(b, (const uint8_t *)"plain", 5, "plain memfd");
	RST_CHECK(fcntl(a, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW), "seals %#x",
		  fcntl(a, F_GET_SEALS));
	RST_CHECK(fcntl(b, F_GET_SEALS) == F_SEAL_SEAL, "seals of the plain memfd %#x",
		  fcntl(b, F_GET_SEALS));
	RST_CHECK(fcntl(a, F_GETFD) == FD_CLOEXEC && fcntl(b, F_GETFD) == 0, "FD_CLOEXEC");
	RST_CHECK(!fstat(b, &st) && (st.st_mode & 07777) == 0640, "mode %o", st.st_mode);
	RST_CHECK(ino_of(a) == ino_of(a_sep) && ino_of(a) == ino_of(a_dup) &&
			  ino_of(a) != ino_of(b),
		  "the fds of one memfd are not of one inode");
	RST_CHECK(lseek(a, 0, SEEK_CUR) == 100 && lseek(a_dup, 0, SEEK_CUR) == 100 &&
			  lseek(a_sep, 0, SEEK_CUR) == 200,
		  "offsets");
	lseek(a, 7, SEEK_SET);
	RST_CHECK(lseek(a_dup, 0, SEEK_CUR) == 7 && lseek(a_sep, 0, SEEK_CUR) == 200,
		  "a dup does not share its offset, or a separate open does");
	RST_CHECK(write(a, "x", 1) == 1 && pread(a_sep, &st, 1, 7) == 1 && *(char *)&st == 'x',
		  "a write is not seen through the other open");
	RST_CHECK(ftruncate(a, 10) < 0 && errno == EPERM, "F_SEAL_SHRINK not in force");
	RST_CHECK((fcntl(a_sep, F_GETFL) & O_ACCMODE) == O_RDONLY, "access mode");
}

/* A file (memfd or deleted) mapped shared and private. */
static void map_setup(int fd)
{
	shr = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	prv = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	RST_CHECK(shr != MAP_FAILED && prv != MAP_FAILED, "mmap: %s", strerror(errno));
	memcpy(shr + 4096, "through the map", 15);
	prv[8192] = 'P';
	memcpy(want + 4096, "through the map", 15);
}

static void map_check(int fd)
{
	char c = 0;

	same_content(fd, want, LEN, "mapped file");
	RST_CHECK(prv[8192] == 'P' && prv[8193] == (char)want[8193], "the private copy");
	shr[10] = 'S';
	RST_CHECK(pread(fd, &c, 1, 10) == 1 && c == 'S',
		  "a write through the map is not in the file");
	RST_CHECK(pwrite(fd, "F", 1, 20) == 1 && shr[20] == 'F',
		  "a write to the file is not in the map");
	RST_CHECK(pwrite(fd, "G", 1, 8192) == 1 && prv[8192] == 'P',
		  "the private copy's own page follows the file");
}

static void ghost_setup(const char *dir, size_t big)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/ghost", dir);
	a = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	RST_CHECK(a >= 0, "open %s: %s", path, strerror(errno));
	fchmod(a, 0640);
	if (big) {
		/* Not sparse: a hole would be content all the same. */
		RST_CHECK(!ftruncate(a, (off_t)big), "ftruncate: %s", strerror(errno));
	} else {
		put(a, want, LEN);
	}
	reopen(a, &a_sep, O_WRONLY | O_APPEND);
	lseek(a, 333, SEEK_SET);
	RST_CHECK(!unlink(path), "unlink: %s", strerror(errno));
}

static void ghost_check(void)
{
	struct stat st;

	same_content(a, want, LEN, "deleted file");
	RST_CHECK(!fstat(a, &st) && (st.st_mode & 07777) == 0640 && st.st_nlink == 0 &&
			  S_ISREG(st.st_mode),
		  "mode %o, %lu links", st.st_mode, (unsigned long)st.st_nlink);
	RST_CHECK(ino_of(a) == ino_of(a_sep), "two fds of one deleted file are two files");
	RST_CHECK(lseek(a, 0, SEEK_CUR) == 333, "offset %lld", (long long)lseek(a, 0, SEEK_CUR));
	RST_CHECK((fcntl(a_sep, F_GETFL) & (O_APPEND | O_ACCMODE)) == (O_APPEND | O_WRONLY),
		  "flags of the O_APPEND fd");
	put(a_sep, "tail", 4);
	RST_CHECK(!fstat(a, &st) && st.st_size == LEN + 4, "O_APPEND write to size %lld",
		  (long long)st.st_size);
	RST_CHECK(fcntl(a, F_GETFD) == FD_CLOEXEC && fcntl(a_sep, F_GETFD) == 0, "FD_CLOEXEC");
}

int main(int argc, char **argv)
{
	const char *mode, *dir;
	char sub[4096];

	rst_init(argc, argv, 2, "MODE DIR");
	mode = argv[3];
	dir = argv[4];
	fill();
	if (!strcmp(mode, "memfd")) {
		memfd_setup();
	} else if (!strcmp(mode, "memfd_map")) {
		m = memfd_create("mapped", 0);
		RST_CHECK(m >= 0 && !ftruncate(m, LEN) && pwrite(m, want, LEN, 0) == LEN,
			  "memfd: %s", strerror(errno));
		map_setup(m);
	} else if (!strcmp(mode, "ghost")) {
		ghost_setup(dir, 0);
	} else if (!strcmp(mode, "ghost_gone")) {
		snprintf(sub, sizeof(sub), "%s/gone", dir);
		RST_CHECK(!mkdir(sub, 0700), "mkdir %s: %s", sub, strerror(errno));
		ghost_setup(sub, 0);
		RST_CHECK(!rmdir(sub), "rmdir %s: %s", sub, strerror(errno));
	} else if (!strcmp(mode, "ghost_map")) {
		ghost_setup(dir, 0);
		map_setup(a);
	} else if (!strcmp(mode, "ghost_big")) {
		ghost_setup(dir, 40u << 20);
	} else if (!strcmp(mode, "map_only")) {
		m = memfd_create("map-only", 0);
		RST_CHECK(m >= 0 && !ftruncate(m, LEN), "memfd: %s", strerror(errno));
		map_setup(m);
		close(m);
	} else {
		rst_fail("unknown mode %s", mode);
	}
	rst_ready();
	rst_wait_trigger();
	if (!strcmp(mode, "memfd")) {
		memfd_check();
		rst_pass("memfds: name, content, seals, flags, mode, one inode, offsets");
	} else if (!strcmp(mode, "memfd_map")) {
		map_check(m);
		rst_pass("a memfd mapped shared and private: the map and the fd agree");
	} else if (!strcmp(mode, "ghost") || !strcmp(mode, "ghost_gone")) {
		ghost_check();
		if (mode[5]) {
			/* Restarted: the fallback, named after the path. */
			char exp[4200];

			snprintf(exp, sizeof(exp), "/memfd:%s/ghost (deleted)", sub);
			link_is(a, exp);
		} else {
			/* Restarted: an O_TMPFILE in its directory. */
			link_starts(a, dir);
		}
		rst_pass("a deleted file: content, mode, offset, O_APPEND, one inode, no link");
	} else if (!strcmp(mode, "ghost_map")) {
		map_check(a);
		rst_pass("a deleted file mapped shared and private: the map and the fd agree");
	}
	rst_fail("mode %s is refused, it should not have been restarted", mode);
}
