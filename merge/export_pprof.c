/* export_pprof.c - not written yet. */
#include "export.h"
#include "spanprof.h"

int sp_export_pprof(struct sp_export *x)
{
	(void)x;
	return -SP_EUNSUPPORTED;
}
