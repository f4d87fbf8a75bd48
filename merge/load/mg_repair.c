/*
 * mg_repair.c - spans whose END is missing: see mg_repair.h for the model
 * and docs/schema.md ("Spans whose end is missing") for the rules.
 *
 * Why a stack per thread in file order, not in time order like mg_attr: the
 * tracer writes a thread's span events into one ring, so in the file they
 * come in the order the thread made them, and a begin whose parent is not
 * on top tells at once which spans the tracer had taken off its stack.
 * What that proves is only acted on a settle margin later (an END written
 * by another thread, or a DOUBLE_END fallback, may still come), by the
 * caller.
 *
 * Samples are never taken as proof that a span was open: a sample carries
 * a stack, not a span id, and the END it would contradict may be exactly
 * the record that was lost. They only mark how far a thread's data goes.
 *
 * Threading: the merge thread only.
 */
#include "mg_repair.h"

#include <stdlib.h>
#include <string.h>

#include "mg_grow.h"
#include "mg_hash.h"
#include "records.h"

typedef struct mg_rentry {
	uint64_t span_id, inside_ns; /* last point known to be inside it */
} mg_rentry;

typedef struct mg_suspect {
	uint64_t span_id, inside_ns, proof_ns; /* proof: when it had ended by */
} mg_suspect;

typedef struct mg_rthr {
	uint32_t tid;
	mg_rentry *stack; /* innermost last */
	size_t depth, cap;
	uint64_t last_span_ns; /* latest BEGIN/END of its tracer ring */
	uint64_t last_ns;      /* latest record of the thread, any kind */
	uint64_t lost_events;  /* last cumulative LOST(events) count */
	uint64_t loss_end_ns;  /* end of its latest lost stretch: 0 none, MAX unknown yet */
	uint64_t loss_drain;   /* drain that reported it */
} mg_rthr;

struct mg_repair {
	mg_hash by_tid; /* tid -> index + 1 */
	mg_rthr *thr;
	size_t n_thr, cap_thr;
	size_t last;     /* index + 1 of the thread looked up last (records come in blocks) */
	mg_suspect *sus; /* FIFO in file order */
	size_t sus_head, sus_len, sus_cap;
	uint64_t drain;
	size_t open_thr; /* mg_repair_next_open: the thread being emptied */
};

static uint64_t mg_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

mg_repair *mg_repair_new(void)
{
	return calloc(1, sizeof(mg_repair));
}

void mg_repair_free(mg_repair *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_thr; i++)
		free(r->thr[i].stack);
	free(r->thr);
	free(r->sus);
	mg_hash_free(&r->by_tid);
	free(r);
}

static mg_rthr *mg_rthr_get(mg_repair *r, uint32_t tid)
{
	if (r->last && r->thr[r->last - 1].tid == tid)
		return &r->thr[r->last - 1];
	uint64_t *hit = mg_hash_get(&r->by_tid, tid, 0);
	if (hit) {
		r->last = (size_t)*hit;
		return &r->thr[*hit - 1];
	}
	if (MG_GROW_ONE(r->thr, r->cap_thr, r->n_thr))
		return NULL;
	if (mg_hash_put(&r->by_tid, tid, 0, r->n_thr + 1))
		return NULL;
	mg_rthr *t = &r->thr[r->n_thr++];
	memset(t, 0, sizeof *t);
	t->tid = tid;
	r->last = r->n_thr;
	return t;
}

/* A record of the thread's tracer ring at ts. */
static void mg_rthr_event(mg_repair *r, mg_rthr *t, uint64_t ts)
{
	t->last_span_ns = mg_max(t->last_span_ns, ts);
	t->last_ns = mg_max(t->last_ns, ts);
	/* A LOST record counts what was lost up to its drain, possibly after
	 * that drain's records: the first record of a later drain ends it. */
	if (t->loss_end_ns == UINT64_MAX && r->drain > t->loss_drain)
		t->loss_end_ns = ts;
}

static int mg_suspect_put(mg_repair *r, const mg_rentry *e, uint64_t proof_ns)
{
	if (r->sus_head && r->sus_head >= r->sus_len / 2) {
		memmove(r->sus, r->sus + r->sus_head, (r->sus_len - r->sus_head) * sizeof *r->sus);
		r->sus_len -= r->sus_head;
		r->sus_head = 0;
	}
	if (MG_GROW_ONE(r->sus, r->sus_cap, r->sus_len))
		return -1;
	r->sus[r->sus_len++] = (mg_suspect){e->span_id, e->inside_ns, proof_ns};
	return 0;
}

/* The tracer had ended the spans above index keep by proof_ns: they become
 * suspects. A child open at some instant means its parent was too, so
 * each one's last point passes down the stack. */
static int mg_pop_above(mg_repair *r, mg_rthr *t, size_t keep, uint64_t proof_ns)
{
	int err = 0;
	while (t->depth > keep) {
		mg_rentry *e = &t->stack[--t->depth];
		if (t->depth)
			t->stack[t->depth - 1].inside_ns =
			    mg_max(t->stack[t->depth - 1].inside_ns, e->inside_ns);
		err |= mg_suspect_put(r, e, proof_ns);
	}
	return err;
}

/* Index + 1 of span_id on the stack (searched from the top), 0 if absent. */
static size_t mg_find(const mg_rthr *t, uint64_t span_id)
{
	for (size_t i = t->depth; i-- > 0;)
		if (t->stack[i].span_id == span_id)
			return i + 1;
	return 0;
}

int mg_repair_begin(mg_repair *r, uint32_t tid, uint64_t ts, uint64_t span_id, uint64_t parent_id,
                    uint32_t flags)
{
	mg_rthr *t = mg_rthr_get(r, tid);
	if (!t)
		return -1;
	mg_rthr_event(r, t, ts);
	if (flags & LC_SPAN_TOO_DEEP) /* the tracer keeps it off its stack */
		return 0;
	/* Without a remote parent the tracer took the innermost span of its
	 * stack as the parent: every span above that one had ended. */
	if (!(flags & LC_SPAN_REMOTE_PARENT)) {
		size_t keep = parent_id ? mg_find(t, parent_id) : 0;
		if ((keep || !parent_id) && mg_pop_above(r, t, keep, ts))
			return -1;
		if (keep)
			t->stack[keep - 1].inside_ns = mg_max(t->stack[keep - 1].inside_ns, ts);
	}
	if (MG_GROW_ONE(t->stack, t->cap, t->depth))
		return -1;
	t->stack[t->depth++] = (mg_rentry){span_id, ts};
	return 0;
}

int mg_repair_end(mg_repair *r, uint32_t owner_tid, uint32_t end_tid, uint64_t ts, uint64_t span_id)
{
	mg_rthr *t = mg_rthr_get(r, end_tid);
	if (!t)
		return -1;
	mg_rthr_event(r, t, ts);
	if (owner_tid != end_tid && !(t = mg_rthr_get(r, owner_tid)))
		return -1;
	size_t at = mg_find(t, span_id);
	if (!at)
		return 0;           /* beyond the depth, or already a suspect */
	if (owner_tid != end_tid) { /* the tracer takes just it off the owner's stack */
		memmove(&t->stack[at - 1], &t->stack[at], (t->depth - at) * sizeof *t->stack);
		t->depth--;
		return 0;
	}
	/* The tracer ends the spans above first (UNCLOSED): their ENDs are lost. */
	if (mg_pop_above(r, t, at, ts))
		return -1;
	t->depth--;
	if (t->depth)
		t->stack[t->depth - 1].inside_ns = mg_max(t->stack[t->depth - 1].inside_ns, ts);
	return 0;
}

void mg_repair_attr(mg_repair *r, uint32_t tid, uint64_t span_id)
{
	mg_rthr *t = mg_rthr_get(r, tid);
	size_t at = t ? mg_find(t, span_id) : 0;
	/* Set by its own thread after that thread's latest span event. */
	if (at)
		t->stack[at - 1].inside_ns = mg_max(t->stack[at - 1].inside_ns, t->last_span_ns);
}

int mg_repair_sample(mg_repair *r, uint32_t tid, uint64_t ts)
{
	mg_rthr *t = mg_rthr_get(r, tid);
	if (!t)
		return -1;
	t->last_ns = mg_max(t->last_ns, ts);
	return 0;
}

int mg_repair_thread_end(mg_repair *r, uint32_t tid, uint64_t ts)
{
	mg_rthr *t = mg_rthr_get(r, tid);
	return t ? mg_pop_above(r, t, 0, ts) : -1;
}

int mg_repair_lost(mg_repair *r, uint32_t tid, int kind, uint64_t count)
{
	if (kind != LC_LOST_EVENTS)
		return 0;
	mg_rthr *t = mg_rthr_get(r, tid);
	if (!t)
		return -1;
	/* Cumulative per ring; a new ring for a reused tid counts from 0. */
	if (count > t->lost_events || (count < t->lost_events && count > 0)) {
		t->loss_end_ns = UINT64_MAX;
		t->loss_drain = r->drain;
	}
	t->lost_events = count;
	return 0;
}

void mg_repair_drain(mg_repair *r)
{
	r->drain++;
}

int mg_repair_next_cut(mg_repair *r, uint64_t watermark, mg_cut *out)
{
	if (r->sus_head == r->sus_len || r->sus[r->sus_head].proof_ns >= watermark)
		return 0;
	const mg_suspect *s = &r->sus[r->sus_head++];
	*out = (mg_cut){s->span_id, s->inside_ns, MG_CUT_END_LOST};
	return 1;
}

/* End of a span open when the log ended, last seen at inside_ns: just
 * after its thread's last record if nothing of that thread can have been
 * lost since, else its last known point. */
static mg_cut mg_log_end(const mg_rthr *t, uint64_t span_id, uint64_t inside_ns, int damaged)
{
	mg_cut c = {span_id, inside_ns, MG_CUT_LOG_ENDED};
	if (!damaged && t->loss_end_ns <= inside_ns)
		c.end_ns = mg_max(t->last_ns, inside_ns) + 1;
	return c;
}

int mg_repair_next_open(mg_repair *r, int damaged, mg_cut *out)
{
	for (; r->open_thr < r->n_thr; r->open_thr++) {
		mg_rthr *t = &r->thr[r->open_thr];
		if (!t->depth)
			continue;
		const mg_rentry *e = &t->stack[--t->depth];
		if (t->depth)
			t->stack[t->depth - 1].inside_ns =
			    mg_max(t->stack[t->depth - 1].inside_ns, e->inside_ns);
		*out = mg_log_end(t, e->span_id, e->inside_ns, damaged);
		return 1;
	}
	return 0;
}

mg_cut mg_repair_open_end(mg_repair *r, uint32_t tid, uint64_t span_id, uint64_t inside_ns,
                          int damaged)
{
	mg_rthr *t = mg_rthr_get(r, tid);
	if (!t) /* out of memory: the safe choice */
		return (mg_cut){span_id, inside_ns, MG_CUT_LOG_ENDED};
	return mg_log_end(t, span_id, inside_ns, damaged);
}
