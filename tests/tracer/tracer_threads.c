/*
 * tracer_threads.c - spans across threads: a context carried to another
 * thread, a span ended on another thread, a thread that exits with spans
 * open, OS and explicit thread names, and 1000 threads each making spans
 * (ids stay unique, every span ends exactly once, nothing is lost).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "records.h"
#include "tr_log.h"
#include "tl.h"

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	assert_int_equal(pthread_create(&t, &attr, fn, arg), 0);
	pthread_attr_destroy(&attr);
	return t;
}

typedef struct worker_arg {
	sp_context parent;
	sp_span handle;
	uint32_t tid;
} worker_arg;

static void *child_of_worker(void *p)
{
	worker_arg *w = p;
	w->tid = (uint32_t)gettid();
	sp_attr_int(w->handle, "set-by-worker", 7); /* on the submitter's span */
	sp_span s = sp_begin_child_of("work", &w->parent);
	sp_span inner = sp_begin("work-inner");
	sp_end(inner);
	sp_end(s);
	sp_span root = sp_begin("worker-root"); /* the adopted parent is gone */
	sp_context zero = {0, 0, 0, 0, 0};
	sp_span z = sp_begin_child_of("zero-context", &zero); /* = sp_begin */
	sp_end(z);
	sp_end(root);
	return NULL;
}

static void test_cross_thread_parent(void **state)
{
	(void)state;
	tr_start(tr_dir);
	sp_span req = sp_begin("request");
	worker_arg w = {.parent = sp_current_context(), .handle = req};
	assert_true(w.parent.span_id == req.id_);
	pthread_join(spawn(child_of_worker, &w), NULL);
	sp_end(req);
	sp_stop();
	tr_log *log = tr_log_load_pid(tr_dir, getpid());

	tr_span *r = tr_span_by_name(log, "request"), *work = tr_span_by_name(log, "work");
	tr_span *inner = tr_span_by_name(log, "work-inner");
	tr_span *wroot = tr_span_by_name(log, "worker-root");
	assert_true(r && work && inner && wroot);
	assert_int_equal(work->parent, r->id);
	tr_attr *a = tr_attr_of(log, r->id, "set-by-worker");
	assert_true(a && a->i == 7);
	assert_int_equal(work->begin_flags, LC_SPAN_REMOTE_PARENT);
	assert_true(work->trace_hi == r->trace_hi && work->trace_lo == r->trace_lo);
	assert_int_equal(work->tid, w.tid);
	assert_true(work->tid != r->tid);
	assert_int_equal(inner->parent, work->id);
	assert_int_equal(inner->begin_flags, 0);
	assert_true(inner->trace_hi == r->trace_hi && inner->trace_lo == r->trace_lo);
	assert_int_equal(wroot->parent, 0);
	tr_span *z = tr_span_by_name(log, "zero-context");
	assert_int_equal(z->parent, wroot->id);
	assert_int_equal(z->begin_flags, 0);
	assert_false(wroot->trace_hi == r->trace_hi && wroot->trace_lo == r->trace_lo);
	tr_log_free(log);
}

static void *end_elsewhere(void *p)
{
	worker_arg *w = p;
	w->tid = (uint32_t)gettid();
	sp_end(w->handle);
	return NULL;
}

static void *leave_open(void *p)
{
	worker_arg *w = p;
	w->tid = (uint32_t)gettid();
	sp_begin("left-open");
	sp_begin("left-open-inner");
	return NULL; /* thread exit closes both */
}

static void test_cross_thread_end_and_exit(void **state)
{
	(void)state;
	tr_start(tr_dir);
	sp_span outer = sp_begin("outer");
	worker_arg w = {.handle = sp_begin("handed-off")};
	pthread_join(spawn(end_elsewhere, &w), NULL);
	sp_span next = sp_begin("next"); /* must not nest in handed-off */
	sp_end(next);
	sp_end(w.handle); /* second end, on the owner thread */
	worker_arg w2 = {0};
	pthread_join(spawn(leave_open, &w2), NULL);
	sp_end(outer);
	sp_stop();
	tr_log *log = tr_log_load_pid(tr_dir, getpid());

	tr_span *h = tr_span_by_name(log, "handed-off"), *n = tr_span_by_name(log, "next");
	tr_span *o = tr_span_by_name(log, "outer");
	assert_int_equal(h->ends, 2);
	assert_int_equal(h->end_tid, w.tid);
	assert_int_equal(h->end_flags, LC_SPAN_CROSS_THREAD | LC_SPAN_DOUBLE_END);
	assert_int_equal(n->parent, o->id);
	assert_int_equal(o->end_flags, 0); /* handed-off no longer counts as open */
	tr_span *lo = tr_span_by_name(log, "left-open");
	tr_span *li = tr_span_by_name(log, "left-open-inner");
	assert_int_equal(lo->ends, 1);
	assert_int_equal(li->ends, 1);
	assert_int_equal(lo->end_flags, LC_SPAN_UNCLOSED);
	assert_int_equal(li->end_flags, LC_SPAN_UNCLOSED);
	assert_true(li->end_ns <= lo->end_ns);
	const tr_thread *t = tr_thread_by_tid(log, w2.tid);
	assert_non_null(t);
	assert_true(t->ended);
	tr_log_free(log);
}

static pthread_barrier_t handoff_published, handoff_ended;

static void *begin_then_exit(void *p)
{
	worker_arg *w = p;
	w->tid = (uint32_t)gettid();
	w->handle = sp_begin("ended-by-other");
	pthread_barrier_wait(&handoff_published);
	pthread_barrier_wait(&handoff_ended);
	return NULL; /* exits without another sp_ call: the posted end is pending */
}

/* A span ended by another thread while its owner is still alive, the owner
 * then exiting without touching the API again: exactly one END (the
 * cross-thread one), not a second UNCLOSED END from the thread exit. */
static void test_cross_thread_end_then_owner_exits(void **state)
{
	(void)state;
	tr_start(tr_dir);
	worker_arg w = {0};
	pthread_barrier_init(&handoff_published, NULL, 2);
	pthread_barrier_init(&handoff_ended, NULL, 2);
	pthread_t t = spawn(begin_then_exit, &w);
	pthread_barrier_wait(&handoff_published);
	sp_end(w.handle);
	pthread_barrier_wait(&handoff_ended);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&handoff_published);
	pthread_barrier_destroy(&handoff_ended);
	sp_stop();
	tr_log *log = tr_log_load_pid(tr_dir, getpid());
	tr_span *s = tr_span_by_name(log, "ended-by-other");
	assert_non_null(s);
	assert_int_equal(s->ends, 1);
	assert_int_equal(s->end_flags, LC_SPAN_CROSS_THREAD);
	assert_int_equal(s->end_tid, (uint32_t)gettid());
	tr_log_free(log);
}

static pthread_barrier_t restart_barrier;
static uint64_t before_id;

static void *open_across_restart(void *p)
{
	(void)p;
	sp_span before = sp_begin("open-across-restart");
	before_id = before.id_;
	pthread_barrier_wait(&restart_barrier); /* main stops and restarts */
	pthread_barrier_wait(&restart_barrier);
	sp_span after = sp_begin("child-after-restart");
	sp_end(after);
	sp_end(before); /* its begin is in the first log: nothing here */
	return NULL;
}

static void test_span_open_across_restart(void **state)
{
	(void)state;
	char *dir2 = tr_tmpdir();
	tr_start(tr_dir);
	pthread_barrier_init(&restart_barrier, NULL, 2);
	pthread_t t = spawn(open_across_restart, NULL);
	pthread_barrier_wait(&restart_barrier);
	sp_stop();
	tr_start(dir2);
	pthread_barrier_wait(&restart_barrier);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&restart_barrier);
	sp_stop();
	tr_log *first = tr_log_load_pid(tr_dir, getpid());
	tr_log *second = tr_log_load_pid(dir2, getpid());
	tr_span *b = tr_span_by_name(first, "open-across-restart");
	assert_non_null(b);
	assert_int_equal(b->ends, 0); /* still open when the first log closed */
	tr_span *c = tr_span_by_name(second, "child-after-restart");
	assert_non_null(c);
	assert_int_equal(c->parent, before_id);
	assert_int_equal(c->begin_flags, LC_SPAN_REMOTE_PARENT);
	assert_int_equal(second->end_orphans, 0);
	tr_log_free(first);
	tr_log_free(second);
	tl_rm_rf(dir2);
	free(dir2);
}

/* A span begun while recording and ended while the runtime is off is gone
 * from its thread's stack: the thread's next span after a restart is a
 * root, not a child of the span that ended long ago. */
static void *ended_while_off(void *p)
{
	(void)p;
	sp_span before = sp_begin("ended-while-off");
	before_id = before.id_;
	pthread_barrier_wait(&restart_barrier);
	pthread_barrier_wait(&restart_barrier); /* main has stopped */
	sp_end(before);
	pthread_barrier_wait(&restart_barrier);
	pthread_barrier_wait(&restart_barrier); /* main has restarted */
	sp_span after = sp_begin("root-after-restart");
	sp_end(after);
	return NULL;
}

static void test_span_ended_while_off(void **state)
{
	(void)state;
	char *dir2 = tr_tmpdir();
	tr_start(tr_dir);
	pthread_barrier_init(&restart_barrier, NULL, 2);
	pthread_t t = spawn(ended_while_off, NULL);
	pthread_barrier_wait(&restart_barrier);
	sp_stop();
	pthread_barrier_wait(&restart_barrier);
	pthread_barrier_wait(&restart_barrier); /* the thread has ended its span */
	tr_start(dir2);
	pthread_barrier_wait(&restart_barrier);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&restart_barrier);
	sp_stop();
	tr_log *second = tr_log_load_pid(dir2, getpid());
	tr_span *r = tr_span_by_name(second, "root-after-restart");
	assert_non_null(r);
	assert_true(before_id != 0);
	assert_int_equal(r->parent, 0);
	assert_int_equal(r->begin_flags, 0);
	tr_log_free(second);
	tl_rm_rf(dir2);
	free(dir2);
}

enum { N_THREADS = 1000, BATCH = 50, SPANS_PER_THREAD = 5 };

static void *many_worker(void *p)
{
	uintptr_t i = (uintptr_t)p;
	char name[16];
	snprintf(name, sizeof name, "os-%u", (unsigned)i);
	pthread_setname_np(pthread_self(), name); /* before the first span */
	for (int k = 0; k < SPANS_PER_THREAD; k++) {
		SP_SCOPE(s, "thread-work");
		sp_attr_int(s, "thread", (int64_t)i);
		SP_SCOPE("thread-inner");
	}
	if (i % 2)
		sp_thread_name("renamed");
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_thousand_threads(void **state)
{
	(void)state;
	sp_config cfg = {.out_dir = tr_dir, .mode = SP_MODE_OFF, .ring_kib = 16};
	assert_int_equal(sp_start(&cfg), 0);
	for (uintptr_t base = 0; base < N_THREADS; base += BATCH) {
		pthread_t t[BATCH];
		for (uintptr_t j = 0; j < BATCH; j++)
			t[j] = spawn(many_worker, (void *)(base + j));
		for (uintptr_t j = 0; j < BATCH; j++)
			pthread_join(t[j], NULL);
	}
	sp_stop();
	tr_log *log = tr_log_load_pid(tr_dir, getpid());

	assert_int_equal(log->lost_events, 0);
	assert_int_equal(log->nspans, N_THREADS * SPANS_PER_THREAD * 2);
	assert_int_equal(log->nattrs, N_THREADS * SPANS_PER_THREAD);
	assert_int_equal(log->end_orphans, 0);
	size_t renamed = 0, os_named = 0;
	for (size_t i = 0; i < log->nthreads; i++) {
		int r = strcmp(log->threads[i].name, "renamed") == 0;
		int o = strncmp(log->threads[i].name, "os-", 3) == 0;
		renamed += r;
		os_named += o;
		if (r || o) /* (earlier tests' threads may be listed too) */
			assert_true(log->threads[i].ended);
	}
	assert_int_equal(renamed, N_THREADS / 2);
	assert_int_equal(os_named, N_THREADS / 2);
	uint64_t *ids = malloc(log->nspans * sizeof *ids);
	for (size_t i = 0; i < log->nspans; i++) {
		tr_span *s = &log->spans[i];
		assert_int_equal(s->ends, 1);
		assert_int_equal(s->begin_flags | s->end_flags, 0);
		assert_true(s->id > 0 && s->id < (UINT64_C(1) << 63));
		if (strcmp(s->name, "thread-inner") == 0) {
			tr_span *p = tr_span_by_id(log, s->parent);
			assert_non_null(p);
			assert_int_equal(p->tid, s->tid);
		}
		ids[i] = s->id;
	}
	qsort(ids, log->nspans, sizeof *ids, cmp_u64); /* unique: neighbours differ */
	for (size_t i = 1; i < log->nspans; i++)
		assert_true(ids[i - 1] != ids[i]);
	free(ids);
	tr_log_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cross_thread_parent, tr_setup, tr_teardown),
	    cmocka_unit_test_setup_teardown(test_cross_thread_end_and_exit, tr_setup, tr_teardown),
	    cmocka_unit_test_setup_teardown(test_cross_thread_end_then_owner_exits, tr_setup,
	                                    tr_teardown),
	    cmocka_unit_test_setup_teardown(test_span_open_across_restart, tr_setup, tr_teardown),
	    cmocka_unit_test_setup_teardown(test_span_ended_while_off, tr_setup, tr_teardown),
	    cmocka_unit_test_setup_teardown(test_thousand_threads, tr_setup, tr_teardown),
	};
	unsetenv("SPANPROF_OUT");
	unsetenv("TRACEPARENT");
	unsetenv("SPANPROF_TRACEPARENT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
