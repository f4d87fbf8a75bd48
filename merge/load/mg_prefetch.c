/*
 * mg_prefetch.c - reads a log ahead on a second thread (see mg_prefetch.h).
 *
 * The reader thread fills batches: records copied by value, the data they
 * point to (strings, stacks, build ids) copied into the batch's arena. A
 * ring of MG_PREFETCH_BATCHES batches is shared with the consumer under
 * one mutex: the producer publishes a full batch (filled++), the consumer
 * releases the batch it finished (consumed++), so the consumer holds batch
 * consumed % N while the producer fills batch filled % N, never the same
 * one. A record that does not fit in what is left of an arena is kept
 * (the reader's pointers stay valid until its next call) and goes first
 * into the next batch; an empty batch grows its arena to fit any record
 * (a record is at most one frame's content, LC_MAX_FRAME_CONTENT_BYTES).
 *
 * Threading: see mg_prefetch.h. Not signal-safe.
 */
#include "mg_prefetch.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "mg_grow.h"
#include "spanprof.h"

#define MG_PF_ARENA_BYTES (256u * 1024u)

typedef struct mg_pf_batch {
	lc_record *recs; /* MG_PREFETCH_RECORDS */
	size_t n;
	char *arena;
	size_t used, cap;
	int end; /* last batch: rc is the reader's end (0 or -SP_E*) */
	int rc;
	uint64_t bytes_read;
} mg_pf_batch;

struct mg_prefetch {
	lc_reader *r;
	mg_pf_batch b[MG_PREFETCH_BATCHES];
	/* shared, under mu */
	pthread_mutex_t mu;
	pthread_cond_t can_fill, can_read;
	uint64_t filled, consumed;
	int stop;
	pthread_t thread;
	int threaded;
	/* reader side */
	lc_record pending;
	int has_pending;
	/* consumer side */
	mg_pf_batch *cur;
	size_t pos;
	uint64_t bytes_read;
};

static size_t pf_align(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

static size_t pf_str_size(const char *s)
{
	return s ? pf_align(strlen(s) + 1) : 0;
}

/* Arena bytes of a name or key given by interned id or inline (s, len). */
static size_t pf_name_size(const lc_reader *r, uint32_t id, const char *s, uint32_t len)
{
	if (id)
		return pf_str_size(lc_reader_string(r, id));
	return s ? pf_align((size_t)len + 1) : 0;
}

/* Bytes of arena the record's data needs (each piece 8-aligned). */
static size_t pf_payload(const lc_reader *r, const lc_record *rec)
{
	switch (rec->type) {
	case LC_REC_PROCESS: {
		const lc_rec_process *p = &rec->u.process;
		return pf_str_size(p->host) + pf_str_size(p->exe) + pf_str_size(p->cmdline) +
		       pf_str_size(p->traceparent);
	}
	case LC_REC_STRING:
		return rec->u.string.bytes ? pf_align((size_t)rec->u.string.len + 1) : 0;
	case LC_REC_THREAD:
		return pf_str_size(rec->u.thread.name);
	case LC_REC_SPAN_BEGIN: {
		const lc_rec_span_begin *b = &rec->u.span_begin;
		return pf_name_size(r, b->name_id, b->name, b->name_len);
	}
	case LC_REC_ATTR: {
		const lc_rec_attr *a = &rec->u.attr;
		return pf_name_size(r, a->key_id, a->key, a->key_len) +
		       (a->s ? pf_align((size_t)a->s_len + 1) : 0);
	}
	case LC_REC_SAMPLE:
		return rec->u.sample.pcs ? (size_t)rec->u.sample.nframes * sizeof(uint64_t) : 0;
	case LC_REC_DROPPED:
		return pf_name_size(r, rec->u.dropped.name_id, NULL, 0);
	case LC_REC_MODULE: {
		const lc_rec_module *m = &rec->u.module;
		return (m->path ? pf_align((size_t)m->path_len + 1) : 0) +
		       (m->build_id ? pf_align(m->build_id_len) : 0);
	}
	default:
		return 0;
	}
}

/* Copies n bytes (plus a NUL when nul) into the arena; room was checked. */
static void *pf_put(mg_pf_batch *b, const void *src, size_t n, int nul)
{
	char *dst = b->arena + b->used;
	memcpy(dst, src, n);
	if (nul)
		dst[n] = '\0';
	b->used += pf_align(n + (nul ? 1 : 0));
	return dst;
}

static const char *pf_str(mg_pf_batch *b, const char *s)
{
	return s ? pf_put(b, s, strlen(s), 1) : NULL;
}

/* Copies a name or key into the arena: a known interned id becomes the
 * inline string (id 0); an unknown one stays, with a NULL string. */
static void pf_name(const lc_reader *r, mg_pf_batch *b, uint32_t *id, const char **s, uint32_t *len)
{
	const char *known = *id ? lc_reader_string(r, *id) : NULL;
	if (known) {
		*id = 0;
		*len = (uint32_t)strlen(known);
		*s = pf_put(b, known, *len, 1);
	} else if (*id) {
		*s = NULL; /* left for the caller to report */
		*len = 0;
	} else if (*s) {
		*s = pf_put(b, *s, *len, 1);
	}
}

/* Appends rec to b, its data copied and interned ids resolved. */
static void pf_copy(const lc_reader *r, mg_pf_batch *b, const lc_record *rec)
{
	lc_record *out = &b->recs[b->n++];
	*out = *rec;
	switch (rec->type) {
	case LC_REC_PROCESS: {
		lc_rec_process *p = &out->u.process;
		p->host = pf_str(b, p->host);
		p->exe = pf_str(b, p->exe);
		p->cmdline = pf_str(b, p->cmdline);
		p->traceparent = pf_str(b, p->traceparent);
		break;
	}
	case LC_REC_STRING:
		if (out->u.string.bytes)
			out->u.string.bytes = pf_put(b, out->u.string.bytes, out->u.string.len, 1);
		break;
	case LC_REC_THREAD:
		out->u.thread.name = pf_str(b, out->u.thread.name);
		break;
	case LC_REC_SPAN_BEGIN: {
		lc_rec_span_begin *sb = &out->u.span_begin;
		pf_name(r, b, &sb->name_id, &sb->name, &sb->name_len);
		break;
	}
	case LC_REC_ATTR: {
		lc_rec_attr *a = &out->u.attr;
		pf_name(r, b, &a->key_id, &a->key, &a->key_len);
		if (a->s)
			a->s = pf_put(b, a->s, a->s_len, 1);
		break;
	}
	case LC_REC_SAMPLE:
		if (out->u.sample.pcs)
			out->u.sample.pcs =
			    pf_put(b, out->u.sample.pcs,
			           (size_t)out->u.sample.nframes * sizeof(uint64_t), 0);
		break;
	case LC_REC_DROPPED: {
		const char *known =
		    rec->u.dropped.name_id ? lc_reader_string(r, rec->u.dropped.name_id) : NULL;
		out->u.dropped.name = pf_str(b, known);
		break;
	}
	case LC_REC_MODULE: {
		lc_rec_module *m = &out->u.module;
		if (m->path)
			m->path = pf_put(b, m->path, m->path_len, 1);
		if (m->build_id)
			m->build_id = pf_put(b, m->build_id, m->build_id_len, 0);
		break;
	}
	default:
		break;
	}
}

/* Fills one batch from the reader (on whichever thread reads). */
static void pf_fill(mg_prefetch *p, mg_pf_batch *b)
{
	b->n = 0;
	b->used = 0;
	b->end = 0;
	b->rc = 0;
	for (;;) {
		if (!p->has_pending) {
			if (b->n == MG_PREFETCH_RECORDS)
				break;
			int rc = lc_reader_next(p->r, &p->pending);
			if (rc != 1) {
				b->end = 1;
				b->rc = rc;
				break;
			}
			p->has_pending = 1;
		}
		size_t need = pf_payload(p->r, &p->pending);
		if (b->used + need > b->cap) {
			if (b->n)
				break; /* goes first into the next batch */
			/* One record larger than the whole arena: an empty batch
			 * grows to hold it (the one growth helper doubles). */
			if (mg_grow(&b->arena, &b->cap, need, 1) != 0) {
				b->end = 1;
				b->rc = -SP_ENOMEM;
				break;
			}
		}
		pf_copy(p->r, b, &p->pending);
		p->has_pending = 0;
	}
	b->bytes_read = lc_reader_bytes_read(p->r);
}

static void *pf_thread(void *arg)
{
	mg_prefetch *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->filled - p->consumed == MG_PREFETCH_BATCHES)
			pthread_cond_wait(&p->can_fill, &p->mu);
		int stop = p->stop;
		mg_pf_batch *b = &p->b[p->filled % MG_PREFETCH_BATCHES];
		pthread_mutex_unlock(&p->mu);
		if (stop)
			return NULL;
		pf_fill(p, b);
		pthread_mutex_lock(&p->mu);
		p->filled++;
		pthread_cond_signal(&p->can_read);
		pthread_mutex_unlock(&p->mu);
		if (b->end)
			return NULL;
	}
}

static void pf_free(mg_prefetch *p)
{
	for (int i = 0; i < MG_PREFETCH_BATCHES; i++) {
		free(p->b[i].recs);
		free(p->b[i].arena);
	}
	free(p);
}

mg_prefetch *mg_prefetch_start(lc_reader *r)
{
	mg_prefetch *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->r = r;
	for (int i = 0; i < MG_PREFETCH_BATCHES; i++) {
		mg_pf_batch *b = &p->b[i];
		b->recs = malloc(MG_PREFETCH_RECORDS * sizeof *b->recs);
		b->arena = malloc(MG_PF_ARENA_BYTES);
		b->cap = MG_PF_ARENA_BYTES;
		if (!b->recs || !b->arena) {
			pf_free(p);
			return NULL;
		}
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->can_fill, NULL);
	pthread_cond_init(&p->can_read, NULL);
	/* Signals (merge's SIGINT cleanup) stay with the caller's thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p->threaded = pthread_create(&p->thread, NULL, pf_thread, p) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return p;
}

/* The next batch to read, filled by the thread or (without one) here. */
static mg_pf_batch *pf_acquire(mg_prefetch *p)
{
	if (!p->threaded) {
		pf_fill(p, &p->b[0]);
		return &p->b[0];
	}
	pthread_mutex_lock(&p->mu);
	while (p->filled == p->consumed)
		pthread_cond_wait(&p->can_read, &p->mu);
	mg_pf_batch *b = &p->b[p->consumed % MG_PREFETCH_BATCHES];
	pthread_mutex_unlock(&p->mu);
	return b;
}

static void pf_release(mg_prefetch *p)
{
	if (!p->threaded)
		return;
	pthread_mutex_lock(&p->mu);
	p->consumed++;
	pthread_cond_signal(&p->can_fill);
	pthread_mutex_unlock(&p->mu);
}

int mg_prefetch_next(mg_prefetch *p, lc_record *rec)
{
	for (;;) {
		if (p->cur && p->pos < p->cur->n) {
			*rec = p->cur->recs[p->pos++];
			return 1;
		}
		if (p->cur) {
			if (p->cur->end)
				return p->cur->rc; /* and again on every later call */
			pf_release(p);
		}
		p->cur = pf_acquire(p);
		p->pos = 0;
		p->bytes_read = p->cur->bytes_read;
	}
}

uint64_t mg_prefetch_bytes_read(const mg_prefetch *p)
{
	return p->bytes_read;
}

void mg_prefetch_stop(mg_prefetch *p)
{
	if (!p)
		return;
	if (p->threaded) {
		pthread_mutex_lock(&p->mu);
		p->stop = 1;
		pthread_cond_broadcast(&p->can_fill);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	pthread_cond_destroy(&p->can_read);
	pthread_cond_destroy(&p->can_fill);
	pthread_mutex_destroy(&p->mu);
	pf_free(p);
}
