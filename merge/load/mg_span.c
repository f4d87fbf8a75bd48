/*
 * mg_span.c - the span lifecycle of the log loader: a span gets its slot
 * and its spans.span_id at BEGIN, waits open until its END (an END that
 * came first waits in the early-end ring; a DOUBLE_END is a fallback), and
 * then goes with its end into the sorted batch of finished spans, its
 * span_ancestors rows into theirs. Attributes of open spans are written
 * here too. The design, and why ends need care, is in mg_load.c.
 *
 * Threading: the merge thread. Not signal-safe.
 */
#include <stdlib.h>

#include "mg_db.h"
#include "mg_grow.h"
#include "mg_load_int.h"
#include "spanprof.h"

static long mg_span_slot(mg_log *lg)
{
	if (lg->n_free)
		return (long)lg->free_list[--lg->n_free];
	if (lg->n_spans == lg->cap_spans) {
		/* spans and free_list share one capacity */
		size_t cap = mg_grow_cap(lg->cap_spans, lg->n_spans + 1, sizeof *lg->spans);
		mg_open_span *spans = cap ? mg_realloc_n(lg->spans, cap, sizeof *spans) : NULL;
		size_t *fl = spans ? mg_realloc_n(lg->free_list, cap, sizeof *fl) : NULL;
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
int mg_anc_flush(mg_merge *mg)
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

int mg_on_span_begin(mg_log *lg, const lc_record *rec)
{
	const lc_rec_span_begin *b = &rec->u.span_begin;
	if (!b->span_id || mg_hash_get(&lg->open, b->span_id, 0))
		return 0; /* invalid or duplicate begin: keep the first */
	long slot = mg_span_slot(lg);
	if (slot < 0)
		return -1;
	uint64_t *parent = b->parent_id ? mg_hash_get(&lg->open, b->parent_id, 0) : NULL;
	int depth = !b->parent_id                             ? 0
	            : parent && lg->spans[*parent].depth >= 0 ? lg->spans[*parent].depth + 1
	                                                      : -1;
	int64_t known = (b->flags & LC_SPAN_CONTINUED) ? mg_span_known(lg, b->span_id) : 0;
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
int mg_span_close(mg_log *lg, size_t i, const mg_end *end)
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
void mg_early_expire(mg_log *lg, uint64_t watermark)
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
	if (MG_GROW_ONE(lg->fallbacks, lg->cap_fallbacks, lg->n_fallbacks))
		return -1;
	lg->fallbacks[lg->n_fallbacks++] = s->span_id;
	s->has_fallback = 1;
	s->fallback = *end;
	return 0;
}

/* Closes the spans still open whose fallback end is older than the
 * watermark (no unflagged END came within the margin). */
int mg_fallbacks_apply(mg_log *lg, uint64_t watermark)
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

int mg_on_span_end(mg_log *lg, const lc_record *rec)
{
	const lc_rec_span_end *e = &rec->u.span_end;
	mg_end end = {rec->ts_ns, e->tid, e->flags, MG_CUT_NONE};
	uint64_t *slot = e->span_id ? mg_hash_get(&lg->open, e->span_id, 0) : NULL;
	if (e->flags & LC_SPAN_DOUBLE_END) /* never closes a span by itself */
		return slot ? mg_fallback_put(lg, (size_t)*slot, &end) : 0;
	if (!slot) /* BEGIN still to come (another thread's block), or lost */
		return e->span_id ? mg_early_put(lg, e->span_id, &end) : 0;
	return mg_span_close(lg, (size_t)*slot, &end);
}

int mg_flush_open_spans(mg_log *lg)
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

int mg_on_attr(mg_log *lg, const lc_record *rec)
{
	const lc_rec_attr *a = &rec->u.attr;
	sqlite3_stmt *st = lg->mg->ins_attr;
	mg_repair_attr(lg->repair, a->tid, a->span_id);
	uint64_t *slot = mg_hash_get(&lg->open, a->span_id, 0);
	if (slot && lg->spans[*slot].known && (a->flags & LC_ATTR_CONTINUED))
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
	if (a->kind == LC_ATTR_INT)
		sqlite3_bind_int64(st, 3, a->i);
	else if (a->kind == LC_ATTR_DOUBLE)
		sqlite3_bind_double(st, 3, a->d);
	else
		mg_bind_text_n(st, 3, a->s, a->s ? a->s_len : 0);
	sqlite3_bind_int(st, 4, (a->flags & LC_ATTR_TRUNCATED) != 0);
	/* a string attribute binds its value as TRANSIENT: safe to step now */
	return mg_step_bound(st); /* all five bound */
}
