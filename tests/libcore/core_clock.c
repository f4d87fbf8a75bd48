/*
 * core_clock.c - the shared clock. Built twice: core_clock uses whatever the
 * machine offers (the TSC here), core_clock_monotonic forces the fallback
 * with SPANPROF_CLOCK=monotonic. Both check: ticks never go backwards when a
 * token is passed between threads; timestamps written to a log during a 1 s
 * run and converted by the reader are within 50 us of CLOCK_REALTIME read
 * next to them; the log names the clock kind that ran; the start-up
 * calibration is right even when its clock reads are preempted.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "core_util.h"
#include "spanprof.h"
#include "tl.h"

#ifdef CORE_FORCE_MONOTONIC
#define EXPECTED_KIND LC_CLOCK_MONOTONIC
#else
#define EXPECTED_KIND 0 /* whatever the machine supports */
#endif

#define TOKEN_THREADS 4
#define TOKEN_ROUNDS  500

static _Atomic uint64_t token;
static _Atomic uint64_t last_ticks;
static _Atomic int backwards;
static uint64_t tolerance_ticks;

static void *token_passer(void *arg)
{
	uint64_t me = (uint64_t)(intptr_t)arg;
	for (int round = 0; round < TOKEN_ROUNDS; round++) {
		while (atomic_load(&token) % TOKEN_THREADS != me)
			sched_yield();
		uint64_t now = lc_clock_ticks();
		if (now + tolerance_ticks < atomic_load(&last_ticks))
			atomic_store(&backwards, 1);
		atomic_store(&last_ticks, now);
		atomic_fetch_add(&token, 1);
	}
	return NULL;
}

/* The token passes through memory; the next thread's clock read must not be
 * earlier than the previous thread's. rdtsc is not serialising: the CPU may
 * execute it a few cycles before the load that saw the token (a few ns, a
 * few times in 400k hand-offs: docs/performance.md, "Clock"); an lfence
 * would close that window but triples the cost of a clock read, so 1 us
 * of slack is allowed. An unsynchronised TSC or a broken fallback is off
 * by far more. */
static void test_monotonic_across_threads(void **state)
{
	(void)state;
	tolerance_ticks = (uint64_t)(1000.0 / lc_clock_initial_ns_per_tick());
	pthread_t th[TOKEN_THREADS];
	for (int i = 0; i < TOKEN_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, token_passer, (void *)(intptr_t)i),
		                 0);
	for (int i = 0; i < TOKEN_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&token), TOKEN_THREADS * TOKEN_ROUNDS);
	assert_int_equal(atomic_load(&backwards), 0);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define MARKS 100
static uint64_t real_before[MARKS + 1], real_after[MARKS + 1];

/* Takes a tick reading bracketed by two CLOCK_REALTIME reads; retries when
 * the bracket is wide (the thread was preempted in between). */
static uint64_t bracketed_ticks(int i)
{
	for (;;) {
		real_before[i] = realtime_ns();
		uint64_t t = lc_clock_ticks();
		real_after[i] = realtime_ns();
		if (real_after[i] - real_before[i] < 5000)
			return t;
	}
}

static void write_marks(lc_ring *ring)
{
	struct timespec pace = {0, 10 * 1000 * 1000}; /* pacing, not synchronisation */
	for (int i = 1; i <= MARKS; i++) {
		lc_rec_span_begin b = {
		    .ts = bracketed_ticks(i), .span_id = (uint64_t)i, .name_id = 1};
		assert_int_equal(lc_ring_span_begin(ring, &b), 0);
		nanosleep(&pace, NULL);
	}
}

static void test_converted_within_50us(void **state)
{
	(void)state;
	lc_clock_init();
	if (EXPECTED_KIND)
		assert_int_equal(lc_clock_kind(), EXPECTED_KIND);
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "core");
	char path[512];
	lc_ring *ring = lc_ring_create(1, 0);
	assert_int_equal(core_open_log(dir, "clock", path, sizeof path), 0);
	write_marks(ring);
	lc_ring_retire(ring);
	lc_log_close();

	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int rc, n = 0;
	while ((rc = lc_reader_next(r, &rec)) == 1) {
		if (rec.type != LC_REC_SPAN_BEGIN)
			continue;
		int i = (int)rec.u.span_begin.span_id;
		int64_t lo = (int64_t)real_before[i] - 50000, hi = (int64_t)real_after[i] + 50000;
		if ((int64_t)rec.ts_ns < lo || (int64_t)rec.ts_ns > hi)
			fail_msg("mark %d: converted %llu, realtime [%llu, %llu]", i,
			         (unsigned long long)rec.ts_ns, (unsigned long long)real_before[i],
			         (unsigned long long)real_after[i]);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, MARKS);
	assert_int_equal(lc_reader_process(r)->clock_kind, lc_clock_kind());
	lc_reader_close(r);
	tl_rm_rf(dir);
}

/* Every other bracket is "preempted" for 3 ms: the calibration must keep
 * the tight ones and come within 1% of the rate measured over 200 ms.
 * Calibrating across the sleep would be off by a factor of ~2.5. */
static int hook_calls;
static void preempt_every_other_bracket(void)
{
	if (hook_calls++ % 2 == 0) {
		struct timespec ts = {0, 3000000};
		nanosleep(&ts, NULL);
	}
}

static void test_calibration_survives_preemption(void **state)
{
	(void)state;
	lc_clock_pair a, b;
	lc_clock_pair_now(&a);
	uint64_t until = a.mono_ns + 200000000u;
	while (lc_clock_mono_ns_() < until)
		;
	lc_clock_pair_now(&b);
	double truth = (double)(b.mono_ns - a.mono_ns) / (double)(b.ticks - a.ticks);
	lc_clock_bracket_hook_ = preempt_every_other_bracket;
	double npt = lc_clock_calibrate_();
	lc_clock_bracket_hook_ = NULL;
	assert_true(hook_calls >= 4); /* both ends were preempted once */
	if (npt < truth * 0.99 || npt > truth * 1.01)
		fail_msg("calibrated %.6f ns/tick, measured %.6f over 200 ms", npt, truth);
}

int main(void)
{
#ifdef CORE_FORCE_MONOTONIC
	setenv("SPANPROF_CLOCK", "monotonic", 1); /* before the clock is initialised */
#endif
	lc_clock_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_monotonic_across_threads),
	    cmocka_unit_test(test_converted_within_50us),
	    cmocka_unit_test(test_calibration_survives_preemption),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
