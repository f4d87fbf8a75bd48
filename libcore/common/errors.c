/*
 * errors.c - sp_strerror and sp_version. The error list lives in spanprof.h
 * (SP_LIST_ERRORS) so codes and strings cannot drift apart.
 */
#include "spanprof.h"

#define LC_ERROR_STRING_(name, code, text) [code] = text,
static const char *const lc_error_strings[] = {SP_LIST_ERRORS(LC_ERROR_STRING_)};
#undef LC_ERROR_STRING_

SP_API const char *sp_strerror(int err)
{
	unsigned idx = err < 0 ? (unsigned)-err : (unsigned)err;
	if (idx >= sizeof lc_error_strings / sizeof lc_error_strings[0] || !lc_error_strings[idx])
		return "unknown error";
	return lc_error_strings[idx];
}

SP_API unsigned sp_version(void)
{
	return SPANPROF_VERSION_NUMBER;
}
