/*
 * mg_gaps.h - threads the sampler could not sample, and the one line that
 * says so. `record` counts them from the logs it reads back (rec_loss.c),
 * `merge` from the database (mg_loss.c, mg_gaps_read); both print
 * mg_gaps_text, so the two say the same thing (docs/sampling.md, "What
 * cannot be sampled").
 *
 * Threading: none. Not signal-safe.
 */
#ifndef MG_GAPS_H
#define MG_GAPS_H

#include <stddef.h>
#include <stdint.h>

/* A thread counts when its THREAD_END gives the CPU time it used while
 * sampled (threads.cpu_ns) and it has no sample and lost none: either the
 * sampling signal was blocked (threads.signal_blocked) or it was too short
 * to draw a sample (with random first periods the samples of the other
 * short threads stand for it on average). */
typedef struct mg_gaps {
	int64_t threads, cpu_ns;                 /* all of them */
	int64_t threads_blocked, cpu_blocked_ns; /* the signal was blocked */
	int timers; /* some process sampled with POSIX timers (tick-bound) */
} mg_gaps;

/* "N threads, X ms of CPU, could not be sampled (...)" without prefix or
 * newline, or "" when there are none. Returns buf. */
const char *mg_gaps_text(const mg_gaps *g, char *buf, size_t len);

#endif
