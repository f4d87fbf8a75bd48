/*
 * uftrace_loop.c - the same measurement as span_cost's "on: begin+end" row,
 * for uftrace: a loop calling one traced function N times, compiled with
 * -pg so that uftrace records every entry and exit (its per-function
 * overhead). Timed inside the program, like span_cost, and printed as ns
 * per call; run it bare and under `uftrace record`, and subtract
 * (bench/span_cost/uftrace_compare.sh does both).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned long counter;

__attribute__((noinline)) void traced_function(void)
{
	counter++;
	__asm__ volatile("" ::: "memory");
}

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	double best = 1e30;
	for (int round = 0; round < 7; round++) {
		unsigned long long t0 = now_ns();
		for (long i = 0; i < n; i++)
			traced_function();
		double ns = (double)(now_ns() - t0) / (double)n;
		best = ns < best ? ns : best;
	}
	printf("ns per call: %.2f (min of 7 rounds of %ld calls)\n", best, n);
	return counter == 0;
}
