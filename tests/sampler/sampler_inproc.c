/*
 * sampler_inproc.c - the sampler driven directly (lc_log_open +
 * smp_start), each scenario in a forked child so that every run has
 * a fresh process; the parent reads the child's log and checks it.
 *
 * Proves: CPU shares show up in the samples in the right ratio; the achieved
 * rate matches the request against thread CPU time; wall mode samples a
 * sleeping thread; threads created after start are sampled and announced;
 * the timer fallback works and says so in the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log_writer.h"
#include "sampler.h"
#include "smp_util.h"
#include "tl.h"

typedef void (*su_work_fn)(int report_fd);

/* Runs work with the sampler on, in a child; returns its exit code. */
static int run_session(const char *dir, int mode, uint32_t hz, su_work_fn work, int report_fd)
{
	pid_t pid = fork();
	if (pid == 0) {
		lc_clock_init();
		lc_log_opts lo = {.dir = dir, .program = "sampler_test"};
		lc_rec_process proc;
		memset(&proc, 0, sizeof proc);
		proc.exe = "/proc/self/exe";
		proc.cmdline = "sampler_test";
		proc.host = "";
		proc.traceparent = "";
		if (lc_log_open(&lo, &proc) < 0)
			_exit(10);
		smp_opts so = {.mode = mode, .hz = hz};
		if (smp_start(&so) < 0)
			_exit(11);
		work(report_fd);
		smp_stop();
		lc_log_close();
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* run_session with a pipe for the report: asserts that the session ended
 * well and that its work wrote size bytes, which go into report. */
static void run_with_report(const char *dir, int mode, uint32_t hz, su_work_fn work, void *report,
                            size_t size)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(run_session(dir, mode, hz, work, fds[1]), 0);
	assert_int_equal(read(fds[0], report, size), (ssize_t)size);
	close(fds[0]);
	close(fds[1]);
}

static void read_only_log(const char *dir, su_log *log)
{
	char logs[4][512];
	assert_int_equal(tl_find_logs(dir, logs, 4), 1);
	assert_int_equal(su_read_log(logs[0], log), 0);
	assert_false(log->read_error);
	assert_true(log->sampler_seen);
}

/* ---- 3:1 CPU shares ---- */

#define SU_IN_SECTION(name) __attribute__((noinline, section(name)))
extern const char __start_su_text_a[], __stop_su_text_a[];
extern const char __start_su_text_b[], __stop_su_text_b[];

SU_IN_SECTION("su_text_a") void su_work_a(double cpu_s)
{
	double end = thread_cpu_s() + cpu_s;
	volatile uint64_t x = 0;
	while (thread_cpu_s() < end)
		for (int i = 0; i < 20000; i++)
			x += (uint64_t)i;
}

SU_IN_SECTION("su_text_b") void su_work_b(double cpu_s)
{
	double end = thread_cpu_s() + cpu_s;
	volatile uint64_t x = 0;
	while (thread_cpu_s() < end)
		for (int i = 0; i < 20000; i++)
			x += (uint64_t)i;
}

static void work_ratio(int fd)
{
	(void)fd;
	for (int i = 0; i < 300; i++) { /* 1.2 s of CPU */
		su_work_a(0.003);
		su_work_b(0.001);
	}
}

static int in_range(uint64_t pc, const char *lo, const char *hi)
{
	return pc >= (uint64_t)(uintptr_t)lo && pc < (uint64_t)(uintptr_t)hi;
}

/* 'a', 'b' or 0: the innermost frame that is in one of the two functions. */
static int classify(const su_sample *s)
{
	for (uint32_t i = 0; i < s->nframes; i++) {
		if (in_range(s->pcs[i], __start_su_text_a, __stop_su_text_a))
			return 'a';
		if (in_range(s->pcs[i], __start_su_text_b, __stop_su_text_b))
			return 'b';
	}
	return 0;
}

static void test_ratio_3_to_1(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "ratio");
	assert_int_equal(run_session(dir, SMP_SAMPLE_CPU, 4999, work_ratio, -1), 0);
	su_log log;
	read_only_log(dir, &log);
	size_t a = 0, b = 0;
	for (size_t i = 0; i < log.nsamples; i++) {
		int c = classify(&log.samples[i]);
		a += c == 'a';
		b += c == 'b';
	}
	print_message("# samples %zu: a %zu b %zu ratio %.3f\n", log.nsamples, a, b,
	              b ? (double)a / (double)b : 0.0);
	assert_true(a + b > 0.9 * (double)log.nsamples); /* the stacks reach the callers */
	assert_true(b > 500);
	double ratio = (double)a / (double)b;
	assert_true(ratio > 2.7 && ratio < 3.3);
	su_free_log(&log);
	tl_rm_rf(dir);
}

/* ---- achieved rate ---- */

static double g_spin_s;

static void work_spin_report(int fd)
{
	/* Querying or ignoring the sampling signal is not a conflict (CPython
	 * queries every signal at start). */
	struct sigaction query;
	sigaction(SIGRTMIN + 6, NULL, &query);
	signal(SIGRTMIN + 6, SIG_IGN);
	double t0 = thread_cpu_s();
	spin(g_spin_s);
	double cpu_s = thread_cpu_s() - t0;
	if (write(fd, &cpu_s, sizeof cpu_s) != sizeof cpu_s)
		_exit(12);
}

static void check_rate(uint32_t hz, double spin_s, int force_timer)
{
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "rate");
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	g_spin_s = spin_s;
	if (force_timer)
		setenv("SPANPROF_SAMPLER_FORCE_TIMER", "1", 1);
	int rc = run_session(dir, SMP_SAMPLE_CPU, hz, work_spin_report, fds[1]);
	unsetenv("SPANPROF_SAMPLER_FORCE_TIMER");
	assert_int_equal(rc, 0);
	double cpu_s = 0;
	assert_int_equal(read(fds[0], &cpu_s, sizeof cpu_s), sizeof cpu_s);
	close(fds[0]);
	close(fds[1]);
	su_log log;
	read_only_log(dir, &log);
	double achieved = (double)log.nsamples / cpu_s;
	print_message("# %u Hz (%s): %zu samples in %.3f CPU s = %.1f Hz; log says %u Hz\n", hz,
	              force_timer ? "timer" : "perf", log.nsamples, cpu_s, achieved,
	              log.achieved_hz);
	assert_int_equal(log.requested_hz, hz);
	assert_int_equal(log.mechanism, force_timer ? LC_SAMPLER_TIMER : LC_SAMPLER_PERF);
	assert_int_equal(log.mode, SMP_SAMPLE_CPU);
	assert_true(log.nmodules > 0);
	assert_int_equal(log.lost_samples, 0);
	assert_int_equal(log.flags, 0);
	if (!force_timer) {
		assert_true(achieved > 0.9 * hz && achieved < 1.1 * hz);
		assert_true(log.achieved_hz > 0.9 * hz && log.achieved_hz < 1.1 * hz);
	} else {
		assert_true(log.nsamples > 10); /* tick-limited: only "it samples" */
	}
	su_free_log(&log);
	tl_rm_rf(dir);
}

static void test_rate_100(void **state)
{
	(void)state;
	check_rate(100, 2.0, 0);
}

static void test_rate_999(void **state)
{
	(void)state;
	check_rate(999, 0.6, 0);
}

static void test_rate_5000(void **state)
{
	(void)state;
	check_rate(5000, 0.3, 0);
}

static void test_timer_fallback(void **state)
{
	(void)state;
	check_rate(999, 0.3, 1);
}

/* ---- wall mode samples a sleeping thread ---- */

SU_IN_SECTION("su_text_sleep") void su_sleeper_wait(double wall_s)
{
	struct timespec req = {(time_t)wall_s, (long)((wall_s - (double)(time_t)wall_s) * 1e9)};
	struct timespec rem;
	/* Sampling signals interrupt nanosleep (EINTR): sleep the rest. */
	while (nanosleep(&req, &rem) < 0 && errno == EINTR)
		req = rem;
}
extern const char __start_su_text_sleep[], __stop_su_text_sleep[];

static void *sleeper_main(void *arg)
{
	uint32_t *tid = arg;
	*tid = (uint32_t)gettid();
	su_sleeper_wait(0.4);
	return NULL;
}

static void work_sleeping_thread(int fd)
{
	pthread_t t;
	uint32_t tid = 0;
	pthread_create(&t, NULL, sleeper_main, &tid);
	pthread_join(t, NULL);
	if (write(fd, &tid, sizeof tid) != sizeof tid)
		_exit(12);
}

static void test_wall_sleeping_thread(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "wall");
	uint32_t tid = 0;
	run_with_report(dir, SMP_SAMPLE_WALL, 999, work_sleeping_thread, &tid, sizeof tid);
	su_log log;
	read_only_log(dir, &log);
	assert_int_equal(log.mode, SMP_SAMPLE_WALL);
	size_t in_sleep = 0, of_tid = 0;
	uint64_t in_sleep_us = 0;
	for (size_t i = 0; i < log.nsamples; i++) {
		const su_sample *s = &log.samples[i];
		if (s->tid != tid)
			continue;
		of_tid++;
		for (uint32_t f = 0; f < s->nframes; f++)
			if (in_range(s->pcs[f], __start_su_text_sleep, __stop_su_text_sleep)) {
				in_sleep++;
				in_sleep_us += s->weight_us;
				break;
			}
	}
	print_message("# sleeping thread: %zu samples, %zu inside the sleep (expect ~400) "
	              "weighing %.3f s (expect 0.4)\n",
	              of_tid, in_sleep, (double)in_sleep_us * 1e-6);
	/* 0.4 s at 999 Hz = ~400 samples; a CPU-time sampler would see ~0. On
	 * a loaded machine the handler may run late: timer overruns then go
	 * into the weight instead of more samples. */
	assert_true(in_sleep > 50);
	assert_true(in_sleep_us > 300000 && in_sleep_us < 500000);
	su_free_log(&log);
	tl_rm_rf(dir);
}

/* ---- threads created after start ---- */

static void *spinner_main(void *arg)
{
	uint32_t *tid = arg;
	*tid = (uint32_t)gettid();
	pthread_setname_np(pthread_self(), "sp-spinner");
	spin(0.25);
	return NULL;
}

static void *exiting_main(void *arg)
{
	uint32_t *tid = arg;
	*tid = (uint32_t)gettid();
	spin(0.25);
	pthread_exit(NULL);
}

static void work_new_threads(int fd)
{
	pthread_t t[2];
	uint32_t tids[2] = {0, 0};
	pthread_create(&t[0], NULL, spinner_main, &tids[0]);
	pthread_create(&t[1], NULL, exiting_main, &tids[1]);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	if (write(fd, tids, sizeof tids) != sizeof tids)
		_exit(12);
}

static int has_tid(const uint32_t *tids, size_t n, uint32_t tid)
{
	for (size_t i = 0; i < n; i++)
		if (tids[i] == tid)
			return 1;
	return 0;
}

static void test_new_threads_sampled(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "threads");
	uint32_t tids[2];
	run_with_report(dir, SMP_SAMPLE_CPU, 999, work_new_threads, tids, sizeof tids);
	su_log log;
	read_only_log(dir, &log);
	for (int i = 0; i < 2; i++) {
		size_t n = su_samples_of(&log, tids[i]);
		print_message("# thread %u: %zu samples (expect ~250)\n", tids[i], n);
		assert_true(n > 180 && n < 320);
		assert_true(has_tid(log.threads, log.nthreads, tids[i]));
		assert_true(has_tid(log.thread_ends, log.nthread_ends, tids[i]));
	}
	int renamed = 0; /* pthread_setname_np is announced */
	for (size_t i = 0; i < log.nthreads; i++)
		renamed |= log.threads[i] == tids[0] && !strcmp(log.thread_names[i], "sp-spinner");
	assert_true(renamed);
	su_free_log(&log);
	tl_rm_rf(dir);
}

/* ---- a program that claims the sampling signal ---- */

static volatile sig_atomic_t g_user_signals;

static void user_handler(int signo)
{
	(void)signo;
	g_user_signals++;
}

/* Reports: [0] sigaction rc, [1] user handler calls, [2] ours still installed. */
static void work_claims_signal(int fd)
{
	int report[3];
	int signo = SIGRTMIN + 6;
	struct sigaction act, seen, real;
	memset(&act, 0, sizeof act);
	act.sa_handler = user_handler;
	report[0] = sigaction(signo, &act, NULL);
	sigaction(signo, NULL, &seen); /* the program sees its own action */
	spin(0.3);                     /* samples keep coming */
	for (int i = 0; i < 5; i++)
		raise(signo); /* not samples: forwarded to the program */
	report[1] = g_user_signals;
	/* glibc's internal sigaction is not interposed: the real disposition. */
	syscall(SYS_rt_sigaction, signo, NULL, &real, 8);
	report[2] = seen.sa_handler == user_handler && real.sa_handler != user_handler;
	if (write(fd, report, sizeof report) != sizeof report)
		_exit(12);
}

static void test_program_claims_signal(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "claim");
	int report[3];
	run_with_report(dir, SMP_SAMPLE_CPU, 999, work_claims_signal, report, sizeof report);
	assert_int_equal(report[0], 0);
	assert_int_equal(report[1], 5);
	assert_int_equal(report[2], 1);
	su_log log;
	read_only_log(dir, &log);
	assert_true(log.nsamples > 150);
	assert_int_equal(log.flags, LC_SAMPLER_F_SIGNAL_SHARED); /* reported in the log */
	su_free_log(&log);
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ratio_3_to_1),
	    cmocka_unit_test(test_rate_100),
	    cmocka_unit_test(test_rate_999),
	    cmocka_unit_test(test_rate_5000),
	    cmocka_unit_test(test_timer_fallback),
	    cmocka_unit_test(test_wall_sleeping_thread),
	    cmocka_unit_test(test_new_threads_sampled),
	    cmocka_unit_test(test_program_claims_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
