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
 * selection reads the documented tables set-wise (the spans of --span, the
 * --by values) into arrays indexed by span id, then the per-stack sums
 * are added up in C while the samples stream by (mg_top_select). On a terminal, a selection over a
 * second shows a progress line, cleared before the report prints.
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
#include "mg_grow.h"
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
	if (MG_GROW_ONE(a->cells, a->cap, a->len))
		return -1;
	a->cells[a->len] = (mg_top_cell){g, stack, 1, w};
	return mg_hash_put(&a->index, (uint64_t)g, (uint64_t)stack, a->len++) ? -1 : 0;
}

/* Span id -> slot of the per-span arrays. merge hands out dense span ids
 * (docs/schema.md, "Ids"): the slot is the id. A database of an older
 * merge (random 63-bit ids) maps them through a hash map. */
typedef struct mg_top_ids {
	int64_t n; /* slots */
	int sparse;
	mg_hash map;
} mg_top_ids;

static int64_t mg_top_slot(const mg_top_ids *t, int64_t id)
{
	if (!t->sparse)
		return id >= 0 && id < t->n ? id : -1;
	const uint64_t *v = mg_hash_get(&t->map, (uint64_t)id, 0);
	return v ? (int64_t)*v : -1;
}

static int mg_top_ids_init(sqlite3 *db, mg_top_ids *t)
{
	sqlite3_stmt *st = mg_prepare(db, "SELECT coalesce(max(span_id), 0), count(*),"
	                                  " coalesce(min(span_id), 0) FROM spans");
	if (!st || sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return -1;
	}
	int64_t max = sqlite3_column_int64(st, 0), n = sqlite3_column_int64(st, 1);
	t->sparse = sqlite3_column_int64(st, 2) < 0 || max > 2 * n + 1024;
	t->n = t->sparse ? n : max + 1;
	sqlite3_finalize(st);
	if (!t->sparse)
		return 0;
	st = mg_prepare(db, "SELECT span_id FROM spans");
	int rc;
	uint64_t slot = 0;
	while (st && (rc = sqlite3_step(st)) == SQLITE_ROW)
		if (mg_hash_put(&t->map, (uint64_t)sqlite3_column_int64(st, 0), 0, slot++)) {
			sqlite3_finalize(st);
			return -1;
		}
	return st ? mg_top_done(db, st, rc) : -1;
}

/* Distinct --by values: group g (from 1) is vals[g - 1]; group 0 is NULL
 * (the key is not set, or the sample is outside every span). */
typedef struct mg_top_groups {
	mg_hash index; /* two hashes of (type, bytes) -> g */
	sqlite3_value **vals;
	size_t len, cap;
} mg_top_groups;

static uint32_t mg_top_group_of(mg_top_groups *gs, sqlite3_value *v)
{
	int type = sqlite3_value_type(v);
	if (type == SQLITE_NULL)
		return 0;
	const unsigned char *p =
	    type == SQLITE_BLOB ? sqlite3_value_blob(v) : sqlite3_value_text(v);
	int n = sqlite3_value_bytes(v);
	/* the type is in the seed: the text "1" and the blob x'31' differ */
	mg_hash128 h = mg_hash128_bytes(p, (size_t)n, (uint64_t)type << 32 | (uint32_t)n);
	uint64_t a = h.h1, b = h.h2;
	uint64_t *hit = mg_hash_get(&gs->index, a, b);
	if (hit)
		return (uint32_t)*hit;
	if (MG_GROW_ONE(gs->vals, gs->cap, gs->len))
		return UINT32_MAX;
	if (!(gs->vals[gs->len] = sqlite3_value_dup(v)))
		return UINT32_MAX;
	gs->len++;
	return mg_hash_put(&gs->index, a, b, gs->len) ? UINT32_MAX : (uint32_t)gs->len;
}

static void mg_top_groups_free(mg_top_groups *gs)
{
	for (size_t i = 0; i < gs->len; i++)
		sqlite3_value_free(gs->vals[i]);
	free(gs->vals);
	mg_hash_free(&gs->index);
}

/* Runs st (its parameter 1 bound to text) row by row through fn; 0 or -1. */
static int mg_top_rows(sqlite3 *db, sqlite3_stmt *st, const char *text,
                       int (*fn)(void *ctx, sqlite3_stmt *st), void *ctx)
{
	if (!st)
		return -1;
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(ctx, st)) {
			fprintf(stderr, "spanprof top: out of memory\n");
			sqlite3_finalize(st);
			return -1;
		}
	return mg_top_done(db, st, rc);
}

/* Per span slot: named[] (--span: the span is named NAME) and val[]
 * (--by: the group + 1 of its own KEY value), then, from span_ancestors,
 * sel[] (--span: the span is NAME's or below one) and found[] (--by: the
 * group + 1 of the nearest value, on itself or an ancestor). */
typedef struct mg_top_ctx {
	mg_top_ids ids;
	uint8_t *named, *sel;
	uint32_t *val, *found;
	mg_top_groups groups;
	mg_top_agg agg;
	const mg_top_opts *o;
} mg_top_ctx;

static int mg_top_on_named(void *arg, sqlite3_stmt *st)
{
	mg_top_ctx *c = arg;
	int64_t i = mg_top_slot(&c->ids, sqlite3_column_int64(st, 0));
	if (i >= 0)
		c->named[i] = 1;
	return 0;
}

/* A KEY value of a span; of two on one span the first set counts (as a
 * lookup through span_attrs_span found it). */
static int mg_top_on_value(void *arg, sqlite3_stmt *st)
{
	mg_top_ctx *c = arg;
	int64_t i = mg_top_slot(&c->ids, sqlite3_column_int64(st, 0));
	if (i < 0 || c->val[i])
		return 0;
	uint32_t g = mg_top_group_of(&c->groups, sqlite3_column_value(st, 1));
	if (g == UINT32_MAX)
		return -1;
	c->val[i] = g + 1;
	return 0;
}

/* A span_ancestors row (span, ancestor), in (span, distance) order: so the
 * first ancestor with a value is the nearest. */
static int mg_top_on_ancestor(void *arg, sqlite3_stmt *st)
{
	mg_top_ctx *c = arg;
	int64_t i = mg_top_slot(&c->ids, sqlite3_column_int64(st, 0));
	int64_t a = mg_top_slot(&c->ids, sqlite3_column_int64(st, 1));
	if (i < 0 || a < 0)
		return 0;
	if (c->named && c->named[a])
		c->sel[i] = 1;
	if (c->val && c->val[a] && !c->found[i])
		c->found[i] = c->val[a];
	return 0;
}

/* A sample: added to its span's group, if selected. Group 0 is NULL: the
 * key not set, or (without --span) a sample outside every span. */
static int mg_top_on_sample(void *arg, sqlite3_stmt *st)
{
	mg_top_ctx *c = arg;
	int64_t g = 0;
	if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		if (c->o->span)
			return 0;
	} else if (c->sel || c->found) {
		int64_t i = mg_top_slot(&c->ids, sqlite3_column_int64(st, 0));
		if (c->sel && (i < 0 || !c->sel[i]))
			return 0;
		g = c->found && i >= 0 && c->found[i] ? c->found[i] - 1 : 0;
	}
	return mg_top_add(&c->agg, g, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
}

/* Writes the map into TEMP table sel(grp, stack_id, n, w). */
static int mg_top_store(sqlite3 *db, const mg_top_ctx *c)
{
	sqlite3_stmt *st = mg_prepare(db, "CREATE TEMP TABLE sel(grp, stack_id, n, w)");
	if (!st || mg_top_done(db, st, sqlite3_step(st)))
		return -1;
	st = mg_prepare(db, "INSERT INTO sel VALUES(?1, ?2, ?3, ?4)");
	if (!st)
		return -1;
	int rc = SQLITE_DONE;
	for (size_t i = 0; i < c->agg.len && rc == SQLITE_DONE; i++) {
		const mg_top_cell *cell = &c->agg.cells[i];
		if (cell->g)
			sqlite3_bind_value(st, 1, c->groups.vals[cell->g - 1]);
		else
			sqlite3_bind_null(st, 1);
		if (cell->stack)
			sqlite3_bind_int64(st, 2, cell->stack);
		else
			sqlite3_bind_null(st, 2);
		sqlite3_bind_int64(st, 3, cell->n);
		sqlite3_bind_int64(st, 4, cell->w);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
	}
	return mg_top_done(db, st, rc);
}

/* The selection, aggregated so that the reports work on few rows: per
 * (group value, stack) the sample count n and weight w, in TEMP table sel.
 * Set-wise, not per span (a lookup per span through span_ancestors cost
 * 2.5 s at 10M events): the spans named NAME and the KEY values go into
 * arrays by span id, one ordered scan of span_ancestors carries them down
 * to the spans below, then one scan of samples adds each up in C (SQLite
 * has no hash aggregate: a GROUP BY sorted every sample).
 * Without --span, samples outside any span join the group NULL. Also each
 * function's smallest depth in the stack trie (0 = outermost frame), for
 * ordering ties. */
static int mg_top_select(sqlite3 *db, const mg_top_opts *o)
{
	mg_top_ctx c = {.o = o};
	int err = mg_top_exec(db, o,
	                      "CREATE TEMP TABLE fdepth(func TEXT PRIMARY KEY, d INTEGER);"
	                      "INSERT INTO fdepth SELECT f.func, min(s.depth) FROM stacks s"
	                      " JOIN frames f ON f.frame_id = s.frame_id WHERE f.func IS NOT NULL"
	                      " GROUP BY f.func;");
	if (!err && (o->span || o->by)) {
		err = mg_top_ids_init(db, &c.ids);
		size_t n = (size_t)c.ids.n + 1;
		if (!err && o->span)
			err = !(c.named = calloc(n, 1)) || !(c.sel = calloc(n, 1));
		if (!err && o->by)
			err = !(c.val = calloc(n, sizeof *c.val)) ||
			      !(c.found = calloc(n, sizeof *c.found));
		if (!err && o->span)
			err = mg_top_rows(
			    db, mg_prepare(db, "SELECT span_id FROM spans WHERE name = ?1"),
			    o->span, mg_top_on_named, &c);
		if (!err && o->by)
			err = mg_top_rows(
			    db,
			    mg_prepare(db, "SELECT span_id, value FROM span_attrs WHERE key = ?1"),
			    o->by, mg_top_on_value, &c);
		if (!err)
			err = mg_top_rows(
			    db,
			    mg_prepare(db, "SELECT span_id, ancestor_id FROM span_ancestors"
			                   " ORDER BY span_id, distance"),
			    NULL, mg_top_on_ancestor, &c);
	}
	if (!err)
		err = mg_top_rows(
		    db, mg_prepare(db, "SELECT span_id, stack_id, weight_ns FROM samples"), NULL,
		    mg_top_on_sample, &c);
	err = err || mg_top_store(db, &c);
	free(c.named);
	free(c.sel);
	free(c.val);
	free(c.found);
	mg_hash_free(&c.ids.map);
	mg_top_groups_free(&c.groups);
	mg_hash_free(&c.agg.index);
	free(c.agg.cells);
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
	sqlite3_stmt *st = mg_prepare(db, sql);
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
	if (mg_loss_read(db, &loss))
		return -1;
	const char *missing = mg_loss_any(&loss) ? mg_loss_text(&loss, text, sizeof text) : NULL;
	sqlite3_stmt *st =
	    mg_prepare(db, "SELECT grp, sum(n), sum(w), (SELECT sum(w) FROM sel) FROM sel"
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
	sqlite3_stmt *st = mg_prepare(db, "SELECT 1 FROM span_attrs WHERE key = ?1 LIMIT 1");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (found)
		return 0;
	fprintf(stderr, "spanprof top: no span has attribute \"%s\"", key);
	st = mg_prepare(db, "SELECT DISTINCT key FROM span_attrs ORDER BY key LIMIT 31");
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

int mg_cmd_top(int argc, char **argv)
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
	sqlite3 *db = mg_db_open(o.db, MG_DB_SPANPROF);
	if (!db)
		return 1;
	/* A 64 MiB page cache (SQLite's default is 2 MiB): the selection walks
	 * samples by span through samples_span, and with the default cache most
	 * page reads went back to the kernel. 10M-event bench database, --span
	 * parse --by kind: 5.3 s wall with it, 6.9-7.4 s (sys 0.9 -> 3.0-3.4 s)
	 * without; peak RSS 73 MiB vs 8 MiB (docs/performance.md, Merge). */
	if (mg_exec(db, "PRAGMA cache_size=-65536;")) {
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
