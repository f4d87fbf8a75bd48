/*
 * merge_rotate.c - continuous recording: SPANPROF_ROTATE cuts a
 * process's log into self-contained segments, SPANPROF_KEEP bounds them,
 * merge joins spans across segments, --since/--until select a window and
 * --append adds segments to a living database (docs/log-format.md,
 * "Rotation"; docs/schema.md, spans.cut = 3).
 *
 * One rotated and one unrotated run of the same deterministic program
 * (rotate_prog.c: every sample inside a span) are made once, in the group
 * setup; each test merges them its own way. Counts are compared exactly
 * where the data is the same (whole merge vs. append, window vs. SQL on
 * the whole), within sampling noise between the two runs.
 */
#include <fcntl.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "mtest.h"

#define ITERATIONS 250 /* x 2 ms of CPU per thread */
#define THREADS    2

static char dir[512], prog[512], rot[600], plain[600];

static void run_prog(const char *out, const char *rotate, const char *keep, const char *args)
{
	if (rotate)
		setenv("SPANPROF_ROTATE", rotate, 1);
	if (keep)
		setenv("SPANPROF_KEEP", keep, 1);
	char *err = NULL;
	int rc = tl_cli_run(NULL, &err, "record -o %s -- %s %s", out, prog, args);
	unsetenv("SPANPROF_ROTATE");
	unsetenv("SPANPROF_KEEP");
	if (rc != 0 && !strstr(args, "kill"))
		fprintf(stderr, "record failed: %s\n", err ? err : "");
	free(err);
}

static int group_setup(void **state)
{
	tl_tmpdir(dir, sizeof dir, "rotate");
	*state = dir;
	snprintf(prog, sizeof prog, "%s/tests/merge/merge_rotate_prog",
	         getenv("SPANPROF_BUILD_DIR"));
	snprintf(rot, sizeof rot, "%s/rot", dir);
	snprintf(plain, sizeof plain, "%s/plain", dir);
	char args[64];
	snprintf(args, sizeof args, "%d %d", ITERATIONS, THREADS);
	run_prog(rot, "100ms", NULL, args);
	run_prog(plain, NULL, NULL, args);
	return 0;
}

/* Sorted segment paths of a run directory (globfree after). */
static size_t segments(const char *run, glob_t *g)
{
	char pattern[800];
	snprintf(pattern, sizeof pattern, "%s/*.s[0-9][0-9][0-9][0-9][0-9][0-9].splog", run);
	memset(g, 0, sizeof *g);
	return glob(pattern, 0, NULL, g) == 0 ? g->gl_pathc : 0;
}

static sqlite3 *merge_to(const char *name, const char *flags, const char *inputs)
{
	char db[700];
	snprintf(db, sizeof db, "%s/%s.db", dir, name);
	char *err = NULL;
	int rc = tl_cli_run(NULL, &err, "merge -q --force %s -o %s %s", flags, db, inputs);
	if (rc != 0)
		fprintf(stderr, "merge %s failed: %s\n", inputs, err ? err : "");
	free(err);
	assert_int_equal(rc, 0);
	return mtest_db(db);
}

static void test_segments_are_named_and_start_whole(void **state)
{
	(void)state;
	glob_t g;
	size_t n = segments(rot, &g);
	assert_true(n >= 3);
	assert_non_null(strstr(g.gl_pathv[0], ".s000000.splog"));
	/* the second segment starts with what it needs: PROCESS, its SEGMENT
	 * mark, strings, the sampler, the open "session" spans (CONTINUED) */
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "dump %s", g.gl_pathv[1]), 0);
	assert_true(strncmp(out, "PROCESS", 7) == 0);
	assert_non_null(strstr(out, "SEGMENT"));
	assert_non_null(strstr(out, "start index=1"));
	assert_non_null(strstr(out, "end (continues in index+1) index=1"));
	assert_non_null(strstr(out, "SAMPLER"));
	char *cont = strstr(out, "name=\"session\"");
	assert_non_null(cont);
	assert_non_null(strstr(cont, "flags=0x40"));
	free(out);
	/* the unrotated run keeps its one file */
	glob_t p;
	assert_int_equal(segments(plain, &p), 0);
	globfree(&p);
	globfree(&g);
}

/* Each segment alone: its samples inside spans, its spans cut only where
 * the segment ended (cut 3), the continued ones at their real start. */
static void test_each_segment_merges_alone(void **state)
{
	(void)state;
	glob_t g;
	size_t n = segments(rot, &g);
	sqlite3 *all = merge_to("all", "", rot);
	for (size_t i = 0; i < n; i++) {
		sqlite3 *db = merge_to("one", "", g.gl_pathv[i]);
		int64_t samples = tl_sql_int(db, "SELECT count(*) FROM samples");
		int64_t inside = tl_sql_int(db, "SELECT count(span_id) FROM samples");
		if (samples >= 20)
			assert_true(inside * 100 >= samples * 95);
		assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans WHERE cut IN (1, 2)"),
		                 0);
		if (i + 1 < n) /* a closed segment: the sessions go on */
			assert_true(tl_sql_int(db, "SELECT count(*) FROM spans WHERE cut = 3 AND"
			                           " name = 'session'") >= 1);
		if (i > 0) { /* its sessions start where they really started */
			char sql[1024];
			snprintf(sql, sizeof sql, "ATTACH '%s/all.db' AS w", dir);
			assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
			int64_t sessions =
			    tl_sql_int(db, "SELECT count(*) FROM spans WHERE name = 'session'");
			assert_true(sessions >= 1);
			assert_int_equal(tl_sql_int(db,
			                            "SELECT count(*) FROM spans s JOIN w.spans a"
			                            " USING(recorded_id) WHERE s.name = 'session'"
			                            " AND abs(s.start_ns - a.start_ns) < 1000000"),
			                 sessions);
			assert_int_equal(tl_sql_int(db,
			                            "SELECT count(*) FROM span_attrs a JOIN spans s"
			                            " USING(span_id) WHERE s.name = 'session'"),
			                 2 * sessions);
		}
		sqlite3_close(db);
	}
	sqlite3_close(all);
	globfree(&g);
}

/* All segments together: the spans of the unrotated run, each once, with
 * its real end; the samples within noise. */
static void test_all_segments_equal_unrotated(void **state)
{
	(void)state;
	sqlite3 *a = merge_to("all", "", rot), *p = merge_to("plain", "", plain);
	const char *names = "SELECT group_concat(name || ':' || n) FROM (SELECT name, count(*) n"
	                    " FROM spans GROUP BY name ORDER BY name)";
	char *sa = tl_sql_text(a, "%s", names), *sp = tl_sql_text(p, "%s", names);
	assert_string_equal(sa, sp);
	free(sa);
	free(sp);
	assert_int_equal(tl_sql_int(a, "SELECT count(*) FROM spans WHERE cut <> 0"), 0);
	assert_int_equal(tl_sql_int(a, "SELECT count(*) FROM spans WHERE flags & 64"), 0);
	assert_int_equal(tl_sql_int(a, "SELECT count(*) FROM span_attrs"),
	                 tl_sql_int(p, "SELECT count(*) FROM span_attrs"));
	assert_int_equal(tl_sql_int(a, "SELECT count(*) FROM processes"), 1);
	int64_t na = tl_sql_int(a, "SELECT count(*) FROM samples");
	int64_t np = tl_sql_int(p, "SELECT count(*) FROM samples");
	assert_true(na * 100 >= np * 75 && na * 100 <= np * 125);
	const char *in_work = "SELECT 100 * count(*) / (SELECT count(*) FROM samples) FROM samples"
	                      " s JOIN spans p USING(span_id) WHERE p.name = 'work'";
	int64_t wa = tl_sql_int(a, "%s", in_work), wp = tl_sql_int(p, "%s", in_work);
	assert_true(wa - wp <= 10 && wp - wa <= 10);
	assert_true(tl_sql_int(a, "SELECT count(span_id) * 100 / count(*) FROM samples") >= 95);
	sqlite3_close(a);
	sqlite3_close(p);
}

/* --append of the second half equals one merge of the whole; appending
 * again adds nothing. */
static void test_append_halves_equal_whole(void **state)
{
	(void)state;
	glob_t g;
	size_t n = segments(rot, &g);
	char first[8192] = "", second[8192] = "", db[700];
	for (size_t i = 0; i < n; i++) {
		char *buf = i < n / 2 ? first : second;
		strncat(buf, " ", 8191 - strlen(buf));
		strncat(buf, g.gl_pathv[i], 8191 - strlen(buf));
	}
	sqlite3_close(merge_to("half", "", first));
	snprintf(db, sizeof db, "%s/half.db", dir);
	for (int round = 0; round < 2; round++) {
		char *err = NULL;
		assert_int_equal(tl_cli_run(NULL, &err, "merge --append %s %s", db, second), 0);
		if (round == 1)
			assert_non_null(strstr(err, "nothing to add"));
		free(err);
	}
	sqlite3 *h = mtest_db(db), *a = merge_to("all", "", rot);
	const char *q[] = {
	    "SELECT count(*) FROM spans",
	    "SELECT sum(dur_ns) FROM spans",
	    "SELECT count(*) FROM spans WHERE cut <> 0",
	    "SELECT count(*) FROM span_attrs",
	    "SELECT count(*) FROM samples",
	    "SELECT count(span_id) FROM samples",
	    "SELECT count(*) FROM processes",
	    "SELECT count(*) FROM logs",
	    "SELECT count(*) FROM span_ancestors",
	    "SELECT count(*) FROM samples s JOIN spans p USING(span_id) WHERE p.name = 'work'",
	    "SELECT count(*) FROM samples s JOIN stack_funcs f USING(stack_id) WHERE"
	    " f.func = 'work'",
	};
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
		assert_int_equal(tl_sql_int(h, "%s", q[i]), tl_sql_int(a, "%s", q[i]));
	/* a session cut where the first half ended kept its row and span_id */
	assert_int_equal(tl_sql_int(h, "SELECT count(*) FROM (SELECT 1 FROM spans"
	                               " GROUP BY recorded_id, pid HAVING count(*) > 1)"),
	                 0);
	sqlite3_close(h);
	sqlite3_close(a);
	globfree(&g);
}

/* --append into a database of an older merge (span_id was the recorded
 * id, no recorded_id column) is refused, and leaves it as it was. */
static void test_append_refuses_older_database(void **state)
{
	(void)state;
	glob_t g;
	size_t n = segments(rot, &g);
	assert_true(n >= 2);
	sqlite3 *db = merge_to("older", "", g.gl_pathv[0]);
	sqlite3_close(db);
	char path[700], *err = NULL;
	snprintf(path, sizeof path, "%s/older.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "ALTER TABLE spans DROP COLUMN recorded_parent_id;"
	                              "ALTER TABLE spans DROP COLUMN recorded_id;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	int64_t before = tl_sql_int(db, "SELECT count(*) FROM spans");
	sqlite3_close(db);
	assert_int_not_equal(tl_cli_run(NULL, &err, "merge --append %s %s", path, g.gl_pathv[1]),
	                     0);
	assert_non_null(strstr(err, "older merge"));
	free(err);
	db = mtest_db(path);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans"), before);
	sqlite3_close(db);
	globfree(&g);
}

static void rfc3339(uint64_t ns, char *buf, size_t len)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%09lluZ", (unsigned long long)(ns % 1000000000u));
}

/* --since/--until: exactly the samples and the spans of the window. */
static void test_window_selects_events(void **state)
{
	(void)state;
	sqlite3 *a = merge_to("all", "", rot);
	int64_t t0 = tl_sql_int(a, "SELECT min(ts_ns) FROM samples");
	int64_t t1 = tl_sql_int(a, "SELECT max(ts_ns) FROM samples");
	int64_t since = t0 + (t1 - t0) / 3, until = t0 + 2 * (t1 - t0) / 3;
	char sql[512], flags[256], s1[64], s2[64];
	rfc3339((uint64_t)since, s1, sizeof s1);
	rfc3339((uint64_t)until, s2, sizeof s2);
	for (int form = 0; form < 2; form++) {
		if (form == 0)
			snprintf(flags, sizeof flags, "--since %lld --until %lld", (long long)since,
			         (long long)until);
		else
			snprintf(flags, sizeof flags, "--since %s --until %s", s1, s2);
		sqlite3 *w = merge_to("window", flags, rot);
		snprintf(sql, sizeof sql,
		         "SELECT count(*) FROM samples WHERE ts_ns BETWEEN %lld AND %lld",
		         (long long)since, (long long)until);
		assert_int_equal(tl_sql_int(w, "SELECT count(*) FROM samples"),
		                 tl_sql_int(a, "%s", sql));
		assert_true(tl_sql_int(w, "SELECT count(*) FROM samples") > 0);
		snprintf(sql, sizeof sql,
		         "SELECT count(*) FROM spans WHERE end_ns >= %lld AND start_ns <= %lld",
		         (long long)since, (long long)until);
		assert_int_equal(tl_sql_int(w, "SELECT count(*) FROM spans"),
		                 tl_sql_int(a, "%s", sql));
		/* spans going on past the window end where its last segment ended */
		assert_int_equal(tl_sql_int(w, "SELECT count(*) FROM spans WHERE cut IN (1, 2)"),
		                 0);
		sqlite3_close(w);
	}
	sqlite3_close(a);
	char *err = NULL;
	assert_int_equal(tl_cli_run(NULL, &err, "merge -o %s/x.db --since yesterday %s", dir, rot),
	                 2);
	assert_non_null(strstr(err, "bad --since"));
	free(err);
}

/* A log whose mtime is a little before its last event (the kernel stamps
 * writes with a coarse clock) still gives that event to a --since window
 * that starts between the two. */
static void test_window_keeps_log_stamped_early(void **state)
{
	(void)state;
	glob_t g;
	assert_true(segments(rot, &g) >= 1);
	char copy[700];
	snprintf(copy, sizeof copy, "%s/early.s000000.splog", dir);
	size_t len = 0;
	char *bytes = tl_read_file(g.gl_pathv[0], &len);
	assert_non_null(bytes);
	tl_write_file(copy, bytes, len);
	free(bytes);
	globfree(&g);
	sqlite3 *a = merge_to("early_all", "", copy);
	int64_t last = tl_sql_int(a, "SELECT max(ts_ns) FROM samples");
	sqlite3_close(a);
	assert_true(last > 10000000);
	int64_t stamp = last - 5000000; /* 5 ms before the last sample */
	struct timespec times[2] = {{stamp / 1000000000, stamp % 1000000000},
	                            {stamp / 1000000000, stamp % 1000000000}};
	assert_int_equal(utimensat(AT_FDCWD, copy, times, 0), 0);
	char flags[64];
	snprintf(flags, sizeof flags, "--since %lld", (long long)(last - 1000000));
	sqlite3 *w = merge_to("early_window", flags, copy);
	assert_int_equal(tl_sql_int(w, "SELECT max(ts_ns) FROM samples"), last);
	sqlite3_close(w);
	remove(copy);
}

/* A segment cut just after --until is still read: it can hold events
 * recorded before its SEGMENT start (during the drain before the cut), and
 * spans continued from the segment before, which overlap the window. */
static void test_window_reads_segment_cut_after_until(void **state)
{
	(void)state;
	glob_t g;
	assert_true(segments(rot, &g) >= 2);
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "dump %s", g.gl_pathv[1]), 0);
	const char *p = strstr(out, "SEGMENT ts=");
	assert_non_null(p);
	long long until = strtoll(p + strlen("SEGMENT ts="), NULL, 10) - 1000000; /* 1 ms */
	free(out);
	sqlite3 *a = merge_to("cut_all", "", g.gl_pathv[1]);
	int64_t spans = tl_sql_int(a, "SELECT count(*) FROM spans WHERE start_ns <= %lld", until);
	int64_t samples = tl_sql_int(a, "SELECT count(*) FROM samples WHERE ts_ns <= %lld", until);
	sqlite3_close(a);
	assert_true(spans > 0); /* the continued ones */
	char flags[64];
	snprintf(flags, sizeof flags, "--until %lld", until);
	sqlite3 *w = merge_to("cut_window", flags, g.gl_pathv[1]);
	assert_int_equal(tl_sql_int(w, "SELECT count(*) FROM spans"), spans);
	assert_int_equal(tl_sql_int(w, "SELECT count(*) FROM samples"), samples);
	sqlite3_close(w);
	globfree(&g);
}

/* SPANPROF_KEEP: the closed segments stay within the bound, the oldest
 * went, and what is left still merges segment by segment. */
static void test_retention_keeps_bound(void **state)
{
	(void)state;
	char run[700], args[64];
	snprintf(run, sizeof run, "%s/keep", dir);
	snprintf(args, sizeof args, "%d %d", 200, THREADS);
	run_prog(run, "100ms", "12K", args);
	glob_t g;
	size_t n = segments(run, &g);
	assert_true(n >= 1);
	assert_null(strstr(g.gl_pathv[0], ".s000000.splog")); /* the oldest went */
	uint64_t closed = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		struct stat sb;
		assert_int_equal(stat(g.gl_pathv[i], &sb), 0);
		closed += (uint64_t)sb.st_size;
	}
	assert_true(closed <= 12 * 1024);
	sqlite3 *db = merge_to("keep", "", g.gl_pathv[n - 1]);
	assert_true(tl_sql_int(db, "SELECT count(*) FROM spans WHERE name = 'session'") >= 1);
	sqlite3_close(db);
	globfree(&g);
}

/* SIGKILL mid-run: every closed segment is whole; the open one reads up
 * to where the writer got. */
static void test_crash_leaves_closed_segments_whole(void **state)
{
	(void)state;
	char run[700], args[64];
	snprintf(run, sizeof run, "%s/crash", dir);
	snprintf(args, sizeof args, "%d %d kill", 200, THREADS);
	run_prog(run, "100ms", NULL, args);
	glob_t g;
	size_t n = segments(run, &g);
	assert_true(n >= 2);
	for (size_t i = 0; i + 1 < n; i++) {
		sqlite3 *db = merge_to("crash", "", g.gl_pathv[i]);
		assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM damage"), 0);
		assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans WHERE cut IN (1, 2)"),
		                 0);
		assert_true(tl_sql_int(db, "SELECT count(*) FROM spans WHERE cut = 3") >= 1);
		sqlite3_close(db);
	}
	sqlite3 *db = merge_to("crash", "", run); /* all: the crash cuts only the last */
	assert_true(tl_sql_int(db, "SELECT count(*) FROM spans WHERE name = 'request'") > 100);
	sqlite3_close(db);
	globfree(&g);
}

/* A bad SPANPROF_ROTATE or SPANPROF_KEEP: one line, no log, program runs. */
static void test_bad_values_refused(void **state)
{
	(void)state;
	const char *cases[][2] = {
	    {"10", NULL}, {"10x", NULL}, {"1ms", NULL}, {NULL, "1G"}, {"10s", "lots"}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char run[700];
		snprintf(run, sizeof run, "%s/bad%zu", dir, i);
		assert_int_equal(tl_sh(NULL, "%s%s %s%s SPANPROF_OUT=%s %s 1 1 2>%s.err",
		                       cases[i][0] ? "SPANPROF_ROTATE=" : "",
		                       cases[i][0] ? cases[i][0] : "",
		                       cases[i][1] ? "SPANPROF_KEEP=" : "",
		                       cases[i][1] ? cases[i][1] : "", run, prog, run),
		                 0);
		char errpath[720];
		snprintf(errpath, sizeof errpath, "%s.err", run);
		char *err = tl_read_file(errpath, NULL);
		assert_non_null(err);
		assert_non_null(strstr(err, cases[i][0] && i < 3 ? "invalid SPANPROF_ROTATE"
		                                                 : "invalid SPANPROF_KEEP"));
		assert_null(strchr(strchr(err, '\n') + 1, '\n')); /* one line */
		assert_false(tl_exists(run));
		free(err);
	}
}

/* record --rotate/--keep/--duration: the flags reach the program, and
 * --duration stops it (SIGINT) with record exiting 0. */
static void test_record_flags(void **state)
{
	(void)state;
	char run[700], *err = NULL;
	snprintf(run, sizeof run, "%s/rec", dir);
	int rc =
	    tl_cli_run(NULL, &err, "record -o %s --rotate 100ms --keep 1G --duration 1s -- %s %d 1",
	               run, prog, 1000000);
	assert_int_equal(rc, 0);
	free(err);
	glob_t g;
	assert_true(segments(run, &g) >= 3);
	globfree(&g);
	sqlite3 *db = merge_to("rec", "", run);
	assert_true(tl_sql_int(db, "SELECT count(*) FROM spans WHERE name = 'request'") > 10);
	sqlite3_close(db);
	assert_int_equal(tl_cli_run(NULL, NULL, "record -o %s/r2 --keep 1G -- %s 1 1", dir, prog),
	                 2);
	assert_int_equal(tl_cli_run(NULL, NULL, "record -o %s/r2 --rotate 5 -- %s 1 1", dir, prog),
	                 2);
	assert_int_equal(
	    tl_cli_run(NULL, NULL, "record -o %s/r2 --duration x -- %s 1 1", dir, prog), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_segments_are_named_and_start_whole),
	    cmocka_unit_test(test_each_segment_merges_alone),
	    cmocka_unit_test(test_all_segments_equal_unrotated),
	    cmocka_unit_test(test_append_halves_equal_whole),
	    cmocka_unit_test(test_append_refuses_older_database),
	    cmocka_unit_test(test_window_selects_events),
	    cmocka_unit_test(test_window_keeps_log_stamped_early),
	    cmocka_unit_test(test_window_reads_segment_cut_after_until),
	    cmocka_unit_test(test_retention_keeps_bound),
	    cmocka_unit_test(test_crash_leaves_closed_segments_whole),
	    cmocka_unit_test(test_bad_values_refused),
	    cmocka_unit_test(test_record_flags),
	};
	return cmocka_run_group_tests(tests, group_setup, tl_teardown_rm_rf);
}
