/* SPDX-License-Identifier: MIT */
/* clondiked logging: stderr in the foreground, syslog otherwise. */
#ifndef CLDD_LOG_H
#define CLDD_LOG_H

#include <stdbool.h>
#include <syslog.h>

void cldd_log_init(bool foreground, bool debug);
void cldd_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cldd_err(...) cldd_log(LOG_ERR, __VA_ARGS__)
#define cldd_warn(...) cldd_log(LOG_WARNING, __VA_ARGS__)
#define cldd_info(...) cldd_log(LOG_INFO, __VA_ARGS__)
#define cldd_dbg(...) cldd_log(LOG_DEBUG, __VA_ARGS__)

#endif /* CLDD_LOG_H */
