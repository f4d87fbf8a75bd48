/*
 * mg_runs.h - does a merge mix runs? (private to merge/)
 *
 * Two logs belong to one run when their processes are linked, on one host,
 * by the same pid (exec, log segments), by one being the other's parent
 * (fork, spawn), or by the same parent (siblings started by one launcher,
 * which may not be traced). The linked processes form one run; two runs
 * are "mixed" when they hold the same executable and one ended before the
 * other began. docs/schema.md ("Runs") states the rule and why.
 *
 * Threading: single-threaded (the merge's database connection).
 */
#ifndef MG_RUNS_H
#define MG_RUNS_H

#include <sqlite3.h>
#include <stddef.h>

/* Reads the processes table. Returns 1 and writes a one-line warning (no
 * newline) into line when the inputs hold two runs of one program; 0 when
 * they do not; -1 on a database error or out of memory. */
int mg_runs_check(sqlite3 *db, char *line, size_t cap);

#endif
