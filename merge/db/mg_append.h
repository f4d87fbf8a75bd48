/*
 * mg_append.h - 'merge --append': adding newly merged logs to a living
 * database (private to merge/; see mg_append.c for the design).
 *
 * Threading: the caller's connection only. Not signal-safe.
 */
#ifndef MG_APPEND_H
#define MG_APPEND_H

#include <sqlite3.h>
#include <stdint.h>

/* Copies every row of the database attached as "new" (built by merge
 * from the new logs) into main, ids shifted past main's, spans cut where
 * their segment ended joined with their continuation, processes and
 * threads met up with their rows; then fixes depths and samples as a
 * merge does. Inside the caller's transaction. Returns 0 or -1 (recorded: common/mg_err.h). */
int mg_append_copy(sqlite3 *db);

/* Drops what ended before since_ns (samples, spans, their attributes and
 * ancestor rows): the database then holds the window. 0 or -1 (recorded: common/mg_err.h). */
int mg_append_prune(sqlite3 *db, uint64_t since_ns);

#endif
