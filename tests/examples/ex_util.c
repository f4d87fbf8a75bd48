/*
 * ex_util.c - see ex_util.h. The tests' shell commands (tl_sh) run in the
 * scratch directory, which ex_scratch makes the working directory.
 *
 * Threading: single-threaded tests.
 */
#include "ex_util.h"
#include "tl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char scratch_dir[2048];

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v && *v ? v : dflt;
}

const char *ex_scratch(const char *tag)
{
	const char *base = env_or("SPANPROF_BUILD_DIR", "/tmp");
	char cmd[2 * sizeof scratch_dir + 64];
	if (snprintf(scratch_dir, sizeof scratch_dir, "%s/ex-tmp/%s.%d", base, tag,
	             (int)getpid()) >= (int)sizeof scratch_dir)
		fail_msg("scratch path too long");
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", scratch_dir, scratch_dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(chdir(scratch_dir), 0);
	assert_int_equal(setenv("SP", env_or("SPANPROF_CLI", "spanprof"), 1), 0);
	return scratch_dir;
}

void ex_scratch_remove(void)
{
	if (scratch_dir[0] == '\0' || chdir("/") != 0)
		return;
	tl_rm_rf(scratch_dir);
	scratch_dir[0] = '\0';
}

const char *ex_program(const char *name)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/examples/%s/%s", env_or("SPANPROF_BUILD_DIR", "."), name,
	         name);
	return path;
}
