/*
 * spin.h - burning a given amount of the calling thread's CPU time, written
 * once for the sampler tests and the programs they record (those link
 * nothing of the tests, so these are static functions in a header). spin
 * keeps its name and stays out of line: sampler_record looks for it among
 * the samples' leaf frames.
 *
 * Threading: each call measures its own thread. Not signal-safe.
 */
#ifndef SU_SAMPLER_SPIN_H
#define SU_SAMPLER_SPIN_H

#include <stdint.h>
#include <time.h>

/* CPU seconds of the calling thread. */
static inline double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Spins on the CPU for cpu_s seconds of this thread's CPU time. */
__attribute__((noinline, unused)) static void spin(double cpu_s)
{
	double end = thread_cpu_s() + cpu_s;
	volatile uint64_t x = 0;
	while (thread_cpu_s() < end)
		for (int i = 0; i < 200000; i++)
			x += (uint64_t)i;
}

#endif
