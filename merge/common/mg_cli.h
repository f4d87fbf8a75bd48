/*
 * mg_cli.h - small helpers shared by subcommands: a progress line on a
 * terminal and option parsing glue. Reusable by any cmd_*.c.
 *
 * Threading: single-threaded CLI. Not signal-safe.
 */
#ifndef MG_CLI_H
#define MG_CLI_H

#include <stdint.h>

typedef struct mg_progress {
	int tty;       /* stderr is a terminal */
	double t0_s;   /* start time (CLOCK_MONOTONIC seconds) */
	double last_s; /* last redraw */
	int shown;     /* something is on the line */
} mg_progress;

double mg_now_s(void);
void mg_progress_init(mg_progress *p);
/* Redraws "\r<text>" at most 10 times a second, and only once the work
 * has lasted over a second, and only on a terminal. printf-style. */
void mg_progress_update(mg_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the line if something was shown. */
void mg_progress_done(mg_progress *p);

/* "12.3 MB" style, into buf. */
const char *mg_fmt_bytes(uint64_t bytes, char *buf, int len);
/* "3.1M" style count. */
const char *mg_fmt_count(uint64_t n, char *buf, int len);

/* Parses a positive integer option value; returns -1 if invalid. */
long mg_parse_count(const char *s);

#endif
