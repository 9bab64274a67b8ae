// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clondike/err.h"

int cld_err_set(struct cld_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int cld_err_prefix(struct cld_err *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	char pre[256];
	va_list ap;

	if (!err)
		return 0;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	if (old[0])
		snprintf(err->msg, sizeof(err->msg), "%.200s: %.300s", pre, old);
	else
		snprintf(err->msg, sizeof(err->msg), "%.200s: %s", pre,
			 strerror(err->code < 0 ? -err->code : err->code));
	return err->code;
}

void cld_err_clear(struct cld_err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

const char *cld_err_str(const struct cld_err *err)
{
	if (!err)
		return "unknown error";
	if (err->msg[0])
		return err->msg;
	return strerror(err->code < 0 ? -err->code : err->code);
}
