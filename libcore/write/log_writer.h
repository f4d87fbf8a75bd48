/*
 * log_writer.h - per-thread event buffers and the background log writer
 * (private).
 *
 * One log per process: <dir>/<program>.<pid>.splog, a sequence of independent
 * LZ4 frames (docs/log-format.md), or with rotation a chain of segments
 * <program>.<pid>.s<NNNNNN>.splog, each readable alone. Producers (the tracer on each thread, the
 * sampler's signal handler on each thread) append records to rings they own:
 * single-producer single-consumer, lock-free, never blocking; a full ring
 * counts the record as lost. One background thread drains every ring at
 * least every flush interval (default 100 ms), encodes, compresses and
 * writes one or more frames. "Meta" records (strings, threads, modules,
 * sampler info) go through a mutex-protected queue that is drained before the
 * rings, so a definition always precedes its first use in the file; a
 * THREAD_END is held back one drain so it follows the thread's last records.
 * Meta records queued while no log is open go to the next log opened.
 *
 * Threading and signal safety are stated per function below.
 */
#ifndef LC_LOG_WRITER_H
#define LC_LOG_WRITER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "records.h"
#include "ring.h"

typedef struct lc_log_opts {
	const char *dir;            /* created if missing (mode 0700) */
	const char *program;        /* basename used in the file name */
	uint32_t flush_interval_ms; /* 0 = 100 */
	uint32_t reserved;          /* must be 0 */
	/* Rotation (docs/log-format.md, "Rotation"): 0 and 0 = one file.
	 * Otherwise the log is a chain of self-contained segments
	 * <dir>/<program>.<pid>.s<NNNNNN>.splog, a new one after a drain that
	 * finds the open one rotate_ns old or rotate_bytes big. keep_bytes
	 * (0 = keep all) bounds the closed segments of this process: the
	 * oldest are deleted, so disk use stays under keep_bytes + one. */
	uint64_t rotate_ns;
	uint64_t rotate_bytes;
	uint64_t keep_bytes;
} lc_log_opts;

/* Opens the log, writes the PROCESS record (pid, host, clock pair are
 * filled in here if zero), starts the writer thread. Returns 0 or -SP_E*.
 * Not signal-safe. Call once; a second open without close fails. */
int lc_log_open(const lc_log_opts *opts, const lc_rec_process *proc);

/* How libcore starts its own threads (the writer). Inside libspanprof,
 * pthread_create is the sampler's interposer, which registers and samples
 * the new thread when the sampler runs; the runtime therefore sets here the
 * real pthread_create (smp_real_pthread_create), so the writer is
 * never sampled nor registered, whatever the order of start-up and fork
 * handlers. NULL (the default) means pthread_create, for programs without
 * interposers (tests, benches). Kept across close and fork. Threading: call
 * while no log is open. Not signal-safe. */
typedef int (*lc_log_thread_create_fn)(pthread_t *thread, const pthread_attr_t *attr,
                                       void *(*start)(void *), void *arg);
void lc_log_set_thread_create(lc_log_thread_create_fn create);
/* Stops and joins the writer thread, drains everything (a final clock pair,
 * lost counts, held THREAD_ENDs) and closes the file. Idempotent. Thread-safe
 * (one closer at a time), not signal-safe. Records pushed afterwards stay in
 * their rings (or are counted lost when a ring fills) until a log is opened
 * again; sticky meta records are kept for that next log. */
void lc_log_close(void);
/* 1 while a log is open. Thread-safe. */
int lc_log_is_open(void);
/* Synchronously drains all rings and meta records into frames on disk, on
 * the calling thread. Thread-safe (serialised with the writer thread), not
 * signal-safe. No-op when no log is open. */
void lc_log_flush(void);
/* From a signal handler that is about to let the process die: asks the
 * writer thread for a drain of everything recorded so far and waits for it,
 * at most timeout_ns. Returns 0 once it is on disk, -1 when no writer runs,
 * the calling thread is itself inside a drain, or the time ran out (the
 * writer waits for a lock the dying thread holds). Async-signal-safe; errno
 * is kept. */
int lc_log_flush_from_signal(uint64_t timeout_ns);
/* Path of the open log (for messages), or NULL. Valid until lc_log_close. */
const char *lc_log_path(void);
/* Segments of this process closed so far (rotation), and deleted by the
 * keep_bytes bound. Thread-safe. */
void lc_log_segment_counts(uint32_t *closed, uint32_t *deleted);

/* Queues a meta record (STRING, THREAD, THREAD_END, MODULE, SAMPLER, CLOCK).
 * The record is deep-copied. sticky != 0 keeps a copy that is re-emitted into
 * a forked child's new log (strings, modules, thread names). Thread-safe,
 * not signal-safe. Returns 0 or -SP_E*. */
int lc_log_meta(const lc_record *rec, int sticky);

/* A per-thread ring. Created by its owner thread (mallocs: not signal-safe),
 * registered with the writer. Exactly one producer context may write to it. */
/* capacity_bytes 0 = $SPANPROF_BUFFER_KB KiB if set, else 256 KiB; rounded up
 * to a power of two within [1 KiB, 1 GiB]. Returns NULL when out of memory.
 * A ring may be created before lc_log_open; it survives lc_log_close. */
lc_ring *lc_ring_create(uint32_t tid, size_t capacity_bytes);
/* Owner is done with the ring (thread exit): the writer drains what is left,
 * then frees it. The owner must not touch it afterwards. */
void lc_ring_retire(lc_ring *ring);
/* may_block = 1: a producer that finds the ring full drains the log itself
 * (it waits for the drain lock, encodes, compresses and writes) and its
 * record goes in; nothing is lost while a log is open. Only for rings that
 * are never written from a signal handler (the tracer's). Default 0: a
 * full ring drops the record and counts it. Owner thread only. */
void lc_ring_set_blocking(lc_ring *ring, int may_block);
/* Counts one span dropped whole under SPANPROF_ON_FULL=drop, by interned
 * name id (0 = unknown); the writer turns the counts into DROPPED records.
 * Owner thread only; lock-free. */
void lc_ring_count_dropped(lc_ring *ring, uint32_t name_id);

/* Producer side (static inline, defined in ring.h): owner context only;
 * no allocation. A ring that may not block is lock-free, wait-free and
 * async-signal-safe; a blocking ring is so until it is full. Return 0, or
 * -1 when the ring is full and could not be drained (the record is counted
 * as lost and the count is written to the log):
 *   int lc_ring_span_begin(lc_ring *ring, const lc_rec_span_begin *rec);
 *   int lc_ring_span_end(lc_ring *ring, const lc_rec_span_end *rec);
 *   int lc_ring_attr(lc_ring *ring, const lc_rec_attr *rec);
 *   int lc_ring_sample(lc_ring *ring, const lc_rec_sample *rec);
 */
/* Counts a loss that happened before reaching the ring (e.g. unwind failed).
 * Owner context only; async-signal-safe. */
void lc_ring_count_lost(lc_ring *ring, int lost_kind);

/* fork(): prepare/parent run in the parent around fork (they hold and
 * release the writer's locks); child runs in the child: it drops the
 * parent's unflushed data and every other thread's ring, keeps the calling
 * thread's rings (emptied, tid updated, still valid for their holders),
 * opens <dir>/<program>.<newpid>.splog with ppid set, re-emits the sticky
 * meta records and starts a new writer thread. Returns 0 or -SP_E* (child).
 * Not signal-safe; register them with pthread_atfork. */
void lc_log_atfork_prepare(void);
void lc_log_atfork_parent(void);
int lc_log_atfork_child(void);

#endif
