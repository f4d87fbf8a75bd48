/*
 * export_otlp.c - OpenTelemetry traces: 'spanprof export --format otlp'
 * writes one OTLP/protobuf ExportTraceServiceRequest to a file, and
 * 'spanprof push' (cmd_push.c) sends the same spans with OTLP/HTTP. Both
 * use one scanner, mg_otlp_scan, that hands packed pieces to a sink.
 *
 * Mapping (docs/export.md, "OpenTelemetry"):
 *   - one ResourceSpans per process (pid): service.name ($SPANPROF_SERVICE
 *     at export time, else the executable's base name), host.name,
 *     process.pid, process.executable.path, process.command_line;
 *   - every selected span, with the recorded trace id (16 bytes) and span
 *     id (8 bytes: the 64-bit spans.span_id, big-endian, so its hex is the
 *     16 hex digits Pyroscope's span_id label carries), its parent, start
 *     and end in Unix ns, thread.id and its attributes with their types;
 *     a span whose END is missing (spans.cut > 0) gets status ERROR and a
 *     message saying why, and the attribute spanprof.cut.
 *
 * Streaming: protobuf prefixes a message with its length, so a writer must
 * know a message's size before writing it. Spans come from one SQLite
 * cursor in (pid, start) order and are packed one by one (protobuf-c, code
 * generated from merge/export/otlp_*.proto) into a ScopeSpans chunk of bounded
 * size; the framing of ResourceSpans and ScopeSpans around the packed
 * pieces is written here (otlp_put_len). The file sink spools a process's
 * chunks to a temporary file and writes the ResourceSpans once its length
 * is known; push sends each chunk in a request of its own size class.
 * Memory: one chunk and one span's attributes, whatever the database size.
 *
 * Threading: single-threaded, like every exporter.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "json.h"
#include "mg_err.h"
#include "mg_grow.h"
#include "otlp_common.pb-c.h"
#include "otlp_resource.pb-c.h"
#include "otlp_trace.pb-c.h"
#include "spanprof.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue otlp_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue otlp_any;
typedef Opentelemetry__Proto__Trace__V1__Span otlp_span_msg;

/* A file chunk: far under push's 4 MiB request cap, large enough that the
 * framing is negligible. */
#define OTLP_FILE_CHUNK_BYTES (1u << 20)

/* Span flags (trace.proto SpanFlags): the W3C sampled bit, and "is the
 * parent remote" known (bit 8) and true (bit 9). */
#define OTLP_FLAG_SAMPLED          0x1u
#define OTLP_FLAG_HAS_IS_REMOTE    0x100u
#define OTLP_FLAG_PARENT_IS_REMOTE 0x200u

/* --- bytes --- */

int mg_otlp_buf_reserve(struct mg_otlp_buf *b, size_t more)
{
	if (more > SIZE_MAX - b->len)
		return -SP_ENOMEM;
	return mg_grow(&b->p, &b->cap, b->len + more, 1);
}

int mg_otlp_buf_put(struct mg_otlp_buf *b, const void *data, size_t len)
{
	if (mg_otlp_buf_reserve(b, len))
		return -SP_ENOMEM;
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

/* The key of a length-delimited field (wire type 2) and the length. */
int mg_otlp_put_len(struct mg_otlp_buf *b, unsigned field, uint64_t len)
{
	uint8_t tmp[20];
	size_t n = 0;
	uint64_t vals[2] = {(uint64_t)field << 3 | 2, len};
	for (int i = 0; i < 2; i++) {
		uint64_t v = vals[i];
		do {
			tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			v >>= 7;
		} while (v);
	}
	return mg_otlp_buf_put(b, tmp, n);
}

void mg_otlp_buf_free(struct mg_otlp_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Appends field `field` holding message m (key, length, packed m). */
static int otlp_put_msg(struct mg_otlp_buf *b, unsigned field, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	if (mg_otlp_put_len(b, field, n) || mg_otlp_buf_reserve(b, n))
		return -SP_ENOMEM;
	b->len += protobuf_c_message_pack(m, b->p + b->len);
	return 0;
}

/* --- text: protobuf strings must be valid UTF-8 (a collector refuses
 * the whole request otherwise); invalid bytes become U+FFFD. --- */

/* Appends s (NUL-terminated) to the arena as valid UTF-8 with its NUL;
 * returns its offset, or -1 on NOMEM. */
static int64_t otlp_arena_str(struct mg_otlp_buf *a, const char *s)
{
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	size_t len = strlen((const char *)u);
	int64_t off = (int64_t)a->len;
	for (size_t i = 0; i < len;) {
		size_t n = mg_json_utf8_len(u + i, len - i);
		int rc = n ? mg_otlp_buf_put(a, u + i, n) : mg_otlp_buf_put(a, "\xef\xbf\xbd", 3);
		if (rc)
			return -1;
		i += n ? n : 1;
	}
	return mg_otlp_buf_put(a, "", 1) ? -1 : off;
}

/* --- ids --- */

static void otlp_u64_be(uint8_t *out, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

static int otlp_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The recorded trace id (32 hex digits). A database written by hand may
 * hold anything else: such spans keep one trace per distinct text (two
 * FNV-1a hashes), and spans without one a trace per process. */
static void otlp_trace_id(const char *text, int64_t pid, uint8_t out[16])
{
	int ok = text && strlen(text) == 32;
	for (int i = 0; ok && i < 16; i++) {
		int hi = otlp_hexval(text[2 * i]), lo = otlp_hexval(text[2 * i + 1]);
		ok = hi >= 0 && lo >= 0;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	for (int i = 0; ok && i < 16; i++)
		if (out[i])
			return; /* valid and not all zero */
	char key[64];
	if (!text)
		snprintf(key, sizeof key, "spanprof:pid:%" PRId64, pid), text = key;
	uint64_t h1 = 1469598103934665603ull, h2 = 0x84222325cbf29ce4ull;
	for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
		h1 = (h1 ^ *s) * 1099511628211ull;
		h2 = (h2 ^ *s) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
	}
	otlp_u64_be(out, h1);
	otlp_u64_be(out + 8, h2 | 1);
}

/* --- resources --- */

static int otlp_kv_str(otlp_kv *kv, otlp_any *v, const char *key, char *s)
{
	kv->key = (char *)key;
	kv->value = v;
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = s;
	return 1;
}

static const char *otlp_basename(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? slash + 1 : path;
}

/* Packs the Resource of pid into r (replacing its content). Columns of the
 * process query: host, exe, cmdline. */
static int otlp_resource(struct mg_export *x, int64_t pid, struct mg_otlp_buf *r)
{
	sqlite3_stmt *st = mg_export_prepare(x, "SELECT host, exe, cmdline FROM main.processes "
	                                        "WHERE pid = ?1 ORDER BY start_ns DESC LIMIT 1");
	if (!st)
		return -SP_EIO;
	sqlite3_bind_int64(st, 1, pid);
	int rc = mg_export_step(x, st);
	struct mg_otlp_buf a = {0};
	const char *cols[3] = {"", "", ""};
	for (int i = 0; rc == 1 && i < 3; i++)
		if (sqlite3_column_text(st, i))
			cols[i] = (const char *)sqlite3_column_text(st, i);
	const char *service = getenv("SPANPROF_SERVICE");
	if (!service || !*service)
		service = *otlp_basename(cols[1]) ? otlp_basename(cols[1]) : "spanprof";
	int64_t off[5] = {otlp_arena_str(&a, service), otlp_arena_str(&a, cols[0]),
	                  otlp_arena_str(&a, cols[1]), otlp_arena_str(&a, cols[2]),
	                  otlp_arena_str(&a, x->missing)};
	sqlite3_finalize(st);
	if (rc < 0)
		goto out;
	rc = -SP_ENOMEM;
	for (int i = 0; i < 5; i++)
		if (off[i] < 0)
			goto out;
	otlp_kv kv[6];
	otlp_any v[6];
	otlp_kv *kvp[6];
	size_t n = 0;
	for (int i = 0; i < 6; i++) {
		opentelemetry__proto__common__v1__key_value__init(&kv[i]);
		opentelemetry__proto__common__v1__any_value__init(&v[i]);
		kvp[i] = &kv[i];
	}
	static const char *const keys[] = {"service.name", "host.name", "process.executable.path",
	                                   "process.command_line"};
	for (int i = 0; i < 4; i++) /* cols died with st: test the copies */
		if (i == 0 || a.p[off[i]])
			n += otlp_kv_str(&kv[n], &v[n], keys[i], (char *)a.p + off[i]);
	kv[n].key = "process.pid";
	kv[n].value = &v[n];
	v[n].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	v[n++].int_value = pid;
	if (x->missing[0]) /* the loss summary, where the format has room */
		n += otlp_kv_str(&kv[n], &v[n], "spanprof.missing", (char *)a.p + off[4]);
	Opentelemetry__Proto__Resource__V1__Resource res =
	    OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	res.n_attributes = n;
	res.attributes = kvp;
	r->len = 0;
	size_t size = protobuf_c_message_get_packed_size(&res.base);
	rc = mg_otlp_buf_reserve(r, size);
	if (rc == 0)
		r->len = protobuf_c_message_pack(&res.base, r->p);
out:
	mg_otlp_buf_free(&a);
	return rc < 0 ? rc : 0;
}

/* --- spans --- */

/* One span's attributes: strings in an arena (SQLite's text pointers die
 * at the next step), offsets turned into pointers once all are read. */
struct otlp_attrs {
	sqlite3_stmt *st; /* key, value of one span, newest value of a key first */
	struct mg_otlp_buf arena;
	otlp_kv *kv;
	otlp_any *v;
	otlp_kv **kvp;
	int64_t *key_off, *str_off; /* str_off -1: not a string */
	size_t n, cap;
};

static int otlp_attrs_grow(struct otlp_attrs *at)
{
	if (at->n < at->cap)
		return 0;
	/* five columns share one capacity; each keeps what it got */
	size_t cap = mg_grow_cap(at->cap, at->n + 1, sizeof *at->v);
	if (!cap)
		return -SP_ENOMEM;
	otlp_kv *kv = mg_realloc_n(at->kv, cap, sizeof *kv);
	if (kv)
		at->kv = kv;
	otlp_any *v = mg_realloc_n(at->v, cap, sizeof *v);
	if (v)
		at->v = v;
	otlp_kv **kvp = mg_realloc_n(at->kvp, cap, sizeof *kvp);
	if (kvp)
		at->kvp = kvp;
	int64_t *ko = mg_realloc_n(at->key_off, cap, sizeof *ko);
	if (ko)
		at->key_off = ko;
	int64_t *so = mg_realloc_n(at->str_off, cap, sizeof *so);
	if (so)
		at->str_off = so;
	if (!kv || !v || !kvp || !ko || !so)
		return -SP_ENOMEM;
	at->cap = cap;
	return 0;
}

/* Adds one attribute; text values go to the arena. */
static int otlp_attr_add(struct otlp_attrs *at, const char *key, int type, sqlite3_stmt *st,
                         int col, int64_t num)
{
	if (otlp_attrs_grow(at))
		return -SP_ENOMEM;
	size_t i = at->n;
	otlp_kv *kv = &at->kv[i];
	otlp_any *v = &at->v[i];
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	at->key_off[i] = otlp_arena_str(&at->arena, key);
	at->str_off[i] = -1;
	if (type == SQLITE_INTEGER) {
		v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
		v->int_value = st ? sqlite3_column_int64(st, col) : num;
	} else if (type == SQLITE_FLOAT) {
		v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
		v->double_value = sqlite3_column_double(st, col);
	} else {
		v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		at->str_off[i] =
		    otlp_arena_str(&at->arena, (const char *)sqlite3_column_text(st, col));
		if (at->str_off[i] < 0)
			return -SP_ENOMEM;
	}
	if (at->key_off[i] < 0)
		return -SP_ENOMEM;
	at->n++;
	return 0;
}

/* Reads the attributes of span_id (plus thread.id and spanprof.cut). */
static int otlp_attrs_read(struct mg_export *x, struct otlp_attrs *at, int64_t span_id, int64_t tid,
                           int64_t cut)
{
	at->n = 0;
	at->arena.len = 0;
	char *prev = NULL;
	int rc = otlp_attr_add(at, "thread.id", SQLITE_INTEGER, NULL, 0, tid);
	if (rc == 0 && cut > 0)
		rc = otlp_attr_add(at, "spanprof.cut", SQLITE_INTEGER, NULL, 0, cut);
	sqlite3_bind_int64(at->st, 1, span_id);
	while (rc == 0 && (rc = mg_export_step(x, at->st)) == 1) {
		const char *key = (const char *)sqlite3_column_text(at->st, 0);
		int type = sqlite3_column_type(at->st, 1);
		rc = 0;
		if (!key || type == SQLITE_NULL || mg_export_dup_key(&prev, key))
			continue;
		rc = otlp_attr_add(at, key, type, at->st, 1, 0);
	}
	free(prev);
	sqlite3_reset(at->st);
	return rc;
}

/* Points the attributes at the arena, once nothing more is added to it. */
static void otlp_attrs_link(struct otlp_attrs *at)
{
	for (size_t i = 0; i < at->n; i++) {
		at->kvp[i] = &at->kv[i];
		at->kv[i].key = (char *)at->arena.p + at->key_off[i];
		at->kv[i].value = &at->v[i];
		if (at->str_off[i] >= 0)
			at->v[i].string_value = (char *)at->arena.p + at->str_off[i];
	}
}

static void otlp_attrs_free(struct otlp_attrs *at)
{
	sqlite3_finalize(at->st);
	mg_otlp_buf_free(&at->arena);
	free(at->kv);
	free(at->v);
	free(at->kvp);
	free(at->key_off);
	free(at->str_off);
}

/* 1 if main.spans has column name. */
static int otlp_has_column(struct mg_export *x, const char *name)
{
	sqlite3_stmt *st =
	    mg_export_prepare(x, "SELECT count(*) FROM pragma_table_info('spans') WHERE name = ?1");
	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int yes = mg_export_step(x, st) == 1 && sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	return yes;
}

/* Columns of the span cursor. */
/* SC_ID is merge's key (for the attributes); SC_REC and SC_REC_PARENT
 * are the recorded ids, which the span carries. */
enum {
	SC_ID,
	SC_PARENT,
	SC_TRACE,
	SC_PID,
	SC_TID,
	SC_NAME,
	SC_START,
	SC_END,
	SC_CUT,
	SC_PPID,
	SC_REC,
	SC_REC_PARENT
};

static const char *const otlp_cut_message[] = {
    "",
    "spanprof: END lost; end_ns is the last point its thread was known inside it",
    "spanprof: the log ended with the span open (crash, kill or damaged tail)",
};

/* Packs the span at the cursor into the chunk (field 2 of ScopeSpans). */
static int otlp_span(struct mg_export *x, sqlite3_stmt *st, struct otlp_attrs *at,
                     struct mg_otlp_buf *chunk)
{
	uint8_t trace[16], id[8], parent[8];
	int64_t cut = sqlite3_column_int64(st, SC_CUT);
	int rc = otlp_attrs_read(x, at, sqlite3_column_int64(st, SC_ID),
	                         sqlite3_column_int64(st, SC_TID), cut);
	if (rc)
		return rc;
	otlp_trace_id((const char *)sqlite3_column_text(st, SC_TRACE),
	              sqlite3_column_int64(st, SC_PID), trace);
	otlp_u64_be(id, (uint64_t)sqlite3_column_int64(st, SC_REC));
	otlp_span_msg s = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
	Opentelemetry__Proto__Trace__V1__Status status =
	    OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
	s.trace_id = (ProtobufCBinaryData){16, trace};
	s.span_id = (ProtobufCBinaryData){8, id};
	s.flags = OTLP_FLAG_SAMPLED;
	if (sqlite3_column_type(st, SC_REC_PARENT) != SQLITE_NULL) {
		otlp_u64_be(parent, (uint64_t)sqlite3_column_int64(st, SC_REC_PARENT));
		s.parent_span_id = (ProtobufCBinaryData){8, parent};
		/* remote: the parent ran in another process (or is not here) */
		int remote = sqlite3_column_type(st, SC_PPID) == SQLITE_NULL ||
		             sqlite3_column_int64(st, SC_PPID) != sqlite3_column_int64(st, SC_PID);
		s.flags |= OTLP_FLAG_HAS_IS_REMOTE | (remote ? OTLP_FLAG_PARENT_IS_REMOTE : 0);
	}
	const char *name = (const char *)sqlite3_column_text(st, SC_NAME);
	int64_t name_off = otlp_arena_str(&at->arena, name ? name : "?");
	if (name_off < 0)
		return -SP_ENOMEM;
	s.name = (char *)at->arena.p + name_off;
	otlp_attrs_link(at);
	s.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;
	s.start_time_unix_nano = (uint64_t)sqlite3_column_int64(st, SC_START);
	s.end_time_unix_nano = (uint64_t)sqlite3_column_int64(st, SC_END);
	s.n_attributes = at->n;
	s.attributes = at->kvp;
	if (cut > 0) {
		status.code =
		    OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
		status.message = (char *)otlp_cut_message[cut == 1 ? 1 : 2];
		s.status = &status;
	}
	return otlp_put_msg(chunk, 2, &s.base);
}

/* Starts a ScopeSpans chunk: its scope (field 1). */
static int otlp_chunk_start(struct mg_otlp_buf *chunk)
{
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
	    OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
	char version[32];
	snprintf(version, sizeof version, "%d.%d.%d", SPANPROF_VERSION_MAJOR,
	         SPANPROF_VERSION_MINOR, SPANPROF_VERSION_PATCH);
	scope.name = "spanprof";
	scope.version = version;
	chunk->len = 0;
	return otlp_put_msg(chunk, 1, &scope.base);
}

static sqlite3_stmt *otlp_span_cursor(struct mg_export *x)
{
	char sql[1024];
	int has_cut = otlp_has_column(x, "cut");
	snprintf(sql, sizeof sql,
	         "SELECT s.span_id, s.parent_id, s.trace_id, s.pid, s.tid, s.name, s.start_ns, "
	         "s.end_ns, %s, p.pid, s.rec_id, s.rec_parent_id FROM x_spans s "
	         "LEFT JOIN main.spans p ON p.span_id = s.parent_id %s"
	         "ORDER BY s.pid, s.start_ns, s.span_id",
	         has_cut ? "m.cut" : "0",
	         has_cut ? "LEFT JOIN main.spans m ON m.span_id = s.span_id " : "");
	return mg_export_prepare(x, sql);
}

/* Ends the current process: its last chunk, then sink->process_end. */
static int otlp_flush(struct mg_otlp_sink *sink, struct mg_otlp_buf *chunk, int64_t *nspans,
                      int end)
{
	int rc = 0;
	if (*nspans)
		rc = sink->chunk(sink->ctx, chunk->p, chunk->len, *nspans);
	*nspans = 0;
	if (rc == 0 && end)
		rc = sink->process_end(sink->ctx);
	return rc;
}

int mg_otlp_scan(struct mg_export *x, size_t chunk_bytes, struct mg_otlp_sink *sink)
{
	struct otlp_attrs at = {0};
	struct mg_otlp_buf chunk = {0}, res = {0};
	sqlite3_stmt *st = otlp_span_cursor(x);
	at.st = mg_export_prepare(x, "SELECT key, value FROM main.span_attrs WHERE span_id = ?1 "
	                             "ORDER BY key, rowid DESC");
	int rc = st && at.st ? 0 : -SP_EIO, open = 0;
	int64_t pid = 0, nspans = 0;
	while (rc == 0 && (rc = mg_export_step(x, st)) == 1) {
		rc = 0;
		if (!open || sqlite3_column_int64(st, SC_PID) != pid) {
			if (open)
				rc = otlp_flush(sink, &chunk, &nspans, 1);
			pid = sqlite3_column_int64(st, SC_PID);
			rc = rc ? rc : otlp_resource(x, pid, &res);
			rc = rc ? rc : sink->process(sink->ctx, pid, res.p, res.len);
			rc = rc ? rc : otlp_chunk_start(&chunk);
			open = 1;
		}
		rc = rc ? rc : otlp_span(x, st, &at, &chunk);
		nspans++;
		mg_export_tick(x);
		if (rc == 0 && chunk.len >= chunk_bytes) {
			rc = otlp_flush(sink, &chunk, &nspans, 0);
			rc = rc ? rc : otlp_chunk_start(&chunk);
		}
	}
	if (rc == 0 && open)
		rc = otlp_flush(sink, &chunk, &nspans, 1);
	sqlite3_finalize(st);
	otlp_attrs_free(&at);
	mg_otlp_buf_free(&chunk);
	mg_otlp_buf_free(&res);
	return rc;
}

/* --- the file: one ExportTraceServiceRequest --- */

struct otlp_file {
	struct mg_export *x;
	struct mg_spool spool; /* the ScopeSpans of the current process */
	uint64_t spool_bytes;
	struct mg_otlp_buf resource, head;
};

static int otlp_file_process(void *ctx, int64_t pid, const uint8_t *res, size_t len)
{
	struct otlp_file *f = ctx;
	(void)pid;
	f->resource.len = 0;
	f->spool_bytes = 0;
	if (mg_spool_open(&f->spool))
		return -SP_EIO;
	return mg_otlp_buf_put(&f->resource, res, len);
}

static int otlp_file_chunk(void *ctx, const uint8_t *scope_spans, size_t len, int64_t nspans)
{
	struct otlp_file *f = ctx;
	(void)nspans;
	f->head.len = 0;
	if (mg_otlp_put_len(&f->head, 2, len)) /* ResourceSpans.scope_spans */
		return -SP_ENOMEM;
	if (fwrite(f->head.p, 1, f->head.len, f->spool.f) != f->head.len ||
	    fwrite(scope_spans, 1, len, f->spool.f) != len)
		return -SP_EIO;
	f->spool_bytes += f->head.len + len;
	return 0;
}

/* ExportTraceServiceRequest.resource_spans (field 1), now that its length
 * is known: resource (field 1), then the spooled ScopeSpans. */
static int otlp_file_process_end(void *ctx)
{
	struct otlp_file *f = ctx;
	struct mg_otlp_buf *h = &f->head;
	h->len = 0;
	struct mg_otlp_buf rs = {0};
	int rc = mg_otlp_put_len(&rs, 1, f->resource.len);
	rc = rc ? rc : mg_otlp_buf_put(&rs, f->resource.p, f->resource.len);
	rc = rc ? rc : mg_otlp_put_len(h, 1, rs.len + f->spool_bytes);
	rc = rc ? rc : mg_otlp_buf_put(h, rs.p, rs.len);
	if (rc == 0 && fwrite(h->p, 1, h->len, f->x->out) != h->len)
		rc = -SP_EIO;
	rc = rc ? rc : mg_spool_copy(&f->spool, f->x->out);
	mg_spool_close(&f->spool);
	mg_otlp_buf_free(&rs);
	return rc;
}

int mg_export_otlp(struct mg_export *x)
{
	struct otlp_file f = {.x = x};
	struct mg_otlp_sink sink = {&f, otlp_file_process, otlp_file_chunk, otlp_file_process_end};
	int rc = mg_otlp_scan(x, OTLP_FILE_CHUNK_BYTES, &sink);
	mg_spool_close(&f.spool);
	mg_otlp_buf_free(&f.resource);
	mg_otlp_buf_free(&f.head);
	if (rc == -SP_EIO)
		mg_err_set(-SP_EIO, "writing the OTLP output failed");
	return rc;
}
