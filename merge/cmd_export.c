/* cmd_export.c - 'spanprof export': not built yet (placeholder). */
#include <stdio.h>

#include "cli.h"

int sp_cmd_export(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "spanprof export: not implemented in this build\n");
	return 1;
}
