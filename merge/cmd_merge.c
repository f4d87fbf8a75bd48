/* cmd_merge.c - 'spanprof merge': not built yet (placeholder). */
#include <stdio.h>

#include "cli.h"

int sp_cmd_merge(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "spanprof merge: not implemented in this build\n");
	return 1;
}
