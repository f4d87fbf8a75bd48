/*
 * sampler_overhead.c - what sampling costs a CPU-bound program.
 *
 * The workload: two threads, each at a 30-frame-deep stack, doing a fixed
 * amount of arithmetic. One run of this program measures, interleaved
 * (off, 999 Hz, 9999 Hz, perf record -F 999 -g, off, ...) so that machine
 * load drifts hit every configuration alike, REPS fresh child processes per
 * configuration, and prints medians of
 *   - CPU seconds of the whole child process (workload threads, the signal
 *     handler, and spanprof's writer thread: everything sampling costs),
 *   - wall seconds of the workload,
 * and the slowdown against "off". Cost per sample = extra CPU at 9999 Hz
 * divided by the number of samples taken (30 frames + signal delivery);
 * the same perf event with an empty handler separates what the kernel costs
 * (timer interrupt, signal delivery) from what spanprof's handler costs.
 *
 * Usage: sampler_overhead [REPS]          (default 7)
 *        sampler_overhead --work HZ DIR   (one child run; HZ 0 = off)
 * Threading: the driver is single-threaded; a child runs two workers.
 */
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "clock.h"
#include "log_reader.h"
#include "log_writer.h"
#include "sampler.h"

#define SP_BENCH_DEPTH 30
#define SP_BENCH_ITERS 150000000ull

static double now_s(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((noinline)) static uint64_t leaf_work(uint64_t iters)
{
	uint64_t x = 88172645463325252ull;
	for (uint64_t i = 0; i < iters; i++) { /* xorshift: no memory traffic */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

__attribute__((noinline)) static uint64_t deep(int depth, uint64_t iters)
{
	volatile uint64_t keep = (uint64_t)depth;
	if (depth > 1)
		keep += deep(depth - 1, iters);
	else
		keep += leaf_work(iters);
	return keep;
}

/* Baseline for the handler's own cost: the same perf event and signal,
 * with a handler that does nothing. */
static volatile sig_atomic_t g_empty_signals;
static uint32_t g_empty_hz;

static void empty_handler(int signo, siginfo_t *si, void *uc)
{
	(void)signo;
	(void)si;
	(void)uc;
	g_empty_signals++;
}

static void empty_sampler_arm(void)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.sample_period = 1000000000ull / g_empty_hz;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	attr.wakeup_events = 1;
	int fd = (int)syscall(SYS_perf_event_open, &attr, gettid(), -1, -1, 0);
	struct f_owner_ex owner = {F_OWNER_TID, gettid()};
	if (fd < 0 || fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETSIG, SIGRTMIN + 6) < 0 || fcntl(fd, F_SETOWN_EX, &owner) < 0)
		exit(3);
}

static void *worker(void *arg)
{
	(void)arg;
	if (g_empty_hz)
		empty_sampler_arm();
	deep(SP_BENCH_DEPTH - 2, SP_BENCH_ITERS); /* + worker + thread start */
	return NULL;
}

/* The handler's main work, outside a signal: unw_backtrace from a 30-frame
 * stack with libunwind's per-thread cache warm, as the handler runs it. */
#define SP_UNWIND_REPS 20000

__attribute__((noinline)) static double unwind_ns_at(int depth)
{
	volatile double keep = 0;
	if (depth > 1)
		return unwind_ns_at(depth - 1) + keep;
	void *pcs[128];
	int n = 0;
	double t0 = now_s(CLOCK_MONOTONIC);
	for (int i = 0; i < SP_UNWIND_REPS; i++)
		n += unw_backtrace(pcs, 128);
	double dt = now_s(CLOCK_MONOTONIC) - t0;
	printf("unw_backtrace of %d frames: %.0f ns (outside a signal, cache warm)\n",
	       n / SP_UNWIND_REPS, dt * 1e9 / SP_UNWIND_REPS);
	return dt;
}

static size_t count_samples(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "ls %s/*.splog 2>/dev/null", dir);
	FILE *ls = popen(cmd, "r");
	char path[512];
	size_t n = 0;
	while (ls && fgets(path, sizeof path, ls)) {
		path[strcspn(path, "\n")] = '\0';
		sp_reader *r = NULL;
		if (sp_reader_open(path, &r) < 0)
			continue;
		sp_record rec;
		while (sp_reader_next(r, &rec) > 0)
			n += rec.type == SP_REC_SAMPLE;
		sp_reader_close(r);
		unlink(path);
	}
	if (ls)
		pclose(ls);
	return n;
}

/* One child run: prints "cpu_s wall_s samples". */
static int run_work(uint32_t hz, const char *dir, int empty)
{
	if (empty) {
		struct sigaction act;
		memset(&act, 0, sizeof act);
		act.sa_sigaction = empty_handler;
		act.sa_flags = SA_SIGINFO | SA_RESTART;
		sigaction(SIGRTMIN + 6, &act, NULL);
		g_empty_hz = hz;
		hz = 0;
	}
	if (hz) {
		sp_clock_init();
		sp_log_opts lo = {.dir = dir, .program = "bench"};
		sp_rec_process proc;
		memset(&proc, 0, sizeof proc);
		proc.exe = "sampler_overhead";
		proc.cmdline = "sampler_overhead";
		proc.host = "";
		proc.traceparent = "";
		sp_sampler_opts so = {.mode = SP_SAMPLE_CPU, .hz = hz};
		if (sp_log_open(&lo, &proc) < 0 || sp_sampler_start(&so) < 0)
			return 1;
	}
	double wall0 = now_s(CLOCK_MONOTONIC);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	double wall_s = now_s(CLOCK_MONOTONIC) - wall0;
	if (hz) {
		sp_sampler_stop();
		sp_log_close();
	}
	double cpu_s = now_s(CLOCK_PROCESS_CPUTIME_ID);
	size_t samples = hz ? count_samples(dir) : (size_t)g_empty_signals;
	printf("%.6f %.6f %zu\n", cpu_s, wall_s, samples);
	return 0;
}

typedef struct bench_config {
	const char *name;
	const char *cmd_fmt; /* %s = self, %s = dir */
	double cpu[64], wall[64];
	double samples;
	int n;
} bench_config;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n ? v[n / 2] : 0.0;
}

static int run_one(bench_config *c, const char *self, const char *dir)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, c->cmd_fmt, self, dir);
	FILE *p = popen(cmd, "r");
	double cpu = 0, wall = 0;
	size_t samples = 0;
	int ok = p && fscanf(p, "%lf %lf %zu", &cpu, &wall, &samples) == 3;
	if (p)
		pclose(p);
	if (!ok || c->n >= 64)
		return -1;
	c->cpu[c->n] = cpu;
	c->wall[c->n] = wall;
	c->samples += (double)samples;
	c->n++;
	return 0;
}

static int perf_works(void)
{
	return system("perf record -q -o /dev/null -F 99 -g -- true >/dev/null 2>&1") == 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--work"))
		return run_work((uint32_t)atoi(argv[2]), argv[3], 0);
	if (argc == 4 && !strcmp(argv[1], "--work-empty"))
		return run_work((uint32_t)atoi(argv[2]), argv[3], 1);
	int reps = argc > 1 ? atoi(argv[1]) : 7;
	if (reps < 1 || reps > 64)
		reps = 7;
	char self[512];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	self[len > 0 ? len : 0] = '\0';
	char dir[] = "/tmp/sp_bench.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	bench_config configs[] = {
	    {.name = "off", .cmd_fmt = "%s --work 0 %s"},
	    {.name = "spanprof 999 Hz", .cmd_fmt = "%s --work 999 %s"},
	    {.name = "spanprof 9999 Hz", .cmd_fmt = "%s --work 9999 %s"},
	    {.name = "empty handler 9999 Hz", .cmd_fmt = "%s --work-empty 9999 %s"},
	    {.name = "perf record -F 999 -g",
	     .cmd_fmt = "perf record -q -F 999 -g -o %2$s/perf.data -- %1$s --work 0 %2$s "
	                "2>/dev/null"},
	};
	int nconfigs = perf_works() ? 5 : 4;
	for (int r = 0; r < reps; r++)
		for (int k = 0; k < nconfigs; k++) {
			int i = (k + r) % nconfigs; /* rotate the order too */
			if (run_one(&configs[i], self, dir) < 0)
				fprintf(stderr, "run of '%s' failed\n", configs[i].name);
		}
	double base_cpu = median(configs[0].cpu, configs[0].n);
	double base_wall = median(configs[0].wall, configs[0].n);
	printf("workload: 2 threads x %llu xorshift steps at a %d-frame stack; %d runs each, "
	       "medians\n",
	       (unsigned long long)SP_BENCH_ITERS, SP_BENCH_DEPTH, reps);
	printf("%-24s %9s %9s %10s %10s %9s\n", "config", "cpu_s", "wall_s", "cpu_slow%",
	       "wall_slow%", "samples");
	for (int i = 0; i < nconfigs; i++) {
		bench_config *c = &configs[i];
		double cpu = median(c->cpu, c->n), wall = median(c->wall, c->n);
		printf("%-24s %9.4f %9.4f %+10.2f %+10.2f %9.0f\n", c->name, cpu, wall,
		       100.0 * (cpu / base_cpu - 1.0), 100.0 * (wall / base_wall - 1.0),
		       c->n ? c->samples / c->n : 0.0);
	}
	bench_config *hi = &configs[2];
	double per_run_samples = hi->n ? hi->samples / hi->n : 0.0;
	if (per_run_samples > 0)
		printf("cost per sample (30 frames, 9999 Hz, all included): "
		       "%.0f ns\n",
		       (median(hi->cpu, hi->n) - base_cpu) * 1e9 / per_run_samples);
	bench_config *empty = &configs[3];
	double empty_signals = empty->n ? empty->samples / empty->n : 0.0;
	if (per_run_samples > 0 && empty_signals > 0)
		printf("  of which spanprof's handler (unwind + ring + writer), over an empty "
		       "handler: %.0f ns\n",
		       (median(hi->cpu, hi->n) / per_run_samples -
		        median(empty->cpu, empty->n) / empty_signals) *
		           1e9);
	if (per_run_samples > 0 && empty_signals > 0)
		printf("  kernel timer interrupt + signal delivery (empty handler): %.0f ns\n",
		       (median(empty->cpu, empty->n) - base_cpu) * 1e9 / empty_signals);
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	unwind_ns_at(SP_BENCH_DEPTH - 1);
	if (nconfigs == 4)
		printf("perf record: not available here (perf missing or refused)\n");
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
