// SPDX-License-Identifier: MIT
/* clondike: the command-line front end. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct cld_cli_opts cld_opts;

static const struct cld_cmd commands[] = {
	{ "inspect", cld_cmd_inspect, "[--json] IMAGE", "summarize a checkpoint image" },
	{ "verify", cld_cmd_verify, "IMAGE", "check every page against its digest" },
	{ "freeze", cld_cmd_freeze, "PID", "freeze a process (stays frozen until thaw)" },
	{ "thaw", cld_cmd_thaw, "PID", "thaw a process frozen by 'freeze'" },
	{ "checkpoint", cld_cmd_checkpoint, "[--leave-running|--kill] [--without-children] [--unrestorable] PID FILE",
	  "write the image of a running process to FILE" },
	{ "restart", cld_cmd_restart,
	  "[--lazy [--no-pull] [--lazy-stats FILE]] [--detach] [--new-pid] "
	  "[--without-children] [--check] IMAGE",
	  "bring a process back to life from its image" },
	{ "migrate", cld_cmd_migrate, "[--from NODE] [--mount DIR] PID NODE",
	  "move a running process to another node" },
	{ "nodes", cld_cmd_nodes, "[--json] [MOUNT]", "the cluster's nodes as MOUNT sees them" },
	{ "keygen", cld_cmd_keygen, "FILE", "write a new cluster key (64 random bytes, 0600)" },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: clondike [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < NR_COMMANDS; i++) {
		const struct cld_cmd *c = &commands[i];

		/* A long argument list gets the help on a line of its own. */
		if (strlen(c->usage) > 50)
			fprintf(out, "  %-11s %s\n  %-11s %-50s %s\n", c->name, c->usage, "", "",
				c->help);
		else
			fprintf(out, "  %-11s %-50s %s\n", c->name, c->usage, c->help);
	}
}

void cld_cli_json_str(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

int cld_cli_fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "clondike %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

void cld_cli_human(uint64_t bytes, char *out, size_t len)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(out, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

int cld_cli_usage(const char *cmd)
{
	size_t i;

	for (i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(commands[i].name, cmd))
			fprintf(stderr, "usage: clondike %s %s\n", cmd, commands[i].usage);
	return 2;
}

int main(int argc, char **argv)
{
	size_t i;
	int a = 1;

	for (; a < argc && argv[a][0] == '-'; a++) {
		if (!strcmp(argv[a], "--json")) {
			cld_opts.json = true;
		} else if (!strcmp(argv[a], "-q") || !strcmp(argv[a], "--quiet")) {
			cld_opts.quiet = true;
		} else if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[a], "--version")) {
			printf("clondike %s\n", CLD_VERSION);
			return 0;
		} else {
			fprintf(stderr, "clondike: unknown option %s\n", argv[a]);
			usage(stderr);
			return 2;
		}
	}
	if (a >= argc) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(commands[i].name, argv[a]))
			return commands[i].run(argc - a, argv + a);
	fprintf(stderr, "clondike: unknown command '%s'\n", argv[a]);
	usage(stderr);
	return 2;
}
