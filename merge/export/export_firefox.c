/*
 * export_firefox.c - the Firefox Profiler's "processed profile" format
 * (JSON), preprocessedProfileVersion 60: the first version with the
 * stack, frame and function tables shared by all threads, which matches
 * the merged database's one call-site trie. The profiler (and its
 * profiler-cli) upgrades version 60 to its current version on load.
 *
 * Layout written: {"meta":{...},"libs":[],"threads":[...],"shared":{...}}.
 * One thread entry per (pid, tid) that has selected samples or spans:
 * samples (stack index + time in ms since meta.startTime) and the spans as
 * interval markers of type "Span" whose marker schema lists span_id,
 * parent_id, trace_id, depth and one field per attribute key (span ids
 * are random 63-bit numbers: written as decimal strings, which JavaScript
 * numbers could not hold exactly). "shared"
 * comes last because the string array only is complete at the end.
 *
 * Column-oriented tables (markers.name, markers.startTime, ...) are
 * spooled to temp files during one cursor pass and then copied out, so
 * memory does not grow with the number of spans. Single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "mg_grow.h"
#include "spanprof.h"

#define FX_VERSION 60

struct fx_attr_key {
	char *key;
	const char *format; /* integer, number or string */
};

struct fx {
	struct mg_export *x;
	mg_strtab strs;
	mg_strtab modules; /* resourceTable: module base names */
	int64_t *func_str; /* string index of each function name (+1 for [unknown]) */
	struct fx_attr_key *keys;
	size_t nkeys;
	int64_t base_ns; /* meta.startTime in ns */
};

static int fx_load_keys(struct fx *fx)
{
	sqlite3_stmt *st = mg_export_prepare(
	    fx->x, "SELECT key, max(typeof(value) = 'text' OR typeof(value) = 'blob'), "
	           "max(typeof(value) = 'real') FROM main.span_attrs GROUP BY key ORDER BY key");
	if (!st)
		return -SP_EIO;
	int rc;
	size_t cap = 0;
	while ((rc = mg_export_step(fx->x, st)) == 1) {
		if (MG_GROW_ONE(fx->keys, cap, fx->nkeys)) {
			rc = -SP_ENOMEM;
			break;
		}
		const unsigned char *key = sqlite3_column_text(st, 0);
		struct fx_attr_key *k = &fx->keys[fx->nkeys++];
		k->key = strdup(key ? (const char *)key : "");
		k->format = sqlite3_column_int(st, 1)   ? "string"
		            : sqlite3_column_int(st, 2) ? "number"
		                                        : "integer";
	}
	sqlite3_finalize(st);
	return rc;
}

static int64_t fx_key_idx(const struct fx *fx, const char *key)
{
	size_t lo = 0, hi = fx->nkeys;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(fx->keys[mid].key, key);
		if (c == 0)
			return (int64_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void fx_field(FILE *out, const char *key, const char *label, const char *format)
{
	fputs("{\"key\":", out);
	mg_json_str(out, key);
	fputs(",\"label\":", out);
	mg_json_str(out, label);
	fprintf(out, ",\"format\":\"%s\"}", format);
}

static void fx_marker_schema(struct fx *fx)
{
	FILE *out = fx->x->out;
	fputs("[{\"name\":\"Span\",\"display\":[\"marker-chart\",\"marker-table\","
	      "\"timeline-overview\"],\"chartLabel\":\"{marker.name}\","
	      "\"tableLabel\":\"{marker.name} #{marker.data.span_id}\","
	      "\"tooltipLabel\":\"{marker.name} (span {marker.data.span_id})\","
	      "\"description\":\"A spanprof span: a named interval with its attributes\","
	      "\"fields\":[",
	      out);
	fx_field(out, "span_id", "Span id", "string");
	putc(',', out);
	fx_field(out, "parent_id", "Parent span id", "string");
	putc(',', out);
	fx_field(out, "trace_id", "Trace id", "string");
	putc(',', out);
	fx_field(out, "depth", "Depth", "integer");
	for (size_t i = 0; i < fx->nkeys; i++) {
		char key[32];
		snprintf(key, sizeof key, "a%zu", i);
		putc(',', out);
		fx_field(out, key, fx->keys[i].key, fx->keys[i].format);
	}
	fputs("]}]", out);
}

static int64_t fx_interval_ns(struct mg_export *x)
{
	sqlite3_stmt *st = mg_export_prepare(
	    x, "SELECT (max(ts_ns) - min(ts_ns)) / (count(*) - 1) FROM x_samples "
	       "GROUP BY pid, tid HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 1");
	int64_t ns = 1000000;
	if (st && mg_export_step(x, st) == 1 && sqlite3_column_int64(st, 0) > 0)
		ns = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return ns;
}

static void fx_meta(struct fx *fx)
{
	FILE *out = fx->x->out;
	fputs("\"meta\":{\"interval\":", out);
	mg_json_ms(out, fx_interval_ns(fx->x));
	fputs(",\"startTime\":", out);
	mg_json_ms(out, fx->base_ns);
	/* The root range: from the first to the last event, markers included
	 * (without it the profiler starts at the first sample, and a span that
	 * begins earlier would reach outside the profile). */
	int64_t end_ns = fx->x->max_ns > fx->x->min_ns ? fx->x->max_ns : fx->x->min_ns + 1000;
	fputs(",\"profilingStartTime\":", out);
	mg_json_ms(out, fx->x->min_ns - fx->base_ns);
	fputs(",\"profilingEndTime\":", out);
	mg_json_ms(out, end_ns - fx->base_ns);
	fprintf(out,
	        ",\"processType\":0,\"product\":\"spanprof\",\"stackwalk\":1,\"version\":27,"
	        "\"preprocessedProfileVersion\":%d,\"symbolicated\":true,"
	        "\"importedFrom\":\"spanprof\",\"sampleUnits\":{\"time\":\"ms\","
	        "\"eventDelay\":\"ms\",\"threadCPUDelta\":\"ns\"},\"categories\":["
	        "{\"name\":\"Other\",\"color\":\"grey\",\"subcategories\":[\"Other\"]},"
	        "{\"name\":\"Span\",\"color\":\"blue\",\"subcategories\":[\"Other\"]}],"
	        "\"markerSchema\":",
	        FX_VERSION);
	fx_marker_schema(fx);
	if (fx->x->missing[0]) { /* an extra meta key: the profiler keeps it */
		fputs(",\"spanprofMissing\":", out);
		mg_json_str(out, fx->x->missing);
	}
	putc('}', out);
}

/* --- threads --- */

static int fx_samples(struct fx *fx, int64_t pid, int64_t tid)
{
	struct mg_export *x = fx->x;
	struct mg_spool stack = {0}, time = {0}, cpu = {0};
	sqlite3_stmt *st = mg_export_prepare(x, "SELECT stack_id, ts_ns, weight_ns FROM x_tsamples "
	                                        "WHERE pid = ?1 AND tid = ?2 ORDER BY ts_ns");
	int rc = st ? mg_spool_open(&stack) : -SP_EIO;
	rc = rc ? rc : mg_spool_open(&time);
	rc = rc ? rc : mg_spool_open(&cpu);
	if (st) {
		sqlite3_bind_int64(st, 1, pid);
		sqlite3_bind_int64(st, 2, tid);
	}
	while (rc == 0 && (rc = mg_export_step(x, st)) == 1) {
		rc = 0;
		int32_t idx = sqlite3_column_type(st, 0) == SQLITE_NULL
		                  ? -1
		                  : mg_export_stack_idx(x, sqlite3_column_int64(st, 0));
		if (idx >= 0)
			fprintf(mg_spool_next(&stack), "%" PRId32, x->stacks[idx].order);
		else
			fputs("null", mg_spool_next(&stack));
		mg_json_ms(mg_spool_next(&time), sqlite3_column_int64(st, 1) - fx->base_ns);
		/* the CPU time each sample stands for: the activity graph and CPU use */
		fprintf(mg_spool_next(&cpu), "%" PRId64, (int64_t)sqlite3_column_int64(st, 2));
		mg_export_tick(x);
	}
	if (rc == 0) {
		fputs("\"samples\":{\"stack\":[", x->out);
		rc = mg_spool_copy(&stack, x->out);
		fputs("],\"time\":[", x->out);
		rc = rc ? rc : mg_spool_copy(&time, x->out);
		fputs("],\"threadCPUDelta\":[", x->out);
		rc = rc ? rc : mg_spool_copy(&cpu, x->out);
		fprintf(x->out,
		        "],\"weight\":null,\"weightType\":\"samples\",\"length\":%" PRIu64 "}",
		        stack.n);
	}
	sqlite3_finalize(st);
	mg_spool_close(&stack);
	mg_spool_close(&time);
	mg_spool_close(&cpu);
	return rc;
}

enum { MK_DATA, MK_NAME, MK_START, MK_END, MK_PHASE, MK_CAT, MK_NCOLS };
static const char *const mk_names[MK_NCOLS] = {"data",    "name",  "startTime",
                                               "endTime", "phase", "category"};

/* Starts the marker of the span in the current row (data stays open). */
static int fx_marker_begin(struct fx *fx, struct mg_spool *col, sqlite3_stmt *st)
{
	const unsigned char *name = sqlite3_column_text(st, 3);
	int64_t si = mg_strtab_intern(&fx->strs, name ? (const char *)name : "?", NULL);
	if (si < 0)
		return -SP_ENOMEM;
	fprintf(mg_spool_next(&col[MK_NAME]), "%" PRId64, si);
	mg_json_ms(mg_spool_next(&col[MK_START]), sqlite3_column_int64(st, 4) - fx->base_ns);
	mg_json_ms(mg_spool_next(&col[MK_END]), sqlite3_column_int64(st, 5) - fx->base_ns);
	fputc('1', mg_spool_next(&col[MK_PHASE]));
	fputc('1', mg_spool_next(&col[MK_CAT]));
	FILE *d = mg_spool_next(&col[MK_DATA]);
	/* the recorded ids (columns 9, 10), as the other exports carry them */
	fprintf(d, "{\"type\":\"Span\",\"span_id\":\"%" PRId64 "\"",
	        (int64_t)sqlite3_column_int64(st, 9));
	if (sqlite3_column_type(st, 10) != SQLITE_NULL)
		fprintf(d, ",\"parent_id\":\"%" PRId64 "\"", (int64_t)sqlite3_column_int64(st, 10));
	if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
		fputs(",\"trace_id\":", d);
		mg_json_str(d, (const char *)sqlite3_column_text(st, 2));
	}
	fprintf(d, ",\"depth\":%" PRId64, (int64_t)sqlite3_column_int64(st, 6));
	return 0;
}

static void fx_marker_attr(struct fx *fx, FILE *d, sqlite3_stmt *st)
{
	const unsigned char *key = sqlite3_column_text(st, 7);
	int64_t k = key ? fx_key_idx(fx, (const char *)key) : -1;
	if (k < 0)
		return;
	fprintf(d, ",\"a%" PRId64 "\":", k);
	if (!strcmp(fx->keys[k].format, "string") && sqlite3_column_type(st, 8) != SQLITE_NULL)
		mg_json_str(d, (const char *)sqlite3_column_text(st, 8));
	else
		mg_json_value(d, st, 8);
}

static int fx_markers_rows(struct fx *fx, struct mg_spool *col, sqlite3_stmt *st)
{
	int rc;
	int64_t cur = INT64_MIN;
	char *prev_key = NULL;
	while ((rc = mg_export_step(fx->x, st)) == 1) {
		int64_t span_id = sqlite3_column_int64(st, 0);
		if (span_id != cur) {
			if (cur != INT64_MIN)
				putc('}', col[MK_DATA].f);
			if ((rc = fx_marker_begin(fx, col, st)) != 0)
				break;
			cur = span_id;
			free(prev_key);
			prev_key = NULL;
			mg_export_tick(fx->x);
		}
		const char *key = (const char *)sqlite3_column_text(st, 7);
		if (key && !mg_export_dup_key(&prev_key, key))
			fx_marker_attr(fx, col[MK_DATA].f, st);
	}
	free(prev_key);
	if (rc == 0 && cur != INT64_MIN)
		putc('}', col[MK_DATA].f);
	return rc;
}

static int fx_markers(struct fx *fx, int64_t pid, int64_t tid)
{
	struct mg_export *x = fx->x;
	struct mg_spool col[MK_NCOLS] = {{0}};
	sqlite3_stmt *st = mg_export_prepare(
	    x, "SELECT s.span_id, s.parent_id, s.trace_id, s.name, s.start_ns, s.end_ns, "
	       "s.depth, a.key, a.value, s.rec_id, s.rec_parent_id FROM x_spans s"
	       " LEFT JOIN main.span_attrs a "
	       "ON a.span_id = s.span_id WHERE s.pid = ?1 AND s.tid = ?2 "
	       "ORDER BY s.start_ns, s.span_id, a.key, a.rowid DESC");
	int rc = st ? 0 : -SP_EIO;
	for (int i = 0; rc == 0 && i < MK_NCOLS; i++)
		rc = mg_spool_open(&col[i]);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, pid);
		sqlite3_bind_int64(st, 2, tid);
		rc = fx_markers_rows(fx, col, st);
	}
	if (rc == 0) {
		fputs("\"markers\":{", x->out);
		for (int i = 0; rc == 0 && i < MK_NCOLS; i++) {
			fprintf(x->out, "\"%s\":[", mk_names[i]);
			rc = mg_spool_copy(&col[i], x->out);
			fputs("],", x->out);
		}
		fprintf(x->out, "\"length\":%" PRIu64 "}", col[MK_NAME].n);
	}
	for (int i = 0; i < MK_NCOLS; i++)
		mg_spool_close(&col[i]);
	sqlite3_finalize(st);
	return rc;
}

static void fx_thread_head(struct fx *fx, sqlite3_stmt *st)
{
	FILE *out = fx->x->out;
	int64_t pid = sqlite3_column_int64(st, 0), tid = sqlite3_column_int64(st, 1);
	const char *tname = (const char *)sqlite3_column_text(st, 2);
	const char *exe = (const char *)sqlite3_column_text(st, 3);
	const char *base = exe && strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	char fallback[64];
	snprintf(fallback, sizeof fallback, "thread %" PRId64, tid);
	fputs("{\"processType\":\"default\",\"processStartupTime\":0,"
	      "\"processShutdownTime\":null,\"registerTime\":0,\"unregisterTime\":null,"
	      "\"pausedRanges\":[],\"name\":",
	      out);
	mg_json_str(out, tname && *tname ? tname : fallback);
	fputs(",\"processName\":", out);
	mg_json_str(out, base && *base ? base : "process");
	fprintf(out,
	        ",\"isMainThread\":%s,\"pid\":\"%" PRId64 "\",\"tid\":%" PRId64 ","
	        "\"showMarkersInTimeline\":true,",
	        pid == tid ? "true" : "false", pid, tid);
}

static int fx_threads(struct fx *fx)
{
	struct mg_export *x = fx->x;
	sqlite3_stmt *st = mg_export_threads(x);
	int rc = st ? 0 : -SP_EIO, n = 0;
	fputs("\"threads\":[", x->out);
	while (rc == 0 && (rc = mg_export_step(x, st)) == 1) {
		if (n++)
			putc(',', x->out);
		fx_thread_head(fx, st);
		int64_t pid = sqlite3_column_int64(st, 0), tid = sqlite3_column_int64(st, 1);
		rc = fx_samples(fx, pid, tid);
		putc(',', x->out);
		rc = rc ? rc : fx_markers(fx, pid, tid);
		putc('}', x->out);
	}
	putc(']', x->out);
	sqlite3_finalize(st);
	return rc;
}

/* --- shared tables --- */

static void fx_repeat(FILE *out, const char *key, const char *value, size_t n)
{
	fprintf(out, "\"%s\":[", key);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? "," : "", value);
	fputs("],", out);
}

static int fx_stack_table(struct fx *fx)
{
	struct mg_export *x = fx->x;
	FILE *out = x->out;
	int32_t *by_order = malloc((x->nstacks + 1) * sizeof *by_order);
	if (!by_order)
		return -SP_ENOMEM;
	for (size_t i = 0; i < x->nstacks; i++)
		by_order[x->stacks[i].order] = (int32_t)i;
	fputs("\"stackTable\":{\"frame\":[", out);
	for (size_t o = 0; o < x->nstacks; o++) {
		int32_t f = x->stacks[by_order[o]].frame_idx;
		fprintf(out, "%s%" PRId32, o ? "," : "", f >= 0 ? f : (int32_t)x->nframes);
	}
	fputs("],\"prefix\":[", out);
	for (size_t o = 0; o < x->nstacks; o++) {
		int32_t p = x->stacks[by_order[o]].parent_idx;
		if (p >= 0)
			fprintf(out, "%s%" PRId32, o ? "," : "", x->stacks[p].order);
		else
			fprintf(out, "%snull", o ? "," : "");
	}
	fprintf(out, "],\"length\":%zu}", x->nstacks);
	free(by_order);
	return 0;
}

static void fx_frame_table(struct fx *fx)
{
	struct mg_export *x = fx->x;
	FILE *out = x->out;
	size_t n = x->nframes + 1; /* + the [unknown] frame */
	fputs("\"frameTable\":{", out);
	fx_repeat(out, "address", "-1", n);
	fx_repeat(out, "inlineDepth", "0", n);
	fx_repeat(out, "category", "0", n);
	fx_repeat(out, "subcategory", "0", n);
	fx_repeat(out, "nativeSymbol", "null", n);
	fx_repeat(out, "innerWindowID", "null", n);
	fx_repeat(out, "column", "null", n);
	fputs("\"func\":[", out);
	for (size_t i = 0; i < x->nframes; i++)
		fprintf(out, "%" PRId32 ",", x->frames[i].func_idx);
	fprintf(out, "%zu],\"line\":[", x->nfuncs);
	for (size_t i = 0; i < x->nframes; i++)
		if (x->frames[i].line > 0)
			fprintf(out, "%" PRId32 ",", x->frames[i].line);
		else
			fputs("null,", out);
	fprintf(out, "null],\"length\":%zu}", n);
}

/* funcTable and sources: one source per distinct file name. */
static int fx_func_table(struct fx *fx)
{
	struct mg_export *x = fx->x;
	FILE *out = x->out;
	mg_strtab files;
	size_t n = x->nfuncs + 1;
	if (mg_strtab_init(&files) != 0)
		return -SP_ENOMEM;
	fputs("\"funcTable\":{\"name\":[", out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%" PRId64, i ? "," : "", fx->func_str[i]);
	fputs("],", out);
	fx_repeat(out, "isJS", "false", n);
	fx_repeat(out, "relevantForJS", "false", n);
	fputs("\"resource\":[", out);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *mod = i < x->nfuncs ? x->funcs[i].module : NULL;
		const char *base = mod && strrchr(mod, '/') ? strrchr(mod, '/') + 1 : mod;
		int64_t r = base && *base ? mg_strtab_intern(&fx->modules, base, NULL) : -1;
		if (base && *base && r < 0)
			rc = -SP_ENOMEM;
		fprintf(out, "%s%" PRId64, i ? "," : "", r);
	}
	fputs("],", out);
	fx_repeat(out, "lineNumber", "null", n);
	fx_repeat(out, "columnNumber", "null", n);
	fputs("\"source\":[", out);
	for (size_t i = 0; i < n; i++) {
		const char *file = i < x->nfuncs ? x->funcs[i].file : NULL;
		int64_t s = file && *file ? mg_strtab_intern(&files, file, NULL) : -1;
		if (s == -SP_ENOMEM)
			rc = -SP_ENOMEM;
		if (s >= 0)
			fprintf(out, "%s%" PRId64, i ? "," : "", s);
		else
			fprintf(out, "%snull", i ? "," : "");
	}
	fprintf(out, "],\"length\":%zu},\"sources\":{\"id\":[", n);
	for (size_t i = 0; i < files.count; i++)
		fprintf(out, "%snull", i ? "," : "");
	fputs("],\"filename\":[", out);
	for (size_t i = 0; rc == 0 && i < files.count; i++) {
		int64_t s = mg_strtab_intern(&fx->strs, files.strs[i], NULL);
		if (s < 0)
			rc = -SP_ENOMEM;
		fprintf(out, "%s%" PRId64, i ? "," : "", s);
	}
	fprintf(out, "],\"length\":%zu}", files.count);
	mg_strtab_free(&files);
	return rc;
}

/* One resource per module (by base name), so the call tree shows
 * "libc.so.6!memcpy"-style names. No libs: symbols are resolved already. */
static int fx_resource_table(struct fx *fx)
{
	FILE *out = fx->x->out;
	size_t n = fx->modules.count;
	int rc = 0;
	fputs(",\"resourceTable\":{", out);
	fx_repeat(out, "type", "1", n);
	fx_repeat(out, "lib", "null", n);
	fx_repeat(out, "host", "null", n);
	fputs("\"name\":[", out);
	for (size_t i = 0; i < n; i++) {
		int64_t s = mg_strtab_intern(&fx->strs, fx->modules.strs[i], NULL);
		if (s < 0)
			rc = -SP_ENOMEM;
		fprintf(out, "%s%" PRId64, i ? "," : "", s);
	}
	fprintf(out, "],\"length\":%zu}", n);
	return rc;
}

static int fx_shared(struct fx *fx)
{
	FILE *out = fx->x->out;
	fputs("\"shared\":{", out);
	int rc = fx_stack_table(fx);
	putc(',', out);
	fx_frame_table(fx);
	putc(',', out);
	rc = rc ? rc : fx_func_table(fx);
	rc = rc ? rc : fx_resource_table(fx);
	fputs(",\"nativeSymbols\":{\"libIndex\":[],\"address\":[],\"name\":[],"
	      "\"functionSize\":[],\"length\":0},\"stringArray\":[",
	      out);
	for (size_t i = 0; i < fx->strs.count; i++) {
		if (i)
			putc(',', out);
		mg_json_str(out, fx->strs.strs[i]);
	}
	fputs("]}", out);
	return rc;
}

static int fx_init(struct fx *fx, struct mg_export *x)
{
	fx->x = x;
	/* Zero is the first event, so the root range starts at 0.0: the
	 * profiler adds the root start to relative times, and with a fraction
	 * of a millisecond there a zoomed range's ends came out an ulp off
	 * the marker times they were taken from (profiler-cli then failed an
	 * assertion naming them: "assert failed"). */
	fx->base_ns = x->min_ns;
	if (mg_strtab_init(&fx->strs) != 0 || mg_strtab_init(&fx->modules) != 0)
		return -SP_ENOMEM;
	fx->func_str = malloc((x->nfuncs + 1) * sizeof *fx->func_str);
	if (!fx->func_str)
		return -SP_ENOMEM;
	for (size_t i = 0; i <= x->nfuncs; i++) {
		const char *name =
		    i < x->nfuncs && x->funcs[i].name ? x->funcs[i].name : "[unknown]";
		if ((fx->func_str[i] = mg_strtab_intern(&fx->strs, name, NULL)) < 0)
			return -SP_ENOMEM;
	}
	return fx_load_keys(fx);
}

int mg_export_firefox(struct mg_export *x)
{
	struct fx fx = {0};
	int rc = fx_init(&fx, x);
	if (rc == 0) {
		putc('{', x->out);
		fx_meta(&fx);
		fputs(",\"libs\":[],\"pages\":[],", x->out);
		rc = fx_threads(&fx);
		putc(',', x->out);
		rc = rc ? rc : fx_shared(&fx);
		fputs("}\n", x->out);
	}
	for (size_t i = 0; i < fx.nkeys; i++)
		free(fx.keys[i].key);
	free(fx.keys);
	free(fx.func_str);
	mg_strtab_free(&fx.strs);
	mg_strtab_free(&fx.modules);
	return rc;
}
