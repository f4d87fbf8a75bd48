/*
 * cmd_query.c - 'spanprof query DB "SQL" [--csv|--json]'.
 *
 * The database is opened read-only and the connection guarded
 * (mg_readonly.h): a query can only read; it can neither damage a merge
 * result, nor write a file (VACUUM INTO, ATTACH), nor reach native code
 * through SQLite's pointer-taking functions.
 * Table output buffers the first MG_WIDTH_ROWS rows to size the columns and
 * streams the rest with those widths, so a huge result does not need memory
 * in proportion to its size. Several statements separated by ';' each print
 * their own result.
 *
 * Threading: single-threaded.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "mg_db.h"
#include "mg_grow.h"
#include "mg_readonly.h"

#define MG_WIDTH_ROWS 1000
#define MG_MAX_WIDTH  60

enum { MG_FMT_TABLE, MG_FMT_CSV, MG_FMT_JSON };

typedef struct mg_rows {
	char **cells; /* row-major, ncols per row; NULL = SQL NULL */
	size_t n_rows, cap_rows;
	int ncols;
} mg_rows;

static void mg_query_usage(FILE *out)
{
	fprintf(out, "usage: spanprof query DB \"SQL\" [--csv | --json]\n"
	             "\n"
	             "Runs SQL on a merged database (opened read-only) and prints the\n"
	             "result as an aligned table, CSV (RFC 4180) or a JSON array of objects.\n"
	             "Tables and views: docs/schema.md; example queries: docs/cookbook.md.\n"
	             "\n"
	             "  --csv    comma-separated values with a header line\n"
	             "  --json   JSON array, one object per row\n"
	             "  -h, --help\n");
}

static char *mg_cell_text(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	const char *t = (const char *)sqlite3_column_text(st, i);
	return strdup(t ? t : "");
}

static int mg_rows_add(mg_rows *r, sqlite3_stmt *st)
{
	if (r->n_rows == r->cap_rows) {
		/* a row is ncols cells */
		size_t row = (size_t)r->ncols * sizeof *r->cells;
		size_t cap = mg_grow_cap(r->cap_rows, r->n_rows + 1, row);
		char **c = cap ? mg_realloc_n(r->cells, cap, row) : NULL;
		if (!c)
			return -1;
		r->cells = c;
		r->cap_rows = cap;
	}
	for (int i = 0; i < r->ncols; i++)
		r->cells[r->n_rows * (size_t)r->ncols + (size_t)i] = mg_cell_text(st, i);
	r->n_rows++;
	return 0;
}

static void mg_rows_free(mg_rows *r)
{
	for (size_t i = 0; i < r->n_rows * (size_t)r->ncols; i++)
		free(r->cells[i]);
	free(r->cells);
}

static int mg_is_numeric(sqlite3_stmt *st, int i)
{
	const char *decl = sqlite3_column_decltype(st, i);
	int t = sqlite3_column_type(st, i);
	return t == SQLITE_INTEGER || t == SQLITE_FLOAT ||
	       (decl && (strstr(decl, "INT") || strstr(decl, "REAL")));
}

static void mg_print_cell(const char *s, int width, int right)
{
	const char *v = s ? s : "NULL";
	int len = (int)strlen(v);
	if (len > width && width >= MG_MAX_WIDTH) /* cut very long cells */
		printf("%.*s...", width - 3, v);
	else
		printf(right ? "%*s" : "%-*s", width, v);
}

static void mg_print_row(char **cells, const int *w, const int *right, int ncols)
{
	for (int i = 0; i < ncols; i++) {
		if (i)
			fputs("  ", stdout);
		mg_print_cell(cells[i], w[i], right[i] && i < ncols);
	}
	putchar('\n');
}

static int mg_width_of(const char *s)
{
	int n = s ? (int)strlen(s) : 4;
	return n > MG_MAX_WIDTH ? MG_MAX_WIDTH : n;
}

/* Table: buffer the first rows for widths, then stream. */
static int mg_print_table(sqlite3_stmt *st, int *rc)
{
	mg_rows r = {.ncols = sqlite3_column_count(st)};
	int w[r.ncols > 0 ? r.ncols : 1], right[r.ncols > 0 ? r.ncols : 1];
	char *hdr[r.ncols > 0 ? r.ncols : 1], *cells[r.ncols > 0 ? r.ncols : 1];
	for (int i = 0; i < r.ncols; i++) {
		hdr[i] = (char *)sqlite3_column_name(st, i);
		w[i] = mg_width_of(hdr[i]);
		right[i] = 0;
	}
	while (r.n_rows < MG_WIDTH_ROWS && (*rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < r.ncols; i++)
			right[i] |= mg_is_numeric(st, i);
		if (mg_rows_add(&r, st))
			return -1;
		for (int i = 0; i < r.ncols; i++) {
			int cw = mg_width_of(r.cells[(r.n_rows - 1) * (size_t)r.ncols + (size_t)i]);
			w[i] = cw > w[i] ? cw : w[i];
		}
	}
	mg_print_row(hdr, w, right, r.ncols);
	for (int i = 0; i < r.ncols; i++) {
		printf("%s", i ? "  " : "");
		for (int k = 0; k < w[i]; k++)
			putchar('-');
	}
	putchar('\n');
	for (size_t j = 0; j < r.n_rows; j++)
		mg_print_row(&r.cells[j * (size_t)r.ncols], w, right, r.ncols);
	mg_rows_free(&r);
	while (*rc == SQLITE_ROW && (*rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < r.ncols; i++)
			cells[i] = (char *)sqlite3_column_text(st, i);
		mg_print_row(cells, w, right, r.ncols);
	}
	return 0;
}

static void mg_csv_cell(const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static int mg_print_csv(sqlite3_stmt *st, int *rc)
{
	int n = sqlite3_column_count(st);
	for (int i = 0; i < n; i++) {
		if (i)
			putchar(',');
		mg_csv_cell(sqlite3_column_name(st, i));
	}
	fputs("\r\n", stdout);
	while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < n; i++) {
			if (i)
				putchar(',');
			mg_csv_cell((const char *)sqlite3_column_text(st, i));
		}
		fputs("\r\n", stdout);
	}
	return 0;
}

/* JSON: an array of objects, one row a line (json.h: strict output, inf
 * and NaN as null, invalid UTF-8 replaced). */
static int mg_print_json(sqlite3_stmt *st, int *rc)
{
	int n = sqlite3_column_count(st);
	mg_json w;
	mg_json_init(&w, stdout, MG_JSON_SPACED | MG_JSON_ROWS);
	mg_json_begin_array(&w);
	while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
		mg_json_begin_object(&w);
		for (int i = 0; i < n; i++) {
			mg_json_key(&w, sqlite3_column_name(st, i));
			mg_json_put_column(&w, st, i);
		}
		mg_json_end_object(&w);
	}
	mg_json_end_array(&w);
	putchar('\n');
	return mg_json_finish(&w);
}

/* Prepares the next statement of *tail; prints why it failed or was
 * refused. Returns 0 (*st NULL for only whitespace or comments) or 1. */
static int mg_prepare_next(sqlite3 *db, mg_readonly *ro, const char **tail, sqlite3_stmt **st)
{
	ro->refused[0] = '\0';
	if (sqlite3_prepare_v2(db, *tail, -1, st, tail) != SQLITE_OK) {
		if (ro->refused[0])
			fprintf(stderr, "spanprof query: refused: %s (query is read-only)\n",
			        ro->refused);
		else
			fprintf(stderr, "spanprof query: SQL error: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	if (*st && !sqlite3_stmt_readonly(*st)) { /* the authorizer should have said */
		fprintf(stderr, "spanprof query: refused: a statement that writes (VACUUM, "
		                "...: query is read-only)\n");
		sqlite3_finalize(*st);
		*st = NULL;
		return 1;
	}
	return 0;
}

static int mg_run_sql(sqlite3 *db, mg_readonly *ro, const char *sql, int fmt)
{
	const char *tail = sql;
	while (tail && *tail) {
		sqlite3_stmt *st = NULL;
		if (mg_prepare_next(db, ro, &tail, &st))
			return 1;
		if (!st)
			continue; /* whitespace or comment */
		int rc = SQLITE_DONE, err = 0;
		if (sqlite3_column_count(st) == 0)
			rc = sqlite3_step(st);
		else if (fmt == MG_FMT_CSV)
			err = mg_print_csv(st, &rc);
		else if (fmt == MG_FMT_JSON)
			err = mg_print_json(st, &rc);
		else
			err = mg_print_table(st, &rc);
		sqlite3_finalize(st);
		if (err || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
			fprintf(stderr, "spanprof query: SQL error: %s\n",
			        err ? "out of memory" : sqlite3_errmsg(db));
			return 1;
		}
	}
	return 0;
}

int mg_cmd_query(int argc, char **argv)
{
	static const struct option opts[] = {{"csv", no_argument, NULL, 'c'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int fmt = MG_FMT_TABLE, c;
	optind = 1;
	opterr = 0; /* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			mg_query_usage(stdout);
			return 0;
		}
		if (c != 'c' && c != 'j') {
			fprintf(stderr,
			        "spanprof query: bad option '%s' (try 'spanprof query --help')\n",
			        argv[optind - 1]);
			return 2;
		}
		fmt = c == 'c' ? MG_FMT_CSV : MG_FMT_JSON;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "spanprof query: expected DB and one SQL argument (try "
		                "'spanprof query --help')\n");
		return 2;
	}
	sqlite3 *db = mg_db_open(argv[optind], 0);
	if (!db)
		return 1;
	mg_readonly ro;
	if (mg_readonly_guard(db, &ro)) {
		fprintf(stderr, "spanprof query: %s: cannot make the connection read-only: %s\n",
		        argv[optind], sqlite3_errmsg(db));
		sqlite3_close(db);
		return 1;
	}
	int rc = mg_run_sql(db, &ro, argv[optind + 1], fmt);
	sqlite3_close(db);
	return rc;
}
