/*
 * merge_append.c - 'merge --append' gives the same span tree as one
 * merge of all the logs when a span's parent is in a log merged by another
 * append (docs/schema.md, span_ancestors; merge/db/mg_append.c).
 *
 * Three synthetic processes make one trace: job > spawn in A, shard >
 * inner in B (shard's parent is A's spawn), leaf in C (its parent is B's
 * inner). B and C have samples. The logs are merged whole, then appended
 * one by one in each order, and in two batches: every way must give each
 * span the same depth, the same ancestors at the same distances, and the
 * same samples inside it and attributes seen from it.
 *
 * Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "synth.h"
#include "tl.h"

#define MS(x) ((uint64_t)(x)*1000000u)

static char g_dir[512], g_log[3][700];

/* A fake pc per sample; merge keeps it as an unsymbolized frame. */
static void sample(synth *s, uint32_t tid, uint64_t off)
{
	uint64_t pcs[2] = {0x401000 + off / 1000, 0x402000};
	synth_sample(s, tid, off, pcs, 2);
}

static void write_log(int which)
{
	static const char *prog[3] = {"job", "shard", "leaf"};
	synth s;
	assert_int_equal(synth_open(&s, g_dir, prog[which], 1000u * (uint32_t)(which + 1), 1), 0);
	uint32_t tid = 1000u * (uint32_t)(which + 1);
	synth_thread(&s, tid, prog[which]);
	if (which == 0) {
		synth_span_begin(&s, tid, MS(1), 1, 0, "job");
		synth_attr_str(&s, tid, 1, "kind", "big");
		synth_span_begin(&s, tid, MS(2), 2, 1, "spawn");
		sample(&s, tid, MS(3));
		synth_span_end(&s, tid, MS(90), 2);
		synth_span_end(&s, tid, MS(100), 1);
	} else if (which == 1) {
		synth_span_begin(&s, tid, MS(10), 10, 2, "shard");
		synth_attr_int(&s, tid, 10, "bytes", 4096);
		synth_span_begin(&s, tid, MS(20), 11, 10, "inner");
		for (int i = 0; i < 5; i++)
			sample(&s, tid, MS(30 + i));
		synth_span_end(&s, tid, MS(60), 11);
		sample(&s, tid, MS(65));
		synth_span_end(&s, tid, MS(70), 10);
	} else {
		synth_span_begin(&s, tid, MS(25), 20, 11, "leaf");
		for (int i = 0; i < 3; i++)
			sample(&s, tid, MS(40 + i));
		synth_span_end(&s, tid, MS(50), 20);
	}
	synth_close(&s);
	snprintf(g_log[which], sizeof g_log[which], "%s/%s.%u.splog", g_dir, prog[which],
	         1000u * (unsigned)(which + 1));
}

static int group_setup(void **state)
{
	tl_tmpdir(g_dir, sizeof g_dir, "append");
	*state = g_dir;
	for (int i = 0; i < 3; i++)
		write_log(i);
	return 0;
}

/* Per span (by recorded id): depth, ancestors with distances, samples
 * inside it, attributes it sees; one line each, in recorded-id order. */
static char *tree(const char *db)
{
	sqlite3 *h = tl_db_open(db);
	char *t = tl_sql_text(
	    h, "%s",
	    "SELECT group_concat(line, ' | ') FROM (SELECT s.recorded_id || ' d' || s.depth"
	    " || ' [' || (SELECT group_concat(p.recorded_id || '@' || a.distance, ',') FROM"
	    " (SELECT * FROM span_ancestors a WHERE a.span_id = s.span_id ORDER BY a.distance) a"
	    " JOIN spans p ON p.span_id = a.ancestor_id) || '] n'"
	    " || (SELECT count(*) FROM sample_spans ss WHERE ss.span_id = s.span_id)"
	    " || ' ' || coalesce((SELECT group_concat(key || '=' || value, ',') FROM"
	    " (SELECT key, value FROM span_attrs_inherited i WHERE i.span_id = s.span_id"
	    " ORDER BY key)), '') AS line FROM spans s ORDER BY s.recorded_id)");
	sqlite3_close(h);
	assert_non_null(t);
	return t;
}

/* Merges the batches (log indexes, -1 ends a batch) into name.db: the
 * first with merge -o, each next one with --append. */
static char *merged(const char *name, const int *batches)
{
	char db[700], cmd[4096];
	snprintf(db, sizeof db, "%s/%s.db", g_dir, name);
	for (int first = 1; *batches != -2; batches++, first = 0) {
		if (first)
			snprintf(cmd, sizeof cmd, "merge -q --force -o %s", db);
		else
			snprintf(cmd, sizeof cmd, "merge -q --append %s", db);
		for (; *batches >= 0; batches++) {
			size_t n = strlen(cmd);
			snprintf(cmd + n, sizeof cmd - n, " %s", g_log[*batches]);
		}
		char *out = NULL;
		int rc = tl_sh_all(&out, "%s %s", tl_cli(), cmd);
		if (rc != 0)
			fail_msg("%s: %s", cmd, out);
		free(out);
	}
	return tree(db);
}

static void test_appends_equal_whole_merge(void **state)
{
	(void)state;
	static const int whole[] = {0, 1, 2, -1, -2};
	char *want = merged("whole", whole);
	/* the whole merge itself: leaf is 4 deep and its samples reach job */
	if (!strstr(want, "20 d4 [20@0,11@1,10@2,2@3,1@4] n3 bytes=4096,kind=big") ||
	    !strstr(want, "1 d0 [1@0] n10 kind=big"))
		fail_msg("whole merge: %s", want);
	static const int orders[][9] = {
	    {0, -1, 1, -1, 2, -1, -2}, /* parents first */
	    {2, -1, 1, -1, 0, -1, -2}, /* children first */
	    {1, -1, 0, 2, -1, -2},     /* the middle, then both ends */
	    {0, 2, -1, 1, -1, -2},     /* the middle last */
	};
	for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
		char name[32];
		snprintf(name, sizeof name, "order%zu", i);
		char *got = merged(name, orders[i]);
		if (strcmp(got, want) != 0)
			fail_msg("appends in order %zu:\n  %s\nwhole merge:\n  %s", i, got, want);
		free(got);
	}
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_appends_equal_whole_merge),
	};
	return cmocka_run_group_tests(tests, group_setup, tl_teardown_rm_rf);
}
