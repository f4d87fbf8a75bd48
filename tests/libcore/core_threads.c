/*
 * core_threads.c - 8 threads write spans concurrently into their own rings
 * while the writer thread drains; every event is read back, in order per
 * thread, with each thread's ticks non-decreasing, and no record of a
 * thread after its THREAD_END. Then 200 short-lived threads come and go
 * (rings created and retired) while another thread calls lc_log_flush in a
 * loop against the writer thread's drains: every span arrives. A producer that finds its
 * ring full retries after yielding (back-pressure for the test only; the
 * runtime drops and counts), so the check is exact on a loaded machine.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <unistd.h>

#include "clock.h"
#include "core_util.h"
#include "spanprof.h"
#include "tl.h"

#define THREADS          8
#define SPANS_PER_THREAD 40000

static uint32_t tids[THREADS];

static void *producer(void *arg)
{
	int idx = (int)(intptr_t)arg;
	tids[idx] = (uint32_t)gettid();
	lc_ring *ring = lc_ring_create(tids[idx], 64 * 1024);
	if (!ring)
		abort();
	for (uint64_t i = 1; i <= SPANS_PER_THREAD; i++) {
		uint64_t id = (uint64_t)idx << 32 | i;
		lc_rec_span_begin b = {.ts = lc_clock_ticks(),
		                       .span_id = id,
		                       .parent_id = i > 1 ? id - 1 : 0,
		                       .name_id = 1};
		while (lc_ring_span_begin(ring, &b) < 0)
			sched_yield();
		lc_rec_span_end e = {.ts = lc_clock_ticks(), .span_id = id};
		while (lc_ring_span_end(ring, &e) < 0)
			sched_yield();
	}
	lc_record end = {.type = LC_REC_THREAD_END};
	end.u.thread_end = (lc_rec_thread_end){.ts = lc_clock_ticks(), .tid = tids[idx]};
	lc_log_meta(&end, 0);
	lc_ring_retire(ring);
	return NULL;
}

typedef struct per_thread {
	uint64_t next_begin, open_span, last_ticks, ends;
	int thread_ended;
} per_thread;

static int thread_index(uint32_t tid)
{
	for (int i = 0; i < THREADS; i++)
		if (tids[i] == tid)
			return i;
	fail_msg("record of unknown thread %u", tid);
	return -1;
}

static void check_record(per_thread *pt, const lc_record *rec)
{
	if (rec->type == LC_REC_THREAD_END) {
		pt[thread_index(rec->u.thread_end.tid)].thread_ended = 1;
	} else if (rec->type == LC_REC_SPAN_BEGIN) {
		per_thread *t = &pt[thread_index(rec->u.span_begin.tid)];
		assert_false(t->thread_ended);
		assert_int_equal(rec->u.span_begin.span_id & 0xffffffffu, t->next_begin);
		assert_int_equal(t->open_span, 0);
		assert_true(rec->u.span_begin.ts >= t->last_ticks);
		t->last_ticks = rec->u.span_begin.ts;
		t->open_span = rec->u.span_begin.span_id;
		t->next_begin++;
	} else if (rec->type == LC_REC_SPAN_END) {
		per_thread *t = &pt[thread_index(rec->u.span_end.tid)];
		assert_false(t->thread_ended);
		assert_int_equal(rec->u.span_end.span_id, t->open_span);
		assert_true(rec->u.span_end.ts >= t->last_ticks);
		t->last_ticks = rec->u.span_end.ts;
		t->open_span = 0;
		t->ends++;
	}
}

static void test_eight_threads(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "core");
	char path[512];
	assert_int_equal(core_open_log(dir, "threads", path, sizeof path), 0);
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, producer, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	lc_log_close();

	per_thread pt[THREADS];
	for (int i = 0; i < THREADS; i++)
		pt[i] = (per_thread){.next_begin = 1};
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int rc;
	while ((rc = lc_reader_next(r, &rec)) == 1)
		check_record(pt, &rec);
	assert_int_equal(rc, 0);
	assert_true(lc_reader_frames(r) > 1);
	lc_reader_close(r);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pt[i].next_begin, SPANS_PER_THREAD + 1);
		assert_int_equal(pt[i].ends, SPANS_PER_THREAD);
		assert_true(pt[i].thread_ended);
	}
	tl_rm_rf(dir);
}

#define CHURN_THREADS 200
#define CHURN_SPANS   500

static _Atomic int churn_done;
static _Atomic uint64_t churn_written;

/* A short-lived thread: its own ring, a burst of spans, retire, exit. */
static void *churn_thread(void *arg)
{
	uint64_t base = (uint64_t)(intptr_t)arg << 32;
	lc_ring *ring = lc_ring_create((uint32_t)gettid(), 16 * 1024);
	if (!ring)
		abort();
	for (uint64_t i = 1; i <= CHURN_SPANS; i++) {
		lc_rec_span_begin b = {.ts = lc_clock_ticks(), .span_id = base | i, .name_id = 1};
		while (lc_ring_span_begin(ring, &b) < 0)
			sched_yield();
	}
	atomic_fetch_add(&churn_written, CHURN_SPANS);
	lc_ring_retire(ring);
	return NULL;
}

/* Explicit flushes racing with the writer thread's own drains. */
static void *flusher(void *arg)
{
	(void)arg;
	while (!atomic_load(&churn_done))
		lc_log_flush();
	return NULL;
}

static void test_thread_churn_with_flushes(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "core");
	char path[512];
	assert_int_equal(core_open_log(dir, "churn", path, sizeof path), 0);
	pthread_t fl, th[4];
	assert_int_equal(pthread_create(&fl, NULL, flusher, NULL), 0);
	for (int i = 0; i < CHURN_THREADS; i += 4) {
		for (int j = 0; j < 4; j++)
			assert_int_equal(pthread_create(&th[j], NULL, churn_thread,
			                                (void *)(intptr_t)(i + j + 1)),
			                 0);
		for (int j = 0; j < 4; j++)
			pthread_join(th[j], NULL);
	}
	atomic_store(&churn_done, 1);
	pthread_join(fl, NULL);
	lc_log_close();
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int rc;
	uint64_t begins = 0;
	while ((rc = lc_reader_next(r, &rec)) == 1)
		begins += rec.type == LC_REC_SPAN_BEGIN;
	assert_int_equal(rc, 0);
	lc_reader_close(r);
	assert_int_equal(begins, (uint64_t)CHURN_THREADS * CHURN_SPANS);
	assert_int_equal(atomic_load(&churn_written), begins);
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_eight_threads),
	    cmocka_unit_test(test_thread_churn_with_flushes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
