/*
 * export_firefox.c - the Firefox Profiler export, checked by the
 * profiler's own command-line interface (@firefox-devtools/profiler-cli,
 * run with the Node 24 from scripts/install-readers.sh): the profile loads,
 * both threads show, the hot function tops the self-time list and sits in
 * the top-down tree, the markers list the spans, a marker shows its
 * attributes, and zooming to a span's marker selects exactly the samples
 * the database attributes to that span and its descendants.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "xt.h"
#include "tl.h"

struct fxt {
	struct xt t;
	char cli[2048]; /* node + profiler-cli.js */
	char session[64];
	char profile[512];
	char loaded[64]; /* export options of the loaded profile, "" = none yet */
	int has_session;
};

static int setup(void **state)
{
	struct fxt *f = calloc(1, sizeof *f);
	xt_setup(&f->t);
	snprintf(f->session, sizeof f->session, "spanprof-test-%d", (int)getpid());
	snprintf(f->profile, sizeof f->profile, "%s/profile.json", f->t.dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fxt *f = *state;
	if (f->has_session)
		tl_sh_all(NULL, "%s stop %s", f->cli, f->session);
	xt_teardown(&f->t);
	free(f);
	return 0;
}

/* Runs a profiler-cli command in the session; returns its output. */
static char *pcli(struct fxt *f, const char *args)
{
	return xt_pcli(f->cli, f->session, args);
}

/* Loads the export made with these options, unless it is already loaded:
 * tests share one profiler-cli session (loading costs seconds). */
static void load(struct fxt *f, const char *extra)
{
	char *out = NULL;
	if (f->has_session && !strcmp(f->loaded, extra))
		return;
	/* in the test, not the group setup: a missing reader fails or skips it */
	xt_pcli_prefix(f->cli, sizeof f->cli, xt_readers(), f->t.dir);
	if (f->has_session)
		tl_sh_all(NULL, "%s stop %s", f->cli, f->session);
	f->has_session = 0;
	if (tl_sh_all(&out, "%s export %s -f firefox -o %s %s", tl_cli(), f->t.db, f->profile,
	              extra) != 0)
		fail_msg("export: %s", out);
	free(out);
	xt_pload(f->cli, f->session, f->profile);
	f->has_session = 1;
	snprintf(f->loaded, sizeof f->loaded, "%s", extra);
}

static void expect(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("expected '%s' in:\n%s", needle, text);
}

static void test_loads_threads_and_hot_function(void **state)
{
	struct fxt *f = *state;
	load(f, "");
	char *out = pcli(f, "thread list");
	expect(out, "main");
	expect(out, "worker");
	expect(out, "demo");
	expect(out, "child"); /* the second process, with its own track */
	free(out);
	free(pcli(f, "thread select t-0"));
	out = pcli(f, "thread samples-top-down");
	expect(out, "main");
	expect(out, "work");
	expect(out, "hot_loop");
	free(out);
	/* hot_loop has the most self time: first in topFunctionsBySelf */
	out = pcli(f, "thread samples --json");
	const char *by_self = strstr(out, "\"topFunctionsBySelf\"");
	assert_non_null(by_self);
	const char *name = strstr(by_self, "\"name\":");
	assert_non_null(name);
	char first[128] = ""; /* "module!function" */
	assert_int_equal(sscanf(name, "\"name\": \"%127[^\"]", first), 1);
	assert_string_equal(first, "demo!hot_loop");
	free(out);
}

/* Times count from the first event (meta.startTime is its wall time), so
 * the root range starts at exactly 0: the profiler adds that start to
 * every relative time, and a fraction there put zoomed ranges an ulp off
 * their markers (profiler-cli "assert failed" on `thread samples` after
 * `zoom push` of a marker). */
static void test_times_count_from_first_event(void **state)
{
	struct fxt *f = *state;
	load(f, "");
	char *out = NULL;
	int rc = tl_sh_all(
	    &out,
	    "/usr/bin/python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); "
	    "m=p[\"meta\"]; t=[x for th in p[\"threads\"] for x in "
	    "th[\"samples\"][\"time\"]+th[\"markers\"][\"startTime\"]]; "
	    "print(repr(m[\"profilingStartTime\"]), repr(min(t)), repr(m[\"startTime\"]))' %s",
	    f->profile);
	if (rc != 0)
		fail_msg("%s", out);
	double start = -1, first = -1, wall_ms = 0;
	assert_int_equal(sscanf(out, "%lf %lf %lf", &start, &first, &wall_ms), 3);
	assert_true(start == 0.0);
	assert_true(first == 0.0);
	int64_t min_ns = tl_db_int(f->t.db, "%s",
	                           "SELECT min(t) FROM (SELECT min(ts_ns) AS t FROM samples"
	                           " UNION ALL SELECT min(start_ns) FROM spans)");
	assert_true(fabs(wall_ms - (double)min_ns / 1e6) < 0.001);
	free(out);
}

static void test_markers_show_spans_and_attributes(void **state)
{
	struct fxt *f = *state;
	load(f, "");
	free(pcli(f, "thread select t-0"));
	char *out = pcli(f, "thread markers --list");
	expect(out, "3 markers");
	expect(out, "request #1");
	expect(out, "parse #2");
	expect(out, "compute #3");
	/* the handle of request #1 */
	const char *line = strstr(out, "request #1");
	while (line > out && line[-1] != '\n')
		line--;
	char handle[32] = "";
	assert_int_equal(sscanf(line, " %31s", handle), 1);
	free(out);
	char args[64];
	snprintf(args, sizeof args, "marker info %s", handle);
	out = pcli(f, args);
	expect(out, "Span id: 1");
	expect(out, "Trace id: trace-a");
	expect(out, "bytes: 4,096");
	expect(out, "path: /tmp/a \"quoted\".txt");
	expect(out, "ratio: 0.5");
	free(out);
}

/* The marker handle of the span with this label, in the selected thread. */
static void marker_handle(struct fxt *f, const char *label, char *handle, size_t n)
{
	char *out = pcli(f, "thread markers --list");
	const char *line = strstr(out, label);
	if (!line)
		fail_msg("no marker '%s' in:\n%s", label, out);
	while (line > out && line[-1] != '\n')
		line--;
	char fmt[16];
	snprintf(fmt, sizeof fmt, " %%%zus", n - 1);
	assert_int_equal(sscanf(line, fmt, handle), 1);
	free(out);
}

static int64_t zoomed_samples(struct fxt *f, const char *label)
{
	char handle[32], args[64];
	marker_handle(f, label, handle, sizeof handle);
	snprintf(args, sizeof args, "zoom push %s", handle);
	free(pcli(f, args));
	char *out = pcli(f, "thread samples --json");
	const char *p = strstr(out, "\"totalSamples\":");
	assert_non_null(p);
	int64_t n = strtoll(p + 15, NULL, 10);
	free(out);
	free(pcli(f, "zoom pop"));
	return n;
}

static void test_samples_during_span_match_attribution(void **state)
{
	struct fxt *f = *state;
	load(f, "");
	free(pcli(f, "thread select t-0"));
	assert_int_equal(
	    zoomed_samples(f, "parse #2"),
	    tl_db_int(f->t.db, "%s", "SELECT count(*) FROM samples WHERE span_id = 2"));
	assert_int_equal(
	    zoomed_samples(f, "compute #3"),
	    tl_db_int(f->t.db, "%s", "SELECT count(*) FROM samples WHERE span_id = 3"));
	assert_int_equal(zoomed_samples(f, "request #1"),
	                 tl_db_int(f->t.db, "%s",
	                           "SELECT count(*) FROM samples WHERE span_id IN "
	                           "(1, 2, 3)"));
	free(pcli(f, "thread select t-1"));
	assert_int_equal(
	    zoomed_samples(f, "compute #6"),
	    tl_db_int(f->t.db, "%s", "SELECT count(*) FROM samples WHERE span_id = 6"));
	free(pcli(f, "thread select t-2")); /* pid 200 */
	assert_int_equal(
	    zoomed_samples(f, "subtask #7"),
	    tl_db_int(f->t.db, "%s", "SELECT count(*) FROM samples WHERE span_id = 7"));
}

static void test_span_filter_keeps_only_that_span(void **state)
{
	struct fxt *f = *state;
	load(f, "--span compute");
	free(pcli(f, "thread select t-0"));
	char *out = pcli(f, "thread markers --list");
	expect(out, "1 markers");
	expect(out, "compute #3");
	free(out);
	out = pcli(f, "thread samples --json");
	const char *p = strstr(out, "\"totalSamples\":");
	assert_non_null(p);
	assert_int_equal(
	    strtoll(p + 15, NULL, 10),
	    tl_db_int(f->t.db, "%s", "SELECT count(*) FROM samples WHERE span_id = 3"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loads_threads_and_hot_function),
	    cmocka_unit_test(test_times_count_from_first_event),
	    cmocka_unit_test(test_markers_show_spans_and_attributes),
	    cmocka_unit_test(test_samples_during_span_match_attribution),
	    cmocka_unit_test(test_span_filter_keeps_only_that_span),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
