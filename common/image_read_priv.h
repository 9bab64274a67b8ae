/* SPDX-License-Identifier: MIT */
/*
 * The image reader's private header, shared by common/image_read*.c only
 * (the public API is clondike/image_read.h).
 */
#ifndef CLONDIKE_IMAGE_READ_PRIV_H
#define CLONDIKE_IMAGE_READ_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "clondike/err.h"
#include "clondike/image.h"

#define PAGE CLD_PAGE_SIZE

/* The decoder's state over one note segment. */
struct dec {
	struct cld_proc *p;
	struct cld_err *err;
	uint32_t seen; /* bitmask of singleton notes seen */
	uint32_t nr_thread_recs;
	uint32_t nr_short_threads; /* 1.0-sized THREAD records (no name) */
	uint32_t nr_fpregs;
	size_t auxv_len;
	const uint8_t *file_desc; /* NT_FILE, checked after VMAS */
	size_t file_len;
	const uint8_t *pages_desc; /* PAGES, applied after VMAS */
	size_t pages_len;
};

/* image_read_notes.c */
int rimg_name_is(const uint8_t *name, uint32_t namesz, const char *want);
/* The note segment buf of len bytes into *p; 0 or a negative errno. */
int rimg_decode_notes(const uint8_t *buf, size_t len, struct cld_proc *p, struct cld_err *err);
/* A name at off/len of a string table; an array note's header checked. */
int rimg_take_name(struct dec *d, char **out, const uint8_t *tab, size_t tab_len, uint32_t off,
		   uint32_t len, const char *what);
struct cld_array_hdr;
int rimg_array_hdr(struct dec *d, const uint8_t *s, size_t len, size_t min_rec, uint32_t limit,
		   struct cld_array_hdr *ah, const char *what);

/* An array note's records, each read into the start of an element. */
struct rimg_array {
	const char *what;
	size_t min_rec; /* the shortest record accepted */
	size_t rec_size; /* what this reader knows of a record */
	uint32_t limit;
	size_t elem_size;
};

/* The string table after an array note's records. */
struct rimg_tab {
	const uint8_t *s;
	size_t len;
};

/* The records of note s into a new array *elems of *count elements, and
 * the string table after them into *tab (if not NULL). */
int rimg_take_array(struct dec *d, const uint8_t *s, size_t len, const struct rimg_array *a,
		    void **elems, uint32_t *count, struct rimg_tab *tab);

/* image_read_objs.c: FDS, PIPEDATA, EPOLL, TIMERS, GUARDS */
int rimg_dec_fds(struct dec *d, const uint8_t *s, size_t len);
int rimg_dec_pipes(struct dec *d, const uint8_t *s, size_t len);
int rimg_dec_epolls(struct dec *d, const uint8_t *s, size_t len);
int rimg_dec_timers(struct dec *d, const uint8_t *s, size_t len);
int rimg_dec_guards(struct dec *d, const uint8_t *s, size_t len);
int rimg_dec_watches(struct dec *d, const uint8_t *s, size_t len);

#endif /* CLONDIKE_IMAGE_READ_PRIV_H */
