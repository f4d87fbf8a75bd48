/*
 * export_common.c - shared plumbing of 'spanprof export': opens and checks
 * the merged database, builds the filter views (x_spans, x_samples), loads
 * the per-frame and per-stack tables, writes the output to a temporary file
 * that is renamed over the target only on success, and offers spool and
 * string-interning helpers to the per-format writers (JSON: json.h).
 *
 * Memory: the funcs/frames/stacks arrays grow with the number of distinct
 * call sites, never with the number of samples or spans; samples and spans
 * are streamed from SQLite cursors. The --span filter copies the span tree
 * (id, parent) into an indexed TEMP table so that finding descendants is
 * O(n log n) even when merge did not index spans(parent_id).
 *
 * Threading: single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "mg_loss.h"
#include "spanprof.h"

/* The name of a frame: its function, else module+offset. P: table prefix. */
#define SP_XNAME_EXPR(P)                                                                           \
	"COALESCE(NULLIF(" P "func, ''), printf('%s+0x%x', COALESCE(" P "module, '?'), "           \
	"COALESCE(" P "rel_pc, 0)))"

static void *grow(void *arr, size_t *cap, size_t need, size_t elsize)
{
	if (need <= *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : 256;
	while (ncap < need)
		ncap *= 2;
	void *p = realloc(arr, ncap * elsize);
	if (p)
		*cap = ncap;
	return p;
}

static char *dup_col(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return s ? strdup((const char *)s) : NULL;
}

sqlite3_stmt *sp_export_prepare(struct sp_export *x, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "spanprof export: %s: %s\n", x->opts->db_path,
		        sqlite3_errmsg(x->db));
		return NULL;
	}
	return st;
}

sqlite3_stmt *sp_export_threads(struct sp_export *x)
{
	return sp_export_prepare(
	    x, "SELECT u.pid, u.tid, max(t.name), max(p.exe) FROM "
	       "(SELECT pid, tid FROM x_samples UNION SELECT pid, tid FROM x_spans) u "
	       "LEFT JOIN main.threads t ON t.pid = u.pid AND t.tid = u.tid "
	       "LEFT JOIN main.processes p ON p.pid = u.pid "
	       "GROUP BY u.pid, u.tid ORDER BY u.pid, u.tid");
}

int sp_export_step(struct sp_export *x, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	fprintf(stderr, "spanprof export: %s: %s\n", x->opts->db_path, sqlite3_errmsg(x->db));
	return -SP_EIO;
}

static int exec_sql(struct sp_export *x, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(x->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	fprintf(stderr, "spanprof export: %s: %s\n", x->opts->db_path, err ? err : "error");
	sqlite3_free(err);
	return -SP_EIO;
}

int sp_export_dup_key(char **prev, const char *key)
{
	if (*prev && !strcmp(*prev, key))
		return 1;
	free(*prev);
	*prev = strdup(key);
	return 0;
}

void sp_export_tick(struct sp_export *x)
{
	if (!x->opts->progress || (++x->rows_done & 0x3ffff))
		return;
	fprintf(stderr, "\rspanprof export: %" PRIu64 " rows...", x->rows_done);
}

/* --- opening and checking the database --- */

static int check_schema(struct sp_export *x)
{
	static const char *const sql =
	    "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name IN "
	    "('processes', 'threads', 'spans', 'span_attrs', 'samples', 'stacks', 'frames')";
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		fprintf(stderr, "spanprof export: %s: not a spanprof database (%s)\n",
		        x->opts->db_path, sqlite3_errmsg(x->db));
		sqlite3_finalize(st);
		return -SP_ECORRUPT;
	}
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (n != 7) {
		fprintf(stderr,
		        "spanprof export: %s: not a spanprof database (tables missing; "
		        "make it with 'spanprof merge')\n",
		        x->opts->db_path);
		return -SP_ECORRUPT;
	}
	return 0;
}

static int open_db(struct sp_export *x)
{
	struct stat sb;
	if (stat(x->opts->db_path, &sb) != 0) {
		fprintf(stderr, "spanprof export: %s: %s\n", x->opts->db_path, strerror(errno));
		return -SP_EIO;
	}
	if (!S_ISREG(sb.st_mode)) {
		fprintf(stderr, "spanprof export: %s: not a regular file\n", x->opts->db_path);
		return -SP_EIO;
	}
	if (sqlite3_open_v2(x->opts->db_path, &x->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "spanprof export: %s: %s\n", x->opts->db_path,
		        sqlite3_errmsg(x->db));
		return -SP_EIO;
	}
	return check_schema(x);
}

/* --- filters --- */

static int select_span_tree(struct sp_export *x)
{
	int rc = exec_sql(x, "CREATE TEMP TABLE x_span_tree AS SELECT span_id, parent_id "
	                     "FROM main.spans;"
	                     "CREATE INDEX temp.x_span_tree_parent ON x_span_tree(parent_id);"
	                     "CREATE TEMP TABLE x_span_ids(span_id INTEGER PRIMARY KEY);");
	if (rc)
		return rc;
	sqlite3_stmt *st = sp_export_prepare(
	    x, "INSERT INTO x_span_ids WITH RECURSIVE sel(id) AS ("
	       "SELECT span_id FROM main.spans WHERE name = ?1 UNION "
	       "SELECT t.span_id FROM x_span_tree t JOIN sel ON t.parent_id = sel.id) "
	       "SELECT id FROM sel");
	if (!st)
		return -SP_EIO;
	sqlite3_bind_text(st, 1, x->opts->span_name, -1, SQLITE_STATIC);
	rc = sp_export_step(x, st);
	sqlite3_finalize(st);
	return rc < 0 ? rc : 0;
}

/* The last timestamp of the database (samples and ended spans). */
static int data_end(struct sp_export *x, int64_t *end_ns)
{
	sqlite3_stmt *st = sp_export_prepare(
	    x, "SELECT max(COALESCE((SELECT max(ts_ns) FROM main.samples), 0), "
	       "COALESCE((SELECT max(COALESCE(end_ns, start_ns)) FROM main.spans), 0))");
	if (!st)
		return -SP_EIO;
	int rc = sp_export_step(x, st);
	if (rc == 1)
		*end_ns = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc < 0 ? rc : 0;
}

static int make_views(struct sp_export *x)
{
	const struct sp_export_opts *o = x->opts;
	char span_cond[256] = "", sample_cond[256] = "";
	if (o->span_name) {
		int rc = select_span_tree(x);
		if (rc)
			return rc;
		strcpy(span_cond, " AND span_id IN (SELECT span_id FROM x_span_ids)");
		strcpy(sample_cond, span_cond);
	}
	if (o->from_ns != INT64_MIN || o->to_ns != INT64_MAX) {
		size_t n = strlen(span_cond), m = strlen(sample_cond);
		snprintf(span_cond + n, sizeof span_cond - n,
		         " AND end_ns >= %" PRId64 " AND start_ns <= %" PRId64, o->from_ns,
		         o->to_ns);
		snprintf(sample_cond + m, sizeof sample_cond - m,
		         " AND ts_ns >= %" PRId64 " AND ts_ns <= %" PRId64, o->from_ns, o->to_ns);
	}
	int64_t data_end_ns = 0;
	int rc = data_end(x, &data_end_ns);
	if (rc)
		return rc;
	/* A span whose end was never logged (end_ns NULL) lasts to the end of
	 * the data, as merge attributes it (docs/schema.md). rec_id and
	 * rec_parent_id: the ids the runtime recorded, which the exports carry
	 * (span_id is merge's key; in a database of an older merge it was the
	 * recorded id itself). */
	sqlite3_stmt *probe = NULL;
	int has_rec = sqlite3_prepare_v2(x->db, "SELECT recorded_id FROM main.spans", -1, &probe,
	                                 NULL) == SQLITE_OK;
	sqlite3_finalize(probe);
	char sql[2048];
	snprintf(sql, sizeof sql,
	         "CREATE TEMP VIEW x_spans_all AS SELECT span_id, parent_id, trace_id, pid, tid, "
	         "name, start_ns, COALESCE(end_ns, max(start_ns, %" PRId64 ")) AS end_ns, depth, "
	         "%s FROM main.spans;"
	         "CREATE TEMP VIEW x_spans AS SELECT * FROM x_spans_all WHERE 1%s;"
	         "CREATE TEMP VIEW x_samples AS SELECT * FROM main.samples WHERE 1%s;",
	         data_end_ns,
	         has_rec ? "recorded_id AS rec_id, recorded_parent_id AS rec_parent_id"
	                 : "span_id AS rec_id, parent_id AS rec_parent_id",
	         span_cond, sample_cond);
	return exec_sql(x, sql);
}

static int count_rows(struct sp_export *x, const char *sql, int64_t *n, int64_t *lo, int64_t *hi)
{
	sqlite3_stmt *st = sp_export_prepare(x, sql);
	if (!st)
		return -SP_EIO;
	int rc = sp_export_step(x, st);
	if (rc == 1) {
		*n = sqlite3_column_int64(st, 0);
		if (*n > 0 && sqlite3_column_int64(st, 1) < *lo)
			*lo = sqlite3_column_int64(st, 1);
		if (*n > 0 && sqlite3_column_int64(st, 2) > *hi)
			*hi = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc < 0 ? rc : 0;
}

static int check_selection(struct sp_export *x)
{
	int64_t all_spans = 0, all_samples = 0, lo = INT64_MAX, hi = INT64_MIN;
	int rc = count_rows(x, "SELECT count(*), 0, 0 FROM main.spans", &all_spans, &lo, &hi);
	rc = rc ? rc
	        : count_rows(x, "SELECT count(*), 0, 0 FROM main.samples", &all_samples, &lo, &hi);
	if (rc)
		return rc;
	if (all_spans == 0 && all_samples == 0) {
		fprintf(stderr, "spanprof export: %s: the database holds no spans and no samples\n",
		        x->opts->db_path);
		return -SP_EINVAL;
	}
	lo = INT64_MAX;
	hi = INT64_MIN;
	rc = count_rows(x, "SELECT count(*), min(ts_ns), max(ts_ns) FROM x_samples",
	                &x->nsel_samples, &lo, &hi);
	rc = rc ? rc
	        : count_rows(x, "SELECT count(*), min(start_ns), max(end_ns) FROM x_spans",
	                     &x->nsel_spans, &lo, &hi);
	if (rc)
		return rc;
	if (x->nsel_samples == 0 && x->nsel_spans == 0) {
		fprintf(stderr, "spanprof export: %s: no span or sample matches the filter\n",
		        x->opts->db_path);
		return -SP_EINVAL;
	}
	x->min_ns = lo;
	x->max_ns = hi;
	return 0;
}

/* x_tsamples: the selected samples for per-thread queries (WHERE pid AND
 * tid ORDER BY ts_ns). merge has no index for that, so each such query
 * scans all samples; with many threads the samples are copied once into
 * an indexed TEMP table instead (SQLite spills it to disk: bounded memory). */
static int make_thread_samples(struct sp_export *x)
{
	sqlite3_stmt *st =
	    sp_export_prepare(x, "SELECT count(*) FROM (SELECT DISTINCT pid, tid FROM x_samples)");
	int rc = st ? sp_export_step(x, st) : -SP_EIO;
	int64_t nthreads = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	if (nthreads <= SP_EXPORT_SCAN_THREADS)
		return exec_sql(x, "CREATE TEMP VIEW x_tsamples AS SELECT * FROM x_samples;");
	return exec_sql(x, "CREATE TEMP TABLE x_tsamples AS SELECT pid, tid, ts_ns, stack_id, "
	                   "weight_ns FROM x_samples;"
	                   "CREATE INDEX temp.x_tsamples_thread ON x_tsamples(pid, tid, ts_ns);");
}

/* --- per-frame and per-stack tables --- */

static int load_funcs(struct sp_export *x)
{
	int rc =
	    exec_sql(x, "CREATE TEMP TABLE x_funcs(idx INTEGER PRIMARY KEY, name TEXT, "
	                "module TEXT, file TEXT, UNIQUE(name, module));"
	                "INSERT INTO x_funcs(name, module, file) SELECT " SP_XNAME_EXPR(
	                    "") ", COALESCE(module, ''), min(file) FROM main.frames GROUP BY 1, 2 "
	                        "ORDER BY 1, 2;");
	sqlite3_stmt *st = rc ? NULL
	                      : sp_export_prepare(x, "SELECT name, module, file FROM x_funcs "
	                                             "ORDER BY idx");
	if (!st)
		return -SP_EIO;
	size_t cap = 0;
	while ((rc = sp_export_step(x, st)) == 1) {
		struct sp_xfunc *f = grow(x->funcs, &cap, x->nfuncs + 1, sizeof *f);
		if (!f) {
			rc = -SP_ENOMEM;
			break;
		}
		x->funcs = f;
		f += x->nfuncs++;
		f->name = dup_col(st, 0);
		f->module = dup_col(st, 1);
		f->file = dup_col(st, 2);
	}
	sqlite3_finalize(st);
	return rc;
}

static int load_frames(struct sp_export *x)
{
	sqlite3_stmt *st = sp_export_prepare(
	    x, "SELECT f.frame_id, x.idx - 1, COALESCE(f.line, 0) FROM main.frames f "
	       "JOIN x_funcs x ON x.name = " SP_XNAME_EXPR(
	           "f.") " AND x.module = COALESCE(f.module, '') ORDER BY f.frame_id");
	if (!st)
		return -SP_EIO;
	size_t cap = 0;
	int rc;
	while ((rc = sp_export_step(x, st)) == 1) {
		struct sp_xframe *f = grow(x->frames, &cap, x->nframes + 1, sizeof *f);
		if (!f) {
			rc = -SP_ENOMEM;
			break;
		}
		x->frames = f;
		f += x->nframes++;
		f->frame_id = sqlite3_column_int64(st, 0);
		f->func_idx = (int32_t)sqlite3_column_int64(st, 1);
		f->line = (int32_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc;
}

static int32_t frame_idx(const struct sp_export *x, int64_t frame_id)
{
	size_t lo = 0, hi = x->nframes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->frames[mid].frame_id < frame_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->nframes && x->frames[lo].frame_id == frame_id ? (int32_t)lo : -1;
}

int32_t sp_export_stack_idx(const struct sp_export *x, int64_t stack_id)
{
	size_t lo = 0, hi = x->nstacks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->stacks[mid].stack_id < stack_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->nstacks && x->stacks[lo].stack_id == stack_id ? (int32_t)lo : -1;
}

const char *sp_export_stack_name(const struct sp_export *x, int32_t stack_idx)
{
	int32_t f = x->stacks[stack_idx].frame_idx;
	if (f < 0)
		return "[unknown]";
	const char *name = x->funcs[x->frames[f].func_idx].name;
	return name ? name : "[unknown]";
}

static int cmp_depth_order(const void *a, const void *b, void *arg)
{
	const struct sp_xstack *s = arg;
	const struct sp_xstack *p = &s[*(const int32_t *)a], *q = &s[*(const int32_t *)b];
	if (p->depth != q->depth)
		return p->depth < q->depth ? -1 : 1;
	return p->stack_id < q->stack_id ? -1 : p->stack_id > q->stack_id;
}

/* Numbers the stacks parents-first (firefox needs prefix < index) and
 * checks the trie: every parent must come before its child. */
static int order_stacks(struct sp_export *x)
{
	int32_t *perm = malloc((x->nstacks + 1) * sizeof *perm);
	if (!perm)
		return -SP_ENOMEM;
	for (size_t i = 0; i < x->nstacks; i++)
		perm[i] = (int32_t)i;
	qsort_r(perm, x->nstacks, sizeof *perm, cmp_depth_order, x->stacks);
	for (size_t i = 0; i < x->nstacks; i++)
		x->stacks[perm[i]].order = (int32_t)i;
	free(perm);
	for (size_t i = 0; i < x->nstacks; i++) {
		int32_t p = x->stacks[i].parent_idx;
		if (p >= 0 && x->stacks[p].order >= x->stacks[i].order) {
			fprintf(stderr,
			        "spanprof export: %s: stacks: node %" PRId64
			        " is not deeper than its parent\n",
			        x->opts->db_path, x->stacks[i].stack_id);
			return -SP_ECORRUPT;
		}
	}
	return 0;
}

static int load_stacks(struct sp_export *x)
{
	sqlite3_stmt *st = sp_export_prepare(
	    x, "SELECT stack_id, parent_id, frame_id, depth FROM main.stacks ORDER BY stack_id");
	if (!st)
		return -SP_EIO;
	size_t cap = 0;
	int64_t *parents = NULL;
	size_t pcap = 0;
	int rc;
	while ((rc = sp_export_step(x, st)) == 1) {
		struct sp_xstack *s = grow(x->stacks, &cap, x->nstacks + 1, sizeof *s);
		int64_t *p = grow(parents, &pcap, x->nstacks + 1, sizeof *p);
		if (s)
			x->stacks = s;
		if (p)
			parents = p;
		if (!s || !p) {
			rc = -SP_ENOMEM;
			break;
		}
		s += x->nstacks;
		s->stack_id = sqlite3_column_int64(st, 0);
		parents[x->nstacks] = sqlite3_column_type(st, 1) == SQLITE_NULL
		                          ? INT64_MIN
		                          : sqlite3_column_int64(st, 1);
		s->frame_idx = frame_idx(x, sqlite3_column_int64(st, 2));
		s->depth = (int32_t)sqlite3_column_int64(st, 3);
		x->nstacks++;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; rc == 0 && i < x->nstacks; i++)
		x->stacks[i].parent_idx =
		    parents[i] == INT64_MIN ? -1 : sp_export_stack_idx(x, parents[i]);
	free(parents);
	return rc ? rc : order_stacks(x);
}

static void free_tables(struct sp_export *x)
{
	for (size_t i = 0; i < x->nfuncs; i++) {
		free(x->funcs[i].name);
		free(x->funcs[i].module);
		free(x->funcs[i].file);
	}
	free(x->funcs);
	free(x->frames);
	free(x->stacks);
}

/* --- output: a temp file beside the target, renamed on success --- */

static int open_stdout(struct sp_export *x)
{
	if (x->opts->format == SP_EXPORT_PPROF && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "spanprof export: pprof is binary; use -o FILE\n");
		return -SP_EINVAL;
	}
	x->out = stdout;
	x->out_fd = STDOUT_FILENO;
	return 0;
}

/* The target must be new or a regular file: it is replaced by a rename,
 * which keeps it whole or untouched. Anything else (a directory, a symbolic
 * link, a device such as /dev/null, a FIFO) is refused, never followed,
 * written in place or replaced; stdout is "-o -" (docs/export.md). */
static int check_target(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) != 0 || S_ISREG(sb.st_mode))
		return 0;
	fprintf(stderr,
	        "spanprof export: %s: exists and is not a regular file (use -o - for stdout)\n",
	        path);
	return -SP_EINVAL;
}

static int open_output(struct sp_export *x, char **tmp_path)
{
	const struct sp_export_opts *o = x->opts;
	if (!o->out_path || !strcmp(o->out_path, "-"))
		return open_stdout(x);
	int rc = check_target(o->out_path);
	if (rc)
		return rc;
	if (asprintf(tmp_path, "%s.tmp.XXXXXX", o->out_path) < 0)
		return -SP_ENOMEM;
	int fd = mkstemp(*tmp_path); /* O_EXCL, mode 0600 */
	if (fd < 0 || !(x->out = fdopen(fd, "w"))) {
		fprintf(stderr, "spanprof export: %s: %s\n", o->out_path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(*tmp_path);
		}
		free(*tmp_path);
		*tmp_path = NULL;
		return -SP_EIO;
	}
	x->out_fd = fd;
	x->out_owned = 1;
	return 0;
}

static int close_output(struct sp_export *x, char *tmp_path, int rc)
{
	if (x->out && fflush(x->out) != 0 && rc == 0) {
		fprintf(stderr, "spanprof export: write: %s\n", strerror(errno));
		rc = -SP_EIO;
	}
	if (x->out_owned && fclose(x->out) != 0 && rc == 0)
		rc = -SP_EIO;
	if (!tmp_path)
		return rc;
	if (rc == 0 && rename(tmp_path, x->opts->out_path) != 0) {
		fprintf(stderr, "spanprof export: %s: %s\n", x->opts->out_path, strerror(errno));
		rc = -SP_EIO;
	}
	if (rc != 0)
		unlink(tmp_path);
	free(tmp_path);
	return rc;
}

static int dispatch(struct sp_export *x)
{
	switch (x->opts->format) {
	case SP_EXPORT_FIREFOX:
		return sp_export_firefox(x);
	case SP_EXPORT_CHROME:
		return sp_export_chrome(x);
	case SP_EXPORT_PPROF:
		return sp_export_pprof(x);
	case SP_EXPORT_FOLDED:
		return sp_export_folded(x);
	case SP_EXPORT_SPEEDSCOPE:
		return sp_export_speedscope(x);
	case SP_EXPORT_OTLP:
		return sp_export_otlp(x);
	}
	return -SP_EINVAL;
}

/* The loss summary of the whole database (not only of the selection:
 * what was lost has no span or time to filter by). */
static int read_missing(struct sp_export *x)
{
	mg_loss loss;
	if (mg_loss_read(x->db, "export", &loss))
		return -SP_EIO;
	if (mg_loss_any(&loss))
		mg_loss_text(&loss, x->missing, sizeof x->missing);
	return 0;
}

static int prepare(struct sp_export *x)
{
	int rc = open_db(x);
	rc = rc ? rc : make_views(x);
	rc = rc ? rc : check_selection(x);
	rc = rc ? rc : read_missing(x);
	rc = rc ? rc : make_thread_samples(x);
	rc = rc ? rc : load_funcs(x);
	rc = rc ? rc : load_frames(x);
	return rc ? rc : load_stacks(x);
}

int sp_export_run(const struct sp_export_opts *opts)
{
	struct sp_export x = {.opts = opts, .out_fd = -1};
	char *tmp_path = NULL;
	int rc = prepare(&x);
	rc = rc ? rc : open_output(&x, &tmp_path);
	if (rc == 0) {
		rc = dispatch(&x);
		if (rc == 0 && ferror(x.out)) {
			fprintf(stderr, "spanprof export: write error\n");
			rc = -SP_EIO;
		}
		rc = close_output(&x, tmp_path, rc);
	}
	if (opts->progress && x.rows_done >= 0x40000)
		fprintf(stderr, "\r\033[K");
	free_tables(&x);
	sqlite3_close(x.db);
	return rc;
}

int sp_export_open(struct sp_export *x, const struct sp_export_opts *opts)
{
	memset(x, 0, sizeof *x);
	x->opts = opts;
	x->out_fd = -1;
	return prepare(x);
}

void sp_export_close(struct sp_export *x)
{
	free_tables(x);
	sqlite3_close(x->db);
	x->db = NULL;
}

/* --- spools --- */

int sp_spool_open(struct sp_spool *sp)
{
	sp->n = 0;
	sp->f = tmpfile();
	return sp->f ? 0 : -SP_EIO;
}

FILE *sp_spool_next(struct sp_spool *sp)
{
	if (sp->n++)
		putc(',', sp->f);
	return sp->f;
}

int sp_spool_copy(struct sp_spool *sp, FILE *out)
{
	char buf[65536];
	size_t n;
	if (fflush(sp->f) != 0 || fseek(sp->f, 0, SEEK_SET) != 0)
		return -SP_EIO;
	while ((n = fread(buf, 1, sizeof buf, sp->f)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			return -SP_EIO;
	return ferror(sp->f) ? -SP_EIO : 0;
}

void sp_spool_close(struct sp_spool *sp)
{
	if (sp->f)
		fclose(sp->f);
	sp->f = NULL;
}

/* --- string interning --- */

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

int sp_xstrtab_init(struct sp_xstrtab *t)
{
	memset(t, 0, sizeof *t);
	t->nslots = 1024;
	t->slots = calloc(t->nslots, sizeof *t->slots);
	return t->slots ? 0 : -SP_ENOMEM;
}

static int rehash(struct sp_xstrtab *t)
{
	size_t n = t->nslots * 2;
	uint32_t *slots = calloc(n, sizeof *slots);
	if (!slots)
		return -SP_ENOMEM;
	for (size_t i = 0; i < t->count; i++) {
		size_t j = str_hash(t->strs[i]) & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
	return 0;
}

int64_t sp_xstrtab_intern(struct sp_xstrtab *t, const char *s, int *added)
{
	if (added)
		*added = 0;
	size_t j = str_hash(s) & (t->nslots - 1);
	for (; t->slots[j]; j = (j + 1) & (t->nslots - 1))
		if (!strcmp(t->strs[t->slots[j] - 1], s))
			return t->slots[j] - 1;
	char **strs = grow(t->strs, &t->cap, t->count + 1, sizeof *strs);
	char *copy = strdup(s);
	if (strs)
		t->strs = strs;
	if (!strs || !copy) {
		free(copy);
		return -1;
	}
	t->strs[t->count] = copy;
	t->slots[j] = (uint32_t)++t->count;
	if (added)
		*added = 1;
	if (t->count * 2 > t->nslots && rehash(t) != 0)
		return -1;
	return (int64_t)t->count - 1;
}

void sp_xstrtab_free(struct sp_xstrtab *t)
{
	for (size_t i = 0; i < t->count; i++)
		free(t->strs[i]);
	free(t->strs);
	free(t->slots);
	memset(t, 0, sizeof *t);
}
