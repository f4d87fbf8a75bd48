/*
 * merge_db_open.c - every command that reads a database opens and
 * checks it the one way (mg_db_open): for the same bad input, top, spans,
 * explain, export and query (and merge --append's target) fail with the
 * same one line, "spanprof CMD: PATH: why".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tl.h"

/* name, then its arguments after the database */
static const char *const commands[][2] = {
    {"top", ""},
    {"spans", "some_span"},
    {"explain", "some_span"},
    {"export", "-f folded -o -"},
    {"query", "'SELECT 1'"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Runs CMD DB ARGS; expects exit status 1 and exactly "spanprof CMD: DB: why"
 * on stderr (nothing else), where why starts with want. */
static void expect_refused(const char *cmd, const char *args, const char *db, const char *want)
{
	char *out = NULL, *err = NULL, line[1024];
	int rc = tl_cli_run(&out, &err, "%s '%s' %s", cmd, db, args);
	snprintf(line, sizeof line, "spanprof %s: %s: %s", cmd, db, want);
	if (rc != 1 || strncmp(err, line, strlen(line)) ||
	    strchr(err, '\n') != err + strlen(err) - 1)
		fail_msg("%s: status %d, stderr: %s (wanted: %s...)", cmd, rc, err, line);
	free(out);
	free(err);
}

static void test_same_refusal_everywhere(void **state)
{
	(void)state;
	char dir[512], garbage[600], empty[600], missing[600];
	tl_tmpdir(dir, sizeof dir, "dbopen");
	snprintf(garbage, sizeof garbage, "%s/garbage.db", dir);
	snprintf(empty, sizeof empty, "%s/empty.db", dir);
	snprintf(missing, sizeof missing, "%s/missing.db", dir);
	FILE *f = fopen(garbage, "w");
	assert_non_null(f);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database\n", f);
	fclose(f);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(empty, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE other(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	for (size_t i = 0; i < N_COMMANDS; i++) {
		const char *cmd = commands[i][0], *args = commands[i][1];
		int spanprof_only = strcmp(cmd, "query") != 0;
		expect_refused(cmd, args, missing, "No such file or directory");
		expect_refused(cmd, args, dir, "not a regular file");
		expect_refused(cmd, args, garbage,
		               spanprof_only ? "not a spanprof database ("
		                             : "not an SQLite database (");
		if (spanprof_only)
			expect_refused(cmd, args, empty, "not a spanprof database (tables missing");
	}
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_refusal_everywhere),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
