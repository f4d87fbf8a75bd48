/*
 * merge_record.c - `spanprof record`'s run hygiene and loss report:
 * - rec_loss_tally on synthetic logs with LOST records (cumulative counts:
 *   the last per thread and kind counts, logs in sub-directories too), on
 *   logs with nothing lost (no line), and on a log with a damaged frame;
 * - end to end: a used -o directory is refused, --force removes only the
 *   spanprof logs, default directories made within one second differ, a
 *   traced program that loses nothing gets no loss line, and a directory
 *   that ends up holding a log with losses gets the line.
 *
 * Threading: single-threaded test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtest.h"
#include "rec_logs.h"
#include "synth.h"

/* Counts n losses of one kind on a synthetic thread's ring. */
static void lose(synth *s, uint32_t tid, int kind, int n)
{
	for (int i = 0; i < n; i++)
		lc_ring_count_lost(synth_thread(s, tid, "t"), kind);
}

static void spans(synth *s, uint32_t tid, uint64_t first_id, int n)
{
	for (int i = 0; i < n; i++) {
		synth_span_begin(s, tid, 1000u * (uint64_t)i, first_id + (uint64_t)i, 0, "work");
		synth_span_end(s, tid, 1000u * (uint64_t)i + 500, first_id + (uint64_t)i);
	}
}

/* Log 1 (pid 1000): thread 11 loses 5 events, then 3 more after a flush
 * (LOST says 5, then 8), and 2 samples; thread 12 loses 1 event. Log 2
 * (pid 1001, in a sub-directory): thread 21 loses 4 unwinds. 10 spans. */
static void write_lossy_logs(const char *dir)
{
	char sub[600];
	synth s;
	assert_int_equal(synth_open(&s, dir, "lossy", 1000, 1), 0);
	spans(&s, 11, 1, 10);
	lose(&s, 11, LC_LOST_EVENTS, 5);
	lc_log_flush();
	lose(&s, 11, LC_LOST_EVENTS, 3);
	lose(&s, 11, LC_LOST_SAMPLES, 2);
	lose(&s, 12, LC_LOST_EVENTS, 1);
	synth_close(&s);
	snprintf(sub, sizeof sub, "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(synth_open(&s, sub, "lossy", 1001, 1000), 0);
	uint64_t pcs[2] = {0x1000, 0x2000};
	synth_sample(&s, 21, 100, pcs, 2);
	lose(&s, 21, LC_LOST_UNWIND, 4);
	synth_close(&s);
}

static void test_tally_sums_last_counts(void **state)
{
	(void)state;
	char dir[512], line[512];
	tl_tmpdir(dir, sizeof dir, "rloss");
	write_lossy_logs(dir);
	rec_loss l;
	assert_int_equal(rec_loss_tally(dir, &l), 0);
	assert_int_equal(l.logs, 2);
	assert_int_equal(l.span_events, 20);
	assert_int_equal(l.span_lost, 9);
	assert_int_equal(l.samples, 1);
	assert_int_equal(l.samples_lost, 6);
	assert_int_equal(l.threads, 3);
	assert_int_equal(l.damaged, 0);
	assert_int_equal(rec_loss_line(&l, line, sizeof line), 1);
	print_message("# %s\n", line);
	assert_non_null(strstr(line, "9 of 29 span events lost (31.0%)"));
	assert_non_null(strstr(line, "6 of 7 samples lost (85.7%)"));
	assert_non_null(strstr(line, "in 3 thread(s)"));
	assert_null(strchr(line, '\n'));
	tl_rm_rf(dir);
}

static void test_nothing_lost_no_line(void **state)
{
	(void)state;
	char dir[512], line[512];
	tl_tmpdir(dir, sizeof dir, "rnoloss");
	synth s;
	assert_int_equal(synth_open(&s, dir, "clean", 2000, 1), 0);
	spans(&s, 31, 1, 50);
	synth_close(&s);
	rec_loss l;
	assert_int_equal(rec_loss_tally(dir, &l), 0);
	assert_int_equal(l.logs, 1);
	assert_int_equal(l.span_events, 100);
	assert_int_equal(rec_loss_line(&l, line, sizeof line), 0);
	assert_string_equal(line, "");
	tl_rm_rf(dir);
}

/* DROPPED counts (SPANPROF_ON_FULL=drop) are cumulative like LOST: 7,
 * then 9 after a flush, count 9. Set as the runtime does, in the ring. */
static void test_dropped_spans_reported(void **state)
{
	(void)state;
	char dir[512], line[512];
	tl_tmpdir(dir, sizeof dir, "rdrop");
	synth s;
	assert_int_equal(synth_open(&s, dir, "dropper", 4000, 1), 0);
	spans(&s, 51, 1, 5);
	lc_ring *ring = synth_thread(&s, 51, "t");
	atomic_store(&ring->dropped[0].count, 7);
	lc_log_flush();
	atomic_store(&ring->dropped[0].count, 9);
	synth_close(&s);
	rec_loss l;
	assert_int_equal(rec_loss_tally(dir, &l), 0);
	assert_int_equal(l.spans_dropped, 9);
	assert_int_equal(l.threads, 1);
	assert_int_equal(rec_loss_line(&l, line, sizeof line), 1);
	print_message("# %s\n", line);
	assert_non_null(strstr(line, "9 whole span(s) dropped"));
	tl_rm_rf(dir);
}

static off_t file_size(const char *dir)
{
	char path[600];
	struct stat st;
	snprintf(path, sizeof path, "%s/damaged.3000.splog", dir);
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Three frames of spans; a byte in the middle of the second is flipped. */
static void test_damaged_frame_reported(void **state)
{
	(void)state;
	char dir[512], line[512], path[600];
	tl_tmpdir(dir, sizeof dir, "rdamage");
	synth s;
	assert_int_equal(synth_open(&s, dir, "damaged", 3000, 1), 0);
	spans(&s, 41, 1, 100);
	lc_log_flush();
	off_t first_end = file_size(dir);
	spans(&s, 41, 1001, 100);
	lc_log_flush();
	off_t second_end = file_size(dir);
	spans(&s, 41, 2001, 100);
	synth_close(&s);
	assert_true(first_end > 0 && second_end > first_end + 16);
	snprintf(path, sizeof path, "%s/damaged.3000.splog", dir);
	tl_flip_byte(path, (uint64_t)(first_end + (second_end - first_end) / 2), 0x5a);
	rec_loss l;
	assert_int_equal(rec_loss_tally(dir, &l), 0);
	assert_true(l.damaged >= 1);
	assert_true(l.span_events < 600);
	assert_int_equal(rec_loss_line(&l, line, sizeof line), 1);
	assert_non_null(strstr(line, "damaged range(s) skipped"));
	tl_rm_rf(dir);
}

/* How many files "find DIR FIND_ARGS" lists. */
static int find_count(const char *dir, const char *find_args)
{
	char *out = NULL;
	assert_int_equal(tl_sh(&out, "find '%s' %s | wc -l", dir, find_args), 0);
	int n = atoi(out);
	free(out);
	return n;
}

static int count_logs_in(const char *dir)
{
	return find_count(dir, "-name '*.splog'");
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void test_used_dir_refused_force_removes_logs(void **state)
{
	(void)state;
	char dir[512], *err = NULL;
	tl_tmpdir(dir, sizeof dir, "rused");
	assert_int_equal(tl_cli_run(NULL, NULL, "record -o '%s/out' -- true", dir), 0);
	assert_int_equal(count_logs_in(dir), 1);
	/* Second run into the same directory: one line, non-zero, logs kept. */
	assert_int_not_equal(tl_cli_run(NULL, &err, "record -o '%s/out' -- true", dir), 0);
	assert_int_equal(count_lines(err), 1);
	assert_non_null(strstr(err, "already holds 1 log"));
	assert_non_null(strstr(err, "--force"));
	free(err);
	assert_int_equal(count_logs_in(dir), 1);
	/* A log in a sub-directory counts too (merge reads it). */
	char notes[600];
	assert_int_equal(tl_sh(NULL,
	                       "mkdir '%s/out/sub' && cp '%s'/out/*.splog '%s/out/sub/old.splog' &&"
	                       " echo keep > '%s/out/notes.txt'",
	                       dir, dir, dir, dir),
	                 0);
	assert_int_equal(count_logs_in(dir), 2);
	/* --force: the two old logs go, the new run's one log comes, notes stay. */
	assert_int_equal(tl_cli_run(NULL, NULL, "record --force -o '%s/out' -- true", dir), 0);
	assert_int_equal(count_logs_in(dir), 1);
	snprintf(notes, sizeof notes, "%s/out/notes.txt", dir);
	assert_true(tl_exists(notes));
	/* A *.splog that spanprof did not write is never removed. */
	assert_int_equal(tl_sh(NULL, "echo not-a-log > '%s/out/sub/foreign.splog'", dir), 0);
	assert_int_not_equal(tl_cli_run(NULL, &err, "record --force -o '%s/out' -- true", dir), 0);
	assert_int_equal(count_lines(err), 1);
	assert_non_null(strstr(err, "foreign.splog is not a spanprof log"));
	free(err);
	assert_int_equal(count_logs_in(dir), 2);
	tl_rm_rf(dir);
}

static int count_default_dirs(const char *dir)
{
	return find_count(dir, "-mindepth 1 -maxdepth 1 -type d -name 'spanprof.*'");
}

/* Two runs without -o that start within one second (retried until a pair
 * does) get two directories, each with its own log. */
static void test_default_dirs_unique_within_a_second(void **state)
{
	(void)state;
	char dir[512], cwd[4096];
	tl_tmpdir(dir, sizeof dir, "rdefault");
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(dir), 0);
	int runs = 0, same_second = 0;
	for (int i = 0; i < 20 && !same_second; i++) {
		time_t t0 = time(NULL);
		assert_int_equal(tl_cli_run(NULL, NULL, "record -- true"), 0);
		assert_int_equal(tl_cli_run(NULL, NULL, "record -- true"), 0);
		same_second = time(NULL) == t0;
		runs += 2;
	}
	assert_int_equal(chdir(cwd), 0);
	assert_true(same_second);
	assert_int_equal(count_default_dirs(dir), runs);
	assert_int_equal(count_logs_in(dir), runs);
	tl_rm_rf(dir);
}

/* A traced program (spans, samples, a fork) that loses nothing: record's
 * stderr has no loss line. */
static void test_no_loss_no_line(void **state)
{
	(void)state;
	char dir[512], *err = NULL;
	tl_tmpdir(dir, sizeof dir, "rclean");
	assert_int_equal(tl_cli_run(NULL, &err,
	                            "record -o '%s/out' -- '%s/tests/merge/merge_e2e_prog'", dir,
	                            getenv("SPANPROF_BUILD_DIR")),
	                 0);
	print_message("# %s", err);
	assert_non_null(strstr(err, "spanprof: logs in"));
	assert_null(strstr(err, "lost"));
	assert_null(strstr(err, "damaged"));
	free(err);
	tl_rm_rf(dir);
}

/* The wiring: the program itself drops a log with losses into the output
 * directory, and record's one line reports them at exit. */
static void test_record_prints_loss_line(void **state)
{
	(void)state;
	char dir[512], *err = NULL;
	tl_tmpdir(dir, sizeof dir, "rlossy");
	char lossy[600];
	snprintf(lossy, sizeof lossy, "%s/lossy", dir);
	assert_int_equal(mkdir(lossy, 0700), 0);
	write_lossy_logs(lossy);
	assert_int_equal(
	    tl_cli_run(NULL, &err,
	               "record -o '%s/out' -- sh -c 'cp -r \"%s/sub\" \"%s\"/lossy.*.splog"
	               " \"%s/out/\"'",
	               dir, lossy, lossy, dir),
	    0);
	print_message("# %s", err);
	const char *line = strstr(err, "spanprof: 9 of ");
	assert_non_null(line);
	assert_non_null(strstr(line, "6 of "));
	assert_non_null(strstr(line, "samples lost"));
	free(err);
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tally_sums_last_counts),
	    cmocka_unit_test(test_nothing_lost_no_line),
	    cmocka_unit_test(test_dropped_spans_reported),
	    cmocka_unit_test(test_damaged_frame_reported),
	    cmocka_unit_test(test_used_dir_refused_force_removes_logs),
	    cmocka_unit_test(test_default_dirs_unique_within_a_second),
	    cmocka_unit_test(test_no_loss_no_line),
	    cmocka_unit_test(test_record_prints_loss_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
