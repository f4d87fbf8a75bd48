/*
 * merge_query.c - 'spanprof query' is read-only in fact, and its JSON
 * is strict:
 * - VACUUM INTO and ATTACH are refused with one line, and create no file;
 * - fts3_tokenizer with a forged pointer and load_extension are refused
 *   (exit 1, not a crash); writes, TEMP objects, transactions and setting
 *   PRAGMAs are refused and the database stays as it was;
 * - reading still works: SELECT, every view of a merged database (the
 *   guard turns trusted_schema off), table-valued functions and reporting
 *   PRAGMAs;
 * - --json writes inf and -inf as null, invalid UTF-8 as U+FFFD and
 *   control characters escaped, and python3's json module accepts the
 *   output with NaN/Infinity refused.
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

static char g_dir[512], g_db[600];

static int setup(void **state)
{
	tl_tmpdir(g_dir, sizeof g_dir, "query");
	*state = g_dir;
	synth s;
	assert_int_equal(synth_open(&s, g_dir, "query", 4242, 1), 0);
	synth_span_begin(&s, 4242, 1000, 1, 0, "request");
	synth_attr_int(&s, 4242, 1, "bytes", 7);
	synth_span_begin(&s, 4242, 2000, 2, 1, "parse");
	synth_span_end(&s, 4242, 3000, 2);
	synth_span_end(&s, 4242, 4000, 1);
	synth_close(&s);
	snprintf(g_db, sizeof g_db, "%s/q.db", g_dir);
	assert_int_equal(mtest_merge("", g_db, g_dir), 0);
	return 0;
}

/* Runs query SQL (no output flag); expects exit 1 and one line on stderr
 * that says "refused". */
static void expect_refused(const char *sql)
{
	char *err = NULL;
	int rc = tl_cli_run(NULL, &err, "query '%s' \"%s\"", g_db, sql);
	if (rc != 1 || !err || !strstr(err, "refused") || !strchr(err, '\n') ||
	    strchr(err, '\n')[1] != '\0')
		fail_msg("query \"%s\": exit %d, stderr: %s", sql, rc, err ? err : "");
	free(err);
}

static int64_t span_count(void)
{
	sqlite3 *db = mtest_db(g_db);
	int64_t n = tl_sql_int(db, "SELECT count(*) FROM spans");
	sqlite3_close(db);
	return n;
}

static void test_vacuum_into_and_attach_refused(void **state)
{
	(void)state;
	char sql[1024], path[800];
	snprintf(path, sizeof path, "%s/copy.db", g_dir);
	snprintf(sql, sizeof sql, "VACUUM INTO '%s'", path);
	expect_refused(sql);
	assert_false(tl_exists(path));
	expect_refused("VACUUM");
	snprintf(path, sizeof path, "%s/attached.db", g_dir);
	snprintf(sql, sizeof sql, "ATTACH '%s' AS other", path);
	expect_refused(sql);
	assert_false(tl_exists(path));
	/* also as the second statement, after one that printed */
	snprintf(sql, sizeof sql, "SELECT 1; ATTACH '%s' AS other", path);
	expect_refused(sql);
	assert_false(tl_exists(path));
}

static void test_pointer_functions_refused(void **state)
{
	(void)state;
	/* Registering a tokenizer at a forged address crashed query (139). */
	expect_refused("SELECT fts3_tokenizer('x', X'4141414141414141')");
	expect_refused("SELECT fts3_tokenizer('simple', X'4141414141414141')");
	expect_refused("SELECT fts3_tokenizer('simple')"); /* leaks an address */
	expect_refused("SELECT load_extension('/nonexistent/lib.so')");
}

static void test_writes_refused(void **state)
{
	(void)state;
	int64_t before = span_count();
	expect_refused("DELETE FROM spans");
	expect_refused("UPDATE spans SET name = 'x'");
	expect_refused("INSERT INTO spans(span_id) VALUES (999)");
	expect_refused("CREATE TEMP TABLE t(a)");
	expect_refused("CREATE TABLE t(a)");
	expect_refused("DROP TABLE spans");
	expect_refused("BEGIN");
	expect_refused("PRAGMA user_version = 5");
	expect_refused("PRAGMA writable_schema = 1");
	expect_refused("PRAGMA journal_mode");
	assert_int_equal(span_count(), before);
}

static void test_reading_still_works(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL,
	                            "query '%s' 'SELECT name FROM spans ORDER BY start_ns' --csv",
	                            g_db),
	                 0);
	assert_string_equal(out, "name\r\nrequest\r\nparse\r\n");
	free(out);
	assert_int_equal(tl_cli_run(&out, NULL,
	                            "query '%s' \"SELECT count(*) FROM pragma_table_info('spans') "
	                            "WHERE name = 'dur_ns'\" --csv",
	                            g_db),
	                 0);
	assert_string_equal(out, "count(*)\r\n1\r\n");
	free(out);
	assert_int_equal(
	    tl_cli_run(&out, NULL, "query '%s' \"SELECT sum(value) FROM json_each('[1,2]')\" --csv",
	               g_db),
	    0);
	assert_string_equal(out, "sum(value)\r\n3\r\n");
	free(out);
	assert_int_equal(tl_cli_run(&out, NULL, "query '%s' 'PRAGMA table_info(spans)'", g_db), 0);
	assert_non_null(strstr(out, "span_id"));
	free(out);
	assert_int_equal(tl_cli_run(&out, NULL, "query '%s' 'PRAGMA integrity_check' --csv", g_db),
	                 0);
	assert_string_equal(out, "integrity_check\r\nok\r\n");
	free(out);
	/* every view of a merged database reads under the guard */
	sqlite3 *db = mtest_db(g_db);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT name FROM sqlite_master WHERE type = 'view'",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	int views = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		char *err = NULL;
		const char *view = (const char *)sqlite3_column_text(st, 0);
		int rc =
		    tl_cli_run(NULL, &err, "query '%s' 'SELECT * FROM \"%s\" LIMIT 1'", g_db, view);
		if (rc != 0)
			fail_msg("view %s: %s", view, err ? err : "");
		free(err);
		views++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_true(views > 0);
}

/* The JSON output passes python3's parser, strictly: bytes must be UTF-8
 * and NaN / Infinity (which Python accepts by default) are refused. */
static void assert_strict_json(const char *json)
{
	char path[800];
	snprintf(path, sizeof path, "%s/out.json", g_dir);
	tl_write_text(path, json);
	if (tl_sh(NULL,
	          "python3 -c 'import json,sys\n"
	          "def bad(c): raise ValueError(c)\n"
	          "json.loads(open(sys.argv[1], \"rb\").read().decode(\"utf-8\"), "
	          "parse_constant=bad)' '%s'",
	          path) != 0)
		fail_msg("python3 rejects:\n%s", json);
}

static void test_json_is_strict(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(
	    tl_cli_run(&out, NULL,
	               "query '%s' \"SELECT 1e999 AS inf, -1e999 AS ninf, "
	               "1e999 - 1e999 AS nan, CAST(X'ff41' AS TEXT) AS bad, "
	               "char(1) || 'q\\\"' AS ctl, X'c3a9' AS blob, 0.25 AS x\" --json",
	               g_db),
	    0);
	assert_string_equal(out, "[\n {\"inf\": null, \"ninf\": null, \"nan\": null, "
	                         "\"bad\": \"\\ufffdA\", \"ctl\": \"\\u0001q\\\"\", "
	                         "\"blob\": \"\xc3\xa9\", \"x\": 0.25}\n]\n");
	assert_strict_json(out);
	free(out);
	/* several rows, an empty result, a real table */
	assert_int_equal(tl_cli_run(&out, NULL,
	                            "query '%s' 'SELECT name, dur_ns FROM spans ORDER BY start_ns; "
	                            "SELECT 1 WHERE 0' --json",
	                            g_db),
	                 0);
	assert_string_equal(out, "[\n {\"name\": \"request\", \"dur_ns\": 3000},\n"
	                         " {\"name\": \"parse\", \"dur_ns\": 1000}\n]\n[]\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vacuum_into_and_attach_refused),
	    cmocka_unit_test(test_pointer_functions_refused),
	    cmocka_unit_test(test_writes_refused),
	    cmocka_unit_test(test_reading_still_works),
	    cmocka_unit_test(test_json_is_strict),
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
