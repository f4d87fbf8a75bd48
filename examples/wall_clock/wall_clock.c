/*
 * wall_clock.c - a program that spends most of its time waiting, not
 * computing: on-CPU sampling hides the waits, wall-clock sampling shows
 * where they are.
 *
 * The main thread runs ITERATIONS iterations, each a span "iteration"
 * holding three steps:
 *   wait_for_input - a blocking read() on a pipe that a feeder thread
 *                    writes one byte into every ~4 ms (I/O wait);
 *   take_lock      - pthread_mutex_lock on a mutex that a holder thread
 *                    keeps for ~2 ms at a time (lock wait);
 *   compute        - ~0.5 ms of arithmetic (the only CPU time).
 * `spanprof record` (cpu mode) samples the main thread mostly in compute;
 * `spanprof record --wall` samples it where it waits, at the read and the
 * lock call sites.
 *
 * Every sleep and read loops on EINTR: wall mode interrupts blocked
 * threads with its signal (docs/sampling.md).
 *
 * Usage: wall_clock [ITERATIONS]   (default 200)
 * Threading: main + feeder + holder threads; a pipe and one mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <spanprof.h>

static int pipe_fds[2];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int stopping;
static volatile uint64_t sink;

/* Sleeps the full time even when signals interrupt it. */
static void sleep_us(long us)
{
	struct timespec left = {us / 1000000, (us % 1000000) * 1000};
	while (nanosleep(&left, &left) != 0 && errno == EINTR)
		;
}

static void *feeder_main(void *arg)
{
	(void)arg;
	while (!stopping) {
		sleep_us(4000);
		char byte = 'x';
		while (write(pipe_fds[1], &byte, 1) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

static void *holder_main(void *arg)
{
	(void)arg;
	while (!stopping) {
		pthread_mutex_lock(&shared_lock);
		sleep_us(2000);
		pthread_mutex_unlock(&shared_lock);
		sleep_us(100);
	}
	return NULL;
}

static __attribute__((noinline)) int wait_for_input(void)
{
	char byte;
	ssize_t n;
	while ((n = read(pipe_fds[0], &byte, 1)) < 0 && errno == EINTR)
		;
	return n == 1 ? 0 : -1;
}

static __attribute__((noinline)) void take_lock(void)
{
	pthread_mutex_lock(&shared_lock);
	sink++;
	pthread_mutex_unlock(&shared_lock);
}

static __attribute__((noinline)) void compute(void)
{
	uint64_t h = sink;
	for (int i = 0; i < 400000; i++)
		h = (h ^ (uint64_t)i) * 0x100000001b3ULL;
	sink = h;
}

int main(int argc, char **argv)
{
	int iterations = argc > 1 ? atoi(argv[1]) : 200;
	if (iterations <= 0 || pipe(pipe_fds) != 0) {
		fprintf(stderr, "usage: wall_clock [ITERATIONS]\n");
		return 2;
	}
	pthread_t feeder, holder;
	pthread_create(&feeder, NULL, feeder_main, NULL);
	pthread_create(&holder, NULL, holder_main, NULL);
	for (int i = 0; i < iterations; i++) {
		SP_SCOPE("iteration");
		if (wait_for_input() != 0)
			break;
		take_lock();
		compute();
	}
	stopping = 1;
	pthread_join(holder, NULL);
	pthread_join(feeder, NULL); /* its last write fits in the pipe */
	printf("wall_clock: %d iterations\n", iterations);
	return 0;
}
