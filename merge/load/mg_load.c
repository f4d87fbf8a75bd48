/*
 * mg_load.c - phase 1 of merge: one log, streamed record by record into the
 * database (see mg_merge.h for the pipeline). This file reads the log and
 * dispatches its records (processes, threads, modules, loss and damage
 * here); the span lifecycle is mg_span.c, the stack trie mg_stack.c, and
 * what they share mg_load_int.h.
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

#include "mg_db.h"
#include "mg_err.h"
#include "mg_load_int.h"
#include "spanprof.h"

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
	return mg_prepare(db, sql);
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
		if (!(*s[i].st = mg_prepare(mg->db, s[i].sql)))
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

/* The processes row this log's process already has (another segment of
 * it, merged earlier): 1 and lg->proc_log_id, 0 if none, -1 on error. */
static int mg_process_known(mg_log *lg, const lc_rec_process *p)
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

static int mg_on_process(mg_log *lg, const lc_rec_process *p)
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
	sqlite3_bind_text(st, 8, p->clock_kind == LC_CLOCK_TSC ? "tsc" : "monotonic", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, lg->log_id);
	return mg_step(st);
}

static int mg_on_thread(mg_log *lg, const lc_record *rec)
{
	sqlite3_stmt *st = lg->mg->ins_thread;
	sqlite3_bind_int64(st, 1, rec->u.thread.tid);
	sqlite3_bind_int64(st, 2, lg->pid);
	mg_bind_str(st, 3, rec->u.thread.name);
	sqlite3_bind_int64(st, 4, (int64_t)rec->ts_ns);
	return mg_step(st);
}

static int mg_on_thread_end(mg_log *lg, const lc_record *rec)
{
	const lc_rec_thread_end *e = &rec->u.thread_end;
	sqlite3_stmt *st = lg->mg->upd_thread_end;
	sqlite3_bind_int64(st, 1, (int64_t)rec->ts_ns);
	if (e->cpu_ns) /* absent in logs of older writers */
		sqlite3_bind_int64(st, 2, (int64_t)e->cpu_ns);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int(st, 3, (e->flags & LC_THREAD_END_F_SIGNAL_BLOCKED) != 0);
	sqlite3_bind_int64(st, 4, lg->pid);
	sqlite3_bind_int64(st, 5, e->tid);
	return mg_step(st) || mg_repair_thread_end(lg->repair, rec->u.thread_end.tid, rec->ts_ns);
}

static int mg_on_module(mg_log *lg, const lc_record *rec)
{
	if (!lg->proc && !(lg->proc = mg_sym_proc_new(lg->mg->sym, lg->pid)))
		return -1;
	return mg_sym_proc_map(lg->proc, &rec->u.module, rec->ts_ns);
}

static const char *mg_lost_kind(int kind)
{
	switch (kind) {
	case LC_LOST_EVENTS:
		return "events";
	case LC_LOST_SAMPLES:
		return "samples";
	case LC_LOST_UNWIND:
		return "unwind";
	default:
		return "other";
	}
}

static int mg_on_lost(mg_log *lg, const lc_record *rec)
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
static int mg_on_dropped(mg_log *lg, const lc_record *rec)
{
	const lc_rec_dropped *d = &rec->u.dropped;
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

static int mg_on_sampler(mg_log *lg, const lc_record *rec)
{
	static const char *const mech[] = {"none", "perf", "timer"};
	static const char *const mode[] = {"?", "cpu", "wall", "off"};
	const lc_rec_sampler *s = &rec->u.sampler;
	sqlite3_stmt *st = lg->mg->ins_sampler;
	if (s->requested_hz)
		lg->weight_ns = 1000000000ull / s->requested_hz;
	sqlite3_bind_int64(st, 1, lg->pid);
	sqlite3_bind_text(st, 2, s->mechanism < 3 ? mech[s->mechanism] : "?", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->mode < 4 ? mode[s->mode] : "?", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, s->signo);
	sqlite3_bind_int64(st, 5, s->requested_hz);
	sqlite3_bind_int64(st, 6, s->achieved_hz);
	sqlite3_bind_int(st, 7, (s->flags & LC_SAMPLER_F_USER_ONLY) != 0);
	return mg_step(st);
}

static int mg_on_record(mg_log *lg, const lc_record *rec)
{
	if (rec->ts_ns) {
		if (!lg->first_ns)
			lg->first_ns = rec->ts_ns;
		if (rec->ts_ns > lg->last_ns)
			lg->last_ns = rec->ts_ns;
	}
	switch (rec->type) {
	case LC_REC_PROCESS:
		return mg_on_process(lg, &rec->u.process);
	case LC_REC_THREAD:
		return mg_on_thread(lg, rec);
	case LC_REC_THREAD_END:
		return mg_on_thread_end(lg, rec);
	case LC_REC_SPAN_BEGIN:
		lg->mg->span_events++;
		return mg_on_span_begin(lg, rec);
	case LC_REC_SPAN_END:
		lg->mg->span_events++;
		return mg_on_span_end(lg, rec);
	case LC_REC_ATTR:
		lg->mg->span_events++;
		return mg_on_attr(lg, rec);
	case LC_REC_SAMPLE:
		return mg_on_sample(lg, rec);
	case LC_REC_MODULE:
		return mg_on_module(lg, rec);
	case LC_REC_LOST:
		return mg_on_lost(lg, rec);
	case LC_REC_SAMPLER:
		return mg_on_sampler(lg, rec);
	case LC_REC_DROPPED:
		return mg_on_dropped(lg, rec);
	case LC_REC_SEGMENT:
		if (rec->u.segment.kind == LC_SEGMENT_END) {
			lg->continues = 1;
			lg->seg_end_ns = rec->ts_ns;
		} else if (!lg->seg_start_ns) {
			lg->seg_start_ns = rec->ts_ns;
		}
		return 0;
	case LC_REC_CLOCK: /* starts each drain of the writer */
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
	sqlite3_bind_int64(st, 5, lg->reader ? (int64_t)lc_reader_frames(lg->reader) : 0);
	sqlite3_bind_int64(st, 6, lg->reader ? (int64_t)lc_reader_bytes_read(lg->reader) : 0);
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
	const lc_reader *r = lg->reader;
	size_t n = lc_reader_damage_count(r);
	const lc_reader_damage *d = lc_reader_damage_at(r, 0);
	if (n == 1 && d)
		mg_warn("%s: 1 damaged range (bytes %" PRIu64 "-%" PRIu64
		        ", %s) skipped; merged the %" PRId64 " records of the intact frames",
		        lg->path, d->start, d->end, d->reason, records);
	else
		mg_warn("%s: %zu damaged ranges (%" PRIu64 " bytes; the first at bytes %" PRIu64
		        "-%" PRIu64 ", %s) skipped; merged the %" PRId64
		        " records of the intact frames",
		        lg->path, n, lc_reader_damage_bytes(r), d ? d->start : 0, d ? d->end : 0,
		        d ? d->reason : "not listed", records);
	for (size_t i = 0; (d = lc_reader_damage_at(r, i)) != NULL; i++)
		if (mg_damage_row(lg, d->start, d->end, d->reason))
			return -1;
	return 0;
}

/* A log the reader gave up on (damaged first frame, newer format, out of
 * memory): one warning and one row at the offset where it stopped. */
static int mg_damage_fatal(mg_log *lg, int err, int64_t records)
{
	const char *why = lc_reader_error(lg->reader);
	uint64_t off = lc_reader_error_offset(lg->reader);
	if (!why || !why[0])
		why = sp_strerror(err);
	mg_warn("%s: damaged at offset %" PRIu64 ": %s; merged the %" PRId64 " records before it",
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
	lc_record rec;
	int64_t n = 0;
	int rc;
	if (!(lg->pf = mg_prefetch_start(lg->reader))) {
		mg_err_set(-SP_ENOMEM, "%s: out of memory", lg->path);
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
	lc_reader_close(lg->reader);
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
	int err = lc_reader_open(path, &lg.reader);
	if (err) {
		/* not fatal: the command prints it and goes on with the next log */
		mg_err_set(err, "%s: cannot read: %s", path, sp_strerror(err));
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
		int ranges = lc_reader_damage_count(lg.reader) > 0;
		mg->logs_damaged++;
		if ((ranges && mg_damage_ranges(&lg, n)) ||
		    ((!ranges || damage != -SP_ECORRUPT) && mg_damage_fatal(&lg, damage, n)))
			n = -1;
	}
	if (n >= 0 && (mg_flush_open_spans(&lg) || mg_log_row(&lg, (uint64_t)n, damage != 0)))
		n = -1;
	else if (n < 0)
		mg_flush_open_spans(&lg);
	mg->bytes_done += lc_reader_bytes_read(lg.reader);
	mg_log_free(&lg);
	return n;
}
