// SPDX-License-Identifier: MIT
/*
 * The module's image of a frozen process equals the ptrace backend's
 * image of the same frozen state.  The ptrace freezer seizes the task
 * while the module holds it; the thaw then drops it straight into the
 * ptrace stop, before it runs a single user instruction.
 */
#include <sys/epoll.h>
#include <sys/utsname.h>

#include "kmod_test.h"

/* Name the note holding image offset off, for a readable mismatch. */
static void describe_off(const uint8_t *img, uint64_t size, uint64_t at, char *out, size_t n)
{
	const Elf64_Ehdr *eh = (const void *)img;
	const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff);
	uint64_t off = ph[0].p_offset, end = off + ph[0].p_filesz;

	snprintf(out, n, "offset %llu (outside the first note segment)", (unsigned long long)at);
	{
		uint32_t i;

		for (i = 1; i < eh->e_phnum && eh->e_phnum != 0xffff; i++)
			if (ph[i].p_type == PT_LOAD && ph[i].p_filesz && at >= ph[i].p_offset &&
			    at < ph[i].p_offset + ph[i].p_filesz)
				snprintf(out, n, "offset %llu: memory at %#llx",
					 (unsigned long long)at,
					 (unsigned long long)(ph[i].p_vaddr + at - ph[i].p_offset));
			else if (ph[i].p_type == PT_NOTE && at >= ph[i].p_offset)
				snprintf(out, n, "offset %llu: digest note, word %llu",
					 (unsigned long long)at,
					 (unsigned long long)(at - ph[i].p_offset - 40) / 8);
	}
	if (at < off) {
		snprintf(out, n, "offset %llu in the ELF/program headers", (unsigned long long)at);
		return;
	}
	while (off + 12 <= end && end <= size) {
		const Elf64_Nhdr *nh = (const void *)(img + off);
		uint64_t desc = off + 12 + ((nh->n_namesz + 3) & ~3u);
		uint64_t next = desc + ((nh->n_descsz + 3) & ~3u);

		if (at < next) {
			snprintf(out, n, "note %s/%#x, byte %lld of its desc",
				 (const char *)(nh + 1), nh->n_type, (long long)(at - desc));
			return;
		}
		off = next;
	}
}

/* Every thread of pid has a tracer (the CLI seized them all). */
static int all_traced(pid_t pid)
{
	char path[64], line[256];
	struct dirent *de;
	int n = 0, traced = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		FILE *f;
		int tracer = 0;

		if (de->d_name[0] == '.')
			continue;
		n++;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, atoi(de->d_name));
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			sscanf(line, "TracerPid: %d", &tracer);
		if (f)
			fclose(f);
		traced += tracer != 0;
	}
	if (d)
		closedir(d);
	return n && traced == n;
}

/*
 * What a comparison freezes: the target, its number of threads, and a
 * check of what the image must say of it (0, or -1 with why filled in),
 * run on both images: a field both backends get wrong the same way
 * passes the byte comparison.
 */
struct cmp_case {
	int (*target)(void);
	int want_threads;
	int has_child; /* the target has a child (the CLI runs --unrestorable anyway) */
	int (*check)(const uint8_t *img, uint64_t size, char *why, size_t n);
};

/*
 * Mask the volatile fields of the FDS records of TIMERFDs (image-format.md
 * 10): state[2], the time left to the expiry, and state[5], the clock read
 * with it.  Both images have the same layout here (equal sizes).
 */
static void mask_timerfds(uint8_t *a, uint8_t *b, uint64_t size)
{
	const size_t st = offsetof(struct cld_fd_rec, state);
	struct cld_array_hdr ah;
	const uint8_t *note;
	uint32_t len, i, ka, kb;
	uint64_t at;

	note = find_note(a, size, CLD_NOTE_NAME, CLD_NT_FDS, 0, &len);
	if (!note || len < sizeof(ah))
		return;
	memcpy(&ah, note, sizeof(ah));
	if (ah.rec_size < sizeof(struct cld_fd_rec) ||
	    (uint64_t)ah.rec_size * ah.count > len - sizeof(ah))
		return;
	for (i = 0; i < ah.count; i++) {
		at = (uint64_t)(note - a) + sizeof(ah) + (uint64_t)i * ah.rec_size;
		memcpy(&ka, a + at + offsetof(struct cld_fd_rec, kind), 4);
		memcpy(&kb, b + at + offsetof(struct cld_fd_rec, kind), 4);
		if (ka != CLD_FD_TIMERFD && kb != CLD_FD_TIMERFD)
			continue;
		memset(a + at + st + 2 * 8, 0, 8);
		memset(b + at + st + 2 * 8, 0, 8);
		memset(a + at + st + 5 * 8, 0, 8);
		memset(b + at + st + 5 * 8, 0, 8);
	}
}

/* 0 identical, -1 failed (reported), 1 skipped (reported). */
static int ptrace_compare(const struct cmp_case *cc)
{
	int want_threads = cc->want_threads;
	struct cld_kabi_freeze fr;
	struct stat st;
	pid_t pid, cli;
	uint8_t *a = NULL, *b = NULL;
	const uint8_t *hdr;
	uint32_t hlen;
	char pidstr[16], where[160];
	int fd, err, i, wst, ndiff = 0, bfd, nthr;
	uint64_t k, first = 0;
	char ch = 'x';

	if (access("/bin/clondike", X_OK)) {
		printf("SKIP %s: no clondike CLI in the VM\n", cur);
		return 1;
	}
	pid = spawn(cc->target, 0, 1);
	msleep(20);
	fd = freeze(pid, 0, &fr);
	if (fd < 0) {
		reap(pid, 1);
		return fail("freeze: %s", strerror(-fd));
	}
	a = slurp(fd, fr.image_size, &err);
	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	unlink("/tmp/ptrace.img");
	cli = fork();
	if (cli == 0) {
		int nul = open("/dev/null", O_WRONLY);

		dup2(nul, 1);
		setenv("CLD_FREEZER", "ptrace", 1); /* the backend to compare with */
		/* The bytes are compared, restartable or not (locks, children). */
		execl("/bin/clondike", "clondike", "checkpoint", "--unrestorable", pidstr,
		      "/tmp/ptrace.img", (char *)NULL);
		_exit(127);
	}
	/* Wait for the seizes, then give PTRACE_INTERRUPT time to land. */
	for (i = 0; i < 500 && !all_traced(pid); i++)
		msleep(10);
	msleep(200);
	close(fd);
	waitpid(cli, &wst, 0);
	if (!a) {
		reap(pid, 1);
		return fail("module image: %s", strerror(-err));
	}
	if (!WIFEXITED(wst) || WEXITSTATUS(wst)) {
		reap(pid, 1);
		free(a);
		return fail("clondike checkpoint failed (status %#x)", wst);
	}
	if (write(B->pipe_in[1], &ch, 1) != 1 || reap(pid, 0) != 0) {
		free(a);
		return fail("target self-check failed");
	}
	bfd = open("/tmp/ptrace.img", O_RDONLY);
	if (bfd < 0 || fstat(bfd, &st)) {
		free(a);
		return fail("no ptrace image");
	}
	b = slurp(bfd, (uint64_t)st.st_size, &err);
	close(bfd);
	if (!b) {
		free(a);
		return fail("reading the ptrace image: %s", strerror(-err));
	}
	if (cc->check) {
		char kwhy[200] = "", pwhy[200] = "";
		int kbad = cc->check(a, fr.image_size, kwhy, sizeof(kwhy));
		int pbad = cc->check(b, (uint64_t)st.st_size, pwhy, sizeof(pwhy));

		if (kbad || pbad) {
			free(a);
			free(b);
			return fail("%s%s%s%s%s", kbad ? "module image: " : "", kbad ? kwhy : "",
				    kbad && pbad ? "; " : "", pbad ? "ptrace image: " : "",
				    pbad ? pwhy : "");
		}
	}
	/* Mask what the format calls volatile: created_ns, backend, producer,
	 * and the time of timerfds. */
	hdr = find_note(a, fr.image_size, CLD_NOTE_NAME, CLD_NT_HEADER, 0, &hlen);
	if (hdr && (uint64_t)st.st_size == fr.image_size) {
		uint64_t h = (uint64_t)(hdr - a);

		memset(a + h + offsetof(struct cld_hdr, created_ns), 0, 8);
		memset(b + h + offsetof(struct cld_hdr, created_ns), 0, 8);
		memset(a + h + offsetof(struct cld_hdr, backend), 0, 16 + 32);
		memset(b + h + offsetof(struct cld_hdr, backend), 0, 16 + 32);
		mask_timerfds(a, b, fr.image_size);
	}
	/*
	 * Fields image-format.md fixes (5.1) that the ptrace backend may not
	 * fill that way yet: the module's image must follow the format; a
	 * ptrace image that does not is reported and its field set aside, so
	 * the comparison judges the rest.
	 */
	for (i = 0; (uint64_t)st.st_size == fr.image_size; i++) {
		const uint8_t *ps = find_note(a, fr.image_size, "CORE", CLD_NT_PRSTATUS, i, &hlen);
		const uint8_t *tr =
			find_note(a, fr.image_size, CLD_NOTE_NAME, CLD_NT_THREAD, i, &hlen);
		size_t t_off = offsetof(struct cld_prstatus, pr_utime);
		size_t p_off = offsetof(struct cld_prstatus, pr_sigpend);
		static const uint8_t zero[64];
		uint64_t h, kpend, tpend;

		if (!ps || !tr)
			break;
		h = (uint64_t)(ps - a);
		if (hlen < sizeof(struct cld_thread_rec) ||
		    !tr[offsetof(struct cld_thread_rec, name)]) {
			free(a);
			free(b);
			return fail("module image: thread %d has no name", i);
		}
		if (memcmp(a + h + t_off, zero, 64)) {
			free(a);
			free(b);
			return fail("module image: thread %d CPU times not 0", i);
		}
		if (memcmp(b + h + t_off, zero, 64)) {
			printf("INFO %s: ptrace image deviates from image-format.md 5.1: thread %d CPU times not 0\n",
			       cur, i);
			memset(b + h + t_off, 0, 64);
		}
		memcpy(&kpend, a + h + p_off, 8);
		memcpy(&tpend, tr + offsetof(struct cld_thread_rec, pending), 8);
		if (kpend != tpend) {
			free(a);
			free(b);
			return fail("module image: pr_sigpend is not the private set");
		}
		if (memcmp(a + h + p_off, b + h + p_off, 8)) {
			printf("INFO %s: ptrace image deviates from image-format.md 5.1: thread %d pr_sigpend not the private set\n",
			       cur, i);
			memcpy(b + h + p_off, a + h + p_off, 8);
		}
	}
	nthr = i;
	if ((uint64_t)st.st_size == fr.image_size && nthr != want_threads) {
		free(a);
		free(b);
		return fail("module image has %d threads, the target %d", nthr, want_threads);
	}
	hdr = find_note(a, fr.image_size, "CORE", CLD_NT_PRPSINFO, 0, &hlen);
	if (hdr && (uint64_t)st.st_size == fr.image_size) {
		uint64_t h = (uint64_t)(hdr - a);
		size_t f_off = offsetof(struct cld_prpsinfo, pr_flag);
		size_t a_off = offsetof(struct cld_prpsinfo, pr_psargs);
		uint64_t kflag, pflag;
		char ka[81] = "", pa[81] = "";
		size_t kl, pl;

		memcpy(&kflag, a + h + f_off, 8);
		memcpy(&pflag, b + h + f_off, 8);
		if (kflag) {
			free(a);
			free(b);
			return fail("module image: pr_flag not 0");
		}
		if (pflag) {
			printf("INFO %s: ptrace image deviates from image-format.md 5.1: pr_flag %#llx, not 0\n",
			       cur, (unsigned long long)pflag);
			memset(b + h + f_off, 0, 8);
		}
		memcpy(ka, a + h + a_off, 80);
		memcpy(pa, b + h + a_off, 80);
		kl = strlen(ka);
		pl = strlen(pa);
		/* The core dump way keeps a trailing space; cut off is a deviation. */
		if (strcmp(ka, pa) && pl < kl && !strncmp(ka, pa, pl) &&
		    strspn(ka + pl, " ") == kl - pl) {
			printf("INFO %s: ptrace image deviates from image-format.md 5.1: pr_psargs without its trailing space\n",
			       cur);
			memcpy(b + h + a_off, a + h + a_off, 80);
		}
	}
	if ((uint64_t)st.st_size != fr.image_size) {
		for (k = 0; k < fr.image_size && k < (uint64_t)st.st_size && a[k] == b[k]; k++)
			;
		describe_off(a, fr.image_size, k, where, sizeof(where));
		fail("sizes differ: module %llu, ptrace %llu; first difference at %s",
		     (unsigned long long)fr.image_size, (unsigned long long)st.st_size, where);
		free(a);
		free(b);
		return -1;
	}
	for (k = 0; k < fr.image_size; k++) {
		if (a[k] == b[k])
			continue;
		if (!ndiff++)
			first = k;
		describe_off(a, fr.image_size, k, where, sizeof(where));
		printf("INFO %s: differ at %s: module %02x ptrace %02x\n", cur, where, a[k], b[k]);
		if (ndiff >= 12)
			break;
		/* One line per field: skip to the next 8-byte word. */
		k |= 7;
	}
	free(a);
	free(b);
	if (ndiff)
		return fail("images differ (first at byte %llu)", (unsigned long long)first);
	printf("INFO %s: %llu bytes identical, %d threads (volatile created_ns/backend/producer/timerfd times masked)\n",
	       cur, (unsigned long long)fr.image_size, nthr);
	return 0;
}

/* One comparison, reported under cur. */
static int compare_one(const struct cmp_case *cc)
{
	int r = ptrace_compare(cc);

	/* Whatever went wrong, no child of a target outlives its test. */
	if (B->st_child > 0)
		kill(B->st_child, SIGKILL);
	if (!r)
		pass();
	return r < 0 ? -1 : 0;
}

int t_ptrace_compare(void)
{
	static const struct cmp_case cc = { target_single, 1, 0, NULL };

	return compare_one(&cc);
}

/* Per-thread notes, their order, tids, masks, altstacks, rseq, robust
 * lists and names of a process with threads in several states. */
int t_ptrace_compare_threads(void)
{
	static const struct cmp_case cc = { target_threads, NMT + 1, 0, NULL };

	return compare_one(&cc);
}

/* ---- format 1.2 state (issue 18) ------------------------------------- */

static const char *const st_name[ST_NFD] = {
	[ST_FD_FILE] = "file",
	[ST_FD_FILE_DUP] = "dup of file",
	[ST_FD_FILE_AGAIN] = "file opened again",
	[ST_FD_PIPE_R] = "pipe read end",
	[ST_FD_PIPE_W] = "pipe write end",
	[ST_FD_PIPE_DUP] = "dup of pipe read end",
	[ST_FD_PIPE_AGAIN] = "pipe read end opened again",
	[ST_FD_FIFO] = "FIFO",
	[ST_FD_FLOCK] = "flock file",
	[ST_FD_POSIX] = "POSIX lock file",
	[ST_FD_OFD] = "OFD lock file",
};

/* The open file description of each fd: equal groups, shared ones. */
static const int st_group[ST_NFD] = {
	[ST_FD_FILE] = 0,   [ST_FD_FILE_DUP] = 0, [ST_FD_FILE_AGAIN] = 1, [ST_FD_PIPE_R] = 2,
	[ST_FD_PIPE_W] = 3, [ST_FD_PIPE_DUP] = 2, [ST_FD_PIPE_AGAIN] = 4, [ST_FD_FIFO] = 5,
	[ST_FD_FLOCK] = 6,  [ST_FD_POSIX] = 7,	  [ST_FD_OFD] = 8,
};

#define WHY(...) (snprintf(why, n, __VA_ARGS__), -1)

/* PROC: the flags and oom_score_adj B->st_what implies. */
static int check_state_proc(const uint8_t *img, uint64_t size, char *why, size_t n)
{
	const uint32_t mask = CLD_PROC_CHILDREN | CLD_PROC_LOCKS | CLD_PROC_THP_DISABLE;
	int what = B->st_what, oom = what & ST_TUNE ? ST_OOM : 0;
	struct cld_proc_rec pr;
	const uint8_t *note;
	uint32_t len, want = 0;

	note = find_note(img, size, CLD_NOTE_NAME, CLD_NT_PROC, 0, &len);
	if (!note || len < sizeof(pr))
		return WHY("no PROC note");
	memcpy(&pr, note, sizeof(pr));
	if (what & ST_CHILD)
		want |= CLD_PROC_CHILDREN;
	if (what & (ST_FLOCK | ST_POSIX | ST_OFD))
		want |= CLD_PROC_LOCKS;
	if (what & ST_TUNE)
		want |= CLD_PROC_THP_DISABLE;
	if ((pr.flags & mask) != want)
		return WHY("PROC flags %#x: CHILDREN|LOCKS|THP_DISABLE %#x, want %#x", pr.flags,
			   pr.flags & mask, want);
	if (pr.oom_score_adj != oom)
		return WHY("PROC oom_score_adj %d, want %d", pr.oom_score_adj, oom);
	return 0;
}

/* PIPEDATA: the pipe's data, once; nothing of the FIFO. */
static int check_state_pipedata(const uint8_t *img, uint64_t size, uint64_t pipe_ino, char *why,
				size_t n)
{
	struct cld_pipedata_rec pd;
	const uint8_t *note;
	uint32_t len, off = 0;
	int found = 0;

	note = find_note(img, size, CLD_NOTE_NAME, CLD_NT_PIPEDATA, 0, &len);
	while (note && off + sizeof(pd) <= len) {
		memcpy(&pd, note + off, sizeof(pd));
		off += sizeof(pd);
		if (pd.len > len - off)
			return WHY("PIPEDATA entry overruns its note");
		if (pd.ino == pipe_ino) {
			if (found++ || pd.len != sizeof(ST_PIPE_DATA) ||
			    memcmp(note + off, ST_PIPE_DATA, pd.len))
				return WHY("PIPEDATA of the pipe: %u bytes, not its data once",
					   pd.len);
		}
		off += (pd.len + 7) & ~7u;
	}
	return found ? 0 : WHY("no PIPEDATA of the pipe");
}

/* FDS: offsets, sizes (pipe capacities), kinds, file_id of each fd. */
static int check_state(const uint8_t *img, uint64_t size, char *why, size_t n)
{
	struct cld_fd_rec r[ST_NFD], o;
	struct cld_array_hdr ah;
	const uint8_t *note;
	uint32_t len, idx[ST_NFD], i;
	int k, j;

	if (check_state_proc(img, size, why, n))
		return -1;
	note = find_note(img, size, CLD_NOTE_NAME, CLD_NT_FDS, 0, &len);
	if (!note || len < sizeof(ah))
		return WHY("no FDS note");
	memcpy(&ah, note, sizeof(ah));
	if (ah.rec_size < sizeof(o) || (uint64_t)ah.rec_size * ah.count > len - sizeof(ah))
		return WHY("FDS: %u records of %u bytes in %u", ah.count, ah.rec_size, len);
	for (k = 0; k < ST_NFD; k++)
		idx[k] = UINT32_MAX;
	for (i = 0; i < ah.count; i++) {
		memcpy(&o, note + sizeof(ah) + (uint64_t)i * ah.rec_size, sizeof(o));
		/* Any fd: its file_id names the lowest fd of its description. */
		if (!o.file_id || o.file_id > i + 1)
			return WHY("fd %d: file_id %u at index %u", o.fd, o.file_id, i);
		for (k = 0; k < ST_NFD; k++)
			if (o.fd == B->st_fd[k]) {
				idx[k] = i;
				r[k] = o;
			}
	}
	for (k = 0; k < ST_NFD; k++) {
		uint32_t lead = idx[k];

		if (idx[k] == UINT32_MAX)
			return WHY("no FDS record of fd %d (%s)", B->st_fd[k], st_name[k]);
		for (j = 0; j < ST_NFD; j++)
			if (st_group[j] == st_group[k] && idx[j] < lead)
				lead = idx[j];
		if (r[k].file_id != lead + 1)
			return WHY("fd %d (%s): file_id %u, want %u", r[k].fd, st_name[k],
				   r[k].file_id, lead + 1);
	}
	for (k = ST_FD_PIPE_R; k <= ST_FD_FIFO; k++) {
		uint64_t want = k == ST_FD_FIFO ? ST_FIFO_SZ : ST_PIPE_SZ;
		uint32_t kind = k == ST_FD_FIFO ? CLD_FD_FIFO : CLD_FD_PIPE;

		if (r[k].kind != kind || r[k].size != want ||
		    (k != ST_FD_FIFO && r[k].ino != r[ST_FD_PIPE_R].ino))
			return WHY("fd %d (%s): kind %u size %llu, want kind %u size %llu", r[k].fd,
				   st_name[k], r[k].kind, (unsigned long long)r[k].size, kind,
				   (unsigned long long)want);
	}
	for (k = ST_FD_FILE; k <= ST_FD_FILE_AGAIN; k++) {
		uint64_t pos = k == ST_FD_FILE_AGAIN ? ST_AGAIN_POS : ST_FILE_POS;

		if (r[k].kind != CLD_FD_REG || r[k].size != ST_FILE_SZ || r[k].pos != pos)
			return WHY("fd %d (%s): kind %u size %llu pos %llu, want %u %u %llu",
				   r[k].fd, st_name[k], r[k].kind, (unsigned long long)r[k].size,
				   (unsigned long long)r[k].pos, CLD_FD_REG, ST_FILE_SZ,
				   (unsigned long long)pos);
	}
	return check_state_pipedata(img, size, r[ST_FD_PIPE_R].ino, why, n);
}

/* Shared and separate open files of one file and of one pipe, pipe and
 * FIFO capacity, three kinds of lock, a child, oom_score_adj, THP. */
int t_ptrace_compare_state(void)
{
	static const struct cmp_case cc = { target_state, 1, 1, check_state };

	B->st_what = ST_ALL;
	return compare_one(&cc);
}

/* Each lock kind alone, the child alone, the tuning alone, none: each
 * flag comes from its own cause (ptrace_compare_state_<what>). */
int t_ptrace_compare_state_each(void)
{
	static const struct {
		const char *name;
		int what;
	} v[] = {
		{ "flock", ST_FLOCK }, { "posix", ST_POSIX }, { "ofd", ST_OFD },
		{ "child", ST_CHILD }, { "tune", ST_TUNE },   { "none", 0 },
	};
	const char *base = cur;
	static char name[64];
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct cmp_case cc = { target_state, 1, !!(v[i].what & ST_CHILD), check_state };

		snprintf(name, sizeof(name), "ptrace_compare_state_%s", v[i].name);
		cur = name;
		B->st_what = v[i].what;
		bad |= compare_one(&cc);
	}
	cur = base;
	return bad;
}

/* ---- anonymous-inode fds (format 1.2) -------------------------------- */

static const char *const ev_name[EV_NFD] = {
	[EV_FD_EPOLL] = "epoll",
	[EV_FD_PIPE_R] = "pipe read end",
	[EV_FD_PIPE_W] = "pipe write end",
	[EV_FD_WATCHED] = "watched eventfd",
	[EV_FD_COUNTER] = "counting eventfd",
	[EV_FD_TIMER] = "timerfd",
	[EV_FD_SIGNAL] = "signalfd",
	[EV_FD_PIDFD] = "pidfd",
	[EV_FD_PIDPATH] = "O_PATH pidfd",
};

/* Whether the running kernel is at least maj.min (the guest's uname). */
static int kernel_at_least(int maj, int min)
{
	struct utsname u;
	int a = 0, b = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &a, &b) != 2)
		return 0;
	return a > maj || (a == maj && b >= min);
}

/* Field 22 of /proc/self/stat: the driver's start time in clock ticks. */
static uint64_t self_start_ticks(void)
{
	char buf[1024], *s;
	ssize_t len;
	int fd = open("/proc/self/stat", O_RDONLY), i;

	len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	s = strrchr(buf, ')');
	for (i = 2; s && i < 22; i++)
		s = strchr(s + 1, ' ');
	return s ? strtoull(s + 1, NULL, 10) : 0;
}

/* The state[] of fd k: want[] exactly, except where any[] says. */
static int ev_state(const struct cld_fd_rec *r, int k, const uint64_t want[6], const int any[6],
		    char *why, size_t n)
{
	int j;

	for (j = 0; j < 6; j++)
		if (!any[j] && r->state[j] != want[j])
			return WHY("fd %d (%s): state[%d] %#llx, want %#llx", r->fd, ev_name[k], j,
				   (unsigned long long)r->state[j], (unsigned long long)want[j]);
	return 0;
}

/* EPOLL: the two registrations of the epoll fd, nothing else. */
static int check_events_epoll(const uint8_t *img, uint64_t size, char *why, size_t n)
{
	volatile int *fd = B->ev_fd;
	struct cld_array_hdr ah;
	struct cld_epoll_rec e;
	const uint8_t *note;
	uint32_t len, i, want;
	int seen = 0;

	note = find_note(img, size, CLD_NOTE_NAME, CLD_NT_EPOLL, 0, &len);
	if (!note || len < sizeof(ah))
		return WHY("no EPOLL note");
	memcpy(&ah, note, sizeof(ah));
	if (ah.rec_size < sizeof(e) || (uint64_t)ah.rec_size * ah.count > len - sizeof(ah))
		return WHY("EPOLL: %u records of %u bytes in %u", ah.count, ah.rec_size, len);
	if (ah.count != 2)
		return WHY("EPOLL: %u registrations, want 2", ah.count);
	for (i = 0; i < ah.count; i++) {
		memcpy(&e, note + sizeof(ah) + (uint64_t)i * ah.rec_size, sizeof(e));
		/* EPOLL_CTL_ADD adds EPOLLERR|EPOLLHUP to what it is given. */
		if (e.epfd != fd[EV_FD_EPOLL] || e.pad)
			return WHY("EPOLL record %u: epfd %d pad %u, want %d 0", i, e.epfd, e.pad,
				   fd[EV_FD_EPOLL]);
		if (e.tfd == fd[EV_FD_PIPE_R]) {
			want = EPOLLIN | EPOLLERR | EPOLLHUP;
			if (e.events != want || e.data != EV_DATA_PIPE)
				return WHY("EPOLL of the pipe: events %#x data %#llx, want %#x %#x",
					   e.events, (unsigned long long)e.data, want,
					   EV_DATA_PIPE);
			seen |= 1;
		} else if (e.tfd == fd[EV_FD_WATCHED]) {
			want = EPOLLIN | EPOLLET | EPOLLERR | EPOLLHUP;
			if (e.events != want || e.data != EV_DATA_EVENTFD)
				return WHY(
					"EPOLL of the eventfd: events %#x data %#llx, want %#x %#x",
					e.events, (unsigned long long)e.data, want,
					EV_DATA_EVENTFD);
			seen |= 2;
		} else {
			return WHY("EPOLL record %u: tfd %d, not a watched fd", i, e.tfd);
		}
	}
	return seen == 3 ? 0 : WHY("EPOLL: a registration twice, the other missing");
}

/*
 * FDS: the kind and state of each of target_events' fds.  Before 6.5 an
 * eventfd's fdinfo has no eventfd-semaphore line: UNSUPPORTED, no state;
 * an O_PATH file's fdinfo has no state at all.
 */
static int check_events(const uint8_t *img, uint64_t size, char *why, size_t n)
{
	const int has_sem = kernel_at_least(6, 5);
	const uint32_t efd = has_sem ? CLD_FD_EVENTFD : CLD_FD_UNSUPPORTED;
	const uint32_t kind[EV_NFD] = {
		[EV_FD_EPOLL] = CLD_FD_EPOLL,
		[EV_FD_PIPE_R] = CLD_FD_PIPE,
		[EV_FD_PIPE_W] = CLD_FD_PIPE,
		[EV_FD_WATCHED] = efd,
		[EV_FD_COUNTER] = efd,
		[EV_FD_TIMER] = CLD_FD_TIMERFD,
		[EV_FD_SIGNAL] = CLD_FD_SIGNALFD,
		[EV_FD_PIDFD] = CLD_FD_PIDFD,
		[EV_FD_PIDPATH] = CLD_FD_UNSUPPORTED,
	};
	uint64_t want[EV_NFD][6] = { { 0 } };
	int any[EV_NFD][6] = { { 0 } };
	struct cld_fd_rec r[EV_NFD], o;
	struct cld_array_hdr ah;
	const uint8_t *note;
	uint32_t len, i;
	uint64_t left;
	int k, found[EV_NFD] = { 0 };

	note = find_note(img, size, CLD_NOTE_NAME, CLD_NT_FDS, 0, &len);
	if (!note || len < sizeof(ah))
		return WHY("no FDS note");
	memcpy(&ah, note, sizeof(ah));
	if (ah.rec_size < sizeof(o) || (uint64_t)ah.rec_size * ah.count > len - sizeof(ah))
		return WHY("FDS: %u records of %u bytes in %u", ah.count, ah.rec_size, len);
	for (i = 0; i < ah.count; i++) {
		memcpy(&o, note + sizeof(ah) + (uint64_t)i * ah.rec_size, sizeof(o));
		for (k = 0; k < EV_NFD; k++)
			if (o.fd == B->ev_fd[k]) {
				r[k] = o;
				found[k] = 1;
			}
	}
	if (has_sem) {
		want[EV_FD_COUNTER][0] = EV_COUNT;
		want[EV_FD_COUNTER][1] = 1; /* EFD_SEMAPHORE */
	}
	want[EV_FD_TIMER][0] = CLOCK_MONOTONIC;
	want[EV_FD_TIMER][3] = EV_INTERVAL_S * 1000000000ull;
	any[EV_FD_TIMER][2] = any[EV_FD_TIMER][5] = 1; /* volatile, below */
	want[EV_FD_SIGNAL][0] = 1ull << (SIGUSR1 - 1);
	want[EV_FD_PIDFD][0] = (uint64_t)getpid();
	want[EV_FD_PIDFD][1] = self_start_ticks();
	for (k = 0; k < EV_NFD; k++) {
		if (!found[k])
			return WHY("no FDS record of fd %d (%s)", B->ev_fd[k], ev_name[k]);
		if (r[k].kind != kind[k])
			return WHY("fd %d (%s): kind %#x, want %#x", r[k].fd, ev_name[k], r[k].kind,
				   kind[k]);
		if (ev_state(&r[k], k, want[k], any[k], why, n))
			return -1;
	}
	/* Armed for EV_TIMER_S, some of which passed; the clock read. */
	left = r[EV_FD_TIMER].state[2];
	if (!left || left > EV_TIMER_S * 1000000000ull || !r[EV_FD_TIMER].state[5])
		return WHY("timerfd: %llu ns left, clock %llu", (unsigned long long)left,
			   (unsigned long long)r[EV_FD_TIMER].state[5]);
	return check_events_epoll(img, size, why, n);
}

/* An epoll fd watching a pipe and an eventfd, an eventfd with a count, a
 * timerfd, a signalfd, a pidfd and an O_PATH pidfd: kinds, states,
 * registrations. */
int t_ptrace_compare_events(void)
{
	static const struct cmp_case cc = { target_events, 1, 0, check_events };

	return compare_one(&cc);
}
