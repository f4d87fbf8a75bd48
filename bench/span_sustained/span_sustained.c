/*
 * span_sustained.c - what spans cost, and whether any is lost, when a
 * program makes them without pause, as programs do.
 *
 * Unlike span_cost (batches that fit in the ring, flushed between batches),
 * nothing here helps the runtime: every configuration runs in its own child
 * process that makes nested spans (one root span per thread; under it a
 * child span with one int attribute per iteration, the work between begin
 * and end writing to a volatile so it stays inside the span) for a fixed
 * number of iterations, sustained, with the default settings. A CPU-bound
 * neighbour process (a busy loop) can run beside it on the same 2 cores.
 *
 * Per configuration it prints:
 * - ns/span (thread CPU): the producing thread's CPU time per span minus
 *   the same loop without spans (runtime off), median over rounds. This is
 *   what the program's own threads pay, drains they did themselves
 *   included.
 * - ns/span (process CPU): user+sys CPU of the whole process (the writer
 *   thread included) per span, over the same loop without spans.
 * - events/s: span records written per second of wall time.
 * - lost: records missing from the log (expected minus read back) and the
 *   log's own LOST count; both must be 0 under the default policy.
 * - peak RSS of the child process (MiB).
 * - worst us, >50us: one more pass with each span's own calls timed
 *   (begin + attribute, end): the slowest, and how many took over 50 us
 *   (a thread that drained the log itself, or was descheduled).
 *
 * Usage: span_sustained [ITERATIONS [ROUNDS]]   (default 200000 and 5)
 *        SPANPROF_ON_FULL and SPANPROF_BUFFER_KB pass through.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log_reader.h"
#include "spanprof.h"

#define MAX_THREADS 2
#define MAX_ROUNDS  15

typedef struct config {
	const char *label;
	int threads;
	int work_steps; /* xorshift steps inside each child span; 0 = back to back */
	int neighbour;
} config;

typedef struct result {
	double work_ns;             /* median thread CPU per iteration without spans */
	double thread_ns_per_span;  /* median over rounds, over the baseline */
	double process_ns_per_span; /* whole process CPU, over the baseline */
	double events_per_s;
	uint64_t expected, read_back, lost_logged;
	double peak_rss_mib;
	double worst_us; /* latency pass: the slowest span's own calls */
	uint64_t slow;   /* latency pass: spans whose calls took > 50 us */
} result;

static volatile uint64_t sink;
static long iterations = 200000;
static int rounds = 5;

static uint64_t ns_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t process_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

static inline uint64_t work(uint64_t x, int steps)
{
	for (int i = 0; i < steps; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

static __attribute__((noinline)) void loop_plain(long n, int steps)
{
	uint64_t x = 88172645463325252ull;
	for (long i = 0; i < n; i++) {
		x = work(x, steps);
		sink = x;
	}
}

static __attribute__((noinline)) void loop_spans(long n, int steps)
{
	uint64_t x = 88172645463325252ull;
	sp_span root = sp_begin("root");
	for (long i = 0; i < n; i++) {
		sp_span s = sp_begin("child");
		sp_attr_int(s, "i", i);
		x = work(x, steps);
		sink = x;
		sp_end(s);
	}
	sp_end(root);
}

/* The latency pass: each span's own calls timed (begin+attribute, end);
 * the worst one shows what a thread waits when it drains the log itself. */
static __attribute__((noinline)) uint64_t loop_spans_timed(long n, int steps, uint64_t *slow)
{
	uint64_t x = 88172645463325252ull, worst = 0;
	sp_span root = sp_begin("root");
	for (long i = 0; i < n; i++) {
		uint64_t t0 = ns_of(CLOCK_MONOTONIC);
		sp_span s = sp_begin("child");
		sp_attr_int(s, "i", i);
		uint64_t t1 = ns_of(CLOCK_MONOTONIC);
		x = work(x, steps);
		sink = x;
		uint64_t t2 = ns_of(CLOCK_MONOTONIC);
		sp_end(s);
		uint64_t t3 = ns_of(CLOCK_MONOTONIC);
		uint64_t d = (t1 - t0) + (t3 - t2);
		worst = d > worst ? d : worst;
		*slow += d > 50000;
	}
	sp_end(root);
	return worst;
}

typedef struct worker {
	pthread_t thread;
	int steps, with_spans; /* with_spans 2: the latency pass */
	uint64_t cpu_ns, worst_ns, slow;
	pthread_barrier_t *start;
} worker;

static void *worker_main(void *arg)
{
	worker *w = arg;
	pthread_barrier_wait(w->start);
	uint64_t t0 = ns_of(CLOCK_THREAD_CPUTIME_ID);
	if (w->with_spans == 2)
		w->worst_ns = loop_spans_timed(iterations, w->steps, &w->slow);
	else if (w->with_spans)
		loop_spans(iterations, w->steps);
	else
		loop_plain(iterations, w->steps);
	w->cpu_ns = ns_of(CLOCK_THREAD_CPUTIME_ID) - t0;
	return NULL;
}

/* Runs one phase on `threads` threads; returns the mean thread CPU ns per
 * iteration, and the wall and process CPU time of the phase. */
static uint64_t phase_worst_ns, phase_slow;

static double run_phase(int threads, int steps, int with_spans, uint64_t *wall_ns,
                        uint64_t *proc_ns)
{
	worker w[MAX_THREADS];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++) {
		w[i] = (worker){.steps = steps, .with_spans = with_spans, .start = &start};
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	uint64_t p0 = process_cpu_ns();
	uint64_t t0 = ns_of(CLOCK_MONOTONIC);
	pthread_barrier_wait(&start);
	uint64_t cpu = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		cpu += w[i].cpu_ns;
		phase_worst_ns = w[i].worst_ns > phase_worst_ns ? w[i].worst_ns : phase_worst_ns;
		phase_slow += w[i].slow;
	}
	*wall_ns = ns_of(CLOCK_MONOTONIC) - t0;
	*proc_ns = process_cpu_ns() - p0;
	pthread_barrier_destroy(&start);
	return (double)cpu / threads / (double)iterations;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Counts the span records in every log of dir and the last LOST(events)
 * count of each thread. */
static void read_logs(const char *dir, uint64_t *records, uint64_t *lost)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "ls %s/*.splog 2>/dev/null", dir);
	FILE *ls = popen(cmd, "r");
	char path[400];
	*records = *lost = 0;
	while (ls && fgets(path, sizeof path, ls)) {
		path[strcspn(path, "\n")] = 0;
		lc_reader *r;
		if (lc_reader_open(path, &r) != 0)
			continue;
		lc_record rec;
		uint64_t last_lost[64] = {0};
		uint32_t tids[64] = {0};
		while (lc_reader_next(r, &rec) == 1) {
			if (rec.type == LC_REC_SPAN_BEGIN || rec.type == LC_REC_SPAN_END ||
			    rec.type == LC_REC_ATTR)
				(*records)++;
			if (rec.type == LC_REC_LOST && rec.u.lost.kind == LC_LOST_EVENTS) {
				int k = 0;
				while (k < 63 && tids[k] && tids[k] != rec.u.lost.tid)
					k++;
				tids[k] = rec.u.lost.tid;
				last_lost[k] = rec.u.lost.count;
			}
		}
		for (int k = 0; k < 64; k++)
			*lost += last_lost[k];
		lc_reader_close(r);
	}
	if (ls)
		pclose(ls);
}

/* The child: baseline and spans interleaved, `rounds` times each. */
static void child_run(const config *c, const char *dir, int out_fd)
{
	double diff[MAX_ROUNDS], proc_diff[MAX_ROUNDS], plain_ns[MAX_ROUNDS];
	uint64_t span_wall = 0;
	for (int r = 0; r < rounds; r++) {
		uint64_t wall, proc_plain, proc_spans;
		double plain = run_phase(c->threads, c->work_steps, 0, &wall, &proc_plain);
		sp_config cfg = {.out_dir = dir, .mode = SP_MODE_OFF};
		if (sp_start(&cfg) != 0)
			_exit(2);
		double spans = run_phase(c->threads, c->work_steps, 1, &wall, &proc_spans);
		sp_stop();
		span_wall += wall;
		diff[r] = spans - plain;
		plain_ns[r] = plain;
		proc_diff[r] =
		    ((double)proc_spans - (double)proc_plain) / ((double)iterations * c->threads);
	}
	/* The latency pass, into the same log directory (counted below). */
	sp_config cfg = {.out_dir = dir, .mode = SP_MODE_OFF};
	if (sp_start(&cfg) != 0)
		_exit(2);
	uint64_t wall, proc;
	run_phase(c->threads, c->work_steps, 2, &wall, &proc);
	sp_stop();
	result res = {0};
	res.worst_us = (double)phase_worst_ns / 1e3;
	res.slow = phase_slow;
	res.work_ns = median(plain_ns, rounds);
	res.thread_ns_per_span = median(diff, rounds);
	res.process_ns_per_span = median(proc_diff, rounds);
	res.expected =
	    (uint64_t)(rounds + 1) * (uint64_t)c->threads * (3u * (uint64_t)iterations + 2u);
	read_logs(dir, &res.read_back, &res.lost_logged);
	res.events_per_s = (double)rounds * (double)c->threads * (3.0 * (double)iterations + 2) /
	                   ((double)span_wall / 1e9);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	res.peak_rss_mib = (double)ru.ru_maxrss / 1024.0;
	if (write(out_fd, &res, sizeof res) != (ssize_t)sizeof res)
		_exit(3);
	_exit(0);
}

static pid_t start_neighbour(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		volatile uint64_t x = 1;
		for (;;)
			x = work(x, 64);
	}
	return pid;
}

static int run_config(const config *c, result *res)
{
	char dir[] = "/tmp/span_sustained.XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	pid_t neighbour = c->neighbour ? start_neighbour() : 0;
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child_run(c, dir, fds[1]);
	}
	close(fds[1]);
	ssize_t n = read(fds[0], res, sizeof *res);
	close(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	if (neighbour > 0) {
		kill(neighbour, SIGKILL);
		waitpid(neighbour, NULL, 0);
	}
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "span_sustained: could not remove %s\n", dir);
	return n == (ssize_t)sizeof *res && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		iterations = atol(argv[1]);
	if (argc > 2)
		rounds = atoi(argv[2]);
	if (iterations <= 0 || rounds <= 0 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: span_sustained [ITERATIONS [ROUNDS<=%d]]\n", MAX_ROUNDS);
		return 2;
	}
	lc_clock_init();
	uint64_t c0 = ns_of(CLOCK_THREAD_CPUTIME_ID);
	for (int i = 0; i < 1000000; i++)
		sink += lc_clock_ticks();
	double clock_ns = (double)(ns_of(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e6;
	const char *on_full = getenv("SPANPROF_ON_FULL");
	printf("span_sustained: %ld iterations x %d rounds per configuration; clock %s, %.1f ns a "
	       "read; goal (paced): <= 2 reads + 30 ns = %.0f ns/span; SPANPROF_ON_FULL=%s\n",
	       iterations, rounds, lc_clock_kind() == LC_CLOCK_TSC ? "tsc" : "monotonic", clock_ns,
	       2 * clock_ns + 30, on_full ? on_full : "(default: wait)");
	printf("%-30s %8s %10s %10s %12s %10s %10s %8s %9s %7s\n", "configuration", "work ns",
	       "thread ns", "proc ns", "events/s", "missing", "lost(log)", "RSS MiB", "worst us",
	       ">50us");
	static const int steps[] = {0, 100, 400};
	for (int neighbour = 0; neighbour <= 1; neighbour++) {
		for (int threads = 1; threads <= MAX_THREADS; threads++) {
			for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
				config c = {.threads = threads,
				            .work_steps = steps[s],
				            .neighbour = neighbour};
				char label[64];
				snprintf(label, sizeof label, "%d thr, %s%s", threads,
				         steps[s] ? (steps[s] == 100 ? "work 100" : "work 400")
				                  : "back to back",
				         neighbour ? ", +neighbour" : "");
				result r;
				if (run_config(&c, &r) != 0) {
					printf("%-30s failed\n", label);
					continue;
				}
				printf("%-30s %8.0f %10.1f %10.1f %12.0f %10llu %10llu %8.1f %9.1f "
				       "%7llu\n",
				       label, r.work_ns, r.thread_ns_per_span,
				       r.process_ns_per_span, r.events_per_s,
				       (unsigned long long)(r.expected - r.read_back),
				       (unsigned long long)r.lost_logged, r.peak_rss_mib,
				       r.worst_us, (unsigned long long)r.slow);
				fflush(stdout);
			}
		}
	}
	return 0;
}
