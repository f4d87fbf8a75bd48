/*
 * export_pprof.c - the pprof export, checked by `go tool pprof`
 * (Debian golang-go): -top puts the hot function first, -tags lists the
 * span names and attribute values, and -tagfocus on a span name, a span id
 * or a numeric attribute keeps exactly the samples the database attributes;
 * -raw shows the labels Grafana Pyroscope reads (span_id as 16 lowercase
 * hex digits, trace_id as 32) and one mapping per module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xt.h"
#include "tl.h"

struct ppt {
	struct xt t; /* first: xt_fixture_teardown frees the whole */
	char profile[512];
};

static int setup(void **state)
{
	struct ppt *p = calloc(1, sizeof *p);
	xt_setup(&p->t);
	snprintf(p->profile, sizeof p->profile, "%s/profile.pb.gz", p->t.dir);
	char *out = NULL;
	if (tl_sh_all(&out, "%s export %s -f pprof -o %s", tl_cli(), p->t.db, p->profile) != 0)
		fail_msg("export: %s", out);
	free(out);
	*state = p;
	return 0;
}

/* Runs go tool pprof; its output goes to the caller's *out (malloc'd). The
 * caller owns the pointer variable: a helper that returned its own local
 * filled through &out made GCC 12 -O3 warn -Wdangling-pointer. */
static void pprof(struct ppt *p, const char *args, char **out)
{
	xt_readers(); /* fails (or skips) the test if go is missing */
	if (tl_sh_all(out, "HOME=%s PPROF_TMPDIR=%s go tool pprof %s %s", p->t.dir, p->t.dir, args,
	              p->profile) != 0)
		fail_msg("go tool pprof %s: %s", args, *out);
}

static void expect(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("expected '%s' in:\n%s", needle, text);
}

static void test_top_shows_hot_function(void **state)
{
	struct ppt *p = *state;
	char *out = NULL;
	pprof(p, "-top -sample_index=samples", &out);
	const char *head = strstr(out, "flat%");
	assert_non_null(head);
	const char *first = strchr(head, '\n');
	assert_non_null(first);
	const char *eol = strchr(first + 1, '\n');
	char line[256];
	snprintf(line, sizeof line, "%.*s", (int)(eol ? eol - first - 1 : 200), first + 1);
	expect(line, "hot_loop");
	expect(out, "parse_input");
	char total[64];
	snprintf(total, sizeof total, "of %lld total",
	         (long long)tl_db_int(p->t.db, "%s", "SELECT count(*) FROM samples"));
	expect(out, total);
	free(out);
	pprof(p, "-top -sample_index=cpu", &out);
	expect(out, "hot_loop");
	free(out);
}

static void test_tags_list_spans_and_attributes(void **state)
{
	struct ppt *p = *state;
	char *out = NULL;
	pprof(p, "-tags", &out);
	expect(out, "span_name:");
	expect(out, "request");
	expect(out, "parse");
	expect(out, "compute");
	expect(out, "span_id:");
	expect(out, "path:");
	expect(out, "/tmp/a \"quoted\".txt");
	expect(out, "b.txt");
	expect(out, "iterations:");
	expect(out, "bytes:");
	free(out);
}

/* Samples kept by -tagfocus=FOCUS, by pprof's "accounting for N" line. */
static long long focused(struct ppt *p, const char *focus)
{
	char args[256];
	snprintf(args, sizeof args, "-top -sample_index=samples '-tagfocus=%s'", focus);
	char *out = NULL;
	pprof(p, args, &out);
	const char *s = strstr(out, "accounting for ");
	if (!s)
		fail_msg("no total in:\n%s", out);
	long long n = strtoll(s + 15, NULL, 10);
	free(out);
	return n;
}

static void test_tagfocus_slices_by_span_and_input(void **state)
{
	struct ppt *p = *state;
	const char *db = p->t.db;
	assert_int_equal(focused(p, "span_name=parse"),
	                 tl_db_int(db, "%s",
	                           "SELECT count(*) FROM samples s JOIN spans USING (span_id) "
	                           "WHERE name = 'parse'"));
	assert_int_equal(focused(p, "span_name=compute"),
	                 tl_db_int(db, "%s",
	                           "SELECT count(*) FROM samples s JOIN spans USING (span_id) "
	                           "WHERE name = 'compute'"));
	/* a string label: a bare 0000000000000003 would be read as a number */
	assert_int_equal(focused(p, "span_id=^0000000000000003$"),
	                 tl_db_int(db, "%s", "SELECT count(*) FROM samples WHERE span_id = 3"));
	assert_int_equal(focused(p, "iterations=7"),
	                 tl_db_int(db, "%s",
	                           "SELECT count(*) FROM samples s JOIN span_attrs a USING "
	                           "(span_id) WHERE a.key = 'iterations' AND a.value = 7"));
	assert_int_equal(focused(p, "shard=3"), /* the span in the second process */
	                 tl_db_int(db, "%s", "SELECT count(*) FROM samples WHERE span_id = 7"));
	assert_int_equal(focused(p, "path=b.txt"),
	                 tl_db_int(db, "%s",
	                           "SELECT count(*) FROM samples s JOIN span_attrs a USING "
	                           "(span_id) WHERE a.key = 'path' AND a.value = 'b.txt'"));
}

/* Pyroscope drops a span_id that is not 16 hex digits (docs/export.md). */
static void test_raw_shows_hex_ids_and_mappings(void **state)
{
	struct ppt *p = *state;
	char *out = NULL;
	if (tl_sh_all(&out,
	              "sqlite3 %s \"UPDATE spans SET trace_id = '0af7651916cd43dd8448eb211c80319c' "
	              "WHERE trace_id = 'trace-b'\" && %s export %s -f pprof -o %s",
	              p->t.db, tl_cli(), p->t.db, p->profile) != 0)
		fail_msg("export: %s", out);
	free(out);
	pprof(p, "-raw", &out);
	expect(out, "span_id:[0000000000000007] span_name:[subtask] "
	            "trace_id:[0af7651916cd43dd8448eb211c80319c]");
	expect(out, "span_id:[0000000000000003] span_name:[compute]\n"); /* trace-a: no W3C id */
	expect(out, "iterations:[7]");                                   /* integers stay numbers */
	expect(out, "\nMappings\n");
	expect(out, ": 0x0/0x2001/0x0 /usr/bin/demo ");
	expect(out, ": 0x0/0x10001/0x0 /usr/lib/x86_64-linux-gnu/libc.so.6 ");
	expect(out, " M=2 hot_loop /src/demo.c:30");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_top_shows_hot_function, setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_tags_list_spans_and_attributes, setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_tagfocus_slices_by_span_and_input, setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_raw_shows_hex_ids_and_mappings, setup,
	                                    xt_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
