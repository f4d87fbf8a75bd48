/*
 * rotate_prog.c - a deterministic traced program for the rotation tests:
 * THREADS threads (the main one included) each open a "session" span
 * (attributes thread, role) for their whole life and run ITERATIONS
 * "request" spans (attribute i), each holding a "work" span that burns
 * ~2 ms of CPU. Every sample therefore falls inside a span, and the
 * spans are the same in every run. With "kill" as third argument the
 * program SIGKILLs itself after its iterations, spans still open (a crash).
 * Usage: rotate_prog ITERATIONS THREADS [kill]
 */
#include <pthread.h>
#include <signal.h>
#include <spanprof.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile uint64_t sink;
static int iterations = 100;

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

__attribute__((noinline)) static void work(double ms)
{
	double end = cpu_ms() + ms;
	uint64_t x = sink | 1;
	while (cpu_ms() < end)
		for (int i = 0; i < 20000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
	sink = x;
}

static void *worker(void *arg)
{
	intptr_t index = (intptr_t)arg;
	sp_span session = sp_begin("session");
	sp_attr_int(session, "thread", index);
	sp_attr_str(session, "role", index ? "worker" : "main");
	for (int i = 0; i < iterations; i++) {
		sp_span r = sp_begin("request");
		sp_attr_int(r, "i", i);
		sp_span w = sp_begin("work");
		work(2.0);
		sp_end(w);
		sp_end(r);
	}
	sp_end(session);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	iterations = argc > 1 ? atoi(argv[1]) : 100;
	if (threads < 1 || threads > 16)
		return 2;
	pthread_t t[16];
	for (intptr_t i = 1; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	if (argc > 3 && !strcmp(argv[3], "kill")) {
		sp_span session = sp_begin("session");
		for (int i = 0; i < iterations; i++) {
			sp_span r = sp_begin("request");
			work(2.0);
			sp_end(r);
		}
		(void)session; /* left open: the crash cuts it */
		raise(SIGKILL);
	}
	worker((void *)0);
	for (int i = 1; i < threads; i++)
		pthread_join(t[i], NULL);
	return 0;
}
