// SPDX-License-Identifier: MIT
/* clondike inspect / verify: read an image file and report on it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "clondike/image_read.h"

static void prot_str(uint32_t prot, uint32_t flags, char out[5])
{
	out[0] = (prot & 1) ? 'r' : '-';
	out[1] = (prot & 2) ? 'w' : '-';
	out[2] = (prot & 4) ? 'x' : '-';
	out[3] = (flags & CLD_VMA_SHARED) ? 's' : 'p';
	out[4] = '\0';
}

static char pstate_char(const struct cld_proc *p)
{
	return p->psinfo.pr_sname ? p->psinfo.pr_sname : '?';
}

static void print_json(const char *path, const struct cld_rimage *ri, uint64_t disk)
{
	const struct cld_proc *p = &ri->proc;
	uint32_t i;

	printf("{\"image\":");
	cld_cli_json_str(path);
	printf(",\"format\":\"%u.%u\",\"backend\":", p->hdr.major, p->hdr.minor);
	cld_cli_json_str(p->hdr.backend);
	printf(",\"node\":");
	cld_cli_json_str(p->hdr.node);
	printf(",\"kernel\":");
	cld_cli_json_str(p->hdr.kernel);
	printf(",\"pid\":%d,\"ppid\":%d,\"pgid\":%d,\"sid\":%d,\"comm\":", p->proc.pid,
	       p->proc.ppid, p->proc.pgid, p->proc.sid);
	cld_cli_json_str(p->proc.comm);
	printf(",\"exe\":");
	cld_cli_json_str(p->exe);
	printf(",\"cwd\":");
	cld_cli_json_str(p->cwd);
	printf(",\"uid\":%u,\"gid\":%u,\"threads\":%u,\"logical_size\":%llu,\"disk_size\":%llu,"
	       "\"data_size\":%llu,\"dumped_pages\":%llu,\"mappings\":[",
	       p->creds.uid, p->creds.gid, p->nr_threads,
	       (unsigned long long)ri->layout.size, (unsigned long long)disk,
	       (unsigned long long)ri->layout.data_bytes, (unsigned long long)ri->layout.nr_dumped);
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		char prot[5];

		prot_str(v->rec.prot, v->rec.flags, prot);
		printf("%s{\"start\":%llu,\"end\":%llu,\"prot\":\"%s\",\"flags\":%u,"
		       "\"pages\":%llu,\"dumped\":%llu,\"offset\":%llu,\"name\":",
		       i ? "," : "", (unsigned long long)v->rec.start,
		       (unsigned long long)v->rec.end, prot, v->rec.flags,
		       (unsigned long long)((v->rec.end - v->rec.start) / CLD_PAGE_SIZE),
		       (unsigned long long)v->rec.nr_dumped, (unsigned long long)v->rec.pgoff);
		cld_cli_json_str(v->name ? v->name : "");
		putchar('}');
	}
	printf("],\"fds\":[");
	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd *f = &p->fds[i];

		printf("%s{\"fd\":%d,\"kind\":\"%s\",\"flags\":%u,\"pos\":%llu,\"path\":", i ? "," : "",
		       f->rec.fd, cld_fd_kind_name(f->rec.kind), f->rec.fl_flags,
		       (unsigned long long)f->rec.pos);
		cld_cli_json_str(f->name ? f->name : "");
		putchar('}');
	}
	printf("]}\n");
}

static void print_human(const char *path, const struct cld_rimage *ri, uint64_t disk)
{
	const struct cld_proc *p = &ri->proc;
	char a[32], b[32], c[32];
	uint32_t i;

	cld_cli_human(ri->layout.size, a, sizeof(a));
	cld_cli_human(disk, b, sizeof(b));
	cld_cli_human(ri->layout.data_bytes, c, sizeof(c));
	printf("image:     %s\n", path);
	printf("format:    %u.%u (backend %s, node %s, kernel %s)\n", p->hdr.major, p->hdr.minor,
	       p->hdr.backend, p->hdr.node[0] ? p->hdr.node : "-", p->hdr.kernel);
	printf("process:   pid %d (%s), ppid %d, pgid %d, sid %d, state %c\n", p->proc.pid,
	       p->proc.comm, p->proc.ppid, p->proc.pgid, p->proc.sid, pstate_char(p));
	printf("exe:       %s\n", p->exe ? p->exe : "-");
	printf("cwd:       %s\n", p->cwd ? p->cwd : "-");
	printf("creds:     uid %u gid %u\n", p->creds.uid, p->creds.gid);
	printf("threads:   %u\n", p->nr_threads);
	printf("size:      %s logical, %s on disk, %s of data (%llu dumped pages)\n", a, b, c,
	       (unsigned long long)ri->layout.nr_dumped);
	printf("mappings:  %u\n", p->nr_vmas);
	printf("  %-12s %-12s %-4s %10s %10s  %s\n", "start", "end", "prot", "dumped", "pages",
	       "name");
	for (i = 0; i < p->nr_vmas; i++) {
		const struct cld_vma *v = &p->vmas[i];
		char prot[5];

		prot_str(v->rec.prot, v->rec.flags, prot);
		printf("  %012llx %012llx %-4s %10llu %10llu  %s\n",
		       (unsigned long long)v->rec.start, (unsigned long long)v->rec.end, prot,
		       (unsigned long long)v->rec.nr_dumped,
		       (unsigned long long)((v->rec.end - v->rec.start) / CLD_PAGE_SIZE),
		       v->name ? v->name : "");
	}
	printf("fds:       %u\n", p->nr_fds);
	for (i = 0; i < p->nr_fds; i++) {
		const struct cld_fd *f = &p->fds[i];

		printf("  %4d %-11s flags %#o pos %llu  %s\n", f->rec.fd, cld_fd_kind_name(f->rec.kind),
		       f->rec.fl_flags, (unsigned long long)f->rec.pos, f->name ? f->name : "");
	}
}

static int open_image(const char *cmd, const char *path, int *fd, struct cld_rimage **ri,
		      uint64_t *disk)
{
	struct cld_err err = { 0 };
	struct stat st;
	int ret;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return cld_cli_fail(cmd, "%s: %s", path, strerror(errno));
	if (fstat(*fd, &st) == 0)
		*disk = (uint64_t)st.st_blocks * 512;
	ret = cld_rimage_open_fd(*fd, ri, &err);
	if (ret) {
		close(*fd);
		return cld_cli_fail(cmd, "%s: %s", path, cld_err_str(&err));
	}
	return 0;
}

int cld_cmd_inspect(int argc, char **argv)
{
	struct cld_rimage *ri;
	const char *path = NULL;
	uint64_t disk = 0;
	int i, fd;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			cld_opts.json = true;
		else if (!path)
			path = argv[i];
		else
			return cld_cli_usage(argv[0]);
	}
	if (!path)
		return cld_cli_usage(argv[0]);
	if (open_image(argv[0], path, &fd, &ri, &disk))
		return 1;
	if (cld_opts.json)
		print_json(path, ri, disk);
	else
		print_human(path, ri, disk);
	cld_rimage_free(ri);
	close(fd);
	return 0;
}

int cld_cmd_verify(int argc, char **argv)
{
	struct cld_err err = { 0 };
	struct cld_rimage *ri;
	uint64_t disk = 0, n = 0;
	int fd, ret;

	if (argc != 2)
		return cld_cli_usage(argv[0]);
	if (open_image(argv[0], argv[1], &fd, &ri, &disk))
		return 1;
	ret = cld_rimage_verify(ri, &n, &err);
	cld_rimage_free(ri);
	close(fd);
	if (ret)
		return cld_cli_fail(argv[0], "%s: %s (after %llu good pages)", argv[1],
				    cld_err_str(&err), (unsigned long long)n);
	if (!cld_opts.quiet)
		printf("%s: OK, %llu pages match their digests\n", argv[1], (unsigned long long)n);
	return 0;
}
