/* cmd_query.c - 'spanprof query': not built yet (placeholder). */
#include <stdio.h>

#include "cli.h"

int sp_cmd_query(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "spanprof query: not implemented in this build\n");
	return 1;
}
