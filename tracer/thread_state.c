/*
 * thread_state.c - per-thread tracer state: creation on a thread's first
 * span, its ring, its id generator, the registry of live states, thread
 * exit, cross-thread ends and fork.
 *
 * Design: the state is reached through an initial-exec TLS pointer (one
 * load on the hot path; fine for a preloaded or linked libspanprof). A
 * pthread key with a destructor closes the thread's open spans (flag
 * UNCLOSED) and retires its ring at thread exit. The registry (a list under
 * one mutex) exists only for the slow paths: finding the owner of a span
 * ended on another thread, and dropping dead threads' states in a fork
 * child. Ids: a per-thread splitmix64 generator seeded from getrandom()
 * picks a random 40-bit prefix for each run of 2^23 ids, so the hot path
 * only increments a counter.
 *
 * Threading: a state's fields belong to its thread, except remote_* and the
 * list links (registry lock). Signal safety: none of this is signal-safe;
 * the hot path only reads trc_tls_.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "tracer_int.h"

TRC_HIDDEN __thread trc_tstate *trc_tls_ __attribute__((tls_model("initial-exec")));
/* Set once this thread's destructor ran: no state is created again. */
static __thread int trc_tls_dead __attribute__((tls_model("initial-exec")));

static pthread_mutex_t trc_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static trc_tstate *trc_registry_head;
static pthread_key_t trc_tstate_key;
static pthread_once_t trc_tstate_once = PTHREAD_ONCE_INIT;

TRC_HIDDEN uint64_t trc_rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t trc_seed(void)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		seed = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32) ^
		       ((uint64_t)getpid() << 16) ^ (uint64_t)gettid();
	}
	return seed;
}

TRC_HIDDEN uint64_t trc_tstate_new_prefix(trc_tstate *ts)
{
	uint64_t prefix = trc_rng_next(&ts->rng) >> (64 - TRC_ID_PREFIX_BITS);
	if (prefix == 0)
		prefix = 1;
	return (prefix << TRC_ID_COUNTER_BITS) | 1;
}

static void trc_tstate_reseed(trc_tstate *ts)
{
	ts->rng = trc_seed();
	ts->id_next = trc_tstate_new_prefix(ts);
}

static void trc_registry_add(trc_tstate *ts)
{
	pthread_mutex_lock(&trc_registry_mu);
	ts->prev = NULL;
	ts->next = trc_registry_head;
	if (trc_registry_head)
		trc_registry_head->prev = ts;
	trc_registry_head = ts;
	pthread_mutex_unlock(&trc_registry_mu);
}

static void trc_registry_unlink(trc_tstate *ts)
{
	if (ts->prev)
		ts->prev->next = ts->next;
	else
		trc_registry_head = ts->next;
	if (ts->next)
		ts->next->prev = ts->prev;
	ts->next = ts->prev = NULL;
}

/* Ends every open span of ts that this process began, innermost first. */
TRC_HIDDEN void trc_tstate_end_all(trc_tstate *ts, uint32_t flags)
{
	while (ts->depth > 0) {
		trc_stack_entry *e = &ts->stack[--ts->depth];
		if (!(e->foreign | e->dropped) && ts->ring && ts->gen == trc_gen_now())
			trc_emit_end(ts, e->id, flags);
	}
	ts->too_deep = 0;
}

/* Not sticky: a fork child announces its own thread (new tid) itself, and
 * a restarted runtime announces each thread on its next span; sticky
 * records would pile up for every thread that ever lived. */
static int trc_emit_thread(uint32_t tid, const char *name, int type)
{
	lc_record rec;
	memset(&rec, 0, sizeof rec);
	rec.type = (uint8_t)type;
	if (type == LC_REC_THREAD) {
		rec.u.thread.ts = lc_clock_ticks();
		rec.u.thread.tid = tid;
		rec.u.thread.name = name;
	} else {
		rec.u.thread_end.ts = lc_clock_ticks();
		rec.u.thread_end.tid = tid;
	}
	return lc_log_meta(&rec, 0);
}

static void trc_tstate_destroy(void *arg)
{
	trc_tstate *ts = arg;
	trc_tls_ = NULL;
	trc_tls_dead = 1;
	/* Leave the registry first, so no other thread can post an end to us
	 * any more (a later cross-thread sp_end sees us gone and flags its END
	 * DOUBLE_END), then take the ends already posted off the stack: those
	 * spans were ended by their END from the other thread and must not get
	 * a second, UNCLOSED one here. */
	pthread_mutex_lock(&trc_registry_mu);
	trc_registry_unlink(ts);
	pthread_mutex_unlock(&trc_registry_mu);
	trc_tstate_apply_remote_ends(ts);
	if (trc_is_on() && ts->gen == trc_gen_now()) {
		trc_tstate_end_all(ts, LC_SPAN_UNCLOSED);
		trc_emit_thread(ts->tid, NULL, LC_REC_THREAD_END);
	}
	if (ts->ring)
		lc_ring_retire(ts->ring);
	free(ts);
}

static void trc_tstate_key_init(void)
{
	if (pthread_key_create(&trc_tstate_key, trc_tstate_destroy) != 0)
		fprintf(stderr, "spanprof: no pthread key: thread exits will not close spans\n");
}

TRC_HIDDEN void trc_tstate_init_once(void)
{
	pthread_once(&trc_tstate_once, trc_tstate_key_init);
}

static trc_tstate *trc_tstate_create(void)
{
	trc_tstate *ts = calloc(1, sizeof *ts);
	if (!ts)
		return NULL;
	ts->tid = (uint32_t)gettid();
	trc_tstate_reseed(ts);
	ts->gen = trc_gen_now() - 1; /* no ring yet */
	trc_tstate_init_once();
	pthread_setspecific(trc_tstate_key, ts);
	trc_registry_add(ts);
	trc_tls_ = ts;
	return ts;
}

/* The thread's ring (created once: rings outlive lc_log_close, and the
 * forking thread's ring is kept, emptied, in a fork child) and its OS name
 * in the current log. */
static int trc_tstate_attach(trc_tstate *ts)
{
	uint32_t gen = trc_gen_now();
	if (!ts->ring) {
		ts->ring =
		    lc_ring_create(ts->tid, __atomic_load_n(&trc_ring_bytes_, __ATOMIC_RELAXED));
		/* Spans are never made from a signal handler (spanprof.h): a
		 * full ring can make its thread drain the log, losing nothing. */
		lc_ring_set_blocking(ts->ring, 1);
	}
	if (!ts->ring)
		return -1;
	/* Spans still open from an earlier log (runtime restarted, or the
	 * parent process) stay valid parents, but their ends belong there. */
	for (uint32_t i = 0; i < ts->depth; i++)
		ts->stack[i].foreign = 1;
	ts->gen = gen;
	char name[64] = "";
	if (ts->user_name[0])
		memcpy(name, ts->user_name, sizeof name);
	else if (pthread_getname_np(pthread_self(), name, sizeof name) != 0)
		name[0] = '\0';
	trc_emit_thread(ts->tid, name, LC_REC_THREAD);
	return 0;
}

TRC_HIDDEN int trc_tstate_set_name(trc_tstate *ts, const char *name)
{
	size_t len = strnlen(name, sizeof ts->user_name - 1);
	memcpy(ts->user_name, name, len);
	ts->user_name[len] = '\0';
	return trc_emit_thread(ts->tid, ts->user_name, LC_REC_THREAD);
}

TRC_HIDDEN void trc_tstate_apply_remote_ends(trc_tstate *ts)
{
	pthread_mutex_lock(&trc_registry_mu);
	for (uint32_t r = 0; r < ts->remote_count; r++) {
		uint32_t kept = 0;
		for (uint32_t i = 0; i < ts->depth; i++) {
			if (ts->stack[i].id != ts->remote_ids[r])
				ts->stack[kept++] = ts->stack[i];
		}
		ts->depth = kept;
	}
	ts->remote_count = 0;
	ts->remote_seen = __atomic_load_n(&ts->remote_ends, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&trc_registry_mu);
}

TRC_HIDDEN int trc_tstate_post_remote_end(uint32_t tid, uint64_t span_id)
{
	int rc = -1;
	pthread_mutex_lock(&trc_registry_mu);
	for (trc_tstate *ts = trc_registry_head; ts; ts = ts->next) {
		if (ts->tid != tid)
			continue;
		if (ts->remote_count < TRC_MAX_REMOTE_ENDS)
			ts->remote_ids[ts->remote_count++] = span_id;
		__atomic_fetch_add(&ts->remote_ends, 1, __ATOMIC_RELEASE);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&trc_registry_mu);
	return rc;
}

TRC_HIDDEN trc_tstate *trc_tstate_slow(void)
{
	if (!trc_is_on() || trc_tls_dead)
		return NULL;
	int saved_errno = errno;
	trc_tstate *ts = trc_tls_;
	if (!ts)
		ts = trc_tstate_create();
	if (ts && ts->gen != trc_gen_now() && trc_tstate_attach(ts) != 0)
		ts = NULL;
	if (ts && __atomic_load_n(&ts->remote_ends, __ATOMIC_RELAXED) != ts->remote_seen)
		trc_tstate_apply_remote_ends(ts);
	errno = saved_errno;
	return ts;
}

TRC_HIDDEN void trc_tstate_atfork_prepare(void)
{
	pthread_mutex_lock(&trc_registry_mu);
}

TRC_HIDDEN void trc_tstate_atfork_parent(void)
{
	pthread_mutex_unlock(&trc_registry_mu);
}

/* In the child only the forking thread exists: drop the other states (their
 * rings went with the parent's log), keep this thread's open spans as
 * foreign parents, take the new tid and new random ids. */
TRC_HIDDEN void trc_tstate_atfork_child(void)
{
	trc_tstate *self = trc_tls_;
	trc_tstate *ts = trc_registry_head;
	while (ts) {
		trc_tstate *next = ts->next;
		if (ts != self) {
			trc_registry_unlink(ts);
			free(ts);
		}
		ts = next;
	}
	pthread_mutex_init(&trc_registry_mu, NULL);
	if (!self)
		return;
	self->tid = (uint32_t)gettid();
	self->gen = trc_gen_ - 1; /* the next span marks its open spans foreign */
	self->remote_count = 0;
	self->remote_seen = self->remote_ends;
	trc_tstate_reseed(self);
}
