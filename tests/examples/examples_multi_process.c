/*
 * examples_multi_process.c - runs examples/multi_process under `spanprof
 * record` and checks one trace across processes: every child's
 * "shard_work" span is in the parent's trace, has the parent's "spawn" span
 * for that shard as its parent, and the merged database and one exported
 * timeline hold all the processes, and merge does not take the processes
 * for separate runs (docs/schema.md, "Runs").
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

#include "ex_util.h"
#include "tl.h"

static void test_multi_process(void **state)
{
	(void)state;
	ex_scratch("multi_process");
	const char *prog = ex_program("multi_process");
	assert_int_equal(tl_sh(NULL, "$SP record -o out -- %s -c 3", prog), 0);
	/* Parent, forked and exec'd children are one run: merge does not warn. */
	char *merged = NULL;
	assert_int_equal(tl_sh(&merged, "$SP merge -o mp.db out 2>&1"), 0);
	assert_null(strstr(merged, "separate runs of"));
	free(merged);

	sqlite3 *db = tl_db_open("mp.db");
	int64_t parent_pid = tl_sql_int(db, "SELECT pid FROM spans WHERE name = 'job'");
	char *trace = tl_sql_text(db, "SELECT trace_id FROM spans WHERE name = 'job'");
	assert_non_null(trace);
	assert_int_equal(strlen(trace), 32);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans WHERE name = 'shard_work'"), 3);
	assert_int_equal(tl_sql_int(db,
	                            "SELECT count(DISTINCT pid) FROM spans"
	                            " WHERE name = 'shard_work' AND pid <> %lld",
	                            (long long)parent_pid),
	                 3);
	/* Same trace, parent = the spawn span of the same shard, in the parent. */
	assert_int_equal(
	    tl_sql_int(db,
	               "SELECT count(*) FROM spans w"
	               " JOIN span_attrs wa ON wa.span_id = w.span_id AND wa.key = 'shard'"
	               " JOIN spans p ON p.span_id = w.parent_id AND p.name = 'spawn'"
	               " JOIN span_attrs pa ON pa.span_id = p.span_id AND pa.key = 'shard'"
	               " WHERE w.name = 'shard_work' AND w.trace_id = '%s'"
	               " AND p.pid = %lld AND pa.value = wa.value",
	               trace, (long long)parent_pid),
	    3);
	/* The children's samples count for the parent's "job" span. */
	int64_t child_samples = tl_sql_int(db, "SELECT count(*) FROM sample_spans ss"
	                                       " JOIN spans j ON j.span_id = ss.span_id"
	                                       " WHERE j.name = 'job' AND ss.pid <> j.pid");
	assert_true(child_samples >= 50);
	free(trace);
	sqlite3_close(db);

	/* One timeline: the Chrome/Perfetto export names every process. */
	char *pids = NULL;
	assert_int_equal(tl_sh(&pids, "$SP query mp.db \"SELECT DISTINCT pid FROM spans\""
	                              " | tail -n +3"),
	                 0);
	assert_int_equal(tl_sh(NULL, "$SP export mp.db --format chrome -o mp.json"), 0);
	char *json = NULL;
	assert_int_equal(tl_sh(&json, "cat mp.json"), 0);
	int seen = 0;
	for (char *tok = strtok(pids, " \n"); tok; tok = strtok(NULL, " \n")) {
		char needle[64];
		snprintf(needle, sizeof needle, "\"pid\":%s", tok);
		assert_non_null(strstr(json, needle));
		seen++;
	}
	assert_int_equal(seen, 4);
	free(json);
	free(pids);
	ex_scratch_remove();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_multi_process)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
