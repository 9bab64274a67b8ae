// SPDX-License-Identifier: MIT
#include "clondike/creds.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MAX_GROUPS 65536

/* uid's groups from the group database; {gid} when it has no account. */
static int system_groups(uid_t uid, gid_t gid, gid_t **out, int *n)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	gid_t *g;
	int cnt = 64;

	*out = NULL;
	*n = 0;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) || !res) {
		g = malloc(sizeof(*g));
		if (!g)
			return -ENOMEM;
		g[0] = gid;
		*out = g;
		*n = 1;
		return 0;
	}
	for (;;) {
		int want = cnt;

		g = malloc((size_t)cnt * sizeof(*g));
		if (!g)
			return -ENOMEM;
		if (getgrouplist(res->pw_name, gid, g, &want) >= 0) {
			*out = g;
			*n = want;
			return 0;
		}
		free(g);
		if (want <= cnt || want > MAX_GROUPS)
			return -E2BIG;
		cnt = want;
	}
}

int cld_creds_become(uid_t uid, gid_t gid, struct cld_err *err)
{
	gid_t *groups;
	int n, ret;

	ret = system_groups(uid, gid, &groups, &n);
	if (ret)
		return cld_err_set(err, ret, "groups of uid %u: %s", (unsigned)uid,
				   strerror(-ret));
	if (setgroups((size_t)n, groups) < 0) {
		ret = -errno;
		free(groups);
		return cld_err_set(err, ret, "setgroups for uid %u: %s", (unsigned)uid,
				   strerror(-ret));
	}
	free(groups);
	if (setresgid(gid, gid, gid) < 0)
		return cld_err_set(err, -errno, "setresgid %u: %s", (unsigned)gid,
				   strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		return cld_err_set(err, -errno, "setresuid %u: %s", (unsigned)uid,
				   strerror(errno));
	/* Changing ids cleared it; the restore child must stay traceable. */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return cld_err_set(err, -errno, "PR_SET_DUMPABLE: %s", strerror(errno));
	return 0;
}
