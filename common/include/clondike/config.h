/* SPDX-License-Identifier: MIT */
/*
 * The cluster configuration file (docs/cluster.md) and the cluster key.
 *
 *   # comment
 *   key        /etc/clondike/cluster.key
 *   timeout    5000        # ms before a request to a peer fails (ETIMEDOUT)
 *   heartbeat  1000        # ms between pings; 3 missed = peer down
 *   cache      64          # MiB of remote image data cached on this node
 *   node n1 192.0.2.1:7300 core
 *   node n2 [2001:db8::2]:7300 detached
 *
 * Node names are directory names under /clondike: [A-Za-z0-9._-], at most
 * 63 bytes, not "." or "..".
 */
#ifndef CLONDIKE_CONFIG_H
#define CLONDIKE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "clondike/err.h"

#define CLD_CONF_DEFAULT "/etc/clondike/cluster.conf"
#define CLD_KEY_DEFAULT "/etc/clondike/cluster.key"
#define CLD_NODE_NAME_MAX 64 /* with the NUL */
#define CLD_KEY_BYTES 32
#define CLD_KEY_FILE_MIN 32 /* bytes of key material the file must hold */
#define CLD_KEY_FILE_MAX 65536

enum cld_role {
	CLD_ROLE_CORE,
	CLD_ROLE_DETACHED,
};

struct cld_node_conf {
	char name[CLD_NODE_NAME_MAX];
	char host[256]; /* as written: a name, an IPv4 or an IPv6 address */
	uint16_t port;
	enum cld_role role;
	unsigned int line; /* where it was defined, for messages */
};

struct cld_cluster_conf {
	char key_path[4096];
	unsigned int timeout_ms; /* default 5000 */
	unsigned int heartbeat_ms; /* default 1000 */
	unsigned int cache_mb; /* default 64 */
	size_t n;
	struct cld_node_conf *nodes; /* malloc'ed, n entries, names unique */
};

/*
 * Parse the text of a configuration file (not NUL-terminated; len bytes).
 * name is used in messages ("FILE:LINE: ...").  On error nothing is left
 * allocated in *c and err says which line and why.
 */
int cld_conf_parse(const char *text, size_t len, const char *name, struct cld_cluster_conf *c,
		   struct cld_err *err);
/* Read and parse a file. */
int cld_conf_load(const char *path, struct cld_cluster_conf *c, struct cld_err *err);
void cld_conf_free(struct cld_cluster_conf *c);
/* The node called name, or NULL. */
const struct cld_node_conf *cld_conf_find(const struct cld_cluster_conf *c, const char *name);
/* Whether name is a valid node name. */
int cld_node_name_ok(const char *name);
const char *cld_role_name(enum cld_role r);

/*
 * Load the cluster key: a file of at least CLD_KEY_FILE_MIN bytes of any
 * content (like a MUNGE key), readable and writable by its owner only
 * (mode 0600 or 0400) and owned by root or by the caller.  The key is the
 * BLAKE2b-256 of the file's bytes.  -EPERM with a clear message when the
 * mode or owner are wrong, -EINVAL when it is too short or too long.
 */
int cld_key_load(const char *path, uint8_t key[CLD_KEY_BYTES], struct cld_err *err);

#endif /* CLONDIKE_CONFIG_H */
