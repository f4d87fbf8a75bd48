/*
 * mg_attr.c - phase 2 of merge: attribution of samples to spans.
 *
 * Per thread, spans form a stack over time. Two cursors, both ordered by
 * (pid, tid, time) - spans by start (parents before children when they start
 * at the same nanosecond: depth breaks the tie), samples by timestamp - are
 * merged in one pass. Before a sample at time t is attributed, every span of
 * its thread that starts at or before t has been pushed, and spans that ended
 * at or before t are popped from the top: a span covers [start_ns, end_ns).
 * The top of the stack is then the innermost open span. A span whose end was
 * never logged counts as open until the end of its thread's data. Samples
 * are written to the final samples table in that order, so sample_id grows
 * with (pid, tid, ts_ns).
 *
 * Memory: the stack of one thread (bounded by its span nesting, plus spans
 * that ended out of order under a still-open child).
 *
 * Threading: single-threaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mg_db.h"
#include "mg_merge.h"

typedef struct mg_open {
	int64_t span_id, end_ns;
} mg_open;

typedef struct mg_sweep {
	mg_open *stack;
	size_t depth, cap;
	int64_t pid, tid; /* thread of the stack, -1 = none */
} mg_sweep;

typedef struct mg_span_row {
	int64_t pid, tid, start_ns, end_ns, span_id;
	int valid;
} mg_span_row;

static void mg_span_fetch(sqlite3_stmt *st, mg_span_row *row)
{
	row->valid = sqlite3_step(st) == SQLITE_ROW;
	if (!row->valid)
		return;
	row->pid = sqlite3_column_int64(st, 0);
	row->tid = sqlite3_column_int64(st, 1);
	row->start_ns = sqlite3_column_int64(st, 2);
	row->end_ns =
	    sqlite3_column_type(st, 3) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(st, 3);
	row->span_id = sqlite3_column_int64(st, 4);
}

/* -1, 0, 1 as (a1, a2, a3) compares to (b1, b2, b3). */
static int mg_cmp3(int64_t a1, int64_t a2, int64_t a3, int64_t b1, int64_t b2, int64_t b3)
{
	if (a1 != b1)
		return a1 < b1 ? -1 : 1;
	if (a2 != b2)
		return a2 < b2 ? -1 : 1;
	return a3 < b3 ? -1 : a3 > b3;
}

static void mg_pop_ended(mg_sweep *sw, int64_t t)
{
	while (sw->depth && sw->stack[sw->depth - 1].end_ns <= t)
		sw->depth--;
}

static int mg_push(mg_sweep *sw, const mg_span_row *row)
{
	if (row->pid != sw->pid || row->tid != sw->tid) {
		sw->depth = 0;
		sw->pid = row->pid;
		sw->tid = row->tid;
	}
	mg_pop_ended(sw, row->start_ns);
	if (sw->depth == sw->cap) {
		size_t cap = sw->cap ? sw->cap * 2 : 64;
		mg_open *s = realloc(sw->stack, cap * sizeof *s);
		if (!s)
			return -1;
		sw->stack = s;
		sw->cap = cap;
	}
	sw->stack[sw->depth++] = (mg_open){row->span_id, row->end_ns};
	return 0;
}

/* Innermost span open on (pid, tid) at t, or 0. */
static int64_t mg_innermost(mg_sweep *sw, int64_t pid, int64_t tid, int64_t t)
{
	if (pid != sw->pid || tid != sw->tid)
		return 0;
	mg_pop_ended(sw, t);
	return sw->depth ? sw->stack[sw->depth - 1].span_id : 0;
}

static int mg_write_sample(sqlite3_stmt *ins, sqlite3_stmt *raw, int64_t span_id)
{
	sqlite3_bind_int64(ins, 1, sqlite3_column_int64(raw, 2));
	sqlite3_bind_int64(ins, 2, sqlite3_column_int64(raw, 0));
	sqlite3_bind_int64(ins, 3, sqlite3_column_int64(raw, 1));
	if (span_id)
		sqlite3_bind_int64(ins, 4, span_id);
	else
		sqlite3_bind_null(ins, 4);
	sqlite3_bind_value(ins, 5, sqlite3_column_value(raw, 3));
	sqlite3_bind_int64(ins, 6, sqlite3_column_int64(raw, 4));
	int rc = sqlite3_step(ins);
	sqlite3_reset(ins);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int mg_sweep_run(mg_merge *mg, sqlite3_stmt *spans, sqlite3_stmt *raw, sqlite3_stmt *ins)
{
	mg_sweep sw = {.pid = -1, .tid = -1};
	mg_span_row row;
	uint64_t done = 0;
	int err = 0;
	mg_span_fetch(spans, &row);
	while (!err && sqlite3_step(raw) == SQLITE_ROW) {
		int64_t pid = sqlite3_column_int64(raw, 0), tid = sqlite3_column_int64(raw, 1);
		int64_t ts = sqlite3_column_int64(raw, 2);
		while (!err && row.valid &&
		       mg_cmp3(row.pid, row.tid, row.start_ns, pid, tid, ts) <= 0) {
			err = mg_push(&sw, &row);
			mg_span_fetch(spans, &row);
		}
		if (!err)
			err = mg_write_sample(ins, raw, mg_innermost(&sw, pid, tid, ts));
		if ((++done & 8191) == 0)
			mg_progress_update(&mg->progress, "attributing: %llu / %llu samples",
			                   (unsigned long long)done,
			                   (unsigned long long)mg->samples);
	}
	free(sw.stack);
	return err;
}

int mg_attribute(mg_merge *mg)
{
	if (mg_exec(mg->db, "merge",
	            "CREATE INDEX spans_thread ON spans(pid, tid, start_ns, depth, end_ns)"))
		return -1;
	sqlite3_stmt *spans = mg_prepare(mg->db, "merge",
	                                 "SELECT pid, tid, start_ns, end_ns, span_id FROM spans"
	                                 " ORDER BY pid, tid, start_ns, depth");
	sqlite3_stmt *raw = mg_prepare(mg->db, "merge",
	                               "SELECT pid, tid, ts_ns, stack_id, weight_ns"
	                               " FROM scratch.raw_samples ORDER BY pid, tid, ts_ns");
	sqlite3_stmt *ins = mg_prepare(mg->db, "merge",
	                               "INSERT INTO samples(ts_ns, pid, tid, span_id, stack_id,"
	                               " weight_ns) VALUES(?,?,?,?,?,?)");
	int err = spans && raw && ins ? mg_sweep_run(mg, spans, raw, ins) : -1;
	if (err && spans && raw && ins)
		fprintf(stderr, "spanprof merge: database error: %s\n", sqlite3_errmsg(mg->db));
	sqlite3_finalize(spans);
	sqlite3_finalize(raw);
	sqlite3_finalize(ins);
	return err;
}
