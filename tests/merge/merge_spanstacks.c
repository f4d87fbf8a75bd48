/*
 * merge_spanstacks.c - the tables stack_samples, span_name_stacks and
 * span_attr_stacks (samples per stack, per span name and stack, per
 * inherited attribute value and stack; merge/db/mg_spanstacks.h) agree
 * with the same sums computed directly from samples, spans and
 * span_ancestors, and from the view sample_attrs,
 * after a merge, after 'merge --append' (a span of the appended log gets
 * its parent, and so its ancestors' names and attributes, from the
 * database appended to), after --since/--until; and an append into a
 * database of the previous schema version is refused.
 *
 * Logs: process 6100 with "request" spans ("kind", "bytes"), a child
 * "parse" and, in odd requests, a "parse" inside the "parse" (a name
 * counted once per sample) that sets its own "kind" (the nearest wins);
 * then 1001 "tick" spans with a "seq" of their own (a key with too many
 * values for span_attr_stacks); process 6101 whose root span "job" hangs
 * under the last request of 6100.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtest.h"
#include "synth.h"

static char g_dir[512];

__attribute__((noinline)) int ss_leaf_a(int x)
{
	return x * 3;
}
__attribute__((noinline)) int ss_leaf_b(int x)
{
	return x * 5;
}
__attribute__((noinline)) int ss_work(int x)
{
	return ss_leaf_a(x) + ss_leaf_b(x);
}
__attribute__((noinline)) int ss_loop(int x)
{
	return ss_work(x) + 1;
}

static uint64_t pc(int (*f)(int))
{
	return (uint64_t)(uintptr_t)f + 1;
}

static uint64_t rid(uint64_t n)
{
	n *= 0x9E3779B97F4A7C15ull;
	n ^= n >> 29;
	return (n & 0x7fffffffffffffffull) | 1;
}

static void open_log(synth *s, const char *sub, uint32_t pid, uint32_t ppid, const char *thread)
{
	char dir[700], exe[4096];
	snprintf(dir, sizeof dir, "%s/%s", g_dir, sub);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(synth_open(s, dir, "ss", pid, ppid), 0);
	synth_sampler(s, 1000);
	synth_mapped_path(NULL, exe, sizeof exe);
	assert_true(synth_map_self(s, exe, NULL, NULL, 0) > 0);
	synth_thread(s, pid, thread);
}

static void write_logs(void)
{
	synth s;
	uint64_t a[] = {pc(ss_leaf_a), pc(ss_work), pc(ss_loop)};
	uint64_t b[] = {pc(ss_leaf_b), pc(ss_work), pc(ss_loop)};
	uint64_t w[] = {pc(ss_work), pc(ss_loop)};
	uint64_t idle[] = {pc(ss_loop)};
	open_log(&s, "a", 6100, 1, "main");
	for (uint64_t r = 0; r < 10; r++) {
		uint64_t t = r * 10000000, req = rid(100 + 3 * r), parse = rid(101 + 3 * r);
		synth_span_begin(&s, 6100, t, req, 0, "request");
		synth_attr_str(&s, 6100, req, "kind", r % 2 ? "json" : "csv");
		synth_attr_int(&s, 6100, req, "bytes", (int64_t)(r % 3) * 100);
		synth_sample(&s, 6100, t + 1000, w, 2);
		synth_span_begin(&s, 6100, t + 2000, parse, req, "parse");
		for (uint64_t i = 0; i < 3 + r % 3; i++)
			synth_sample(&s, 6100, t + 3000 + i * 100000, r % 2 ? a : b, 3);
		if (r % 2) { /* a parse inside the parse */
			synth_span_begin(&s, 6100, t + 1000000, rid(102 + 3 * r), parse, "parse");
			synth_attr_str(&s, 6100, rid(102 + 3 * r), "kind", "inner");
			synth_sample(&s, 6100, t + 1100000, b, 3);
			synth_sample(&s, 6100, t + 1200000, a, 3);
			synth_span_end(&s, 6100, t + 1300000, rid(102 + 3 * r));
		}
		synth_span_end(&s, 6100, t + 8000000, parse);
		synth_span_end(&s, 6100, t + 9000000, req);
		synth_sample(&s, 6100, t + 9500000, idle, 1); /* outside spans */
	}
	for (uint64_t i = 0; i < 1001; i++) {
		uint64_t t = 100000000 + i * 10000, tick = rid(5000 + i);
		synth_span_begin(&s, 6100, t, tick, 0, "tick");
		synth_attr_int(&s, 6100, tick, "seq", (int64_t)i);
		synth_sample(&s, 6100, t + 1000, w, 2);
		synth_span_end(&s, 6100, t + 5000, tick);
	}
	synth_close(&s);
	open_log(&s, "b", 6101, 6100, "worker");
	synth_span_begin(&s, 6101, 91000000, rid(900), rid(127), "job");
	synth_sample(&s, 6101, 91100000, w, 2);
	synth_span_begin(&s, 6101, 91200000, rid(901), rid(900), "parse");
	for (uint64_t i = 0; i < 4; i++)
		synth_sample(&s, 6101, 91300000 + i * 100000, a, 3);
	synth_span_end(&s, 6101, 92000000, rid(901));
	synth_span_end(&s, 6101, 93000000, rid(900));
	synth_close(&s);
}

static int setup(void **state)
{
	(void)state;
	tl_tmpdir(g_dir, sizeof g_dir, "spanstacks");
	write_logs();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_rm_rf(g_dir);
	return 0;
}

/* The sums as span_func_time computed them before the table (schema 2). */
#define DIRECT_SQL                                                                                 \
	"WITH ss AS (SELECT span_id, stack_id, count(*) AS n, sum(weight_ns) AS w FROM samples"    \
	" WHERE span_id IS NOT NULL AND stack_id IS NOT NULL GROUP BY span_id, stack_id),"         \
	" names AS (SELECT DISTINCT a.span_id, sp.name FROM span_ancestors a"                      \
	" JOIN spans sp ON sp.span_id = a.ancestor_id)"                                            \
	" SELECT names.name, ss.stack_id, sum(ss.n), sum(ss.w) FROM ss"                            \
	" JOIN names ON names.span_id = ss.span_id GROUP BY names.name, ss.stack_id"
#define TABLE_SQL "SELECT span_name, stack_id, samples, weight_ns FROM span_name_stacks"
/* The same per attribute value from the view, keys of <= 1000 values. */
#define ATTR_DIRECT_SQL                                                                            \
	"SELECT key, value, stack_id, count(*), sum(weight_ns) FROM sample_attrs"                  \
	" WHERE stack_id IS NOT NULL AND key NOT IN (SELECT key FROM span_attrs"                   \
	" WHERE span_id IS NOT NULL GROUP BY key HAVING count(DISTINCT value) > 1000)"             \
	" GROUP BY key, value, stack_id"
#define ATTR_TABLE_SQL "SELECT key, value, stack_id, samples, weight_ns FROM span_attr_stacks"
/* And per stack, as func_time computed it before stack_samples. */
#define STACK_DIRECT_SQL                                                                           \
	"SELECT stack_id, count(*), sum(weight_ns) FROM samples WHERE stack_id IS NOT NULL"        \
	" GROUP BY stack_id"
#define STACK_TABLE_SQL "SELECT stack_id, samples, weight_ns FROM stack_samples"

/* The table holds exactly the direct sums; returns its row count. */
static int64_t assert_agrees(const char *path)
{
	sqlite3 *db = mtest_db(path);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM (" TABLE_SQL
	                                " EXCEPT SELECT * FROM (" DIRECT_SQL "))"),
	                 0);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM (SELECT * FROM (" DIRECT_SQL
	                                ") EXCEPT " TABLE_SQL ")"),
	                 0);
	int64_t n = tl_sql_int(db, "SELECT count(*) FROM span_name_stacks");
	assert_int_equal(n, tl_sql_int(db, "SELECT count(*) FROM (" DIRECT_SQL ")"));
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM (" ATTR_TABLE_SQL
	                                " EXCEPT SELECT * FROM (" ATTR_DIRECT_SQL "))"),
	                 0);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM (SELECT * FROM (" ATTR_DIRECT_SQL
	                                ") EXCEPT " ATTR_TABLE_SQL ")"),
	                 0);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM (" STACK_TABLE_SQL
	                                " EXCEPT " STACK_DIRECT_SQL ")"),
	                 0);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM (" STACK_DIRECT_SQL
	                                " EXCEPT " STACK_TABLE_SQL ")"),
	                 0);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM stack_samples"),
	                 tl_sql_int(db, "SELECT count(*) FROM (" STACK_DIRECT_SQL ")"));
	int64_t a = tl_sql_int(db, "SELECT count(*) FROM span_attr_stacks");
	assert_true(a > 0);
	assert_int_equal(a, tl_sql_int(db, "SELECT count(*) FROM (" ATTR_DIRECT_SQL ")"));
	sqlite3_close(db);
	return n;
}

/* span_func_time, and span_attr_stacks per function, as one line of text
 * (stack ids differ between a merge and an append; functions do not). */
static char *func_time(const char *path)
{
	sqlite3 *db = mtest_db(path);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(
	                     db,
	                     "SELECT group_concat(line, ' ') FROM (SELECT span_name || ':' || func"
	                     " || ':' || self_samples || ':' || self_ns || ':' || total_samples"
	                     " || ':' || total_ns AS line FROM span_func_time"
	                     " ORDER BY span_name, func)",
	                     -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	char *s = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(
	                     db,
	                     "SELECT group_concat(line, ' ') FROM (SELECT a.key || ':' || a.value"
	                     " || ':' || f.func || ':' || sum(a.samples) || ':' || sum(a.weight_ns)"
	                     " AS line FROM span_attr_stacks a JOIN stacks st USING (stack_id)"
	                     " JOIN frames f USING (frame_id) GROUP BY a.key, a.value, f.func"
	                     " ORDER BY a.key, a.value, f.func)",
	                     -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *attrs = (const char *)sqlite3_column_text(st, 0);
	size_t len = strlen(s) + strlen(attrs) + 4;
	char *out = malloc(len);
	assert_non_null(out);
	snprintf(out, len, "%s | %s", s, attrs);
	free(s);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static void db_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s.db", g_dir, name);
}

/* whole.db: one merge of both logs; its path into buf. */
static void merge_whole(char *buf, size_t len)
{
	db_path(buf, len, "whole");
	assert_int_equal(
	    tl_cli_run(NULL, NULL, "merge -q --force -o '%s' '%s/a' '%s/b'", buf, g_dir, g_dir), 0);
}

static void test_merge_agrees(void **state)
{
	(void)state;
	char db[700];
	merge_whole(db, sizeof db);
	assert_true(assert_agrees(db) > 0);
	/* the job's samples count for "request" too, once each */
	sqlite3 *d = mtest_db(db);
	assert_int_equal(tl_sql_int(d, "SELECT sum(samples) FROM span_name_stacks WHERE span_name ="
	                               " 'request'"),
	                 tl_sql_int(d,
	                            "SELECT count(*) FROM samples s JOIN spans sp USING (span_id)"
	                            " WHERE sp.name <> 'tick'"));
	assert_int_equal(tl_sql_int(d, "SELECT sum(samples) FROM span_name_stacks WHERE span_name ="
	                               " 'parse'"),
	                 tl_sql_int(d,
	                            "SELECT count(*) FROM samples s JOIN spans sp USING (span_id)"
	                            " WHERE sp.name = 'parse'"));
	/* the inner parse's own kind wins over its request's; the job sees
	 * its request's bytes; seq has too many values for the table */
	assert_int_equal(tl_sql_int(d,
	                            "SELECT sum(samples) FROM span_attr_stacks WHERE key = 'kind'"
	                            " AND value = 'inner'"),
	                 10);
	assert_int_equal(
	    tl_sql_int(d, "SELECT sum(samples) FROM span_attr_stacks WHERE key = 'bytes'"),
	    tl_sql_int(d, "SELECT count(*) FROM sample_attrs WHERE key = 'bytes'"));
	assert_int_equal(tl_sql_int(d, "SELECT count(*) FROM span_attr_stacks WHERE key = 'seq'"),
	                 0);
	assert_int_equal(
	    tl_sql_int(d, "SELECT count(DISTINCT value) FROM span_attrs WHERE key = 'seq'"), 1001);
	sqlite3_close(d);
}

/* Appending b to a database of a: b's job gets request's name only once
 * its parent is found in the database, so a table not rebuilt after the
 * append would miss it. */
static void test_append_agrees(void **state)
{
	(void)state;
	char whole[700], db[700];
	merge_whole(whole, sizeof whole);
	db_path(db, sizeof db, "appended");
	assert_int_equal(tl_cli_run(NULL, NULL, "merge -q --force -o '%s' '%s/a'", db, g_dir), 0);
	assert_agrees(db);
	char *before = func_time(db);
	assert_int_equal(tl_cli_run(NULL, NULL, "merge -q --append '%s' '%s/b'", db, g_dir), 0);
	assert_agrees(db);
	char *after = func_time(db), *expect = func_time(whole);
	assert_string_equal(after, expect);
	assert_string_not_equal(before, after);
	free(before);
	free(after);
	free(expect);
}

/* A window, and an append that prunes what falls before --since. */
static void test_window_agrees(void **state)
{
	(void)state;
	char whole[700], db[700];
	merge_whole(whole, sizeof whole);
	db_path(db, sizeof db, "window");
	sqlite3 *d = mtest_db(whole);
	int64_t t0 = tl_sql_int(d, "SELECT min(ts_ns) FROM samples");
	int64_t t1 = tl_sql_int(d, "SELECT max(ts_ns) FROM samples");
	sqlite3_close(d);
	long long mid = (long long)(t0 + (t1 - t0) / 2);
	assert_int_equal(
	    tl_cli_run(NULL, NULL, "merge -q --force --until %lld -o '%s' '%s/a'", mid, db, g_dir),
	    0);
	int64_t n = assert_agrees(db);
	assert_true(n > 0);
	assert_int_equal(
	    tl_cli_run(NULL, NULL, "merge -q --append '%s' --since %lld '%s/b'", db, mid, g_dir),
	    0);
	assert_agrees(db);
	d = mtest_db(db);
	/* the prune happened */
	assert_int_equal(tl_sql_int(d, "SELECT count(*) FROM samples WHERE ts_ns < %lld", mid), 0);
	assert_true(tl_sql_int(d, "SELECT count(*) FROM span_name_stacks WHERE span_name = 'job'") >
	            0);
	sqlite3_close(d);
}

/* A database of schema version 2 has no span_name_stacks to keep up to
 * date: appending to it is refused, and it is left as it was. */
static void test_append_refuses_version_2(void **state)
{
	(void)state;
	char db[700];
	db_path(db, sizeof db, "version2");
	assert_int_equal(tl_cli_run(NULL, NULL, "merge -q --force -o '%s' '%s/a'", db, g_dir), 0);
	sqlite3 *d = NULL;
	assert_int_equal(sqlite3_open(db, &d), SQLITE_OK);
	assert_int_equal(sqlite3_exec(d,
	                              "UPDATE meta SET value = 2 WHERE key = 'schema_version';"
	                              "DROP VIEW span_func_time; DROP TABLE span_name_stacks;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	int64_t spans = tl_sql_int(d, "SELECT count(*) FROM spans");
	sqlite3_close(d);
	char *err = NULL;
	assert_int_not_equal(tl_cli_run(NULL, &err, "merge -q --append '%s' '%s/b'", db, g_dir), 0);
	assert_non_null(strstr(err, "older merge"));
	assert_non_null(strstr(err, "schema version 2"));
	free(err);
	d = mtest_db(db);
	assert_int_equal(tl_sql_int(d, "SELECT count(*) FROM spans"), spans);
	sqlite3_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merge_agrees),
	    cmocka_unit_test(test_append_agrees),
	    cmocka_unit_test(test_window_agrees),
	    cmocka_unit_test(test_append_refuses_version_2),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
