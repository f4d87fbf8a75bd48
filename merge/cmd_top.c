/*
 * cmd_top.c - 'spanprof top DB [--span NAME] [--by KEY] [-n N]'.
 *
 * Hot functions with self time (the function is the innermost frame) and
 * total time (the function is anywhere on the stack, counted once per
 * sample), as sample counts, milliseconds and percent of the selection.
 * --span keeps the samples taken inside a span of that name, including its
 * children (inclusive). --by groups them by the value of attribute KEY found
 * on the sample's span or, nearest first, on its ancestors; groups are
 * ordered by time. All the work is SQL over the documented tables: the
 * selection is materialised once into a TEMP table.
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

typedef struct mg_top_opts {
	const char *db, *span, *by;
	long n;
} mg_top_opts;

static void mg_top_usage(FILE *out)
{
	fprintf(out, "usage: spanprof top DB [--span NAME] [--by KEY] [-n N]\n"
	             "\n"
	             "Hot functions: self time (innermost frame) and total time (anywhere on\n"
	             "the stack), as samples, milliseconds and percent.\n"
	             "\n"
	             "  -s, --span NAME  only samples inside spans named NAME (or their children)\n"
	             "  -b, --by KEY     one table per value of span attribute KEY (looked up on\n"
	             "                   the sample's span, then its ancestors), by time\n"
	             "  -n N             functions per table (default 10)\n"
	             "  -h, --help\n");
}

/* The selection, aggregated so that the reports work on few rows: first
 * the spans that hold samples (filtered by --span, with their --by value,
 * looked up once per span instead of once per sample), then per (group
 * value, stack): sample count n and weight w. Without --span, samples
 * outside any span join the group NULL. Also each function's smallest
 * depth in the stack trie (0 = outermost frame), for ordering ties. */
static int mg_top_select(sqlite3 *db, const mg_top_opts *o)
{
	char sql[4096];
	snprintf(
	    sql, sizeof sql,
	    "CREATE TEMP TABLE fdepth(func TEXT PRIMARY KEY, d INTEGER);"
	    "INSERT INTO fdepth SELECT f.func, min(s.depth) FROM stacks s"
	    " JOIN frames f ON f.frame_id = s.frame_id WHERE f.func IS NOT NULL GROUP BY f.func;"
	    "CREATE TEMP TABLE spansel AS SELECT d.span_id, %s AS grp FROM"
	    " (SELECT DISTINCT span_id FROM samples WHERE span_id IS NOT NULL) d %s;"
	    "CREATE TEMP TABLE sel AS SELECT ss.grp, sm.stack_id, count(*) AS n,"
	    " sum(sm.weight_ns) AS w FROM spansel ss JOIN samples sm ON sm.span_id = ss.span_id"
	    " GROUP BY ss.grp, sm.stack_id %s;",
	    o->by ? "(SELECT sa.value FROM span_ancestors a JOIN span_attrs sa"
	            " ON sa.span_id = a.ancestor_id AND sa.key = :key"
	            " WHERE a.span_id = d.span_id ORDER BY a.distance LIMIT 1)"
	          : "NULL",
	    o->span ? "WHERE EXISTS (SELECT 1 FROM span_ancestors a JOIN spans sp"
	              " ON sp.span_id = a.ancestor_id WHERE a.span_id = d.span_id"
	              " AND sp.name = :span)"
	            : "",
	    o->span ? ""
	            : "UNION ALL SELECT NULL, stack_id, count(*), sum(weight_ns)"
	              " FROM samples WHERE span_id IS NULL GROUP BY stack_id");
	const char *tail = sql;
	while (*tail) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK) {
			fprintf(stderr, "spanprof top: database error: %s\n", sqlite3_errmsg(db));
			return -1;
		}
		if (!st)
			break;
		int k = o->by ? sqlite3_bind_parameter_index(st, ":key") : 0;
		if (k)
			sqlite3_bind_text(st, k, o->by, -1, SQLITE_STATIC);
		k = o->span ? sqlite3_bind_parameter_index(st, ":span") : 0;
		if (k)
			sqlite3_bind_text(st, k, o->span, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			fprintf(stderr, "spanprof top: database error: %s\n", sqlite3_errmsg(db));
			return -1;
		}
	}
	return 0;
}

/* Per function of one group: self (innermost frame) and total (anywhere on
 * the stack, once per sample) from the per-stack aggregates. Equal self and
 * total times (typically a chain of callers, _start ... main, all at 100%)
 * list the function nearer the leaf first: main before
 * __libc_start_main before _start, not alphabetically. */
static const char mg_top_funcs_sql[] =
    "WITH ps AS (SELECT stack_id, sum(n) AS n, sum(w) AS w FROM sel WHERE grp IS ?1"
    " GROUP BY stack_id)"
    " SELECT sf.func,"
    " sum(CASE WHEN lf.func IS sf.func THEN ps.n ELSE 0 END) AS self_n,"
    " sum(CASE WHEN lf.func IS sf.func THEN ps.w ELSE 0 END) AS self_ns,"
    " sum(ps.n) AS total_n, sum(ps.w) AS total_ns,"
    " (SELECT f.file FROM frames f WHERE f.func = sf.func AND f.file IS NOT NULL LIMIT 1)"
    " FROM ps JOIN stack_funcs sf ON sf.stack_id = ps.stack_id"
    " JOIN stacks st ON st.stack_id = ps.stack_id JOIN frames lf ON lf.frame_id = st.frame_id"
    " GROUP BY sf.func ORDER BY self_ns DESC, total_ns DESC,"
    " (SELECT d FROM fdepth WHERE fdepth.func = sf.func) DESC, sf.func LIMIT ?2";

static const char *mg_basename(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? slash + 1 : path;
}

static void mg_top_header(const mg_top_opts *o, sqlite3_value *grp, long n, double ms,
                          double all_ms)
{
	if (o->by) {
		const char *v = (const char *)sqlite3_value_text(grp);
		if (sqlite3_value_type(grp) == SQLITE_NULL)
			printf("%s: (not set)", o->by);
		else if (sqlite3_value_type(grp) == SQLITE_TEXT)
			printf("%s = \"%s\"", o->by, v);
		else
			printf("%s = %s", o->by, v);
	} else {
		printf("%s", o->span ? "" : "all samples");
	}
	if (o->span)
		printf("%sinside span \"%s\"", o->by ? ", " : "", o->span);
	printf(": %ld samples, %.1f ms", n, ms);
	if (o->by)
		printf(" (%.1f%%)", all_ms > 0 ? 100.0 * ms / all_ms : 0.0);
	printf("\n  %8s %10s %6s  %8s %10s %6s  %s\n", "self", "self ms", "self%", "total",
	       "total ms", "total%", "function");
}

static int mg_top_group(sqlite3 *db, const mg_top_opts *o, sqlite3_value *grp, long n, double ms,
                        double all_ms)
{
	sqlite3_stmt *st = mg_prepare(db, "top", mg_top_funcs_sql);
	if (!st)
		return -1;
	sqlite3_bind_value(st, 1, grp);
	sqlite3_bind_int64(st, 2, o->n);
	mg_top_header(o, grp, n, ms, all_ms);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		double self_ms = (double)sqlite3_column_int64(st, 2) / 1e6;
		double total_ms = (double)sqlite3_column_int64(st, 4) / 1e6;
		const char *file = (const char *)sqlite3_column_text(st, 5);
		printf("  %8lld %10.1f %5.1f%%  %8lld %10.1f %5.1f%%  %s",
		       sqlite3_column_int64(st, 1), self_ms, ms > 0 ? 100.0 * self_ms / ms : 0.0,
		       sqlite3_column_int64(st, 3), total_ms, ms > 0 ? 100.0 * total_ms / ms : 0.0,
		       (const char *)sqlite3_column_text(st, 0));
		if (file)
			printf("  (%s)", mg_basename(file));
		putchar('\n');
	}
	sqlite3_finalize(st);
	putchar('\n');
	return rc == SQLITE_DONE ? 0 : -1;
}

static int mg_top_report(sqlite3 *db, const mg_top_opts *o)
{
	sqlite3_stmt *st =
	    mg_prepare(db, "top",
	               "SELECT grp, sum(n), sum(w), (SELECT sum(w) FROM sel) FROM sel"
	               " GROUP BY grp ORDER BY sum(w) DESC, grp");
	if (!st)
		return -1;
	int rc, groups = 0, err = 0;
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		groups++;
		err = mg_top_group(db, o, sqlite3_column_value(st, 0),
		                   (long)sqlite3_column_int64(st, 1),
		                   (double)sqlite3_column_int64(st, 2) / 1e6,
		                   (double)sqlite3_column_int64(st, 3) / 1e6);
	}
	sqlite3_finalize(st);
	if (err)
		return -1;
	if (!groups) {
		if (o->span)
			fprintf(stderr, "spanprof top: no samples inside spans named \"%s\"\n",
			        o->span);
		else
			fprintf(stderr, "spanprof top: the database holds no samples\n");
		return -1;
	}
	return 0;
}

static int mg_top_parse(int argc, char **argv, mg_top_opts *o)
{
	static const struct option opts[] = {{"span", required_argument, NULL, 's'},
	                                     {"by", required_argument, NULL, 'b'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	o->n = 10;
	optind = 1;
	opterr = 0; /* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "s:b:n:h", opts, NULL)) != -1) {
		if (c == 's')
			o->span = optarg;
		else if (c == 'b')
			o->by = optarg;
		else if (c == 'n' && (o->n = mg_parse_count(optarg)) > 0)
			continue;
		else if (c == 'h')
			return 1;
		else
			return -1;
	}
	if (argc - optind != 1)
		return -1;
	o->db = argv[optind];
	return 0;
}

int sp_cmd_top(int argc, char **argv)
{
	mg_top_opts o = {0};
	int p = mg_top_parse(argc, argv, &o);
	if (p == 1) {
		mg_top_usage(stdout);
		return 0;
	}
	if (p < 0) {
		fprintf(stderr, "spanprof top: expected DB [--span NAME] [--by KEY] [-n N]"
		                " (try 'spanprof top --help')\n");
		return 2;
	}
	sqlite3 *db = mg_db_open_existing("top", o.db, 1);
	if (!db)
		return 1;
	/* A 64 MiB page cache (SQLite's default is 2 MiB): the selection walks
	 * samples by span through samples_span, and with the default cache most
	 * page reads went back to the kernel. 10M-event bench database:
	 * 14.7-15.0 s -> 11.5-12.8 s wall (sys 6.6 -> 0.9 s), peak RSS 13 ->
	 * 138 MiB (docs/performance.md, Merge). */
	if (mg_exec(db, "top", "PRAGMA cache_size=-65536;")) {
		sqlite3_close(db);
		return 1;
	}
	int rc = mg_top_select(db, &o) || mg_top_report(db, &o) ? 1 : 0;
	sqlite3_close(db);
	return rc;
}
