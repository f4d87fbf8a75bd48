/*
 * helper_prog.c - an ordinary program (not linked with spanprof) that the
 * record tests run under 'spanprof record':
 *   crash        spin 0.5 s of CPU, then die of SIGSEGV
 *   forkexec     fork; the child execs this program with "child"; both spin
 *   vforkexec    the same with vfork (the exec runs in the parent's memory)
 *   child        spin 0.3 s
 *   exit N       spin 0.1 s, exit with status N
 *   threads      two threads created after start spin 0.3 s each
 *   dlopen       dlopen libz after start, spin 0.2 s
 *   churn        16 rounds of 16 short threads (half end with pthread_exit,
 *                some detached) while the main thread spins
 *   short OUT    800 threads of ~0.5 ms CPU each (a fixed amount of work,
 *                calibrated first), 4 at a time; writes the sum of their
 *                thread CPU times (ns, measured by each thread at its end)
 *                into OUT
 *   syscalls OUT a pwrite/pread loop over a temporary file plus user work,
 *                0.6 s of CPU, about half of it in the kernel; writes
 *                "user_ns sys_ns" of the main thread (RUSAGE_THREAD) into OUT
 *   blocked OUT  a thread created with every signal blocked spins 0.3 s;
 *                the main thread spins 0.1 s; writes the thread's tid into OUT
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spin.h"

static void *spin_thread(void *arg)
{
	(void)arg;
	spin(0.3);
	return NULL;
}

static int run_forkexec(const char *self)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", self, "child", (char *)NULL);
		_exit(126);
	}
	spin(0.3);
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static int run_vforkexec(const char *self)
{
	pid_t pid = vfork();
	if (pid == 0) {
		execl("/proc/self/exe", self, "child", (char *)NULL);
		_exit(126);
	}
	spin(0.3);
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void *churn_thread(void *arg)
{
	spin(0.002);
	if ((uintptr_t)arg & 1)
		pthread_exit(NULL);
	return NULL;
}

static int run_churn(void)
{
	for (int round = 0; round < 16; round++) {
		pthread_t t[16];
		for (uintptr_t i = 0; i < 16; i++)
			if (pthread_create(&t[i], NULL, churn_thread, (void *)i) != 0)
				return 4;
		pthread_t detached;
		if (pthread_create(&detached, NULL, churn_thread, NULL) == 0)
			pthread_detach(detached);
		spin(0.005);
		for (int i = 0; i < 16; i++)
			pthread_join(t[i], NULL);
	}
	return 0;
}

static int run_threads(void)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, spin_thread, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return 0;
}

#define SHORT_THREADS  800
#define SHORT_PARALLEL 4

static _Atomic uint64_t short_cpu_ns;

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t short_loops; /* iterations of work() for ~0.5 ms of CPU */

__attribute__((noinline)) static void work(uint64_t loops)
{
	volatile uint64_t x = 0;
	for (uint64_t i = 0; i < loops; i++)
		x += i;
}

/* A fixed amount of work, not "spin until 0.5 ms of CPU": the sampler's
 * handler must not shorten the work of the threads it samples. */
static void *short_thread(void *arg)
{
	(void)arg;
	work(short_loops);
	atomic_fetch_add(&short_cpu_ns, thread_cpu_ns()); /* all of the thread's CPU */
	return NULL;
}

/* Loops per 0.5 ms of CPU, measured over 20 ms on the calling thread. */
static uint64_t short_calibrate(void)
{
	uint64_t calls = 0, start = thread_cpu_ns(), ns;
	while ((ns = thread_cpu_ns() - start) < 20000000u) {
		work(10000);
		calls++;
	}
	return calls * 10000u * 500000u / ns;
}

static int write_out(const char *path, const char *fmt, uint64_t a, uint64_t b)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return 5;
	fprintf(f, fmt, a, b);
	return fclose(f) == 0 ? 0 : 5;
}

static int run_short(const char *out)
{
	short_loops = short_calibrate();
	for (int round = 0; round < SHORT_THREADS / SHORT_PARALLEL; round++) {
		pthread_t t[SHORT_PARALLEL];
		for (int i = 0; i < SHORT_PARALLEL; i++)
			if (pthread_create(&t[i], NULL, short_thread, NULL) != 0)
				return 4;
		for (int i = 0; i < SHORT_PARALLEL; i++)
			pthread_join(t[i], NULL);
	}
	return write_out(out, "%llu\n", (unsigned long long)atomic_load(&short_cpu_ns), 0);
}

/* User work between the system calls: a checksum the compiler must keep. */
__attribute__((noinline)) static uint64_t checksum(const unsigned char *buf, size_t len)
{
	uint64_t h = 1469598103934665603u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ buf[i]) * 1099511628211u;
	return h;
}

static uint64_t timeval_ns(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

static int run_syscalls(const char *out)
{
	char path[] = "/tmp/su_syscalls.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 5;
	unlink(path);
	static unsigned char buf[1 << 16];
	memset(buf, 7, sizeof buf);
	volatile uint64_t sink = 0;
	double end = thread_cpu_s() + 0.6;
	for (unsigned i = 0; thread_cpu_s() < end; i++) {
		off_t at = (off_t)(i % 64) * (off_t)sizeof buf;
		if (pwrite(fd, buf, sizeof buf, at) != (ssize_t)sizeof buf ||
		    pread(fd, buf, sizeof buf, at) != (ssize_t)sizeof buf)
			return 6;
		sink += checksum(buf, sizeof buf / 32);
	}
	close(fd);
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return write_out(out, "%llu %llu\n", (unsigned long long)timeval_ns(ru.ru_utime),
	                 (unsigned long long)timeval_ns(ru.ru_stime));
}

static _Atomic uint32_t blocked_tid;

static void *blocked_thread(void *arg)
{
	(void)arg;
	atomic_store(&blocked_tid, (uint32_t)gettid());
	spin(0.3);
	return NULL;
}

/* The creator blocks every signal around pthread_create, so the new thread
 * starts with them blocked and never unblocks them (a common pattern for
 * workers that must not take process signals). */
static int run_blocked(const char *out)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_t t;
	int rc = pthread_create(&t, NULL, blocked_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return 4;
	spin(0.1);
	pthread_join(t, NULL);
	return write_out(out, "%llu\n", (unsigned long long)atomic_load(&blocked_tid), 0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "crash")) {
		spin(0.5);
		/* A page without access: a real SIGSEGV that the sanitizers'
		 * null-pointer checks do not intercept. */
		volatile int *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		*p = 1;
		return 0;
	}
	if (!strcmp(mode, "forkexec"))
		return run_forkexec(argv[0]);
	if (!strcmp(mode, "vforkexec"))
		return run_vforkexec(argv[0]);
	if (!strcmp(mode, "child")) {
		spin(0.3);
		return 0;
	}
	if (!strcmp(mode, "exit") && argc > 2) {
		spin(0.1);
		return atoi(argv[2]);
	}
	if (!strcmp(mode, "threads"))
		return run_threads();
	if (!strcmp(mode, "churn"))
		return run_churn();
	if (!strcmp(mode, "short") && argc > 2)
		return run_short(argv[2]);
	if (!strcmp(mode, "syscalls") && argc > 2)
		return run_syscalls(argv[2]);
	if (!strcmp(mode, "blocked") && argc > 2)
		return run_blocked(argv[2]);
	if (!strcmp(mode, "dlopen")) {
		void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
		spin(0.2);
		return h ? 0 : 3;
	}
	fprintf(stderr,
	        "usage: sampler_helper crash|forkexec|vforkexec|child|exit N|threads|dlopen|churn|"
	        "short OUT|syscalls OUT|blocked OUT\n");
	return 2;
}
