// SPDX-License-Identifier: MIT
/* The cluster configuration file and the cluster key (config.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clondike/config.h"

#define CONF_FILE_MAX (1u << 20) /* a config file larger than this is a mistake */
#define CONF_ARGS_MAX 8

#define TIMEOUT_MIN 100u
#define TIMEOUT_MAX 600000u
#define HEARTBEAT_MIN 50u
#define HEARTBEAT_MAX 60000u
#define CACHE_MAX 65536u

/* Where the parser is, for messages. */
struct conf_pos {
	const char *file;
	unsigned int line;
	struct cld_err *err;
};

__attribute__((format(printf, 3, 4))) static int conf_fail(const struct conf_pos *p, int code,
							   const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return cld_err_set(p->err, code, "%.100s:%u: %s", p->file, p->line, what);
}

static void conf_defaults(struct cld_cluster_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->key_path, sizeof(c->key_path), "%s", CLD_KEY_DEFAULT);
	c->timeout_ms = 5000;
	c->heartbeat_ms = 1000;
	c->cache_mb = 64;
}

int cld_node_name_ok(const char *name)
{
	size_t i, n;

	if (!name)
		return 0;
	n = strlen(name);
	if (n == 0 || n >= CLD_NODE_NAME_MAX)
		return 0;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	for (i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

const char *cld_role_name(enum cld_role r)
{
	switch (r) {
	case CLD_ROLE_CORE:
		return "core";
	case CLD_ROLE_DETACHED:
		return "detached";
	}
	return "?";
}

const struct cld_node_conf *cld_conf_find(const struct cld_cluster_conf *c, const char *name)
{
	size_t i;

	if (!c || !name)
		return NULL;
	for (i = 0; i < c->n; i++)
		if (!strcmp(c->nodes[i].name, name))
			return &c->nodes[i];
	return NULL;
}

void cld_conf_free(struct cld_cluster_conf *c)
{
	if (!c)
		return;
	free(c->nodes);
	c->nodes = NULL;
	c->n = 0;
}

/* A decimal number within [min, max]; no sign, no suffix. */
static int parse_uint(const struct conf_pos *p, const char *what, const char *s, unsigned long min,
		      unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	const char *q;

	if (!*s)
		return conf_fail(p, -EINVAL, "%s: missing number", what);
	for (q = s; *q; q++) {
		if (*q < '0' || *q > '9')
			return conf_fail(p, -EINVAL, "%s: bad number '%.40s'", what, s);
		if (v > (ULONG_MAX - 9) / 10) {
			v = ULONG_MAX; /* saturate: reported as out of range below */
			continue;
		}
		v = v * 10 + (unsigned long)(*q - '0');
	}
	if (v < min || v > max)
		return conf_fail(p, -EINVAL, "%s %.40s is out of range (%lu..%lu)", what, s, min,
				 max);
	*out = v;
	return 0;
}

/* Characters allowed in a host name or an IPv4 address written in the file. */
static int host_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_';
}

/* An IPv6 address, optionally with a %zone. */
static int ipv6_ok(const char *s)
{
	char addr[INET6_ADDRSTRLEN];
	struct in6_addr a;
	const char *pct = strchr(s, '%');
	size_t n = pct ? (size_t)(pct - s) : strlen(s);

	if (n == 0 || n >= sizeof(addr))
		return 0;
	if (pct) {
		const char *z;

		if (!pct[1] || strlen(pct + 1) >= 64)
			return 0;
		for (z = pct + 1; *z; z++)
			if (!host_char_ok(*z))
				return 0;
	}
	memcpy(addr, s, n);
	addr[n] = '\0';
	return inet_pton(AF_INET6, addr, &a) == 1;
}

/* HOST:PORT or [IPV6]:PORT into nc->host (without brackets) and nc->port. */
static int parse_addr(const struct conf_pos *p, const char *s, struct cld_node_conf *nc)
{
	const char *port, *host = s;
	size_t hlen, i;
	unsigned long v;
	int r;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end)
			return conf_fail(p, -EINVAL, "address '%.80s': missing ']'", s);
		host = s + 1;
		hlen = (size_t)(end - host);
		if (end[1] != ':')
			return conf_fail(p, -EINVAL,
					 "address '%.80s': missing port (write [ADDRESS]:PORT)", s);
		port = end + 2;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon)
			return conf_fail(p, -EINVAL,
					 "address '%.80s': missing port (write HOST:PORT)", s);
		if (memchr(s, ':', (size_t)(colon - s)))
			return conf_fail(
				p, -EINVAL,
				"address '%.80s': an IPv6 address must be written in brackets, "
				"as [ADDRESS]:PORT",
				s);
		hlen = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hlen == 0)
		return conf_fail(p, -EINVAL, "address '%.80s': missing host", s);
	if (hlen >= sizeof(nc->host))
		return conf_fail(p, -EINVAL, "address '%.80s...': host name too long", s);
	memcpy(nc->host, host, hlen);
	nc->host[hlen] = '\0';
	if (s[0] == '[') {
		if (!ipv6_ok(nc->host))
			return conf_fail(p, -EINVAL, "address '%.80s': bad IPv6 address", s);
	} else {
		for (i = 0; i < hlen; i++)
			if (!host_char_ok(nc->host[i]))
				return conf_fail(p, -EINVAL, "address '%.80s': bad host name", s);
	}
	if (!*port)
		return conf_fail(p, -EINVAL, "address '%.80s': missing port", s);
	r = parse_uint(p, "port", port, 1, 65535, &v);
	if (r)
		return r;
	nc->port = (uint16_t)v;
	return 0;
}

static int parse_node(const struct conf_pos *p, char **argv, int argc, struct cld_cluster_conf *c,
		      size_t *cap)
{
	struct cld_node_conf nc;
	const struct cld_node_conf *old;
	size_t i;
	int r;

	if (argc < 3)
		return conf_fail(p, -EINVAL,
				 "node needs a name and an address: node NAME HOST:PORT "
				 "[core|detached]");
	if (argc > 4)
		return conf_fail(p, -EINVAL, "node %.64s: too many arguments ('%.64s')", argv[1],
				 argv[4]);
	memset(&nc, 0, sizeof(nc));
	if (!cld_node_name_ok(argv[1]))
		return conf_fail(p, -EINVAL,
				 "bad node name '%.80s' (use 1 to %d of A-Z a-z 0-9 . _ -, "
				 "not . or ..)",
				 argv[1], CLD_NODE_NAME_MAX - 1);
	memcpy(nc.name, argv[1], strlen(argv[1]) + 1);
	old = cld_conf_find(c, nc.name);
	if (old)
		return conf_fail(p, -EINVAL, "duplicate node name '%s' (first defined on line %u)",
				 nc.name, old->line);
	r = parse_addr(p, argv[2], &nc);
	if (r)
		return r;
	nc.role = CLD_ROLE_CORE;
	if (argc == 4) {
		if (!strcmp(argv[3], "core"))
			nc.role = CLD_ROLE_CORE;
		else if (!strcmp(argv[3], "detached"))
			nc.role = CLD_ROLE_DETACHED;
		else
			return conf_fail(p, -EINVAL,
					 "node %s: unknown role '%.40s' (core or detached)",
					 nc.name, argv[3]);
	}
	for (i = 0; i < c->n; i++)
		if (c->nodes[i].port == nc.port && !strcmp(c->nodes[i].host, nc.host))
			return conf_fail(p, -EINVAL, "node %s: same address as node %s (line %u)",
					 nc.name, c->nodes[i].name, c->nodes[i].line);
	nc.line = p->line;
	if (c->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct cld_node_conf *nn = realloc(c->nodes, ncap * sizeof(*nn));

		if (!nn)
			return conf_fail(p, -ENOMEM, "out of memory");
		c->nodes = nn;
		*cap = ncap;
	}
	c->nodes[c->n++] = nc;
	return 0;
}

/* Settings that may appear once; line of the first occurrence, 0 if none. */
struct conf_seen {
	unsigned int key, timeout, heartbeat, cache;
};

static int once(const struct conf_pos *p, const char *what, unsigned int *seen)
{
	if (*seen)
		return conf_fail(p, -EINVAL, "duplicate '%s' (first set on line %u)", what, *seen);
	*seen = p->line;
	return 0;
}

static int parse_number_directive(const struct conf_pos *p, char **argv, int argc,
				  unsigned int *seen, unsigned long min, unsigned long max,
				  unsigned int *out)
{
	unsigned long v;
	int r;

	if (argc != 2)
		return conf_fail(p, -EINVAL, "%s takes one number (%lu..%lu)", argv[0], min, max);
	r = once(p, argv[0], seen);
	if (r)
		return r;
	r = parse_uint(p, argv[0], argv[1], min, max, &v);
	if (r)
		return r;
	*out = (unsigned int)v;
	return 0;
}

/* One line without its newline; line is modified (split into words). */
static int parse_line(const struct conf_pos *p, char *line, struct cld_cluster_conf *c,
		      struct conf_seen *seen, size_t *cap)
{
	char *argv[CONF_ARGS_MAX];
	char *hash, *s = line;
	int argc = 0, r;

	hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\v' || *s == '\f')
			s++;
		if (!*s)
			break;
		if (argc == CONF_ARGS_MAX)
			return conf_fail(p, -EINVAL, "too many words on the line");
		argv[argc++] = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\v' && *s != '\f')
			s++;
		if (*s)
			*s++ = '\0';
	}
	if (argc == 0)
		return 0;

	if (!strcmp(argv[0], "node"))
		return parse_node(p, argv, argc, c, cap);
	if (!strcmp(argv[0], "key")) {
		if (argc != 2)
			return conf_fail(p, -EINVAL, "key takes one path (no spaces)");
		r = once(p, "key", &seen->key);
		if (r)
			return r;
		if (strlen(argv[1]) >= sizeof(c->key_path))
			return conf_fail(p, -EINVAL, "key path too long");
		memcpy(c->key_path, argv[1], strlen(argv[1]) + 1);
		return 0;
	}
	if (!strcmp(argv[0], "timeout"))
		return parse_number_directive(p, argv, argc, &seen->timeout, TIMEOUT_MIN,
					      TIMEOUT_MAX, &c->timeout_ms);
	if (!strcmp(argv[0], "heartbeat"))
		return parse_number_directive(p, argv, argc, &seen->heartbeat, HEARTBEAT_MIN,
					      HEARTBEAT_MAX, &c->heartbeat_ms);
	if (!strcmp(argv[0], "cache"))
		return parse_number_directive(p, argv, argc, &seen->cache, 0, CACHE_MAX,
					      &c->cache_mb);
	return conf_fail(
		p, -EINVAL,
		"unknown directive '%.40s' (expected key, timeout, heartbeat, cache or node)",
		argv[0]);
}

int cld_conf_parse(const char *text, size_t len, const char *name, struct cld_cluster_conf *c,
		   struct cld_err *err)
{
	struct cld_cluster_conf tmp;
	struct conf_seen seen = { 0 };
	struct conf_pos p = { .file = name ? name : "(config)", .line = 0, .err = err };
	size_t off = 0, cap = 0;
	char *line = NULL;
	int r = 0;

	conf_defaults(&tmp);
	if (len > CONF_FILE_MAX) {
		r = cld_err_set(err, -EFBIG, "%.100s: too large (%zu bytes, at most %u)", p.file,
				len, CONF_FILE_MAX);
		goto out;
	}
	line = malloc(len + 1);
	if (!line) {
		r = cld_err_set(err, -ENOMEM, "%.100s: out of memory", p.file);
		goto out;
	}
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;

		p.line++;
		if (memchr(text + off, '\0', n)) {
			r = conf_fail(&p, -EINVAL, "NUL byte in the line");
			goto out;
		}
		memcpy(line, text + off, n);
		line[n] = '\0';
		r = parse_line(&p, line, &tmp, &seen, &cap);
		if (r)
			goto out;
		off += n + (nl ? 1 : 0);
	}
	if (tmp.n == 0) {
		r = cld_err_set(
			err, -EINVAL,
			"%.100s: no nodes (add lines 'node NAME HOST:PORT [core|detached]')",
			p.file);
		goto out;
	}
out:
	free(line);
	if (r) {
		cld_conf_free(&tmp);
		conf_defaults(c);
		return r;
	}
	*c = tmp;
	return 0;
}

int cld_conf_load(const char *path, struct cld_cluster_conf *c, struct cld_err *err)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, r;

	conf_defaults(c);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return cld_err_set(err, -errno, "cannot open %.200s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = cld_err_set(err, -errno, "%.200s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = cld_err_set(err, -EINVAL, "%.200s: not a regular file", path);
		goto out;
	}
	if (st.st_size > (off_t)CONF_FILE_MAX) {
		r = cld_err_set(err, -EFBIG, "%.200s: too large (%lld bytes, at most %u)", path,
				(long long)st.st_size, CONF_FILE_MAX);
		goto out;
	}
	/* One byte more than the limit, to notice a file that grew meanwhile. */
	text = malloc(CONF_FILE_MAX + 1);
	if (!text) {
		r = cld_err_set(err, -ENOMEM, "%.200s: out of memory", path);
		goto out;
	}
	while (len <= CONF_FILE_MAX) {
		ssize_t n = read(fd, text + len, CONF_FILE_MAX + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = cld_err_set(err, -errno, "reading %.200s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = cld_conf_parse(text, len, path, c, err);
out:
	free(text);
	close(fd);
	return r;
}

int cld_key_load(const char *path, uint8_t key[CLD_KEY_BYTES], struct cld_err *err)
{
	crypto_generichash_state st;
	uint8_t buf[4096], out[CLD_KEY_BYTES];
	struct stat sb;
	size_t total = 0;
	int fd, r;

	if (sodium_init() < 0)
		return cld_err_set(err, -EIO, "cluster key: libsodium initialisation failed");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			return cld_err_set(err, r,
					   "cluster key %.200s is a symbolic link: refused (name "
					   "the file itself in the configuration)",
					   path);
		return cld_err_set(err, r, "cannot open the cluster key %.200s: %s", path,
				   strerror(-r));
	}
	if (fstat(fd, &sb) < 0) {
		r = cld_err_set(err, -errno, "cluster key %.200s: %s", path, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = cld_err_set(err, -EINVAL, "cluster key %.200s is not a regular file", path);
		goto out_close;
	}
	if (sb.st_mode & 077) {
		r = cld_err_set(err, -EPERM,
				"cluster key %.200s has mode %04o: only its owner may have access, "
				"it must be 0600 or 0400 (chmod 600 %.200s)",
				path, (unsigned int)(sb.st_mode & 07777), path);
		goto out_close;
	}
	if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
		r = cld_err_set(err, -EPERM,
				"cluster key %.200s is owned by uid %u: it must be owned by root "
				"or by uid %u, the daemon's user",
				path, (unsigned int)sb.st_uid, (unsigned int)geteuid());
		goto out_close;
	}
	if (sb.st_size < CLD_KEY_FILE_MIN || sb.st_size > CLD_KEY_FILE_MAX) {
		r = cld_err_set(err, -EINVAL,
				"cluster key %.200s is %lld bytes: it must hold %d to %d bytes "
				"(make one with 'clondike keygen FILE')",
				path, (long long)sb.st_size, CLD_KEY_FILE_MIN, CLD_KEY_FILE_MAX);
		goto out_close;
	}

	crypto_generichash_init(&st, NULL, 0, CLD_KEY_BYTES);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = cld_err_set(err, -errno, "reading the cluster key %.200s: %s", path,
					strerror(errno));
			goto out_wipe;
		}
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > CLD_KEY_FILE_MAX)
			break; /* grew while we read: reported below */
		crypto_generichash_update(&st, buf, (unsigned long long)n);
	}
	/* The file may have changed size since fstat. */
	if (total < CLD_KEY_FILE_MIN || total > CLD_KEY_FILE_MAX) {
		r = cld_err_set(err, -EINVAL,
				"cluster key %.200s changed while being read (%zu bytes read; it "
				"must hold %d to %d bytes)",
				path, total, CLD_KEY_FILE_MIN, CLD_KEY_FILE_MAX);
		goto out_wipe;
	}
	crypto_generichash_final(&st, out, sizeof(out));
	memcpy(key, out, sizeof(out));
	r = 0;
out_wipe:
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(out, sizeof(out));
out_close:
	close(fd);
	return r;
}
