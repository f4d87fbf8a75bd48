/*
 * mg_db.c - schema of the merged database (see docs/schema.md).
 *
 * The contract tables of DESIGN.md come first and keep their names and
 * columns; merge adds columns at the end and tables of its own. Secondary
 * indexes are created after the bulk load because building an index from a
 * sort of the finished table is much faster than maintaining it row by row.
 *
 * Threading: uses only the connection it is given.
 */
#include "mg_db.h"
#include "mg_stackfuncs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "mg_err.h"
#include "spanprof.h"

static const char mg_tables_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
    "CREATE TABLE logs(log_id INTEGER PRIMARY KEY, path TEXT, pid INTEGER,"
    " records INTEGER, frames INTEGER, bytes INTEGER, status TEXT);"
    "CREATE TABLE damage(log_id INTEGER, path TEXT, offset INTEGER, reason TEXT,"
    " end_offset INTEGER);"
    "CREATE TABLE processes(pid INTEGER, host TEXT, exe TEXT, cmdline TEXT,"
    " start_ns INTEGER, ppid INTEGER, traceparent TEXT, clock TEXT, log_id INTEGER,"
    " end_ns INTEGER);"
    "CREATE TABLE threads(tid INTEGER, pid INTEGER, name TEXT, start_ns INTEGER,"
    " end_ns INTEGER, cpu_ns INTEGER, signal_blocked INTEGER, PRIMARY KEY(pid, tid));"
    /* span_id: merge's dense key, handed out in BEGIN order, so that spans,
     * span_ancestors and the samples' span index are written at their
     * right edge; recorded_id: the runtime's id (docs/schema.md, "Ids"). */
    "CREATE TABLE spans(span_id INTEGER PRIMARY KEY, parent_id INTEGER, trace_id TEXT,"
    " pid INTEGER, tid INTEGER, name TEXT, start_ns INTEGER, end_ns INTEGER,"
    " dur_ns INTEGER, depth INTEGER, flags INTEGER, end_tid INTEGER, cut INTEGER,"
    " recorded_id INTEGER, recorded_parent_id INTEGER);"
    "CREATE TABLE span_attrs(span_id INTEGER, key TEXT, value, truncated INTEGER,"
    " recorded_span_id INTEGER);"
    "CREATE TABLE samples(sample_id INTEGER PRIMARY KEY, ts_ns INTEGER, pid INTEGER,"
    " tid INTEGER, span_id INTEGER, stack_id INTEGER, weight_ns INTEGER);"
    "CREATE TABLE stacks(stack_id INTEGER PRIMARY KEY, parent_id INTEGER,"
    " frame_id INTEGER, depth INTEGER);"
    "CREATE TABLE frames(frame_id INTEGER PRIMARY KEY, func TEXT, file TEXT,"
    " line INTEGER, module TEXT, rel_pc INTEGER, inlined INTEGER);"
    "CREATE TABLE modules(module_id INTEGER PRIMARY KEY, path TEXT, build_id TEXT,"
    " file_build_id TEXT, status TEXT);"
    "CREATE TABLE mappings(pid INTEGER, module_id INTEGER, start INTEGER, end INTEGER,"
    " file_offset INTEGER, ts_ns INTEGER);"
    "CREATE TABLE sampler(pid INTEGER PRIMARY KEY, mechanism TEXT, mode TEXT,"
    " signo INTEGER, requested_hz INTEGER, achieved_hz INTEGER, user_only INTEGER);"
    "CREATE TABLE lost(pid INTEGER, tid INTEGER, kind TEXT, count INTEGER,"
    " PRIMARY KEY(pid, tid, kind));"
    "CREATE TABLE dropped(pid INTEGER, tid INTEGER, name TEXT, count INTEGER,"
    " PRIMARY KEY(pid, tid, name));"
    /* Clustered by (span_id, distance): one B-tree fewer than a rowid table
     * with that index, and merge writes it in sorted batches. */
    "CREATE TABLE span_ancestors(span_id INTEGER, ancestor_id INTEGER, distance INTEGER,"
    " PRIMARY KEY(span_id, distance)) WITHOUT ROWID;"
    "CREATE TABLE stack_funcs(stack_id INTEGER, func TEXT);"
    /* Samples per span name and stack, inclusive (mg_spanstacks.h). */
    "CREATE TABLE span_name_stacks(span_name TEXT, stack_id INTEGER, samples INTEGER,"
    " weight_ns INTEGER);"
    /* Samples per stack, and per inherited attribute value and stack
     * (mg_spanstacks.h). */
    "CREATE TABLE stack_samples(stack_id INTEGER PRIMARY KEY, samples INTEGER,"
    " weight_ns INTEGER);"
    "CREATE TABLE span_attr_stacks(key TEXT, value, stack_id INTEGER, samples INTEGER,"
    " weight_ns INTEGER);";

/* Ancestors include the span itself (distance 0). Spans whose whole parent
 * chain was open in their own log got their rows and depth during the load;
 * the rest (depth NULL) are walked here. The walk stops at a parent
 * id that is not in the database (a remote parent that was not merged) and
 * at 1000 levels (a cycle in damaged data). Skipped when the load saw no
 * such span (two full scans of spans saved). */
static const char mg_walk_sql[] =
    "INSERT OR IGNORE INTO span_ancestors WITH RECURSIVE a(span_id, ancestor_id, distance) AS ("
    " SELECT span_id, span_id, 0 FROM spans WHERE depth IS NULL"
    " UNION ALL SELECT a.span_id, p.span_id, a.distance + 1 FROM a"
    " JOIN spans s ON s.span_id = a.ancestor_id JOIN spans p ON p.span_id = s.parent_id"
    " WHERE a.distance < 1000)"
    " SELECT span_id, ancestor_id, distance FROM a;"
    "UPDATE spans SET depth = (SELECT max(distance) FROM span_ancestors a"
    " WHERE a.span_id = spans.span_id) WHERE depth IS NULL;";

/* See mg_db_resolve. spans.recorded_id has no index (a sort of random
 * 63-bit keys: 1.3 s of a 9.5 s merge at 10M events), so the recorded ids
 * wanted are collected first and the spans holding them found in one scan.
 * A parent in the same process first (a recorded id is random and 63
 * bits: two spans share one only when a log was merged twice), then the
 * first span. Run only when the load left something to resolve. */
static const char mg_resolve_sql[] =
    "CREATE TEMP TABLE mg_want(rid INTEGER PRIMARY KEY);"
    "INSERT OR IGNORE INTO mg_want SELECT recorded_parent_id FROM spans"
    " WHERE parent_id IS NULL AND recorded_parent_id IS NOT NULL;"
    "INSERT OR IGNORE INTO mg_want SELECT recorded_span_id FROM span_attrs"
    " WHERE span_id IS NULL AND recorded_span_id IS NOT NULL;"
    "CREATE TEMP TABLE mg_found(rid INTEGER, pid INTEGER, span_id INTEGER,"
    " PRIMARY KEY(rid, pid, span_id)) WITHOUT ROWID;"
    "INSERT INTO mg_found SELECT recorded_id, pid, span_id FROM spans"
    " WHERE recorded_id IN mg_want;"
    "UPDATE spans SET parent_id = coalesce((SELECT min(f.span_id) FROM mg_found f"
    " WHERE f.rid = spans.recorded_parent_id AND f.pid = spans.pid"
    " AND f.span_id <> spans.span_id), (SELECT min(f.span_id) FROM mg_found f"
    " WHERE f.rid = spans.recorded_parent_id AND f.span_id <> spans.span_id))"
    " WHERE parent_id IS NULL AND recorded_parent_id IS NOT NULL;"
    "UPDATE span_attrs SET span_id = (SELECT min(f.span_id) FROM mg_found f"
    " WHERE f.rid = span_attrs.recorded_span_id)"
    " WHERE span_id IS NULL AND recorded_span_id IS NOT NULL;"
    "DROP TABLE mg_want; DROP TABLE mg_found;";

static const char mg_index_sql[] =
    /* No index on spans(parent_id) nor spans(recorded_id): a span's
     * children are its span_ancestors rows at distance 1 (indexed by
     * ancestor_id), and each index cost 5-14% of a merge (docs/schema.md,
     * "Indexes"). */
    "CREATE INDEX samples_span ON samples(span_id);"
    "CREATE INDEX spans_name ON spans(name);"
    "CREATE INDEX span_attrs_span ON span_attrs(span_id, key);"
    "CREATE INDEX span_attrs_key ON span_attrs(key, value);"
    "CREATE INDEX span_ancestors_ancestor ON span_ancestors(ancestor_id);"
    "CREATE INDEX stacks_parent ON stacks(parent_id);"
    "CREATE INDEX frames_func ON frames(func);"
    "CREATE INDEX stack_funcs_stack ON stack_funcs(stack_id);"
    "PRAGMA analysis_limit=1000; ANALYZE;";

static const char mg_views_sql[] =
    /* Inclusive attribution: one row per sample and per span enclosing it
     * (its innermost span at distance 0, then the ancestors). */
    "CREATE VIEW sample_spans AS SELECT s.sample_id, a.ancestor_id AS span_id,"
    " a.distance, s.ts_ns, s.pid, s.tid, s.stack_id, s.weight_ns"
    " FROM samples s JOIN span_ancestors a ON a.span_id = s.span_id;"
    /* Attributes a span sees: its own and its ancestors', nearest wins. */
    "CREATE VIEW span_attrs_inherited AS SELECT span_id, key, value, from_span_id,"
    " distance FROM (SELECT a.span_id, sa.key, sa.value, a.ancestor_id AS from_span_id,"
    " a.distance, row_number() OVER (PARTITION BY a.span_id, sa.key"
    " ORDER BY a.distance) AS rn"
    " FROM span_ancestors a JOIN span_attrs sa ON sa.span_id = a.ancestor_id)"
    " WHERE rn = 1;"
    /* Samples with the attributes of their span and its ancestors. */
    "CREATE VIEW sample_attrs AS SELECT s.sample_id, s.span_id, i.key, i.value,"
    " i.from_span_id, i.distance, s.ts_ns, s.stack_id, s.weight_ns"
    " FROM samples s JOIN span_attrs_inherited i ON i.span_id = s.span_id;"
    /* Each sample with its leaf (innermost) frame. */
    "CREATE VIEW sample_leaf AS SELECT s.sample_id, s.ts_ns, s.pid, s.tid, s.span_id,"
    " s.stack_id, s.weight_ns, f.frame_id, f.func, f.file, f.line, f.module"
    " FROM samples s JOIN stacks st ON st.stack_id = s.stack_id"
    " JOIN frames f ON f.frame_id = st.frame_id;"
    /* Self and total time per function, overall. Merge counts the samples
     * per stack (stack_samples), so the function join sees distinct
     * stacks, not samples. */
    "CREATE VIEW func_time AS SELECT sf.func,"
    " sum(CASE WHEN lf.func IS sf.func THEN ps.samples ELSE 0 END) AS self_samples,"
    " sum(CASE WHEN lf.func IS sf.func THEN ps.weight_ns ELSE 0 END) AS self_ns,"
    " sum(ps.samples) AS total_samples, sum(ps.weight_ns) AS total_ns"
    " FROM stack_samples ps JOIN stack_funcs sf ON sf.stack_id = ps.stack_id"
    " JOIN stacks st ON st.stack_id = ps.stack_id JOIN frames lf ON lf.frame_id = st.frame_id"
    " GROUP BY sf.func;"
    /* Self and total time per function per span name, inclusive: a sample
     * counts once for every distinct span name enclosing it. Merge sums
     * the samples per (name, stack) into span_name_stacks; here they are
     * joined with the functions of each stack. */
    "CREATE VIEW span_func_time AS SELECT ns.span_name, sf.func,"
    " sum(CASE WHEN lf.func IS sf.func THEN ns.samples ELSE 0 END) AS self_samples,"
    " sum(CASE WHEN lf.func IS sf.func THEN ns.weight_ns ELSE 0 END) AS self_ns,"
    " sum(ns.samples) AS total_samples, sum(ns.weight_ns) AS total_ns"
    " FROM span_name_stacks ns JOIN stack_funcs sf ON sf.stack_id = ns.stack_id"
    " JOIN stacks st ON st.stack_id = ns.stack_id JOIN frames lf ON lf.frame_id = st.frame_id"
    " GROUP BY ns.span_name, sf.func;"
    /* Per span: its own (exclusive) samples and all samples inside it. */
    "CREATE VIEW span_time AS SELECT sp.span_id, sp.name, sp.dur_ns,"
    " (SELECT count(*) FROM samples s WHERE s.span_id = sp.span_id) AS self_samples,"
    " (SELECT count(*) FROM sample_spans ss WHERE ss.span_id = sp.span_id) AS total_samples"
    " FROM spans sp;";

int mg_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	mg_err_set(-SP_EIO, "database error: %s", msg ? msg : "?");
	sqlite3_free(msg);
	return -1;
}

sqlite3_stmt *mg_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
		return st;
	mg_err_set(-SP_EIO, "database error: %s", sqlite3_errmsg(db));
	return NULL;
}

int mg_db_create_tables(sqlite3 *db)
{
	char meta[256];
	if (mg_exec(db, mg_tables_sql))
		return -1;
	snprintf(meta, sizeof meta,
	         "INSERT INTO meta VALUES('schema_version', %d);"
	         "INSERT INTO meta VALUES('creator', 'spanprof merge');",
	         MG_SCHEMA_VERSION);
	return mg_exec(db, meta);
}

/* Page cache for the derive and index phases: smaller than the load's
 * (cmd_merge.c, 96 MiB). SQLite sizes each index sort's in-memory runs by
 * cache_size; 32 MiB runs sort faster (fewer cache misses in the merge of
 * random span ids) than 96 MiB ones, and peak memory drops (figures in
 * docs/performance.md, Merge, third round). */
static const char mg_post_load_cache_sql[] = "PRAGMA cache_size=-32768;";

int mg_db_walk_parents(sqlite3 *db)
{
	return mg_exec(db, mg_walk_sql);
}

int mg_db_resolve(sqlite3 *db)
{
	return mg_exec(db, mg_resolve_sql);
}

int64_t mg_db_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The schema version of an attached database, or -1 (no meta row). */
static int64_t mg_db_version(sqlite3 *db, const char *schema)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT value FROM %s.meta WHERE key = 'schema_version'", schema);
	return mg_db_int(db, sql);
}

int64_t mg_db_max_span_id(sqlite3 *db, const char *schema)
{
	char sql[160];
	sqlite3_stmt *st = NULL;
	int64_t id = -1, version = mg_db_version(db, schema);
	if (version >= 0 && version != MG_SCHEMA_VERSION) {
		mg_err_set(-SP_EVERSION,
		           "%s: a database of %s merge (schema version %lld, this merge writes %d):"
		           " merge its logs again",
		           sqlite3_db_filename(db, schema),
		           version < MG_SCHEMA_VERSION ? "an older" : "a newer", (long long)version,
		           MG_SCHEMA_VERSION);
		return -1;
	}
	snprintf(sql, sizeof sql,
	         "SELECT coalesce(max(span_id), 0), max(recorded_id) FROM %s.spans", schema);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else
		mg_err_set(-SP_EVERSION,
		           "%s: a database of an older merge (its spans have no"
		           " recorded_id): merge its logs again",
		           sqlite3_db_filename(db, schema));
	sqlite3_finalize(st);
	return id;
}

int mg_db_derive(sqlite3 *db, int walk_parents, int resolve)
{
	if (mg_exec(db, mg_post_load_cache_sql) || (resolve && mg_db_resolve(db)))
		return -1;
	if (walk_parents && mg_exec(db, mg_walk_sql))
		return -1;
	return mg_stack_funcs_fill(db);
}

/* Samples that the streaming attribution gave to a cut span after the end
 * merge chose for it (the proof that it had ended came after they were
 * settled) go to the nearest ancestor on the same thread that was open
 * then, else to no span. Needs span_ancestors; one scan of samples, run
 * only when some span was cut. */
static const char mg_repair_sql[] =
    "UPDATE samples SET span_id = (SELECT a.ancestor_id FROM span_ancestors a"
    " JOIN spans p ON p.span_id = a.ancestor_id WHERE a.span_id = samples.span_id"
    " AND a.distance > 0 AND p.pid = samples.pid AND p.tid = samples.tid"
    " AND p.start_ns <= samples.ts_ns AND samples.ts_ns < p.end_ns"
    " ORDER BY a.distance LIMIT 1)"
    " WHERE span_id IN (SELECT span_id FROM spans WHERE cut <> 0)"
    " AND ts_ns >= (SELECT end_ns FROM spans s WHERE s.span_id = samples.span_id);";

int mg_db_repair_samples(sqlite3 *db)
{
	return mg_exec(db, mg_repair_sql);
}

int mg_db_create_indexes(sqlite3 *db)
{
	return mg_exec(db, mg_index_sql);
}
int mg_db_create_views(sqlite3 *db)
{
	return mg_exec(db, mg_views_sql);
}

/* 1 if db has the tables every reader of a merged database uses, 0 if
 * not, -1 if SQLite cannot read its schema (not a database). */
static int mg_db_is_spanprof(sqlite3 *db)
{
	static const char *const sql =
	    "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name IN "
	    "('processes', 'threads', 'spans', 'span_attrs', 'samples', 'stacks', 'frames')";
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	                 sqlite3_step(st) == SQLITE_ROW
	             ? sqlite3_column_int(st, 0) == 7
	             : -1;
	sqlite3_finalize(st);
	return rc;
}

sqlite3 *mg_db_open(const char *path, unsigned flags)
{
	struct stat sb;
	sqlite3 *db = NULL;
	if (stat(path, &sb) != 0) {
		mg_err_set(-SP_EIO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		mg_err_set(-SP_EIO, "%s: not a regular file", path);
		return NULL;
	}
	/* NOMUTEX: the commands use a connection from one thread; the mutex
	 * around every sqlite3_column_* call cost 8% of top. */
	int mode = flags & MG_DB_WRITE ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
	if (sqlite3_open_v2(path, &db, mode | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		mg_err_set(-SP_EIO, "%s: cannot open: %s", path,
		           db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	int is = mg_db_is_spanprof(db), spanprof_only = (flags & MG_DB_SPANPROF) != 0;
	if (is == 1 || (is == 0 && !spanprof_only))
		return db;
	if (is < 0)
		mg_err_set(-SP_ECORRUPT, "%s: not %s (%s)", path,
		           spanprof_only ? "a spanprof database" : "an SQLite database",
		           sqlite3_errmsg(db));
	else
		mg_err_set(-SP_ECORRUPT,
		           "%s: not a spanprof database (tables missing; make it with "
		           "'spanprof merge')",
		           path);
	sqlite3_close(db);
	return NULL;
}
