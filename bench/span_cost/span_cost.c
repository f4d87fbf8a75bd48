/*
 * span_cost.c - what a span costs the traced thread.
 *
 * Prints, from one run, ns per iteration of loops that do sp_begin+sp_end
 * (no attribute, one int attribute, one string attribute, a name from a
 * writable buffer) with the runtime on and off, and compiled out (a second
 * TU built with SPANPROF_DISABLE), each minus an empty-loop baseline.
 *
 * Method: the runtime records into the default per-thread ring (256 KiB);
 * the loops run in batches of 1000 spans that fit in half of it, and
 * between batches, outside the timed region, the log is flushed, so the
 * timed loop never hits a full ring (a full ring drops records, which is
 * cheaper and would flatter the figures; lost counts are printed from the
 * log's own counter). The spans are children of an open span (the common
 * case: same trace id); one row shows root spans, which draw a new 128-bit
 * trace id each. Each
 * configuration runs ROUNDS times, interleaved with the others; the
 * minimum (the least disturbed round: the machine is shared) and the median
 * are printed. Sampling is off (SPANPROF_MODE=off equivalent): this is the
 * tracer's cost alone.
 *
 * Usage: span_cost [ROUNDS]   (default 11)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log_reader.h"
#include "log_writer.h"
#include "spanprof.h"

static volatile uint64_t clock_sink;

#define BARRIER() __asm__ volatile("" ::: "memory")
/* 1000 spans of at most 104 bytes (begin, attribute, end) stay under half
 * of the default 256 KiB ring: the writer is never woken inside the timed
 * loop (crossing half full wakes it, and then the other core reads the
 * ring, which inflated the cost per span in a first version of this bench:
 * docs/performance.md, "Span tracer"), and the ring stays in the L2 cache
 * as it would in a program that makes spans at a sane rate. */
#define BATCH   1000L
#define BATCHES 600

void bench_loop_disabled(long n);
void bench_loop_disabled_scope(long n);

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static __attribute__((noinline)) void loop_empty(long n)
{
	for (long i = 0; i < n; i++)
		BARRIER();
}

/* The floor of a span: the two clock reads it cannot avoid (begin, end). */
static __attribute__((noinline)) void loop_two_clock_reads(long n)
{
	uint64_t sum = 0;
	for (long i = 0; i < n; i++) {
		sum += lc_clock_ticks();
		sum += lc_clock_ticks();
		BARRIER();
	}
	clock_sink = sum;
}

static __attribute__((noinline)) void loop_plain(long n)
{
	for (long i = 0; i < n; i++) {
		sp_span s = sp_begin("plain");
		sp_end(s);
		BARRIER();
	}
}

static __attribute__((noinline)) void loop_int(long n)
{
	for (long i = 0; i < n; i++) {
		sp_span s = sp_begin("with-int");
		sp_attr_int(s, "bytes", i);
		sp_end(s);
		BARRIER();
	}
}

static __attribute__((noinline)) void loop_str(long n)
{
	for (long i = 0; i < n; i++) {
		sp_span s = sp_begin("with-str");
		sp_attr_str(s, "kind", "json");
		sp_end(s);
		BARRIER();
	}
}

static __attribute__((noinline)) void loop_root(long n)
{
	for (long i = 0; i < n; i++) {
		sp_span s = sp_begin("root");
		sp_end(s);
		BARRIER();
	}
}

static __attribute__((noinline)) void loop_scope(long n)
{
	for (long i = 0; i < n; i++) {
		SP_SCOPE("scope");
		BARRIER();
	}
}

static char name_buf[32] = "buffer-name";

static __attribute__((noinline)) void loop_buffer_name(long n)
{
	for (long i = 0; i < n; i++) {
		sp_span s = sp_begin(name_buf);
		sp_end(s);
		BARRIER();
	}
}

typedef struct config {
	const char *label;
	void (*loop)(long);
	int runtime_on;
	int root;      /* run outside any open span */
	double ns[64]; /* per round */
} config;

static config configs[] = {
    {"empty loop (baseline)", loop_empty, 0, 0, {0}},
    {"two clock reads (a span's floor)", loop_two_clock_reads, 0, 0, {0}},
    {"compiled out: begin+attr+end", bench_loop_disabled, 0, 0, {0}},
    {"compiled out: SP_SCOPE", bench_loop_disabled_scope, 0, 0, {0}},
    {"off: begin+end", loop_plain, 0, 0, {0}},
    {"off: begin+int+end", loop_int, 0, 0, {0}},
    {"off: begin+str+end", loop_str, 0, 0, {0}},
    {"on: begin+end", loop_plain, 1, 0, {0}},
    {"on: begin+int+end", loop_int, 1, 0, {0}},
    {"on: begin+str+end", loop_str, 1, 0, {0}},
    {"on: SP_SCOPE", loop_scope, 1, 0, {0}},
    {"on: begin+end, root span (new trace)", loop_root, 1, 1, {0}},
    {"on: begin+end, name in a buffer", loop_buffer_name, 1, 0, {0}},
};
#define NCONFIGS (sizeof configs / sizeof configs[0])

/* ns per iteration over BATCHES batches, flushing between batches. */
static double run_config(const config *c)
{
	uint64_t total = 0;
	sp_span parent = c->root ? (sp_span){0, 0, 0} : sp_begin("parent");
	c->loop(1000); /* warm: site caches, ring pages */
	if (c->runtime_on)
		lc_log_flush();
	for (int b = 0; b < BATCHES; b++) {
		uint64_t t0 = now_ns();
		c->loop(BATCH);
		total += now_ns() - t0;
		if (c->runtime_on)
			lc_log_flush();
	}
	sp_end(parent);
	return (double)total / (double)(BATCH * BATCHES);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double minimum(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static double median(double *v, int n)
{
	double tmp[64];
	memcpy(tmp, v, sizeof(double) * (size_t)n);
	qsort(tmp, (size_t)n, sizeof tmp[0], cmp_double);
	return tmp[n / 2];
}

static char log_dir[600];

/* Each start gets a directory of its own: a log's name is program.pid. */
static int start_in_subdir(const char *dir, int round, size_t config)
{
	snprintf(log_dir, sizeof log_dir, "%s/r%d-c%zu", dir, round, config);
	sp_config cfg = {.out_dir = log_dir, .mode = SP_MODE_OFF};
	return sp_start(&cfg);
}

/* Adds the spans and lost events of the log just closed (the log's own
 * counters: LOST records are cumulative per thread, the last one counts). */
static void count_log(uint64_t *spans, uint64_t *lost)
{
	char path[700];
	snprintf(path, sizeof path, "%s/span_cost.%d.splog", log_dir, (int)getpid());
	lc_reader *r = NULL;
	uint64_t last_lost = 0;
	if (lc_reader_open(path, &r) != 0)
		return;
	lc_record rec;
	while (lc_reader_next(r, &rec) == 1) {
		if (rec.type == LC_REC_SPAN_BEGIN)
			(*spans)++;
		else if (rec.type == LC_REC_LOST && rec.u.lost.kind == LC_LOST_EVENTS)
			last_lost = rec.u.lost.count;
	}
	*lost += last_lost;
	lc_reader_close(r);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 11;
	if (rounds < 1 || rounds > 64)
		rounds = 11;
	lc_clock_init(); /* the floor loop reads the same clock as the spans */
	char dir[] = "/tmp/span_cost_XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	uint64_t spans = 0, lost = 0;
	for (int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < NCONFIGS; i++) {
			config *c = &configs[(i + (size_t)r) % NCONFIGS]; /* rotate order */
			if (c->runtime_on && !sp_active() && start_in_subdir(dir, r, i) != 0)
				return 1;
			if (!c->runtime_on && sp_active()) {
				sp_stop();
				count_log(&spans, &lost);
			}
			c->ns[r] = run_config(c);
		}
	}
	if (sp_active()) {
		sp_stop();
		count_log(&spans, &lost);
	}

	/* min: the least disturbed round (the machine is shared); median too */
	double base = minimum(configs[0].ns, rounds), base_med = median(configs[0].ns, rounds);
	double floor_ns = minimum(configs[1].ns, rounds) - base;
	printf("span_cost: %d rounds x %d batches x %ld iterations, sampling off\n", rounds,
	       BATCHES, BATCH);
	printf("%-38s %9s %9s %12s %12s\n", "loop (ns per iteration)", "min", "median", "min-empty",
	       "min-floor");
	for (size_t i = 0; i < NCONFIGS; i++) {
		double m = minimum(configs[i].ns, rounds), med = median(configs[i].ns, rounds);
		printf("%-38s %9.2f %9.2f %12.2f", configs[i].label, m, med, m - base);
		if (configs[i].runtime_on)
			printf(" %12.2f", m - base - floor_ns);
		printf("\n");
	}
	(void)base_med;
	printf("spans recorded (all runs, read back from the logs): %llu, lost events: %llu\n",
	       (unsigned long long)spans, (unsigned long long)lost);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
