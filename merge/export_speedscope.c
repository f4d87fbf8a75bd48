/* export_speedscope.c - not written yet. */
#include "export.h"
#include "spanprof.h"

int sp_export_speedscope(struct sp_export *x)
{
	(void)x;
	return -SP_EUNSUPPORTED;
}
