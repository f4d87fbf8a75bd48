/*
 * sampler_interpose.c - libc functions wrapped so that sampling follows the
 * program: pthread_create (new threads arm themselves before the user's
 * start routine and disarm when it returns or calls pthread_exit), dlopen
 * (new modules are recorded; no sample unwinds while the loader works),
 * exec* (the log is flushed and the sampling signal made harmless first),
 * sigaction/signal (a program that claims the sampling signal keeps working
 * and is reported).
 *
 * The real functions are found lazily with dlsym(RTLD_NEXT), which works in
 * preload mode, linked mode (-lspanprof ahead of libc) and when a program
 * links the static library (its definitions win inside the executable).
 * Every wrapper is a plain pass-through while the sampler is not running.
 *
 * Threading: wrappers may run on any thread concurrently; the lazily
 * resolved pointers are atomics (resolving twice is harmless).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sampler_int.h"

#define SMP_EXPORT __attribute__((visibility("default")))

/* Resolves the next definition of NAME once and caches it in SLOT. */
#define SMP_REAL(slot, name)                                                                       \
	({                                                                                         \
		void *fn_ = atomic_load_explicit(&(slot), memory_order_acquire);                   \
		if (!fn_) {                                                                        \
			fn_ = dlsym(RTLD_NEXT, name);                                              \
			atomic_store_explicit(&(slot), fn_, memory_order_release);                 \
		}                                                                                  \
		fn_;                                                                               \
	})

typedef int (*smp_pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
                                     void *);
typedef int (*smp_sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef void *(*smp_dlopen_fn)(const char *, int);
typedef int (*smp_dlclose_fn)(void *);
typedef int (*smp_execve_fn)(const char *, char *const[], char *const[]);
typedef int (*smp_execvpe_fn)(const char *, char *const[], char *const[]);

static _Atomic(void *) smp_real_pthread_create_slot;
static _Atomic(void *) smp_real_sigaction_slot;
static _Atomic(void *) smp_real_dlopen_slot;
static _Atomic(void *) smp_real_dlclose_slot;
static _Atomic(void *) smp_real_execve_slot;
static _Atomic(void *) smp_real_execvpe_slot;

static int smp_running_here(void)
{
	return atomic_load_explicit(&smp_g.active, memory_order_relaxed) && smp_g.pid == getpid();
}

/* ---- threads ---- */

typedef struct smp_thread_start {
	void *(*start_routine)(void *);
	void *arg;
} smp_thread_start;

static void smp_thread_cleanup(void *unused)
{
	(void)unused;
	smp_sthread_end();
}

static void *smp_thread_trampoline(void *p)
{
	smp_thread_start start = *(smp_thread_start *)p;
	free(p);
	smp_sthread_begin();
	void *ret;
	pthread_cleanup_push(smp_thread_cleanup, NULL);
	ret = start.start_routine(start.arg);
	pthread_cleanup_pop(1);
	return ret;
}

int smp_real_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                            void *arg)
{
	smp_pthread_create_fn real = SMP_REAL(smp_real_pthread_create_slot, "pthread_create");
	return real ? real(thread, attr, start, arg) : EAGAIN;
}

SMP_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                              void *(*start_routine)(void *), void *arg)
{
	smp_pthread_create_fn real = SMP_REAL(smp_real_pthread_create_slot, "pthread_create");
	if (!real)
		return EAGAIN;
	if (!smp_running_here())
		return real(thread, attr, start_routine, arg);
	smp_thread_start *start = malloc(sizeof *start);
	if (!start)
		return real(thread, attr, start_routine, arg);
	start->start_routine = start_routine;
	start->arg = arg;
	int rc = real(thread, attr, smp_thread_trampoline, start);
	if (rc != 0)
		free(start);
	return rc;
}

typedef int (*smp_setname_fn)(pthread_t, const char *);
static _Atomic(void *) smp_real_setname_slot;

/* Threads are usually named after they start: announce the new name. */
SMP_EXPORT int pthread_setname_np(pthread_t thread, const char *name)
{
	smp_setname_fn real = SMP_REAL(smp_real_setname_slot, "pthread_setname_np");
	if (!real)
		return ENOSYS;
	int rc = real(thread, name);
	if (rc == 0 && smp_running_here())
		smp_sthread_renamed(thread, name);
	return rc;
}

/* ---- signals ---- */

int smp_real_sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
	smp_sigaction_fn real = SMP_REAL(smp_real_sigaction_slot, "sigaction");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(signo, act, old);
}

static int smp_is_sampling_signal(int signo)
{
	return smp_g.handler_installed && signo == smp_g.signo;
}

SMP_EXPORT int sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
	if (smp_is_sampling_signal(signo))
		return smp_handler_user_action(act, old);
	return smp_fatal_sigaction(signo, act, old);
}

/* glibc's signal() does not go through sigaction() by symbol: wrap it too,
 * with its BSD semantics (SA_RESTART, handler stays installed). */
SMP_EXPORT sighandler_t signal(int signo, sighandler_t handler)
{
	struct sigaction act, old;
	memset(&act, 0, sizeof act);
	act.sa_handler = handler;
	act.sa_flags = SA_RESTART;
	sigemptyset(&act.sa_mask);
	if (smp_is_sampling_signal(signo)) {
		smp_handler_user_action(&act, &old);
		return old.sa_handler;
	}
	sigaddset(&act.sa_mask, signo);
	if (smp_fatal_sigaction(signo, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

/* ---- dynamic loading ---- */

SMP_EXPORT void *dlopen(const char *file, int mode)
{
	smp_dlopen_fn real = SMP_REAL(smp_real_dlopen_slot, "dlopen");
	if (!real)
		return NULL;
	smp_in_loader++;
	void *handle = real(file, mode);
	smp_in_loader--;
	if (handle && smp_running_here())
		smp_modules_scan();
	return handle;
}

SMP_EXPORT int dlclose(void *handle)
{
	smp_dlclose_fn real = SMP_REAL(smp_real_dlclose_slot, "dlclose");
	if (!real)
		return -1;
	smp_in_loader++;
	int rc = real(handle);
	smp_in_loader--;
	return rc;
}

/* ---- exec ---- */

/* Before exec: stop every source, discard pending sampling signals (SIG_IGN
 * discards them and survives exec, whereas SIG_DFL would let a queued
 * real-time signal kill the new image), flush the log. The registry stays
 * locked until exec fails (a successful exec never returns). */
static int smp_exec_prepare(void)
{
	/* A vfork child shares the parent's memory (and a fork child whose log
	 * was not reopened has none of its own): touch nothing. */
	if (smp_g.pid != getpid())
		return 0;
	if (!smp_g.handler_installed) {
		if (lc_log_is_open())
			lc_log_flush();
		return 0;
	}
	smp_registry_lock();
	for (smp_sthread *st = smp_registry_head(); st; st = st->next)
		smp_sthread_disarm(st);
	struct sigaction ign;
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	smp_real_sigaction(smp_g.signo, &ign, NULL);
	if (lc_log_is_open())
		lc_log_flush();
	return 1;
}

static void smp_exec_failed(int prepared)
{
	if (!prepared)
		return;
	int saved_errno = errno;
	smp_handler_reinstall();
	if (atomic_load(&smp_g.active))
		for (smp_sthread *st = smp_registry_head(); st; st = st->next)
			if (!st->released)
				smp_sthread_rearm(st);
	smp_registry_unlock();
	errno = saved_errno;
}

SMP_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	smp_execve_fn real = SMP_REAL(smp_real_execve_slot, "execve");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	int prepared = smp_exec_prepare();
	int rc = real(path, argv, envp);
	smp_exec_failed(prepared);
	return rc;
}

SMP_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	smp_execvpe_fn real = SMP_REAL(smp_real_execvpe_slot, "execvpe");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	int prepared = smp_exec_prepare();
	int rc = real(file, argv, envp);
	smp_exec_failed(prepared);
	return rc;
}

SMP_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

SMP_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* The execl family: collect the variadic arguments into an argv on the
 * stack (exec must not allocate on the way out of a vfork-like child). */
#define SMP_EXECL_MAX_ARGS 4096

static size_t smp_execl_count(const char *arg0, va_list ap)
{
	size_t n = 1;
	if (!arg0)
		return 0;
	while (va_arg(ap, char *) && n < SMP_EXECL_MAX_ARGS)
		n++;
	return n;
}

static void smp_execl_fill(char **argv, size_t n, const char *arg0, va_list ap)
{
	if (n > 0)
		argv[0] = (char *)arg0;
	for (size_t i = 1; i < n; i++)
		argv[i] = va_arg(ap, char *);
	argv[n] = NULL;
}

SMP_EXPORT int execl(const char *path, const char *arg0, ...)
{
	va_list ap;
	va_start(ap, arg0);
	size_t n = smp_execl_count(arg0, ap);
	va_end(ap);
	char *argv[n + 1];
	va_start(ap, arg0);
	smp_execl_fill(argv, n, arg0, ap);
	va_end(ap);
	return execve(path, argv, environ);
}

SMP_EXPORT int execlp(const char *file, const char *arg0, ...)
{
	va_list ap;
	va_start(ap, arg0);
	size_t n = smp_execl_count(arg0, ap);
	va_end(ap);
	char *argv[n + 1];
	va_start(ap, arg0);
	smp_execl_fill(argv, n, arg0, ap);
	va_end(ap);
	return execvpe(file, argv, environ);
}

SMP_EXPORT int execle(const char *path, const char *arg0, ...)
{
	va_list ap;
	va_start(ap, arg0);
	size_t n = smp_execl_count(arg0, ap);
	va_end(ap);
	char *argv[n + 1];
	va_start(ap, arg0);
	smp_execl_fill(argv, n, arg0, ap);
	(void)va_arg(ap, char *); /* the NULL that ends the arguments */
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}
