// SPDX-License-Identifier: MIT
/* cld_mkimage [--threads N] [--many-segs] OUT: write a synthetic image. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "synth.h"

int main(int argc, char **argv)
{
	unsigned int threads = 1, flags = 0;
	struct cld_image *img;
	struct cld_err err = { 0 };
	struct cld_proc *p;
	int i, fd, ret;

	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc - 1)
			threads = (unsigned int)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--many-segs"))
			flags |= SYNTH_MANY_SEGS;
		else
			break;
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: cld_mkimage [--threads N] [--many-segs] OUT\n");
		return 2;
	}
	p = synth_proc(threads, flags);
	ret = cld_image_new(p, &synth_mem_ops, NULL, &img, &err);
	if (ret) {
		fprintf(stderr, "cld_mkimage: %s\n", cld_err_str(&err));
		return 1;
	}
	fd = open(argv[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(argv[i]);
		return 1;
	}
	ret = cld_image_write_fd(img, fd, NULL, NULL, &err);
	close(fd);
	cld_image_free(img);
	cld_proc_free(p);
	if (ret) {
		fprintf(stderr, "cld_mkimage: %s\n", cld_err_str(&err));
		return 1;
	}
	return 0;
}
