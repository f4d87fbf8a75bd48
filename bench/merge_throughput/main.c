/*
 * merge_throughput - end-to-end speed and peak memory of 'spanprof merge'.
 *
 * For each size (default 1M and 10M events) it writes one synthetic log
 * through libcore's real writer (4 threads; per request: a "request" span
 * with a "kind" attribute, nested child spans, samples of 12-frame stacks
 * drawn from 64 distinct stacks), then runs the spanprof command (read,
 * decompress, symbolize, attribute, insert, index) as a child and prints
 * events per second (wall clock, and per CPU-second of the merge, steadier
 * on a shared machine) and the child's peak RSS (getrusage).
 *
 *   merge_throughput [EVENTS...] [--shape mixed|spans|samples] [--dir DIR] [--keep]
 *
 * Shapes, per request: mixed (the default, as in earlier rounds): one
 * child "parse", 7 samples (5 span events : 7 samples); spans: "parse"
 * and 5 "step" spans one after the other inside it, 1 sample (15 : 1);
 * samples: one child, 24 samples (5 : 24).
 * --keep leaves DIR/merge-bench-N/ (the log and bench.db) for inspection
 * (and for bench/merge_throughput/floor_ratio.sh).
 *
 * Threading: single-threaded generator; the merge runs in a child process.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log_writer.h"

#define BENCH_THREADS      4
#define BENCH_STACKS       64
#define BENCH_DEPTH        12
#define BENCH_MAX_CHILDREN 6

static uint64_t g_stacks[BENCH_STACKS][BENCH_DEPTH];
static int g_keep;
static int g_children = 1, g_samples = 7; /* per request: --shape */

static uint64_t events_per_request(void)
{
	return 3 + 2 * (uint64_t)g_children + (uint64_t)g_samples;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void make_stacks(void)
{
	for (int s = 0; s < BENCH_STACKS; s++)
		for (int d = 0; d < BENCH_DEPTH; d++) /* shared roots, distinct leaves */
			g_stacks[s][d] = 0x400000u + (uint64_t)(BENCH_DEPTH - d) * 0x1000u +
			                 (d < 4 ? (uint64_t)s * 0x10u : 0);
}

/* Span ids like the runtime's: random-looking 63-bit values (a bijective
 * mix of a counter), so the spans table sees realistic key order. */
static uint64_t span_id(uint64_t n)
{
	n ^= n >> 31;
	n *= 0x9E3779B97F4A7C15ull;
	n ^= n >> 29;
	return (n & 0x7fffffffffffffffull) | 1;
}

/* One request: "request" (with "kind"), a child "parse" and in it
 * g_children - 1 "step" spans one after the other, g_samples samples
 * inside "parse" (in the last step, if any), 10 ms in all. ids[0] is the
 * request's span id. */
static void one_request(lc_ring *ring, uint32_t tid, uint64_t *t, const uint64_t *ids)
{
	static const char *const kinds[] = {"json", "csv", "xml"};
	uint64_t id = ids[0];
	lc_rec_span_begin b = {
	    .ts = *t, .tid = tid, .span_id = id, .name = "request", .name_len = 7};
	lc_ring_span_begin(ring, &b);
	const char *k = kinds[(id >> 8) % 3];
	lc_rec_attr a = {.tid = tid,
	                 .span_id = id,
	                 .key = "kind",
	                 .key_len = 4,
	                 .kind = LC_ATTR_STR,
	                 .s = k,
	                 .s_len = (uint32_t)strlen(k)};
	lc_ring_attr(ring, &a);
	lc_rec_span_begin pb = {.ts = *t + 100000,
	                        .tid = tid,
	                        .span_id = ids[1],
	                        .parent_id = id,
	                        .name = "parse",
	                        .name_len = 5};
	lc_ring_span_begin(ring, &pb);
	for (int c = 2; c <= g_children; c++) { /* steps of 100 us, the last one open */
		lc_rec_span_begin sb = {.ts = *t + 100000 * (uint64_t)c,
		                        .tid = tid,
		                        .span_id = ids[c],
		                        .parent_id = ids[1],
		                        .name = "step",
		                        .name_len = 4};
		lc_ring_span_begin(ring, &sb);
		if (c < g_children) {
			lc_rec_span_end se = {
			    .ts = *t + 100000 * (uint64_t)c + 50000, .tid = tid, .span_id = ids[c]};
			lc_ring_span_end(ring, &se);
		}
	}
	uint64_t step_ns = g_samples > 7 ? 7000000 / (uint64_t)g_samples : 1000000;
	for (int i = 0; i < g_samples; i++) {
		lc_rec_sample smp = {.ts = *t + 800000 + (uint64_t)i * step_ns,
		                     .tid = tid,
		                     .nframes = BENCH_DEPTH,
		                     .pcs = g_stacks[((id >> 8) + (uint64_t)i) % BENCH_STACKS]};
		lc_ring_sample(ring, &smp);
	}
	if (g_children > 1) {
		lc_rec_span_end le = {.ts = *t + 7900000, .tid = tid, .span_id = ids[g_children]};
		lc_ring_span_end(ring, &le);
	}
	lc_rec_span_end pe = {.ts = *t + 8000000, .tid = tid, .span_id = ids[1]};
	lc_ring_span_end(ring, &pe);
	lc_rec_span_end e = {.ts = *t + 9000000, .tid = tid, .span_id = id};
	lc_ring_span_end(ring, &e);
	*t += 10000000; /* 10 ms */
}

/* Writes a log of about `events` records into dir; returns 0 or -1. */
static int generate(const char *dir, uint64_t events)
{
	setenv("SPANPROF_CLOCK", "monotonic", 1);
	lc_clock_init();
	lc_log_opts opts = {.dir = dir, .program = "bench"};
	if (lc_log_open(&opts, NULL))
		return -1;
	lc_ring *rings[BENCH_THREADS];
	uint64_t t[BENCH_THREADS];
	for (int i = 0; i < BENCH_THREADS; i++) {
		rings[i] = lc_ring_create(1000u + (uint32_t)i, 8u << 20);
		t[i] = lc_clock_ticks();
	}
	uint64_t requests = events / events_per_request();
	for (uint64_t r = 0; r < requests; r++) {
		int th = (int)(r % BENCH_THREADS);
		uint64_t ids[BENCH_MAX_CHILDREN + 1];
		for (int c = 0; c <= g_children; c++)
			ids[c] = span_id((BENCH_MAX_CHILDREN + 1) * r + 2 + (uint64_t)c);
		one_request(rings[th], 1000u + (uint32_t)th, &t[th], ids);
		if (r % 8192 == 8191)
			lc_log_flush();
	}
	for (int i = 0; i < BENCH_THREADS; i++)
		lc_ring_retire(rings[i]);
	lc_log_close();
	return 0;
}

static int run_merge(const char *cli, const char *dir, double *secs, double *cpu_s,
                     long *maxrss_kib)
{
	char out[4200];
	snprintf(out, sizeof out, "%s/bench.db", dir);
	double t0 = now_s();
	pid_t pid = fork();
	if (pid == 0) {
		execl(cli, cli, "merge", "-q", "--force", "-o", out, dir, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	*secs = now_s() - t0;
	*maxrss_kib = ru.ru_maxrss;
	*cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
	if (!g_keep)
		unlink(out);
	return 0;
}

static int bench_one(const char *cli, const char *base, uint64_t events)
{
	char dir[4000], cmd[4200];
	snprintf(dir, sizeof dir, "%s/merge-bench-%" PRIu64, base, events);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0 || generate(dir, events))
		return -1;
	char log[4200];
	snprintf(log, sizeof log, "%s/bench.%d.splog", dir, (int)getpid());
	struct stat sb;
	double secs = 0, cpu = 0;
	long rss = 0;
	if (stat(log, &sb) || run_merge(cli, dir, &secs, &cpu, &rss))
		return -1;
	uint64_t n = events / events_per_request() * events_per_request();
	printf("merge: %" PRIu64 " events, log %.1f MB: %.2f s wall, %.2f M events/s; %.2f s CPU,"
	       " %.2f M events per CPU-second; peak RSS %.1f MiB\n",
	       n, (double)sb.st_size / 1e6, secs, (double)n / secs / 1e6, cpu,
	       (double)n / cpu / 1e6, (double)rss / 1024.0);
	fflush(stdout);
	if (!g_keep && system(cmd) != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *cli = getenv("SPANPROF_CLI") ? getenv("SPANPROF_CLI") : SPANPROF_CLI_PATH;
	const char *base = "/tmp";
	uint64_t sizes[16];
	int n = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--keep"))
			g_keep = 1;
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			base = argv[++i];
		else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
			const char *shape = argv[++i];
			if (!strcmp(shape, "spans")) {
				g_children = BENCH_MAX_CHILDREN;
				g_samples = 1;
			} else if (!strcmp(shape, "samples")) {
				g_children = 1;
				g_samples = 24;
			} else if (strcmp(shape, "mixed")) {
				fprintf(stderr, "merge_throughput: --shape mixed|spans|samples\n");
				return 2;
			}
		} else if (n < 16)
			sizes[n++] = strtoull(argv[i], NULL, 10);
	}
	if (!n) {
		sizes[n++] = 1000000;
		sizes[n++] = 10000000;
	}
	make_stacks();
	for (int i = 0; i < n; i++)
		if (bench_one(cli, base, sizes[i])) {
			fprintf(stderr, "merge_throughput: failed for %" PRIu64 " events\n",
			        sizes[i]);
			return 1;
		}
	return 0;
}
