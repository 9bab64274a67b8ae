// SPDX-License-Identifier: MIT
/* Placeholder until the ptrace freezer lands (issue 3). */
#include "cli.h"

int cld_cmd_freeze(int argc, char **argv)
{
	(void)argc;
	return cld_cli_fail(argv[0], "not built yet");
}

int cld_cmd_thaw(int argc, char **argv)
{
	(void)argc;
	return cld_cli_fail(argv[0], "not built yet");
}

int cld_cmd_checkpoint(int argc, char **argv)
{
	(void)argc;
	return cld_cli_fail(argv[0], "not built yet");
}
