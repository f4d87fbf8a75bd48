/*
 * clock.h - the one clock that spans and samples share (private).
 *
 * sp_clock_ticks() returns raw ticks: rdtsc when the TSC is invariant and the
 * kernel itself uses it as clocksource, else CLOCK_MONOTONIC nanoseconds.
 * Calibration pairs (ticks, CLOCK_MONOTONIC, CLOCK_REALTIME) go into the log
 * so that readers convert ticks to nanoseconds since the Unix epoch.
 * Setting SPANPROF_CLOCK=monotonic in the environment forces the fallback.
 *
 * Threading: sp_clock_init() once (idempotent, thread-safe); everything else
 * may be called from any thread. Signal safety: sp_clock_ticks() and
 * sp_clock_pair_now() are async-signal-safe.
 */
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

#include <stdint.h>
#include "records.h"

void sp_clock_init(void);
int sp_clock_kind(void);                 /* sp_clock_kind */
uint64_t sp_clock_ticks(void);           /* see sp_clock_ticks_inline */
void sp_clock_pair_now(sp_clock_pair *p); /* reads all three clocks at once */
/* Converts with a pair: pair.real_ns + (ticks - pair.ticks) * ns_per_tick. */
uint64_t sp_clock_to_epoch_ns(const sp_clock_pair *pair, uint64_t ticks);

#endif
