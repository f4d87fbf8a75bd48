/*
 * export_common.c - shared plumbing of 'spanprof export': the run (open and
 * check the database, build the filters, load the tables, write the output
 * to a temporary file renamed over the target on success), the dispatch
 * to one file per format, and the small helpers the format writers share.
 * One concern a file: export_filter.c (the database and the filter views
 * x_spans, x_samples), export_tables.c (per-frame and per-stack tables),
 * export_output.c (output file and spools); the string table is
 * common/mg_strtab.h, JSON common/json.h.
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
#include "mg_loss.h"
#include "spanprof.h"

sqlite3_stmt *mg_export_prepare(struct mg_export *x, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK) {
		mg_err_set(-SP_EIO, "%s: %s", x->opts->db_path, sqlite3_errmsg(x->db));
		return NULL;
	}
	return st;
}

sqlite3_stmt *mg_export_threads(struct mg_export *x)
{
	return mg_export_prepare(
	    x, "SELECT u.pid, u.tid, max(t.name), max(p.exe) FROM "
	       "(SELECT pid, tid FROM x_samples UNION SELECT pid, tid FROM x_spans) u "
	       "LEFT JOIN main.threads t ON t.pid = u.pid AND t.tid = u.tid "
	       "LEFT JOIN main.processes p ON p.pid = u.pid "
	       "GROUP BY u.pid, u.tid ORDER BY u.pid, u.tid");
}

int mg_export_step(struct mg_export *x, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	mg_err_set(-SP_EIO, "%s: %s", x->opts->db_path, sqlite3_errmsg(x->db));
	return -SP_EIO;
}

int mg_export_exec(struct mg_export *x, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(x->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	mg_err_set(-SP_EIO, "%s: %s", x->opts->db_path, err ? err : "error");
	sqlite3_free(err);
	return -SP_EIO;
}

int mg_export_dup_key(char **prev, const char *key)
{
	if (*prev && !strcmp(*prev, key))
		return 1;
	free(*prev);
	*prev = strdup(key);
	return 0;
}

void mg_export_tick(struct mg_export *x)
{
	if (++x->rows_done & 0xfff)
		return;
	mg_progress_update(&x->progress, "spanprof export: %" PRIu64 " rows...", x->rows_done);
}

static int dispatch(struct mg_export *x)
{
	switch (x->opts->format) {
	case MG_EXPORT_FIREFOX:
		return mg_export_firefox(x);
	case MG_EXPORT_CHROME:
		return mg_export_chrome(x);
	case MG_EXPORT_PPROF:
		return mg_export_pprof(x);
	case MG_EXPORT_FOLDED:
		return mg_export_folded(x);
	case MG_EXPORT_SPEEDSCOPE:
		return mg_export_speedscope(x);
	case MG_EXPORT_OTLP:
		return mg_export_otlp(x);
	}
	return -SP_EINVAL;
}

/* The loss summary of the whole database (not only of the selection:
 * what was lost has no span or time to filter by). */
static int read_missing(struct mg_export *x)
{
	mg_loss loss;
	if (mg_loss_read(x->db, &loss))
		return -SP_EIO;
	if (mg_loss_any(&loss))
		mg_loss_text(&loss, x->missing, sizeof x->missing);
	return 0;
}

static int prepare(struct mg_export *x)
{
	int rc = mg_export_open_db(x);
	rc = rc ? rc : mg_export_make_views(x);
	rc = rc ? rc : mg_export_check_selection(x);
	rc = rc ? rc : read_missing(x);
	rc = rc ? rc : mg_export_make_thread_samples(x);
	rc = rc ? rc : mg_export_load_funcs(x);
	rc = rc ? rc : mg_export_load_frames(x);
	return rc ? rc : mg_export_load_stacks(x);
}

int mg_export_run(const struct mg_export_opts *opts)
{
	struct mg_export x = {.opts = opts, .out_fd = -1};
	char *tmp_path = NULL;
	mg_progress_init(&x.progress);
	x.progress.tty &= opts->progress != 0; /* the caller may turn it off */
	int rc = prepare(&x);
	rc = rc ? rc : mg_export_output_open(&x, &tmp_path);
	if (rc == 0) {
		rc = dispatch(&x);
		if (rc == 0 && ferror(x.out)) {
			mg_err_set(-SP_EIO, "write error");
			rc = -SP_EIO;
		}
		rc = mg_export_output_close(&x, tmp_path, rc);
	}
	mg_progress_done(&x.progress);
	mg_export_free_tables(&x);
	sqlite3_close(x.db);
	return rc;
}

int mg_export_open(struct mg_export *x, const struct mg_export_opts *opts)
{
	memset(x, 0, sizeof *x);
	x->opts = opts;
	x->out_fd = -1;
	return prepare(x);
}

void mg_export_close(struct mg_export *x)
{
	mg_export_free_tables(x);
	sqlite3_close(x->db);
	x->db = NULL;
}
