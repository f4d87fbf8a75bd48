/*
 * mg_batch.h - multi-row INSERTs of integer rows, for merge's biggest tables
 * (samples, span_ancestors).
 *
 * One sqlite3_step per row costs a statement reset and a VDBE start each
 * time; an INSERT of MG_BATCH_ROWS rows in one VALUES list pays that once
 * per batch (about 10% of the load phase for samples). Rows keep their
 * order, so rowids come out exactly as with one INSERT per row. A partial
 * batch is written row by row with a one-row statement.
 *
 * Threading: one batch per connection user. Not signal-safe.
 */
#ifndef MG_BATCH_H
#define MG_BATCH_H

#include <sqlite3.h>
#include <stdint.h>

#define MG_BATCH_ROWS 64
#define MG_BATCH_COLS 8

typedef struct mg_batch {
	sqlite3_stmt *many, *one;
	int ncols, nrows;
	int64_t v[MG_BATCH_ROWS * MG_BATCH_COLS];
	uint8_t is_null[MG_BATCH_ROWS * MG_BATCH_COLS];
} mg_batch;

/* "INSERT INTO table(cols)" (cols may be empty) with ncols parameters per
 * row. Returns 0, or -1 after recording the database error (common/mg_err.h). */
int mg_batch_init(mg_batch *b, sqlite3 *db, const char *insert_into, int ncols);
void mg_batch_finalize(mg_batch *b);
/* Adds a row: vals[ncols], with NULL where is_null[i] (is_null may be
 * NULL: no NULLs). Writes a full batch. Returns 0 or -1 (database). */
int mg_batch_add(mg_batch *b, const int64_t *vals, const uint8_t *is_null);
/* Writes the rows held. Returns 0 or -1. */
int mg_batch_flush(mg_batch *b);

#endif
