/*
 * export_pprof.c - gzipped profile.proto for `go tool pprof`, encoded with
 * protobuf-c (merge/export/export_pprof.proto, code generated at build time) and
 * compressed with zlib.
 *
 * Streaming: protobuf concatenation merges messages (repeated fields
 * append), so the profile is written as a sequence of small Profile
 * messages, each holding one function, one location, one sample or a few
 * new strings. Memory holds only the string table (needed for dedup).
 *
 * Samples are aggregated by (span, stack): values [samples/count,
 * cpu/nanoseconds]; labels span_id (the recorded 64-bit id as 16
 * lowercase hex digits), trace_id (32 hex digits, when the span has a W3C
 * trace id), span_name: what Grafana Pyroscope's span profiles read (it
 * drops a span_id in any other form; docs/export.md); and one label
 * per attribute the sample's innermost span sees: its own and, through
 * merge's span_attrs_inherited view when the database has it, its
 * ancestors' (nearest wins), so -tagfocus on a request's input also
 * selects the samples of its child spans. Integers as num, reals and text
 * as str (pprof's num is an int64). Samples outside any span get no span
 * labels.
 *
 * Mappings: one per module (the frames' module path, with the build-id of
 * merge's modules table when it has one); a location carries its mapping
 * and its module-relative pc as address (each mapping starts at 0: pprof
 * uses the addresses only to tell locations apart, functions and lines
 * are given). Single-threaded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "export.h"
#include "export_pprof.pb-c.h"
#include "mg_err.h"
#include "mg_grow.h"
#include "spanprof.h"

#define PP_MAX_LABELS 64

struct pp {
	struct mg_export *x;
	gzFile gz;
	mg_strtab strs;
	mg_strtab modules; /* mapping id = index + 1 */
	uint8_t *buf;
	size_t bufcap;
	int err;
};

static void pp_write(struct pp *pp, const Perftools__Profiles__Profile *msg)
{
	size_t n = perftools__profiles__profile__get_packed_size(msg);
	if (pp->err)
		return;
	if (mg_grow(&pp->buf, &pp->bufcap, n, 1)) {
		pp->err = -SP_ENOMEM;
		return;
	}
	perftools__profiles__profile__pack(msg, pp->buf);
	if (n && gzwrite(pp->gz, pp->buf, (unsigned)n) != (int)n)
		pp->err = -SP_EIO;
}

/* Index of s in the string table, writing it out if new. */
static int64_t pp_str(struct pp *pp, const char *s)
{
	int added = 0;
	int64_t i = mg_strtab_intern(&pp->strs, s ? s : "", &added);
	if (i < 0) {
		pp->err = -SP_ENOMEM;
		return 0;
	}
	if (added) {
		Perftools__Profiles__Profile m = PERFTOOLS__PROFILES__PROFILE__INIT;
		char *one = pp->strs.strs[i];
		m.n_string_table = 1;
		m.string_table = &one;
		pp_write(pp, &m);
	}
	return i;
}

static int64_t pp_interval_ns(struct mg_export *x)
{
	sqlite3_stmt *st = mg_export_prepare(
	    x, "SELECT (max(ts_ns) - min(ts_ns)) / (count(*) - 1) FROM x_samples "
	       "GROUP BY pid, tid HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 1");
	int64_t ns = 0;
	if (st && mg_export_step(x, st) == 1)
		ns = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return ns;
}

static void pp_header(struct pp *pp)
{
	Perftools__Profiles__Profile m = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType t[2] = {PERFTOOLS__PROFILES__VALUE_TYPE__INIT,
	                                       PERFTOOLS__PROFILES__VALUE_TYPE__INIT};
	Perftools__Profiles__ValueType period = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType *tp[2] = {&t[0], &t[1]};
	int64_t comment[2];
	pp_str(pp, "");
	t[0].type = pp_str(pp, "samples");
	t[0].unit = pp_str(pp, "count");
	t[1].type = period.type = pp_str(pp, "cpu");
	t[1].unit = period.unit = pp_str(pp, "nanoseconds");
	comment[0] = pp_str(pp, "spanprof export: samples labelled with span_id (16 hex digits), "
	                        "trace_id, span_name and the attributes of their innermost span");
	char missing[sizeof pp->x->missing + 16];
	snprintf(missing, sizeof missing, "missing: %s", pp->x->missing);
	comment[1] = pp->x->missing[0] ? pp_str(pp, missing) : 0;
	m.n_sample_type = 2;
	m.sample_type = tp;
	m.period_type = &period;
	m.period = pp_interval_ns(pp->x);
	m.time_nanos = pp->x->min_ns;
	m.duration_nanos = pp->x->max_ns - pp->x->min_ns;
	m.default_sample_type = t[1].type;
	m.n_comment = pp->x->missing[0] ? 2 : 1;
	m.comment = comment;
	pp_write(pp, &m);
}

/* The build-id merge recorded for module path, or "". */
static const char *pp_build_id(struct mg_export *x, sqlite3_stmt *st, const char *path)
{
	if (!st)
		return "";
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
	const unsigned char *id = mg_export_step(x, st) == 1 ? sqlite3_column_text(st, 0) : NULL;
	return id ? (const char *)id : "";
}

/* One Mapping per module, numbered in first-seen order of the functions;
 * the address range covers the module's recorded pcs. */
static void pp_mappings(struct pp *pp)
{
	struct mg_export *x = pp->x;
	sqlite3_stmt *ids = NULL;
	sqlite3_stmt *has = mg_export_prepare(
	    x, "SELECT count(*) FROM sqlite_master WHERE name = 'modules' AND type = 'table'");
	if (has && mg_export_step(x, has) == 1 && sqlite3_column_int(has, 0) > 0)
		ids = mg_export_prepare(x, "SELECT build_id FROM main.modules WHERE path = ?1 AND "
		                           "build_id IS NOT NULL LIMIT 1");
	sqlite3_finalize(has);
	sqlite3_stmt *lim = mg_export_prepare(
	    x, "SELECT max(COALESCE(rel_pc, 0)) + 1 FROM main.frames WHERE module IS ?1");
	for (size_t i = 0; i < x->nfuncs && !pp->err; i++) {
		int added = 0;
		const char *module = x->funcs[i].module ? x->funcs[i].module : "[unknown]";
		int64_t idx = mg_strtab_intern(&pp->modules, module, &added);
		if (idx < 0)
			pp->err = -SP_ENOMEM;
		if (!added || idx < 0)
			continue;
		Perftools__Profiles__Mapping mp = PERFTOOLS__PROFILES__MAPPING__INIT;
		Perftools__Profiles__Mapping *mpp = &mp;
		Perftools__Profiles__Profile m = PERFTOOLS__PROFILES__PROFILE__INIT;
		mp.id = (uint64_t)idx + 1;
		if (lim) {
			sqlite3_reset(lim);
			sqlite3_bind_text(lim, 1, x->funcs[i].module, -1, SQLITE_TRANSIENT);
			if (mg_export_step(x, lim) == 1)
				mp.memory_limit = (uint64_t)sqlite3_column_int64(lim, 0);
		}
		mp.filename = pp_str(pp, module);
		mp.build_id = pp_str(pp, pp_build_id(x, ids, module));
		mp.has_functions = mp.has_filenames = mp.has_line_numbers = 1;
		mp.has_inline_frames = 1;
		m.n_mapping = 1;
		m.mapping = &mpp;
		pp_write(pp, &m);
	}
	sqlite3_finalize(ids);
	sqlite3_finalize(lim);
}

/* Mapping id of function idx (0 for the stand-in of missing frames). */
static uint64_t pp_mapping_of(struct pp *pp, size_t func_idx)
{
	struct mg_export *x = pp->x;
	if (func_idx >= x->nfuncs)
		return 0;
	int added = 0;
	const char *module = x->funcs[func_idx].module ? x->funcs[func_idx].module : "[unknown]";
	int64_t idx = mg_strtab_intern(&pp->modules, module, &added);
	return idx < 0 ? 0 : (uint64_t)idx + 1;
}

/* Functions (id = func index + 1) and locations (id = frame index + 1);
 * the last of each stands for frames that are missing from the table. */
static void pp_functions_locations(struct pp *pp)
{
	struct mg_export *x = pp->x;
	for (size_t i = 0; i <= x->nfuncs && !pp->err; i++) {
		Perftools__Profiles__Function f = PERFTOOLS__PROFILES__FUNCTION__INIT;
		Perftools__Profiles__Function *fp = &f;
		Perftools__Profiles__Profile m = PERFTOOLS__PROFILES__PROFILE__INIT;
		const struct mg_xfunc *fn = i < x->nfuncs ? &x->funcs[i] : NULL;
		f.id = i + 1;
		f.name = f.system_name = pp_str(pp, fn && fn->name ? fn->name : "[unknown]");
		f.filename = pp_str(pp, fn && fn->file ? fn->file : (fn ? fn->module : ""));
		m.n_function = 1;
		m.function = &fp;
		pp_write(pp, &m);
	}
	sqlite3_stmt *pcs = mg_export_prepare(
	    x, "SELECT frame_id, COALESCE(rel_pc, 0) FROM main.frames ORDER BY frame_id");
	int pc_row = pcs ? mg_export_step(x, pcs) : 0;
	for (size_t i = 0; i <= x->nframes && !pp->err; i++) {
		Perftools__Profiles__Location l = PERFTOOLS__PROFILES__LOCATION__INIT;
		if (i < x->nframes) { /* both sorted by frame_id */
			while (pc_row == 1 && sqlite3_column_int64(pcs, 0) < x->frames[i].frame_id)
				pc_row = mg_export_step(x, pcs);
			if (pc_row == 1 && sqlite3_column_int64(pcs, 0) == x->frames[i].frame_id)
				l.address = (uint64_t)sqlite3_column_int64(pcs, 1);
			l.mapping_id = pp_mapping_of(pp, (size_t)x->frames[i].func_idx);
		}
		Perftools__Profiles__Line line = PERFTOOLS__PROFILES__LINE__INIT;
		Perftools__Profiles__Location *lp = &l;
		Perftools__Profiles__Line *linep = &line;
		Perftools__Profiles__Profile m = PERFTOOLS__PROFILES__PROFILE__INIT;
		l.id = i + 1;
		line.function_id =
		    (i < x->nframes ? (uint64_t)x->frames[i].func_idx : x->nfuncs) + 1;
		line.line = i < x->nframes ? x->frames[i].line : 0;
		l.n_line = 1;
		l.line = &linep;
		m.n_location = 1;
		m.location = &lp;
		pp_write(pp, &m);
	}
	sqlite3_finalize(pcs);
}

/* One aggregated sample: the current group's row(s) of the cursor. */
struct pp_group {
	int64_t stack_id, span_id;
	int has_stack, has_span;
	int64_t values[2];
	char *prev_key; /* attribute rows: skip older values of a key */
	Perftools__Profiles__Label labels[PP_MAX_LABELS];
	Perftools__Profiles__Label *label_ptrs[PP_MAX_LABELS];
	size_t nlabels;
};

static void pp_label_num(struct pp *pp, struct pp_group *g, const char *key, int64_t num)
{
	if (g->nlabels == PP_MAX_LABELS)
		return;
	Perftools__Profiles__Label *l = &g->labels[g->nlabels++];
	perftools__profiles__label__init(l);
	l->key = pp_str(pp, key);
	l->num = num;
}

static void pp_label_str(struct pp *pp, struct pp_group *g, const char *key, const char *s)
{
	if (g->nlabels == PP_MAX_LABELS)
		return;
	Perftools__Profiles__Label *l = &g->labels[g->nlabels++];
	perftools__profiles__label__init(l);
	l->key = pp_str(pp, key);
	l->str = pp_str(pp, s);
}

/* 1 if s is a W3C trace id: 32 lowercase hex digits, not all zero. */
static int pp_is_trace_id(const char *s)
{
	int nonzero = 0;
	if (!s || strlen(s) != 32)
		return 0;
	for (const char *c = s; *c; c++) {
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return 0;
		nonzero |= *c != '0';
	}
	return nonzero;
}

/* Columns: 0 stack_id, 1 span_id, 2 count, 3 weight, 4 span name, 5 key,
 * 6 value, 7 trace id, 8 the recorded span id (the span_id label) */
static void pp_group_start(struct pp *pp, struct pp_group *g, sqlite3_stmt *st)
{
	g->has_stack = sqlite3_column_type(st, 0) != SQLITE_NULL;
	g->has_span = sqlite3_column_type(st, 1) != SQLITE_NULL;
	g->stack_id = sqlite3_column_int64(st, 0);
	g->span_id = sqlite3_column_int64(st, 1);
	g->values[0] = sqlite3_column_int64(st, 2);
	g->values[1] = sqlite3_column_int64(st, 3);
	g->nlabels = 0;
	free(g->prev_key);
	g->prev_key = NULL;
	if (g->has_span) {
		const unsigned char *name = sqlite3_column_text(st, 4);
		const unsigned char *trace = sqlite3_column_text(st, 7);
		char hex[17];
		snprintf(hex, sizeof hex, "%016" PRIx64, (uint64_t)sqlite3_column_int64(st, 8));
		pp_label_str(pp, g, "span_id", hex);
		if (pp_is_trace_id((const char *)trace))
			pp_label_str(pp, g, "trace_id", (const char *)trace);
		pp_label_str(pp, g, "span_name", name ? (const char *)name : "?");
	}
}

static void pp_group_attr(struct pp *pp, struct pp_group *g, sqlite3_stmt *st)
{
	const unsigned char *key = sqlite3_column_text(st, 5);
	if (!key || mg_export_dup_key(&g->prev_key, (const char *)key))
		return;
	if (sqlite3_column_type(st, 6) == SQLITE_INTEGER)
		pp_label_num(pp, g, (const char *)key, sqlite3_column_int64(st, 6));
	else if (sqlite3_column_type(st, 6) != SQLITE_NULL)
		pp_label_str(pp, g, (const char *)key, (const char *)sqlite3_column_text(st, 6));
}

static void pp_group_write(struct pp *pp, struct pp_group *g)
{
	struct mg_export *x = pp->x;
	uint64_t locs[512];
	size_t n = 0;
	int32_t idx = g->has_stack ? mg_export_stack_idx(x, g->stack_id) : -1;
	for (int32_t i = idx; i >= 0 && n < 512; i = x->stacks[i].parent_idx) {
		int32_t f = x->stacks[i].frame_idx;
		locs[n++] = (f >= 0 ? (uint64_t)f : x->nframes) + 1;
	}
	if (n == 0)
		locs[n++] = x->nframes + 1;
	Perftools__Profiles__Sample s = PERFTOOLS__PROFILES__SAMPLE__INIT;
	Perftools__Profiles__Sample *sp = &s;
	Perftools__Profiles__Profile m = PERFTOOLS__PROFILES__PROFILE__INIT;
	for (size_t i = 0; i < g->nlabels; i++)
		g->label_ptrs[i] = &g->labels[i];
	s.n_location_id = n;
	s.location_id = locs;
	s.n_value = 2;
	s.value = g->values;
	s.n_label = g->nlabels;
	s.label = g->label_ptrs;
	m.n_sample = 1;
	m.sample = &sp;
	pp_write(pp, &m);
}

/* 1 if the database has merge's span_attrs_inherited view (docs/schema.md). */
static int pp_has_inherited(struct mg_export *x)
{
	sqlite3_stmt *st = mg_export_prepare(
	    x, "SELECT count(*) FROM sqlite_master WHERE name = 'span_attrs_inherited'");
	int yes = st && mg_export_step(x, st) == 1 && sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	return yes;
}

static int pp_samples(struct pp *pp)
{
	struct mg_export *x = pp->x;
	static const char head[] =
	    "SELECT g.stack_id, g.span_id, g.n, g.w, sp.name, a.key, a.value, sp.trace_id,"
	    " sp.rec_id FROM "
	    "(SELECT stack_id, span_id, count(*) AS n, sum(COALESCE(weight_ns, 0)) AS w "
	    "FROM x_samples GROUP BY span_id, stack_id) g "
	    "LEFT JOIN temp.x_spans_all sp ON sp.span_id = g.span_id ";
	char sql[1024];
	if (pp_has_inherited(x)) /* merge's view: own and ancestors' attributes */
		snprintf(sql, sizeof sql,
		         "%sLEFT JOIN main.span_attrs_inherited a ON a.span_id = g.span_id "
		         "ORDER BY g.span_id, g.stack_id, a.key",
		         head);
	else
		snprintf(sql, sizeof sql,
		         "%sLEFT JOIN main.span_attrs a ON a.span_id = g.span_id "
		         "ORDER BY g.span_id, g.stack_id, a.key, a.rowid DESC",
		         head);
	sqlite3_stmt *st = mg_export_prepare(x, sql);
	if (!st)
		return -SP_EIO;
	struct pp_group *g = calloc(1, sizeof *g);
	int rc, open = 0;
	while (g && !pp->err && (rc = mg_export_step(x, st)) == 1) {
		int same = open && g->has_span == (sqlite3_column_type(st, 1) != SQLITE_NULL) &&
		           g->span_id == sqlite3_column_int64(st, 1) &&
		           g->has_stack == (sqlite3_column_type(st, 0) != SQLITE_NULL) &&
		           g->stack_id == sqlite3_column_int64(st, 0);
		if (!same) {
			if (open)
				pp_group_write(pp, g);
			pp_group_start(pp, g, st);
			open = 1;
			mg_export_tick(x);
		}
		if (g->has_span)
			pp_group_attr(pp, g, st);
	}
	if (!g)
		rc = -SP_ENOMEM;
	else if (open && rc == 0)
		pp_group_write(pp, g);
	if (g)
		free(g->prev_key);
	free(g);
	sqlite3_finalize(st);
	return rc ? rc : pp->err;
}

int mg_export_pprof(struct mg_export *x)
{
	struct pp pp = {.x = x};
	int fd = dup(x->out_fd);
	if (fd < 0 || !(pp.gz = gzdopen(fd, "wb"))) {
		if (fd >= 0)
			close(fd);
		mg_err_set(-SP_EIO, "cannot start gzip output");
		return -SP_EIO;
	}
	int rc = mg_strtab_init(&pp.strs);
	rc = rc ? rc : mg_strtab_init(&pp.modules);
	if (rc == 0) {
		pp_header(&pp);
		pp_mappings(&pp);
		pp_functions_locations(&pp);
		rc = pp.err ? pp.err : pp_samples(&pp);
	}
	if (gzclose(pp.gz) != Z_OK && rc == 0)
		rc = -SP_EIO;
	if (rc == -SP_EIO)
		mg_err_set(-SP_EIO, "writing the pprof output failed");
	mg_strtab_free(&pp.strs);
	mg_strtab_free(&pp.modules);
	free(pp.buf);
	return rc;
}
