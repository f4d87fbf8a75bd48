/*
 * log_int.h - shared internals of the log writer and the ring registry
 * (private to libcore).
 *
 * Threading: the registry has its own mutex (sp_reg_lock); ring contents are
 * consumed only by the holder of the writer's drain lock.
 */
#ifndef SP_LOG_INT_H
#define SP_LOG_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include "log_writer.h"

/* eventfd the producers write to on a half-full crossing; -1 if none. The fd
 * number, once set, never changes (a fork child dup2()s its own eventfd over
 * it), so a producer never writes into a reused descriptor. */
extern _Atomic int sp_log_wake_fd_;
void sp_log_wake_writer_(void);

/* Registry of live rings. */
extern pthread_mutex_t sp_reg_lock;

typedef struct sp_ring_snap {
	sp_ring *ring;
	uint64_t head;
	int retired;
} sp_ring_snap;

/* Takes a snapshot of every ring's retired flag and head (in that order, so a
 * retired ring is drained completely). Returns a malloc'ed array (caller
 * frees) and its length in *n; NULL with *n = 0 when there are none. */
sp_ring_snap *sp_ring_snapshot_all_(size_t *n);
/* Unregisters and frees a ring. Caller holds the drain lock. */
void sp_ring_destroy_(sp_ring *ring);
/* Fork child: keeps (and empties) the rings the calling thread owns, frees
 * all others. Single-threaded context. */
void sp_ring_reset_after_fork_(uint32_t new_tid);
/* Converts the raw record at w into rec (pointers into the ring).
 * Returns its type (SP_RAW_PAD for padding) and the size in *words. */
unsigned sp_ring_raw_to_record_(sp_ring *ring, const uint64_t *w, sp_record *rec, uint32_t *words);

#endif
