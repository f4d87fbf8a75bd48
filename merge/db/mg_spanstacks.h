/*
 * mg_spanstacks.h - the table span_name_stacks: per span name and stack,
 * the samples (and their weight) taken inside a span of that name, its
 * descendants included; a sample counts once for each distinct name among
 * its span and that span's ancestors (docs/schema.md). The view
 * span_func_time is this table joined with stack_funcs and frames.
 *
 * Why a table: the same sums computed by the view from samples and
 * span_ancestors were one GROUP BY over a row per sample and enclosing
 * span name, which SQLite sorts: ~21 s at 10M events (docs/performance.md,
 * issue 14). Here they take one scan of span names, of span_ancestors and
 * of samples, summed in hash maps.
 *
 * Threading: uses only the connection it is given. Not signal-safe.
 */
#ifndef MG_SPANSTACKS_H
#define MG_SPANSTACKS_H

#include <sqlite3.h>

/* Empties main.span_name_stacks and fills it from the database's samples,
 * spans and span_ancestors (run after every change to them: the end of a
 * merge, of an append, of a prune). 0, or -1 with a message on stderr. */
int mg_span_stacks_fill(sqlite3 *db);

#endif
