/*
 * span_cost_disabled.c - the span loops compiled with SPANPROF_DISABLE (see
 * CMakeLists.txt): the instrumentation must cost exactly what the empty
 * loop costs. The barrier keeps the loop itself from being optimised away.
 */
#include <spanprof.h>

#define BARRIER() __asm__ volatile("" ::: "memory")

void bench_loop_disabled(long n)
{
	for (long i = 0; i < n; i++) {
		sp_span s = sp_begin("disabled");
		sp_attr_int(s, "i", i);
		sp_end(s);
		BARRIER();
	}
}

void bench_loop_disabled_scope(long n)
{
	for (long i = 0; i < n; i++) {
		SP_SCOPE("disabled-scope");
		BARRIER();
	}
}
