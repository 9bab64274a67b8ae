// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The state of the fds a restart re-creates (format 1.2: eventfd, timerfd,
 * signalfd, pidfd, epoll), read from fdinfo text: what the ptrace backend
 * reads in /proc/PID/fdinfo/N and the module gets from the file's
 * show_fdinfo.  One parser, so both backends record the same bytes.
 */
#include "codec_env.h"

/* The value after "key" at the start of a line of info, NULL if none. */
static const char *field(const char *info, const char *key)
{
	size_t n = strlen(key);
	const char *l;

	for (l = info; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (!strncmp(l, key, n))
			return l + n;
	return NULL;
}

/* A number in base 8, 10 or 16 after blanks; *ok cleared if there is none. */
static uint64_t num(const char **s, unsigned int base, bool *ok)
{
	const char *p = *s;
	uint64_t v = 0;
	bool neg = false, any = false;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '-') {
		neg = true;
		p++;
	}
	for (;; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a' + 10);
		else
			break;
		if (d >= base)
			break;
		v = v * base + d;
		any = true;
	}
	if (!any)
		*ok = false;
	*s = p;
	return neg ? (uint64_t)-(int64_t)v : v;
}

static uint64_t key_num(const char *info, const char *key, unsigned int base, bool *ok)
{
	const char *s = field(info, key);

	if (!s) {
		*ok = false;
		return 0;
	}
	return num(&s, base, ok);
}

/* "(sec, nsec)" as ns. */
static uint64_t key_ts(const char *info, const char *key, bool *ok)
{
	const char *s = field(info, key);
	uint64_t sec, nsec;

	while (s && (*s == ' ' || *s == '('))
		s++;
	if (!s) {
		*ok = false;
		return 0;
	}
	sec = num(&s, 10, ok);
	while (*s == ',' || *s == ' ')
		s++;
	nsec = num(&s, 10, ok);
	return sec * 1000000000ull + nsec;
}

void cld_fdinfo_state(struct cld_fd_rec *r, const char *info, uint64_t realtime_ns)
{
	__u64 *st = r->state;
	bool ok = true;

	/* An O_PATH open (0o10000000 on x86) of one of these is none of them:
	 * no show_fdinfo, nothing to re-create. */
	if (r->kind >= CLD_FD_EPOLL && r->kind <= CLD_FD_INOTIFY && (r->fl_flags & 010000000)) {
		memset(r->state, 0, sizeof(r->state));
		r->kind = CLD_FD_UNSUPPORTED;
		return;
	}
	switch (r->kind) {
	case CLD_FD_EVENTFD:
		st[0] = key_num(info, "eventfd-count:", 16, &ok);
		/* Before 6.5 fdinfo does not say: not known, not restorable. */
		st[1] = key_num(info, "eventfd-semaphore:", 10, &ok);
		break;
	case CLD_FD_TIMERFD:
		st[0] = key_num(info, "clockid:", 10, &ok);
		st[1] = key_num(info, "settime flags:", 8, &ok);
		st[2] = key_ts(info, "it_value:", &ok);
		st[3] = key_ts(info, "it_interval:", &ok);
		st[4] = key_num(info, "ticks:", 10, &ok);
		st[5] = realtime_ns;
		break;
	case CLD_FD_SIGNALFD:
		st[0] = key_num(info, "sigmask:", 16, &ok);
		break;
	case CLD_FD_PIDFD:
		/* -1: the process exited; 0: not in our pid namespace. */
		st[0] = key_num(info, "Pid:", 10, &ok);
		ok = ok && (int64_t)st[0] > 0;
		break;
	default:
		return;
	}
	if (!ok) {
		memset(r->state, 0, sizeof(r->state));
		r->kind = CLD_FD_UNSUPPORTED;
	}
}

/*
 * A watched fd must still be the file it was registered as (epoll keys a
 * registration by file and fd number): else the fd was closed or reused
 * and the registration cannot be made again.
 */
static bool same_target(const struct cld_proc *p, int tfd, uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++)
		if (p->fds[i].rec.fd == tfd)
			return p->fds[i].rec.ino == ino && p->fds[i].rec.kind != CLD_FD_EPOLL;
	return false;
}

int cld_fdinfo_epoll(struct cld_proc *p, uint32_t idx, const char *info)
{
	struct cld_fd_rec *r = &p->fds[idx].rec;
	struct cld_epoll_rec *n;
	uint32_t count = 0, k = 0;
	const char *l;
	bool ok = true;

	for (l = info; (l = field(l, "tfd:")); count++)
		;
	if (!count)
		return 0;
	n = cld_calloc(p->nr_epolls + count, sizeof(*n));
	if (!n)
		return -ENOMEM;
	if (p->nr_epolls)
		memcpy(n, p->epolls, p->nr_epolls * sizeof(*n));
	for (l = info; (l = field(l, "tfd:"));) {
		struct cld_epoll_rec *e = &n[p->nr_epolls + k++];
		const char *s;
		uint64_t ino;

		e->epfd = r->fd;
		e->tfd = (int32_t)num(&l, 10, &ok);
		/* The rest of this line: "events: %x data: %llx pos:%lli ino:%lx ..." */
		s = strstr(l, "events:");
		if (!s)
			ok = false;
		s = s ? s + 7 : l;
		e->events = (uint32_t)num(&s, 16, &ok);
		s = strstr(s, "data:");
		s = s ? s + 5 : l;
		e->data = num(&s, 16, &ok);
		s = strstr(s, "ino:");
		s = s ? s + 4 : l;
		ino = num(&s, 16, &ok);
		if (!same_target(p, e->tfd, ino))
			ok = false;
	}
	if (!ok) {
		/* Not restorable: without its registrations. */
		cld_free(n);
		r->kind = CLD_FD_UNSUPPORTED;
		return 0;
	}
	cld_free(p->epolls);
	p->epolls = n;
	p->nr_epolls += count;
	return 0;
}

uint32_t cld_anon_kind(const char *link)
{
	static const struct {
		const char *link;
		uint32_t kind;
	} k[] = {
		{ "anon_inode:[eventpoll]", CLD_FD_EPOLL },
		{ "anon_inode:[eventfd]", CLD_FD_EVENTFD },
		{ "anon_inode:[timerfd]", CLD_FD_TIMERFD },
		{ "anon_inode:[signalfd]", CLD_FD_SIGNALFD },
		{ "anon_inode:[pidfd]", CLD_FD_PIDFD },
		{ "anon_inode:inotify", CLD_FD_INOTIFY },
	};
	size_t i;

	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (!strcmp(link, k[i].link))
			return k[i].kind;
	if (!strncmp(link, "pidfd:", 6)) /* pidfs, 6.9 and later */
		return CLD_FD_PIDFD;
	return CLD_FD_UNSUPPORTED;
}
