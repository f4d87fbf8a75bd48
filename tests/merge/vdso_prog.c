/*
 * vdso_prog.c - calls clock_gettime in a hot loop for about 300 ms, so
 * that most of its samples land in the vDSO (merge_vdso).
 */
#include <stdio.h>
#include <time.h>

int main(void)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	long calls = 0;
	do {
		clock_gettime(CLOCK_MONOTONIC, &now);
		calls++;
	} while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) <
	         300000000L);
	printf("%ld calls\n", calls);
	return 0;
}
