/*
 * rec_logs.h - the logs that `spanprof record` finds in its output
 * directory: a walk over every *.splog below a directory, the check that a
 * file is a log spanprof wrote, and the tally of what the logs say was lost
 * (rec_loss.c). Private to the CLI.
 *
 * Threading: single-threaded CLI. Not signal-safe.
 */
#ifndef REC_LOGS_H
#define REC_LOGS_H

#include <stddef.h>
#include <stdint.h>

/* Called for each *.splog name below the walked directory (sub-directories
 * included: merge reads them too). is_file is 0 for a name that is not a
 * regular file (a symbolic link, a FIFO): spanprof never writes those.
 * A non-zero return stops the walk and is returned by rec_logs_walk. */
typedef int (*rec_logs_fn)(const char *path, int is_file, void *ctx);

/* Walks dir without following symbolic links. Returns 0, fn's non-zero
 * value, or -1 with errno set when a directory cannot be read. */
int rec_logs_walk(const char *dir, rec_logs_fn fn, void *ctx);

/* 1 if path is a log spanprof wrote: empty (a process that died at once),
 * or its first record is a PROCESS record with spanprof's magic. */
int rec_logs_is_ours(const char *path);

/* What the logs below a directory say was lost. */
typedef struct rec_loss {
	uint64_t span_events;   /* span and attribute records read */
	uint64_t span_lost;     /* LOST kind EVENTS: last count per (log, thread) */
	uint64_t samples;       /* SAMPLE records read */
	uint64_t samples_lost;  /* LOST kinds SAMPLES and UNWIND */
	uint64_t other_lost;    /* LOST kinds this build does not know */
	uint64_t spans_dropped; /* DROPPED: last count per (log, thread, name) */
	uint64_t threads;       /* (log, thread) pairs that lost anything */
	uint64_t logs;
	uint64_t damaged;    /* damaged byte ranges the reader skipped */
	uint64_t unreadable; /* logs that could not be read at all */
	/* Threads that ended without a sample (nor a lost one), with the CPU
	 * their THREAD_END reports; those that had the signal blocked. */
	uint64_t gap_threads, gap_cpu_ns, gap_threads_blocked, gap_cpu_blocked_ns;
	int timers; /* a SAMPLER record says POSIX timers ran */
} rec_loss;

/* Reads every log below dir and sums its losses. Returns 0, or -1 with
 * errno set when the directory cannot be read or memory ran out. */
int rec_loss_tally(const char *dir, rec_loss *out);

/* Writes the one-line report into buf (no newline) and returns 1 when
 * anything was lost or damaged; returns 0 and writes "" otherwise. */
int rec_loss_line(const rec_loss *loss, char *buf, size_t cap);

/* Writes the line about threads that could not be sampled (the text merge
 * prints, mg_gaps_text) and returns 1, or returns 0 and writes "". */
int rec_gaps_line(const rec_loss *loss, char *buf, size_t cap);

#endif
