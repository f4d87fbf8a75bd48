/*
 * mg_err.h - the one error path of merge: a lower layer (db, load,
 * symbols, export) that fails records one line of text here and returns a
 * code; the command line prints the line once, "spanprof CMD: TEXT", when
 * the command ends (merge/cli/main.c) or where it chooses to go on past
 * the failure. Lower layers never print errors themselves.
 *
 * The slot is per thread, like SQLite's message per connection or
 * dlerror(): the db helpers are called from a hundred places that hold
 * only a connection, and a slot keeps their signatures free of a context
 * argument. The first error recorded wins until it is printed or taken
 * (it is the cause; what fails after it is a consequence). Only the main
 * thread records: the read-ahead thread of the loader returns codes.
 *
 * Warnings are not errors (a damaged range skipped, a module read without
 * its symbols): a lower layer reports them with mg_warn and goes on; how
 * they are shown is the command line's choice (mg_warn_set_handler).
 *
 * Threading: thread-local slot. Not signal-safe.
 */
#ifndef MG_ERR_H
#define MG_ERR_H

#include <stddef.h>

/* Records the error (printf-style text, no "spanprof CMD: " and no
 * newline) unless one is already recorded. Returns code, so that a caller
 * can write return mg_err_set(-SP_EIO, "...") . */
int mg_err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The code of the recorded error, 0 if none. */
int mg_err_code(void);
/* The text of the recorded error, "" if none. */
const char *mg_err_text(void);
/* Forgets the recorded error. */
void mg_err_clear(void);
/* The edge: prints "spanprof CMD: TEXT" on stderr if an error is
 * recorded, and forgets it. Returns 1 if it printed. */
int mg_err_print(const char *cmd);

/* Shows a warning through the handler (printf-style text, no prefix and
 * no newline). */
void mg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The handler of every later warning, called with ctx and the text; NULL
 * restores the default, which prints "spanprof: warning: TEXT" on stderr. */
typedef void (*mg_warn_fn)(void *ctx, const char *text);
void mg_warn_set_handler(mg_warn_fn fn, void *ctx);

#endif
