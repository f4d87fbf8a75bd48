/*
 * mtest.h - helpers for merge's tests: scratch directories, running the
 * spanprof command with its output captured, and one-value SQL queries.
 *
 * Threading: single-threaded tests.
 */
#ifndef MERGE_MTEST_H
#define MERGE_MTEST_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Fresh directory under $SPANPROF_BUILD_DIR (or /tmp); path into buf. */
void mtest_tmpdir(char *buf, size_t len, const char *tag);
/* Removes it again, unless MERGE_TEST_KEEP is set (for debugging). */
int mtest_rmdir(const char *dir);
/* Runs "$SPANPROF_CLI <args>" through the shell; stdout and stderr go to
 * out/err (malloc'd, may be NULL). Returns the exit status. */
int mtest_cli(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Runs "merge [FLAGS] -o DB INPUT" for a group setup; prints merge's
 * stderr when it fails. Returns merge's exit status. */
int mtest_merge(const char *flags, const char *db, const char *input);
/* Opens a database read-only (asserts), with two SQL functions for tests
 * written with the ids a synthetic log records: rid(recorded id) is that
 * span's spans.span_id (merge's key), rec(span_id) its recorded id. */
sqlite3 *mtest_db(const char *path);
/* First column of the first row as int64 (asserts that a row exists). */
int64_t mtest_int(sqlite3 *db, const char *sql);
/* Same as text (malloc'd, NULL for SQL NULL or no row). */
char *mtest_text(sqlite3 *db, const char *sql);
/* The first column of every row of sql as text, joined by single spaces
 * (NULL as ""), into buf; asserts that sql prepares. */
void mtest_column(sqlite3 *db, const char *sql, char *buf, size_t len);
/* Returns 1 if file exists. */
int mtest_exists(const char *path);
/* Runs every ```sql block of docs/cookbook.md on the database; fails the
 * test if one errors, or returns no row unless its section says "May be
 * empty". Returns the number of blocks run. */
int mtest_run_cookbook(const char *db_path);
/* Reads a whole file (malloc'd, NUL-terminated) or NULL. */
char *mtest_read_file(const char *path, size_t *len);

#endif
