/*
 * mg_load.c - phase 1 of merge: one log, streamed record by record into the
 * database (see mg_merge.h for the pipeline).
 *
 * A span gets its spans.span_id at its begin record (the next integer:
 * merge's key, dense and growing with time; the recorded id goes to
 * spans.recorded_id, docs/design.md "Span ids"), is kept in memory until
 * its end record and inserted complete, so the spans table is written once
 * per span and memory holds only the spans open at one instant (plus up to
 * MG_SPAN_ROWS ended spans, sorted by id: the newest ids, appended at the
 * right edge of the B-tree). Parents and attributes of spans not open in
 * the log keep the recorded id and are resolved after the load
 * (mg_db_resolve). A span whose END is missing (lost, or the log
 * ended first) is closed where mg_repair (mg_repair.h) says its thread was
 * last known to be inside it, and marked cut (spans.cut, flag
 * MG_SPAN_NEVER_ENDED).
 * Samples and span_ancestors rows go in 64-row INSERTs (mg_batch.h);
 * span_ancestors rows (a WITHOUT ROWID table keyed by span id) in sorted
 * batches of MG_ANC_ROWS, like spans.
 *
 * End records need care (docs/schema.md, "How merge builds it"):
 * - A span ended on another thread has its END in that thread's block,
 *   which the writer may drain before the owner's block, so the END can
 *   come before the BEGIN. Such an END waits in a bounded FIFO map (span
 *   id -> end) until the BEGIN arrives; entries older than the settle
 *   margin, or beyond MG_MAX_EARLY_ENDS, are dropped (the BEGIN of a real
 *   span is never that far behind).
 * - An END flagged DOUBLE_END (sp_end called again) never closes a span
 *   that has an unflagged END, whichever comes first in the file. It is
 *   kept as a fallback and used only if no other END arrives within the
 *   settle margin (a span whose only END is a DOUBLE_END, e.g. one the
 *   tracer forgot beyond its stack depth).
 *
 * Segments of a rotated log (docs/log-format.md, "Rotation") are logs of
 * their own, merged in name order. A segment closed for rotation ends with
 * SEGMENT(end): its spans still open there are closed at that point with
 * cut MG_CUT_CONTINUES, and the next segment repeats them (SPAN_BEGIN
 * flagged CONTINUED, original start). The row of such a span is replaced
 * by the later one (an upsert that only touches rows cut MG_CUT_CONTINUES),
 * and when the database already holds the span, its CONTINUED attributes
 * are not stored twice. One PROCESS row serves all segments of a process.
 *
 * Threading: the merge thread; records come from mg_prefetch (read ahead on
 * a thread of its own).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_reader.h"
#include "mg_db.h"
#include "mg_merge.h"
#include "mg_prefetch.h"
#include "mg_repair.h"
#include "spanprof.h"

#define MG_MAX_STACK_FRAMES 1024 /* after inline expansion */
#define MG_DEFAULT_HZ       999u
/* Samples are attributed once the log has reached this much later: far
 * more than the writer's flush cycle, which bounds how far the tracer's
 * and the sampler's records of one thread can be apart in the file. */
#define MG_SETTLE_MARGIN_NS 2000000000ull
/* Ends waiting for their BEGIN (see above): 65536 * 32 bytes = 2 MiB. */
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
	sp_reader *reader;
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
static const char *mg_unknown_name(char buf[MG_UNKNOWN_NAME_LEN], uint32_t id)
{
	snprintf(buf, MG_UNKNOWN_NAME_LEN, "?%" PRIu32, id);
	return buf;
}

static int mg_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* For the hot statements that bind every parameter on every row. */
static int mg_step_bound(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static const char mg_span_upsert[] = MG_SPAN_UPSERT_SQL;

/* "INSERT INTO spans VALUES(13 ?),(...) ON CONFLICT ..." with
 * MG_SPAN_STMT_ROWS rows: one statement start per 64 spans (rows keep
 * their order, so the first of two equal ids still wins). */
static sqlite3_stmt *mg_prepare_span_many(sqlite3 *db)
{
	static const char row[] = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
	static const char head[] = "INSERT INTO spans VALUES";
	char sql[sizeof head + MG_SPAN_STMT_ROWS * sizeof row + sizeof mg_span_upsert];
	size_t len = strlen(head);
	memcpy(sql, head, len);
	for (int r = 0; r < MG_SPAN_STMT_ROWS; r++) {
		if (r)
			sql[len++] = ',';
		memcpy(sql + len, row, sizeof row - 1);
		len += sizeof row - 1;
	}
	memcpy(sql + len, mg_span_upsert, sizeof mg_span_upsert);
	return mg_prepare(db, "merge", sql);
}

int mg_merge_prepare(mg_merge *mg)
{
	/* --append: new span ids start past the living database's (first: a
	 * database of an older merge, without recorded_id, is refused here) */
	mg->next_span_id = mg->appending ? mg_db_max_span_id(mg->db, "prev") + 1 : 1;
	if (mg->next_span_id <= 0)
		return -1;
	struct {
		sqlite3_stmt **st;
		const char *sql;
	} s[] = {
	    {&mg->ins_log, "INSERT INTO logs VALUES(?,?,?,?,?,?,?)"},
	    {&mg->ins_damage, "INSERT INTO damage VALUES(?,?,?,?,?)"},
	    {&mg->ins_process, "INSERT INTO processes VALUES(?,?,?,?,?,?,?,?,?,NULL)"},
	    {&mg->upd_process_end,
	     "UPDATE processes SET end_ns = max(coalesce(end_ns, 0), ?) WHERE log_id = ?"},
	    {&mg->ins_thread,
	     "INSERT INTO threads VALUES(?,?,?,?,NULL,NULL,0) ON CONFLICT(pid, tid)"
	     " DO UPDATE SET name = excluded.name WHERE excluded.name <> ''"},
	    {&mg->upd_thread_end, "UPDATE threads SET end_ns = ?, cpu_ns = ?, signal_blocked = ?"
	                          " WHERE pid = ? AND tid = ?"},
	    {&mg->ins_span,
	     "INSERT INTO spans VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)" MG_SPAN_UPSERT_SQL},
	    {&mg->sel_prev_span, /* --append: a span cut where the living database ends */
	     mg->appending ? "SELECT span_id FROM prev.spans WHERE recorded_id = ?1 AND pid = ?2"
	                     " ORDER BY span_id LIMIT 1"
	                   : "SELECT NULL WHERE 0"},
	    {&mg->sel_process, "SELECT log_id FROM processes WHERE pid = ? AND start_ns = ?"
	                       " AND host IS ? LIMIT 1"},
	    {&mg->ins_attr, "INSERT INTO span_attrs VALUES(?,?,?,?,?)"},
	    {&mg->ins_sampler, "INSERT OR REPLACE INTO sampler VALUES(?,?,?,?,?,?,?)"},
	    {&mg->ins_lost, "INSERT INTO lost VALUES(?,?,?,?) ON CONFLICT(pid, tid, kind)"
	                    " DO UPDATE SET count = max(count, excluded.count)"},
	    {&mg->ins_dropped, "INSERT INTO dropped VALUES(?,?,?,?) ON CONFLICT(pid, tid, name)"
	                       " DO UPDATE SET count = max(count, excluded.count)"},
	    {&mg->ins_stack, "INSERT INTO stacks VALUES(?,?,?,?)"},
	};
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
		if (!(*s[i].st = mg_prepare(mg->db, "merge", s[i].sql)))
			return -1;
	if (!(mg->ins_span_many = mg_prepare_span_many(mg->db)))
		return -1;
	if (mg_batch_init(&mg->samples_batch, mg->db,
	                  "INSERT INTO samples(ts_ns, pid, tid, span_id, stack_id, weight_ns)",
	                  6) ||
	    mg_batch_init(&mg->ancestors_batch, mg->db, "INSERT OR IGNORE INTO span_ancestors", 3))
		return -1;
	mg->next_stack_id = 1;
	mg->next_log_id = 1;
	return 0;
}

void mg_merge_finalize(mg_merge *mg)
{
	sqlite3_stmt *all[] = {mg->ins_log,         mg->ins_damage,    mg->ins_process,
	                       mg->upd_process_end, mg->ins_thread,    mg->upd_thread_end,
	                       mg->ins_span,        mg->ins_attr,      mg->ins_sampler,
	                       mg->ins_lost,        mg->ins_stack,     mg->ins_span_many,
	                       mg->ins_dropped,     mg->sel_prev_span, mg->sel_process};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		sqlite3_finalize(all[i]);
	mg_batch_finalize(&mg->samples_batch);
	mg_batch_finalize(&mg->ancestors_batch);
	free(mg->anc);
	mg->anc = NULL;
	mg_hash_free(&mg->trie);
	mg_hash_free(&mg->continued);
}

static void mg_bind_text_n(sqlite3_stmt *st, int i, const char *s, size_t n)
{
	sqlite3_bind_text(st, i, s ? s : "", s ? (int)n : 0, SQLITE_TRANSIENT);
}

static void mg_bind_str(sqlite3_stmt *st, int i, const char *s)
{
	mg_bind_text_n(st, i, s, s ? strlen(s) : 0);
}

/* The processes row this log's process already has (another segment of
 * it, merged earlier): 1 and lg->proc_log_id, 0 if none, -1 on error. */
static int mg_process_known(mg_log *lg, const sp_rec_process *p)
{
	sqlite3_stmt *st = lg->mg->sel_process;
	sqlite3_bind_int64(st, 1, p->pid);
	sqlite3_bind_int64(st, 2, (int64_t)p->clock.real_ns);
	mg_bind_str(st, 3, p->host);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		lg->proc_log_id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int mg_on_process(mg_log *lg, const sp_rec_process *p)
{
	sqlite3_stmt *st = lg->mg->ins_process;
	lg->pid = p->pid;
	lg->proc_log_id = lg->log_id;
	mg_attr_set_pid(lg->attr, p->pid);
	if (!lg->proc && !(lg->proc = mg_sym_proc_new(lg->mg->sym, p->pid)))
		return -1;
	int known = mg_process_known(lg, p);
	if (known)
		return known < 0 ? -1 : 0;
	sqlite3_bind_int64(st, 1, p->pid);
	mg_bind_str(st, 2, p->host);
	mg_bind_str(st, 3, p->exe);
	mg_bind_str(st, 4, p->cmdline);
	sqlite3_bind_int64(st, 5, (int64_t)p->clock.real_ns);
	sqlite3_bind_int64(st, 6, p->ppid);
	if (p->traceparent && p->traceparent[0])
		mg_bind_str(st, 7, p->traceparent);
	sqlite3_bind_text(st, 8, p->clock_kind == SP_CLOCK_TSC ? "tsc" : "monotonic", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, lg->log_id);
	return mg_step(st);
}

static int mg_on_thread(mg_log *lg, const sp_record *rec)
{
	sqlite3_stmt *st = lg->mg->ins_thread;
	sqlite3_bind_int64(st, 1, rec->u.thread.tid);
	sqlite3_bind_int64(st, 2, lg->pid);
	mg_bind_str(st, 3, rec->u.thread.name);
	sqlite3_bind_int64(st, 4, (int64_t)rec->ts_ns);
	return mg_step(st);
}

static int mg_on_thread_end(mg_log *lg, const sp_record *rec)
{
	const sp_rec_thread_end *e = &rec->u.thread_end;
	sqlite3_stmt *st = lg->mg->upd_thread_end;
	sqlite3_bind_int64(st, 1, (int64_t)rec->ts_ns);
	if (e->cpu_ns) /* absent in logs of older writers */
		sqlite3_bind_int64(st, 2, (int64_t)e->cpu_ns);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int(st, 3, (e->flags & SP_THREAD_END_F_SIGNAL_BLOCKED) != 0);
	sqlite3_bind_int64(st, 4, lg->pid);
	sqlite3_bind_int64(st, 5, e->tid);
	return mg_step(st) || mg_repair_thread_end(lg->repair, rec->u.thread_end.tid, rec->ts_ns);
}

static long mg_span_slot(mg_log *lg)
{
	if (lg->n_free)
		return (long)lg->free_list[--lg->n_free];
	if (lg->n_spans == lg->cap_spans) {
		size_t cap = lg->cap_spans ? lg->cap_spans * 2 : 256;
		mg_open_span *spans = realloc(lg->spans, cap * sizeof *spans);
		size_t *fl = spans ? realloc(lg->free_list, cap * sizeof *fl) : NULL;
		if (spans)
			lg->spans = spans;
		if (!fl)
			return -1;
		lg->free_list = fl;
		lg->cap_spans = cap;
	}
	return (long)lg->n_spans++;
}

static int mg_cmp_anc_row(const void *pa, const void *pb)
{
	const mg_anc_row *a = pa, *b = pb;
	if (a->span_id != b->span_id)
		return a->span_id < b->span_id ? -1 : 1;
	if (a->distance != b->distance)
		return a->distance < b->distance ? -1 : 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Writes the buffered span_ancestors rows in key order: like spans, a
 * sorted batch walks the B-tree once instead of landing all over it. Of
 * two rows with the same key (a span id seen twice) the first to arrive
 * stays, as in spans. */
static int mg_anc_flush(mg_merge *mg)
{
	if (mg->n_anc)
		qsort(mg->anc, mg->n_anc, sizeof *mg->anc, mg_cmp_anc_row);
	for (size_t i = 0; i < mg->n_anc; i++) {
		const mg_anc_row *r = &mg->anc[i];
		int64_t row[3] = {(int64_t)r->span_id, (int64_t)r->ancestor_id, r->distance};
		if (mg_batch_add(&mg->ancestors_batch, row, NULL))
			return -1;
	}
	mg->n_anc = 0;
	return mg_batch_flush(&mg->ancestors_batch);
}

/* span_ancestors rows of span s, whose parent chain is open in this log:
 * itself, then each open ancestor (by spans.span_id). */
static int mg_ancestors(mg_log *lg, const mg_open_span *s)
{
	mg_merge *mg = lg->mg;
	if (!mg->anc && !(mg->anc = malloc(MG_ANC_ROWS * sizeof *mg->anc)))
		return -1;
	uint64_t id = (uint64_t)s->id, anc = id, next = s->parent_id;
	for (int d = 0;; d++) {
		if (mg->n_anc == MG_ANC_ROWS && mg_anc_flush(mg))
			return -1;
		mg->anc[mg->n_anc++] = (mg_anc_row){id, anc, d, mg->next_anc_seq++};
		uint64_t *slot = next ? mg_hash_get(&lg->open, next, 0) : NULL;
		if (!slot || d > 1000)
			return 0;
		anc = (uint64_t)lg->spans[*slot].id;
		next = lg->spans[*slot].parent_id;
	}
}

static int mg_span_close(mg_log *lg, size_t i, const mg_end *end);
static int mg_early_take(mg_log *lg, uint64_t span_id, mg_end *out);

/* A CONTINUED span (begun in an earlier segment): its spans.span_id when
 * the database has it already (that segment was merged: in this merge, or
 * in the living database of --append), 0 if not, -1 on error. */
static int64_t mg_span_known(mg_log *lg, uint64_t span_id)
{
	uint64_t *hit = mg_hash_get(&lg->mg->continued, span_id, lg->pid);
	if (hit || !lg->mg->appending)
		return hit ? (int64_t)*hit : 0;
	sqlite3_stmt *st = lg->mg->sel_prev_span;
	sqlite3_bind_int64(st, 1, (int64_t)span_id);
	sqlite3_bind_int64(st, 2, lg->pid);
	int rc = sqlite3_step(st);
	int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return id;
}

static int mg_on_span_begin(mg_log *lg, const sp_record *rec)
{
	const sp_rec_span_begin *b = &rec->u.span_begin;
	if (!b->span_id || mg_hash_get(&lg->open, b->span_id, 0))
		return 0; /* invalid or duplicate begin: keep the first */
	long slot = mg_span_slot(lg);
	if (slot < 0)
		return -1;
	uint64_t *parent = b->parent_id ? mg_hash_get(&lg->open, b->parent_id, 0) : NULL;
	int depth = !b->parent_id                             ? 0
	            : parent && lg->spans[*parent].depth >= 0 ? lg->spans[*parent].depth + 1
	                                                      : -1;
	int64_t known = (b->flags & SP_SPAN_CONTINUED) ? mg_span_known(lg, b->span_id) : 0;
	if (known < 0)
		return -1;
	if (b->parent_id && !parent) /* parent_id found by its recorded id later */
		lg->mg->ids_unresolved++;
	mg_open_span *s = &lg->spans[slot];
	*s = (mg_open_span){.known = known > 0,
	                    .id = known > 0 ? known : lg->mg->next_span_id++,
	                    .parent = parent ? lg->spans[*parent].id : 0,
	                    .span_id = b->span_id,
	                    .parent_id = b->parent_id,
	                    .trace_hi = b->trace_hi,
	                    .trace_lo = b->trace_lo,
	                    .start_ns = rec->ts_ns,
	                    .tid = b->tid,
	                    .flags = b->flags,
	                    .depth = depth};
	char unknown[MG_UNKNOWN_NAME_LEN];
	if (b->name_id) /* the prefetcher resolved every known id: its STRING was lost */
		s->name = strdup(mg_unknown_name(unknown, b->name_id));
	else
		s->name = strndup(b->name ? b->name : "", b->name ? b->name_len : 0);
	if (!s->name || mg_attr_begin(lg->attr, b->tid, rec->ts_ns, (uint64_t)s->id) ||
	    mg_repair_begin(lg->repair, b->tid, rec->ts_ns, b->span_id, b->parent_id, b->flags))
		return -1;
	if (depth >= 0 && mg_ancestors(lg, s))
		return -1;
	if (mg_hash_put(&lg->open, b->span_id, 0, (uint64_t)slot))
		return -1;
	mg_end early;
	return mg_early_take(lg, b->span_id, &early) ? mg_span_close(lg, (size_t)slot, &early) : 0;
}

/* Writes the buffered spans in id order. Ids are handed out at BEGIN and
 * rows come at END, so a batch is nearly sorted already and lands at the
 * right edge of the spans B-tree; sorted, it is appended page by page. */
static int mg_cmp_span_row(const void *pa, const void *pb)
{
	const mg_span_row *a = pa, *b = pb;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq; /* first one wins */
}

/* Binds span row r to st's parameters base+1 .. base+MG_SPAN_COLS. */
static void mg_span_bind(mg_log *lg, sqlite3_stmt *st, int base, const mg_span_row *r)
{
	char trace[33];
	sqlite3_bind_int64(st, base + 1, r->id);
	if (r->parent)
		sqlite3_bind_int64(st, base + 2, r->parent);
	else
		sqlite3_bind_null(st, base + 2);
	sqlite3_bind_int64(st, base + 14, (int64_t)r->span_id);
	if (r->parent_id)
		sqlite3_bind_int64(st, base + 15, (int64_t)r->parent_id);
	else
		sqlite3_bind_null(st, base + 15);
	if (r->trace_hi || r->trace_lo) {
		snprintf(trace, sizeof trace, "%016" PRIx64 "%016" PRIx64, r->trace_hi,
		         r->trace_lo);
		sqlite3_bind_text(st, base + 3, trace, 32, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_null(st, base + 3);
	}
	sqlite3_bind_int64(st, base + 4, lg->pid);
	sqlite3_bind_int64(st, base + 5, r->tid);
	sqlite3_bind_text(st, base + 6, r->name ? r->name : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, base + 7, (int64_t)r->start_ns);
	for (int i = 8; i <= 12; i++)
		sqlite3_bind_null(st, base + i);
	if (r->has_end) {
		sqlite3_bind_int64(st, base + 8, (int64_t)r->end_ns);
		sqlite3_bind_int64(st, base + 9, (int64_t)(r->end_ns - r->start_ns));
		if (!r->cut)
			sqlite3_bind_int64(st, base + 12, r->end_tid);
	}
	sqlite3_bind_int(st, base + 13, r->cut);
	if (r->depth >= 0)
		sqlite3_bind_int(st, base + 10, r->depth);
	sqlite3_bind_int64(st, base + 11, r->flags);
}

/* Inserts rows [0, n) in order: MG_SPAN_STMT_ROWS per statement, the rest
 * one by one. Names are bound SQLITE_STATIC: they are freed after the step. */
static int mg_span_write(mg_log *lg, const mg_span_row *rows, size_t n)
{
	size_t i = 0;
	for (; i + MG_SPAN_STMT_ROWS <= n; i += MG_SPAN_STMT_ROWS) {
		for (int k = 0; k < MG_SPAN_STMT_ROWS; k++)
			mg_span_bind(lg, lg->mg->ins_span_many, k * MG_SPAN_COLS,
			             &rows[i + (size_t)k]);
		if (mg_step_bound(lg->mg->ins_span_many))
			return -1;
	}
	for (; i < n; i++) {
		mg_span_bind(lg, lg->mg->ins_span, 0, &rows[i]);
		if (mg_step_bound(lg->mg->ins_span))
			return -1;
	}
	return 0;
}

static int mg_span_rows_flush(mg_log *lg)
{
	if (!lg->n_rows)
		return 0;
	qsort(lg->rows, lg->n_rows, sizeof *lg->rows, mg_cmp_span_row);
	int err = mg_span_write(lg, lg->rows, lg->n_rows);
	for (size_t i = 0; i < lg->n_rows; i++)
		free(lg->rows[i].name);
	lg->n_rows = 0;
	return err;
}

/* 1 when [start_ns, end_ns] misses merge's --since/--until window. */
static int mg_outside_window(const mg_merge *mg, uint64_t start_ns, uint64_t end_ns)
{
	return (mg->since_ns && end_ns < mg->since_ns) || (mg->until_ns && start_ns > mg->until_ns);
}

/* Buffers the span (taking its name) with its end (an END record or a
 * cut), or NULL: no end at all (only when the load failed). */
static int mg_span_insert(mg_log *lg, mg_open_span *s, const mg_end *end)
{
	if (!lg->rows && !(lg->rows = malloc(MG_SPAN_ROWS * sizeof *lg->rows)))
		return -1;
	if (s->depth < 0)
		lg->mg->spans_without_depth++;
	mg_span_row *r = &lg->rows[lg->n_rows++];
	*r = (mg_span_row){.span_id = s->span_id,
	                   .parent_id = s->parent_id,
	                   .id = s->id,
	                   .parent = s->parent,
	                   .trace_hi = s->trace_hi,
	                   .trace_lo = s->trace_lo,
	                   .start_ns = s->start_ns,
	                   .seq = lg->mg->next_span_seq++,
	                   .tid = s->tid,
	                   .flags = s->flags,
	                   .depth = s->depth,
	                   .name = s->name};
	s->name = NULL;
	if (end) {
		r->has_end = 1;
		r->end_ns = end->ts_ns < s->start_ns ? s->start_ns : end->ts_ns;
		r->flags |= end->flags;
		r->end_tid = end->tid;
		r->cut = end->cut;
	}
	if (!end || end->cut) {
		r->flags |= MG_SPAN_NEVER_ENDED;
		lg->mg->spans_cut += end != NULL && end->cut != MG_CUT_CONTINUES;
	}
	if (mg_outside_window(lg->mg, r->start_ns, r->has_end ? r->end_ns : UINT64_MAX)) {
		free(r->name);
		lg->n_rows--;
		return 0;
	}
	/* the segment that continues it finds its row by the recorded id */
	if (r->cut == MG_CUT_CONTINUES &&
	    mg_hash_put(&lg->mg->continued, s->span_id, lg->pid, (uint64_t)s->id))
		return -1;
	return lg->n_rows == MG_SPAN_ROWS ? mg_span_rows_flush(lg) : 0;
}

/* Inserts the open span of slot i with its end, queues the end for
 * attribution on the span's OWN thread (where it is on the stack), and
 * frees the slot. */
static int mg_span_close(mg_log *lg, size_t i, const mg_end *end)
{
	mg_open_span *s = &lg->spans[i];
	uint64_t end_ns = end->ts_ns < s->start_ns ? s->start_ns : end->ts_ns;
	uint64_t span_id = s->span_id;
	int err = (!end->cut && mg_repair_end(lg->repair, s->tid, end->tid, end_ns, span_id)) ||
	          mg_attr_end(lg->attr, s->tid, end_ns, (uint64_t)s->id) ||
	          mg_span_insert(lg, s, end);
	free(s->name); /* NULL unless the insert failed */
	s->name = NULL;
	mg_hash_del(&lg->open, span_id, 0);
	lg->free_list[lg->n_free++] = i;
	return err;
}

/* Drops the oldest early end (the ring is full or it is too old). */
static void mg_early_pop(mg_log *lg)
{
	mg_early_end *e = &lg->early_ends[lg->early_head];
	if (e->span_id)
		mg_hash_del(&lg->early, e->span_id, 0);
	lg->early_head = (lg->early_head + 1) % MG_MAX_EARLY_ENDS;
	lg->early_len--;
}

/* Keeps an END whose span is not open (yet): its BEGIN may follow. */
static int mg_early_put(mg_log *lg, uint64_t span_id, const mg_end *end)
{
	uint64_t *hit = mg_hash_get(&lg->early, span_id, 0);
	if (hit) { /* two ENDs before the BEGIN: the earlier one counts */
		mg_early_end *e = &lg->early_ends[*hit];
		if (end->ts_ns < e->end.ts_ns)
			e->end = *end;
		return 0;
	}
	if (!lg->early_ends &&
	    !(lg->early_ends = malloc(MG_MAX_EARLY_ENDS * sizeof *lg->early_ends)))
		return -1;
	if (lg->early_len == MG_MAX_EARLY_ENDS)
		mg_early_pop(lg);
	size_t at = (lg->early_head + lg->early_len++) % MG_MAX_EARLY_ENDS;
	lg->early_ends[at] = (mg_early_end){span_id, *end};
	return mg_hash_put(&lg->early, span_id, 0, at) ? -1 : 0;
}

/* Removes and returns the early end of span_id; 1 if there was one. */
static int mg_early_take(mg_log *lg, uint64_t span_id, mg_end *out)
{
	uint64_t *hit = lg->early.len ? mg_hash_get(&lg->early, span_id, 0) : NULL;
	if (!hit)
		return 0;
	mg_early_end *e = &lg->early_ends[*hit];
	*out = e->end;
	e->span_id = 0;
	mg_hash_del(&lg->early, span_id, 0);
	return 1;
}

/* Drops early ends older than the watermark: their BEGIN is not coming. */
static void mg_early_expire(mg_log *lg, uint64_t watermark)
{
	while (lg->early_len && lg->early_ends[lg->early_head].end.ts_ns < watermark)
		mg_early_pop(lg);
}

/* A DOUBLE_END for an open span: remembered, used only if no other END
 * arrives (mg_fallbacks_apply). */
static int mg_fallback_put(mg_log *lg, size_t i, const mg_end *end)
{
	mg_open_span *s = &lg->spans[i];
	if (s->has_fallback) {
		if (end->ts_ns < s->fallback.ts_ns)
			s->fallback = *end;
		return 0;
	}
	if (lg->n_fallbacks == lg->cap_fallbacks) {
		size_t cap = lg->cap_fallbacks ? lg->cap_fallbacks * 2 : 64;
		uint64_t *f = realloc(lg->fallbacks, cap * sizeof *f);
		if (!f)
			return -1;
		lg->fallbacks = f;
		lg->cap_fallbacks = cap;
	}
	lg->fallbacks[lg->n_fallbacks++] = s->span_id;
	s->has_fallback = 1;
	s->fallback = *end;
	return 0;
}

/* Closes the spans still open whose fallback end is older than the
 * watermark (no unflagged END came within the margin). */
static int mg_fallbacks_apply(mg_log *lg, uint64_t watermark)
{
	size_t kept = 0;
	int err = 0;
	for (size_t k = 0; k < lg->n_fallbacks; k++) {
		uint64_t *slot = mg_hash_get(&lg->open, lg->fallbacks[k], 0);
		if (!slot || !lg->spans[*slot].has_fallback)
			continue; /* closed by its own END meanwhile (maybe reused id) */
		mg_open_span *s = &lg->spans[*slot];
		if (s->fallback.ts_ns >= watermark) {
			lg->fallbacks[kept++] = lg->fallbacks[k];
			continue;
		}
		mg_end end = s->fallback;
		if (!err)
			err = mg_span_close(lg, (size_t)*slot, &end);
	}
	lg->n_fallbacks = kept;
	return err;
}

static int mg_on_span_end(mg_log *lg, const sp_record *rec)
{
	const sp_rec_span_end *e = &rec->u.span_end;
	mg_end end = {rec->ts_ns, e->tid, e->flags, MG_CUT_NONE};
	uint64_t *slot = e->span_id ? mg_hash_get(&lg->open, e->span_id, 0) : NULL;
	if (e->flags & SP_SPAN_DOUBLE_END) /* never closes a span by itself */
		return slot ? mg_fallback_put(lg, (size_t)*slot, &end) : 0;
	if (!slot) /* BEGIN still to come (another thread's block), or lost */
		return e->span_id ? mg_early_put(lg, e->span_id, &end) : 0;
	return mg_span_close(lg, (size_t)*slot, &end);
}

static int mg_flush_open_spans(mg_log *lg)
{
	int err = 0;
	for (size_t i = 0; i < lg->n_spans; i++) {
		if (!lg->spans[i].name)
			continue;
		if (!err)
			err = mg_span_insert(lg, &lg->spans[i], NULL);
		free(lg->spans[i].name);
		lg->spans[i].name = NULL;
	}
	return mg_span_rows_flush(lg) || err;
}

static int mg_on_attr(mg_log *lg, const sp_record *rec)
{
	const sp_rec_attr *a = &rec->u.attr;
	sqlite3_stmt *st = lg->mg->ins_attr;
	mg_repair_attr(lg->repair, a->tid, a->span_id);
	uint64_t *slot = mg_hash_get(&lg->open, a->span_id, 0);
	if (slot && lg->spans[*slot].known && (a->flags & SP_ATTR_CONTINUED))
		return 0; /* stored with its segment */
	/* A span not open here (ended, not begun yet, or of another log) is
	 * found by its recorded id after the load (mg_db_resolve). */
	if (slot) {
		sqlite3_bind_int64(st, 1, lg->spans[*slot].id);
		sqlite3_bind_null(st, 5);
	} else {
		sqlite3_bind_null(st, 1);
		sqlite3_bind_int64(st, 5, (int64_t)a->span_id);
		lg->mg->ids_unresolved++;
	}
	/* a known key_id came resolved from the prefetcher; an unknown one (its
	 * STRING was in a damaged frame) shows as "?<id>", as in dump */
	char unknown[MG_UNKNOWN_NAME_LEN];
	if (!a->key && a->key_id) {
		mg_bind_str(st, 2, mg_unknown_name(unknown, a->key_id));
	} else {
		mg_bind_text_n(st, 2, a->key, a->key ? a->key_len : 0);
	}
	if (a->kind == SP_ATTR_INT)
		sqlite3_bind_int64(st, 3, a->i);
	else if (a->kind == SP_ATTR_DOUBLE)
		sqlite3_bind_double(st, 3, a->d);
	else
		mg_bind_text_n(st, 3, a->s, a->s ? a->s_len : 0);
	sqlite3_bind_int(st, 4, (a->flags & SP_ATTR_TRUNCATED) != 0);
	/* a string attribute binds its value as TRANSIENT: safe to step now */
	return mg_step_bound(st); /* all five bound */
}

/* Stack-trie node for (parent, frame), created on first sight. */
static int64_t mg_trie_node(mg_merge *mg, int64_t parent, int64_t frame, int depth)
{
	uint64_t *hit = mg_hash_get(&mg->trie, (uint64_t)parent, (uint64_t)frame);
	if (hit)
		return (int64_t)*hit;
	int64_t id = mg->next_stack_id++;
	sqlite3_stmt *st = mg->ins_stack;
	sqlite3_bind_int64(st, 1, id);
	if (parent)
		sqlite3_bind_int64(st, 2, parent);
	sqlite3_bind_int64(st, 3, frame);
	sqlite3_bind_int(st, 4, depth);
	if (mg_step(st) || mg_hash_put(&mg->trie, (uint64_t)parent, (uint64_t)frame, (uint64_t)id))
		return -1;
	return id;
}

/* Two independent 64-bit hashes of the pcs: together a 128-bit key whose
 * collision chance is negligible, so an identical stack skips symbolization
 * and the trie walk. */
static void mg_pcs_hash(const sp_rec_sample *s, uint64_t *h1, uint64_t *h2)
{
	uint64_t a = 0xcbf29ce484222325ull ^ s->nframes, b = 0x9e3779b97f4a7c15ull + s->nframes;
	for (uint32_t i = 0; i < s->nframes; i++) {
		a = (a ^ s->pcs[i]) * 0x100000001b3ull;
		b = (b + s->pcs[i]) * 0xff51afd7ed558ccdull;
		b ^= b >> 33;
	}
	*h1 = a;
	*h2 = b;
}

/* Symbolizes the pcs (leaf first) and returns the leaf trie node, 0 for an
 * empty stack, -1 on error. */
static int64_t mg_stack_id_slow(mg_log *lg, const sp_rec_sample *s)
{
	int64_t frames[MG_MAX_STACK_FRAMES];
	int n = 0;
	for (uint32_t i = 0; i < s->nframes && n < MG_MAX_STACK_FRAMES; i++) {
		int k = mg_sym_resolve(lg->proc, s->pcs[i], i == 0, frames + n,
		                       MG_MAX_STACK_FRAMES - n);
		if (k < 0)
			return -1;
		n += k;
	}
	int64_t node = 0;
	for (int d = 0; d < n; d++) {
		node = mg_trie_node(lg->mg, node, frames[n - 1 - d], d);
		if (node < 0)
			return -1;
	}
	return node;
}

static int64_t mg_stack_id(mg_log *lg, const sp_rec_sample *s)
{
	uint64_t h1, h2;
	mg_pcs_hash(s, &h1, &h2);
	uint64_t *hit = mg_hash_get(&lg->stacks, h1, h2);
	if (hit)
		return (int64_t)*hit;
	int64_t id = mg_stack_id_slow(lg, s);
	if (id >= 0 && mg_hash_put(&lg->stacks, h1, h2, (uint64_t)id))
		return -1;
	return id;
}

static int mg_on_sample(mg_log *lg, const sp_record *rec)
{
	const sp_rec_sample *s = &rec->u.sample;
	if (!lg->proc && !(lg->proc = mg_sym_proc_new(lg->mg->sym, lg->pid)))
		return -1;
	int64_t stack = mg_stack_id(lg, s);
	if (stack < 0)
		return -1;
	if (mg_repair_sample(lg->repair, s->tid, rec->ts_ns))
		return -1;
	if (mg_outside_window(lg->mg, rec->ts_ns, rec->ts_ns))
		return 0;
	lg->mg->samples++;
	return mg_attr_sample(lg->attr, s->tid, rec->ts_ns, stack,
	                      s->weight_us ? (int64_t)s->weight_us * 1000 : (int64_t)lg->weight_ns);
}

static int mg_on_module(mg_log *lg, const sp_record *rec)
{
	if (!lg->proc && !(lg->proc = mg_sym_proc_new(lg->mg->sym, lg->pid)))
		return -1;
	return mg_sym_proc_map(lg->proc, &rec->u.module, rec->ts_ns);
}

static const char *mg_lost_kind(int kind)
{
	switch (kind) {
	case SP_LOST_EVENTS:
		return "events";
	case SP_LOST_SAMPLES:
		return "samples";
	case SP_LOST_UNWIND:
		return "unwind";
	default:
		return "other";
	}
}

static int mg_on_lost(mg_log *lg, const sp_record *rec)
{
	sqlite3_stmt *st = lg->mg->ins_lost;
	sqlite3_bind_int64(st, 1, lg->pid);
	sqlite3_bind_int64(st, 2, rec->u.lost.tid);
	sqlite3_bind_text(st, 3, mg_lost_kind(rec->u.lost.kind), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)rec->u.lost.count);
	return mg_step(st) ||
	       mg_repair_lost(lg->repair, rec->u.lost.tid, rec->u.lost.kind, rec->u.lost.count);
}

/* Spans dropped whole under SPANPROF_ON_FULL=drop: the latest cumulative
 * count per (thread, name). Id 0 counts the names beyond the runtime's
 * per-name counters; a name whose STRING was in a damaged frame reads
 * ?<id>, as elsewhere. */
static int mg_on_dropped(mg_log *lg, const sp_record *rec)
{
	const sp_rec_dropped *d = &rec->u.dropped;
	char unknown[MG_UNKNOWN_NAME_LEN];
	const char *name = d->name;
	if (!d->name_id)
		name = "(other names)";
	else if (!name)
		name = mg_unknown_name(unknown, d->name_id);
	sqlite3_stmt *st = lg->mg->ins_dropped;
	sqlite3_bind_int64(st, 1, lg->pid);
	sqlite3_bind_int64(st, 2, d->tid);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (int64_t)d->count);
	return mg_step(st);
}

static int mg_on_sampler(mg_log *lg, const sp_record *rec)
{
	static const char *const mech[] = {"none", "perf", "timer"};
	static const char *const mode[] = {"?", "cpu", "wall", "off"};
	const sp_rec_sampler *s = &rec->u.sampler;
	sqlite3_stmt *st = lg->mg->ins_sampler;
	if (s->requested_hz)
		lg->weight_ns = 1000000000ull / s->requested_hz;
	sqlite3_bind_int64(st, 1, lg->pid);
	sqlite3_bind_text(st, 2, s->mechanism < 3 ? mech[s->mechanism] : "?", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->mode < 4 ? mode[s->mode] : "?", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, s->signo);
	sqlite3_bind_int64(st, 5, s->requested_hz);
	sqlite3_bind_int64(st, 6, s->achieved_hz);
	sqlite3_bind_int(st, 7, (s->flags & SP_SAMPLER_F_USER_ONLY) != 0);
	return mg_step(st);
}

static int mg_on_record(mg_log *lg, const sp_record *rec)
{
	if (rec->ts_ns) {
		if (!lg->first_ns)
			lg->first_ns = rec->ts_ns;
		if (rec->ts_ns > lg->last_ns)
			lg->last_ns = rec->ts_ns;
	}
	switch (rec->type) {
	case SP_REC_PROCESS:
		return mg_on_process(lg, &rec->u.process);
	case SP_REC_THREAD:
		return mg_on_thread(lg, rec);
	case SP_REC_THREAD_END:
		return mg_on_thread_end(lg, rec);
	case SP_REC_SPAN_BEGIN:
		lg->mg->span_events++;
		return mg_on_span_begin(lg, rec);
	case SP_REC_SPAN_END:
		lg->mg->span_events++;
		return mg_on_span_end(lg, rec);
	case SP_REC_ATTR:
		lg->mg->span_events++;
		return mg_on_attr(lg, rec);
	case SP_REC_SAMPLE:
		return mg_on_sample(lg, rec);
	case SP_REC_MODULE:
		return mg_on_module(lg, rec);
	case SP_REC_LOST:
		return mg_on_lost(lg, rec);
	case SP_REC_SAMPLER:
		return mg_on_sampler(lg, rec);
	case SP_REC_DROPPED:
		return mg_on_dropped(lg, rec);
	case SP_REC_SEGMENT:
		if (rec->u.segment.kind == SP_SEGMENT_END) {
			lg->continues = 1;
			lg->seg_end_ns = rec->ts_ns;
		} else if (!lg->seg_start_ns) {
			lg->seg_start_ns = rec->ts_ns;
		}
		return 0;
	case SP_REC_CLOCK: /* starts each drain of the writer */
		mg_repair_drain(lg->repair);
		return 0;
	default:
		return 0; /* STRING, BLOCK: the reader uses them */
	}
}

static void mg_show_progress(mg_log *lg)
{
	mg_merge *mg = lg->mg;
	char a[32], b[32], c[32];
	uint64_t done = mg->bytes_done + mg_prefetch_bytes_read(lg->pf);
	mg_progress_update(
	    &mg->progress, "merging: %s / %s, %s events", mg_fmt_bytes(done, a, sizeof a),
	    mg_fmt_bytes(mg->bytes_total, b, sizeof b), mg_fmt_count(mg->events, c, sizeof c));
}

static int mg_log_row(mg_log *lg, uint64_t records, int damaged)
{
	sqlite3_stmt *st = lg->mg->ins_log;
	sqlite3_bind_int64(st, 1, lg->log_id);
	mg_bind_str(st, 2, lg->path);
	if (lg->pid)
		sqlite3_bind_int64(st, 3, lg->pid);
	sqlite3_bind_int64(st, 4, (int64_t)records);
	sqlite3_bind_int64(st, 5, lg->reader ? (int64_t)sp_reader_frames(lg->reader) : 0);
	sqlite3_bind_int64(st, 6, lg->reader ? (int64_t)sp_reader_bytes_read(lg->reader) : 0);
	sqlite3_bind_text(st, 7, damaged ? "damaged" : "ok", -1, SQLITE_STATIC);
	if (mg_step(st))
		return -1;
	if (lg->pid && lg->last_ns) {
		sqlite3_bind_int64(lg->mg->upd_process_end, 1, (int64_t)lg->last_ns);
		sqlite3_bind_int64(lg->mg->upd_process_end, 2, lg->proc_log_id);
		return mg_step(lg->mg->upd_process_end);
	}
	return 0;
}

/* end = UINT64_MAX: unknown (reading stopped there; the rest is unread). */
static int mg_damage_row(mg_log *lg, uint64_t offset, uint64_t end, const char *reason)
{
	sqlite3_stmt *st = lg->mg->ins_damage;
	sqlite3_bind_int64(st, 1, lg->log_id);
	mg_bind_str(st, 2, lg->path);
	sqlite3_bind_int64(st, 3, (int64_t)offset);
	mg_bind_str(st, 4, reason);
	if (end == UINT64_MAX)
		sqlite3_bind_null(st, 5);
	else
		sqlite3_bind_int64(st, 5, (int64_t)end);
	return mg_step(st);
}

/* The ranges the reader skipped (it read on after each): one row each and
 * one warning line for the log. Returns 0 or -1 (database). */
static int mg_damage_ranges(mg_log *lg, int64_t records)
{
	const sp_reader *r = lg->reader;
	size_t n = sp_reader_damage_count(r);
	const sp_reader_damage *d = sp_reader_damage_at(r, 0);
	if (n == 1 && d)
		fprintf(stderr,
		        "spanprof merge: warning: %s: 1 damaged range (bytes %" PRIu64 "-%" PRIu64
		        ", %s) skipped; merged the %" PRId64 " records of the intact frames\n",
		        lg->path, d->start, d->end, d->reason, records);
	else
		fprintf(stderr,
		        "spanprof merge: warning: %s: %zu damaged ranges (%" PRIu64
		        " bytes; the first at bytes %" PRIu64 "-%" PRIu64
		        ", %s) skipped; merged the %" PRId64 " records of the intact frames\n",
		        lg->path, n, sp_reader_damage_bytes(r), d ? d->start : 0, d ? d->end : 0,
		        d ? d->reason : "not listed", records);
	for (size_t i = 0; (d = sp_reader_damage_at(r, i)) != NULL; i++)
		if (mg_damage_row(lg, d->start, d->end, d->reason))
			return -1;
	return 0;
}

/* A log the reader gave up on (damaged first frame, newer format, out of
 * memory): one warning and one row at the offset where it stopped. */
static int mg_damage_fatal(mg_log *lg, int err, int64_t records)
{
	const char *why = sp_reader_error(lg->reader);
	uint64_t off = sp_reader_error_offset(lg->reader);
	if (!why || !why[0])
		why = sp_strerror(err);
	fprintf(stderr,
	        "spanprof merge: warning: %s: damaged at offset %" PRIu64
	        ": %s; merged the %" PRId64 " records before it\n",
	        lg->path, off, why, records);
	return mg_damage_row(lg, off, UINT64_MAX, why);
}

/* Closes the spans that mg_repair proved ended before the watermark and
 * whose END did not come (those that got one meanwhile are no longer open). */
static int mg_cuts_apply(mg_log *lg, uint64_t watermark)
{
	mg_cut c;
	while (mg_repair_next_cut(lg->repair, watermark, &c)) {
		uint64_t *slot = mg_hash_get(&lg->open, c.span_id, 0);
		mg_end end = {c.end_ns, 0, 0, c.cut};
		if (slot && mg_span_close(lg, (size_t)*slot, &end))
			return -1;
	}
	return 0;
}

/* Settles what is older than the watermark: fallback ends first, then cut
 * spans (both change the span stacks), then samples; stale early ends are
 * dropped. */
static int mg_settle(mg_log *lg, uint64_t watermark)
{
	if ((lg->n_fallbacks && mg_fallbacks_apply(lg, watermark)) || mg_cuts_apply(lg, watermark))
		return -1;
	mg_early_expire(lg, watermark);
	return mg_attr_settle(lg->attr, watermark);
}

/* At the end of the log: every END that may still come has come, so the
 * spans still open are closed as mg_repair says (those on a thread's stack
 * innermost first, then the rest), then everything is settled. */
/* A segment that a later one continues: what is open at its end is open
 * there too (MG_CUT_CONTINUES, closed where the segment ended). */
static void mg_cut_continues(const mg_log *lg, mg_cut *c)
{
	if (lg->continues) {
		c->end_ns = lg->seg_end_ns;
		c->cut = MG_CUT_CONTINUES;
	}
}

static int mg_settle_end(mg_log *lg, int damaged)
{
	mg_cut c;
	if ((lg->n_fallbacks && mg_fallbacks_apply(lg, UINT64_MAX)) ||
	    mg_cuts_apply(lg, UINT64_MAX))
		return -1;
	while (mg_repair_next_open(lg->repair, damaged, &c)) {
		uint64_t *slot = mg_hash_get(&lg->open, c.span_id, 0);
		mg_cut_continues(lg, &c);
		mg_end end = {c.end_ns, 0, 0, c.cut};
		if (slot && mg_span_close(lg, (size_t)*slot, &end))
			return -1;
	}
	for (size_t i = 0; i < lg->n_spans; i++) {
		mg_open_span *s = &lg->spans[i];
		if (!s->name)
			continue;
		c = mg_repair_open_end(lg->repair, s->tid, s->span_id, s->start_ns, damaged);
		mg_cut_continues(lg, &c);
		mg_end end = {c.end_ns, 0, 0, c.cut};
		if (mg_span_close(lg, i, &end))
			return -1;
	}
	return mg_settle(lg, UINT64_MAX);
}

/* Reads every record; returns the count, sets *damage on damage; -1 = db. */
static int64_t mg_read_all(mg_log *lg, int *damage)
{
	sp_record rec;
	int64_t n = 0;
	int rc;
	if (!(lg->pf = mg_prefetch_start(lg->reader))) {
		fprintf(stderr, "spanprof merge: %s: out of memory\n", lg->path);
		return -1;
	}
	while ((rc = mg_prefetch_next(lg->pf, &rec)) == 1) {
		if (mg_on_record(lg, &rec)) {
			n = -1;
			break;
		}
		n++;
		if ((++lg->mg->events & 4095) == 0) {
			mg_show_progress(lg);
			if (lg->last_ns > MG_SETTLE_MARGIN_NS &&
			    mg_settle(lg, lg->last_ns - MG_SETTLE_MARGIN_NS)) {
				n = -1;
				break;
			}
		}
	}
	mg_prefetch_stop(lg->pf); /* the reader is the caller's again */
	lg->pf = NULL;
	*damage = rc < 0 ? rc : 0;
	return n;
}

static void mg_log_free(mg_log *lg)
{
	mg_prefetch_stop(lg->pf); /* before the reader it uses */
	sp_reader_close(lg->reader);
	mg_sym_proc_free(lg->proc);
	mg_attr_free(lg->attr);
	mg_repair_free(lg->repair);
	mg_hash_free(&lg->open);
	mg_hash_free(&lg->stacks);
	mg_hash_free(&lg->early);
	free(lg->spans);
	free(lg->free_list);
	free(lg->early_ends);
	free(lg->fallbacks);
	for (size_t i = 0; i < lg->n_rows; i++)
		free(lg->rows[i].name);
	free(lg->rows);
}

int64_t mg_load_log(mg_merge *mg, const char *path)
{
	mg_log lg = {.mg = mg, .path = path, .weight_ns = 1000000000ull / MG_DEFAULT_HZ};
	lg.log_id = mg->next_log_id++;
	int err = sp_reader_open(path, &lg.reader);
	if (err) {
		fprintf(stderr, "spanprof merge: %s: cannot read: %s\n", path, sp_strerror(err));
		mg->logs_failed++;
		int db =
		    mg_log_row(&lg, 0, 1) || mg_damage_row(&lg, 0, UINT64_MAX, sp_strerror(err));
		mg_log_free(&lg);
		return db ? -1 : 0;
	}
	int damage = 0;
	int64_t n = -1;
	if ((lg.attr = mg_attr_new(mg, 0)) && (lg.repair = mg_repair_new()))
		n = mg_read_all(&lg, &damage);
	if (n >= 0 && (mg_settle_end(&lg, damage != 0) || mg_batch_flush(&mg->samples_batch) ||
	               mg_anc_flush(mg)))
		n = -1;
	if (n >= 0 && damage) {
		/* Skipped ranges end the log with -SP_ECORRUPT; any other error
		 * (or damage before anything could be placed) stopped the reader. */
		int ranges = sp_reader_damage_count(lg.reader) > 0;
		mg->logs_damaged++;
		if ((ranges && mg_damage_ranges(&lg, n)) ||
		    ((!ranges || damage != -SP_ECORRUPT) && mg_damage_fatal(&lg, damage, n)))
			n = -1;
	}
	if (n >= 0 && (mg_flush_open_spans(&lg) || mg_log_row(&lg, (uint64_t)n, damage != 0)))
		n = -1;
	else if (n < 0)
		mg_flush_open_spans(&lg);
	mg->bytes_done += sp_reader_bytes_read(lg.reader);
	mg_log_free(&lg);
	return n;
}
