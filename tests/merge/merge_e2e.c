/*
 * merge_e2e.c - end to end: 'spanprof record' runs e2e_prog (real
 * tracer, real sampler, a fork), 'spanprof merge' loads both logs, and
 * 'spanprof top --span parse --by kind' names the right hot function for
 * each input value; samples outside spans have span_id NULL; the forked
 * child's root span hangs under the parent's "spawn" span in one database.
 * Then the same for examples/quickstart (the README's program: three kinds,
 * three hot parsers), and every cookbook query on its database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mtest.h"

static char g_dir[512], g_db[600], g_qdb[600];

static int setup(void **state)
{
	char prog[1024], *err = NULL;
	tl_tmpdir(g_dir, sizeof g_dir, "e2e");
	*state = g_dir;
	snprintf(prog, sizeof prog, "%s/tests/merge/merge_e2e_prog", getenv("SPANPROF_BUILD_DIR"));
	int rc = tl_cli_run(NULL, &err, "record -o '%s/logs' -- '%s'", g_dir, prog);
	if (rc)
		fprintf(stderr, "record failed (%d): %s\n", rc, err ? err : "");
	free(err);
	snprintf(g_db, sizeof g_db, "%s/e2e.db", g_dir);
	rc = rc || tl_cli_run(NULL, NULL, "merge -q -o '%s' '%s/logs'", g_db, g_dir);
#ifdef MERGE_QUICKSTART
	snprintf(g_qdb, sizeof g_qdb, "%s/quickstart.db", g_dir);
	rc = rc || tl_cli_run(NULL, NULL, "record -o '%s/qlogs' -- '%s'", g_dir, MERGE_QUICKSTART);
	rc = rc || tl_cli_run(NULL, NULL, "merge -q -o '%s' '%s/qlogs'", g_qdb, g_dir);
#endif
	return rc;
}

#ifdef MERGE_QUICKSTART
static void test_quickstart_top(void **state)
{
	(void)state;
	static const char *const want[][2] = {
	    {"json", "parse_json_document"}, {"csv", "parse_csv_rows"}, {"xml", "parse_xml_tags"}};
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s' --span parse --by kind -n 1", g_qdb), 0);
	print_message("%s", out);
	for (int i = 0; i < 3; i++) {
		char head[64];
		snprintf(head, sizeof head, "kind = \"%s\"", want[i][0]);
		char *group = strstr(out, head);
		assert_non_null(group);
		/* -n 1: the line after the column header names the hot function */
		char *hdr = strstr(group, "function\n");
		assert_non_null(hdr);
		char *line_end = strchr(hdr + 9, '\n');
		assert_non_null(line_end);
		*line_end = 0;
		assert_non_null(strstr(hdr + 9, want[i][1]));
		*line_end = '\n';
	}
	free(out);
}

/* Functions with equal self and total time (the callers from _start down
 * to main, all at 100%) come nearest-the-leaf first, not alphabetically.
 * Ties are on the times top orders by, not on sample counts: a sample can
 * weigh several periods (one signal for several overflows, e.g. in a long
 * system call), so equal counts need not be equal times. */
static void test_quickstart_top_ties(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s' -n 1000", g_qdb), 0);
	sqlite3 *db = mtest_db(g_qdb);
	double prev_self = -1, prev_total = -1;
	long prev_depth = 0, main_at = -1, start_at = -1, ties = 0;
	long row = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		long self, total;
		double a, b, c, d;
		int at = -1;
		if (sscanf(line, "%ld %lf %lf%% %ld %lf %lf%% %n", &self, &a, &b, &total, &c, &d,
		           &at) != 6 ||
		    at < 0)
			continue;
		/* the name may hold spaces (C++ templates); "  (file)" follows it */
		char func[256];
		snprintf(func, sizeof func, "%s", line + at);
		char *file = strstr(func, "  (");
		if (file)
			*file = '\0';
		long depth = (long)tl_sql_int(db,
		                              "SELECT min(s.depth) FROM stacks s JOIN frames f"
		                              " ON f.frame_id = s.frame_id WHERE f.func = '%s'",
		                              func);
		if (a == prev_self && c == prev_total) {
			ties++;
			assert_true(depth <= prev_depth); /* nearer the leaf first */
		}
		if (!strcmp(func, "main"))
			main_at = row;
		if (!strcmp(func, "_start"))
			start_at = row;
		prev_self = a;
		prev_total = c;
		prev_depth = depth;
		row++;
	}
	assert_true(ties > 0);
	assert_true(main_at >= 0);
	if (start_at >= 0) /* _start has no symbol on some systems */
		assert_true(main_at < start_at);
	sqlite3_close(db);
	free(out);
}

static void test_quickstart_cookbook(void **state)
{
	(void)state;
	assert_true(mtest_run_cookbook(g_qdb) >= 10);
}
#endif

static void test_top_by_kind(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s' --span parse --by kind -n 1", g_db), 0);
	print_message("%s", out);
	char *json = strstr(out, "kind = \"json\""), *csv = strstr(out, "kind = \"csv\"");
	assert_non_null(json);
	assert_non_null(csv);
	assert_true(json < csv); /* json parses take twice the time: first */
	char *hot_json = strstr(json, "parse_json"), *hot_csv = strstr(csv, "parse_csv");
	assert_non_null(hot_json);
	assert_non_null(hot_csv);
	assert_true(hot_json < csv);
	free(out);
}

static void test_db_facts(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM processes"), 2);
	/* The child's root span is under the parent's "spawn" span. */
	assert_int_equal(tl_sql_int(db, "SELECT c.parent_id = s.span_id AND c.pid <> s.pid"
	                                " FROM spans c, spans s WHERE c.name = 'child-work'"
	                                " AND s.name = 'spawn'"),
	                 1);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) > 0 FROM sample_spans ss JOIN spans s"
	                                " ON s.span_id = ss.span_id WHERE s.name = 'spawn'"
	                                " AND ss.pid <> s.pid"),
	                 1);
	/* Samples outside any span exist (start-up, exit) and have NULL. */
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples s LEFT JOIN spans p ON"
	                                " p.span_id = s.span_id WHERE s.span_id IS NOT NULL"
	                                " AND p.span_id IS NULL"),
	                 0);
	/* Most parse samples are in the kind's own function. */
	assert_true(tl_sql_int(db, "SELECT count(*) FROM sample_attrs a JOIN sample_leaf l"
	                           " USING (sample_id) WHERE a.key = 'kind' AND a.value = 'json'"
	                           " AND l.func = 'parse_json'") >
	            tl_sql_int(db, "SELECT count(*) FROM sample_attrs a JOIN sample_leaf l"
	                           " USING (sample_id) WHERE a.key = 'kind' AND a.value = 'json'"
	                           " AND l.func = 'parse_csv'"));
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM frames WHERE func = 'parse_json'"
	                                " AND file LIKE '%%e2e_prog.c' AND line > 0"),
	                 tl_sql_int(db, "SELECT count(*) FROM frames WHERE func = 'parse_json'"));
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_top_by_kind),         cmocka_unit_test(test_db_facts),
#ifdef MERGE_QUICKSTART
	    cmocka_unit_test(test_quickstart_top),      cmocka_unit_test(test_quickstart_top_ties),
	    cmocka_unit_test(test_quickstart_cookbook),
#endif
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
