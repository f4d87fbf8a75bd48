/*
 * core_util.h - helpers of the libcore tests: opening a log in a test's
 * directory. Temporary directories and the rest come from tests/lib (tl.h).
 */
#ifndef CORE_UTIL_H
#define CORE_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_reader.h"
#include "log_writer.h"
#include "tl.h"

/* Opens a log in dir for program and copies its path into path_out. */
static inline int core_open_log(const char *dir, const char *program, char *path_out, size_t path_n)
{
	lc_log_opts opts = {.dir = dir, .program = program, .flush_interval_ms = 0};
	int rc = lc_log_open(&opts, NULL);
	if (rc == 0)
		snprintf(path_out, path_n, "%s", lc_log_path());
	return rc;
}

#endif
