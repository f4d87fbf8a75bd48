/*
 * sampler_overhead.c - what sampling costs a CPU-bound program, spanprof
 * side by side with `perf record -g`.
 *
 * The workload: two threads, each at a 30-frame-deep stack, doing a fixed
 * amount of arithmetic. One run of this program measures, interleaved
 * (off, spanprof 999 Hz, 99 Hz, 9999 Hz, an empty handler at 999 and
 * 9999 Hz, perf record -g -F 999 and -F 99, then again in a rotated
 * order) so that machine load drifts hit every configuration alike, REPS
 * fresh child processes per configuration, each once alone and once with
 * a CPU-bound neighbour process spinning beside it, and prints medians of
 *   - CPU seconds of every process of the run (wait4's rusage of the child,
 *     which includes what it reaped: for perf, perf's own process and the
 *     workload under it; for spanprof, the workload threads, the signal
 *     handler and the writer thread); the neighbour is not counted;
 *   - wall seconds of the workload,
 * and the overhead against "off" under the same neighbour condition. Cost
 * per sample = extra CPU divided by the samples taken; the same perf event
 * with an empty handler gives the floor that the kernel's timer interrupt
 * and signal delivery set (figures: docs/performance.md, "Sampler").
 *
 * Usage: sampler_overhead [REPS]          (default 5)
 *        sampler_overhead --work HZ DIR   (one child run; HZ 0 = off)
 * perf rows are skipped, with a note, when perf is missing or refused
 * (Debian: apt-get install linux-perf).
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "clock.h"
#include "log_reader.h"
#include "log_writer.h"
#include "sampler.h"

#define BENCH_DEPTH 30
#define BENCH_ITERS 150000000ull

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
	deep(BENCH_DEPTH - 2, BENCH_ITERS); /* + worker + thread start */
	return NULL;
}

/* The handler's main work, outside a signal: unw_backtrace from a 30-frame
 * stack with libunwind's per-thread cache warm, as the handler runs it. */
#define UNWIND_REPS 20000

__attribute__((noinline)) static double unwind_ns_at(int depth)
{
	volatile double keep = 0;
	if (depth > 1)
		return unwind_ns_at(depth - 1) + keep;
	void *pcs[128];
	int n = 0;
	double t0 = now_s(CLOCK_MONOTONIC);
	for (int i = 0; i < UNWIND_REPS; i++)
		n += unw_backtrace(pcs, 128);
	double dt = now_s(CLOCK_MONOTONIC) - t0;
	printf("unw_backtrace of %d frames: %.0f ns (outside a signal, cache warm)\n",
	       n / UNWIND_REPS, dt * 1e9 / UNWIND_REPS);
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
		lc_reader *r = NULL;
		if (lc_reader_open(path, &r) < 0)
			continue;
		lc_record rec;
		while (lc_reader_next(r, &rec) > 0)
			n += rec.type == LC_REC_SAMPLE;
		lc_reader_close(r);
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
		lc_clock_init();
		lc_log_opts lo = {.dir = dir, .program = "bench"};
		lc_rec_process proc;
		memset(&proc, 0, sizeof proc);
		proc.exe = "sampler_overhead";
		proc.cmdline = "sampler_overhead";
		proc.host = "";
		proc.traceparent = "";
		smp_opts so = {.mode = SMP_SAMPLE_CPU, .hz = hz};
		if (lc_log_open(&lo, &proc) < 0 || smp_start(&so) < 0)
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
		smp_stop();
		lc_log_close();
	}
	double cpu_s = now_s(CLOCK_PROCESS_CPUTIME_ID);
	size_t samples = hz ? count_samples(dir) : (size_t)g_empty_signals;
	printf("%.6f %.6f %zu\n", cpu_s, wall_s, samples);
	return 0;
}

typedef struct bench_config {
	const char *name;
	const char *argv[16]; /* %self / %dir substituted */
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

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* A CPU-bound neighbour: one process spinning until killed. */
static pid_t neighbour_start(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		volatile uint64_t x = 0;
		for (;;)
			x++;
	}
	return pid;
}

static void neighbour_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Runs one configuration as a child (no shell) and reads its line; the CPU
 * figure is wait4's rusage: the child and every process it reaped. */
static int run_one(bench_config *c, const char *self, const char *dir)
{
	char *argv[16], perf_data[600];
	snprintf(perf_data, sizeof perf_data, "%s/perf.data", dir);
	int i = 0;
	for (; c->argv[i] && i < 15; i++) {
		const char *a = c->argv[i];
		argv[i] = (char *)(!strcmp(a, "%self")        ? self
		                   : !strcmp(a, "%dir")       ? dir
		                   : !strcmp(a, "%perf.data") ? perf_data
		                                              : a);
	}
	argv[i] = NULL;
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		close(fds[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	FILE *p = fdopen(fds[0], "r");
	double cpu = 0, wall = 0;
	size_t samples = 0;
	int ok = p && fscanf(p, "%lf %lf %zu", &cpu, &wall, &samples) == 3;
	if (p)
		fclose(p);
	int status = 0;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		ok = 0;
	if (!ok || c->n >= 64)
		return -1;
	c->cpu[c->n] = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
	c->wall[c->n] = wall;
	c->samples += (double)samples;
	c->n++;
	return 0;
}

static int perf_works(void)
{
	return system("perf record -q -o /dev/null -F 99 -g -- true >/dev/null 2>&1") == 0;
}

enum {
	CFG_OFF,
	CFG_SP999,
	CFG_SP99,
	CFG_SP9999,
	CFG_EMPTY999,
	CFG_EMPTY9999,
	CFG_PERF999,
	CFG_PERF99,
	CFG_COUNT
};

#define PERF_ROW(hz)                                                                               \
	{                                                                                          \
		"perf", "record", "-q", "-g", "-F", hz, "-o", "%perf.data", "--", "%self",         \
		    "--work", "0", "%dir", NULL                                                    \
	}

static void configs_init(bench_config *c)
{
	static const bench_config proto[CFG_COUNT] = {
	    {.name = "off", .argv = {"%self", "--work", "0", "%dir", NULL}},
	    {.name = "spanprof 999 Hz", .argv = {"%self", "--work", "999", "%dir", NULL}},
	    {.name = "spanprof 99 Hz", .argv = {"%self", "--work", "99", "%dir", NULL}},
	    {.name = "spanprof 9999 Hz", .argv = {"%self", "--work", "9999", "%dir", NULL}},
	    {.name = "empty handler 999 Hz",
	     .argv = {"%self", "--work-empty", "999", "%dir", NULL}},
	    {.name = "empty handler 9999 Hz",
	     .argv = {"%self", "--work-empty", "9999", "%dir", NULL}},
	    {.name = "perf record -g -F 999", .argv = PERF_ROW("999")},
	    {.name = "perf record -g -F 99", .argv = PERF_ROW("99")},
	};
	memcpy(c, proto, sizeof proto);
}

static void print_table(bench_config *c, int nconfigs, const char *title)
{
	double base_cpu = median(c[CFG_OFF].cpu, c[CFG_OFF].n);
	double base_wall = median(c[CFG_OFF].wall, c[CFG_OFF].n);
	printf("\n%s\n%-24s %9s %9s %10s %10s %9s\n", title, "config", "cpu_s", "wall_s",
	       "cpu_over%", "wall_over%", "samples");
	for (int i = 0; i < nconfigs; i++) {
		double cpu = median(c[i].cpu, c[i].n), wall = median(c[i].wall, c[i].n);
		int perf = i >= CFG_PERF999;
		printf("%-24s %9.4f %9.4f %+10.2f %+10.2f ", c[i].name, cpu, wall,
		       100.0 * (cpu / base_cpu - 1.0), 100.0 * (wall / base_wall - 1.0));
		if (perf)
			printf("%9s\n", "-");
		else
			printf("%9.0f\n", c[i].n ? c[i].samples / c[i].n : 0.0);
	}
	for (int hi = 0; hi < 2; hi++) {
		bench_config *sp = &c[hi ? CFG_SP9999 : CFG_SP999];
		bench_config *em = &c[hi ? CFG_EMPTY9999 : CFG_EMPTY999];
		double sp_n = sp->n ? sp->samples / sp->n : 0,
		       em_n = em->n ? em->samples / em->n : 0;
		if (sp_n <= 0 || em_n <= 0)
			continue;
		double sp_cost = (median(sp->cpu, sp->n) - base_cpu) / sp_n;
		double floor = (median(em->cpu, em->n) - base_cpu) / em_n;
		printf("per sample at %s Hz: spanprof %.1f us, of which the timer interrupt + "
		       "signal floor (empty handler) %.1f us\n",
		       hi ? "9999" : "999", sp_cost * 1e6, floor * 1e6);
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--work"))
		return run_work((uint32_t)atoi(argv[2]), argv[3], 0);
	if (argc == 4 && !strcmp(argv[1], "--work-empty"))
		return run_work((uint32_t)atoi(argv[2]), argv[3], 1);
	int reps = argc > 1 ? atoi(argv[1]) : 5;
	if (reps < 1 || reps > 64)
		reps = 5;
	char self[512];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	self[len > 0 ? len : 0] = '\0';
	char dir[] = "/tmp/sp_bench.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	bench_config alone[CFG_COUNT], loaded[CFG_COUNT];
	configs_init(alone);
	configs_init(loaded);
	int nconfigs = perf_works() ? CFG_COUNT : CFG_PERF999;
	for (int r = 0; r < reps; r++)
		for (int k = 0; k < 2 * nconfigs; k++) {
			int i = (k / 2 + r) % nconfigs; /* rotate the order too */
			int with_neighbour = (k + r) & 1;
			bench_config *c = with_neighbour ? &loaded[i] : &alone[i];
			pid_t nb = with_neighbour ? neighbour_start() : -1;
			if (run_one(c, self, dir) < 0)
				fprintf(stderr, "run of '%s' failed\n", c->name);
			neighbour_stop(nb);
		}
	printf("workload: 2 threads x %llu xorshift steps at a %d-frame stack; %d runs each, "
	       "medians; cpu_s = every process of the run (perf's own included)\n",
	       (unsigned long long)BENCH_ITERS, BENCH_DEPTH, reps);
	print_table(alone, nconfigs, "alone:");
	print_table(loaded, nconfigs, "beside a CPU-bound neighbour process:");
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	unwind_ns_at(BENCH_DEPTH - 1);
	if (nconfigs < CFG_COUNT)
		printf("perf record: not available here (perf missing or refused; Debian: "
		       "apt-get install linux-perf)\n");
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
