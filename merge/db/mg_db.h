/*
 * mg_db.h - the merged database: schema (tables, indexes, views) and small
 * SQLite helpers shared by merge, top and query. docs/schema.md documents
 * every table, column and view created here; keep the two in step.
 *
 * Threading: one connection per thread, as SQLite wants. Not signal-safe.
 */
#ifndef MG_DB_H
#define MG_DB_H

#include <sqlite3.h>
#include <stdint.h>

/* 2: spans.span_id is a key merge assigns (dense, in BEGIN order), the
 * recorded ids are spans.recorded_id and recorded_parent_id. */
/* 3: table span_name_stacks (samples per span name and stack), over which
 * the view span_func_time is defined; 4: table span_attr_stacks (per
 * inherited attribute value and stack); 5: table stack_samples (per
 * stack), over which func_time is defined. An append into an older
 * database would leave them empty or fail. */
#define MG_SCHEMA_VERSION 5

/* Span flag set by merge (beside the runtime's LC_SPAN_* flags): the log
 * holds no END for the span (lost, or the log ended first); end_ns is the
 * end merge chose and spans.cut says why (mg_repair.h, docs/schema.md). */
#define MG_SPAN_NEVER_ENDED 0x100u

/* How a span row goes in: of two rows with one span id the first stays,
 * except a row cut where its segment ended (spans.cut = 3): the row of the
 * segment that continues it (same id, start, name, depth) sets its end,
 * cut and flags; CONTINUED (0x40) and NEVER_ENDED (0x100) then say what
 * the later row says. Appended to "INSERT INTO spans ..." (mg_load.c, and
 * mg_append.c across appends). */
#define MG_SPAN_UPSERT_SQL                                                                         \
	" ON CONFLICT(span_id) DO UPDATE SET end_ns = excluded.end_ns,"                            \
	" dur_ns = excluded.end_ns - spans.start_ns, end_tid = excluded.end_tid,"                  \
	" cut = excluded.cut, flags = ((spans.flags | excluded.flags) & ~(64 | 256))"              \
	" | (excluded.flags & 256) WHERE spans.cut = 3 AND spans.pid = excluded.pid"

/* Creates the tables (no secondary indexes: see mg_db_create_indexes). */
int mg_db_create_tables(sqlite3 *db);
/* Derived tables (span_ancestors, depth, stack_funcs) that need the loaded
 * spans and stacks. walk_parents = 0 when every span got its depth and
 * ancestor rows during the load (no span has depth NULL); resolve = 0 when
 * the load found every parent and attribute's span open in its log. */
int mg_db_derive(sqlite3 *db, int walk_parents, int resolve);
/* Parents and attributes that the load could only name by their recorded
 * span id (spans.recorded_parent_id, span_attrs.recorded_span_id with
 * span_id NULL) get their spans.span_id, when that span is in the
 * database. Scans spans and span_attrs: call it only when needed. */
int mg_db_resolve(sqlite3 *db);
/* The largest spans.span_id of schema.spans (0 if empty), or -1 after
 * recording why (also: a database of another schema version, or of an
 * older merge without recorded_id). */
int64_t mg_db_max_span_id(sqlite3 *db, const char *schema);
/* Ancestor rows and depth of the spans whose depth is NULL (their parent
 * was not open in their log): part of derive, and run again by append. */
int mg_db_walk_parents(sqlite3 *db);
/* Moves samples out of cut spans past their chosen end (after derive). */
int mg_db_repair_samples(sqlite3 *db);
/* Secondary indexes, created after the bulk load (faster: one sort each). */
int mg_db_create_indexes(sqlite3 *db);
int mg_db_create_views(sqlite3 *db);

/* Runs SQL; on failure records "database error: sqlite message"
 * (common/mg_err.h) and returns -1. */
int mg_exec(sqlite3 *db, const char *sql);
/* Prepares, or records the error (as mg_exec) and returns NULL. */
sqlite3_stmt *mg_prepare(sqlite3 *db, const char *sql);
/* The first column of the first row of sql as int64, or -1 when there is
 * no row or the query fails (nothing recorded: the caller says why). */
int64_t mg_db_int(sqlite3 *db, const char *sql);
/* The one way the commands open a database that exists: read-only unless
 * MG_DB_WRITE; the path must be a regular file and an SQLite database, and
 * with MG_DB_SPANPROF one with the tables of a merged database (processes,
 * threads, spans, span_attrs, samples, stacks, frames). Otherwise records
 * "PATH: why" (common/mg_err.h) and returns NULL. */
#define MG_DB_WRITE    1u
#define MG_DB_SPANPROF 2u
sqlite3 *mg_db_open(const char *path, unsigned flags);

#endif
