/*
 * export_speedscope.c - speedscope's JSON file format
 * (https://www.speedscope.app/file-format-schema.json).
 *
 * One "sampled" profile per (pid, tid) with samples (frame indices, root
 * first, one frame per function) and weights in nanoseconds, followed by
 * one "evented" profile per thread that has spans, whose frames are
 * "[span] NAME" and whose open/close events give the span intervals, so
 * speedscope shows the spans as a flame chart next to the samples.
 * Times are nanoseconds since the earliest selected event (doubles hold
 * them exactly; epoch nanoseconds would not fit in 53 bits).
 *
 * "shared" is written last: span names are collected while streaming.
 * Memory: the interned span names and, per thread, the stack of open
 * spans. Single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "mg_grow.h"
#include "spanprof.h"

struct ss {
	struct mg_export *x;
	mg_strtab span_names;
	int64_t base_ns;
	int nprofiles;
};

static void ss_profile_name(FILE *o, const char *prefix, sqlite3_stmt *th)
{
	const char *tname = (const char *)sqlite3_column_text(th, 2);
	const char *exe = (const char *)sqlite3_column_text(th, 3);
	const char *base = exe && strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	char buf[512];
	snprintf(buf, sizeof buf, "%s%s: %s (pid %" PRId64 ", tid %" PRId64 ")", prefix,
	         base ? base : "process", tname ? tname : "thread",
	         (int64_t)sqlite3_column_int64(th, 0), (int64_t)sqlite3_column_int64(th, 1));
	mg_json_str(o, buf);
}

static FILE *ss_profile_start(struct ss *ss)
{
	if (ss->nprofiles++)
		putc(',', ss->x->out);
	return ss->x->out;
}

static void ss_sample_stack(struct ss *ss, FILE *o, int32_t idx)
{
	struct mg_export *x = ss->x;
	int32_t path[512];
	int n = 0;
	for (int32_t i = idx; i >= 0 && n < 512; i = x->stacks[i].parent_idx)
		path[n++] = i;
	putc('[', o);
	if (n == 0)
		fprintf(o, "%zu", x->nfuncs);
	for (int i = n - 1; i >= 0; i--) {
		int32_t f = x->stacks[path[i]].frame_idx;
		size_t func = f >= 0 ? (size_t)x->frames[f].func_idx : x->nfuncs;
		fprintf(o, "%zu%s", func, i ? "," : "");
	}
	putc(']', o);
}

static int ss_sampled(struct ss *ss, sqlite3_stmt *th, sqlite3_stmt *st)
{
	struct mg_export *x = ss->x;
	struct mg_spool samples = {0}, weights = {0};
	int64_t first = 0, last = 0, last_w = 0;
	int rc = mg_spool_open(&samples);
	rc = rc ? rc : mg_spool_open(&weights);
	while (rc == 0 && (rc = mg_export_step(x, st)) == 1) {
		rc = 0;
		int64_t ts = sqlite3_column_int64(st, 1) - ss->base_ns;
		if (samples.n == 0)
			first = ts;
		last = ts;
		last_w = sqlite3_column_int64(st, 2);
		int32_t idx = sqlite3_column_type(st, 0) == SQLITE_NULL
		                  ? -1
		                  : mg_export_stack_idx(x, sqlite3_column_int64(st, 0));
		ss_sample_stack(ss, mg_spool_next(&samples), idx);
		fprintf(mg_spool_next(&weights), "%" PRId64, (int64_t)sqlite3_column_int64(st, 2));
		mg_export_tick(x);
	}
	if (rc == 0 && samples.n > 0) {
		FILE *o = ss_profile_start(ss);
		fputs("{\"type\":\"sampled\",\"name\":", o);
		ss_profile_name(o, "", th);
		fprintf(o,
		        ",\"unit\":\"nanoseconds\",\"startValue\":%" PRId64 ",\"endValue\":%" PRId64
		        ",\"samples\":[",
		        first, last + last_w);
		rc = mg_spool_copy(&samples, o);
		fputs("],\"weights\":[", o);
		rc = rc ? rc : mg_spool_copy(&weights, o);
		fputs("]}", o);
	}
	mg_spool_close(&samples);
	mg_spool_close(&weights);
	return rc;
}

/* Open spans of one thread: ends and frame indices, innermost last. */
struct ss_open {
	int64_t *end;
	int64_t *frame;
	size_t n, cap;
};

static void ss_event(struct mg_spool *ev, char type, int64_t frame, int64_t at)
{
	fprintf(mg_spool_next(ev), "{\"type\":\"%c\",\"frame\":%" PRId64 ",\"at\":%" PRId64 "}",
	        type, frame, at);
}

static void ss_close_until(struct ss_open *op, struct mg_spool *ev, int64_t t)
{
	while (op->n > 0 && op->end[op->n - 1] <= t) {
		op->n--;
		ss_event(ev, 'C', op->frame[op->n], op->end[op->n]);
	}
}

static int ss_push(struct ss_open *op, int64_t end, int64_t frame)
{
	if (op->n == op->cap) {
		/* end and frame share one capacity */
		size_t cap = mg_grow_cap(op->cap, op->n + 1, sizeof *op->end);
		int64_t *e = cap ? mg_realloc_n(op->end, cap, sizeof *e) : NULL;
		if (e)
			op->end = e;
		int64_t *f = e ? mg_realloc_n(op->frame, cap, sizeof *f) : NULL;
		if (!f)
			return -SP_ENOMEM;
		op->frame = f;
		op->cap = cap;
	}
	if (op->n > 0 && end > op->end[op->n - 1])
		end = op->end[op->n - 1]; /* keep the events nested */
	op->end[op->n] = end;
	op->frame[op->n++] = frame;
	return 0;
}

static int ss_span_rows(struct ss *ss, sqlite3_stmt *st, struct mg_spool *ev, int64_t *lo,
                        int64_t *hi)
{
	struct ss_open op = {0};
	int rc;
	while ((rc = mg_export_step(ss->x, st)) == 1) {
		const unsigned char *name = sqlite3_column_text(st, 0);
		int64_t s = sqlite3_column_int64(st, 1) - ss->base_ns;
		int64_t e = sqlite3_column_int64(st, 2) - ss->base_ns;
		int64_t f =
		    mg_strtab_intern(&ss->span_names, name ? (const char *)name : "?", NULL);
		if (f < 0) {
			rc = -SP_ENOMEM;
			break;
		}
		ss_close_until(&op, ev, s);
		if ((rc = ss_push(&op, e < s ? s : e, f + (int64_t)ss->x->nfuncs + 1)) != 0)
			break;
		ss_event(ev, 'O', f + (int64_t)ss->x->nfuncs + 1, s);
		*lo = *lo < s ? *lo : s;
		*hi = *hi > e ? *hi : e;
		mg_export_tick(ss->x);
	}
	ss_close_until(&op, ev, INT64_MAX);
	free(op.end);
	free(op.frame);
	return rc;
}

static int ss_evented(struct ss *ss, sqlite3_stmt *th, sqlite3_stmt *st)
{
	struct mg_spool ev = {0};
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	int rc = mg_spool_open(&ev);
	rc = rc ? rc : ss_span_rows(ss, st, &ev, &lo, &hi);
	if (rc == 0 && ev.n > 0) {
		FILE *o = ss_profile_start(ss);
		fputs("{\"type\":\"evented\",\"name\":", o);
		ss_profile_name(o, "spans of ", th);
		fprintf(o,
		        ",\"unit\":\"nanoseconds\",\"startValue\":%" PRId64 ",\"endValue\":%" PRId64
		        ",\"events\":[",
		        lo, hi);
		rc = mg_spool_copy(&ev, o);
		fputs("]}", o);
	}
	mg_spool_close(&ev);
	return rc;
}

static int ss_profiles(struct ss *ss)
{
	struct mg_export *x = ss->x;
	sqlite3_stmt *th = mg_export_threads(x);
	sqlite3_stmt *sa = mg_export_prepare(
	    x, "SELECT stack_id, ts_ns, COALESCE(NULLIF(weight_ns, 0), 1) FROM x_tsamples "
	       "WHERE pid = ?1 AND tid = ?2 ORDER BY ts_ns");
	sqlite3_stmt *sp = mg_export_prepare(
	    x, "SELECT name, start_ns, end_ns FROM x_spans WHERE pid = ?1 AND tid = ?2 "
	       "ORDER BY start_ns, end_ns DESC, span_id");
	int rc = th && sa && sp ? 0 : -SP_EIO;
	while (rc == 0 && (rc = mg_export_step(x, th)) == 1) {
		for (int i = 0; i < 2; i++) {
			sqlite3_stmt *q = i ? sp : sa;
			sqlite3_reset(q);
			sqlite3_bind_int64(q, 1, sqlite3_column_int64(th, 0));
			sqlite3_bind_int64(q, 2, sqlite3_column_int64(th, 1));
		}
		rc = ss_sampled(ss, th, sa);
		rc = rc ? rc : ss_evented(ss, th, sp);
	}
	sqlite3_finalize(th);
	sqlite3_finalize(sa);
	sqlite3_finalize(sp);
	return rc;
}

static void ss_frame(FILE *o, const char *name, const char *file, int32_t line)
{
	fputs("{\"name\":", o);
	mg_json_str(o, name);
	if (file) {
		fputs(",\"file\":", o);
		mg_json_str(o, file);
	}
	if (line > 0)
		fprintf(o, ",\"line\":%" PRId32, line);
	putc('}', o);
}

static void ss_shared(struct ss *ss)
{
	struct mg_export *x = ss->x;
	FILE *o = x->out;
	fputs("\"shared\":{\"frames\":[", o);
	for (size_t i = 0; i < x->nfuncs; i++) {
		const struct mg_xfunc *f = &x->funcs[i];
		ss_frame(o, f->name ? f->name : "[unknown]", f->file ? f->file : f->module, 0);
		putc(',', o);
	}
	ss_frame(o, "[unknown]", NULL, 0);
	for (size_t i = 0; i < ss->span_names.count; i++) {
		char buf[4096];
		snprintf(buf, sizeof buf, "[span] %s", ss->span_names.strs[i]);
		putc(',', o);
		ss_frame(o, buf, NULL, 0);
	}
	fputs("]}", o);
}

int mg_export_speedscope(struct mg_export *x)
{
	struct ss ss = {.x = x, .base_ns = x->min_ns};
	if (mg_strtab_init(&ss.span_names) != 0)
		return -SP_ENOMEM;
	fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
	      "\"exporter\":\"spanprof\",\"name\":",
	      x->out);
	if (x->missing[0]) { /* the name is all the file shows of itself */
		char name[sizeof x->missing + 512];
		snprintf(name, sizeof name, "%s (missing: %s)", x->opts->db_path, x->missing);
		mg_json_str(x->out, name);
	} else {
		mg_json_str(x->out, x->opts->db_path);
	}
	fputs(",\"activeProfileIndex\":0,\"profiles\":[", x->out);
	int rc = ss_profiles(&ss);
	fputs("],", x->out);
	ss_shared(&ss);
	fputs("}\n", x->out);
	mg_strtab_free(&ss.span_names);
	return rc;
}
