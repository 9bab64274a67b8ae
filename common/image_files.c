// SPDX-License-Identifier: MIT
/*
 * Format 1.3's memfds and deleted ("ghost") files: the fds that carry
 * CLD_FDREG_* flags, the PIPEDATA records of kind FILE with their content,
 * and the rules that tie the two together (one record per inode, all of
 * the file, within CLD_MAX_FILE_DATA).
 */
#include <errno.h>
#include <string.h>

#include "image_priv.h"

#define FDREG_ALL (CLD_FDREG_DELETED | CLD_FDREG_CONTENT | CLD_FDREG_MEMFD | CLD_FDREG_TOOBIG)

const struct cld_pipedata *cld_proc_file_data(const struct cld_proc *p, uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < p->nr_pipes; i++)
		if (p->pipes[i].kind == CLD_PIPEDATA_FILE && p->pipes[i].ino == ino)
			return &p->pipes[i];
	return NULL;
}

const struct cld_fd *cld_proc_ghost_fd(const struct cld_proc *p, uint64_t dev, uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd_rec *r = &p->fds[i].rec;

		if (r->kind == CLD_FD_REG && (r->state[0] & CLD_FDREG_CONTENT) && r->dev == dev &&
		    r->ino == ino)
			return &p->fds[i];
	}
	return NULL;
}

/* The flags of a REG fd make sense, and its content is there, whole. */
static int check_fd(const struct cld_proc *p, const struct cld_fd *f, struct cld_err *err)
{
	const struct cld_fd_rec *r = &f->rec;
	uint64_t fl = r->state[0];
	const struct cld_pipedata *d;

	if ((fl & ~(uint64_t)FDREG_ALL) || (fl && !(fl & CLD_FDREG_DELETED)) ||
	    ((fl & CLD_FDREG_CONTENT) && (fl & CLD_FDREG_TOOBIG)) ||
	    (r->state[1] && !(fl & CLD_FDREG_MEMFD)) || r->state[2] || r->state[3] || r->state[4] ||
	    r->state[5])
		return cld_err_set(err, -EINVAL, "fd %d: file state %#llx/%#llx is not valid",
				   r->fd, (unsigned long long)fl, (unsigned long long)r->state[1]);
	if (!(fl & CLD_FDREG_CONTENT))
		return 0;
	d = cld_proc_file_data(p, r->ino);
	if (!d || d->len != r->size)
		return cld_err_set(err, -EINVAL,
				   "fd %d: the content of deleted file %s (%llu bytes) is %s",
				   r->fd, f->name ? f->name : "?", (unsigned long long)r->size,
				   d ? "of another size" : "missing");
	return 0;
}

int cld_proc_validate_files(const struct cld_proc *p, struct cld_err *err)
{
	uint64_t total = 0;
	uint32_t i, j;
	int ret;

	for (i = 0; i < p->nr_fds; i++) {
		if (p->fds[i].rec.kind != CLD_FD_REG)
			continue;
		ret = check_fd(p, &p->fds[i], err);
		if (ret)
			return ret;
	}
	for (i = 0; i < p->nr_pipes; i++) {
		const struct cld_pipedata *d = &p->pipes[i];
		bool owner = false;

		if (d->kind != CLD_PIPEDATA_FILE)
			continue;
		for (j = 0; j < p->nr_fds && !owner; j++)
			owner = p->fds[j].rec.kind == CLD_FD_REG && p->fds[j].rec.ino == d->ino &&
				(p->fds[j].rec.state[0] & CLD_FDREG_CONTENT);
		if (!owner || cld_proc_file_data(p, d->ino) != d)
			return cld_err_set(err, -EINVAL,
					   "file content of inode %llu: no fd has it, or recorded "
					   "twice",
					   (unsigned long long)d->ino);
		total += d->len;
	}
	if (total > CLD_MAX_FILE_DATA)
		return cld_err_set(err, -E2BIG,
				   "%llu bytes of memfd and deleted-file content (limit %u)",
				   (unsigned long long)total, CLD_MAX_FILE_DATA);
	return 0;
}
