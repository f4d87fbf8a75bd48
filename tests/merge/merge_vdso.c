/*
 * merge_vdso.c - samples in the vDSO get the vDSO's own symbol names
 * (mg_sym.c reads merge's own vDSO when its build-id matches the recorded
 * one): a program that calls clock_gettime in a hot loop is recorded and
 * merged; `top` names __vdso_clock_gettime (or clock_gettime), and no
 * frame of the [vdso] module is left as "[vdso]+0x...".
 *
 * Skipped when no sample landed in the vDSO at all: a clock source that
 * the vDSO cannot read (clock_gettime then enters the kernel).
 *
 * Threading: single-threaded test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mtest.h"

static void test_vdso_named(void **state)
{
	(void)state;
	char dir[512], logs[600], db_path[600], *out = NULL, *err = NULL;
	tl_tmpdir(dir, sizeof dir, "vdso");
	snprintf(logs, sizeof logs, "%s/logs", dir);
	snprintf(db_path, sizeof db_path, "%s/v.db", dir);
	assert_int_equal(tl_cli_run(NULL, NULL, "record -o '%s' -- '%s'", logs, MERGE_VDSO_PROG),
	                 0);
	assert_int_equal(mtest_merge("", db_path, logs), 0);
	sqlite3 *db = mtest_db(db_path);
	int64_t in_vdso = tl_sql_int(db, "SELECT count(*) FROM samples s JOIN stacks k ON "
	                                 "k.stack_id = s.stack_id JOIN frames f ON f.frame_id = "
	                                 "k.frame_id WHERE f.module = '[vdso]'");
	if (in_vdso == 0) {
		sqlite3_close(db);
		tl_rm_rf(dir);
		skip();
	}
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM frames WHERE module = '[vdso]' "
	                                "AND func LIKE '[vdso]+%%'"),
	                 0);
	assert_true(tl_sql_int(db, "SELECT count(*) FROM frames WHERE module = '[vdso]' AND "
	                           "func IN ('__vdso_clock_gettime', 'clock_gettime')") > 0);
	sqlite3_close(db);
	assert_int_equal(tl_cli_run(&out, &err, "top '%s' -n 3", db_path), 0);
	assert_non_null(out);
	assert_non_null(strstr(out, "clock_gettime"));
	assert_null(strstr(out, "[vdso]+0x"));
	free(out);
	free(err);
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vdso_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
