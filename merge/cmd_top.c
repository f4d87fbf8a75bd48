/*
 * cmd_top.c - 'spanprof top DB [--span NAME] [--by KEY] [-n N]'.
 *
 * Hot functions with self time (the function is the innermost frame) and
 * total time (the function is anywhere on the stack, counted once per
 * sample), as sample counts, milliseconds and percent of the selection.
 * --span keeps the samples taken inside a span of that name, including its
 * children (inclusive). --by groups them by the value of attribute KEY found
 * on the sample's span or, nearest first, on its ancestors; groups are
 * ordered by time, the first --groups shown (a key no span has is an error
 * naming the keys that exist: a typo must not read as "(not set)").
 * --sort total orders functions by total instead of self time. The
 * selection is SQL over the documented tables, materialised into TEMP
 * tables; the per-stack sums are added up in C while the samples stream by
 * (mg_top_sum). On a terminal, a selection over a second shows a progress
 * line, cleared before the report prints.
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
#include "mg_loss.h"
#include "mg_hash.h"

typedef struct mg_top_opts {
	const char *db, *span, *by;
	long n;
	long groups;      /* --groups: tables shown (--by) */
	int sort_total;   /* --sort total */
	const char *unit; /* what the ms measure (mg_top_unit) */
} mg_top_opts;

static void mg_top_usage(FILE *out)
{
	fprintf(out,
	        "usage: spanprof top DB [--span NAME] [--by KEY] [--groups N] [--sort self|total]"
	        " [-n N]\n"
	        "\n"
	        "Hot functions: self time (innermost frame) and total time (anywhere on\n"
	        "the stack), as samples, milliseconds and percent; ordered by self time,\n"
	        "then total time, then nearest the leaf first (main before _start).\n"
	        "\n"
	        "  -s, --span NAME  only samples inside spans named NAME (or their children)\n"
	        "  -b, --by KEY     one table per value of span attribute KEY (looked up on\n"
	        "                   the sample's span, then its ancestors), by time\n"
	        "  -g, --groups N   tables shown with --by (default 10); a last line\n"
	        "                   says how many groups and samples were left out\n"
	        "  --sort self|total  order functions by self (default) or total time\n"
	        "  -n N             functions per table (default 10)\n"
	        "  -h, --help\n");
}

/* Finalizes st; reports the error unless its last step ended with rc
 * SQLITE_DONE. Returns 0 or -1. */
static int mg_top_done(sqlite3 *db, sqlite3_stmt *st, int rc)
{
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	fprintf(stderr, "spanprof top: database error: %s\n", sqlite3_errmsg(db));
	return -1;
}

/* Runs the ;-separated statements of sql, binding :key and :span. */
static int mg_top_exec(sqlite3 *db, const mg_top_opts *o, const char *sql)
{
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
		if (mg_top_done(db, st, sqlite3_step(st)))
			return -1;
	}
	return 0;
}

/* Per (group, stack) totals, summed in C: SQLite has no hash aggregate,
 * and a GROUP BY over every selected sample sorted them all (5.5 of the
 * 10 s of a 10M-event database). The map holds one entry per distinct
 * (group, stack), never per sample. */
typedef struct mg_top_cell {
	int64_t g, stack, n, w; /* stack 0: the sample had no stack */
} mg_top_cell;

typedef struct mg_top_agg {
	mg_hash index; /* (g, stack) -> position in cells */
	mg_top_cell *cells;
	size_t len, cap;
} mg_top_agg;

static int mg_top_add(mg_top_agg *a, int64_t g, int64_t stack, int64_t w)
{
	uint64_t *at = mg_hash_get(&a->index, (uint64_t)g, (uint64_t)stack);
	if (at) {
		a->cells[*at].n++;
		a->cells[*at].w += w;
		return 0;
	}
	if (a->len == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		mg_top_cell *c = realloc(a->cells, cap * sizeof *c);
		if (!c)
			return -1;
		a->cells = c;
		a->cap = cap;
	}
	a->cells[a->len] = (mg_top_cell){g, stack, 1, w};
	return mg_hash_put(&a->index, (uint64_t)g, (uint64_t)stack, a->len++) ? -1 : 0;
}

/* Streams the samples (in table order, each probing the selected spans by
 * id) into the map; without --span, samples outside any span go to the
 * group of NULL. */
static int mg_top_sum(sqlite3 *db, const mg_top_opts *o, mg_top_agg *a)
{
	int64_t g_null = 0;
	if (!o->span) {
		sqlite3_stmt *q = mg_prepare(db, "top", "SELECT g FROM grps WHERE grp IS NULL");
		if (!q)
			return -1;
		if (sqlite3_step(q) == SQLITE_ROW)
			g_null = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	sqlite3_stmt *st = mg_prepare(db, "top",
	                              "SELECT ss.g, sm.span_id IS NULL, sm.stack_id, sm.weight_ns"
	                              " FROM samples sm LEFT JOIN spansel2 ss"
	                              " ON ss.span_id = sm.span_id");
	if (!st)
		return -1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t g = sqlite3_column_int64(st, 0); /* 0 for NULL: not selected */
		if (!g && !o->span && sqlite3_column_int(st, 1))
			g = g_null;
		if (g &&
		    mg_top_add(a, g, sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3))) {
			fprintf(stderr, "spanprof top: out of memory\n");
			sqlite3_finalize(st);
			return -1;
		}
	}
	return mg_top_done(db, st, rc);
}

/* Writes the map into TEMP table sel(grp, stack_id, n, w). */
static int mg_top_store(sqlite3 *db, const mg_top_agg *a)
{
	sqlite3_stmt *st =
	    mg_prepare(db, "top", "INSERT INTO sel SELECT grp, ?2, ?3, ?4 FROM grps WHERE g = ?1");
	if (!st)
		return -1;
	int rc = SQLITE_DONE;
	for (size_t i = 0; i < a->len && rc == SQLITE_DONE; i++) {
		const mg_top_cell *c = &a->cells[i];
		sqlite3_bind_int64(st, 1, c->g);
		if (c->stack)
			sqlite3_bind_int64(st, 2, c->stack);
		else
			sqlite3_bind_null(st, 2);
		sqlite3_bind_int64(st, 3, c->n);
		sqlite3_bind_int64(st, 4, c->w);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
	}
	return mg_top_done(db, st, rc);
}

/* The selection, aggregated so that the reports work on few rows: first
 * the spans that hold samples (filtered by --span, with their --by value,
 * looked up once per span instead of once per sample), numbered by group
 * value (grps), then per (group value, stack): sample count n and weight w
 * (mg_top_sum). Without --span, samples outside any span join the group
 * NULL. Also each function's smallest depth in the stack trie (0 =
 * outermost frame), for ordering ties. */
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
	    "CREATE TEMP TABLE grps(g INTEGER PRIMARY KEY, grp);"
	    "INSERT INTO grps(grp) SELECT DISTINCT grp FROM spansel;"
	    "%s"
	    "CREATE INDEX grps_grp ON grps(grp);"
	    "CREATE TEMP TABLE spansel2(span_id INTEGER PRIMARY KEY, g INTEGER);"
	    "INSERT INTO spansel2 SELECT s.span_id, g.g FROM spansel s"
	    " JOIN grps g ON g.grp IS s.grp;"
	    "CREATE TEMP TABLE sel(grp, stack_id, n, w);",
	    o->by ? "(SELECT sa.value FROM span_ancestors a JOIN span_attrs sa"
	            " ON sa.span_id = a.ancestor_id AND sa.key = :key"
	            " WHERE a.span_id = d.span_id ORDER BY a.distance LIMIT 1)"
	          : "NULL",
	    o->span ? "WHERE EXISTS (SELECT 1 FROM span_ancestors a JOIN spans sp"
	              " ON sp.span_id = a.ancestor_id WHERE a.span_id = d.span_id"
	              " AND sp.name = :span)"
	            : "",
	    o->span ? ""
	            : "INSERT INTO grps(grp) SELECT NULL"
	              " WHERE NOT EXISTS (SELECT 1 FROM grps WHERE grp IS NULL);");
	if (mg_top_exec(db, o, sql))
		return -1;
	mg_top_agg a = {0};
	int err = mg_top_sum(db, o, &a) || mg_top_store(db, &a);
	mg_hash_free(&a.index);
	free(a.cells);
	return err ? -1 : 0;
}

/* Per function of one group: self (innermost frame) and total (anywhere on
 * the stack, once per sample) from the per-stack aggregates. Equal self and
 * total times (typically a chain of callers, _start ... main, all at 100%)
 * list the function nearer the leaf first: main before
 * __libc_start_main before _start, not alphabetically. */
static const char mg_top_funcs_sql[] = /* %s: the ORDER BY keys */
    "WITH ps AS (SELECT stack_id, sum(n) AS n, sum(w) AS w FROM sel WHERE grp IS ?1"
    " GROUP BY stack_id)"
    " SELECT sf.func,"
    " sum(CASE WHEN lf.func IS sf.func THEN ps.n ELSE 0 END) AS self_n,"
    " sum(CASE WHEN lf.func IS sf.func THEN ps.w ELSE 0 END) AS self_ns,"
    " sum(ps.n) AS total_n, sum(ps.w) AS total_ns,"
    " (SELECT f.file FROM frames f WHERE f.func = sf.func AND f.file IS NOT NULL LIMIT 1)"
    " FROM ps JOIN stack_funcs sf ON sf.stack_id = ps.stack_id"
    " JOIN stacks st ON st.stack_id = ps.stack_id JOIN frames lf ON lf.frame_id = st.frame_id"
    " GROUP BY sf.func ORDER BY %s,"
    " (SELECT d FROM fdepth WHERE fdepth.func = sf.func) DESC, sf.func LIMIT ?2";

static const char *mg_basename(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? slash + 1 : path;
}

/* What the milliseconds measure, from table sampler: CPU time (user and
 * kernel), user CPU time only (the kernel refused kernel-mode sampling), or
 * wall time; "" when the processes differ or the database does not say. */
static const char *mg_top_unit(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	const char *unit = "";
	if (sqlite3_prepare_v2(db,
	                       "SELECT min(mode), max(mode), max(user_only) FROM sampler"
	                       " WHERE mode IN ('cpu', 'wall')",
	                       -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return unit; /* a database of an older merge: no user_only */
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
		const char *lo = (const char *)sqlite3_column_text(st, 0);
		const char *hi = (const char *)sqlite3_column_text(st, 1);
		if (!strcmp(lo, "wall") && !strcmp(hi, "wall"))
			unit = " of wall time";
		else if (!strcmp(lo, "cpu") && !strcmp(hi, "cpu"))
			unit = sqlite3_column_int(st, 2) ? " of user CPU" : " of CPU";
	}
	sqlite3_finalize(st);
	return unit;
}

/* missing: the loss summary (mg_loss.h) for the first group, else NULL. */
static void mg_top_header(const mg_top_opts *o, sqlite3_value *grp, long n, double ms,
                          double all_ms, const char *missing)
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
	printf(": %ld samples, %.1f ms%s", n, ms, o->unit);
	if (o->by)
		printf(" (%.1f%%)", all_ms > 0 ? 100.0 * ms / all_ms : 0.0);
	if (missing)
		printf("\n  missing: %s", missing);
	printf("\n  %8s %10s %6s  %8s %10s %6s  %s\n", "self", "self ms", "self%", "total",
	       "total ms", "total%", "function");
}

static int mg_top_group(sqlite3 *db, const mg_top_opts *o, sqlite3_value *grp, long n, double ms,
                        double all_ms, const char *missing)
{
	char sql[sizeof mg_top_funcs_sql + 64];
	snprintf(sql, sizeof sql, mg_top_funcs_sql,
	         o->sort_total ? "total_ns DESC, self_ns DESC" : "self_ns DESC, total_ns DESC");
	sqlite3_stmt *st = mg_prepare(db, "top", sql);
	if (!st)
		return -1;
	sqlite3_bind_value(st, 1, grp);
	sqlite3_bind_int64(st, 2, o->n);
	mg_top_header(o, grp, n, ms, all_ms, missing);
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

static int mg_top_report(sqlite3 *db, const mg_top_opts *opts)
{
	mg_top_opts with_unit = *opts;
	with_unit.unit = mg_top_unit(db);
	const mg_top_opts *o = &with_unit;
	/* What is missing from the data is said once, under the first title. */
	mg_loss loss;
	char text[512];
	if (mg_loss_read(db, "top", &loss))
		return -1;
	const char *missing = mg_loss_any(&loss) ? mg_loss_text(&loss, text, sizeof text) : NULL;
	sqlite3_stmt *st =
	    mg_prepare(db, "top",
	               "SELECT grp, sum(n), sum(w), (SELECT sum(w) FROM sel) FROM sel"
	               " GROUP BY grp ORDER BY sum(w) DESC, grp");
	if (!st)
		return -1;
	int rc, groups = 0, err = 0;
	int64_t left_n = 0, left_w = 0, all_w = 0;
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		all_w = sqlite3_column_int64(st, 3);
		if (++groups > o->groups) { /* counted for the last line, not shown */
			left_n += sqlite3_column_int64(st, 1);
			left_w += sqlite3_column_int64(st, 2);
			continue;
		}
		err = mg_top_group(
		    db, o, sqlite3_column_value(st, 0), (long)sqlite3_column_int64(st, 1),
		    (double)sqlite3_column_int64(st, 2) / 1e6,
		    (double)sqlite3_column_int64(st, 3) / 1e6, groups == 1 ? missing : NULL);
	}
	sqlite3_finalize(st);
	if (err)
		return -1;
	if (groups > o->groups)
		printf(
		    "... and %ld more groups of %s (%lld samples, %.1f%%): --groups N shows more\n",
		    groups - o->groups, o->by, (long long)left_n,
		    all_w > 0 ? 100.0 * (double)left_w / (double)all_w : 0.0);
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
	static const struct option opts[] = {
	    {"span", required_argument, NULL, 's'},   {"by", required_argument, NULL, 'b'},
	    {"groups", required_argument, NULL, 'g'}, {"sort", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	int c;
	o->n = 10;
	o->groups = 10;
	optind = 1;
	opterr = 0; /* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "s:b:g:n:h", opts, NULL)) != -1) {
		if (c == 's')
			o->span = optarg;
		else if (c == 'b')
			o->by = optarg;
		else if (c == 'n' && (o->n = mg_parse_count(optarg)) > 0)
			continue;
		else if (c == 'g' && (o->groups = mg_parse_count(optarg)) > 0)
			continue;
		else if (c == 'S' && (!strcmp(optarg, "self") || !strcmp(optarg, "total")))
			o->sort_total = !strcmp(optarg, "total");
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

/* --by KEY that no span has: one line naming the keys that exist.
 * Returns 0 if some span has KEY, -1 otherwise (printed). */
static int mg_top_check_key(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = mg_prepare(db, "top", "SELECT 1 FROM span_attrs WHERE key = ?1 LIMIT 1");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (found)
		return 0;
	fprintf(stderr, "spanprof top: no span has attribute \"%s\"", key);
	st = mg_prepare(db, "top", "SELECT DISTINCT key FROM span_attrs ORDER BY key LIMIT 31");
	int n = 0;
	while (st && sqlite3_step(st) == SQLITE_ROW)
		if (n++ < 30)
			fprintf(stderr, "%s%s", n > 1 ? ", " : "; the keys are: ",
			        (const char *)sqlite3_column_text(st, 0));
	fprintf(stderr, "%s\n", n > 30 ? ", ..." : n ? "" : " (no span has attributes)");
	sqlite3_finalize(st);
	return -1;
}

/* SQLite's progress callback during the selection: redraws the progress
 * line (only on a terminal, only after a second). Never interrupts. */
static int mg_top_progress(void *arg)
{
	mg_progress *p = arg;
	mg_progress_update(p, "top: selecting samples... %.0f s", mg_now_s() - p->t0_s);
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
		fprintf(stderr, "spanprof top: expected DB [--span NAME] [--by KEY] [--groups N]"
		                " [--sort self|total] [-n N] (try 'spanprof top --help')\n");
		return 2;
	}
	sqlite3 *db = mg_db_open_existing("top", o.db, 1);
	if (!db)
		return 1;
	/* A 64 MiB page cache (SQLite's default is 2 MiB): the selection walks
	 * samples by span through samples_span, and with the default cache most
	 * page reads went back to the kernel. 10M-event bench database, --span
	 * parse --by kind: 5.3 s wall with it, 6.9-7.4 s (sys 0.9 -> 3.0-3.4 s)
	 * without; peak RSS 73 MiB vs 8 MiB (docs/performance.md, Merge). */
	if (mg_exec(db, "top", "PRAGMA cache_size=-65536;")) {
		sqlite3_close(db);
		return 1;
	}
	if (o.by && mg_top_check_key(db, o.by)) {
		sqlite3_close(db);
		return 2;
	}
	mg_progress prog; /* the selection is the long part; the report prints */
	mg_progress_init(&prog);
	sqlite3_progress_handler(db, 1 << 16, mg_top_progress, &prog);
	int rc = mg_top_select(db, &o);
	sqlite3_progress_handler(db, 0, NULL, NULL);
	mg_progress_done(&prog);
	rc = rc || mg_top_report(db, &o) ? 1 : 0;
	sqlite3_close(db);
	return rc;
}
