// SPDX-License-Identifier: MIT
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* Process-wide on purpose: every file logs, restart workers too, before any
 * daemon object exists. */
static bool log_stderr = true;
static bool log_debug;

void cldd_log_init(bool foreground, bool debug)
{
	log_stderr = foreground;
	log_debug = debug;
	if (!foreground)
		openlog("clondiked", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void cldd_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	if (log_stderr) {
		static const char *const tag[] = { "emerg", "alert", "crit", "error",
						   "warning", "notice", "info", "debug" };

		fprintf(stderr, "clondiked: %s: ", tag[prio & 7]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}
