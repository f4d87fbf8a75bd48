/*
 * span.c - the span hot path: begin, end, attributes, and the recorded
 * handling of misuse.
 *
 * Design: a thread's open spans live on its own fixed stack (SP_MAX_DEPTH
 * entries) in its TLS state, so begin/end take no lock and no atomic
 * read-modify-write; both write one record into the thread's own ring. The
 * fast paths are "the state is current" and, for sp_end, "the span is the
 * innermost one"; everything else (first span of a thread, runtime
 * restarted, misuse, cross-thread ends) goes to out-of-line slow paths.
 *
 * Threading: each function works on the calling thread's state only, except
 * cross-thread ends, which go through thread_state.c's registry lock.
 * Signal safety: not reentrant on one thread (see spanprof.h).
 */
#include <string.h>

#include "clock.h"
#include "tracer_int.h"

static const sp_span trc_no_span = {0, 0, 0};
_Static_assert(SP_MAX_ATTR_STR == LC_MAX_ATTR_STR_BYTES, "public cap = log format cap");

static inline trc_tstate *trc_tstate_get(void)
{
	trc_tstate *ts = trc_tls_;
	if (TRC_UNLIKELY(!ts || ts->gen != __atomic_load_n(&trc_gen_, __ATOMIC_RELAXED) ||
	                 __atomic_load_n(&ts->remote_ends, __ATOMIC_RELAXED) != ts->remote_seen))
		ts = trc_tstate_slow();
	return ts;
}

static inline uint64_t trc_next_id(trc_tstate *ts)
{
	uint64_t id = ts->id_next++;
	if (TRC_UNLIKELY((ts->id_next & TRC_ID_COUNTER_MASK) == 0))
		ts->id_next = trc_tstate_new_prefix(ts);
	return id;
}

/* A root span: the inherited traceparent, else a fresh trace id. */
static void trc_pick_root_parent(trc_tstate *ts, lc_rec_span_begin *rec)
{
	sp_context root;
	trc_root_ctx_read(&root);
	if (root.span_id != 0) {
		rec->parent_id = root.span_id;
		rec->trace_hi = root.trace_hi;
		rec->trace_lo = root.trace_lo;
		rec->flags |= LC_SPAN_REMOTE_PARENT;
	} else {
		rec->parent_id = 0;
		rec->trace_hi = trc_new_trace_half(ts);
		rec->trace_lo = trc_new_trace_half(ts);
	}
}

/* Fills parent and trace of rec from the innermost span, an explicit remote
 * parent, the inherited traceparent, or a fresh trace id. */
static inline void trc_pick_parent(trc_tstate *ts, const sp_context *remote, lc_rec_span_begin *rec)
{
	if (TRC_UNLIKELY(remote != NULL)) {
		rec->parent_id = remote->span_id;
		rec->trace_hi = remote->trace_hi;
		rec->trace_lo = remote->trace_lo;
		rec->flags |= LC_SPAN_REMOTE_PARENT;
	} else if (TRC_LIKELY(ts->depth > 0)) {
		const trc_stack_entry *parent = &ts->stack[ts->depth - 1];
		rec->parent_id = parent->id;
		rec->trace_hi = parent->trace_hi;
		rec->trace_lo = parent->trace_lo;
		if (TRC_UNLIKELY(parent->foreign))
			rec->flags |= LC_SPAN_REMOTE_PARENT;
	} else {
		trc_pick_root_parent(ts, rec);
	}
}

static sp_span trc_push(trc_tstate *ts, uint32_t name_id, const char *name,
                        const sp_context *remote)
{
	lc_rec_span_begin rec;
	rec.ts = lc_clock_ticks();
	rec.tid = ts->tid;
	rec.span_id = trc_next_id(ts);
	rec.flags = 0;
	rec.name_id = name_id;
	rec.name = name_id ? NULL : name;
	rec.name_len = name_id ? 0 : trc_name_len(name);
	trc_pick_parent(ts, remote, &rec);
	sp_span handle = {rec.span_id, ts->tid, ts->depth};
	if (TRC_LIKELY(ts->depth < SP_MAX_DEPTH)) {
		trc_stack_entry *e = &ts->stack[ts->depth++];
		e->id = rec.span_id;
		e->trace_hi = rec.trace_hi;
		e->trace_lo = rec.trace_lo;
		e->foreign = 0;
		e->dropped = 0;
	} else {
		rec.flags |= LC_SPAN_TOO_DEEP;
		handle.depth_ = SP_MAX_DEPTH + ts->too_deep++;
	}
	lc_ring_span_begin(ts->ring, &rec);
	return handle;
}

/* SPANPROF_ON_FULL=drop: a span begun inside a dropped span, or while less
 * than an eighth of its ring is free (the writer fell behind), is dropped
 * whole: no begin, attribute or end of it, nor of anything begun inside it,
 * is recorded. A span that was recorded keeps its attributes and its end:
 * the free eighth is their room, and should it run out they wait like
 * under the default policy. Spans nested beyond SP_MAX_DEPTH are never
 * dropped (their ends are matched without a stack entry). */
static int trc_drop_wanted(trc_tstate *ts)
{
	if (ts->depth >= SP_MAX_DEPTH)
		return 0;
	if (ts->depth > 0 && ts->stack[ts->depth - 1].dropped)
		return 1;
	return lc_ring_nearly_full(ts->ring);
}

static sp_span __attribute__((noinline))
trc_push_dropped(trc_tstate *ts, uint32_t name_id, const char *name)
{
	if (name_id == 0)
		name_id = trc_intern(name, trc_name_len(name)); /* 0 if out of memory */
	lc_ring_count_dropped(ts->ring, name_id);
	sp_span handle = {trc_next_id(ts), ts->tid, ts->depth};
	trc_stack_entry *e = &ts->stack[ts->depth++];
	*e = (trc_stack_entry){.id = handle.id_, .dropped = 1};
	return handle;
}

static inline sp_span trc_begin_on(trc_tstate *ts, uint32_t name_id, const char *name,
                                   const sp_context *remote)
{
	if (TRC_UNLIKELY(trc_on_full_drop()) && trc_drop_wanted(ts))
		return trc_push_dropped(ts, name_id, name);
	return trc_push(ts, name_id, name, remote);
}

/* An attribute of a dropped span is dropped with it. */
static int trc_span_dropped(const trc_tstate *ts, uint64_t span_id)
{
	for (uint32_t i = ts->depth; i-- > 0;)
		if (ts->stack[i].id == span_id)
			return ts->stack[i].dropped != 0;
	return 0;
}

static inline int trc_remote_is_valid(const sp_context *c)
{
	return c && c->span_id != 0 && (c->trace_hi | c->trace_lo) != 0;
}

SP_API sp_span sp_begin_site_(sp_site_ *site, const char *name)
{
	trc_tstate *ts = trc_tstate_get();
	if (TRC_UNLIKELY(!ts))
		return trc_no_span;
	if (TRC_UNLIKELY(!name))
		name = "(null)";
	return trc_begin_on(ts, trc_site_id(site, name), name, NULL);
}

SP_API sp_span sp_begin_child_of_site_(sp_site_ *site, const char *name, const sp_context *parent)
{
	trc_tstate *ts = trc_tstate_get();
	if (TRC_UNLIKELY(!ts))
		return trc_no_span;
	if (!name)
		name = "(null)";
	return trc_begin_on(ts, trc_site_id(site, name), name,
	                    trc_remote_is_valid(parent) ? parent : NULL);
}

/* The plain functions (taken by address, or used without GNU C): names are
 * recorded inline, which is always correct, just larger. */
#undef sp_begin
SP_API sp_span sp_begin(const char *name)
{
	if (!trc_is_on())
		return trc_no_span;
	trc_tstate *ts = trc_tstate_get();
	if (!ts)
		return trc_no_span;
	return trc_begin_on(ts, 0, name ? name : "(null)", NULL);
}

#undef sp_begin_child_of
SP_API sp_span sp_begin_child_of(const char *name, const sp_context *parent)
{
	if (!trc_is_on())
		return trc_no_span;
	trc_tstate *ts = trc_tstate_get();
	if (!ts)
		return trc_no_span;
	return trc_begin_on(ts, 0, name ? name : "(null)",
	                    trc_remote_is_valid(parent) ? parent : NULL);
}

TRC_HIDDEN void trc_emit_end(trc_tstate *ts, uint64_t span_id, uint32_t flags)
{
	lc_rec_span_end rec;
	rec.ts = lc_clock_ticks();
	rec.tid = ts->tid;
	rec.span_id = span_id;
	rec.flags = flags;
	lc_ring_span_end(ts->ring, &rec);
}

/* Pops entries above index `keep` (they end UNCLOSED: their parent is ending
 * under them), then pops and ends entry `keep` with `flags`. */
static void trc_pop_to(trc_tstate *ts, uint32_t keep, uint32_t flags)
{
	while (ts->depth > keep + 1) {
		trc_stack_entry *e = &ts->stack[--ts->depth];
		if (!(e->foreign | e->dropped))
			trc_emit_end(ts, e->id, LC_SPAN_UNCLOSED);
	}
	trc_stack_entry *e = &ts->stack[--ts->depth];
	if (!(e->foreign | e->dropped))
		trc_emit_end(ts, e->id, flags);
}

static int trc_find_on_stack(const trc_tstate *ts, uint64_t id, uint32_t *index)
{
	for (uint32_t i = ts->depth; i-- > 0;) {
		if (ts->stack[i].id == id) {
			*index = i;
			return 1;
		}
	}
	return 0;
}

/* Everything but "the innermost span of a current state". */
static void __attribute__((noinline)) trc_end_slow(trc_tstate *ts, sp_span span)
{
	uint32_t index;
	if (trc_find_on_stack(ts, span.id_, &index)) {
		uint32_t flags = index + 1 == ts->depth ? 0 : LC_SPAN_NOT_INNERMOST;
		if (flags)
			ts->too_deep = 0; /* spans beyond the stack end unmatched */
		trc_pop_to(ts, index, flags);
	} else if (span.tid_ != ts->tid) {
		int alive = trc_tstate_post_remote_end(span.tid_, span.id_) == 0;
		trc_emit_end(ts, span.id_,
		             LC_SPAN_CROSS_THREAD | (alive ? 0u : LC_SPAN_DOUBLE_END));
	} else if (span.depth_ >= SP_MAX_DEPTH && ts->too_deep > 0) {
		ts->too_deep--;
		trc_emit_end(ts, span.id_, LC_SPAN_TOO_DEEP);
	} else {
		trc_emit_end(ts, span.id_, LC_SPAN_DOUBLE_END);
	}
}

/* The runtime stopped after the span began: nothing is recorded, but the
 * span leaves its thread's stack (with any children left open in it), or a
 * later root span of this thread would take it for a parent. */
static void __attribute__((noinline)) trc_end_while_off(sp_span span)
{
	trc_tstate *ts = trc_tls_;
	uint32_t index;
	if (ts && span.tid_ == ts->tid && trc_find_on_stack(ts, span.id_, &index))
		ts->depth = index;
}

SP_API void sp_end_(sp_span span)
{
	if (TRC_UNLIKELY(span.id_ == 0))
		return;
	if (TRC_UNLIKELY(!trc_is_on())) {
		trc_end_while_off(span);
		return;
	}
	trc_tstate *ts = trc_tstate_get();
	if (TRC_UNLIKELY(!ts))
		return;
	uint32_t top = ts->depth - 1;
	if (TRC_LIKELY(ts->depth > 0 && ts->stack[top].id == span.id_)) {
		ts->depth = top;
		if (TRC_LIKELY(!(ts->stack[top].foreign | ts->stack[top].dropped)))
			trc_emit_end(ts, span.id_, 0);
		return;
	}
	trc_end_slow(ts, span);
}

#undef sp_end
SP_API void sp_end(sp_span span)
{
	sp_end_(span);
}

static inline void trc_attr_emit(sp_site_ *site, sp_span span, const char *key, lc_rec_attr *rec)
{
	trc_tstate *ts = trc_tstate_get();
	if (TRC_UNLIKELY(!ts))
		return;
	if (TRC_UNLIKELY(trc_on_full_drop()) && trc_span_dropped(ts, span.id_))
		return;
	if (TRC_UNLIKELY(!key))
		key = "(null)";
	rec->tid = ts->tid;
	rec->span_id = span.id_;
	rec->key_id = site ? trc_site_id(site, key) : 0;
	rec->key = rec->key_id ? NULL : key;
	rec->key_len = rec->key_id ? 0 : trc_name_len(key);
	lc_ring_attr(ts->ring, rec);
}

static void trc_attr_int_at(sp_site_ *site, sp_span span, const char *key, int64_t value)
{
	if (TRC_UNLIKELY(span.id_ == 0 || !trc_is_on()))
		return;
	lc_rec_attr rec = {.kind = LC_ATTR_INT, .i = value};
	trc_attr_emit(site, span, key, &rec);
}

static void trc_attr_double_at(sp_site_ *site, sp_span span, const char *key, double value)
{
	if (TRC_UNLIKELY(span.id_ == 0 || !trc_is_on()))
		return;
	lc_rec_attr rec = {.kind = LC_ATTR_DOUBLE, .d = value};
	trc_attr_emit(site, span, key, &rec);
}

static void trc_attr_str_at(sp_site_ *site, sp_span span, const char *key, const char *value)
{
	if (TRC_UNLIKELY(span.id_ == 0 || !trc_is_on()))
		return;
	if (!value)
		value = "";
	size_t len = strnlen(value, LC_MAX_ATTR_STR_BYTES + 1);
	lc_rec_attr rec = {.kind = LC_ATTR_STR, .s = value, .s_len = (uint32_t)len};
	if (len > LC_MAX_ATTR_STR_BYTES) {
		rec.s_len = LC_MAX_ATTR_STR_BYTES;
		/* cut at a UTF-8 character boundary, never inside a character */
		while (rec.s_len > 0 && ((unsigned char)value[rec.s_len] & 0xC0) == 0x80)
			rec.s_len--;
		rec.flags = LC_ATTR_TRUNCATED;
	}
	trc_attr_emit(site, span, key, &rec);
}

SP_API void sp_attr_int_site_(sp_site_ *site, sp_span span, const char *key, int64_t value)
{
	trc_attr_int_at(site, span, key, value);
}
SP_API void sp_attr_double_site_(sp_site_ *site, sp_span span, const char *key, double value)
{
	trc_attr_double_at(site, span, key, value);
}
SP_API void sp_attr_str_site_(sp_site_ *site, sp_span span, const char *key, const char *value)
{
	trc_attr_str_at(site, span, key, value);
}

#undef sp_attr_int
#undef sp_attr_double
#undef sp_attr_str
SP_API void sp_attr_int(sp_span span, const char *key, int64_t value)
{
	trc_attr_int_at(NULL, span, key, value);
}
SP_API void sp_attr_double(sp_span span, const char *key, double value)
{
	trc_attr_double_at(NULL, span, key, value);
}
SP_API void sp_attr_str(sp_span span, const char *key, const char *value)
{
	trc_attr_str_at(NULL, span, key, value);
}
