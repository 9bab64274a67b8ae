/* SPDX-License-Identifier: MIT */
/*
 * The clondike command line: one table of commands (cli/main.c), one
 * function per command, each in the cmd_*.c file of its area.
 */
#ifndef CLONDIKE_CLI_H
#define CLONDIKE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cld_cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
	const char *usage; /* arguments, after the command name */
	const char *help; /* one line */
};

/* Global options parsed before the command. */
struct cld_cli_opts {
	bool json; /* --json: machine-readable output */
	bool quiet;
};
extern struct cld_cli_opts cld_opts;

/* Print "clondike CMD: msg" on stderr; returns the exit status 1. */
int cld_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "1.5 GiB": a byte count for people. */
void cld_cli_human(uint64_t bytes, char *out, size_t len);

/* s as a JSON string on stdout, escaped; null when s is NULL. */
void cld_cli_json_str(const char *s);

/* Usage line of a command, for its own argument errors; returns 2. */
int cld_cli_usage(const char *cmd);

/* cmd_inspect.c */
int cld_cmd_inspect(int argc, char **argv);
int cld_cmd_verify(int argc, char **argv);
/* cmd_freeze.c */
int cld_cmd_freeze(int argc, char **argv);
int cld_cmd_thaw(int argc, char **argv);
int cld_cmd_checkpoint(int argc, char **argv);
/* cmd_restart.c */
int cld_cmd_restart(int argc, char **argv);
/* cmd_migrate.c */
int cld_cmd_migrate(int argc, char **argv);
/* cmd_nodes.c */
int cld_cmd_nodes(int argc, char **argv);
int cld_cmd_keygen(int argc, char **argv);

#endif /* CLONDIKE_CLI_H */
