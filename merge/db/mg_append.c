/*
 * mg_append.c - 'merge --append': adds a database that merge just built
 * from new logs (attached as "new") to a living one, without reloading
 * the logs merged before.
 *
 * Why a second database and a copy rather than loading into the old one:
 * merge's ids (log, frame, module, stack) are handed out in memory by the
 * load, symbolization and stack-trie code; built apart, the new rows only
 * need their ids shifted past the old maximum, and a failed append leaves
 * the old database untouched (one transaction). The price: frames and
 * stack-trie nodes are not shared with earlier appends (a function gets a
 * frame row per append); queries group by function, so they do not care.
 *
 * Spans: a span cut where its segment ended (spans.cut = 3) is joined with
 * the row of the segment that continues it, as within one merge; the
 * CONTINUED attributes of such a span were already left out by the load,
 * which saw the old database as "prev". Processes: one row per process,
 * whatever the number of segments or appends.
 *
 * Columns are copied by name, as the database's own tables list them, so
 * a column that merge adds later is carried without a change here; only
 * the id columns are shifted.
 *
 * Threading: one connection, the caller's. Not signal-safe.
 */
#include "mg_append.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_db.h"
#include "mg_err.h"
#include "spanprof.h"

typedef struct mg_shift {
	const char *column, *expr; /* expr uses n.<column> */
} mg_shift;

/* The offsets: max id of each kind in the old database. */
typedef struct mg_offsets {
	int64_t log, frame, module, stack;
} mg_offsets;

/* "INSERT INTO t(cols) SELECT exprs FROM new.t n <tail>", columns from the
 * new table's own list; shifted ones take their expression. */
static int mg_copy_table(sqlite3 *db, const char *table, const mg_shift *shifts, size_t n_shifts,
                         const char *tail)
{
	char sql[8192], cols[2048] = "", exprs[4096] = "";
	snprintf(sql, sizeof sql, "PRAGMA new.table_info(%s)", table);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *col = (const char *)sqlite3_column_text(st, 1);
		const char *expr = NULL;
		for (size_t i = 0; i < n_shifts; i++)
			if (!strcmp(shifts[i].column, col))
				expr = shifts[i].expr;
		size_t lc = strlen(cols), le = strlen(exprs);
		snprintf(cols + lc, sizeof cols - lc, "%s\"%s\"", lc ? "," : "", col);
		if (expr)
			snprintf(exprs + le, sizeof exprs - le, "%s%s", le ? "," : "", expr);
		else
			snprintf(exprs + le, sizeof exprs - le, "%sn.\"%s\"", le ? "," : "", col);
	}
	sqlite3_finalize(st);
	if (!cols[0])
		return 0; /* no such table in the new database */
	snprintf(sql, sizeof sql, "INSERT INTO main.%s(%s) SELECT %s FROM new.%s n %s", table, cols,
	         exprs, table, tail ? tail : "");
	return mg_exec(db, sql);
}

static int mg_copy_ids(sqlite3 *db, const mg_offsets *o)
{
	char log[64], frame[64], module[64], stack[64], stack_parent[96];
	snprintf(log, sizeof log, "n.log_id + %" PRId64, o->log);
	snprintf(frame, sizeof frame, "n.frame_id + %" PRId64, o->frame);
	snprintf(module, sizeof module, "n.module_id + %" PRId64, o->module);
	snprintf(stack, sizeof stack, "n.stack_id + %" PRId64, o->stack);
	snprintf(stack_parent, sizeof stack_parent, "n.parent_id + %" PRId64, o->stack);
	const mg_shift logs[] = {{"log_id", log}};
	const mg_shift frames[] = {{"frame_id", frame}};
	const mg_shift modules[] = {{"module_id", module}};
	const mg_shift stacks[] = {
	    {"stack_id", stack}, {"parent_id", stack_parent}, {"frame_id", frame}};
	const mg_shift stack_only[] = {{"stack_id", stack}};
	const mg_shift samples[] = {{"sample_id", "NULL"}, {"stack_id", stack}};
	return mg_copy_table(db, "logs", logs, 1, NULL) ||
	       mg_copy_table(db, "damage", logs, 1, NULL) ||
	       mg_copy_table(db, "frames", frames, 1, NULL) ||
	       mg_copy_table(db, "modules", modules, 1, NULL) ||
	       mg_copy_table(db, "mappings", modules, 1, NULL) ||
	       mg_copy_table(db, "stacks", stacks, 3, NULL) ||
	       mg_copy_table(db, "stack_funcs", stack_only, 1, NULL) ||
	       mg_copy_table(db, "samples", samples, 2, "ORDER BY n.sample_id");
}

/* The tables whose rows meet old ones: one process row per process, a
 * thread's name and end, spans joined across segments, counts kept at
 * their maximum (they are cumulative). */
static int mg_copy_merging(sqlite3 *db, const mg_offsets *o)
{
	char log[64];
	snprintf(log, sizeof log, "n.log_id + %" PRId64, o->log);
	const mg_shift proc[] = {{"log_id", log}};
	return mg_exec(db,
	               "UPDATE main.processes SET end_ns = max(coalesce(end_ns, 0),"
	               " (SELECT max(n.end_ns) FROM new.processes n WHERE n.pid = processes.pid"
	               " AND n.start_ns = processes.start_ns AND n.host IS processes.host))"
	               " WHERE EXISTS (SELECT 1 FROM new.processes n WHERE n.pid = processes.pid"
	               " AND n.start_ns = processes.start_ns AND n.host IS processes.host)") ||
	       mg_copy_table(db, "processes", proc, 1,
	                     "WHERE NOT EXISTS (SELECT 1 FROM main.processes p WHERE p.pid = n.pid"
	                     " AND p.start_ns = n.start_ns AND p.host IS n.host)") ||
	       mg_copy_table(db, "threads", NULL, 0,
	                     "WHERE 1 ON CONFLICT(pid, tid) DO UPDATE SET name = CASE WHEN"
	                     " excluded.name <> '' THEN excluded.name ELSE threads.name END,"
	                     " end_ns = coalesce(excluded.end_ns, threads.end_ns)") ||
	       mg_copy_table(db, "spans", NULL, 0, "WHERE 1 " MG_SPAN_UPSERT_SQL) ||
	       mg_copy_table(db, "span_attrs", NULL, 0, NULL) ||
	       mg_exec(db,
	               "INSERT OR IGNORE INTO main.span_ancestors SELECT * FROM new.span_ancestors;"
	               "INSERT OR REPLACE INTO main.sampler SELECT * FROM new.sampler;") ||
	       mg_copy_table(db, "lost", NULL, 0,
	                     "WHERE 1 ON CONFLICT(pid, tid, kind) DO UPDATE SET"
	                     " count = max(count, excluded.count)") ||
	       mg_copy_table(db, "dropped", NULL, 0,
	                     "WHERE 1 ON CONFLICT(pid, tid, name) DO UPDATE SET"
	                     " count = max(count, excluded.count)");
}

/* merge's counts in meta (mg_loss.h): the new events add up; spans cut
 * are counted again, since a join may have healed some. */
static int mg_copy_meta(sqlite3 *db)
{
	return mg_exec(db, "UPDATE main.meta SET value = value + coalesce((SELECT n.value FROM"
	                   " new.meta n WHERE n.key = meta.key), 0)"
	                   " WHERE key IN ('span_events', 'samples');"
	                   "UPDATE main.meta SET value = (SELECT count(*) FROM main.spans"
	                   " WHERE cut IN (1, 2)) WHERE key = 'spans_cut';");
}

/* Spans whose parent is in another append. The new database was built
 * without the living one, so there such a span was a root: depth 0, only
 * its own ancestor row, and its descendants' rows stop at it. Once
 * mg_db_resolve has found its parent, each span below it (itself
 * included) gets the parent's ancestor rows, one level further each;
 * repeated while rows are added, for a chain of such spans. Which spans:
 * those without a parent before the resolve, with one after. */
static const char mg_late_before_sql[] =
    "CREATE TEMP TABLE mg_late(span_id INTEGER PRIMARY KEY);"
    "INSERT INTO mg_late SELECT span_id FROM main.spans"
    " WHERE parent_id IS NULL AND recorded_parent_id IS NOT NULL;";

static const char mg_late_after_sql[] =
    "DELETE FROM mg_late WHERE (SELECT parent_id FROM main.spans s"
    " WHERE s.span_id = mg_late.span_id) IS NULL;";

static const char mg_late_rows_sql[] =
    "INSERT OR IGNORE INTO main.span_ancestors(span_id, ancestor_id, distance)"
    " SELECT d.span_id, pa.ancestor_id, d.distance + 1 + pa.distance FROM mg_late l"
    " JOIN main.span_ancestors d ON d.ancestor_id = l.span_id"
    " JOIN main.spans f ON f.span_id = l.span_id"
    " JOIN main.span_ancestors pa ON pa.span_id = f.parent_id;";

static const char mg_late_depth_sql[] =
    "UPDATE main.spans SET depth = (SELECT max(distance) FROM main.span_ancestors a"
    " WHERE a.span_id = spans.span_id) WHERE span_id IN (SELECT d.span_id FROM mg_late l"
    " JOIN main.span_ancestors d ON d.ancestor_id = l.span_id);"
    "DROP TABLE mg_late;";

static int mg_resolve_late_parents(sqlite3 *db)
{
	if (mg_exec(db, mg_late_before_sql) || mg_db_resolve(db) || mg_exec(db, mg_late_after_sql))
		return -1;
	for (int pass = 0; pass < 1000; pass++) {
		if (mg_exec(db, mg_late_rows_sql))
			return -1;
		if (sqlite3_changes(db) == 0)
			break;
	}
	return mg_exec(db, mg_late_depth_sql);
}

int mg_append_copy(sqlite3 *db)
{
	mg_offsets o = {
	    mg_db_int(db, "SELECT coalesce(max(log_id), 0) FROM main.logs"),
	    mg_db_int(db, "SELECT coalesce(max(frame_id), 0) FROM main.frames"),
	    mg_db_int(db, "SELECT coalesce(max(module_id), 0) FROM main.modules"),
	    mg_db_int(db, "SELECT coalesce(max(stack_id), 0) FROM main.stacks"),
	};
	if (o.log < 0 || o.frame < 0 || o.module < 0 || o.stack < 0) {
		mg_err_set(-SP_EIO, "database error: %s", sqlite3_errmsg(db));
		return -1;
	}
	/* new spans' ids start past the living database's (mg_merge_prepare) */
	return mg_copy_merging(db, &o) || mg_copy_ids(db, &o) || mg_copy_meta(db) ||
	       mg_resolve_late_parents(db) || mg_db_walk_parents(db) || mg_db_repair_samples(db);
}

int mg_append_prune(sqlite3 *db, uint64_t since_ns)
{
	char sql[1024];
	snprintf(sql, sizeof sql,
	         "DELETE FROM samples WHERE ts_ns < %" PRIu64 ";"
	         "DELETE FROM spans WHERE end_ns < %" PRIu64 ";"
	         "DELETE FROM span_attrs WHERE span_id NOT IN (SELECT span_id FROM spans);"
	         "DELETE FROM span_ancestors WHERE span_id NOT IN (SELECT span_id FROM spans);",
	         since_ns, since_ns);
	return mg_exec(db, sql);
}
