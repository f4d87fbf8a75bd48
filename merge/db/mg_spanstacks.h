/*
 * mg_spanstacks.h - three small tables of sums over samples that merge
 * keeps (docs/schema.md):
 * - stack_samples: per stack, the samples and their weight; the view
 *   func_time is this table joined with stack_funcs and frames.
 * - span_name_stacks: per span name and stack, the samples (and their
 *   weight) taken inside a span of that name, its descendants included; a
 *   sample counts once for each distinct name among its span and that
 *   span's ancestors. The view span_func_time is this table joined with
 *   stack_funcs and frames.
 * - span_attr_stacks: per attribute (key, value) and stack, the samples
 *   whose span sees that value (its own or its nearest ancestor's, as in
 *   the view sample_attrs), for the keys with at most 1000 distinct values.
 *
 * Why tables: the same sums computed in SQL from samples, span_ancestors
 * and span_attrs end in a GROUP BY over a row per sample and enclosing
 * span name (or attribute, or stack), which SQLite sorts: 2.5-21 s at 10M events
 * (docs/performance.md, issue 14). Here they take one scan of span names,
 * of span_attrs, of span_ancestors and of samples, summed in hash maps.
 *
 * Threading: uses only the connection it is given. Not signal-safe.
 */
#ifndef MG_SPANSTACKS_H
#define MG_SPANSTACKS_H

#include <sqlite3.h>

/* Empties main.stack_samples, span_name_stacks and span_attr_stacks and fills them
 * from the database's samples, spans, span_attrs and span_ancestors (run
 * after every change to those: the end of a merge, of an append, of a
 * prune). 0, or -1 with the error recorded (common/mg_err.h). */
int mg_span_stacks_fill(sqlite3 *db);

#endif
