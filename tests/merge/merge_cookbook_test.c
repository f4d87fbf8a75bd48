/*
 * merge_cookbook_test.c - runs every ```sql block of docs/cookbook.md
 * against a merged database and fails if one errors, or returns no row
 * unless its section says "May be empty".
 *
 * The database is built from synthetic logs shaped like the quickstart
 * example: "request" spans carrying "kind" and "bytes", a child "parse"
 * span whose hot function depends on kind, samples outside spans, and a
 * forked child process whose root span hangs under the parent's span. The
 * stacks are real addresses of functions of this test binary, so they are
 * symbolized by merge like any program's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtest.h"
#include "synth.h"

static char g_dir[512], g_db[600];

__attribute__((noinline)) int cb_parse_json(int x)
{
	return x * 3;
}
__attribute__((noinline)) int cb_parse_csv(int x)
{
	return x * 5;
}
__attribute__((noinline)) int cb_handle(int x)
{
	return cb_parse_json(x) + cb_parse_csv(x);
}
__attribute__((noinline)) int cb_main_loop(int x)
{
	return cb_handle(x) + 1;
}

static uint64_t pc(int (*f)(int))
{
	return (uint64_t)(uintptr_t)f + 1;
}

static void map_exe(synth *s)
{
	char exe[4096], line[8192];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	assert_true(n > 0);
	exe[n] = 0;
	FILE *maps = fopen("/proc/self/maps", "r");
	assert_non_null(maps);
	while (fgets(line, sizeof line, maps)) {
		unsigned long long a, b, off;
		char perms[8], p[4096] = "";
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095s", &a, &b, perms, &off, p) ==
		        5 &&
		    !strcmp(p, exe))
			synth_module(s, p, a, b, off, NULL, 0);
	}
	fclose(maps);
}

/* One request on thread tid at time t (ns): kind decides the hot leaf. */
static void request(synth *s, uint32_t tid, uint64_t t, uint64_t id, int json)
{
	uint64_t leaf = json ? pc(cb_parse_json) : pc(cb_parse_csv);
	uint64_t in_parse[] = {leaf, pc(cb_handle), pc(cb_main_loop)};
	uint64_t in_request[] = {pc(cb_handle), pc(cb_main_loop)};
	synth_span_begin(s, tid, t, id, 0, "request");
	synth_attr_str(s, tid, id, "kind", json ? "json" : "csv");
	synth_attr_int(s, tid, id, "bytes", json ? 5000 : 200);
	synth_sample(s, tid, t + 1000, in_request, 2);
	synth_span_begin(s, tid, t + 2000, id + 1, id, "parse");
	for (int i = 0; i < (json ? 8 : 3); i++)
		synth_sample(s, tid, t + 3000 + (uint64_t)i * 1000000, in_parse, 3);
	synth_span_end(s, tid, t + 9000000, id + 1);
	synth_span_end(s, tid, t + 9500000, id);
}

static void write_logs(void)
{
	synth s;
	uint64_t idle[] = {pc(cb_main_loop)};
	assert_int_equal(synth_open(&s, g_dir, "quick", 5100, 1), 0);
	synth_sampler(&s, 1000);
	map_exe(&s);
	synth_thread(&s, 5100, "main");
	for (int r = 0; r < 20; r++) {
		request(&s, 5100, (uint64_t)r * 10000000, 1000 + 2 * (uint64_t)r, r % 2);
		synth_sample(&s, 5100, (uint64_t)r * 10000000 + 9800000, idle, 1);
	}
	synth_close(&s);
	assert_int_equal(synth_open(&s, g_dir, "quick", 5101, 5100), 0);
	synth_sampler(&s, 1000);
	map_exe(&s);
	synth_thread(&s, 5101, "child");
	synth_span_begin(&s, 5101, 1000, 9000, 1001, "child-work");
	uint64_t st[] = {pc(cb_parse_csv), pc(cb_main_loop)};
	synth_sample(&s, 5101, 2000, st, 2);
	synth_span_end(&s, 5101, 3000, 9000);
	synth_close(&s);
}

static int setup(void **state)
{
	(void)state;
	mtest_tmpdir(g_dir, sizeof g_dir, "cookbook");
	write_logs();
	snprintf(g_db, sizeof g_db, "%s/cookbook.db", g_dir);
	return mtest_cli(NULL, NULL, "merge -q -o '%s' '%s'", g_db, g_dir);
}

static void test_cookbook(void **state)
{
	(void)state;
	mtest_run_cookbook(g_db);
}

/* The per-kind hotspot query gives each kind its own hot function. */
static void test_hot_function_per_kind(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(mtest_cli(&out, NULL, "top '%s' --span parse --by kind -n 1", g_db), 0);
	char *json = strstr(out, "kind = \"json\""), *csv = strstr(out, "kind = \"csv\"");
	assert_non_null(json);
	assert_non_null(csv);
	assert_true(json < csv); /* json requests take more time: listed first */
	assert_non_null(strstr(json, "cb_parse_json"));
	assert_non_null(strstr(csv, "cb_parse_csv"));
	assert_true(strstr(json, "cb_parse_json") < csv);
	free(out);
}

static int teardown(void **state)
{
	(void)state;
	return mtest_rmdir(g_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cookbook),
	    cmocka_unit_test(test_hot_function_per_kind),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
