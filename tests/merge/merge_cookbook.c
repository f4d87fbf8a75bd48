/*
 * merge_cookbook.c - runs every ```sql block of docs/cookbook.md
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

/* This executable's mappings, so the handlers' addresses symbolize. */
static void map_exe(synth *s)
{
	char exe[4096];
	synth_mapped_path(NULL, exe, sizeof exe);
	assert_true(synth_map_self(s, exe, NULL, NULL, 0) > 0);
}

static uint64_t pc(int (*f)(int))
{
	return (uint64_t)(uintptr_t)f + 1;
}

/* Span ids as the runtime makes them: random-looking, not in time order
 * (a bijective mix of n), so that a query that depended on their order
 * would answer differently once merge keys spans by time. */
static uint64_t rid(uint64_t n)
{
	n *= 0x9E3779B97F4A7C15ull;
	n ^= n >> 29;
	return (n & 0x7fffffffffffffffull) | 1;
}

/* One request on thread tid at time t (ns): kind decides the hot leaf. */
static void request(synth *s, uint32_t tid, uint64_t t, uint64_t n, int json)
{
	uint64_t id = rid(n), child = rid(n + 1);
	uint64_t leaf = json ? pc(cb_parse_json) : pc(cb_parse_csv);
	uint64_t in_parse[] = {leaf, pc(cb_handle), pc(cb_main_loop)};
	uint64_t in_request[] = {pc(cb_handle), pc(cb_main_loop)};
	synth_span_begin(s, tid, t, id, 0, "request");
	synth_attr_str(s, tid, id, "kind", json ? "json" : "csv");
	synth_attr_int(s, tid, id, "bytes", json ? 5000 : 200);
	synth_sample(s, tid, t + 1000, in_request, 2);
	synth_span_begin(s, tid, t + 2000, child, id, "parse");
	for (int i = 0; i < (json ? 8 : 3); i++)
		synth_sample(s, tid, t + 3000 + (uint64_t)i * 1000000, in_parse, 3);
	synth_span_end(s, tid, t + 9000000, child);
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
	synth_span_begin(&s, 5101, 1000, rid(9000), rid(1001), "child-work");
	uint64_t st[] = {pc(cb_parse_csv), pc(cb_main_loop)};
	synth_sample(&s, 5101, 2000, st, 2);
	synth_span_end(&s, 5101, 3000, rid(9000));
	synth_close(&s);
}

static int setup(void **state)
{
	tl_tmpdir(g_dir, sizeof g_dir, "cookbook");
	*state = g_dir;
	write_logs();
	snprintf(g_db, sizeof g_db, "%s/cookbook.db", g_dir);
	return tl_cli_run(NULL, NULL, "merge -q -o '%s' '%s'", g_db, g_dir);
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
	assert_int_equal(tl_cli_run(&out, NULL, "top '%s' --span parse --by kind -n 1", g_db), 0);
	char *json = strstr(out, "kind = \"json\""), *csv = strstr(out, "kind = \"csv\"");
	assert_non_null(json);
	assert_non_null(csv);
	assert_true(json < csv); /* json requests take more time: listed first */
	assert_non_null(strstr(json, "cb_parse_json"));
	assert_non_null(strstr(csv, "cb_parse_csv"));
	assert_true(strstr(json, "cb_parse_json") < csv);
	free(out);
}

/* One answer as text: its rows, sorted (the recipes' order among equal
 * keys is not part of the question), a column named span_id as the
 * span's recorded id. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *answer(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL, *rec = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s\n%s", sqlite3_errmsg(db), sql);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT recorded_id FROM spans WHERE span_id = ?1",
	                                    -1, &rec, NULL),
	                 SQLITE_OK);
	char **rows = NULL;
	size_t n = 0, len = 1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		char row[4096] = "";
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const char *v = (const char *)sqlite3_column_text(st, c);
			char id[32];
			if (v && !strcmp(sqlite3_column_name(st, c), "span_id")) {
				sqlite3_bind_int64(rec, 1, sqlite3_column_int64(st, c));
				assert_int_equal(sqlite3_step(rec), SQLITE_ROW);
				snprintf(id, sizeof id, "%lld",
				         (long long)sqlite3_column_int64(rec, 0));
				sqlite3_reset(rec);
				v = id;
			}
			size_t at = strlen(row);
			snprintf(row + at, sizeof row - at, "%d:%s|", sqlite3_column_type(st, c),
			         v ? v : "");
		}
		rows = realloc(rows, (n + 1) * sizeof *rows);
		assert_non_null(rows);
		rows[n++] = strdup(row);
		len += strlen(row) + 1;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(rec);
	if (n) /* no rows: rows is NULL, which qsort may not take */
		qsort(rows, n, sizeof *rows, cmp_str);
	char *out = calloc(1, len);
	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		strcat(strcat(out, rows[i]), "\n");
		free(rows[i]);
	}
	free(rows);
	return out;
}

/* ref.db: the database with the recorded ids as its keys (spans.span_id,
 * parent_id, and every column that names a span), as merge wrote it
 * before span_id became a key of its own (schema version 1). */
static void write_recorded_keys_copy(const char *ref)
{
	size_t len = 0;
	char *bytes = tl_read_file(g_db, &len);
	assert_non_null(bytes);
	tl_write_file(ref, bytes, len);
	free(bytes);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(ref, &db), SQLITE_OK);
	char *err = NULL;
	int rc = sqlite3_exec(
	    db,
	    "CREATE TEMP TABLE m(d INTEGER PRIMARY KEY, r INTEGER);"
	    "INSERT INTO m SELECT span_id, recorded_id FROM spans;"
	    "UPDATE spans SET span_id = -span_id;"
	    "UPDATE spans SET span_id = recorded_id, parent_id = recorded_parent_id;"
	    "UPDATE samples SET span_id = (SELECT r FROM m WHERE d = samples.span_id);"
	    "UPDATE span_attrs SET span_id = (SELECT r FROM m WHERE d = span_attrs.span_id);"
	    "CREATE TEMP TABLE a AS SELECT (SELECT r FROM m WHERE d = span_id) AS s,"
	    " (SELECT r FROM m WHERE d = ancestor_id) AS anc, distance FROM span_ancestors;"
	    "DELETE FROM span_ancestors; INSERT INTO span_ancestors SELECT * FROM a;",
	    NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s", err);
	sqlite3_close(db);
}

/* The key merge assigns to spans changes no answer of the cookbook: each
 * recipe answers the same on the database and on a copy keyed by the
 * recorded ids (a recipe that ordered or broke ties by span_id would
 * differ: the synthetic requests have equal durations). */
static void test_answers_do_not_depend_on_span_ids(void **state)
{
	(void)state;
	char ref[700], path[1024];
	snprintf(ref, sizeof ref, "%s/recorded-keys.db", g_dir);
	write_recorded_keys_copy(ref);
	snprintf(path, sizeof path, "%s/docs/cookbook.md", getenv("SPANPROF_SOURCE_DIR"));
	char *md = tl_read_file(path, NULL);
	assert_non_null(md);
	sqlite3 *a = mtest_db(g_db), *b = mtest_db(ref);
	int blocks = 0;
	for (char *p = strstr(md, "```sql\n"); p; p = strstr(p, "```sql\n")) {
		char *body = p + 7, *end = strstr(body, "```");
		assert_non_null(end);
		*end = 0;
		char *x = answer(a, body), *y = answer(b, body);
		if (strcmp(x, y))
			fail_msg(
			    "cookbook query %d answers differently with recorded ids as keys:\n%s\n"
			    "---\n%s---\n%s",
			    blocks + 1, body, x, y);
		free(x);
		free(y);
		blocks++;
		p = end + 1;
	}
	assert_true(blocks >= 10);
	/* and the copy is keyed differently, or the test proves nothing */
	assert_true(tl_sql_int(a, "SELECT count(*) FROM spans WHERE span_id <> recorded_id") > 0);
	sqlite3_close(a);
	sqlite3_close(b);
	free(md);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cookbook),
	    cmocka_unit_test(test_hot_function_per_kind),
	    cmocka_unit_test(test_answers_do_not_depend_on_span_ids),
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
