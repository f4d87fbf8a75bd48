/*
 * export_chrome.c - Chrome trace event JSON (Perfetto UI, chrome://tracing,
 * Chrome DevTools performance panel).
 *
 * Events written into {"traceEvents":[...]}:
 *  - "M" metadata: process_name and thread_name for every (pid, tid);
 *  - "X" complete events, one per span, cat "span", args = span_id,
 *    parent_id, trace_id, depth and the span's attributes by key (ids as
 *    decimal strings: they are random 63-bit numbers, beyond a double);
 *  - per thread one "P" Profile event and "P" ProfileChunk events carrying
 *    cpuProfile nodes (a synthetic "(root)" node with id 1, then one node
 *    per call-site trie node, id = 2 + its index, sent the first time a
 *    sample of that thread needs it, parents first), samples (node ids)
 *    and timeDeltas (integral microseconds), so the samples show on the
 *    same timeline as the spans.
 * Timestamps are microseconds since otherData.spanprof_base_ns (the
 * earliest selected event, ns since the Unix epoch): absolute epoch
 * microseconds with ns decimals would exceed a double's precision.
 *
 * Memory: one bit per trie node for "node already sent on this thread".
 * Single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "spanprof.h"

#define CH_CHUNK_SAMPLES 1000

struct ch {
	struct mg_export *x;
	int64_t base_ns;
	uint8_t *sent; /* bitmap over x->stacks */
	int nevents;
};

static FILE *ch_event(struct ch *ch)
{
	if (ch->nevents++)
		fputs(",\n", ch->x->out);
	return ch->x->out;
}

static int ch_metadata(struct ch *ch)
{
	struct mg_export *x = ch->x;
	sqlite3_stmt *st = mg_export_threads(x);
	int rc = st ? 0 : -SP_EIO;
	int64_t last_pid = INT64_MIN;
	while (rc == 0 && (rc = mg_export_step(x, st)) == 1) {
		rc = 0;
		int64_t pid = sqlite3_column_int64(st, 0), tid = sqlite3_column_int64(st, 1);
		const char *tname = (const char *)sqlite3_column_text(st, 2);
		const char *exe = (const char *)sqlite3_column_text(st, 3);
		if (pid != last_pid) {
			const char *base = exe && strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
			FILE *o = ch_event(ch);
			fprintf(o,
			        "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%" PRId64
			        ",\"tid\":%" PRId64 ",\"args\":{\"name\":",
			        pid, pid);
			mg_json_str(o, base && *base ? base : "process");
			fputs("}}", o);
			last_pid = pid;
		}
		if (tname) {
			FILE *o = ch_event(ch);
			fprintf(o,
			        "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%" PRId64
			        ",\"tid\":%" PRId64 ",\"args\":{\"name\":",
			        pid, tid);
			mg_json_str(o, tname);
			fputs("}}", o);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static int reserved_key(const char *k)
{
	return !strcmp(k, "span_id") || !strcmp(k, "parent_id") || !strcmp(k, "trace_id") ||
	       !strcmp(k, "depth");
}

/* Columns: 0 span_id 1 parent_id 2 trace_id 3 name 4 start 5 end 6 depth
 * 7 pid 8 tid 9 key 10 value 11 rec_id 12 rec_parent_id (args carry the
 * recorded ids, as the other exports do) */
static void ch_span_begin(struct ch *ch, sqlite3_stmt *st)
{
	FILE *o = ch_event(ch);
	fputs("{\"ph\":\"X\",\"cat\":\"span\",\"name\":", o);
	mg_json_str(o, (const char *)sqlite3_column_text(st, 3));
	int64_t start = sqlite3_column_int64(st, 4), end = sqlite3_column_int64(st, 5);
	fputs(",\"ts\":", o);
	mg_json_us(o, start - ch->base_ns);
	fputs(",\"dur\":", o);
	mg_json_us(o, end > start ? end - start : 0);
	fprintf(o, ",\"pid\":%" PRId64 ",\"tid\":%" PRId64 ",\"args\":{\"span_id\":\"%" PRId64 "\"",
	        (int64_t)sqlite3_column_int64(st, 7), (int64_t)sqlite3_column_int64(st, 8),
	        (int64_t)sqlite3_column_int64(st, 11));
	fputs(",\"parent_id\":", o);
	if (sqlite3_column_type(st, 12) == SQLITE_NULL)
		fputs("null", o);
	else
		fprintf(o, "\"%" PRId64 "\"", (int64_t)sqlite3_column_int64(st, 12));
	fputs(",\"trace_id\":", o);
	mg_json_value(o, st, 2);
	fputs(",\"depth\":", o);
	mg_json_value(o, st, 6);
}

static int ch_spans(struct ch *ch)
{
	struct mg_export *x = ch->x;
	sqlite3_stmt *st = mg_export_prepare(
	    x,
	    "SELECT s.span_id, s.parent_id, s.trace_id, s.name, s.start_ns, s.end_ns, "
	    "s.depth, s.pid, s.tid, a.key, a.value, s.rec_id, s.rec_parent_id FROM x_spans s "
	    "LEFT JOIN "
	    "main.span_attrs a ON a.span_id = s.span_id ORDER BY s.span_id, a.key, a.rowid DESC");
	int rc = st ? 0 : -SP_EIO, open = 0;
	int64_t cur = 0;
	char *prev_key = NULL;
	while (rc == 0 && (rc = mg_export_step(x, st)) == 1) {
		rc = 0;
		if (!open || sqlite3_column_int64(st, 0) != cur) {
			if (open)
				fputs("}}", x->out);
			ch_span_begin(ch, st);
			cur = sqlite3_column_int64(st, 0);
			open = 1;
			free(prev_key);
			prev_key = NULL;
			mg_export_tick(x);
		}
		const char *key = (const char *)sqlite3_column_text(st, 9);
		if (key && !reserved_key(key) && !mg_export_dup_key(&prev_key, key)) {
			putc(',', x->out);
			mg_json_str(x->out, key);
			putc(':', x->out);
			mg_json_value(x->out, st, 10);
		}
	}
	if (open)
		fputs("}}", x->out);
	free(prev_key);
	sqlite3_finalize(st);
	return rc;
}

/* --- samples as Profile / ProfileChunk --- */

struct ch_chunk {
	struct mg_spool nodes, samples, deltas;
	int64_t first_ts;
};

static int ch_node(struct ch *ch, struct ch_chunk *c, int32_t idx)
{
	struct mg_export *x = ch->x;
	const struct mg_xstack *s = &x->stacks[idx];
	FILE *o = mg_spool_next(&c->nodes);
	fprintf(o, "{\"id\":%" PRId32 ",\"parent\":%" PRId32 ",\"callFrame\":{\"functionName\":",
	        idx + 2, s->parent_idx >= 0 ? s->parent_idx + 2 : 1);
	mg_json_str(o, mg_export_stack_name(x, idx));
	const struct mg_xframe *f = s->frame_idx >= 0 ? &x->frames[s->frame_idx] : NULL;
	const char *file = f ? x->funcs[f->func_idx].file : NULL;
	fputs(",\"url\":", o);
	mg_json_str(o, file ? file : (f ? x->funcs[f->func_idx].module : ""));
	fprintf(o, ",\"scriptId\":0,\"lineNumber\":%d,\"columnNumber\":-1,\"codeType\":\"other\"}}",
	        f && f->line > 0 ? f->line - 1 : -1);
	return 0;
}

/* Sends the node and its unsent ancestors, root first. */
static void ch_send_path(struct ch *ch, struct ch_chunk *c, int32_t idx)
{
	int32_t path[512];
	int n = 0;
	for (int32_t i = idx; i >= 0 && n < 512; i = ch->x->stacks[i].parent_idx) {
		if (ch->sent[i >> 3] & (1u << (i & 7)))
			break;
		path[n++] = i;
	}
	while (n-- > 0) {
		ch->sent[path[n] >> 3] |= (uint8_t)(1u << (path[n] & 7));
		ch_node(ch, c, path[n]);
	}
}

static int ch_chunk_open(struct ch_chunk *c)
{
	memset(c, 0, sizeof *c);
	int rc = mg_spool_open(&c->nodes);
	rc = rc ? rc : mg_spool_open(&c->samples);
	return rc ? rc : mg_spool_open(&c->deltas);
}

static void ch_chunk_close(struct ch_chunk *c)
{
	mg_spool_close(&c->nodes);
	mg_spool_close(&c->samples);
	mg_spool_close(&c->deltas);
}

static int ch_chunk_flush(struct ch *ch, struct ch_chunk *c, int64_t pid, int64_t tid)
{
	if (c->samples.n == 0)
		return 0;
	FILE *o = ch_event(ch);
	fprintf(o,
	        "{\"ph\":\"P\",\"name\":\"ProfileChunk\",\"id\":\"0x%" PRIx64 "\",\"pid\":%" PRId64
	        ",\"tid\":%" PRId64 ",\"ts\":",
	        (uint64_t)tid, pid, tid);
	mg_json_us(o, c->first_ts - ch->base_ns);
	fputs(",\"cat\":\"disabled-by-default-v8.cpu_profiler\",\"args\":{\"data\":{"
	      "\"cpuProfile\":{\"nodes\":[",
	      o);
	int rc = mg_spool_copy(&c->nodes, o);
	fputs("],\"samples\":[", o);
	rc = rc ? rc : mg_spool_copy(&c->samples, o);
	fputs("]},\"timeDeltas\":[", o);
	rc = rc ? rc : mg_spool_copy(&c->deltas, o);
	fputs("]}}}", o);
	ch_chunk_close(c);
	return rc ? rc : ch_chunk_open(c);
}

static void ch_profile_head(struct ch *ch, int64_t pid, int64_t tid, int64_t first_ns)
{
	FILE *o = ch_event(ch);
	fprintf(o,
	        "{\"ph\":\"P\",\"name\":\"Profile\",\"id\":\"0x%" PRIx64 "\",\"pid\":%" PRId64
	        ",\"tid\":%" PRId64 ",\"ts\":",
	        (uint64_t)tid, pid, tid);
	mg_json_us(o, first_ns - ch->base_ns);
	fputs(",\"cat\":\"disabled-by-default-v8.cpu_profiler\",\"args\":{\"data\":{"
	      "\"startTime\":",
	      o);
	fprintf(o, "%" PRId64 "}}}", (first_ns - ch->base_ns) / 1000);
}

static int ch_thread_samples(struct ch *ch, sqlite3_stmt *st, int64_t pid, int64_t tid)
{
	struct mg_export *x = ch->x;
	struct ch_chunk c;
	int rc = ch_chunk_open(&c), first = 1;
	int64_t prev_us = 0;
	memset(ch->sent, 0, (x->nstacks + 7) / 8 + 1);
	while (rc == 0 && (rc = mg_export_step(x, st)) == 1) {
		rc = 0;
		int64_t ts = sqlite3_column_int64(st, 1), us = (ts - ch->base_ns) / 1000;
		if (first) {
			ch_profile_head(ch, pid, tid, ts);
			fputs("{\"id\":1,\"callFrame\":{\"functionName\":\"(root)\",\"url\":\"\","
			      "\"scriptId\":0,\"lineNumber\":-1,\"columnNumber\":-1}}",
			      mg_spool_next(&c.nodes));
			prev_us = us;
			first = 0;
		}
		if (c.samples.n == 0)
			c.first_ts = ts;
		int32_t idx = sqlite3_column_type(st, 0) == SQLITE_NULL
		                  ? -1
		                  : mg_export_stack_idx(x, sqlite3_column_int64(st, 0));
		if (idx >= 0)
			ch_send_path(ch, &c, idx);
		fprintf(mg_spool_next(&c.samples), "%" PRId32, idx >= 0 ? idx + 2 : 1);
		fprintf(mg_spool_next(&c.deltas), "%" PRId64, us - prev_us);
		prev_us = us;
		if (c.samples.n == CH_CHUNK_SAMPLES)
			rc = ch_chunk_flush(ch, &c, pid, tid);
		mg_export_tick(x);
	}
	rc = rc ? rc : ch_chunk_flush(ch, &c, pid, tid);
	ch_chunk_close(&c);
	return rc;
}

static int ch_samples(struct ch *ch)
{
	struct mg_export *x = ch->x;
	sqlite3_stmt *threads =
	    mg_export_prepare(x, "SELECT DISTINCT pid, tid FROM x_samples ORDER BY pid, tid");
	sqlite3_stmt *st = mg_export_prepare(x, "SELECT stack_id, ts_ns FROM x_tsamples "
	                                        "WHERE pid = ?1 AND tid = ?2 ORDER BY ts_ns");
	int rc = threads && st ? 0 : -SP_EIO;
	while (rc == 0 && (rc = mg_export_step(x, threads)) == 1) {
		int64_t pid = sqlite3_column_int64(threads, 0),
		        tid = sqlite3_column_int64(threads, 1);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, pid);
		sqlite3_bind_int64(st, 2, tid);
		rc = ch_thread_samples(ch, st, pid, tid);
	}
	sqlite3_finalize(threads);
	sqlite3_finalize(st);
	return rc;
}

int mg_export_chrome(struct mg_export *x)
{
	struct ch ch = {.x = x, .base_ns = x->min_ns};
	ch.sent = calloc((x->nstacks + 7) / 8 + 1, 1);
	if (!ch.sent)
		return -SP_ENOMEM;
	fputs("{\"traceEvents\":[\n", x->out);
	int rc = ch_metadata(&ch);
	rc = rc ? rc : ch_spans(&ch);
	rc = rc ? rc : ch_samples(&ch);
	fprintf(x->out,
	        "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"exporter\":\"spanprof\","
	        "\"spanprof_base_ns\":%" PRId64,
	        ch.base_ns);
	if (x->missing[0]) { /* otherData: the trace's metadata */
		fputs(",\"spanprof_missing\":", x->out);
		mg_json_str(x->out, x->missing);
	}
	fputs("}}\n", x->out);
	free(ch.sent);
	return rc;
}
