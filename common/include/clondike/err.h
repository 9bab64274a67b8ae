/* SPDX-License-Identifier: MIT */
/*
 * Error reporting: functions return 0 or a negative errno and, when given a
 * struct cld_err, leave in it a sentence naming what failed.  Callers add
 * context with cld_err_prefix() as the error travels up.
 */
#ifndef CLONDIKE_ERR_H
#define CLONDIKE_ERR_H

#include <stddef.h>

struct cld_err {
	int code; /* negative errno, 0 if none */
	char msg[512];
};

/* Record -code with a printf message; returns code so callers can
 * "return cld_err_set(err, -EINVAL, ...)".  err may be NULL. */
int cld_err_set(struct cld_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend "context: " to the message already in err. */
int cld_err_prefix(struct cld_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void cld_err_clear(struct cld_err *err);

/* The message, or strerror(-code) when none was set. */
const char *cld_err_str(const struct cld_err *err);

#endif /* CLONDIKE_ERR_H */
