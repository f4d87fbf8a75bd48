/*
 * mtest.h - what merge's tests need beyond tests/lib (tl.h, included here):
 * a database opened with the rid()/rec() span-id functions, a merge for a
 * group setup, and the docs/cookbook.md queries run on a database.
 * Temporary directories, running the spanprof command, one-value SQL and
 * reading files come from tl.h.
 *
 * Threading: single-threaded tests.
 */
#ifndef MERGE_MTEST_H
#define MERGE_MTEST_H

#include <sqlite3.h>

#include "tl.h"

/* Runs "merge [FLAGS] -o DB INPUT" for a group setup; prints merge's
 * stderr when it fails. Returns merge's exit status. */
int mtest_merge(const char *flags, const char *db, const char *input);
/* Opens a database read-only (asserts), with two SQL functions for tests
 * written with the ids a synthetic log records: rid(recorded id) is that
 * span's spans.span_id (merge's key), rec(span_id) its recorded id. */
sqlite3 *mtest_db(const char *path);
/* Runs every ```sql block of docs/cookbook.md on the database; fails the
 * test if one errors, or returns no row unless its section says "May be
 * empty". Returns the number of blocks run. */
int mtest_run_cookbook(const char *db_path);

#endif
