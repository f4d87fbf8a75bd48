/*
 * merge_attribution.c - attribution of samples to spans, on synthetic
 * logs written through libcore's writer: nested spans, samples outside any
 * span (NULL), interval boundaries ([start, end)), spans of other threads,
 * a span that never ended, a parent in another process (fork), attribute
 * inheritance through the views, and the stack trie / frames dedup.
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
#include "synth.h"

static char g_dir[512], g_db[600];

/* Offsets (ns) of the samples on thread 10 and the span expected. */
static const struct {
	uint64_t off;
	int64_t span;
} g_expect[] = {
    {500, 0},    {1000, 100}, {1500, 100}, {2000, 101}, {3000, 102}, {3999, 102},
    {4000, 101}, {5000, 100}, {8999, 100}, {9000, 0},   {9500, 0},
};

static const uint64_t g_stack_a[] = {0x1000, 0x2000, 0x3000};
static const uint64_t g_stack_b[] = {0x1100, 0x2000, 0x3000};

/* Thread 12 like a real one: samples and spans in two rings (signal
 * handler, tracer) that reach the file one after the other, the samples
 * first although the span began earlier. */
static void write_two_rings(synth *s)
{
	lc_ring *samples = lc_ring_create(12, 1u << 16), *spans = lc_ring_create(12, 1u << 16);
	assert_non_null(samples);
	assert_non_null(spans);
	lc_rec_sample smp = {.ts = synth_ts(s, 1500), .tid = 12, .nframes = 3, .pcs = g_stack_a};
	assert_int_equal(lc_ring_sample(samples, &smp), 0);
	smp.ts = synth_ts(s, 2500);
	assert_int_equal(lc_ring_sample(samples, &smp), 0);
	lc_log_flush();
	lc_rec_span_begin b = {
	    .ts = synth_ts(s, 1000), .tid = 12, .span_id = 400, .name = "late", .name_len = 4};
	assert_int_equal(lc_ring_span_begin(spans, &b), 0);
	lc_rec_span_end e = {.ts = synth_ts(s, 2000), .tid = 12, .span_id = 400};
	assert_int_equal(lc_ring_span_end(spans, &e), 0);
	lc_log_flush();
	lc_ring_retire(samples);
	lc_ring_retire(spans);
}

static void write_parent_log(void)
{
	synth s;
	assert_int_equal(synth_open(&s, g_dir, "app", 4242, 1), 0);
	synth_sampler(&s, 1000);
	synth_thread(&s, 10, "main");
	synth_thread(&s, 11, "worker");
	synth_span_begin(&s, 10, 1000, 100, 0, "request");
	synth_attr_str(&s, 10, 100, "kind", "json");
	synth_attr_int(&s, 10, 100, "bytes", 42);
	synth_span_begin(&s, 10, 2000, 101, 100, "parse");
	synth_span_begin(&s, 10, 3000, 102, 101, "lex");
	synth_span_end(&s, 10, 4000, 102);
	synth_span_end(&s, 10, 5000, 101);
	synth_span_end(&s, 10, 9000, 100);
	for (size_t i = 0; i < sizeof g_expect / sizeof g_expect[0]; i++)
		synth_sample(&s, 10, g_expect[i].off, i % 2 ? g_stack_a : g_stack_b, 3);
	write_two_rings(&s);
	lc_ring_count_lost(synth_thread(&s, 10, NULL), LC_LOST_UNWIND);
	lc_ring_count_lost(synth_thread(&s, 10, NULL), LC_LOST_UNWIND);
	synth_span_begin(&s, 11, 1000, 200, 0, "background");
	synth_sample(&s, 11, 500, g_stack_a, 3);
	synth_sample(&s, 11, 3500, g_stack_a, 3);
	synth_close(&s); /* span 200 never ends */
}

static void write_child_log(void)
{
	synth s;
	assert_int_equal(synth_open(&s, g_dir, "app", 4243, 4242), 0);
	synth_thread(&s, 20, "child");
	synth_span_begin(&s, 20, 100, 300, 101, "child-root");
	synth_sample(&s, 20, 150, g_stack_b, 3);
	synth_span_end(&s, 20, 200, 300);
	synth_close(&s);
}

static int setup(void **state)
{
	tl_tmpdir(g_dir, sizeof g_dir, "attr");
	*state = g_dir;
	write_parent_log();
	write_child_log();
	snprintf(g_db, sizeof g_db, "%s/out.db", g_dir);
	return mtest_merge("", g_db, g_dir);
}

static void test_innermost_span(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	sqlite3_stmt *st = NULL;
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	                       "SELECT s.ts_ns - a.start_ns + 1000, rec(s.span_id) FROM"
	                       " samples s, spans a WHERE a.span_id = rid(100) AND"
	                       " s.pid = 4242 AND s.tid = 10 ORDER BY s.ts_ns",
	                       -1, &st, NULL),
	    SQLITE_OK);
	size_t i = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		assert_true(i < sizeof g_expect / sizeof g_expect[0]);
		assert_int_equal(sqlite3_column_int64(st, 0), g_expect[i].off);
		if (g_expect[i].span == 0)
			assert_int_equal(sqlite3_column_type(st, 1), SQLITE_NULL);
		else
			assert_int_equal(sqlite3_column_int64(st, 1), g_expect[i].span);
		i++;
	}
	assert_int_equal(i, sizeof g_expect / sizeof g_expect[0]);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_other_thread_and_unended(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	/* Thread 11: before its span NULL, then its own span, never ours. */
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples WHERE tid = 11"), 2);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples WHERE tid = 11 AND"
	                                " span_id IS NULL"),
	                 1);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples WHERE tid = 11 AND"
	                                " span_id = rid(200)"),
	                 1);
	/* The log ended with it open and nothing of thread 11 was lost: it
	 * lasts until just after the thread's last record (the sample at 3500). */
	assert_int_equal(tl_sql_int(db, "SELECT dur_ns = 2501 AND cut = 2 AND end_tid IS NULL AND"
	                                " (flags & 256) <> 0 FROM spans WHERE span_id = rid(200)"),
	                 1);
	assert_int_equal(tl_sql_int(db, "SELECT dur_ns FROM spans WHERE span_id = rid(101)"), 3000);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM threads WHERE pid = 4242 AND"
	                                " name IN ('main', 'worker')"),
	                 2);
	sqlite3_close(db);
}

static void test_rings_out_of_order(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples WHERE tid = 12"), 2);
	assert_int_equal(tl_sql_int(db, "SELECT rec(span_id) FROM samples WHERE tid = 12"
	                                " ORDER BY ts_ns LIMIT 1"),
	                 400);
	assert_int_equal(tl_sql_int(db, "SELECT span_id IS NULL FROM samples WHERE tid = 12"
	                                " ORDER BY ts_ns LIMIT 1 OFFSET 1"),
	                 1);
	sqlite3_close(db);
}

static void test_cross_process_parent(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	assert_int_equal(
	    tl_sql_int(db, "SELECT rec(parent_id) FROM spans WHERE span_id = rid(300)"), 101);
	assert_int_equal(tl_sql_int(db, "SELECT depth FROM spans WHERE span_id = rid(300)"), 2);
	assert_int_equal(tl_sql_int(db, "SELECT depth FROM spans WHERE span_id = rid(102)"), 2);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM processes WHERE pid = 4243 AND"
	                                " ppid = 4242"),
	                 1);
	/* Inclusive attribution crosses the process boundary. */
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM sample_spans WHERE span_id = rid(100)"
	                                " AND pid = 4243"),
	                 1);
	char *kind = tl_sql_text(db, "SELECT value FROM sample_attrs a JOIN samples s USING"
	                             " (sample_id) WHERE s.pid = 4243 AND a.key = 'kind'");
	assert_non_null(kind);
	assert_string_equal(kind, "json");
	free(kind);
	sqlite3_close(db);
}

static void test_attrs_and_weights(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	/* A sample in "lex" sees the request's attributes, typed. */
	assert_int_equal(tl_sql_int(db,
	                            "SELECT value FROM sample_attrs WHERE span_id = rid(102) AND"
	                            " key = 'bytes' LIMIT 1"),
	                 42);
	assert_int_equal(tl_sql_int(db, "SELECT typeof(value) = 'integer' FROM span_attrs"
	                                " WHERE key = 'bytes'"),
	                 1);
	assert_int_equal(tl_sql_int(db, "SELECT min(weight_ns) = max(weight_ns) FROM samples"
	                                " WHERE pid = 4242"),
	                 1);
	assert_int_equal(tl_sql_int(db, "SELECT weight_ns FROM samples WHERE pid = 4242"
	                                " LIMIT 1"),
	                 1000000);
	char *trace = tl_sql_text(db, "SELECT trace_id FROM spans WHERE span_id = rid(100)");
	assert_non_null(trace);
	assert_string_equal(trace, "00000000000012340000000000005678");
	free(trace);
	sqlite3_close(db);
}

static void test_lost_counts(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	assert_int_equal(tl_sql_int(db, "SELECT count FROM lost WHERE pid = 4242 AND tid = 10"
	                                " AND kind = 'unwind'"),
	                 2);
	assert_int_equal(tl_sql_int(db, "SELECT requested_hz FROM sampler WHERE pid = 4242"), 1000);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM logs WHERE status = 'ok'"), 2);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM damage"), 0);
	sqlite3_close(db);
}

static void test_trie_dedup(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	/* Two stacks share their two root frames: 4 nodes, 4 frames. */
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM stacks"), 4);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM frames"), 4);
	assert_int_equal(tl_sql_int(db, "SELECT count(DISTINCT stack_id) FROM samples"), 2);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM stacks WHERE depth = 0 AND"
	                                " parent_id IS NULL"),
	                 1);
	assert_int_equal(tl_sql_int(db, "SELECT max(depth) FROM stacks"), 2);
	/* Leaf frame first: the sampled pc itself; callers at pc - 1. */
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM frames WHERE rel_pc IN"
	                                " (4096, 4352, 8191, 12287)"),
	                 4);
	sqlite3_close(db);
}

/* The sample count in the header of top's group that starts with head. */
static long top_group_count(const char *out, const char *head)
{
	const char *at = strstr(out, head);
	assert_non_null(at);
	const char *colon = strstr(at + strlen(head), ": ");
	assert_non_null(colon);
	long n = -1;
	assert_int_equal(sscanf(colon, ": %ld samples", &n), 1);
	return n;
}

/* top's groups hold exactly the samples SQL says they should: all of
 * them (outside spans too), split by an inherited attribute (samples
 * outside spans and in spans without it under "(not set)"), and the
 * samples inside spans of one name, children and a child process
 * included. */
static void test_top_counts(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	int64_t all = tl_sql_int(db, "SELECT count(*) FROM samples");
	int64_t outside = tl_sql_int(db, "SELECT count(*) FROM samples WHERE span_id IS NULL");
	int64_t json = tl_sql_int(db, "SELECT count(*) FROM sample_attrs"
	                              " WHERE key = 'kind' AND value = 'json'");
	int64_t in_parse = tl_sql_int(db, "SELECT count(DISTINCT ss.sample_id) FROM sample_spans ss"
	                                  " JOIN spans sp ON sp.span_id = ss.span_id"
	                                  " WHERE sp.name = 'parse'");
	sqlite3_close(db);
	assert_true(outside > 0 && json > 0 && json < all - outside && in_parse > 0);
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s'", g_db), 0);
	assert_int_equal(top_group_count(out, "all samples"), all);
	free(out);
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s' --by kind", g_db), 0);
	assert_int_equal(top_group_count(out, "kind = \"json\""), json);
	assert_int_equal(top_group_count(out, "kind: (not set)"), all - json);
	free(out);
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s' --span parse", g_db), 0);
	assert_int_equal(top_group_count(out, "inside span \"parse\""), in_parse);
	free(out);
}

static void test_top_and_query(void **state)
{
	(void)state;
	char *out = NULL, *err = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s' --span request --by kind", g_db), 0);
	assert_non_null(strstr(out, "kind = \"json\""));
	free(out);
	assert_int_equal(tl_cli_run(&out, NULL,
	                            "query '%s' 'SELECT name FROM spans ORDER BY"
	                            " recorded_id' --csv",
	                            g_db),
	                 0);
	assert_string_equal(out, "name\r\nrequest\r\nparse\r\nlex\r\nbackground\r\nchild-root\r\n"
	                         "late\r\n");
	free(out);
	assert_int_equal(
	    tl_cli_run(&out, NULL, "query '%s' 'SELECT 1 AS one, NULL AS n' --json", g_db), 0);
	assert_string_equal(out, "[\n {\"one\": 1, \"n\": null}\n]\n");
	free(out);
	assert_int_equal(tl_cli_run(NULL, &err, "query '%s' 'SELEC nothing'", g_db), 1);
	assert_non_null(strstr(err, "SQL error"));
	assert_non_null(strchr(err, '\n'));
	assert_null(strchr(err, '\n') + 1 == NULL ? NULL : strchr(strchr(err, '\n') + 1, '\n'));
	free(err);
	assert_int_equal(tl_cli_run(NULL, &err, "query '%s/missing.db' 'SELECT 1'", g_dir), 1);
	free(err);
	assert_int_equal(tl_cli_run(NULL, NULL, "query '%s'", g_db), 2);
	assert_int_equal(tl_cli_run(NULL, NULL, "top '%s' --bogus", g_db), 2);
	assert_int_equal(tl_cli_run(NULL, NULL, "merge"), 2);
}

static void test_overwrite(void **state)
{
	(void)state;
	char *err = NULL;
	assert_int_equal(tl_cli_run(NULL, &err, "merge -o '%s' '%s'", g_db, g_dir), 1);
	assert_non_null(strstr(err, "--force"));
	free(err);
	assert_int_equal(tl_cli_run(NULL, NULL, "merge -q --force -o '%s' '%s'", g_db, g_dir), 0);
	sqlite3 *db = mtest_db(g_db);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples"), 16);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_innermost_span),
	    cmocka_unit_test(test_other_thread_and_unended),
	    cmocka_unit_test(test_rings_out_of_order),
	    cmocka_unit_test(test_cross_process_parent),
	    cmocka_unit_test(test_attrs_and_weights),
	    cmocka_unit_test(test_lost_counts),
	    cmocka_unit_test(test_trie_dedup),
	    cmocka_unit_test(test_top_counts),
	    cmocka_unit_test(test_top_and_query),
	    cmocka_unit_test(test_overwrite),
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
