/*
 * export_filter.c - opens the merged database read-only and checks its schema
 * (mg_db_open, the one way the commands open a database), then builds the filter views of --span,
 * --thread, --from/--to (x_spans, x_samples, x_tsamples) and checks the selection is not empty. The
 * --span filter copies the span tree (id, parent) into an indexed TEMP
 * table so that finding descendants is O(n log n) even though merge does
 * not index spans(parent_id).
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

#include "export_int.h"
#include "mg_db.h"
#include "spanprof.h"

int mg_export_open_db(struct mg_export *x)
{
	x->db = mg_db_open(x->opts->db_path, MG_DB_SPANPROF);
	return x->db ? 0 : -SP_EIO;
}

/* --- filters --- */

static int select_span_tree(struct mg_export *x)
{
	int rc = mg_export_exec(x, "CREATE TEMP TABLE x_span_tree AS SELECT span_id, parent_id "
	                           "FROM main.spans;"
	                           "CREATE INDEX temp.x_span_tree_parent ON x_span_tree(parent_id);"
	                           "CREATE TEMP TABLE x_span_ids(span_id INTEGER PRIMARY KEY);");
	if (rc)
		return rc;
	sqlite3_stmt *st = mg_export_prepare(
	    x, "INSERT INTO x_span_ids WITH RECURSIVE sel(id) AS ("
	       "SELECT span_id FROM main.spans WHERE name = ?1 UNION "
	       "SELECT t.span_id FROM x_span_tree t JOIN sel ON t.parent_id = sel.id) "
	       "SELECT id FROM sel");
	if (!st)
		return -SP_EIO;
	sqlite3_bind_text(st, 1, x->opts->span_name, -1, SQLITE_STATIC);
	rc = mg_export_step(x, st);
	sqlite3_finalize(st);
	return rc < 0 ? rc : 0;
}

/* The last timestamp of the database (samples and ended spans). */
static int data_end(struct mg_export *x, int64_t *end_ns)
{
	sqlite3_stmt *st = mg_export_prepare(
	    x, "SELECT max(COALESCE((SELECT max(ts_ns) FROM main.samples), 0), "
	       "COALESCE((SELECT max(COALESCE(end_ns, start_ns)) FROM main.spans), 0))");
	if (!st)
		return -SP_EIO;
	int rc = mg_export_step(x, st);
	if (rc == 1)
		*end_ns = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc < 0 ? rc : 0;
}

int mg_export_make_views(struct mg_export *x)
{
	const struct mg_export_opts *o = x->opts;
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
	return mg_export_exec(x, sql);
}

static int count_rows(struct mg_export *x, const char *sql, int64_t *n, int64_t *lo, int64_t *hi)
{
	sqlite3_stmt *st = mg_export_prepare(x, sql);
	if (!st)
		return -SP_EIO;
	int rc = mg_export_step(x, st);
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

int mg_export_check_selection(struct mg_export *x)
{
	int64_t all_spans = 0, all_samples = 0, lo = INT64_MAX, hi = INT64_MIN;
	int rc = count_rows(x, "SELECT count(*), 0, 0 FROM main.spans", &all_spans, &lo, &hi);
	rc = rc ? rc
	        : count_rows(x, "SELECT count(*), 0, 0 FROM main.samples", &all_samples, &lo, &hi);
	if (rc)
		return rc;
	if (all_spans == 0 && all_samples == 0) {
		mg_err_set(-SP_EINVAL, "%s: the database holds no spans and no samples",
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
		mg_err_set(-SP_EINVAL, "%s: no span or sample matches the filter",
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
int mg_export_make_thread_samples(struct mg_export *x)
{
	sqlite3_stmt *st =
	    mg_export_prepare(x, "SELECT count(*) FROM (SELECT DISTINCT pid, tid FROM x_samples)");
	int rc = st ? mg_export_step(x, st) : -SP_EIO;
	int64_t nthreads = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	if (nthreads <= MG_EXPORT_SCAN_THREADS)
		return mg_export_exec(x, "CREATE TEMP VIEW x_tsamples AS SELECT * FROM x_samples;");
	return mg_export_exec(
	    x, "CREATE TEMP TABLE x_tsamples AS SELECT pid, tid, ts_ns, stack_id, "
	       "weight_ns FROM x_samples;"
	       "CREATE INDEX temp.x_tsamples_thread ON x_tsamples(pid, tid, ts_ns);");
}
