/*
 * log_mirror.c - the spans open on each ring, as the log writer has seen
 * them: what a new segment of a rotated log repeats at its start so that
 * it can be read alone (docs/log-format.md, "Rotation").
 *
 * The writer (the consumer, under the drain lock) feeds every span record
 * of a ring it drains, but only while rotation is on: a log that is never
 * cut pays nothing. A SPAN_BEGIN pushes a copy on its ring's mirror (ids,
 * ts, flags, trace, name id or a copy of an inline name); an ATTR attaches
 * a copy to its span (the first LC_MIRROR_MAX_ATTRS of each; a later one
 * is not repeated, which docs/log-format.md says); a SPAN_END removes its
 * span, from its own ring's mirror, or for an END written on another
 * thread (CROSS_THREAD) from whichever mirror holds it. Such an END can be
 * drained before its BEGIN (the other ring comes later in the drain): it
 * waits in a small bounded list until the BEGIN arrives.
 *
 * Memory: one entry per open span (plus its kept attributes), bounded by
 * LC_MIRROR_MAX_DEPTH per ring; a span beyond it, or flagged TOO_DEEP (the
 * tracer keeps those off its stack too), is not repeated.
 *
 * Threading: every function runs under the writer's drain lock (or in a
 * fork child, single-threaded). Not signal-safe (malloc).
 */
#include <stdlib.h>
#include <string.h>

#include "log_int.h"

#define LC_MIRROR_MAX_DEPTH  1024u
#define LC_MIRROR_MAX_ATTRS  32u
#define LC_MIRROR_EARLY_ENDS 4096u

typedef struct lc_mattr {
	lc_rec_attr rec; /* key and s point into bytes */
	char bytes[];
} lc_mattr;

typedef struct lc_mspan {
	lc_rec_span_begin rec; /* name points at name_copy when inline */
	char *name_copy;
	lc_mattr **attrs;
	uint32_t n_attrs;
} lc_mspan;

typedef struct lc_mirror {
	lc_mspan *spans; /* outermost first */
	uint32_t depth, cap;
} lc_mirror;

/* Cross-thread ENDs drained before their BEGIN: FIFO of span ids. */
static uint64_t early_ends[LC_MIRROR_EARLY_ENDS];
static uint32_t early_head, early_len;

static void mspan_free(lc_mspan *s)
{
	for (uint32_t i = 0; i < s->n_attrs; i++)
		free(s->attrs[i]);
	free(s->attrs);
	free(s->name_copy);
}

void lc_mirror_free_(lc_ring *ring)
{
	lc_mirror *m = ring->mirror;
	if (!m)
		return;
	for (uint32_t i = 0; i < m->depth; i++)
		mspan_free(&m->spans[i]);
	free(m->spans);
	free(m);
	ring->mirror = NULL;
}

void lc_mirror_forget_early_(void)
{
	early_head = early_len = 0;
}

static int early_take(uint64_t span_id)
{
	for (uint32_t k = 0; k < early_len; k++) {
		uint32_t at = (early_head + k) % LC_MIRROR_EARLY_ENDS;
		if (early_ends[at] == span_id) {
			early_ends[at] = 0;
			return 1;
		}
	}
	return 0;
}

static void early_put(uint64_t span_id)
{
	if (early_len == LC_MIRROR_EARLY_ENDS) {
		early_head = (early_head + 1) % LC_MIRROR_EARLY_ENDS;
		early_len--;
	}
	early_ends[(early_head + early_len++) % LC_MIRROR_EARLY_ENDS] = span_id;
	/* drop consumed slots at the front so the list stays short */
	while (early_len && early_ends[early_head] == 0) {
		early_head = (early_head + 1) % LC_MIRROR_EARLY_ENDS;
		early_len--;
	}
}

static void mirror_begin(lc_ring *ring, const lc_rec_span_begin *b)
{
	if ((b->flags & LC_SPAN_TOO_DEEP) || (early_len && early_take(b->span_id)))
		return;
	lc_mirror *m = ring->mirror;
	if (!m && !(m = ring->mirror = calloc(1, sizeof *m)))
		return;
	if (m->depth == LC_MIRROR_MAX_DEPTH)
		return;
	if (m->depth == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 16;
		lc_mspan *grown = realloc(m->spans, cap * sizeof *grown);
		if (!grown)
			return;
		m->spans = grown;
		m->cap = cap;
	}
	lc_mspan *s = &m->spans[m->depth];
	*s = (lc_mspan){.rec = *b};
	if (b->name_id == 0) {
		uint32_t len = b->name ? b->name_len : 0;
		if (!(s->name_copy = malloc(len + 1u)))
			return;
		if (len)
			memcpy(s->name_copy, b->name, len);
		s->name_copy[len] = 0;
		s->rec.name = s->name_copy;
		s->rec.name_len = len;
	}
	m->depth++;
}

/* Index + 1 of span_id in the ring's mirror (searched from the top), 0. */
static uint32_t mirror_find(const lc_ring *ring, uint64_t span_id)
{
	const lc_mirror *m = ring->mirror;
	for (uint32_t i = m ? m->depth : 0; i-- > 0;)
		if (m->spans[i].rec.span_id == span_id)
			return i + 1;
	return 0;
}

/* The ring whose mirror holds span_id, own ring first; *at = index + 1. */
static lc_ring *mirror_owner(lc_ring *ring, uint64_t span_id, const lc_ring_snap *snaps, size_t n,
                             uint32_t *at)
{
	if ((*at = mirror_find(ring, span_id)))
		return ring;
	for (size_t i = 0; i < n; i++)
		if (snaps[i].ring != ring && (*at = mirror_find(snaps[i].ring, span_id)))
			return snaps[i].ring;
	return NULL;
}

static void mirror_end(lc_ring *ring, const lc_rec_span_end *e, const lc_ring_snap *snaps, size_t n)
{
	uint32_t at;
	int cross = (e->flags & LC_SPAN_CROSS_THREAD) != 0;
	lc_ring *owner = mirror_owner(ring, e->span_id, snaps, cross ? n : 0, &at);
	if (!owner) {
		if (cross)
			early_put(e->span_id);
		return;
	}
	lc_mirror *m = owner->mirror;
	mspan_free(&m->spans[at - 1]);
	memmove(&m->spans[at - 1], &m->spans[at], (m->depth - at) * sizeof *m->spans);
	m->depth--;
}

static void mirror_attr(lc_ring *ring, const lc_rec_attr *a, const lc_ring_snap *snaps, size_t n)
{
	uint32_t at;
	lc_ring *owner = mirror_owner(ring, a->span_id, snaps, n, &at);
	if (!owner)
		return;
	lc_mspan *s = &owner->mirror->spans[at - 1];
	if (s->n_attrs == LC_MIRROR_MAX_ATTRS)
		return;
	if (!s->attrs && !(s->attrs = malloc(LC_MIRROR_MAX_ATTRS * sizeof *s->attrs)))
		return;
	uint32_t key_len = a->key_id ? 0 : a->key_len;
	uint32_t s_len = a->kind == LC_ATTR_STR ? a->s_len : 0;
	lc_mattr *c = malloc(sizeof *c + key_len + s_len + 1u);
	if (!c)
		return;
	c->rec = *a;
	if (key_len)
		memcpy(c->bytes, a->key, key_len);
	if (s_len)
		memcpy(c->bytes + key_len, a->s, s_len);
	c->rec.key = key_len ? c->bytes : NULL;
	c->rec.s = c->bytes + key_len;
	s->attrs[s->n_attrs++] = c;
}

void lc_mirror_record_(lc_ring *ring, const lc_record *rec, const lc_ring_snap *snaps, size_t n)
{
	switch (rec->type) {
	case LC_REC_SPAN_BEGIN:
		mirror_begin(ring, &rec->u.span_begin);
		break;
	case LC_REC_SPAN_END:
		mirror_end(ring, &rec->u.span_end, snaps, n);
		break;
	case LC_REC_ATTR:
		mirror_attr(ring, &rec->u.attr, snaps, n);
		break;
	default:
		break;
	}
}

void lc_mirror_emit_(lc_ring *ring, void (*put)(const lc_record *rec))
{
	const lc_mirror *m = ring->mirror;
	if (!m || !m->depth)
		return;
	lc_record block = {.type = LC_REC_BLOCK, .u.block.tid = ring->tid};
	put(&block);
	for (uint32_t i = 0; i < m->depth; i++) {
		const lc_mspan *s = &m->spans[i];
		lc_record b = {.type = LC_REC_SPAN_BEGIN, .u.span_begin = s->rec};
		b.u.span_begin.flags |= LC_SPAN_CONTINUED;
		b.u.span_begin.tid = ring->tid;
		put(&b);
		for (uint32_t k = 0; k < s->n_attrs; k++) {
			lc_record a = {.type = LC_REC_ATTR, .u.attr = s->attrs[k]->rec};
			a.u.attr.flags |= LC_ATTR_CONTINUED;
			a.u.attr.tid = ring->tid;
			put(&a);
		}
	}
}
