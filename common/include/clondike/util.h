/* SPDX-License-Identifier: MIT */
/* Small system helpers shared by the library. */
#ifndef CLONDIKE_UTIL_H
#define CLONDIKE_UTIL_H

#include <stddef.h>

/* write(2) all n bytes, retrying on EINTR and short writes: 0 or -errno. */
int cld_write_all(int fd, const void *buf, size_t n);

#endif /* CLONDIKE_UTIL_H */
