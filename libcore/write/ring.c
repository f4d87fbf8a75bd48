/*
 * ring.c - creation, registry and slow paths of the per-thread rings.
 *
 * The hot producer paths are inline in ring.h; what is here runs once per
 * thread (create/retire), on the rare slow paths (ring looks full, ring
 * passes half full) and on the consumer side (turning a raw ring record back
 * into an lc_record for the encoder).
 *
 * Threading: the registry is an array under lc_reg_lock. Slow producer paths
 * are async-signal-safe: atomics and one futex wake syscall, errno saved.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log_int.h"

pthread_mutex_t lc_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static lc_ring **lc_reg_rings;
static size_t lc_reg_n, lc_reg_cap;

_Atomic uint32_t lc_log_wake_word_;

void lc_log_wake_writer_(void)
{
	int saved = errno;
	atomic_fetch_add_explicit(&lc_log_wake_word_, 1, memory_order_release);
	syscall(SYS_futex, &lc_log_wake_word_, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	errno = saved;
}

/* 0 = the default. $SPANPROF_BUFFER_KB is read and checked by the runtime's
 * settings (tracer/runtime.c), which pass the size in. */
static size_t ring_bytes_from(size_t capacity_bytes)
{
	if (capacity_bytes == 0)
		capacity_bytes = LC_RING_DEFAULT_BYTES;
	if (capacity_bytes > LC_RING_MAX_BYTES)
		capacity_bytes = LC_RING_MAX_BYTES;
	size_t bytes = LC_RING_MIN_BYTES;
	while (bytes < capacity_bytes)
		bytes <<= 1;
	return bytes;
}

static int registry_add(lc_ring *ring)
{
	pthread_mutex_lock(&lc_reg_lock);
	if (lc_reg_n == lc_reg_cap) {
		size_t cap = lc_reg_cap ? lc_reg_cap * 2 : 16;
		lc_ring **grown = realloc(lc_reg_rings, cap * sizeof *grown);
		if (!grown) {
			pthread_mutex_unlock(&lc_reg_lock);
			return -1;
		}
		lc_reg_rings = grown;
		lc_reg_cap = cap;
	}
	lc_reg_rings[lc_reg_n++] = ring;
	pthread_mutex_unlock(&lc_reg_lock);
	return 0;
}

lc_ring *lc_ring_create(uint32_t tid, size_t capacity_bytes)
{
	size_t bytes = ring_bytes_from(capacity_bytes);
	lc_ring *ring = aligned_alloc(64, (sizeof(lc_ring) + 63) / 64 * 64);
	if (!ring)
		return NULL;
	memset(ring, 0, sizeof *ring);
	ring->buf = aligned_alloc(64, bytes);
	if (!ring->buf) {
		free(ring);
		return NULL;
	}
	ring->cap_words = bytes / 8;
	ring->mask = ring->cap_words - 1;
	ring->half_words = ring->cap_words / 2;
	ring->tid = tid;
	ring->owner = pthread_self();
	if (registry_add(ring) < 0) {
		free(ring->buf);
		free(ring);
		return NULL;
	}
	return ring;
}

void lc_ring_retire(lc_ring *ring)
{
	if (ring)
		atomic_store_explicit(&ring->retired, 1, memory_order_release);
}

void lc_ring_count_lost(lc_ring *ring, int lost_kind)
{
	if (!ring || lost_kind < LC_LOST_EVENTS || lost_kind > LC_LOST_UNWIND)
		return;
	uint64_t n = atomic_load_explicit(&ring->lost[lost_kind], memory_order_relaxed);
	atomic_store_explicit(&ring->lost[lost_kind], n + 1, memory_order_relaxed);
}

void lc_ring_count_dropped(lc_ring *ring, uint32_t name_id)
{
	size_t slot = 0;
	for (size_t i = 1; name_id && i < LC_RING_DROP_SLOTS; i++) {
		uint32_t id = atomic_load_explicit(&ring->dropped[i].name_id, memory_order_relaxed);
		if (id == 0)
			atomic_store_explicit(&ring->dropped[i].name_id, name_id,
			                      memory_order_release);
		if (id == 0 || id == name_id) {
			slot = i;
			break;
		}
	}
	uint64_t n = atomic_load_explicit(&ring->dropped[slot].count, memory_order_relaxed);
	atomic_store_explicit(&ring->dropped[slot].count, n + 1, memory_order_relaxed);
}

void lc_ring_set_blocking(lc_ring *ring, int may_block)
{
	if (ring)
		ring->may_block = may_block;
}

static int ring_has_room(lc_ring *ring, uint64_t need)
{
	ring->tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
	return need <= ring->cap_words - (ring->head_local - ring->tail_cache);
}

/* The ring looks full. A ring that may block makes room by draining the
 * log on this thread (the producer pays, nobody else; memory stays what it
 * was): this is what makes the default lossless. */
int lc_ring_refresh_(lc_ring *ring, uint64_t need)
{
	if (!ring_has_room(ring, need) &&
	    !(ring->may_block && lc_log_make_room_(ring) && ring_has_room(ring, need)))
		return 0;
	ring->full_woken = 0;
	return 1;
}

void lc_ring_full_(lc_ring *ring, int lost_kind)
{
	lc_ring_count_lost(ring, lost_kind);
	if (!ring->full_woken) {
		ring->full_woken = 1;
		lc_log_wake_writer_();
	}
}

/* The producer's view crossed half full: look at the real tail before
 * waking anyone, so a stale cached tail does not cause a wake-up. */
void lc_ring_half_full_(lc_ring *ring)
{
	ring->tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
	if (ring->head_local - ring->tail_cache >= ring->half_words)
		lc_log_wake_writer_();
}

lc_ring_snap *lc_ring_snapshot_all_(size_t *n)
{
	pthread_mutex_lock(&lc_reg_lock);
	lc_ring_snap *snaps = lc_reg_n ? malloc(lc_reg_n * sizeof *snaps) : NULL;
	*n = snaps ? lc_reg_n : 0;
	for (size_t i = 0; i < *n; i++) {
		lc_ring *r = lc_reg_rings[i];
		snaps[i].ring = r;
		snaps[i].retired = atomic_load_explicit(&r->retired, memory_order_acquire);
		snaps[i].head = atomic_load_explicit(&r->head, memory_order_acquire);
	}
	pthread_mutex_unlock(&lc_reg_lock);
	return snaps;
}

static void registry_remove_locked(lc_ring *ring)
{
	for (size_t i = 0; i < lc_reg_n; i++) {
		if (lc_reg_rings[i] == ring) {
			lc_reg_rings[i] = lc_reg_rings[--lc_reg_n];
			return;
		}
	}
}

void lc_ring_destroy_(lc_ring *ring)
{
	pthread_mutex_lock(&lc_reg_lock);
	registry_remove_locked(ring);
	pthread_mutex_unlock(&lc_reg_lock);
	lc_mirror_free_(ring);
	free(ring->buf);
	free(ring);
}

static void ring_empty(lc_ring *r, uint32_t tid)
{
	r->head_local = r->tail_cache = 0;
	r->trace_hi = r->trace_lo = r->c_trace_hi = r->c_trace_lo = 0;
	r->full_woken = 0;
	r->tid = tid;
	lc_mirror_free_(r); /* the parent's open spans are not the child's */
	atomic_store(&r->head, 0);
	atomic_store(&r->tail, 0);
	for (int k = 0; k < 4; k++) {
		atomic_store(&r->lost[k], 0);
		r->lost_written[k] = 0;
	}
	for (int k = 0; k < LC_RING_DROP_SLOTS; k++) {
		atomic_store(&r->dropped[k].name_id, 0);
		atomic_store(&r->dropped[k].count, 0);
		r->dropped_written[k] = 0;
	}
}

void lc_ring_reset_after_fork_(uint32_t new_tid)
{
	pthread_t self = pthread_self();
	size_t kept = 0;
	for (size_t i = 0; i < lc_reg_n; i++) {
		lc_ring *r = lc_reg_rings[i];
		if (pthread_equal(r->owner, self) && !atomic_load(&r->retired)) {
			ring_empty(r, new_tid);
			lc_reg_rings[kept++] = r;
		} else {
			lc_mirror_free_(r);
			free(r->buf);
			free(r);
		}
	}
	lc_reg_n = kept;
	lc_mirror_forget_early_();
}

static void raw_span_begin(lc_ring *ring, const uint64_t *w, lc_rec_span_begin *r)
{
	unsigned has_trace = (w[0] >> 24) & 1u;
	*r = (lc_rec_span_begin){0};
	r->ts = w[1];
	r->span_id = w[2];
	r->parent_id = w[3];
	r->name_id = (uint32_t)w[4];
	r->flags = (uint32_t)(w[4] >> 32);
	if (has_trace) {
		ring->c_trace_hi = w[5];
		ring->c_trace_lo = w[6];
	}
	r->trace_hi = ring->c_trace_hi;
	r->trace_lo = ring->c_trace_lo;
	r->name_len = (uint32_t)(w[0] >> 32);
	r->name = (const char *)&w[5 + 2 * has_trace];
}

static void raw_attr(const uint64_t *w, lc_rec_attr *r)
{
	*r = (lc_rec_attr){0};
	r->kind = (uint8_t)(w[0] >> 24);
	r->flags = (uint8_t)(w[0] >> 32);
	r->span_id = w[1];
	r->key_id = (uint32_t)w[2];
	r->key_len = (uint32_t)(w[2] >> 32) & 0xffffu;
	r->s_len = (uint32_t)(w[2] >> 48);
	if (r->kind == LC_ATTR_DOUBLE)
		memcpy(&r->d, &w[3], 8);
	else
		r->i = (int64_t)w[3];
	r->key = (const char *)&w[4];
	r->s = r->key + r->key_len;
}

unsigned lc_ring_raw_to_record_(lc_ring *ring, const uint64_t *w, lc_record *rec, uint32_t *words)
{
	unsigned type = (unsigned)(w[0] & 0xffu);
	*words = (uint32_t)(w[0] >> 8) & 0xffffu;
	rec->type = (uint8_t)type;
	switch (type) {
	case LC_REC_SPAN_BEGIN:
		raw_span_begin(ring, w, &rec->u.span_begin);
		rec->u.span_begin.tid = ring->tid;
		break;
	case LC_REC_SPAN_END:
		rec->u.span_end = (lc_rec_span_end){
		    .ts = w[1], .tid = ring->tid, .span_id = w[2], .flags = (uint32_t)(w[0] >> 32)};
		break;
	case LC_REC_ATTR:
		raw_attr(w, &rec->u.attr);
		rec->u.attr.tid = ring->tid;
		break;
	case LC_REC_SAMPLE:
		rec->u.sample = (lc_rec_sample){.ts = w[1],
		                                .tid = ring->tid,
		                                .weight_us = (uint32_t)w[2],
		                                .nframes = (uint32_t)(w[0] >> 32),
		                                .pcs = &w[3]};
		break;
	}
	return type;
}
