// SPDX-License-Identifier: MIT
/*
 * cld_forge IN OUT EDIT...: rewrite an image as an attacker would, with
 * consistent layout and digests, for the security tests.  Edits:
 *   fd N PATH        fd N names PATH (with PATH's identity, as stat shows it)
 *   fdflags N FLAGS  fd N's open flags (decimal, e.g. 2 for O_RDWR)
 *   fdkind N KIND    fd N's kind number (enum cld_fd_kind)
 *   map OLD PATH     the mappings of file OLD name PATH (identity too)
 *   groups G,G...    the supplementary groups
 *   uid U / gid G    every uid (gid) of the credentials
 *   cwd PATH         the working directory
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "clondike/image.h"
#include "clondike/image_read.h"

struct src {
	int fd;
	const struct cld_layout *lo;
};

/* Page bytes come from the original image's segments. */
static int src_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct src *s = ctx;
	uint32_t i;

	while (len) {
		const struct cld_seg *g = NULL;
		size_t n;
		ssize_t r;

		for (i = 0; i < s->lo->nr_segs; i++)
			if (s->lo->segs[i].filesz && addr >= s->lo->segs[i].vaddr &&
			    addr < s->lo->segs[i].vaddr + s->lo->segs[i].memsz) {
				g = &s->lo->segs[i];
				break;
			}
		if (!g)
			return -EFAULT;
		n = g->vaddr + g->memsz - addr < len ? (size_t)(g->vaddr + g->memsz - addr) : len;
		r = pread(s->fd, buf, n, (off_t)(g->offset + addr - g->vaddr));
		if (r != (ssize_t)n)
			return -EIO;
		addr += n;
		buf = (char *)buf + n;
		len -= n;
	}
	return 0;
}

static const struct cld_mem_ops src_ops = { .read = src_read };

static uint64_t dev_enc(dev_t d)
{
	return ((uint64_t)major(d) << 32) | minor(d);
}

static struct cld_fd *fd_of(struct cld_proc *p, int n)
{
	uint32_t i;

	for (i = 0; i < p->nr_fds; i++)
		if (p->fds[i].rec.fd == n)
			return &p->fds[i];
	fprintf(stderr, "cld_forge: no fd %d in the image\n", n);
	exit(1);
}

/* Set dev, ino, size and mtime of a record from what stat says of path. */
#define identity(path, dev_, ino_, size_, mtime_)                            \
	do {                                                                 \
		struct stat st_;                                             \
                                                                             \
		if (stat(path, &st_) < 0) {                                  \
			perror(path);                                        \
			exit(1);                                             \
		}                                                            \
		*(dev_) = dev_enc(st_.st_dev);                               \
		*(ino_) = st_.st_ino;                                        \
		*(size_) = (uint64_t)st_.st_size;                            \
		*(mtime_) = (int64_t)st_.st_mtim.tv_sec * 1000000000ll +     \
			    st_.st_mtim.tv_nsec;                             \
	} while (0)

static int edit(struct cld_proc *p, char **a, int n)
{
	if (n >= 3 && !strcmp(a[0], "fd")) {
		struct cld_fd *f = fd_of(p, atoi(a[1]));

		free(f->name);
		f->name = strdup(a[2]);
		identity(a[2], &f->rec.dev, &f->rec.ino, &f->rec.size, &f->rec.mtime_ns);
		return 3;
	}
	if (n >= 3 && !strcmp(a[0], "fdflags")) {
		fd_of(p, atoi(a[1]))->rec.fl_flags = (uint32_t)strtoul(a[2], NULL, 0);
		return 3;
	}
	if (n >= 3 && !strcmp(a[0], "fdkind")) {
		fd_of(p, atoi(a[1]))->rec.kind = (uint32_t)strtoul(a[2], NULL, 0);
		return 3;
	}
	if (n >= 3 && !strcmp(a[0], "map")) {
		uint32_t i, hits = 0;

		for (i = 0; i < p->nr_vmas; i++) {
			struct cld_vma *v = &p->vmas[i];

			if (!v->name || strcmp(v->name, a[1]))
				continue;
			free(v->name);
			v->name = strdup(a[2]);
			identity(a[2], &v->rec.dev, &v->rec.ino, &v->rec.fsize, &v->rec.mtime_ns);
			hits++;
		}
		if (!hits) {
			fprintf(stderr, "cld_forge: no mapping of %s\n", a[1]);
			exit(1);
		}
		return 3;
	}
	if (n >= 2 && !strcmp(a[0], "groups")) {
		char *s = a[1], *t;
		uint32_t k = 0;

		free(p->groups);
		p->groups = calloc(64, sizeof(*p->groups));
		for (t = strtok(s, ","); t && k < 64; t = strtok(NULL, ","))
			p->groups[k++] = (uint32_t)strtoul(t, NULL, 10);
		p->creds.nr_groups = k;
		return 2;
	}
	if (n >= 2 && !strcmp(a[0], "cwd")) {
		free(p->cwd);
		p->cwd = strdup(a[1]);
		return 2;
	}
	if (n >= 2 && !strcmp(a[0], "uid")) {
		struct cld_creds_rec *c = &p->creds;

		c->uid = c->euid = c->suid = c->fsuid = (uint32_t)strtoul(a[1], NULL, 10);
		return 2;
	}
	if (n >= 2 && !strcmp(a[0], "gid")) {
		struct cld_creds_rec *c = &p->creds;

		c->gid = c->egid = c->sgid = c->fsgid = (uint32_t)strtoul(a[1], NULL, 10);
		return 2;
	}
	fprintf(stderr, "cld_forge: bad edit '%s'\n", a[0]);
	exit(2);
}

int main(int argc, char **argv)
{
	struct cld_err err = { 0 };
	struct cld_rimage *ri;
	struct cld_image *img;
	struct src s;
	char buf[1 << 16];
	uint64_t off = 0, size;
	int in, out, i;

	if (argc < 4) {
		fprintf(stderr, "usage: cld_forge IN OUT EDIT...\n");
		return 2;
	}
	in = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (in < 0 || cld_rimage_open_fd(in, &ri, &err)) {
		fprintf(stderr, "cld_forge: %s: %s\n", argv[1], in < 0 ? strerror(errno)
								 : cld_err_str(&err));
		return 1;
	}
	for (i = 3; i < argc;)
		i += edit(&ri->proc, argv + i, argc - i);
	s.fd = in;
	s.lo = &ri->layout;
	if (cld_image_new(&ri->proc, &src_ops, &s, &img, &err)) {
		fprintf(stderr, "cld_forge: %s\n", cld_err_str(&err));
		return 1;
	}
	out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		perror(argv[2]);
		return 1;
	}
	size = cld_image_layout(img)->size;
	while (off < size) {
		ssize_t n = cld_image_pread(img, buf, sizeof(buf), off);

		if (n <= 0 || write(out, buf, (size_t)n) != n) {
			fprintf(stderr, "cld_forge: writing %s failed\n", argv[2]);
			return 1;
		}
		off += (uint64_t)n;
	}
	close(out);
	cld_image_free(img);
	cld_rimage_free(ri);
	close(in);
	return 0;
}
