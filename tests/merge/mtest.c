/* mtest.c - see mtest.h. */
#include "mtest.h"

#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

int mtest_merge(const char *flags, const char *db, const char *input)
{
	char *err = NULL;
	int rc = tl_cli_run(NULL, &err, "merge %s -o '%s' '%s'", flags, db, input);
	if (rc)
		fprintf(stderr, "merge failed: %s\n", err ? err : "");
	free(err);
	return rc;
}

/* rid(recorded) and rec(span_id): see mtest.h. Each call prepares its
 * statement: a statement kept open with the function would make the
 * tests' sqlite3_close fail (SQLITE_BUSY) and leak the connection. */
static void mtest_map_id(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(sqlite3_context_db_handle(ctx), sqlite3_user_data(ctx), -1, &st,
	                       NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		sqlite3_result_error(ctx, "mtest: cannot map the span id", -1);
		return;
	}
	sqlite3_bind_int64(st, 1, sqlite3_value_int64(argv[0]));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		sqlite3_result_int64(ctx, sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
}

static void mtest_map_fn(sqlite3 *db, const char *name, const char *sql)
{
	assert_int_equal(sqlite3_create_function_v2(db, name, 1, SQLITE_UTF8, (void *)sql,
	                                            mtest_map_id, NULL, NULL, NULL),
	                 SQLITE_OK);
}

sqlite3 *mtest_db(const char *path)
{
	sqlite3 *db = tl_db_open(path);
	mtest_map_fn(db, "rid", "SELECT min(span_id) FROM spans WHERE recorded_id = ?1");
	mtest_map_fn(db, "rec", "SELECT recorded_id FROM spans WHERE span_id = ?1");
	return db;
}

/* Runs one block; returns the number of rows with a non-NULL value (a
 * lone row of NULLs, as an aggregate over nothing gives, counts as none);
 * fails on an error. */
static int mtest_block(sqlite3 *db, const char *sql, int n)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("cookbook query %d: %s\n%s", n, sqlite3_errmsg(db), sql);
	int rows = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int any = 0;
		for (int i = 0; i < sqlite3_column_count(st); i++)
			any |= sqlite3_column_type(st, i) != SQLITE_NULL;
		rows += any;
	}
	if (rc != SQLITE_DONE)
		fail_msg("cookbook query %d: %s", n, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rows;
}

int mtest_run_cookbook(const char *db_path)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/docs/cookbook.md", getenv("SPANPROF_SOURCE_DIR"));
	char *md = tl_read_file(path, NULL);
	assert_non_null(md);
	sqlite3 *db = mtest_db(db_path);
	int blocks = 0;
	char *section = md;
	for (char *p = strstr(md, "```sql\n"); p; p = strstr(p, "```sql\n")) {
		char *h = p;
		while (h > section && !(h[-1] == '\n' && h[0] == '#'))
			h--;
		section = h;
		char *body = p + 7, *end = strstr(body, "```");
		assert_non_null(end);
		*p = 0; /* the section's text ends where its block starts */
		int may_be_empty = strstr(section, "May be empty") != NULL;
		*end = 0;
		int rows = mtest_block(db, body, ++blocks);
		if (!may_be_empty && rows == 0)
			fail_msg("cookbook query %d returned no rows:\n%s", blocks, body);
		p = end + 1;
	}
	assert_true(blocks >= 10);
	sqlite3_close(db);
	free(md);
	return blocks;
}
