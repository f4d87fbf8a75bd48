/*
 * log_int.h - shared internals of the log writer and the ring registry
 * (private to libcore).
 *
 * Threading: the registry has its own mutex (lc_reg_lock); ring contents are
 * consumed only by the holder of the writer's drain lock.
 */
#ifndef LC_LOG_INT_H
#define LC_LOG_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include "log_writer.h"

/* Futex word the producers bump (then FUTEX_WAKE) to wake the writer thread
 * early, e.g. when a ring passes half full. A futex rather than an eventfd:
 * there is no descriptor a program could close (daemons close every fd)
 * and a producer could then write into a reused one; and a fork child gets
 * its own private copy for free. */
extern _Atomic uint32_t lc_log_wake_word_;
/* Async-signal-safe (one syscall, errno preserved). */
void lc_log_wake_writer_(void);

/* A producer's ring is full: drains every ring into the log on the calling
 * thread, under the drain lock. Returns 1 when a drain ran (or another
 * thread's drain emptied the ring meanwhile), 0 when none can run here: no
 * log is open, or the calling thread is already inside a drain (a signal
 * handler that made a span there), which must not wait for itself. Not
 * async-signal-safe: only for rings that may block. */
int lc_log_make_room_(lc_ring *ring);

/* Test hook: 1 stops the writer thread from draining (producers then
 * drain their full rings themselves), 0 lets it go on. */
void lc_log_stall_writer_(int stalled);

/* Registry of live rings. */
extern pthread_mutex_t lc_reg_lock;

typedef struct lc_ring_snap {
	lc_ring *ring;
	uint64_t head;
	int retired;
} lc_ring_snap;

/* Takes a snapshot of every ring's retired flag and head (in that order, so a
 * retired ring is drained completely). Returns a malloc'ed array (caller
 * frees) and its length in *n; NULL with *n = 0 when there are none. */
lc_ring_snap *lc_ring_snapshot_all_(size_t *n);
/* Unregisters and frees a ring. Caller holds the drain lock. */
void lc_ring_destroy_(lc_ring *ring);
/* Fork child: keeps (and empties) the rings the calling thread owns, frees
 * all others. Single-threaded context. */
void lc_ring_reset_after_fork_(uint32_t new_tid);
/* Converts the raw record at w into rec (pointers into the ring).
 * Returns its type (LC_RAW_PAD for padding) and the size in *words. */
unsigned lc_ring_raw_to_record_(lc_ring *ring, const uint64_t *w, lc_record *rec, uint32_t *words);

/* The open spans of each ring as the writer drained them, kept only while
 * the log rotates, repeated at the start of each new segment
 * (log_mirror.c). All under the drain lock. record_ feeds one drained
 * record of ring (snaps: every ring, for ENDs and ATTRs written on another
 * thread); emit_ writes a BLOCK and the ring's open spans, outermost
 * first, flagged CONTINUED, each followed by its kept ATTRs; free_ drops a
 * ring's mirror; forget_early_ drops the ENDs waiting for their BEGIN. */
void lc_mirror_record_(lc_ring *ring, const lc_record *rec, const lc_ring_snap *snaps, size_t n);
void lc_mirror_emit_(lc_ring *ring, void (*put)(const lc_record *rec));
void lc_mirror_free_(lc_ring *ring);
void lc_mirror_forget_early_(void);

#endif
