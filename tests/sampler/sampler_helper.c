/*
 * sampler_helper.c - an ordinary program (not linked with spanprof) that the
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
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((noinline)) static void spin(double cpu_s)
{
	double end = thread_cpu_s() + cpu_s;
	volatile uint64_t x = 0;
	while (thread_cpu_s() < end)
		for (int i = 0; i < 200000; i++)
			x += (uint64_t)i;
}

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
	if (!strcmp(mode, "dlopen")) {
		void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
		spin(0.2);
		return h ? 0 : 3;
	}
	fprintf(
	    stderr,
	    "usage: sampler_helper crash|forkexec|vforkexec|child|exit N|threads|dlopen|churn\n");
	return 2;
}
