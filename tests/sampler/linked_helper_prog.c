/*
 * linked_helper_prog.c - a program linked with -lspanprof (shared) that
 * starts the runtime itself: one thread exists before sp_start (documented
 * as not sampled), two are created after it (sampled through the
 * pthread_create interposition in libspanprof.so), and the calling thread.
 * Usage: sampler_linked_helper DIR. Writes "tid_before tid_a tid_b tid_main"
 * into DIR/tids.txt.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <spanprof.h>

#include "spin.h"

static pthread_barrier_t g_started;

static void *spinner(void *arg)
{
	*(pid_t *)arg = gettid();
	pthread_barrier_wait(&g_started);
	spin(0.3);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	pid_t tids[4] = {0, 0, 0, gettid()};
	pthread_t t[3];
	pthread_barrier_init(&g_started, NULL, 2);
	pthread_create(&t[0], NULL, spinner, &tids[0]); /* before sp_start */
	sp_config cfg = {.out_dir = argv[1], .hz = 999, .mode = SP_MODE_CPU};
	int rc = sp_start(&cfg);
	if (rc != 0) {
		fprintf(stderr, "sp_start: %s\n", sp_strerror(rc));
		return 1;
	}
	pthread_barrier_wait(&g_started);
	pthread_barrier_destroy(&g_started);
	pthread_barrier_init(&g_started, NULL, 1);
	pthread_create(&t[1], NULL, spinner, &tids[1]);
	pthread_create(&t[2], NULL, spinner, &tids[2]);
	spin(0.2);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	sp_stop();
	char path[4096];
	snprintf(path, sizeof path, "%s/tids.txt", argv[1]);
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f, "%d %d %d %d\n", (int)tids[0], (int)tids[1], (int)tids[2], (int)tids[3]);
	return fclose(f) == 0 ? 0 : 1;
}
