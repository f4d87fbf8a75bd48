/*
 * merge_runs.c - merge warns, in one line, when its inputs hold
 * separate runs of one program, and never for the processes of one run:
 * - synthetic logs (one executable: this test) linked by fork (ppid), exec
 *   (same pid) and a common untraced launcher (same ppid): no warning;
 * - two unrelated processes, one after the other: the warning, and the
 *   merge still succeeds with both logs;
 * - two unrelated processes whose lifetimes overlap: no warning (the
 *   documented rule, docs/schema.md "Runs");
 * - end to end: two `spanprof record` runs of a forking program merged
 *   together warn; one run alone does not.
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
#include "synth.h"

#define WARNING "separate runs of"

/* One process's log: a span at off_ns .. off_ns + dur_ns. */
static void proc_log(const char *dir, const char *name, uint32_t pid, uint32_t ppid,
                     uint64_t off_ns, uint64_t dur_ns)
{
	synth s;
	assert_int_equal(synth_open(&s, dir, name, pid, ppid), 0);
	synth_span_begin(&s, pid, off_ns, 1, 0, "work");
	synth_span_end(&s, pid, off_ns + dur_ns, 1);
	synth_close(&s);
}

/* Merges dir; returns merge's stderr (malloc'd). Asserts success. */
/* Runs merge on dir; its stderr goes to the caller's *err (malloc'd). The
 * caller owns the pointer variable: returning a local filled through &err
 * made GCC 12 -O3 warn -Wdangling-pointer. */
static void merge_err(const char *dir, char **err)
{
	int rc = tl_cli_run(NULL, err, "merge -q -o '%s/m.db' '%s'", dir, dir);
	print_message("# %s", *err ? *err : "");
	assert_int_equal(rc, 0);
}

static void test_one_run_no_warning(void **state)
{
	(void)state;
	char dir[512];
	tl_tmpdir(dir, sizeof dir, "runs1");
	proc_log(dir, "root", 100, 50, 0, 1000);
	proc_log(dir, "child", 101, 100, 0, 1000);  /* fork child */
	proc_log(dir, "exec", 101, 100, 0, 1000);   /* the child after exec */
	proc_log(dir, "grand", 102, 101, 0, 1000);  /* its own child */
	proc_log(dir, "sibling", 103, 50, 0, 1000); /* launched by the same parent */
	char *err = NULL;
	merge_err(dir, &err);
	assert_null(strstr(err, WARNING));
	free(err);
	tl_rm_rf(dir);
}

static void test_two_runs_warned(void **state)
{
	(void)state;
	char dir[512];
	tl_tmpdir(dir, sizeof dir, "runs2");
	proc_log(dir, "first", 200, 60, 0, 1000);
	proc_log(dir, "second", 300, 70, 0, 1000); /* opened after the first closed */
	char *err = NULL;
	merge_err(dir, &err);
	const char *w = strstr(err, WARNING);
	assert_non_null(w);
	assert_non_null(strstr(w, "pid 200 and pid 300"));
	assert_null(strstr(w + 1, WARNING)); /* one line */
	free(err);
	char db[600];
	snprintf(db, sizeof db, "%s/m.db", dir);
	sqlite3 *h = mtest_db(db);
	assert_int_equal(tl_sql_int(h, "SELECT count(*) FROM processes"), 2);
	sqlite3_close(h);
	tl_rm_rf(dir);
}

/* Unrelated but alive at the same time (the first log's span runs 10 s
 * past its open): not warned, by the rule. */
static void test_overlapping_unrelated_not_warned(void **state)
{
	(void)state;
	char dir[512];
	tl_tmpdir(dir, sizeof dir, "runs3");
	proc_log(dir, "long", 400, 80, 0, 10000000000ull);
	proc_log(dir, "short", 500, 90, 0, 1000);
	char *err = NULL;
	merge_err(dir, &err);
	assert_null(strstr(err, WARNING));
	free(err);
	tl_rm_rf(dir);
}

static void test_two_recorded_runs(void **state)
{
	(void)state;
	char dir[512], prog[1024], *err = NULL;
	snprintf(prog, sizeof prog, "'%s/tests/merge/merge_e2e_prog'",
	         getenv("SPANPROF_BUILD_DIR"));
	tl_tmpdir(dir, sizeof dir, "runs4");
	assert_int_equal(tl_cli_run(NULL, NULL, "record -o '%s/a' -- %s", dir, prog), 0);
	assert_int_equal(tl_cli_run(NULL, NULL, "record -o '%s/b' -- %s", dir, prog), 0);
	assert_int_equal(tl_cli_run(NULL, &err, "merge -o '%s/a.db' '%s/a'", dir, dir), 0);
	print_message("# %s", err);
	assert_null(strstr(err, WARNING)); /* a parent and its fork child */
	free(err);
	assert_int_equal(tl_cli_run(NULL, &err, "merge -o '%s/ab.db' '%s/a' '%s/b'", dir, dir, dir),
	                 0);
	print_message("# %s", err);
	assert_non_null(strstr(err, WARNING));
	free(err);
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_run_no_warning),
	    cmocka_unit_test(test_two_runs_warned),
	    cmocka_unit_test(test_overlapping_unrelated_not_warned),
	    cmocka_unit_test(test_two_recorded_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
