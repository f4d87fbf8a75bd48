/*
 * ex_util.h - helpers for the examples' tests: a scratch directory, running
 * shell commands with $SPANPROF_CLI and the build directory at hand, and
 * one-value SQL queries on a merged database.
 *
 * Threading: single-threaded tests.
 */
#ifndef EX_UTIL_H
#define EX_UTIL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh empty directory under $SPANPROF_BUILD_DIR/ex-tmp (or /tmp); the
 * process changes into it. Returns its path (static storage). */
const char *ex_scratch(const char *tag);
/* Removes the scratch directory (call at the end of a passing test; a
 * failing test leaves it for inspection). */
void ex_scratch_remove(void);
/* Path of a built example program: $SPANPROF_BUILD_DIR/examples/NAME/NAME. */
const char *ex_program(const char *name);
/* Runs a shell command (printf-style) in the scratch directory with
 * $SP = the spanprof command. stdout goes to *out (malloc'd) when out is
 * not NULL; stderr passes through. Returns the exit status (-1 on failure
 * to run). */
int ex_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Opens a database read-only (asserts). */
sqlite3 *ex_db(const char *path);
/* First column of the first row as int64 (0 when there is no row). */
int64_t ex_int(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same as text (malloc'd; NULL for NULL or no row). */
char *ex_text(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
