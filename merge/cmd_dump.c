/* cmd_dump.c - 'spanprof dump': not built yet (placeholder). */
#include <stdio.h>

#include "cli.h"

int sp_cmd_dump(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "spanprof dump: not implemented in this build\n");
	return 1;
}
