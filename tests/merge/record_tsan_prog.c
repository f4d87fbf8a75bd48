/*
 * record_tsan_prog.c - a program built with -fsanitize=thread for
 * merge_record_refuse: `spanprof record` must refuse it with one line
 * rather than let it crash (docs/sampling.md says why). It starts a thread,
 * so that running it unrefused would reach the crash.
 */
#include <pthread.h>
#include <stdio.h>

static void *record_tsan_work(void *arg)
{
	volatile double x = 0;
	for (long i = 0; i < 20000000; i++)
		x += (double)i;
	return arg;
}

int main(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, record_tsan_work, NULL) != 0)
		return 1;
	pthread_join(t, NULL);
	puts("tsan program ran");
	return 0;
}
