/*
 * mg_loss.h - the one summary of what a merged database is missing: events
 * and samples the runtime lost, spans it dropped, spans merge cut (their
 * END is not in the log), damaged ranges of the logs. merge prints it as a
 * warning, top in its header, the exporters where their format has room
 * (docs/export.md, "Loss"), all from this one place.
 *
 * Threading: uses only the connection it is given. Not signal-safe.
 */
#ifndef MG_LOSS_H
#define MG_LOSS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_gaps.h"

typedef struct mg_loss {
	int64_t span_events;   /* BEGIN, END and ATTR records merged */
	int64_t events_lost;   /* span and attribute records lost (lost.kind 'events') */
	int64_t samples;       /* samples merged */
	int64_t samples_lost;  /* samples lost (ring full) or without a stack (unwind) */
	int64_t threads_lossy; /* threads that lost events or samples */
	int64_t spans_dropped; /* spans dropped whole (SPANPROF_ON_FULL=drop) */
	int64_t spans_cut;     /* spans.cut <> 0 */
	int64_t damaged;       /* rows of table damage */
} mg_loss;

/* During merge, before the commit: stores what only the load counted
 * (meta keys span_events, samples, spans_cut). 0 or -1 (recorded: common/mg_err.h). */
int mg_loss_save(sqlite3 *db, uint64_t span_events, uint64_t samples, uint64_t spans_cut);
/* Reads the summary of a merged database. Counts what meta lacks (a database of an older merge).
 * 0 or -1 (recorded: common/mg_err.h). */
int mg_loss_read(sqlite3 *db, mg_loss *out);
/* 1 if anything is missing. */
int mg_loss_any(const mg_loss *l);
/* The summary as one line without prefix or newline, e.g. "120 of 5000
 * span events (2.4%) and 3 of 900 samples (0.3%) lost in 2 threads; 4 spans
 * cut (no END in the log)". Returns buf. */
const char *mg_loss_text(const mg_loss *l, char *buf, size_t len);

/* Counts the threads that could not be sampled (mg_gaps.h) in a merged
 * database (one scan of samples). 0 or -1 (recorded: common/mg_err.h). A database without
 * threads.cpu_ns has no gaps. */
int mg_gaps_read(sqlite3 *db, mg_gaps *out);

#endif
