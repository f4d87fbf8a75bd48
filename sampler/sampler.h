/*
 * sampler.h - the sampler as the runtime sees it (private).
 *
 * The runtime (tracer/runtime.c) opens the log, then calls smp_start;
 * on stop it calls smp_stop before closing the log. The sampler
 * samples every thread of the process, including threads created later,
 * until stop; it records loaded modules (at start and on dlopen) and a
 * SAMPLER record saying which mechanism ran at which rates.
 *
 * Threading: start/stop/atfork from one thread at a time (the runtime
 * serialises them). Not signal-safe.
 */
#ifndef SMP_SAMPLER_H
#define SMP_SAMPLER_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

typedef enum smp_sample_mode {
	SMP_SAMPLE_CPU = 1,  /* on-CPU time (task clock), the default */
	SMP_SAMPLE_WALL = 2, /* every thread at a fixed wall-clock rate */
	SMP_SAMPLE_OFF = 3,  /* spans only */
} smp_sample_mode;

typedef struct smp_opts {
	int mode;    /* smp_sample_mode */
	uint32_t hz; /* 0 = 999 */
} smp_opts;

int smp_start(const smp_opts *opts); /* 0 or -SP_E* */
void smp_stop(void);                 /* idempotent */
/* Called in the child after fork, after the log was reopened. */
void smp_atfork_child(void);
/* Fatal signals (sampler_fatal.c): for each signal that ends the process
 * and that the program leaves at SIG_DFL, a one-shot handler asks the log
 * writer for a last drain (at most 1 s) and then lets the signal do what it
 * would have done. Install after the log opened and the sampler started,
 * uninstall before the log closes; both under the runtime's lock.
 * smp_fatal_sigaction is what the sigaction/signal interposers call for
 * every other signal: the program sees SIG_DFL where our handler sits, and
 * its own action replaces it. */
void smp_fatal_install(void);
void smp_fatal_uninstall(void);
int smp_fatal_sigaction(int signo, const struct sigaction *act, struct sigaction *old);
/* The pthread_create that the sampler's interposer wraps (the next
 * definition, libc's as a rule): a thread created here is never registered
 * nor sampled. The runtime hands it to the log writer (lc_log_set_thread_create)
 * for spanprof's own threads. EAGAIN when libc's cannot be found. Thread-safe. */
int smp_real_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                            void *arg);

#endif
