/*
 * e2e_workload_prog.c - the traced program of the export end-to-end test: one
 * 'request' span (attributes bytes, path) per iteration holding a 'parse'
 * span (memory work) and a 'compute' span (attribute iterations) that burns
 * CPU in burn_cpu(), the hot function. Linked with libspanprof; started by
 * 'spanprof record', which turns the runtime on through the environment.
 * usage: e2e_workload [REQUESTS]
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spanprof.h>

static volatile uint64_t sink;

/* Spins on the CPU for about ms milliseconds of thread CPU time. */
__attribute__((noinline)) static void burn_cpu(int ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	do {
		for (int i = 0; i < 20000; i++)
			sink = sink * 6364136223846793005ull + 1442695040888963407ull;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

__attribute__((noinline)) static void parse_bytes(size_t n)
{
	char *buf = malloc(n);
	memset(buf, 'x', n);
	for (int r = 0; r < 8; r++)
		for (size_t i = 0; i < n; i++)
			sink += (unsigned char)buf[i];
	free(buf);
}

int main(int argc, char **argv)
{
	int requests = argc > 1 ? atoi(argv[1]) : 4;
	for (int i = 0; i < requests; i++) {
		sp_span req = sp_begin("request");
		sp_attr_int(req, "bytes", 1000000 * (i + 1));
		sp_attr_str(req, "path", i % 2 ? "odd.txt" : "even.txt");
		sp_span parse = sp_begin("parse");
		parse_bytes(1000000u * (size_t)(i + 1));
		sp_end(parse);
		sp_span compute = sp_begin("compute");
		sp_attr_int(compute, "iterations", i);
		burn_cpu(60);
		sp_end(compute);
		sp_end(req);
	}
	return 0;
}
