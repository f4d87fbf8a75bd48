/* cmd_record.c - 'spanprof record': not built yet (placeholder). */
#include <stdio.h>

#include "cli.h"

int sp_cmd_record(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "spanprof record: not implemented in this build\n");
	return 1;
}
