/*
 * ring.h - the per-thread event ring and its inline producer functions
 * (private; included by log_writer.h).
 *
 * Single producer (the owner thread, or its signal handler: exactly one
 * context per ring), single consumer (whoever holds the log writer's drain
 * lock). The ring is an array of 8-byte words; head and tail count words
 * and only grow. A record is a header word (type, size in words, two small
 * fields) and a fixed layout after it, with absolute ticks: the producer
 * only copies words, and the consumer does the varint/delta encoding.
 * A record never wraps: when it does not fit before the end of the array a
 * PAD record fills the rest and the record starts at word 0.
 *
 * Producer functions are static inline so that sp_begin/sp_end pay no call:
 * they are lock-free, wait-free and async-signal-safe (no allocation, no
 * locks, no stdio; errno is preserved by the out-of-line wake-up path). A
 * full ring drops the record and counts it in lost[kind], unless the ring
 * may block (a tracer ring, never a sampler ring: those are written from a
 * signal handler): then the producer drains the log itself, under the
 * writer's drain lock, and the record goes in (ring.c, lc_ring_refresh_).
 * When the fill
 * level crosses half the capacity the producer wakes the writer thread once
 * (a futex wake), so the ring is drained before it fills.
 *
 * Ordering: the producer writes the record words, then publishes head with
 * a release store; the consumer reads head with acquire, reads the words,
 * then releases tail; the producer acquires tail before reusing space.
 */
#ifndef LC_RING_H
#define LC_RING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "records.h"

#define LC_RING_DEFAULT_BYTES (256u * 1024u)
#define LC_RING_MIN_BYTES     1024u
#define LC_RING_MAX_BYTES     (1024u * 1024u * 1024u)
/* Span names with their own dropped-span counter per ring; slot 0 counts
 * the names beyond them. */
#define LC_RING_DROP_SLOTS 16

/* Raw record types in the ring besides the lc_rec_type values used as-is. */
#define LC_RAW_PAD 0u

typedef struct lc_ring {
	/* Producer-owned. */
	uint64_t *buf;
	uint64_t mask; /* capacity in words - 1 */
	uint64_t cap_words;
	uint64_t half_words;
	uint64_t head_local;         /* producer's copy of head */
	uint64_t tail_cache;         /* last tail the producer saw */
	uint64_t trace_hi, trace_lo; /* trace id of the last stored SPAN_BEGIN */
	int full_woken;              /* writer already woken for this overflow */
	int may_block;               /* full: drain the log here instead of dropping */
	uint32_t tid;
	_Atomic uint64_t lost[4]; /* by lc_lost_kind; only the producer writes */
	struct {                  /* SPANPROF_ON_FULL=drop counts; producer writes */
		_Atomic uint32_t name_id;
		_Atomic uint64_t count;
	} dropped[LC_RING_DROP_SLOTS];
	/* Shared. */
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) _Atomic uint64_t tail;
	_Atomic int retired;
	/* Consumer-owned (under the writer's drain lock). */
	uint64_t c_trace_hi, c_trace_lo;
	uint64_t lost_written[4];
	uint64_t dropped_written[LC_RING_DROP_SLOTS];
	struct lc_mirror *mirror; /* its open spans, while the log rotates */
	pthread_t owner;
} lc_ring;

/* Out-of-line slow paths (log_writer.c). Async-signal-safe. */
void lc_ring_half_full_(lc_ring *ring);
void lc_ring_full_(lc_ring *ring, int lost_kind);
int lc_ring_refresh_(lc_ring *ring, uint64_t need);

static inline uint64_t lc_raw_header(unsigned type, uint32_t words, unsigned a, uint32_t b)
{
	return (uint64_t)type | (uint64_t)words << 8 | (uint64_t)(a & 0xffu) << 24 |
	       (uint64_t)b << 32;
}

/* Returns where a record of `words` words goes, or NULL when the ring is
 * full (the loss is counted). */
static inline uint64_t *lc_ring_reserve_(lc_ring *r, uint32_t words, int lost_kind)
{
	uint64_t head = r->head_local;
	uint64_t idx = head & r->mask;
	uint64_t to_end = r->cap_words - idx;
	uint64_t need = words <= to_end ? words : to_end + words;
	if (__builtin_expect(need > r->cap_words - (head - r->tail_cache), 0) &&
	    !lc_ring_refresh_(r, need)) {
		lc_ring_full_(r, lost_kind);
		return NULL;
	}
	if (words > to_end) {
		r->buf[idx] = lc_raw_header(LC_RAW_PAD, (uint32_t)to_end, 0, 0);
		r->head_local = head + to_end;
		idx = 0;
	}
	return &r->buf[idx];
}

static inline void lc_ring_commit_(lc_ring *r, uint32_t words)
{
	uint64_t old_used = r->head_local - r->tail_cache;
	r->head_local += words;
	atomic_store_explicit(&r->head, r->head_local, memory_order_release);
	if (__builtin_expect(old_used + words >= r->half_words, 0) && old_used < r->half_words)
		lc_ring_half_full_(r);
}

static inline uint32_t lc_ring_words_(uint32_t bytes)
{
	return (bytes + 7u) / 8u;
}

/* 1 when less than an eighth of the ring is free; the consumer's real tail
 * is read only when the producer's cached view says so. Owner only. */
static inline int lc_ring_nearly_full(lc_ring *r)
{
	uint64_t low = r->cap_words / 8;
	if (r->cap_words - (r->head_local - r->tail_cache) >= low)
		return 0;
	r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
	return r->cap_words - (r->head_local - r->tail_cache) < low;
}

/* Producer side: owner context only; lock-free, wait-free, async-signal-safe,
 * no allocation. Return 0, or -1 when the ring is full (the record is counted
 * as lost and the count is written to the log). */
static inline int lc_ring_span_begin(lc_ring *ring, const lc_rec_span_begin *rec)
{
	unsigned has_trace = rec->trace_hi != ring->trace_hi || rec->trace_lo != ring->trace_lo;
	uint32_t name_len = 0;
	if (rec->name_id == 0 && rec->name)
		name_len =
		    rec->name_len < LC_MAX_STRING_BYTES ? rec->name_len : LC_MAX_STRING_BYTES;
	uint32_t words = 5u + 2u * has_trace + lc_ring_words_(name_len);
	uint64_t *w = lc_ring_reserve_(ring, words, LC_LOST_EVENTS);
	if (!w)
		return -1;
	w[0] = lc_raw_header(LC_REC_SPAN_BEGIN, words, has_trace, name_len);
	w[1] = rec->ts;
	w[2] = rec->span_id;
	w[3] = rec->parent_id;
	w[4] = (uint64_t)rec->name_id | (uint64_t)rec->flags << 32;
	if (has_trace) {
		w[5] = rec->trace_hi;
		w[6] = rec->trace_lo;
		ring->trace_hi = rec->trace_hi;
		ring->trace_lo = rec->trace_lo;
	}
	if (name_len)
		__builtin_memcpy(&w[5 + 2 * has_trace], rec->name, name_len);
	lc_ring_commit_(ring, words);
	return 0;
}

static inline int lc_ring_span_end(lc_ring *ring, const lc_rec_span_end *rec)
{
	uint64_t *w = lc_ring_reserve_(ring, 3, LC_LOST_EVENTS);
	if (!w)
		return -1;
	w[0] = lc_raw_header(LC_REC_SPAN_END, 3, 0, rec->flags);
	w[1] = rec->ts;
	w[2] = rec->span_id;
	lc_ring_commit_(ring, 3);
	return 0;
}

/* Layout: header(a = kind, b = flags), span_id, key_id | key_len << 32 |
 * s_len << 48, value bits, key bytes (key_id == 0), string bytes. */
static inline int lc_ring_attr(lc_ring *ring, const lc_rec_attr *rec)
{
	uint32_t key_len = 0, s_len = 0, flags = rec->flags;
	if (rec->key_id == 0 && rec->key)
		key_len = rec->key_len < LC_MAX_STRING_BYTES ? rec->key_len : LC_MAX_STRING_BYTES;
	if (rec->kind == LC_ATTR_STR && rec->s) {
		s_len = rec->s_len;
		if (s_len > LC_MAX_ATTR_STR_BYTES) {
			s_len = LC_MAX_ATTR_STR_BYTES;
			flags |= LC_ATTR_TRUNCATED;
		}
	}
	uint32_t words = 4u + lc_ring_words_(key_len + s_len);
	uint64_t *w = lc_ring_reserve_(ring, words, LC_LOST_EVENTS);
	if (!w)
		return -1;
	w[0] = lc_raw_header(LC_REC_ATTR, words, rec->kind, flags);
	w[1] = rec->span_id;
	w[2] = (uint64_t)rec->key_id | (uint64_t)key_len << 32 | (uint64_t)s_len << 48;
	if (rec->kind == LC_ATTR_DOUBLE)
		__builtin_memcpy(&w[3], &rec->d, 8);
	else
		w[3] = (uint64_t)rec->i;
	char *bytes = (char *)&w[4];
	if (key_len)
		__builtin_memcpy(bytes, rec->key, key_len);
	if (s_len)
		__builtin_memcpy(bytes + key_len, rec->s, s_len);
	lc_ring_commit_(ring, words);
	return 0;
}

/* Layout: header(b = nframes), ts, weight_us, pcs. */
static inline int lc_ring_sample(lc_ring *ring, const lc_rec_sample *rec)
{
	uint32_t n = rec->nframes < LC_MAX_STACK_FRAMES ? rec->nframes : LC_MAX_STACK_FRAMES;
	uint32_t words = 3u + n;
	uint64_t *w = lc_ring_reserve_(ring, words, LC_LOST_SAMPLES);
	if (!w)
		return -1;
	w[0] = lc_raw_header(LC_REC_SAMPLE, words, 0, n);
	w[1] = rec->ts;
	w[2] = rec->weight_us;
	for (uint32_t i = 0; i < n; i++)
		w[3 + i] = rec->pcs[i];
	lc_ring_commit_(ring, words);
	return 0;
}

#endif
