/*
 * merge_xthread.c - spans ended on another thread through the public
 * API (real tracer, real sampler, this process): thread A begins a span,
 * hands the sp_span to thread B, B sets an attribute and ends it. Half the
 * spans go A -> B, half B -> A, so whatever order the writer drains the two
 * rings in, some ENDs (and attributes) reach the log before their BEGINs;
 * the test checks in the log that this happened, then that merge closed
 * every span at its END on the right thread. One span burns CPU on A before
 * and after its END on B: A's samples leave the span at the END.
 *
 * Threading: two threads handing spans over a pipe each way (a handoff is
 * a blocking read, not a sleep).
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <spanprof.h>

#include "log_reader.h"
#include "mg_hash.h"
#include "mtest.h"

#define N_SHORT 200 /* per direction */

static char g_dir[512], g_db[600], g_log[1024];
static int g_to_b[2], g_to_a[2]; /* pipes carrying sp_span handles */
static volatile uint64_t g_sink;

static void send_span(int fd, sp_span s)
{
	if (write(fd, &s, sizeof s) != (ssize_t)sizeof s)
		abort();
}

static sp_span recv_span(int fd)
{
	sp_span s;
	if (read(fd, &s, sizeof s) != (ssize_t)sizeof s)
		abort();
	return s;
}

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static __attribute__((noinline)) void burn(double ms)
{
	double end = cpu_ms() + ms;
	uint64_t x = g_sink | 1;
	while (cpu_ms() < end)
		for (int i = 0; i < 20000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
	g_sink = x;
}

/* Thread B: ends what A hands over, begins spans for A to end. */
static void *thread_b(void *arg)
{
	(void)arg;
	for (int i = 0; i < N_SHORT + 1; i++) {
		sp_span s = recv_span(g_to_b[0]);
		sp_attr_int(s, "ended_by_b", i);
		sp_end(s);
		send_span(g_to_a[1], (sp_span){0});
	}
	for (int i = 0; i < N_SHORT; i++) {
		sp_span s = sp_begin("b_to_a");
		send_span(g_to_a[1], s);
		recv_span(g_to_b[0]); /* A has ended it */
	}
	/* A span call takes in A's last cross-thread end before B exits (the
	 * exit handler alone would end that span again, UNCLOSED). */
	sp_end(sp_begin("b_done"));
	return NULL;
}

static void run_traced(void)
{
	pthread_t b;
	sp_config cfg = {.out_dir = g_dir, .hz = 999, .mode = SP_MODE_CPU};
	assert_int_equal(sp_start(&cfg), 0);
	assert_int_equal(pipe(g_to_b), 0);
	assert_int_equal(pipe(g_to_a), 0);
	assert_int_equal(pthread_create(&b, NULL, thread_b, NULL), 0);
	for (int i = 0; i < N_SHORT; i++) {
		send_span(g_to_b[1], sp_begin("a_to_b"));
		recv_span(g_to_a[0]);
	}
	sp_span hot = sp_begin("hot");
	burn(60);
	send_span(g_to_b[1], hot);
	recv_span(g_to_a[0]); /* B has ended it */
	burn(60);
	for (int i = 0; i < N_SHORT; i++) {
		sp_span s = recv_span(g_to_a[0]);
		sp_attr_int(s, "ended_by_a", i);
		sp_end(s);
		send_span(g_to_b[1], (sp_span){0});
	}
	assert_int_equal(pthread_join(b, NULL), 0);
	sp_stop();
	for (int i = 0; i < 2; i++) {
		close(g_to_a[i]);
		close(g_to_b[i]);
	}
}

static void find_log(void)
{
	DIR *d = opendir(g_dir);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".splog"))
			snprintf(g_log, sizeof g_log, "%s/%s", g_dir, e->d_name);
	closedir(d);
	assert_true(g_log[0] != 0);
}

static int setup(void **state)
{
	tl_tmpdir(g_dir, sizeof g_dir, "xthread");
	*state = g_dir;
	run_traced();
	find_log();
	snprintf(g_db, sizeof g_db, "%s/x.db", g_dir);
	return mtest_merge("-q", g_db, g_log);
}

/* The log really holds ENDs (and attributes) before their BEGINs. */
static void test_log_order(void **state)
{
	(void)state;
	lc_reader *r = NULL;
	lc_record rec;
	mg_hash begun = {0};
	int ends_first = 0, attrs_first = 0, rc;
	assert_int_equal(lc_reader_open(g_log, &r), 0);
	while ((rc = lc_reader_next(r, &rec)) == 1) {
		if (rec.type == LC_REC_SPAN_BEGIN)
			assert_int_equal(mg_hash_put(&begun, rec.u.span_begin.span_id, 0, 1), 0);
		else if (rec.type == LC_REC_SPAN_END)
			ends_first += !mg_hash_get(&begun, rec.u.span_end.span_id, 0);
		else if (rec.type == LC_REC_ATTR)
			attrs_first += !mg_hash_get(&begun, rec.u.attr.span_id, 0);
	}
	assert_int_equal(rc, 0);
	lc_reader_close(r);
	mg_hash_free(&begun);
	print_message("ENDs before their BEGIN: %d, attributes: %d\n", ends_first, attrs_first);
	assert_true(ends_first > 0);
	assert_true(attrs_first > 0);
}

static void test_all_closed(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans"), 2 * N_SHORT + 2);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans WHERE end_ns IS NULL"
	                                " OR dur_ns IS NULL OR dur_ns < 0 OR dur_ns <> end_ns -"
	                                " start_ns OR (flags & 0x120) <> 0"),
	                 0);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans WHERE end_tid <> tid AND"
	                                " flags = 4 AND name <> 'b_done'"),
	                 2 * N_SHORT + 1);
	/* Each direction: all begun on one thread, ended on the other. */
	assert_int_equal(tl_sql_int(db, "SELECT count(DISTINCT tid) + count(DISTINCT end_tid)"
	                                " FROM spans WHERE name = 'a_to_b'"),
	                 2);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans a, spans b WHERE"
	                                " a.name = 'a_to_b' AND b.name = 'b_to_a' AND"
	                                " (a.tid <> b.end_tid OR a.end_tid <> b.tid)"),
	                 0);
	/* Attributes set on B (some before the BEGIN reached the log). */
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM span_attrs a JOIN spans s USING"
	                                " (span_id) WHERE a.key = 'ended_by_b'"),
	                 N_SHORT + 1);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM span_attrs a JOIN spans s USING"
	                                " (span_id) WHERE a.key = 'ended_by_a' AND"
	                                " s.name = 'b_to_a'"),
	                 N_SHORT);
	sqlite3_close(db);
}

static void test_attribution(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	const char *owner = "(SELECT tid FROM spans WHERE name = 'hot')";
	/* A's samples during the span are in it, after its END they are not. */
	int64_t inside = tl_sql_int(
	    db,
	    "SELECT count(*) FROM samples s, spans h WHERE h.name = 'hot' AND s.tid = %s"
	    " AND s.ts_ns >= h.start_ns AND s.ts_ns < h.end_ns AND s.span_id IS h.span_id",
	    owner);
	assert_int_equal(
	    tl_sql_int(db,
	               "SELECT count(*) FROM samples s, spans h WHERE h.name = 'hot' AND s.tid = %s"
	               " AND s.ts_ns >= h.end_ns AND s.span_id IS h.span_id",
	               owner),
	    0);
	int64_t after =
	    tl_sql_int(db,
	               "SELECT count(*) FROM samples s, spans h WHERE h.name = 'hot' AND s.tid = %s"
	               " AND s.ts_ns >= h.end_ns AND s.span_id IS NULL",
	               owner);
	assert_int_equal(
	    tl_sql_int(db,
	               "SELECT count(*) FROM samples s, spans h WHERE h.name = 'hot' AND s.tid = %s"
	               " AND s.ts_ns >= h.start_ns AND s.ts_ns < h.end_ns AND s.span_id IS NOT"
	               " h.span_id",
	               owner),
	    0);
	print_message("samples in 'hot': %lld, after its end: %lld\n", (long long)inside,
	              (long long)after);
	/* 60 ms of CPU at 999 Hz each side; a slow timer fallback still gives
	 * a few (the kernel tick is at least 100 Hz). */
	assert_true(inside >= 2);
	assert_true(after >= 2);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_log_order),
	    cmocka_unit_test(test_all_closed),
	    cmocka_unit_test(test_attribution),
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
