/*
 * tl.h - the shared test library (prefix tl_): the jobs every test folder
 * needs, written once. Temporary directories (and a cmocka teardown that
 * removes one), reading, writing and damaging a file, finding the logs of a
 * run, running a program, a shell command or the spanprof command and
 * capturing what it prints, one-value and one-column SQL on a database.
 * Folder helpers (tests/tracer/tr_log.c, tests/sampler/smp_util.c, ...)
 * keep only what is theirs: decoding logs into the shapes their tests
 * check, building fixtures.
 *
 * Failures: a helper that cannot do its job fails the running cmocka test
 * with a message (fail_msg), so callers do not check for errors unless the
 * comment says it returns one.
 *
 * Threading: single-threaded test code. Not signal-safe.
 */
#ifndef TL_H
#define TL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define TL_PATH_MAX 512

/* ---- files and directories ---- */

/* Creates a fresh directory /tmp/spanprof-TAG.XXXXXX; its path into out. */
void tl_tmpdir(char *out, size_t cap, const char *tag);
/* Removes dir and everything below it (quiet when it does not exist). */
void tl_rm_rf(const char *dir);
/* A cmocka teardown (of a group or a test) that removes the directory
 * whose path its setup put into *state (tl_rm_rf); returns 0. */
int tl_teardown_rm_rf(void **state);
/* 1 when path exists (any type), else 0. */
int tl_exists(const char *path);
/* The whole file, NUL-terminated (malloc'd); its length into *len when len
 * is not NULL. NULL when it cannot be read. */
char *tl_read_file(const char *path, size_t *len);
/* Writes len bytes into path (created or truncated). */
void tl_write_file(const char *path, const void *bytes, size_t len);
/* The same for a NUL-terminated text (without its NUL). */
void tl_write_text(const char *path, const char *text);
/* XORs the byte at offset of path with mask: damage in place. */
void tl_flip_byte(const char *path, uint64_t offset, uint8_t mask);
/* The *.splog files directly in dir, sorted by name, at most max paths into
 * out; returns how many there are (up to max). */
int tl_find_logs(const char *dir, char out[][TL_PATH_MAX], int max);

/* ---- running programs ---- */

/* Runs argv[0] (a path) with argv; env: extra "K=V" strings (NULL-terminated,
 * may be NULL). stdout into out and stderr into err (NUL-terminated,
 * truncated to the capacity), each inherited when its buffer is NULL.
 * Returns the raw wait status. */
int tl_run(char *const argv[], char *const env[], char *out, size_t out_cap, char *err,
           size_t err_cap);
/* Runs a shell command (printf-style) with sh -c after printing "$ CMD" on
 * stderr; its stdout into *out (malloc'd) when out is not NULL, stderr
 * passes through. Returns the exit status, -1 when it did not exit. */
int tl_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with stderr captured into *out too (2>&1). */
int tl_sh_all(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The spanprof command under test ($SPANPROF_CLI, set by ctest). */
const char *tl_cli(void);
/* Runs "'$SPANPROF_CLI' ARGS" (printf-style) through tl_sh; its stdout into
 * *out and its stderr into *err (each malloc'd, inherited when NULL).
 * Returns the exit status, -1 when it did not exit. */
int tl_cli_run(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- SQL ---- */

/* Opens a database read-only. */
sqlite3 *tl_db_open(const char *path);
/* First column of the first row as int64; the row must exist. */
int64_t tl_sql_int(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same as text (malloc'd); NULL for NULL or no row. */
char *tl_sql_text(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The first column of every row as text, joined by single spaces (NULL as
 * ""), into buf (truncated to cap). */
void tl_sql_column(sqlite3 *db, char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Opens path read-only, runs the query, closes; the row must exist. */
int64_t tl_db_int(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
