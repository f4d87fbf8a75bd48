/*
 * merge_repair.c - spans whose END is missing, on synthetic logs
 * written through libcore's writer (docs/schema.md, "Spans whose end is
 * missing"):
 * - an END lost (a LOST record in the middle), followed by a sibling and
 *   samples: the span ends at its last child's end, is cut (1), and the
 *   samples after it, in the lost stretch too, go to its parent;
 * - the same when the proof comes seconds later, after the samples were
 *   attributed (the repair after the load moves them);
 * - an END that comes late from another thread wins over the proof;
 * - a crash (the log ends with spans open, no THREAD_END): cut (2), at the
 *   thread's last record when nothing was lost, else at the last point
 *   known inside;
 * - merge's warning line and top's header line appear exactly when
 *   something is missing, and the exports carry it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log_writer.h"
#include "mtest.h"
#include "synth.h"

#define US(x)  ((uint64_t)(x)*1000u)
#define MS(x)  ((uint64_t)(x)*1000000u)
#define CROSS  LC_SPAN_CROSS_THREAD
#define LOSSY  "lossy"
#define CRASH  "crash"
#define CLEAN  "clean"
#define DROP   "dropped"
#define N_LATE 5000 /* samples before a late proof: merge settles in between */

static char g_dir[512];
static const uint64_t g_stack[] = {0x1000, 0x2000};

static void sample(synth *s, uint32_t tid, uint64_t off)
{
	synth_sample(s, tid, off, g_stack, 2);
}

/* The writer emits LOST(events) at the next drain, before the records
 * written after this call. */
static void lose_events(synth *s, uint32_t tid, int n)
{
	lc_log_flush();
	for (int i = 0; i < n; i++)
		lc_ring_count_lost(synth_thread(s, tid, NULL), LC_LOST_EVENTS);
}

/* Thread 40: span 101 loses its END; its parent 100 goes on (sibling 103). */
static void write_end_lost(synth *s)
{
	synth_span_begin(s, 40, US(0), 100, 0, "root");
	synth_span_begin(s, 40, US(1000), 101, 100, "cut");
	synth_attr_int(s, 40, 101, "n", 1);
	synth_span_begin(s, 40, US(1500), 102, 101, "child");
	sample(s, 40, US(1200));
	sample(s, 40, US(1700));
	synth_span_end(s, 40, US(2000), 102);
	lose_events(s, 40, 1); /* the END of 101, at 2200 us */
	sample(s, 40, US(2500));
	sample(s, 40, US(4000));
	synth_span_begin(s, 40, US(5000), 103, 100, "sibling");
	sample(s, 40, US(5500));
	synth_span_end(s, 40, US(6000), 103);
	sample(s, 40, US(7000));
	synth_span_end(s, 40, US(10000), 100);
}

/* Thread 41: the END of 201 is lost and the proof (sibling 202) comes 5 s
 * later, after merge attributed the samples in between. */
static void write_late_proof(synth *s)
{
	synth_span_begin(s, 41, US(0), 200, 0, "root2");
	synth_span_begin(s, 41, US(100), 201, 200, "cut2");
	lose_events(s, 41, 1);
	for (uint64_t i = 1; i <= N_LATE; i++)
		sample(s, 41, MS(i));
	synth_span_begin(s, 41, MS(5001), 202, 200, "sibling2");
	synth_span_end(s, 41, MS(5002), 202);
	synth_span_end(s, 41, MS(6000), 200);
}

/* Threads 43, 44: 501 is ended by 44 (CROSS_THREAD), whose ring reaches the
 * file after 43's sibling begin: the END wins, no cut. */
static void write_late_cross_end(synth *s)
{
	synth_span_begin(s, 43, US(0), 500, 0, "root3");
	synth_span_begin(s, 43, US(100), 501, 500, "handed-off");
	synth_span_begin(s, 43, US(400), 502, 500, "sibling3");
	synth_span_end(s, 43, US(450), 502);
	synth_span_end(s, 43, US(900), 500);
	synth_span_end_flags(s, 44, US(300), 501, CROSS);
}

/* Opens the synthetic log of process pid in g_dir/sub, sampling at 1 kHz. */
static void open_sub_log(synth *s, const char *sub, const char *program, uint32_t pid)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/%s", g_dir, sub);
	assert_int_equal(synth_open(s, dir, program, pid, 1), 0);
	synth_sampler(s, 1000);
}

static void write_lossy(void)
{
	synth s;
	open_sub_log(&s, LOSSY, "lossy", 6001);
	synth_thread(&s, 40, "a");
	synth_thread(&s, 41, "b");
	synth_thread(&s, 43, "c"); /* before 44: its ring is drained first */
	synth_thread(&s, 44, "d");
	write_end_lost(&s);
	write_late_proof(&s);
	write_late_cross_end(&s);
	synth_close(&s);
}

/* Thread 50: nothing lost, the log ends with 300 > 301 open. Thread 51:
 * events lost after 310 was last seen (its child's end), then samples. */
static void write_crash(void)
{
	synth s;
	open_sub_log(&s, CRASH, "crash", 6002);
	synth_span_begin(&s, 50, US(0), 300, 0, "main");
	sample(&s, 50, US(500));
	synth_span_begin(&s, 50, US(1000), 301, 300, "work");
	sample(&s, 50, US(2000));
	sample(&s, 50, US(3000));
	synth_span_begin(&s, 51, US(0), 310, 0, "main2");
	synth_span_begin(&s, 51, US(100), 311, 310, "step");
	synth_span_end(&s, 51, US(200), 311);
	lose_events(&s, 51, 2);
	sample(&s, 51, US(1000));
	sample(&s, 51, US(2000));
	synth_close(&s); /* no ENDs, no THREAD_END: as after kill -9 */
}

static void write_clean(void)
{
	synth s;
	open_sub_log(&s, CLEAN, "clean", 6003);
	synth_span_begin(&s, 60, US(0), 600, 0, "main");
	sample(&s, 60, US(500));
	synth_span_end(&s, 60, US(1000), 600);
	synth_close(&s);
}

/* SPANPROF_ON_FULL=drop: thread 70 dropped 3 spans named "parse" (counted
 * in two drains) and 1 under a name beyond the runtime's counters. */
static void write_dropped(void)
{
	synth s;
	open_sub_log(&s, DROP, "dropped", 6004);
	synth_span_begin(&s, 70, US(0), 700, 0, "main");
	sample(&s, 70, US(500));
	lc_record str = {.type = LC_REC_STRING};
	str.u.string = (lc_rec_string){.id = 77, .len = 5, .bytes = "parse"};
	lc_log_meta(&str, 1);
	lc_ring *ring = synth_thread(&s, 70, NULL);
	lc_ring_count_dropped(ring, 77);
	lc_ring_count_dropped(ring, 77);
	lc_log_flush();
	lc_ring_count_dropped(ring, 77);
	lc_ring_count_dropped(ring, 0);
	synth_span_end(&s, 70, US(1000), 700);
	synth_close(&s);
}

static char *g_err[4]; /* merge's stderr: lossy, crash, clean, dropped */

static int setup(void **state)
{
	(void)state;
	tl_tmpdir(g_dir, sizeof g_dir, "repair");
	write_lossy();
	write_crash();
	write_clean();
	write_dropped();
	const char *names[] = {LOSSY, CRASH, CLEAN, DROP};
	for (int i = 0; i < 4; i++)
		if (tl_cli_run(NULL, &g_err[i], "merge -q -o '%s/%s.db' '%s/%s'", g_dir, names[i],
		               g_dir, names[i]))
			return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 4; i++)
		free(g_err[i]);
	tl_rm_rf(g_dir);
	return 0;
}

static sqlite3 *open_db(const char *name)
{
	char path[700];
	snprintf(path, sizeof path, "%s/%s.db", g_dir, name);
	return mtest_db(path);
}

/* span_id of a thread's samples in time order ("-" for NULL). */
static void assert_attribution(sqlite3 *db, int tid, const char *want)
{
	char got[512];
	tl_sql_column(
	    db, got, sizeof got,
	    "SELECT coalesce(rec(span_id), '-') FROM samples WHERE tid = %d ORDER BY ts_ns", tid);
	assert_string_equal(got, want);
}

static void test_end_lost(void **state)
{
	(void)state;
	sqlite3 *db = open_db(LOSSY);
	/* Cut at its child's end (2000 us), not at the end of the data. */
	assert_int_equal(tl_sql_int(db, "SELECT cut FROM spans WHERE span_id = rid(101)"), 1);
	assert_int_equal(tl_sql_int(db, "SELECT dur_ns FROM spans WHERE span_id = rid(101)"),
	                 US(1000));
	assert_int_equal(tl_sql_int(db, "SELECT (flags & 256) <> 0 AND end_tid IS NULL FROM spans"
	                                " WHERE span_id = rid(101)"),
	                 1);
	assert_int_equal(
	    tl_sql_int(db, "SELECT count(*) FROM spans WHERE cut <> 0 AND span_id <> rid(101)"
	                   " AND tid = 40"),
	    0);
	/* 2500 us (in the lost stretch) and 4000 us leave the cut span. */
	assert_attribution(db, 40, "101 102 100 100 103 100");
	sqlite3_close(db);
}

static void test_late_proof(void **state)
{
	(void)state;
	sqlite3 *db = open_db(LOSSY);
	assert_int_equal(tl_sql_int(db, "SELECT cut FROM spans WHERE span_id = rid(201)"), 1);
	assert_int_equal(tl_sql_int(db, "SELECT dur_ns FROM spans WHERE span_id = rid(201)"), 0);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples WHERE span_id = rid(201)"),
	                 0);
	assert_int_equal(
	    tl_sql_int(db, "SELECT count(*) FROM samples WHERE tid = 41 AND span_id = rid(200)"),
	    N_LATE);
	sqlite3_close(db);
}

static void test_late_cross_end(void **state)
{
	(void)state;
	sqlite3 *db = open_db(LOSSY);
	assert_int_equal(tl_sql_int(db,
	                            "SELECT cut = 0 AND dur_ns = %llu AND end_tid = 44 FROM spans"
	                            " WHERE span_id = rid(501)",
	                            (unsigned long long)US(200)),
	                 1);
	sqlite3_close(db);
}

static void test_crash(void **state)
{
	(void)state;
	sqlite3 *db = open_db(CRASH);
	/* Nothing of thread 50 lost: open until just after its last record. */
	assert_int_equal(
	    tl_sql_int(db, "SELECT count(*) FROM spans WHERE recorded_id IN (300, 301) AND cut = 2"
	                   " AND (flags & 256) <> 0 AND end_ns = (SELECT max(ts_ns) + 1"
	                   " FROM samples WHERE tid = 50)"),
	    2);
	assert_attribution(db, 50, "300 301 301");
	/* Thread 51 lost events after 310 was last seen (311's end at 200 us). */
	assert_int_equal(
	    tl_sql_int(db, "SELECT cut = 2 AND dur_ns = %llu FROM spans WHERE span_id = rid(310)",
	               (unsigned long long)US(200)),
	    1);
	assert_int_equal(tl_sql_int(db, "SELECT cut FROM spans WHERE span_id = rid(311)"), 0);
	assert_attribution(db, 51, "- -");
	sqlite3_close(db);
}

static int count_substr(const char *s, const char *sub)
{
	int n = 0;
	for (const char *p = s; p && (p = strstr(p, sub)) != NULL; p++)
		n++;
	return n;
}

static void test_merge_warning(void **state)
{
	(void)state;
	/* Shares of what was recorded plus what was lost. */
	sqlite3 *db = open_db(LOSSY);
	int64_t recorded = tl_sql_int(db, "SELECT 2 * count(*) - sum(cut <> 0) FROM spans") +
	                   tl_sql_int(db, "SELECT count(*) FROM span_attrs");
	sqlite3_close(db);
	char want[200];
	snprintf(want, sizeof want,
	         "spanprof merge: warning: 2 of %lld span events (%.1f%%) lost in 2 threads;"
	         " 2 spans cut (no END in the log): see",
	         (long long)recorded + 2, 200.0 / (double)(recorded + 2));
	print_message("%s", g_err[0]);
	assert_int_equal(count_substr(g_err[0], "warning"), 1);
	assert_non_null(strstr(g_err[0], want));
	assert_int_equal(count_substr(g_err[1], "warning"), 1);
	assert_non_null(strstr(g_err[1], " lost in 1 thread; 3 spans cut (no END in the log)"));
	assert_int_equal(count_substr(g_err[2], "warning"), 0);
}

/* DROPPED records: the latest count per thread and name in table
 * dropped, and the total in merge's warning and top's header. */
static void test_dropped(void **state)
{
	(void)state;
	sqlite3 *db = open_db(DROP);
	assert_int_equal(
	    tl_sql_int(db, "SELECT count FROM dropped WHERE tid = 70 AND name = 'parse'"), 3);
	assert_int_equal(
	    tl_sql_int(db, "SELECT count FROM dropped WHERE tid = 70 AND name = '(other names)'"),
	    1);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM dropped"), 2);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans WHERE cut <> 0"), 0);
	sqlite3_close(db);
	assert_int_equal(count_substr(g_err[3], "warning"), 1);
	assert_non_null(strstr(g_err[3], "warning: 4 spans dropped"));
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s/%s.db' -n 1", g_dir, DROP), 0);
	assert_non_null(strstr(out, "\n  missing: 4 spans dropped\n"));
	free(out);
}

static void test_top_header(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s/%s.db' -n 1", g_dir, LOSSY), 0);
	print_message("%s", out);
	assert_int_equal(count_substr(out, "\n  missing: 2 of "), 1);
	assert_non_null(strstr(out, "2 spans cut (no END in the log)\n"));
	free(out);
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s/%s.db' -n 1", g_dir, CLEAN), 0);
	assert_int_equal(count_substr(out, "missing"), 0);
	assert_int_equal(count_substr(out, "\n"), 4); /* title, columns, one row, blank */
	free(out);
}

/* Exports carry the summary where their format has room (docs/export.md). */
static void test_exports(void **state)
{
	(void)state;
	static const struct {
		const char *format, *key;
	} f[] = {{"chrome", "\"spanprof_missing\":\"2 of "},
	         {"firefox", "\"spanprofMissing\":\"2 of "},
	         {"speedscope", ".db (missing: 2 of "}};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		char *out = NULL;
		assert_int_equal(tl_cli_run(&out, NULL, "export '%s/%s.db' --format %s", g_dir,
		                            LOSSY, f[i].format),
		                 0);
		assert_non_null(strstr(out, f[i].key));
		assert_non_null(strstr(out, "2 spans cut (no END in the log)"));
		free(out);
		assert_int_equal(tl_cli_run(&out, NULL, "export '%s/%s.db' --format %s", g_dir,
		                            CLEAN, f[i].format),
		                 0);
		assert_null(strstr(out, "missing"));
		assert_null(strstr(out, "Missing"));
		free(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_end_lost),       cmocka_unit_test(test_late_proof),
	    cmocka_unit_test(test_late_cross_end), cmocka_unit_test(test_crash),
	    cmocka_unit_test(test_merge_warning),  cmocka_unit_test(test_dropped),
	    cmocka_unit_test(test_top_header),     cmocka_unit_test(test_exports),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
