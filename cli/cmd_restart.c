// SPDX-License-Identifier: MIT
/* Placeholder until the restorer lands (issue 4). */
#include "cli.h"

int cld_cmd_restart(int argc, char **argv)
{
	(void)argc;
	return cld_cli_fail(argv[0], "not built yet");
}
