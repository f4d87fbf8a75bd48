/*
 * mg_load_int.h - what the files of the log loader share (private to
 * merge/load/): the per-log state (mg_log), the span and end types, and
 * the functions one file calls in another. The design is in mg_load.c's
 * opening comment.
 *
 * mg_load.c   dispatches the records of one log, processes, threads,
 *             modules, loss, damage, and settles what the watermark allows;
 * mg_span.c   the span lifecycle: open spans, early and fallback ends,
 *             the sorted inserts of spans and span_ancestors, attributes;
 * mg_stack.c  the stack trie: a sample's pcs to a stack id.
 *
 * Threading: the merge thread. Not signal-safe.
 */
#ifndef MG_LOAD_INT_H
#define MG_LOAD_INT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log_reader.h"
#include "mg_merge.h"
#include "mg_prefetch.h"
#include "mg_repair.h"

#define MG_MAX_STACK_FRAMES 1024 /* after inline expansion */
#define MG_DEFAULT_HZ       999u
/* Samples are attributed once the log has reached this much later: far
 * more than the writer's flush cycle, which bounds how far the tracer's
 * and the sampler's records of one thread can be apart in the file. */
#define MG_SETTLE_MARGIN_NS 2000000000ull
/* Ends waiting for their BEGIN (mg_load.c, "End records need care"): 65536 * 32 bytes = 2 MiB. */
#define MG_MAX_EARLY_ENDS (1u << 16)
/* Finished spans inserted per sorted batch (96 bytes each: 6 MiB). */
#define MG_SPAN_ROWS (1u << 16)
/* Spans per multi-row INSERT (MG_SPAN_COLS parameters each). */
#define MG_SPAN_STMT_ROWS 64
#define MG_ANC_ROWS       (1u << 18) /* span_ancestors rows sorted per batch (8 MiB) */
#define MG_SPAN_COLS      15

typedef struct mg_end {
	uint64_t ts_ns;
	uint32_t tid, flags; /* ending thread, END record flags */
	int cut;             /* MG_CUT_*: not an END record but merge's repair */
} mg_end;

typedef struct mg_open_span {
	uint64_t span_id, parent_id, trace_hi, trace_lo, start_ns; /* as recorded */
	int64_t id, parent; /* spans.span_id of it and of its parent (0: not open) */
	uint32_t tid, flags;
	int depth; /* -1: parent not open in this log, fixed up in SQL */
	int known; /* CONTINUED, and the database holds it (id): attributes too */
	int has_fallback;
	mg_end fallback; /* earliest DOUBLE_END seen while open */
	char *name;
} mg_open_span;

/* An END that arrived before its BEGIN (span_id 0: consumed). */
typedef struct mg_early_end {
	uint64_t span_id;
	mg_end end;
} mg_early_end;

/* A finished span waiting in the sorted-insert buffer. */
typedef struct mg_span_row {
	uint64_t span_id, parent_id, trace_hi, trace_lo, start_ns, end_ns, seq;
	int64_t id, parent; /* spans.span_id, parent_id (0: NULL) */
	uint32_t tid, end_tid, flags;
	int depth, has_end, cut;
	char *name;
} mg_span_row;

typedef struct mg_log {
	mg_merge *mg;
	lc_reader *reader;
	mg_prefetch *pf; /* reads ahead on its own thread while loading */
	const char *path;
	int64_t log_id;
	uint32_t pid;
	mg_sym_proc *proc;
	mg_attr *attr;
	mg_repair *repair;  /* spans whose END is missing */
	uint64_t weight_ns; /* default sample weight */
	uint64_t first_ns, last_ns;
	mg_hash open;   /* span id -> index in spans[] */
	mg_hash stacks; /* two hashes of a sample's pcs -> stack id */
	mg_open_span *spans;
	size_t n_spans, cap_spans;
	size_t *free_list;
	size_t n_free;
	mg_hash early;            /* span id -> index in early_ends[] */
	mg_early_end *early_ends; /* FIFO ring of MG_MAX_EARLY_ENDS */
	size_t early_head, early_len;
	mg_span_row *rows; /* finished spans not yet inserted */
	size_t n_rows;
	uint64_t *fallbacks; /* ids of open spans holding a fallback end */
	size_t n_fallbacks, cap_fallbacks;
	int64_t proc_log_id;   /* processes row of this process (segments share it) */
	int continues;         /* SEGMENT(end) seen: a later segment continues it */
	uint64_t seg_end_ns;   /* its time */
	uint64_t seg_start_ns; /* SEGMENT(start) time, 0 if none */
} mg_log;

/* An interned id whose STRING record was in a damaged frame: "?<id>", as
 * dump shows it. */
#define MG_UNKNOWN_NAME_LEN 16
static inline const char *mg_unknown_name(char buf[MG_UNKNOWN_NAME_LEN], uint32_t id)
{
	snprintf(buf, MG_UNKNOWN_NAME_LEN, "?%" PRIu32, id);
	return buf;
}

static inline int mg_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* For the hot statements that bind every parameter on every row. */
static inline int mg_step_bound(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static inline void mg_bind_text_n(sqlite3_stmt *st, int i, const char *s, size_t n)
{
	sqlite3_bind_text(st, i, s ? s : "", s ? (int)n : 0, SQLITE_TRANSIENT);
}

static inline void mg_bind_str(sqlite3_stmt *st, int i, const char *s)
{
	mg_bind_text_n(st, i, s, s ? strlen(s) : 0);
}

/* 1 when [start_ns, end_ns] misses merge's --since/--until window. */
static inline int mg_outside_window(const mg_merge *mg, uint64_t start_ns, uint64_t end_ns)
{
	return (mg->since_ns && end_ns < mg->since_ns) || (mg->until_ns && start_ns > mg->until_ns);
}

/* mg_span.c: all return 0, or -1 on a database error or out of memory. */
int mg_on_span_begin(mg_log *lg, const lc_record *rec);
int mg_on_span_end(mg_log *lg, const lc_record *rec);
int mg_on_attr(mg_log *lg, const lc_record *rec);
/* Inserts the open span of slot i with its end (mg_cuts_apply). */
int mg_span_close(mg_log *lg, size_t i, const mg_end *end);
/* Drops early ends older than the watermark: their BEGIN is not coming. */
void mg_early_expire(mg_log *lg, uint64_t watermark);
/* Closes the open spans whose fallback end is older than the watermark. */
int mg_fallbacks_apply(mg_log *lg, uint64_t watermark);
/* At the end of a log: inserts the spans still open, then every buffered
 * finished span. */
int mg_flush_open_spans(mg_log *lg);
/* Writes the buffered span_ancestors rows in key order. */
int mg_anc_flush(mg_merge *mg);

/* mg_stack.c: the sample's stack id through the trie, then mg_attr. */
int mg_on_sample(mg_log *lg, const lc_record *rec);

#endif
