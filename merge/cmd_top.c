/* cmd_top.c - 'spanprof top': not built yet (placeholder). */
#include <stdio.h>

#include "cli.h"

int sp_cmd_top(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "spanprof top: not implemented in this build\n");
	return 1;
}
