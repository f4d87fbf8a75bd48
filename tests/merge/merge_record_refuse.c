/*
 * merge_record_refuse.c - programs `spanprof record` cannot record are
 * refused before they run, with one line that says why, and a non-zero
 * exit (rec_exe.c):
 * - a statically linked program (no PT_INTERP: nothing reads LD_PRELOAD);
 * - a program built with -fsanitize=thread (skipped where TSan is missing);
 * - rec_exe_inspect itself: dynamic programs, scripts and missing files
 *   are not refused, and a $PATH search finds what execvp would.
 *
 * Threading: single-threaded test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtest.h"
#include "rec_exe.h"

static const char *helper(const char *name)
{
	static char path[4096];
	const char *build = getenv("SPANPROF_BUILD_DIR");
	assert_non_null(build);
	snprintf(path, sizeof path, "%s/tests/merge/%s", build, name);
	return path;
}

/* Runs record on program; asserts the refusal: exit 1, one stderr line
 * naming the program and containing `why`, the program not run, no log
 * directory created. */
static void assert_refused(const char *program, const char *why)
{
	char dir[512], *out = NULL, *err = NULL;
	tl_tmpdir(dir, sizeof dir, "refuse");
	char logs[600];
	snprintf(logs, sizeof logs, "%s/logs", dir);
	int rc = tl_cli_run(&out, &err, "record -o '%s' -- '%s'", logs, program);
	assert_int_equal(rc, 1);
	assert_non_null(err);
	assert_non_null(strstr(err, "spanprof record: cannot record"));
	assert_non_null(strstr(err, program));
	assert_non_null(strstr(err, why));
	assert_int_equal(strchr(err, '\n') - err, (long)strlen(err) - 1); /* one line */
	assert_true(out == NULL || strstr(out, "ran") == NULL);
	assert_false(tl_exists(logs));
	free(out);
	free(err);
	tl_rm_rf(dir);
}

static void test_static_refused(void **state)
{
	(void)state;
	char path[4096];
	const char *prog = helper("record_static_prog");
	assert_int_equal(rec_exe_inspect(prog, path, sizeof path), REC_EXE_STATIC);
	assert_refused(prog, "statically linked");
}

static void test_tsan_refused(void **state)
{
	(void)state;
	const char *prog = helper("record_tsan_prog");
	if (access(prog, X_OK) != 0)
		skip(); /* no -fsanitize=thread here, or the ASan build */
	char path[4096];
	assert_int_equal(rec_exe_inspect(prog, path, sizeof path), REC_EXE_TSAN);
	assert_refused(prog, "ThreadSanitizer");
}

static void test_others_accepted(void **state)
{
	(void)state;
	char path[4096], dir[512], script[600];
	assert_int_equal(rec_exe_inspect("/proc/self/exe", path, sizeof path), REC_EXE_OK);
	assert_int_equal(rec_exe_inspect("no-such-program-here", path, sizeof path), REC_EXE_OK);
	assert_string_equal(path, "");
	tl_tmpdir(dir, sizeof dir, "refuse");
	snprintf(script, sizeof script, "%s/script.sh", dir);
	tl_write_text(script, "#!/bin/sh\nexit 0\n");
	assert_int_equal(rec_exe_inspect(script, path, sizeof path), REC_EXE_OK);
	/* found on $PATH as execvp would: sh is dynamic on every Debian */
	assert_int_equal(rec_exe_inspect("sh", path, sizeof path), REC_EXE_OK);
	assert_true(path[0] == '/');
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_static_refused),
	    cmocka_unit_test(test_tsan_refused),
	    cmocka_unit_test(test_others_accepted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
