/*
 * tracer_int.h - the tracer's private state, shared by its .c files (not API).
 *
 * Each thread that makes spans owns one trc_tstate (thread_state.c), reached
 * through an initial-exec TLS pointer: its span stack, its id generator, its
 * ring into the log writer. Only the owner thread touches a state's fields,
 * except `remote_*`, which other threads use (under the registry lock) to
 * tell the owner that they ended one of its spans (cross-thread sp_end).
 *
 * Runtime generations: every sp_start, sp_stop and fork child bumps
 * trc_gen_; a thread state whose `gen` differs has not yet announced itself
 * in the current log and takes the slow path, which does so (creating its
 * ring on first use) while the runtime is on.
 */
#ifndef TRC_TRACER_INT_H
#define TRC_TRACER_INT_H

#include <pthread.h>
#include <stdint.h>

#include "log_writer.h"
#include "records.h"
#include "spanprof.h"

#define TRC_LIKELY(x)   __builtin_expect(!!(x), 1)
#define TRC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TRC_HIDDEN      __attribute__((visibility("hidden")))

/* Span ids: a random 40-bit prefix per run of 2^23 ids, so ids are > 0,
 * < 2^63 and unique across threads and processes with high probability. */
#define TRC_ID_COUNTER_BITS 23
#define TRC_ID_COUNTER_MASK ((UINT64_C(1) << TRC_ID_COUNTER_BITS) - 1)
#define TRC_ID_PREFIX_BITS  40
/* Cross-thread ends waiting for the owner to drop them from its stack. */
#define TRC_MAX_REMOTE_ENDS 64

typedef struct trc_stack_entry {
	uint64_t id;
	uint64_t trace_hi, trace_lo;
	uint32_t foreign; /* inherited across fork: begun in the parent process */
	uint32_t dropped; /* SPANPROF_ON_FULL=drop: nothing of it is recorded */
} trc_stack_entry;

typedef struct trc_tstate {
	lc_ring *ring; /* created on the first span; survives stop/start/fork */
	uint32_t gen;
	uint32_t tid;
	uint32_t depth;    /* entries used in stack[] */
	uint32_t too_deep; /* spans open beyond SP_MAX_DEPTH */
	uint64_t id_next;
	uint64_t rng;         /* splitmix64 state, seeded from getrandom */
	uint32_t remote_ends; /* bumped atomically by other threads */
	uint32_t remote_seen;
	uint32_t remote_count; /* under the registry lock */
	uint64_t remote_ids[TRC_MAX_REMOTE_ENDS];
	struct trc_tstate *next, *prev; /* registry, under its lock */
	char user_name[64];             /* from sp_thread_name, "" if none */
	trc_stack_entry stack[SP_MAX_DEPTH];
} trc_tstate;

/* runtime.c */
extern TRC_HIDDEN uint32_t trc_gen_;
extern TRC_HIDDEN sp_context trc_root_ctx_; /* inherited traceparent, or zero */
extern TRC_HIDDEN uint32_t trc_root_seq_;   /* seqlock of trc_root_ctx_: odd = writing */
extern TRC_HIDDEN uint32_t trc_ring_bytes_; /* span rings; 0 = the ring's default */
/* SP_ON_FULL_WAIT or SP_ON_FULL_DROP, resolved by sp_start before sp_on_ = 1. */
extern TRC_HIDDEN int trc_on_full_;

static inline uint32_t trc_gen_now(void)
{
	return __atomic_load_n(&trc_gen_, __ATOMIC_RELAXED);
}

static inline int trc_on_full_drop(void)
{
	return __atomic_load_n(&trc_on_full_, __ATOMIC_RELAXED) == SP_ON_FULL_DROP;
}

/* sp_on_ is written by sp_start/sp_stop while any thread reads it: a relaxed
 * atomic load, which compiles to the same plain load as before. */
static inline int trc_is_on(void)
{
	return __atomic_load_n(&sp_on_, __ATOMIC_RELAXED);
}

/* A consistent copy of the inherited traceparent (see trc_root_ctx_publish
 * in runtime.c). Never waits for long: the writer holds no lock a reader
 * needs and writes four words. Acquire loads instead of a fence (GCC's
 * ThreadSanitizer does not model fences): each keeps the final sequence
 * load after it; on x86 every one of them is a plain load. */
static inline void trc_root_ctx_read(sp_context *out)
{
	uint32_t seq;
	do {
		seq = __atomic_load_n(&trc_root_seq_, __ATOMIC_ACQUIRE);
		out->trace_hi = __atomic_load_n(&trc_root_ctx_.trace_hi, __ATOMIC_ACQUIRE);
		out->trace_lo = __atomic_load_n(&trc_root_ctx_.trace_lo, __ATOMIC_ACQUIRE);
		out->span_id = __atomic_load_n(&trc_root_ctx_.span_id, __ATOMIC_ACQUIRE);
		out->flags = __atomic_load_n(&trc_root_ctx_.flags, __ATOMIC_ACQUIRE);
		out->reserved = 0;
	} while ((seq & 1) || seq != __atomic_load_n(&trc_root_seq_, __ATOMIC_RELAXED));
}

/* thread_state.c */
extern TRC_HIDDEN __thread trc_tstate *trc_tls_ __attribute__((tls_model("initial-exec")));
/* The caller's state with a ring of the current generation, creating both
 * as needed; NULL when the runtime is off or memory ran out. Also applies
 * pending cross-thread ends. */
TRC_HIDDEN trc_tstate *trc_tstate_slow(void);
TRC_HIDDEN void trc_tstate_apply_remote_ends(trc_tstate *ts);
/* Cross-thread sp_end: tells the owner thread `tid`; returns 0 when the
 * owner is alive, -1 when it has exited (its spans were closed already). */
TRC_HIDDEN int trc_tstate_post_remote_end(uint32_t tid, uint64_t span_id);
TRC_HIDDEN uint64_t trc_tstate_new_prefix(trc_tstate *ts);
TRC_HIDDEN uint64_t trc_rng_next(uint64_t *state);
TRC_HIDDEN void trc_tstate_end_all(trc_tstate *ts, uint32_t flags);
/* Records (and remembers, for later logs) the thread's sp_thread_name. */
TRC_HIDDEN int trc_tstate_set_name(trc_tstate *ts, const char *name);
TRC_HIDDEN void trc_tstate_init_once(void);
TRC_HIDDEN void trc_tstate_atfork_prepare(void);
TRC_HIDDEN void trc_tstate_atfork_parent(void);
TRC_HIDDEN void trc_tstate_atfork_child(void);

/* span.c */
TRC_HIDDEN void trc_emit_end(trc_tstate *ts, uint64_t span_id, uint32_t flags);

/* names.c: string interning. Returns the id (> 0) of the string's bytes,
 * emitting its STRING record first; 0 when out of memory (then the caller
 * records the string inline). Thread-safe; not signal-safe. */
TRC_HIDDEN uint32_t trc_intern(const char *s, size_t len);
/* A call site's cached id for `name`; resolves it on a miss. 0 means "record
 * the name inline" (it is not in read-only memory). */
TRC_HIDDEN uint32_t trc_site_resolve(sp_site_ *site, const char *name);
static inline uint32_t trc_site_id(sp_site_ *site, const char *name)
{
	if (TRC_LIKELY(__atomic_load_n(&site->ptr, __ATOMIC_ACQUIRE) == name))
		return site->id;
	if (__atomic_load_n(&site->wptr, __ATOMIC_RELAXED) == name)
		return 0; /* a reused buffer: record the name inline, no lock */
	return trc_site_resolve(site, name);
}
TRC_HIDDEN void trc_intern_atfork_prepare(void);
TRC_HIDDEN void trc_intern_atfork_parent(void);
TRC_HIDDEN void trc_intern_atfork_child(void);
/* Length of a name or key as recorded: capped below LC_MAX_STRING_BYTES. */
TRC_HIDDEN uint32_t trc_name_len(const char *s);

/* context.c */
TRC_HIDDEN uint64_t trc_new_trace_half(trc_tstate *ts);

#endif
