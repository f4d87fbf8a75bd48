/*
 * e2e_prog.c - a traced program for merge's end-to-end test: 30 "request"
 * spans carry an input "kind"; inside each, a "parse" span burns CPU in
 * parse_json or parse_csv depending on the kind (json twice as long); then
 * a "spawn" span forks a child that does its own "child-work" span.
 * Built -O2 -g; run under 'spanprof record'.
 */
#include <spanprof.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* xorshift steps in chunks long enough that the clock read is noise. */
#define BURN(ms)                                                                                   \
	do {                                                                                       \
		double end_ = cpu_ms() + (ms);                                                     \
		uint64_t x_ = sink | 1;                                                            \
		while (cpu_ms() < end_)                                                            \
			for (int i_ = 0; i_ < 200000; i_++) {                                      \
				x_ ^= x_ << 13;                                                    \
				x_ ^= x_ >> 7;                                                     \
				x_ ^= x_ << 17;                                                    \
			}                                                                          \
		sink = x_;                                                                         \
	} while (0)

__attribute__((noinline)) static void parse_json(void)
{
	BURN(16);
}
__attribute__((noinline)) static void parse_csv(void)
{
	BURN(8);
}
__attribute__((noinline)) static void child_work(void)
{
	BURN(40);
}

int main(void)
{
	for (int i = 0; i < 30; i++) {
		int json = i % 2 == 0;
		sp_span r = sp_begin("request");
		sp_attr_str(r, "kind", json ? "json" : "csv");
		sp_span p = sp_begin("parse");
		if (json)
			parse_json();
		else
			parse_csv();
		sp_end(p);
		sp_end(r);
	}
	sp_span s = sp_begin("spawn");
	pid_t pid = fork();
	if (pid == 0) {
		sp_span c = sp_begin("child-work");
		child_work();
		sp_end(c);
		exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	sp_end(s);
	return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
