// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "clondike/util.h"

int cld_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
