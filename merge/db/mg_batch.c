/*
 * mg_batch.c - see mg_batch.h.
 *
 * Threading: uses only its own statements.
 */
#include "mg_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_db.h"

/* "INSERT ... VALUES(?,?),(?,?),..." with nrows rows; malloc'd. */
static char *mg_batch_sql(const char *insert_into, int ncols, int nrows)
{
	size_t row_len = (size_t)ncols * 2 + 2, len = strlen(insert_into) + 8;
	char *sql = malloc(len + (size_t)nrows * row_len + 1);
	if (!sql)
		return NULL;
	char *p = sql + sprintf(sql, "%s VALUES", insert_into);
	for (int r = 0; r < nrows; r++) {
		*p++ = r ? ',' : '(';
		if (r)
			*p++ = '(';
		for (int c = 0; c < ncols; c++) {
			*p++ = '?';
			*p++ = c + 1 < ncols ? ',' : ')';
		}
	}
	*p = '\0';
	return sql;
}

int mg_batch_init(mg_batch *b, sqlite3 *db, const char *insert_into, int ncols)
{
	memset(b, 0, sizeof *b);
	if (ncols < 1 || ncols > MG_BATCH_COLS)
		return -1;
	b->ncols = ncols;
	char *many = mg_batch_sql(insert_into, ncols, MG_BATCH_ROWS);
	char *one = mg_batch_sql(insert_into, ncols, 1);
	if (many && one) {
		b->many = mg_prepare(db, many);
		b->one = b->many ? mg_prepare(db, one) : NULL;
	}
	free(many);
	free(one);
	return b->one ? 0 : -1;
}

void mg_batch_finalize(mg_batch *b)
{
	sqlite3_finalize(b->many);
	sqlite3_finalize(b->one);
	b->many = b->one = NULL;
}

/* Binds rows [first, first + n) to st from parameter 1 on, and runs it. */
static int mg_batch_run(mg_batch *b, sqlite3_stmt *st, int first, int n)
{
	int k = first * b->ncols, end = (first + n) * b->ncols;
	for (int param = 1; k < end; k++, param++) {
		if (b->is_null[k])
			sqlite3_bind_null(st, param);
		else
			sqlite3_bind_int64(st, param, b->v[k]);
	}
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int mg_batch_flush(mg_batch *b)
{
	int err = 0;
	if (b->nrows == MG_BATCH_ROWS)
		err = mg_batch_run(b, b->many, 0, MG_BATCH_ROWS);
	else
		for (int r = 0; r < b->nrows && !err; r++)
			err = mg_batch_run(b, b->one, r, 1);
	b->nrows = 0;
	return err;
}

int mg_batch_add(mg_batch *b, const int64_t *vals, const uint8_t *is_null)
{
	int k = b->nrows * b->ncols;
	memcpy(&b->v[k], vals, (size_t)b->ncols * sizeof *vals);
	if (is_null)
		memcpy(&b->is_null[k], is_null, (size_t)b->ncols);
	else
		memset(&b->is_null[k], 0, (size_t)b->ncols);
	return ++b->nrows == MG_BATCH_ROWS ? mg_batch_flush(b) : 0;
}
