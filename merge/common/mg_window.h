/*
 * mg_window.h - merge's time window (--since/--until) and the choice of
 * which logs an appending merge still has to load (private to merge/).
 *
 * Threading: no shared state. Not signal-safe.
 */
#ifndef MG_WINDOW_H
#define MG_WINDOW_H

#include <sqlite3.h>
#include <stdint.h>

/* Parses an absolute RFC 3339 time ("2025-05-01T12:00:00Z",
 * "2025-05-01T14:00:00.250+02:00"), a time relative to now_ns ("-5m",
 * "-1h", "-30s": any duration of libcore/config.h after a minus sign), or
 * nanoseconds since the epoch (all digits). Returns 0 and *out_ns, or -1. */
int mg_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns);

/* The same for a command-line option (export and push --from/--to),
 * relative to now, into a signed time. Returns 0 and *out_ns, or -1. */
int mg_parse_time_ns(const char *s, int64_t *out_ns);

/* CLOCK_REALTIME now, in ns since the epoch. */
uint64_t mg_now_ns(void);

/* 1 when the log at path can hold no event inside [since_ns, until_ns]
 * (0 = open end): it was last written well before since_ns (its mtime,
 * more than 2 s: mtimes trail the events they hold), or it
 * starts after until_ns (its SEGMENT start, else its PROCESS). Reads at
 * most the first frames. 0 otherwise or when it cannot tell. */
int mg_log_outside_window(const char *path, uint64_t since_ns, uint64_t until_ns);

/* For merge --append: 1 when db's logs table already holds path with
 * this size in bytes (merged before), 0 if not, -1 on error. */
int mg_log_merged_before(sqlite3 *db, const char *path, uint64_t size);

/* For merge --append: 1 when path is the newest segment of a rotated log
 * (<program>.<pid>.s<N>.splog, no s<N+1> beside it) whose process is still
 * running here: it is still being written and goes in with a later append. */
int mg_log_still_written(const char *path);

#endif
