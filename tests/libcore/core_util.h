/*
 * core_util.h - helpers shared by the libcore tests: a private temporary
 * directory per test, opening a log in it, reading a whole log back.
 */
#ifndef SP_CORE_UTIL_H
#define SP_CORE_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_reader.h"
#include "log_writer.h"

/* Creates /tmp/spanprof-core-XXXXXX; returns a static buffer. */
static inline const char *core_tmpdir(void)
{
	static char dir[64];
	strcpy(dir, "/tmp/spanprof-core-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	return dir;
}

/* Opens a log in dir for program and copies its path into path_out. */
static inline int core_open_log(const char *dir, const char *program, char *path_out, size_t path_n)
{
	sp_log_opts opts = {.dir = dir, .program = program, .flush_interval_ms = 0};
	int rc = sp_log_open(&opts, NULL);
	if (rc == 0)
		snprintf(path_out, path_n, "%s", sp_log_path());
	return rc;
}

static inline void core_rm_rf(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

#endif
