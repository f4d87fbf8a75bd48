/*
 * cmd_spans.c - 'spanprof spans DB NAME [--slowest N]': the slowest
 * instances of a span, one line each: duration, attributes (its own and
 * its ancestors', nearest first), and the hottest function by self time
 * inside it (its descendants included) with its share of the span's
 * samples. The question a user asks before (or after) 'spanprof explain':
 * "show me the slow ones".
 *
 * Each line costs a few index probes (span_ancestors, span_attrs,
 * samples_span), so N lines cost O(N) however large the database; finding
 * the N slowest is one pass over the spans of that name.
 *
 * Threading: single-threaded.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mg_cli.h"
#include "mg_db.h"

#define SPANS_VALUE_MAX 40 /* characters of a string value shown */

typedef struct spans_opts {
	const char *db, *name;
	long slowest;
} spans_opts;

typedef struct spans_stmts {
	sqlite3_stmt *attrs, *top, *total;
} spans_stmts;

static void spans_usage(FILE *out)
{
	fprintf(out, "usage: spanprof spans DB NAME [--slowest N]\n"
	             "\n"
	             "The N slowest spans named NAME (default 10), one line each: duration,\n"
	             "span id, attributes (its own, then its ancestors'), and the function\n"
	             "with the most self time inside it and its share of the span's samples.\n"
	             "\n"
	             "  --slowest N   how many spans (default 10)\n"
	             "  -h, --help\n");
}

static void spans_dur(int64_t ns)
{
	if (ns >= 1000000000)
		printf("%9.3f s ", (double)ns / 1e9);
	else if (ns >= 1000000)
		printf("%9.3f ms", (double)ns / 1e6);
	else
		printf("%9.3f us", (double)ns / 1e3);
}

/* key=value for each key, nearest span first, newest value first; a key
 * already shown (a farther or older value) is skipped. */
static void spans_attrs(sqlite3_stmt *st, int64_t span_id)
{
	char shown[32][64];
	int n = 0;
	sqlite3_bind_int64(st, 1, span_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *val = (const char *)sqlite3_column_text(st, 1);
		int seen = !key;
		for (int i = 0; i < n && !seen; i++)
			seen = !strncmp(shown[i], key, sizeof shown[i] - 1);
		if (seen)
			continue;
		if (n < 32)
			snprintf(shown[n++], sizeof shown[0], "%s", key);
		if (sqlite3_column_type(st, 1) == SQLITE_TEXT)
			printf("  %s=\"%.*s%s\"", key, SPANS_VALUE_MAX, val,
			       strlen(val) > SPANS_VALUE_MAX ? "..." : "");
		else
			printf("  %s=%s", key, val ? val : "null");
	}
	sqlite3_reset(st);
}

/* The leaf function with the most weight inside the span, and its share. */
static void spans_top(const spans_stmts *s, int64_t span_id)
{
	sqlite3_bind_int64(s->total, 1, span_id);
	int64_t n = 0, w = 0;
	if (sqlite3_step(s->total) == SQLITE_ROW) {
		n = sqlite3_column_int64(s->total, 0);
		w = sqlite3_column_int64(s->total, 1);
	}
	sqlite3_reset(s->total);
	if (!n) {
		printf("  (no samples)");
		return;
	}
	sqlite3_bind_int64(s->top, 1, span_id);
	if (sqlite3_step(s->top) == SQLITE_ROW) {
		const char *f = (const char *)sqlite3_column_text(s->top, 0);
		printf("  top: %s %.0f%% of %lld sample%s", f ? f : "?",
		       w > 0 ? 100.0 * (double)sqlite3_column_int64(s->top, 2) / (double)w : 0.0,
		       (long long)n, n == 1 ? "" : "s");
	}
	sqlite3_reset(s->top);
}

static int spans_prepare(sqlite3 *db, spans_stmts *s)
{
	s->attrs = mg_prepare(db, "SELECT sa.key, sa.value FROM span_ancestors a JOIN span_attrs sa"
	                          " ON sa.span_id = a.ancestor_id WHERE a.span_id = ?1"
	                          " ORDER BY a.distance, sa.rowid DESC");
	s->top =
	    mg_prepare(db, "SELECT f.func, count(*), sum(s.weight_ns) FROM span_ancestors a"
	                   " JOIN samples s ON s.span_id = a.span_id"
	                   " JOIN stacks st ON st.stack_id = s.stack_id"
	                   " JOIN frames f ON f.frame_id = st.frame_id"
	                   " WHERE a.ancestor_id = ?1 GROUP BY f.func ORDER BY 3 DESC, 1 LIMIT 1");
	s->total =
	    mg_prepare(db, "SELECT count(*), sum(s.weight_ns) FROM span_ancestors a"
	                   " JOIN samples s ON s.span_id = a.span_id WHERE a.ancestor_id = ?1");
	return s->attrs && s->top && s->total ? 0 : -1;
}

static void spans_unknown(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st =
	    mg_prepare(db, "SELECT name FROM spans GROUP BY name ORDER BY count(*) DESC"
	                   " LIMIT 8");
	fprintf(stderr, "spanprof spans: no span named \"%s\"", name);
	for (int i = 0; st && sqlite3_step(st) == SQLITE_ROW; i++)
		fprintf(stderr, "%s%s", i ? ", " : "; the commonest names: ",
		        (const char *)sqlite3_column_text(st, 0));
	fputc('\n', stderr);
	sqlite3_finalize(st);
}

static int spans_report(sqlite3 *db, const spans_opts *o)
{
	spans_stmts s = {0};
	sqlite3_stmt *list = mg_prepare(db, "SELECT span_id, dur_ns, count(*) OVER () FROM spans"
	                                    " WHERE name = ?1 AND dur_ns IS NOT NULL"
	                                    " ORDER BY dur_ns DESC, span_id LIMIT ?2");
	int rc = SQLITE_ERROR, lines = 0;
	if (list && !spans_prepare(db, &s)) {
		sqlite3_bind_text(list, 1, o->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(list, 2, o->slowest);
		while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(list, 0);
			if (!lines++)
				printf("the %ld slowest of %lld \"%s\" spans: duration, span id,"
				       " attributes, hottest function (self time)\n",
				       o->slowest, (long long)sqlite3_column_int64(list, 2),
				       o->name);
			spans_dur(sqlite3_column_int64(list, 1));
			printf("  %016llx", (unsigned long long)id);
			spans_attrs(s.attrs, id);
			spans_top(&s, id);
			putchar('\n');
		}
	}
	if (rc != SQLITE_DONE)
		fprintf(stderr, "spanprof spans: database error: %s\n", sqlite3_errmsg(db));
	else if (!lines)
		spans_unknown(db, o->name);
	sqlite3_finalize(list);
	sqlite3_finalize(s.attrs);
	sqlite3_finalize(s.top);
	sqlite3_finalize(s.total);
	return rc == SQLITE_DONE && lines ? 0 : -1;
}

/* 0, 1 (--help) or -1 (bad usage). */
static int spans_parse(int argc, char **argv, spans_opts *o)
{
	static const struct option opts[] = {{"slowest", required_argument, NULL, 'n'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	o->slowest = 10;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return 1;
		if (c != 'n' || (o->slowest = mg_parse_count(optarg)) <= 0)
			return -1;
	}
	if (argc - optind != 2)
		return -1;
	o->db = argv[optind];
	o->name = argv[optind + 1];
	return 0;
}

int mg_cmd_spans(int argc, char **argv)
{
	spans_opts o = {0};
	int p = spans_parse(argc, argv, &o);
	if (p > 0) {
		spans_usage(stdout);
		return 0;
	}
	if (p < 0) {
		fprintf(stderr, "spanprof spans: expected DB NAME [--slowest N] (N a positive"
		                " count; try 'spanprof spans --help')\n");
		return 2;
	}
	sqlite3 *db = mg_db_open(o.db, MG_DB_SPANPROF);
	if (!db)
		return 1;
	int rc = spans_report(db, &o) ? 1 : 0;
	sqlite3_close(db);
	return rc;
}
