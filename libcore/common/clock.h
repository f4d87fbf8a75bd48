/*
 * clock.h - the one clock that spans and samples share (private).
 *
 * lc_clock_ticks() returns raw ticks: rdtsc when the TSC is invariant and the
 * kernel itself uses it as clocksource, else CLOCK_MONOTONIC nanoseconds.
 * Calibration pairs (ticks, CLOCK_MONOTONIC, CLOCK_REALTIME) go into the log
 * so that readers convert ticks to nanoseconds since the Unix epoch.
 * Setting SPANPROF_CLOCK=monotonic in the environment forces the fallback.
 *
 * lc_clock_ticks() is a static inline function so that the tracer's hot path
 * pays one predictable branch plus rdtsc (docs/performance.md, "Clock") and
 * no call. Before
 * lc_clock_init() has run it returns CLOCK_MONOTONIC nanoseconds; callers
 * that write ticks into a log must call lc_clock_init() first (lc_log_open
 * does).
 *
 * Threading: lc_clock_init() once (idempotent, thread-safe); everything else
 * may be called from any thread. Signal safety: lc_clock_ticks() and
 * lc_clock_pair_now() are async-signal-safe (rdtsc and clock_gettime only).
 */
#ifndef LC_CLOCK_H
#define LC_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "records.h"
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define LC_CLOCK_HAVE_TSC 1
#else
#define LC_CLOCK_HAVE_TSC 0
#endif

void lc_clock_init(void);
int lc_clock_kind(void);                  /* lc_clock_kind */
void lc_clock_pair_now(lc_clock_pair *p); /* reads all three clocks at once */
/* Internal, for tests: measures ns per tick now from two bracketed pairs
 * 2 ms apart (0.0 if the ticks did not advance), and a hook run inside
 * every bracket, where a preemption would land. Not thread-safe. */
double lc_clock_calibrate_(void);
extern void (*lc_clock_bracket_hook_)(void);
/* Converts with a pair: pair.real_ns + (ticks - pair.ticks) * ns_per_tick,
 * the tick difference taken as signed. */
uint64_t lc_clock_to_epoch_ns(const lc_clock_pair *pair, uint64_t ticks);
/* ns_per_tick measured at init (1.0 for the monotonic clock). */
double lc_clock_initial_ns_per_tick(void);

/* Internal: 1 once lc_clock_init() chose the TSC. Read-only elsewhere. A
 * relaxed atomic load is a plain load on x86: free, and race-free for a
 * thread that reads the clock while another initialises it. */
extern _Atomic int lc_clock_use_tsc_;

static inline uint64_t lc_clock_mono_ns_(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Raw ticks of the shared clock. Async-signal-safe, wait-free. */
static inline uint64_t lc_clock_ticks(void)
{
#if LC_CLOCK_HAVE_TSC
	if (__builtin_expect(atomic_load_explicit(&lc_clock_use_tsc_, memory_order_relaxed), 1))
		return __rdtsc();
#endif
	return lc_clock_mono_ns_();
}

#endif
