/*
 * merge_ends.c - END records that do not simply follow their BEGIN,
 * on a synthetic log written through libcore's writer (flushes put records
 * in separate LZ4 frames, in the order a real drain can produce):
 * - a span ended on another thread whose END (and an attribute set there)
 *   reach the file in an earlier frame than its BEGIN: it closes at the
 *   right time, and samples of its own thread after the END leave it;
 * - DOUBLE_END ends (sp_end called again) never close a span that has an
 *   unflagged END, whether they come before or after it; a span whose only
 *   END is a DOUBLE_END closes there;
 * - the documented bounds: a DOUBLE_END fallback is applied once the log
 *   is 2 s past it, and an early END whose BEGIN comes more than 2 s later
 *   is dropped (the span is cut when the log ends: NEVER_ENDED, cut 2).
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

#define CROSS  LC_SPAN_CROSS_THREAD
#define DOUBLE LC_SPAN_DOUBLE_END
/* Offsets in microseconds: records in different frames are converted with
 * different clock pairs, a few ns apart; durations are compared to +-20 us. */
#define US(x) ((uint64_t)(x)*1000u)

static char g_dir[512], g_db[600];
static const uint64_t g_stack[] = {0x1000, 0x2000};

static void sample(synth *s, uint32_t tid, uint64_t off)
{
	synth_sample(s, tid, off, g_stack, 2);
}

/* Frame 1: what other threads wrote before the owners' BEGINs. */
static void write_frame_early(synth *s)
{
	synth_attr_int(s, 31, 500, "size", 7);
	synth_span_end_flags(s, 31, US(5000), 500, CROSS);
	synth_span_begin(s, 32, US(1000), 600, 0, "d1");
	synth_span_begin(s, 32, US(20000), 602, 0, "d3");
	synth_span_end_flags(s, 33, US(31000), 603, CROSS | DOUBLE);
	lc_log_flush();
}

/* Frame 2: the owner of 500; a DOUBLE_END for the open span 600. */
static void write_frame_owner(synth *s)
{
	synth_span_begin(s, 30, US(1000), 500, 0, "handoff");
	synth_span_begin(s, 30, US(2000), 501, 500, "inner");
	synth_span_end(s, 30, US(3000), 501);
	static const uint64_t offs[] = {500, 1500, 2500, 4900, 5100, 6000};
	for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++)
		sample(s, 30, US(offs[i]));
	synth_span_end_flags(s, 33, US(3000), 600, CROSS | DOUBLE);
	lc_log_flush();
}

/* Frame 3: the unflagged END of 600, DOUBLE_ENDs after a real END, a span
 * whose only END is DOUBLE_END, an END whose span never began. */
static void write_frame_late(synth *s)
{
	synth_span_end(s, 32, US(2000), 600);
	sample(s, 32, US(1500));
	sample(s, 32, US(2500));
	synth_span_begin(s, 32, US(10000), 601, 0, "d2");
	synth_span_end(s, 32, US(11000), 601);
	sample(s, 32, US(11500));
	synth_span_end_flags(s, 32, US(21000), 602, DOUBLE);
	sample(s, 32, US(20500));
	sample(s, 32, US(21500));
	synth_span_begin(s, 32, US(30000), 603, 0, "d4");
	synth_span_end(s, 32, US(30500), 603);
	sample(s, 32, US(30700));
	lc_log_flush(); /* a drain writes 33's ring before 32's: separate them */
	synth_span_end_flags(s, 33, US(12000), 601, CROSS | DOUBLE);
	synth_span_end_flags(s, 31, US(7000), 999, CROSS);
	lc_log_flush();
}

/* Frame 4 and on: the 2 s bounds, with over 4096 records 3 s later so
 * that merge settles in the middle of the log. */
static void write_frames_bounds(synth *s)
{
	synth_span_begin(s, 32, US(40000), 604, 0, "d5");
	lc_log_flush();
	synth_span_end_flags(s, 33, US(41000), 604, CROSS | DOUBLE);
	sample(s, 32, US(40500));
	sample(s, 32, US(41500));
	synth_span_end_flags(s, 31, US(50000), 700, CROSS);
	lc_log_flush();
	for (uint64_t i = 0; i < 5000; i++)
		sample(s, 34, 3000000000ull + i * 1000);
	lc_log_flush();
	synth_span_end(s, 32, US(40800), 604); /* unflagged, but 3 s late */
	synth_span_begin(s, 30, US(45000), 700, 0, "late-begin");
}

static int setup(void **state)
{
	synth s;
	tl_tmpdir(g_dir, sizeof g_dir, "ends");
	*state = g_dir;
	if (synth_open(&s, g_dir, "ends", 5151, 1))
		return -1;
	synth_sampler(&s, 1000);
	synth_thread(&s, 31, "ender"); /* rings in this order: enders first */
	synth_thread(&s, 33, "dbl-ender");
	synth_thread(&s, 30, "owner");
	synth_thread(&s, 32, "dbl");
	write_frame_early(&s);
	write_frame_owner(&s);
	write_frame_late(&s);
	write_frames_bounds(&s);
	synth_close(&s);
	snprintf(g_db, sizeof g_db, "%s/ends.db", g_dir);
	return mtest_merge("-q", g_db, g_dir);
}

static int64_t span_int(sqlite3 *db, const char *col, int id)
{
	return tl_sql_int(db, "SELECT %s FROM spans WHERE span_id = rid(%d)", col, id);
}

/* dur_ns of a span is want_us, to +-20 us. */
static void assert_dur(sqlite3 *db, int id, int64_t want_us)
{
	int64_t d = span_int(db, "dur_ns", id);
	print_message("span %d: dur_ns %lld\n", id, (long long)d);
	assert_true(d > (int64_t)US(want_us) - 20000 && d < (int64_t)US(want_us) + 20000);
}

/* span_id of the samples of one thread, in time order ("-" for NULL). */
static void assert_attribution(sqlite3 *db, int tid, int64_t lo_off, const char *want)
{
	char got[256];
	tl_sql_column(
	    db, got, sizeof got,
	    "SELECT coalesce(rec(span_id), '-') FROM samples WHERE tid = %d AND ts_ns <"
	    " (SELECT start_ns FROM spans WHERE span_id = rid(500)) + %lld ORDER BY ts_ns",
	    tid, (long long)lo_off);
	assert_string_equal(got, want);
}

static void test_end_before_begin(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	assert_dur(db, 500, 4000);
	assert_int_equal(span_int(db, "dur_ns = end_ns - start_ns", 500), 1);
	assert_int_equal(span_int(db, "tid", 500), 30);
	assert_int_equal(span_int(db, "end_tid", 500), 31);
	assert_int_equal(span_int(db, "flags", 500), CROSS);
	assert_dur(db, 501, 1000);
	assert_int_equal(span_int(db, "depth", 501), 1);
	/* Samples of the owner thread leave the span at its END (4900 us in,
	 * 5100 out), although the END came first in the file. */
	assert_attribution(db, 30, 1000000000, "- 500 501 500 - -");
	assert_int_equal(
	    tl_sql_int(db, "SELECT count(*) FROM sample_spans WHERE span_id = rid(500)"), 3);
	sqlite3_close(db);
}

static void test_attr_before_begin(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	assert_int_equal(tl_sql_int(db, "SELECT value FROM span_attrs WHERE span_id = rid(500) AND"
	                                " key = 'size'"),
	                 7);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM sample_attrs WHERE span_id = rid(501)"
	                                " AND key = 'size' AND value = 7"),
	                 1);
	sqlite3_close(db);
}

static void test_double_end(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	/* DOUBLE_END first (while open), unflagged END later: the latter. */
	assert_dur(db, 600, 1000);
	assert_int_equal(span_int(db, "end_tid", 600), 32);
	assert_int_equal(span_int(db, "flags & 0x120", 600), 0);
	/* DOUBLE_END after the END: ignored. */
	assert_dur(db, 601, 1000);
	assert_int_equal(span_int(db, "flags", 601), 0);
	/* The only END is a DOUBLE_END: the span closes there, flagged. */
	assert_dur(db, 602, 1000);
	assert_int_equal(span_int(db, "flags", 602), DOUBLE);
	/* DOUBLE_END before the BEGIN: ignored. */
	assert_dur(db, 603, 500);
	assert_int_equal(span_int(db, "flags", 603), 0);
	/* An END without a BEGIN makes no span. */
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans WHERE span_id = rid(999)"), 0);
	assert_attribution(db, 32, 1000000000, "600 - - 602 - - 604 -");
	sqlite3_close(db);
}

static void test_bounds(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_db);
	/* Fallback applied 2 s later; the unflagged END 3 s late is too late. */
	assert_dur(db, 604, 1000);
	assert_int_equal(span_int(db, "flags", 604), CROSS | DOUBLE);
	/* An early END is kept for 2 s of log time only. */
	assert_int_equal(span_int(db, "cut = 2 AND end_tid IS NULL AND (flags & 0x100) <> 0", 700),
	                 1);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples WHERE tid = 34"), 5000);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_end_before_begin),
	    cmocka_unit_test(test_attr_before_begin),
	    cmocka_unit_test(test_double_end),
	    cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
