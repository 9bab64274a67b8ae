// SPDX-License-Identifier: MIT
/* The cluster configuration parser and the cluster key loader. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clondike/config.h"

static int parse(const char *text, struct cld_cluster_conf *c, struct cld_err *err)
{
	cld_err_clear(err);
	return cld_conf_parse(text, strlen(text), "t.conf", c, err);
}

START_TEST(good_full)
{
	static const char text[] = "# the test cluster\n"
				   "\n"
				   "key\t/etc/clondike/test.key   # trailing comment\r\n"
				   "   timeout 2000\n"
				   "heartbeat\t500\r\n"
				   "cache 128\n"
				   "   \t  \n"
				   "node n1 192.0.2.1:7300 core\n"
				   "node n2 [2001:db8::2]:7301 detached   # ipv6\n"
				   "node n3 host-3.example.org:65535\n"
				   "node N_4.x [fe80::1%eth0]:1 core\n"
				   "#node n5 10.0.0.5:7300\n"
				   "node n6 localhost:7306 detached"; /* no final newline */
	struct cld_cluster_conf c;
	struct cld_err err = { 0 };

	ck_assert_msg(parse(text, &c, &err) == 0, "parse: %s", cld_err_str(&err));
	ck_assert_str_eq(c.key_path, "/etc/clondike/test.key");
	ck_assert_uint_eq(c.timeout_ms, 2000);
	ck_assert_uint_eq(c.heartbeat_ms, 500);
	ck_assert_uint_eq(c.cache_mb, 128);
	ck_assert_uint_eq(c.n, 5);

	ck_assert_str_eq(c.nodes[0].name, "n1");
	ck_assert_str_eq(c.nodes[0].host, "192.0.2.1");
	ck_assert_uint_eq(c.nodes[0].port, 7300);
	ck_assert_int_eq(c.nodes[0].role, CLD_ROLE_CORE);
	ck_assert_uint_eq(c.nodes[0].line, 8);

	ck_assert_str_eq(c.nodes[1].name, "n2");
	ck_assert_str_eq(c.nodes[1].host, "2001:db8::2");
	ck_assert_uint_eq(c.nodes[1].port, 7301);
	ck_assert_int_eq(c.nodes[1].role, CLD_ROLE_DETACHED);
	ck_assert_uint_eq(c.nodes[1].line, 9);

	ck_assert_str_eq(c.nodes[2].host, "host-3.example.org");
	ck_assert_uint_eq(c.nodes[2].port, 65535);
	ck_assert_int_eq(c.nodes[2].role, CLD_ROLE_CORE);

	ck_assert_str_eq(c.nodes[3].name, "N_4.x");
	ck_assert_str_eq(c.nodes[3].host, "fe80::1%eth0");
	ck_assert_uint_eq(c.nodes[3].port, 1);

	ck_assert_str_eq(c.nodes[4].name, "n6");
	ck_assert_str_eq(c.nodes[4].host, "localhost");
	ck_assert_int_eq(c.nodes[4].role, CLD_ROLE_DETACHED);
	ck_assert_uint_eq(c.nodes[4].line, 13);
	cld_conf_free(&c);
	ck_assert_ptr_null(c.nodes);
	ck_assert_uint_eq(c.n, 0);
	cld_conf_free(&c); /* twice is harmless */
}
END_TEST

START_TEST(good_defaults)
{
	struct cld_cluster_conf c;
	struct cld_err err = { 0 };

	ck_assert_msg(parse("node solo 127.0.0.1:7300\n", &c, &err) == 0, "parse: %s",
		      cld_err_str(&err));
	ck_assert_str_eq(c.key_path, CLD_KEY_DEFAULT);
	ck_assert_uint_eq(c.timeout_ms, 5000);
	ck_assert_uint_eq(c.heartbeat_ms, 1000);
	ck_assert_uint_eq(c.cache_mb, 64);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_int_eq(c.nodes[0].role, CLD_ROLE_CORE);
	ck_assert_uint_eq(c.nodes[0].line, 1);
	cld_conf_free(&c);
}
END_TEST

START_TEST(good_bounds)
{
	static const char *const ok[] = {
		"timeout 100\nheartbeat 50\ncache 0\nnode a h:1\n",
		"timeout 600000\nheartbeat 60000\ncache 65536\nnode a h:65535\n",
		"timeout 0000300\nnode a h:07300\n", /* leading zeros are decimal */
		"node a [::1]:7300\nnode b [::1]:7301\nnode c 127.0.0.1:7300\n",
	};
	struct cld_cluster_conf c;
	struct cld_err err = { 0 };
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(parse(ok[i], &c, &err) == 0, "config %zu: %s", i, cld_err_str(&err));
		cld_conf_free(&c);
	}
	ck_assert_int_eq(parse("timeout 0000300\nnode a h:07300\n", &c, &err), 0);
	ck_assert_uint_eq(c.timeout_ms, 300);
	ck_assert_uint_eq(c.nodes[0].port, 7300);
	cld_conf_free(&c);
}
END_TEST

START_TEST(many_nodes)
{
	struct cld_cluster_conf c;
	struct cld_err err = { 0 };
	char *text = malloc(200 * 64), *p = text;
	char name[16];
	int i;

	for (i = 0; i < 200; i++)
		p += sprintf(p, "node node%03d 10.0.%d.%d:%d %s\n", i, i / 100, i % 100, 7000 + i,
			     i % 3 ? "core" : "detached");
	ck_assert_msg(parse(text, &c, &err) == 0, "parse: %s", cld_err_str(&err));
	ck_assert_uint_eq(c.n, 200);
	for (i = 0; i < 200; i++) {
		const struct cld_node_conf *n;

		snprintf(name, sizeof(name), "node%03d", i);
		n = cld_conf_find(&c, name);
		ck_assert_ptr_nonnull(n);
		ck_assert_ptr_eq(n, &c.nodes[i]);
		ck_assert_uint_eq(n->port, 7000 + i);
		ck_assert_uint_eq(n->line, (unsigned int)i + 1);
		ck_assert_int_eq(n->role, i % 3 ? CLD_ROLE_CORE : CLD_ROLE_DETACHED);
	}
	cld_conf_free(&c);
	free(text);
}
END_TEST

/* Each bad config: the line the message must name and a phrase it must hold. */
static const struct bad {
	const char *text;
	unsigned int line;
	const char *says;
} bad[] = {
	{ "node n1 127.0.0.1:7300\nfrobnicate 3\n", 2, "unknown directive 'frobnicate'" },
	{ "# c\n\n   \nnode n1 h:1\n\tbogus # x\n", 5, "unknown directive 'bogus'" },
	{ "Node n1 h:1\n", 1, "unknown directive" },
	{ "node n1 h:1\ntimeout 12x\n", 2, "bad number" },
	{ "node n1 h:1\ntimeout -5\n", 2, "bad number" },
	{ "node n1 h:1\ntimeout 0x10\n", 2, "bad number" },
	{ "node n1 h:1\ntimeout 99\n", 2, "out of range" },
	{ "node n1 h:1\ntimeout 600001\n", 2, "out of range" },
	{ "node n1 h:1\ntimeout 99999999999999999999999999\n", 2, "out of range" },
	{ "node n1 h:1\nheartbeat 49\n", 2, "out of range" },
	{ "node n1 h:1\nheartbeat 60001\n", 2, "out of range" },
	{ "node n1 h:1\ncache 65537\n", 2, "out of range" },
	{ "node n1 h:1\ntimeout\n", 2, "timeout takes one number" },
	{ "node n1 h:1\ncache 1 2\n", 2, "cache takes one number" },
	{ "timeout 1000\nnode n1 h:1\ntimeout 2000\n", 3,
	  "duplicate 'timeout' (first set on line 1)" },
	{ "key /a\nkey /b\nnode n1 h:1\n", 2, "duplicate 'key'" },
	{ "key\nnode n1 h:1\n", 1, "key takes one path" },
	{ "key /a b\nnode n1 h:1\n", 1, "key takes one path" },
	{ "node n1 h:1\nnode n2 h:2\nnode n1 h:3\n", 3,
	  "duplicate node name 'n1' (first defined on line 1)" },
	{ "node n/1 h:1\n", 1, "bad node name" },
	{ "node .. h:1\n", 1, "bad node name" },
	{ "node . h:1\n", 1, "bad node name" },
	{ "node n\xc3\xa9 h:1\n", 1, "bad node name" },
	{ "node aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa h:1\n", 1,
	  "bad node name" }, /* 64 characters */
	{ "node\n", 1, "node needs a name and an address" },
	{ "node n1\n", 1, "node needs a name and an address" },
	{ "node n1 127.0.0.1\n", 1, "missing port" },
	{ "node n1 127.0.0.1:\n", 1, "missing port" },
	{ "node n1 [::1]\n", 1, "missing port" },
	{ "node n1 [::1]:\n", 1, "missing port" },
	{ "node n1 [::1]7300\n", 1, "missing port" },
	{ "node n1 127.0.0.1:0\n", 1, "out of range" },
	{ "node n1 127.0.0.1:65536\n", 1, "out of range" },
	{ "node n1 127.0.0.1:7300x\n", 1, "bad number" },
	{ "node n1 127.0.0.1:+7300\n", 1, "bad number" },
	{ "node n1 :7300\n", 1, "missing host" },
	{ "node n1 []:7300\n", 1, "missing host" },
	{ "node n1 ::1:7300\n", 1, "brackets" },
	{ "node n1 [::1:7300\n", 1, "missing ']'" },
	{ "node n1 [zz::1]:7300\n", 1, "bad IPv6 address" },
	{ "node n1 [127.0.0.1]:7300\n", 1, "bad IPv6 address" },
	{ "node n1 [fe80::1%e$h]:7300\n", 1, "bad IPv6 address" },
	{ "node n1 [fe80::1%]:7300\n", 1, "bad IPv6 address" },
	{ "node n1 ho$t:7300\n", 1, "bad host name" },
	{ "node n1 h:1 leader\n", 1, "unknown role 'leader'" },
	{ "node n1 h:1 core extra\n", 1, "too many arguments" },
	{ "node n1 h:1\nnode n2 h:1 detached\n", 2, "same address as node n1 (line 1)" },
	{ "a b c d e f g h i j\n", 1, "too many words" },
};

START_TEST(bad_configs)
{
	struct cld_cluster_conf c;
	struct cld_err err = { 0 };
	char where[32];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0xa5, sizeof(c));
		ck_assert_msg(parse(bad[i].text, &c, &err) == -EINVAL, "config %zu accepted: %s", i,
			      bad[i].text);
		ck_assert_int_eq(err.code, -EINVAL);
		snprintf(where, sizeof(where), "t.conf:%u: ", bad[i].line);
		ck_assert_msg(!strncmp(err.msg, where, strlen(where)),
			      "config %zu: message '%s' does not start with '%s'", i, err.msg,
			      where);
		ck_assert_msg(strstr(err.msg, bad[i].says), "config %zu: message '%s' lacks '%s'",
			      i, err.msg, bad[i].says);
		/* Nothing left allocated; freeing is harmless. */
		ck_assert_ptr_null(c.nodes);
		ck_assert_uint_eq(c.n, 0);
		cld_conf_free(&c);
	}
}
END_TEST

START_TEST(bad_other)
{
	static const char nul[] = "node n1 h:1\ntime\0out 100\n";
	struct cld_cluster_conf c;
	struct cld_err err = { 0 };

	ck_assert_int_eq(cld_conf_parse(nul, sizeof(nul) - 1, "t.conf", &c, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "t.conf:2: ") && strstr(err.msg, "NUL"), "%s", err.msg);
	ck_assert_ptr_null(c.nodes);

	/* No node at all: nothing to run. */
	ck_assert_int_eq(parse("", &c, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "t.conf") && strstr(err.msg, "no nodes"), "%s", err.msg);
	ck_assert_int_eq(parse("# only a comment\ntimeout 1000\n", &c, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "no nodes"), "%s", err.msg);
	ck_assert_ptr_null(c.nodes);
}
END_TEST

START_TEST(find_and_names)
{
	struct cld_cluster_conf c;
	struct cld_err err = { 0 };
	char longest[CLD_NODE_NAME_MAX];

	ck_assert_int_eq(parse("node b h:1\nnode a h:2\nnode a.b h:3 detached\n", &c, &err), 0);
	ck_assert_ptr_eq(cld_conf_find(&c, "a"), &c.nodes[1]);
	ck_assert_ptr_eq(cld_conf_find(&c, "b"), &c.nodes[0]);
	ck_assert_ptr_eq(cld_conf_find(&c, "a.b"), &c.nodes[2]);
	ck_assert_ptr_null(cld_conf_find(&c, "c"));
	ck_assert_ptr_null(cld_conf_find(&c, "A"));
	ck_assert_ptr_null(cld_conf_find(&c, ""));
	ck_assert_ptr_null(cld_conf_find(&c, NULL));
	cld_conf_free(&c);
	ck_assert_ptr_null(cld_conf_find(&c, "a"));

	ck_assert(cld_node_name_ok("n1"));
	ck_assert(cld_node_name_ok("a"));
	ck_assert(cld_node_name_ok("Node-1.example_x"));
	ck_assert(cld_node_name_ok("..."));
	ck_assert(cld_node_name_ok(".hidden"));
	memset(longest, 'x', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	ck_assert(cld_node_name_ok(longest)); /* 63 bytes */
	ck_assert(!cld_node_name_ok(NULL));
	ck_assert(!cld_node_name_ok(""));
	ck_assert(!cld_node_name_ok("."));
	ck_assert(!cld_node_name_ok(".."));
	ck_assert(!cld_node_name_ok("a/b"));
	ck_assert(!cld_node_name_ok("a b"));
	ck_assert(!cld_node_name_ok("a:b"));
	ck_assert(!cld_node_name_ok("n\xc3\xa9"));
	ck_assert(!cld_node_name_ok("tab\t"));
	{
		char toolong[CLD_NODE_NAME_MAX + 1];

		memset(toolong, 'x', sizeof(toolong) - 1);
		toolong[sizeof(toolong) - 1] = '\0';
		ck_assert(!cld_node_name_ok(toolong)); /* 64 bytes */
	}
	ck_assert_str_eq(cld_role_name(CLD_ROLE_CORE), "core");
	ck_assert_str_eq(cld_role_name(CLD_ROLE_DETACHED), "detached");
}
END_TEST

/* ---- Files: cld_conf_load and cld_key_load ------------------------------ */

static char dir[64];

static void dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/cld-test-config-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *in_dir(const char *name)
{
	static char path[2][128];
	static int which;

	which ^= 1;
	snprintf(path[which], sizeof(path[which]), "%s/%s", dir, name);
	return path[which];
}

/* Write n bytes to dir/name with exactly this mode; returns the path. */
static const char *put(const char *name, const void *data, size_t n, mode_t mode)
{
	const char *path = in_dir(name);
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

START_TEST(conf_load_file)
{
	static const char text[] = "key /k\nnode n1 127.0.0.1:7301\nnode n2 127.0.0.1:7302\nbad\n";
	struct cld_cluster_conf c;
	struct cld_err err = { 0 };
	const char *path;
	char want[160];

	path = put("good.conf", text, strlen(text) - 4, 0644);
	ck_assert_msg(cld_conf_load(path, &c, &err) == 0, "load: %s", cld_err_str(&err));
	ck_assert_uint_eq(c.n, 2);
	ck_assert_str_eq(c.key_path, "/k");
	ck_assert_uint_eq(cld_conf_find(&c, "n2")->port, 7302);
	cld_conf_free(&c);

	/* Messages name the file as given. */
	path = put("bad.conf", text, strlen(text), 0644);
	ck_assert_int_eq(cld_conf_load(path, &c, &err), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: unknown directive", path);
	ck_assert_msg(strstr(err.msg, want), "message: %s", err.msg);
	ck_assert_ptr_null(c.nodes);

	ck_assert_int_eq(cld_conf_load(in_dir("missing.conf"), &c, &err), -ENOENT);
	ck_assert_msg(strstr(err.msg, "missing.conf"), "message: %s", err.msg);
	ck_assert_int_eq(cld_conf_load(dir, &c, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "not a regular file"), "message: %s", err.msg);
}
END_TEST

static uint8_t material[CLD_KEY_FILE_MAX + 1];

static void fill_material(void)
{
	size_t i;

	for (i = 0; i < sizeof(material); i++)
		material[i] = (uint8_t)(i * 131 + (i >> 8) * 7 + 1);
}

START_TEST(key_ok)
{
	uint8_t key[CLD_KEY_BYTES], again[CLD_KEY_BYTES], want[CLD_KEY_BYTES];
	struct cld_err err = { 0 };
	const char *path;

	fill_material();
	path = put("cluster.key", material, 64, 0600);
	ck_assert_msg(cld_key_load(path, key, &err) == 0, "load: %s", cld_err_str(&err));
	ck_assert_int_ge(sodium_init(), 0);
	crypto_generichash(want, sizeof(want), material, 64, NULL, 0);
	ck_assert_mem_eq(key, want, sizeof(key));

	/* Same file, same key; 0400 is fine too. */
	ck_assert_int_eq(chmod(path, 0400), 0);
	memset(again, 0, sizeof(again));
	ck_assert_int_eq(cld_key_load(path, again, &err), 0);
	ck_assert_mem_eq(again, key, sizeof(key));

	/* A copy elsewhere holds the same key: only the bytes count. */
	path = put("copy.key", material, 64, 0600);
	ck_assert_int_eq(cld_key_load(path, again, &err), 0);
	ck_assert_mem_eq(again, key, sizeof(key));

	/* One byte different, one byte more: different keys. */
	material[10] ^= 1;
	path = put("other.key", material, 64, 0600);
	ck_assert_int_eq(cld_key_load(path, again, &err), 0);
	ck_assert_mem_ne(again, key, sizeof(key));
	material[10] ^= 1;
	path = put("longer.key", material, 65, 0600);
	ck_assert_int_eq(cld_key_load(path, again, &err), 0);
	ck_assert_mem_ne(again, key, sizeof(key));

	/* The size limits, inclusive; a large file is hashed in pieces. */
	path = put("min.key", material, CLD_KEY_FILE_MIN, 0600);
	ck_assert_msg(cld_key_load(path, key, &err) == 0, "load: %s", cld_err_str(&err));
	crypto_generichash(want, sizeof(want), material, CLD_KEY_FILE_MIN, NULL, 0);
	ck_assert_mem_eq(key, want, sizeof(key));
	path = put("max.key", material, CLD_KEY_FILE_MAX, 0600);
	ck_assert_msg(cld_key_load(path, key, &err) == 0, "load: %s", cld_err_str(&err));
	crypto_generichash(want, sizeof(want), material, CLD_KEY_FILE_MAX, NULL, 0);
	ck_assert_mem_eq(key, want, sizeof(key));
}
END_TEST

START_TEST(key_bad_mode)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0606, 0700 | 0001, 0610 };
	uint8_t key[CLD_KEY_BYTES], untouched[CLD_KEY_BYTES];
	struct cld_err err = { 0 };
	char want[16];
	size_t i;

	fill_material();
	memset(untouched, 0x5a, sizeof(untouched));
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const char *path = put("cluster.key", material, 64, modes[i]);

		memcpy(key, untouched, sizeof(key));
		cld_err_clear(&err);
		ck_assert_int_eq(cld_key_load(path, key, &err), -EPERM);
		ck_assert_int_eq(err.code, -EPERM);
		snprintf(want, sizeof(want), "%04o", (unsigned int)modes[i]);
		ck_assert_msg(strstr(err.msg, "cluster key"), "message: %s", err.msg);
		ck_assert_msg(strstr(err.msg, want), "message lacks %s: %s", want, err.msg);
		ck_assert_msg(strstr(err.msg, "chmod 600"), "message: %s", err.msg);
		ck_assert_msg(strstr(err.msg, path), "message: %s", err.msg);
		ck_assert_mem_eq(key, untouched, sizeof(key));
	}
}
END_TEST

/* Run by test_config --owner, as root only: only root can give a file away. */
START_TEST(key_bad_owner)
{
	uint8_t key[CLD_KEY_BYTES];
	struct cld_err err = { 0 };
	const char *path;

	ck_assert_msg(geteuid() == 0, "needs root");
	fill_material();
	path = put("cluster.key", material, 64, 0600);
	ck_assert_int_eq(chown(path, 4242, 4242), 0);
	ck_assert_int_eq(cld_key_load(path, key, &err), -EPERM);
	ck_assert_msg(strstr(err.msg, "cluster key") && strstr(err.msg, "uid 4242"), "message: %s",
		      err.msg);
	/* Owned by root: accepted whoever loads it. */
	ck_assert_int_eq(chown(path, 0, 0), 0);
	ck_assert_int_eq(cld_key_load(path, key, &err), 0);
}
END_TEST

START_TEST(key_bad_size)
{
	uint8_t key[CLD_KEY_BYTES];
	struct cld_err err = { 0 };
	const char *path;

	fill_material();
	path = put("short.key", material, CLD_KEY_FILE_MIN - 1, 0600);
	ck_assert_int_eq(cld_key_load(path, key, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "cluster key") && strstr(err.msg, "31 bytes"), "message: %s",
		      err.msg);
	path = put("empty.key", material, 0, 0600);
	ck_assert_int_eq(cld_key_load(path, key, &err), -EINVAL);
	path = put("huge.key", material, CLD_KEY_FILE_MAX + 1, 0600);
	ck_assert_int_eq(cld_key_load(path, key, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "cluster key"), "message: %s", err.msg);
}
END_TEST

START_TEST(key_not_a_file)
{
	uint8_t key[CLD_KEY_BYTES], untouched[CLD_KEY_BYTES];
	struct cld_err err = { 0 };
	const char *path, *link;
	int r;

	fill_material();
	memset(untouched, 0x5a, sizeof(untouched));
	memcpy(key, untouched, sizeof(key));

	/* A symbolic link to a good key is refused. */
	path = put("real.key", material, 64, 0600);
	ck_assert_int_eq(cld_key_load(path, key, &err), 0);
	memcpy(key, untouched, sizeof(key));
	link = in_dir("link.key");
	ck_assert_int_eq(symlink(path, link), 0);
	r = cld_key_load(link, key, &err);
	ck_assert_int_eq(r, -ELOOP);
	ck_assert_msg(strstr(err.msg, "cluster key") && strstr(err.msg, "symbolic link"),
		      "message: %s", err.msg);
	ck_assert_mem_eq(key, untouched, sizeof(key));

	ck_assert_int_eq(cld_key_load(in_dir("missing.key"), key, &err), -ENOENT);
	ck_assert_msg(strstr(err.msg, "cluster key") && strstr(err.msg, "missing.key"),
		      "message: %s", err.msg);
	ck_assert_int_eq(cld_key_load(dir, key, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "not a regular file"), "message: %s", err.msg);
	/* A FIFO must not block the loader. */
	ck_assert_int_eq(mkfifo(in_dir("fifo.key"), 0600), 0);
	ck_assert_int_eq(cld_key_load(in_dir("fifo.key"), key, &err), -EINVAL);
	ck_assert_mem_eq(key, untouched, sizeof(key));
}
END_TEST

/*
 * test_config --owner: the key owner checks, a CTest test of their own
 * (unit.test_config_owner) that reports skipped, not passed, when not run
 * as root.
 */
static int owner_main(void)
{
	Suite *s = suite_create("config-owner");
	TCase *f = tcase_create("owner");
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		printf("SKIPPED: the key owner checks need root (to chown the key to "
		       "another user); euid is %u\n",
		       (unsigned int)geteuid());
		fprintf(stderr, "test_config --owner: SKIPPED: not root\n");
		return 77; /* CTest's SKIP_RETURN_CODE (tests/unit/CMakeLists.txt) */
	}
	tcase_add_checked_fixture(f, dir_setup, dir_teardown);
	tcase_add_test(f, key_bad_owner);
	suite_add_tcase(s, f);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	Suite *s;
	TCase *p, *f;
	SRunner *sr;
	int failed;

	if (argc > 1 && !strcmp(argv[1], "--owner"))
		return owner_main();
	s = suite_create("config");
	p = tcase_create("parse");
	f = tcase_create("files");
	tcase_add_test(p, good_full);
	tcase_add_test(p, good_defaults);
	tcase_add_test(p, good_bounds);
	tcase_add_test(p, many_nodes);
	tcase_add_test(p, bad_configs);
	tcase_add_test(p, bad_other);
	tcase_add_test(p, find_and_names);
	suite_add_tcase(s, p);

	tcase_add_checked_fixture(f, dir_setup, dir_teardown);
	tcase_add_test(f, conf_load_file);
	tcase_add_test(f, key_ok);
	tcase_add_test(f, key_bad_mode);
	tcase_add_test(f, key_bad_size);
	tcase_add_test(f, key_not_a_file);
	suite_add_tcase(s, f);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
