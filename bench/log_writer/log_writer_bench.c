/*
 * log_writer_bench.c - what the event log costs the program and the disk.
 *
 * For 1 and for 2 producer threads it prints:
 *   - events accepted per second per thread when producing flat out
 *     (each event = one lc_clock_ticks() read + one ring push, exactly what
 *     the tracer does per sp_begin / sp_end),
 *   - bytes per span on disk (file size / spans written),
 *   - events lost (ring full) at full speed and when paced at 5 million
 *     events per second per thread.
 *
 * Generator: a stream of nested spans with literal (interned) names. A
 * "request" span holds 1-4 "parse" spans, each holding 0-3 "token" spans
 * (counts from a xorshift PRNG, fixed seed per thread). In the paced runs
 * the thread also spins a pseudo-random 0-63 multiply iterations between
 * consecutive events, so span durations vary from tens of ns to several
 * hundred ns, like real code; the "max" runs leave that out so that they
 * measure the producer path alone (clock read + ring push per event).
 *
 * Usage: bench_log_writer [seconds per run, default 1] [output dir, default /tmp]
 * Threading: producers are plain threads, each with its own ring.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log_writer.h"

typedef struct producer {
	pthread_t th;
	int index;
	double seconds;      /* run time, or 0 = until max_events */
	uint64_t max_events; /* producer-only mode */
	size_t ring_bytes;   /* 0 = default */
	double paced_rate;   /* events/s per thread, 0 = flat out */
	uint64_t accepted, lost, spans;
	double elapsed_s;
} producer;

static volatile uint64_t sink;

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int work_enabled;

static void work(uint64_t *rng)
{
	if (!work_enabled)
		return;
	uint64_t n = xorshift(rng) & 63, acc = 1;
	for (uint64_t i = 0; i < n; i++)
		acc = acc * 6364136223846793005u + i;
	sink = acc;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct gen {
	lc_ring *ring;
	uint64_t rng, next_span, accepted, lost, spans;
	uint64_t start_ns;
	double paced_rate;
	uint64_t paced_start, paced_base;
} gen;

/* Paced mode: wait until the schedule allows the next event. A thread that
 * was descheduled does not burst to catch up (a program would not either):
 * when it is more than 100 us behind, the schedule restarts from now. */
static void pace(gen *g)
{
	if (g->paced_rate <= 0)
		return;
	uint64_t n = g->accepted + g->lost - g->paced_base;
	uint64_t due = g->paced_start + (uint64_t)((double)n * 1e9 / g->paced_rate);
	uint64_t now = now_ns();
	if (now > due + 100000) {
		g->paced_start = now;
		g->paced_base = g->accepted + g->lost;
		return;
	}
	while (now < due)
		now = now_ns();
}

static uint64_t begin(gen *g, uint32_t name_id, uint64_t parent)
{
	pace(g);
	uint64_t id = ++g->next_span;
	lc_rec_span_begin b = {
	    .ts = lc_clock_ticks(), .span_id = id, .parent_id = parent, .name_id = name_id};
	if (lc_ring_span_begin(g->ring, &b) == 0)
		g->accepted++;
	else
		g->lost++;
	work(&g->rng);
	return id;
}

static void end(gen *g, uint64_t id)
{
	pace(g);
	lc_rec_span_end e = {.ts = lc_clock_ticks(), .span_id = id};
	if (lc_ring_span_end(g->ring, &e) == 0) {
		g->accepted++;
		g->spans++; /* spans whose end reached the log */
	} else {
		g->lost++;
	}
	work(&g->rng);
}

static void request(gen *g)
{
	uint64_t req = begin(g, 1, 0);
	int parses = 1 + (int)(xorshift(&g->rng) & 3);
	for (int p = 0; p < parses; p++) {
		uint64_t parse = begin(g, 2, req);
		int tokens = (int)(xorshift(&g->rng) % 4);
		for (int t = 0; t < tokens; t++)
			end(g, begin(g, 3, parse));
		end(g, parse);
	}
	end(g, req);
}

static void *producer_main(void *arg)
{
	producer *p = arg;
	gen g = {.rng = 0x9e3779b97f4a7c15u + (uint64_t)p->index,
	         .next_span = (uint64_t)p->index << 40,
	         .paced_rate = p->paced_rate};
	g.ring = lc_ring_create((uint32_t)gettid(), p->ring_bytes);
	if (!g.ring)
		abort();
	if (p->max_events) /* producer-only runs: warm, like a reused ring */
		memset(g.ring->buf, 0, g.ring->cap_words * 8);
	g.start_ns = now_ns();
	g.paced_start = g.start_ns;
	uint64_t stop = g.start_ns + (uint64_t)(p->seconds * 1e9);
	if (p->max_events)
		while (g.accepted + g.lost < p->max_events)
			request(&g);
	else
		while (now_ns() < stop)
			for (int i = 0; i < 64; i++)
				request(&g);
	p->elapsed_s = (double)(now_ns() - g.start_ns) / 1e9;
	p->accepted = g.accepted;
	p->lost = g.lost;
	p->spans = g.spans;
	lc_ring_retire(g.ring);
	return NULL;
}

static void intern_names(void)
{
	static const char *names[] = {"request", "parse", "token"};
	for (uint32_t i = 0; i < 3; i++) {
		lc_record s = {.type = LC_REC_STRING};
		s.u.string = (lc_rec_string){
		    .id = i + 1, .len = (uint32_t)strlen(names[i]), .bytes = names[i]};
		lc_log_meta(&s, 1);
	}
}

typedef struct run_spec {
	const char *label;
	int threads;
	double seconds, paced_rate;
	uint64_t max_events;
	size_t ring_bytes;
} run_spec;

typedef struct run_result {
	uint64_t accepted, lost, spans, file_bytes;
	double rate_per_thread;
} run_result;

static void run(const run_spec *spec, const char *dir, run_result *res)
{
	work_enabled = spec->paced_rate > 0;
	char program[64];
	snprintf(program, sizeof program, "bench-%dt-%s", spec->threads, spec->label);
	lc_log_opts opts = {.dir = dir, .program = program};
	if (lc_log_open(&opts, NULL) != 0) {
		fprintf(stderr, "cannot open a log in %s\n", dir);
		exit(1);
	}
	char path[512];
	snprintf(path, sizeof path, "%s", lc_log_path());
	intern_names();
	producer p[2];
	for (int i = 0; i < spec->threads; i++) {
		p[i] = (producer){.index = i,
		                  .seconds = spec->seconds,
		                  .paced_rate = spec->paced_rate,
		                  .max_events = spec->max_events,
		                  .ring_bytes = spec->ring_bytes};
		pthread_create(&p[i].th, NULL, producer_main, &p[i]);
	}
	*res = (run_result){0};
	for (int i = 0; i < spec->threads; i++) {
		pthread_join(p[i].th, NULL);
		res->accepted += p[i].accepted;
		res->lost += p[i].lost;
		res->spans += p[i].spans;
		res->rate_per_thread += (double)p[i].accepted / p[i].elapsed_s / spec->threads;
	}
	lc_log_close();
	struct stat st;
	res->file_bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	unlink(path);
}

static void print_result(const run_spec *spec, const run_result *r)
{
	uint64_t offered = r->accepted + r->lost;
	printf("%d thread(s) %-8s: %6.1f M events/s/thread accepted, %5.2f bytes/span on disk, "
	       "%llu of %llu events lost (%.2f%%)\n",
	       spec->threads, spec->label, r->rate_per_thread / 1e6,
	       (double)r->file_bytes / (double)(r->spans ? r->spans : 1),
	       (unsigned long long)r->lost, (unsigned long long)offered,
	       100.0 * (double)r->lost / (double)(offered ? offered : 1));
}

/* Producer cost alone: a ring big enough that it never fills during the
 * run, best of 5 (the machine is shared). */
static void run_producer_only(int threads, const char *dir)
{
	run_spec spec = {.label = "producer",
	                 .threads = threads,
	                 .max_events = 1000000,
	                 .ring_bytes = 128u << 20};
	run_result best = {0}, r;
	for (int i = 0; i < 5; i++) {
		run(&spec, dir, &r);
		if (r.rate_per_thread > best.rate_per_thread)
			best = r;
	}
	print_result(&spec, &best);
}

/* Writer speed alone: 2M events are pushed into a ring before any log is
 * open (nothing drains them), then one lc_log_flush() encodes, compresses
 * and writes them all; best of 3. */
static void run_drain_only(const char *dir)
{
	double best = 0;
	for (int rep = 0; rep < 3; rep++) {
		gen g = {.rng = 12345, .ring = lc_ring_create(1, 128u << 20)};
		while (g.accepted + g.lost < 2000000)
			request(&g);
		lc_log_opts opts = {.dir = dir, .program = "bench-drain"};
		if (lc_log_open(&opts, NULL) != 0)
			exit(1);
		char path[512];
		snprintf(path, sizeof path, "%s", lc_log_path());
		uint64_t t0 = now_ns();
		lc_log_flush();
		double rate = (double)g.accepted / ((double)(now_ns() - t0) / 1e9);
		lc_ring_retire(g.ring);
		lc_log_close();
		unlink(path);
		if (rate > best)
			best = rate;
	}
	printf("writer drain: %6.1f M events/s (encode + LZ4 + write, one thread)\n", best / 1e6);
}

/* The ring of the max and paced runs: $SPANPROF_BUFFER_KB read as the
 * runtime reads it (a size, a bare number in KiB), else the default. */
static size_t ring_bytes_from_env(void)
{
	const char *env = getenv("SPANPROF_BUFFER_KB");
	uint64_t bytes = LC_RING_DEFAULT_BYTES;
	if (env && *env &&
	    (lc_parse_size(env, 1024u, &bytes) != 0 || bytes < LC_RING_MIN_BYTES ||
	     bytes > LC_RING_MAX_BYTES)) {
		fprintf(stderr, "invalid SPANPROF_BUFFER_KB=\"%s\"\n", env);
		exit(2);
	}
	return (size_t)bytes;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	const char *dir = argc > 2 ? argv[2] : "/tmp";
	size_t ring_bytes = ring_bytes_from_env();
	lc_clock_init();
	printf("producer: 1M events into a 128 MiB ring (never full), best of 5\n"
	       "max: flat out for %.1f s, paced: 5 M events/s/thread for %.1f s; ring %u KiB "
	       "(SPANPROF_BUFFER_KB), flush every 100 ms\n",
	       seconds, seconds, (unsigned)(ring_bytes / 1024u));
	run_drain_only(dir);
	for (int threads = 1; threads <= 2; threads++) {
		run_producer_only(threads, dir);
		run_spec max = {.label = "max",
		                .threads = threads,
		                .seconds = seconds,
		                .ring_bytes = ring_bytes};
		run_spec paced = {.label = "paced",
		                  .threads = threads,
		                  .seconds = seconds,
		                  .paced_rate = 5e6,
		                  .ring_bytes = ring_bytes};
		run_result r;
		run(&max, dir, &r);
		print_result(&max, &r);
		run(&paced, dir, &r);
		print_result(&paced, &r);
	}
	return 0;
}
