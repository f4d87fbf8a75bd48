/*
 * mg_attr.c - attribution of samples to spans, streamed during the load.
 *
 * Per thread, spans form a stack over time. Span events (begin, end) and
 * samples of one thread each arrive in time order, but from two rings (the
 * tracer's and the signal handler's) that the writer drains one after the
 * other, so the two streams are interleaved in the log only up to a flush
 * cycle (100 ms by default). Each thread therefore keeps two small time-
 * ordered queues; mg_attr_settle() consumes them in time order up to a
 * watermark (the latest timestamp of the log minus MG_SETTLE_MARGIN_NS,
 * far more than a flush cycle), applying span events to the thread's stack
 * and giving each sample the span on top of it: the innermost open span.
 * At equal timestamps span events go first, so a span covers
 * [start_ns, end_ns). At the end of a log everything is settled; spans never
 * ended stay open until then.
 *
 * Memory: per thread, the open spans and what arrived within the margin;
 * a thread holding more than MG_MAX_PENDING samples is settled early
 * (approximate only if span events were delayed that much).
 *
 * Threading: single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_grow.h"
#include "mg_hash.h"
#include "mg_merge.h"

#define MG_MAX_PENDING (1u << 18)

typedef struct mg_ev {
	uint64_t ts;
	uint64_t span_id; /* begin: id; end: id | 1 << 63 */
} mg_ev;

typedef struct mg_ps {
	uint64_t ts;
	int64_t stack_id, weight_ns;
} mg_ps;

typedef struct mg_thr {
	uint32_t tid;
	mg_ev *evs;
	size_t ev_head, ev_len, ev_cap;
	mg_ps *ps;
	size_t ps_head, ps_len, ps_cap;
	uint64_t *stack;
	size_t depth, stack_cap;
} mg_thr;

struct mg_attr {
	mg_merge *mg;
	uint32_t pid;
	mg_hash by_tid; /* tid -> index + 1 */
	mg_thr *thr;
	size_t n_thr, cap_thr;
};

#define MG_END_BIT (1ull << 63)

mg_attr *mg_attr_new(mg_merge *mg, uint32_t pid)
{
	mg_attr *a = calloc(1, sizeof *a);
	if (a) {
		a->mg = mg;
		a->pid = pid;
	}
	return a;
}

void mg_attr_set_pid(mg_attr *a, uint32_t pid)
{
	a->pid = pid;
}

void mg_attr_free(mg_attr *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_thr; i++) {
		free(a->thr[i].evs);
		free(a->thr[i].ps);
		free(a->thr[i].stack);
	}
	free(a->thr);
	mg_hash_free(&a->by_tid);
	free(a);
}

static mg_thr *mg_thr_get(mg_attr *a, uint32_t tid)
{
	uint64_t *hit = mg_hash_get(&a->by_tid, tid, 0);
	if (hit)
		return &a->thr[*hit - 1];
	if (MG_GROW_ONE(a->thr, a->cap_thr, a->n_thr))
		return NULL;
	if (mg_hash_put(&a->by_tid, tid, 0, a->n_thr + 1))
		return NULL;
	mg_thr *t = &a->thr[a->n_thr++];
	memset(t, 0, sizeof *t);
	t->tid = tid;
	return t;
}

/* Makes room for one more element at the end of a queue (compacting the
 * consumed head first). */
static int mg_queue_room(void **buf, size_t *head, size_t *len, size_t *cap, size_t size)
{
	if (*head && *head >= *len / 2) {
		memmove(*buf, (char *)*buf + *head * size, (*len - *head) * size);
		*len -= *head;
		*head = 0;
	}
	return mg_grow(buf, cap, *len + 1, size) ? -1 : 0;
}

static int mg_ev_push(mg_thr *t, uint64_t ts, uint64_t id)
{
	if (mg_queue_room((void **)&t->evs, &t->ev_head, &t->ev_len, &t->ev_cap, sizeof *t->evs))
		return -1;
	size_t at = t->ev_len++;
	while (at > t->ev_head && t->evs[at - 1].ts > ts) { /* rare: late end */
		t->evs[at] = t->evs[at - 1];
		at--;
	}
	t->evs[at] = (mg_ev){ts, id};
	return 0;
}

int mg_attr_begin(mg_attr *a, uint32_t tid, uint64_t ts, uint64_t span_id)
{
	mg_thr *t = mg_thr_get(a, tid);
	return t ? mg_ev_push(t, ts, span_id & ~MG_END_BIT) : -1;
}

int mg_attr_end(mg_attr *a, uint32_t owner_tid, uint64_t ts, uint64_t span_id)
{
	mg_thr *t = mg_thr_get(a, owner_tid);
	return t ? mg_ev_push(t, ts, span_id | MG_END_BIT) : -1;
}

int mg_attr_sample(mg_attr *a, uint32_t tid, uint64_t ts, int64_t stack_id, int64_t weight_ns)
{
	mg_thr *t = mg_thr_get(a, tid);
	if (!t ||
	    mg_queue_room((void **)&t->ps, &t->ps_head, &t->ps_len, &t->ps_cap, sizeof *t->ps))
		return -1;
	size_t at = t->ps_len++;
	while (at > t->ps_head && t->ps[at - 1].ts > ts) {
		t->ps[at] = t->ps[at - 1];
		at--;
	}
	t->ps[at] = (mg_ps){ts, stack_id, weight_ns};
	if (t->ps_len - t->ps_head > MG_MAX_PENDING)
		return mg_attr_settle_thread(a, (size_t)(t - a->thr),
		                             t->ps[t->ps_head + MG_MAX_PENDING / 2].ts);
	return 0;
}

static int mg_apply(mg_thr *t, uint64_t id)
{
	if (id & MG_END_BIT) { /* remove it wherever it is (usually the top) */
		uint64_t span = id & ~MG_END_BIT;
		for (size_t i = t->depth; i-- > 0;)
			if (t->stack[i] == span) {
				memmove(&t->stack[i], &t->stack[i + 1],
				        (t->depth - i - 1) * sizeof *t->stack);
				t->depth--;
				break;
			}
		return 0;
	}
	if (MG_GROW_ONE(t->stack, t->stack_cap, t->depth))
		return -1;
	t->stack[t->depth++] = id;
	return 0;
}

static int mg_write_sample(mg_attr *a, const mg_thr *t, const mg_ps *p)
{
	int64_t row[6] = {(int64_t)p->ts, a->pid,
	                  t->tid,         t->depth ? (int64_t)t->stack[t->depth - 1] : 0,
	                  p->stack_id,    p->weight_ns};
	uint8_t is_null[6] = {0, 0, 0, t->depth == 0, p->stack_id == 0, 0};
	return mg_batch_add(&a->mg->samples_batch, row, is_null);
}

int mg_attr_settle_thread(mg_attr *a, size_t i, uint64_t watermark)
{
	mg_thr *t = &a->thr[i];
	for (;;) {
		mg_ev *e = t->ev_head < t->ev_len ? &t->evs[t->ev_head] : NULL;
		mg_ps *p = t->ps_head < t->ps_len ? &t->ps[t->ps_head] : NULL;
		if (e && e->ts <= watermark && (!p || e->ts <= p->ts)) {
			if (mg_apply(t, e->span_id))
				return -1;
			t->ev_head++;
		} else if (p && p->ts <= watermark) {
			if (mg_write_sample(a, t, p))
				return -1;
			t->ps_head++;
		} else {
			return 0;
		}
	}
}

int mg_attr_settle(mg_attr *a, uint64_t watermark)
{
	for (size_t i = 0; i < a->n_thr; i++)
		if (mg_attr_settle_thread(a, i, watermark))
			return -1;
	return 0;
}
