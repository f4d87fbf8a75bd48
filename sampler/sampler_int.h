/*
 * sampler_int.h - what the sampler's files share (private to sampler/).
 *
 * Design: each sampled thread owns one smp_sthread (heap, created by the
 * thread itself). Its TLS pointer (initial-exec, so the signal handler can
 * read it without calling into the dynamic linker) is the only way the
 * handler finds its ring. A registry (mutex) links every smp_sthread so that
 * stop, exec and fork can reach the sampling sources of all threads; only
 * the owner thread retires its ring and frees its smp_sthread.
 *
 * Fields read by the handler and written by another thread (perf_fd,
 * perf_ring, has_timer, armed) are atomics; everything else is owner-only.
 * The handler sets perf_busy while it uses perf_fd or perf_ring (it reads
 * the ring and, once, restores the period with ioctl); a thread that
 * disables, closes or unmaps them first clears the pointer, then waits for
 * perf_busy to drop, so the handler never touches a closed fd (whose number
 * may be reused) or an unmapped ring.
 */
#ifndef SMP_SAMPLER_INT_H
#define SMP_SAMPLER_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "log_writer.h"
#include "sampler.h"

#define SMP_DEFAULT_HZ 999u
#define SMP_MAX_HZ     100000u
/* The perf ring of a thread: one metadata page and one data page, room for
 * 512 header-only overflow records (the handler empties it each time). */
#define SMP_PERF_RING_PAGES 2u

typedef struct smp_sthread {
	struct smp_sthread *next; /* registry link (under registry lock) */
	lc_ring *ring;            /* NULL when retired: handler drops samples */
	_Atomic int perf_fd;      /* -1 if none */
	void *_Atomic perf_ring;  /* perf_event_mmap_page + data pages, NULL if none */
	_Atomic int perf_busy;    /* the handler uses perf_fd / perf_ring */
	_Atomic int has_timer;    /* read by the handler */
	timer_t timer;
	pthread_t self;
	uint32_t tid;
	_Atomic int armed;                    /* 1 while the source is ticking */
	int released;                         /* source closed for good */
	volatile sig_atomic_t in_handler;     /* reentrancy guard */
	volatile sig_atomic_t first_period;   /* random first period still set */
	_Atomic uint64_t samples;             /* written by the handler only */
	uint64_t start_ns;                    /* CPU or wall ns when armed */
	uint64_t start_cpu_ns;                /* thread CPU ns when armed */
	uint64_t sampled_cpu_ns;              /* thread CPU ns while armed, set at release */
	_Atomic uint64_t first_sample_cpu_ns; /* the handler's CPU for the first sample */
	int cpu_noted;                        /* sampled_cpu_ns is set */
} smp_sthread;

/* Global sampler state (sampler.c). */
typedef struct smp_global {
	_Atomic int active; /* new threads get sampled while set */
	int mode;           /* smp_sample_mode */
	int mechanism;      /* lc_sampler_mech */
	int signo;
	uint32_t hz;
	uint64_t period_ns;
	int handler_installed;
	int signal_conflict; /* the program installed its own handler */
	int user_only;       /* perf events exclude the kernel (refused otherwise) */
	/* Totals of threads already torn down (under registry lock). */
	uint64_t done_samples;
	uint64_t done_ns;
	int pid; /* process that started: a forked child differs until atfork_child */
} smp_global;

extern smp_global smp_g;
extern __thread smp_sthread *smp_sthread_self __attribute__((tls_model("initial-exec")));

/* sampler_thread.c: per-thread sources and the registry. */
void smp_registry_lock(void);
void smp_registry_unlock(void);
void smp_registry_reinit_after_fork(void);
smp_sthread *smp_registry_head(void);
int smp_sthread_begin(void);               /* calling thread: ring, source, THREAD */
void smp_sthread_end(void);                /* calling thread: stop, retire, free */
void smp_sthread_disarm(smp_sthread *st);  /* any thread, registry locked */
void smp_sthread_rearm(smp_sthread *st);   /* any thread, registry locked */
void smp_sthread_release(smp_sthread *st); /* close the source (registry locked) */
void smp_sthread_renamed(pthread_t thread, const char *name); /* THREAD record */
uint64_t smp_sthread_elapsed_ns(const smp_sthread *st);
uint64_t smp_now_ns(const smp_sthread *st);
uint64_t smp_sthread_cpu_ns(const smp_sthread *st); /* the thread's CPU ns, 0 on error */
/* Can this process open the event? Tries kernel + user time first, then
 * user time only (then sets smp_g.user_only). 0 or -errno. */
int smp_sthread_probe_perf(void);
void smp_sthread_forget_all_after_fork(void);

/* sampler_handler.c */
void smp_on_signal(int signo, siginfo_t *si, void *uc);
int smp_handler_install(int signo); /* 0 or -SP_E*; remembers previous action */
/* Nonzero while the calling thread runs the handler (tests use it). */
int smp_in_handler(void);
/* The program's own action for our signal (sigaction interposition). */
int smp_handler_user_action(const struct sigaction *act, struct sigaction *old);

/* sampler_modules.c */
void smp_modules_scan(void);       /* emits MODULE records for modules not yet seen */
void smp_modules_after_fork(void); /* fork child: reset the scan lock */

extern __thread volatile sig_atomic_t smp_in_loader __attribute__((tls_model("initial-exec")));

/* sampler_interpose.c */
int smp_real_sigaction(int signo, const struct sigaction *act, struct sigaction *old);
/* The handler's own action, to reinstall after a failed exec. */
void smp_handler_reinstall(void);

/* Writes one line to stderr with write(2) (no stdio). */
void smp_warn(const char *msg);

#endif
