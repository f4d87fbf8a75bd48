/*
 * tsan_restart.c - sp_stop/sp_start repeated while other threads make
 * spans, built with -fsanitize=thread (tests/tsan/CMakeLists.txt): any data
 * race between the runtime's start/stop and the span hot path makes
 * ThreadSanitizer report and the test exit non-zero.
 *
 * What it covers: the runtime-on flag (sp_on_) read by the inline macros
 * and by span.c while sp_start/sp_stop write it, and the inherited
 * traceparent (trc_root_ctx_) that every root span reads as its parent
 * while sp_start replaces it. Each start gets a different traceparent, so
 * the test also checks that no root span ever saw a parent other than one
 * of the two that were published (a torn read mixes them).
 *
 * Threading: WORKERS threads make spans, read the context and start
 * short-lived threads that make root spans, without pause; the main thread
 * restarts the runtime RESTARTS times, each into a fresh directory.
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

#include "tr_log.h"
#include "tl.h"

#define WORKERS  3
#define RESTARTS 100

static const char *const tsan_parents[2] = {
    "00-11111111111111111111111111111111-1111111111111111-01",
    "00-22222222222222222222222222222222-2222222222222222-01",
};

static int tsan_stop_flag;
static int tsan_torn_contexts;

static int tsan_stopping(void)
{
	return __atomic_load_n(&tsan_stop_flag, __ATOMIC_RELAXED);
}

/* Nested spans, with attributes, through the macros and the functions. */
static void *tsan_span_worker(void *arg)
{
	unsigned long *spans = arg;
	while (!tsan_stopping()) {
		sp_span root = sp_begin("tsan.root");
		sp_span inner = (sp_begin)("tsan.inner");
		sp_attr_int(inner, "n", (int64_t)*spans);
		sp_end(inner);
		sp_end(root);
		(*spans)++;
	}
	return NULL;
}

/* A thread that never opens a span reads the inherited context each time. */
static void *tsan_context_worker(void *arg)
{
	unsigned long *reads = arg;
	while (!tsan_stopping()) {
		sp_context c = sp_current_context();
		if (c.trace_hi != c.trace_lo || c.trace_hi != c.span_id)
			__atomic_store_n(&tsan_torn_contexts, 1, __ATOMIC_RELAXED);
		(*reads)++;
	}
	return NULL;
}

/* Short-lived threads: their stacks start empty, so their spans are roots
 * whose parent is the inherited context (a span left open across a
 * restart would otherwise stay the parent of a long-lived thread's spans:
 * an sp_end made while the runtime is off is not recorded). */
static void *tsan_root_spans(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		sp_span root = sp_begin("tsan.root");
		sp_end(root);
	}
	return NULL;
}

static void *tsan_spawn_worker(void *arg)
{
	unsigned long *threads = arg;
	while (!tsan_stopping()) {
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, tsan_root_spans, NULL), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		(*threads)++;
	}
	return NULL;
}

static void tsan_start(const char *dir, int round)
{
	setenv("SPANPROF_TRACEPARENT", tsan_parents[round & 1], 1);
	sp_config cfg = {.out_dir = dir, .mode = SP_MODE_OFF};
	assert_int_equal(sp_start(&cfg), 0);
}

/* Every root span carries one of the two published traces, whole: a torn
 * read mixes the halves of the two, or one's span id with the other's
 * trace. (Its parent may also be a span left open on the thread's stack:
 * an sp_end made while the runtime was off is not recorded.) */
static int tsan_parent_whole(const tr_span *s)
{
	const uint64_t one = 0x1111111111111111u, two = 0x2222222222222222u;
	if (s->trace_hi != s->trace_lo || (s->trace_hi != one && s->trace_hi != two))
		return 0;
	return (s->parent != one && s->parent != two) || s->parent == s->trace_hi;
}

static void tsan_check_parents(const char *dir)
{
	tr_log *log = tr_log_load_pid(dir, getpid());
	for (size_t i = 0; i < log->nspans; i++) {
		const tr_span *s = &log->spans[i];
		if (strcmp(s->name, "tsan.root") == 0 && !tsan_parent_whole(s))
			fail_msg("root span %llx has a torn parent %llx trace %llx:%llx",
			         (unsigned long long)s->id, (unsigned long long)s->parent,
			         (unsigned long long)s->trace_hi, (unsigned long long)s->trace_lo);
	}
	tr_log_free(log);
}

static void restart_under_span_load(void **state)
{
	(void)state;
	char *dirs[RESTARTS];
	pthread_t threads[WORKERS];
	unsigned long spans[WORKERS] = {0}; /* work done by each */
	dirs[0] = tr_tmpdir();
	tsan_start(dirs[0], 0);
	void *(*const workers[WORKERS])(void *) = {tsan_span_worker, tsan_context_worker,
	                                           tsan_spawn_worker};
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, workers[i], &spans[i]), 0);
	for (int round = 1; round < RESTARTS; round++) {
		sp_stop();
		dirs[round] = tr_tmpdir();
		tsan_start(dirs[round], round);
	}
	__atomic_store_n(&tsan_stop_flag, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	sp_stop();
	for (int i = 0; i < WORKERS; i++)
		assert_true(spans[i] > 0);
	assert_int_equal(__atomic_load_n(&tsan_torn_contexts, __ATOMIC_RELAXED), 0);
	for (int round = 0; round < RESTARTS; round++) {
		tsan_check_parents(dirs[round]);
		tl_rm_rf(dirs[round]);
		free(dirs[round]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(restart_under_span_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
