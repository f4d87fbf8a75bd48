/*
 * sampler_thread.c - one sampling source per thread, and the registry.
 *
 * Design: a thread arms its own source: a perf task-clock event opened for
 * its tid whose overflow signal is routed to that tid (O_ASYNC, F_SETSIG,
 * F_SETOWN_EX/F_OWNER_TID), or a POSIX timer (CLOCK_THREAD_CPUTIME_ID for the
 * cpu fallback, CLOCK_MONOTONIC for wall mode) delivered with
 * SIGEV_THREAD_ID. Perf fds and timer ids are process-wide, so stop, exec
 * and fork can disarm every thread's source from one thread while holding
 * the registry lock; only the owner retires its ring (SPSC contract).
 *
 * Random phase: a source that always started a fresh period at thread start
 * would never sample a thread shorter than one period. Each thread's first
 * period is a uniform random fraction of the period (perf: the event opens
 * with that sample_period and PERF_EVENT_IOC_REFRESH(1), so it disables
 * itself after that one overflow and the handler restores the regular
 * period; timers: a random first it_value). Then a thread of CPU time c
 * gets c / period samples on average, whatever its length. The event
 * disabling itself also means that a thread which blocks the signal gets
 * one pending signal, not a stream of them at the short first period.
 *
 * Kernel time: the event counts user and kernel time when the kernel lets
 * us (exclude_kernel = 0), and writes one header-only record per overflow
 * into a 2-page ring mapped per thread; the record's misc field says whether
 * the overflow hit user or kernel mode (the signal itself is delivered on
 * return to user space, so the handler alone cannot tell).
 *
 * Threading: registry functions take a mutex; never called from the handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "sampler_int.h"
#include "spanprof.h"

__thread smp_sthread *smp_sthread_self __attribute__((tls_model("initial-exec")));

static pthread_mutex_t smp_registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static smp_sthread *smp_registry;

void smp_registry_lock(void)
{
	pthread_mutex_lock(&smp_registry_mutex);
}

void smp_registry_unlock(void)
{
	pthread_mutex_unlock(&smp_registry_mutex);
}

/* The child of fork has one thread; a lock held by another parent thread at
 * fork time would never be released. */
void smp_registry_reinit_after_fork(void)
{
	pthread_mutex_init(&smp_registry_mutex, NULL);
}

smp_sthread *smp_registry_head(void)
{
	return smp_registry;
}

static void smp_registry_remove(smp_sthread *st)
{
	for (smp_sthread **p = &smp_registry; *p; p = &(*p)->next) {
		if (*p == st) {
			*p = st->next;
			return;
		}
	}
}

static int smp_perf_open(uint32_t tid, uint64_t period_ns, int exclude_kernel)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.sample_period = period_ns;
	attr.disabled = 1;
	attr.exclude_kernel = (unsigned)exclude_kernel;
	attr.exclude_hv = 1;
	attr.wakeup_events = 1;
	long fd = syscall(SYS_perf_event_open, &attr, (pid_t)tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

int smp_sthread_probe_perf(void)
{
	smp_g.user_only = 0;
	int fd = smp_perf_open((uint32_t)gettid(), 1000000, 0);
	if (fd == -EACCES || fd == -EPERM) {
		fd = smp_perf_open((uint32_t)gettid(), 1000000, 1);
		smp_g.user_only = fd >= 0;
	}
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* A uniform pseudo-random phase in [1, period_ns]: splitmix64 over the
 * clock, the tid and a process-wide counter (statistics, not secrets). */
static uint64_t smp_random_phase_ns(const smp_sthread *st, uint64_t period_ns)
{
	static _Atomic uint64_t counter;
	uint64_t x = lc_clock_ticks() ^ ((uint64_t)st->tid << 32) ^ (uint64_t)(uintptr_t)st;
	x += (atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) + 1) *
	     UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return 1 + x % period_ns;
}

static size_t smp_perf_ring_bytes(void)
{
	return SMP_PERF_RING_PAGES * (size_t)sysconf(_SC_PAGESIZE);
}

/* Without the ring (mmap refused, e.g. over perf_event_mlock_kb for an
 * unprivileged user) sampling still works: each signal counts one period
 * and kernel samples are not told apart. */
static void smp_perf_map_ring(smp_sthread *st, int fd)
{
	void *ring = mmap(NULL, smp_perf_ring_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring != MAP_FAILED)
		atomic_store(&st->perf_ring, ring);
}

/* Routes the event's overflow signal to the owner thread. */
static int smp_perf_route(int fd, uint32_t tid, int signo)
{
	struct f_owner_ex owner = {.type = F_OWNER_TID, .pid = (pid_t)tid};
	if (fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) < 0 || fcntl(fd, F_SETSIG, signo) < 0 ||
	    fcntl(fd, F_SETOWN_EX, &owner) < 0)
		return -errno;
	return 0;
}

static int smp_timer_open(smp_sthread *st)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = smp_g.signo;
	sev.sigev_value.sival_ptr = st;
	sev._sigev_un._tid = (pid_t)st->tid;
	clockid_t clock = smp_g.mode == SMP_SAMPLE_WALL ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
	if (timer_create(clock, &sev, &st->timer) < 0)
		return -errno;
	st->first_period = 1;
	st->has_timer = 1;
	return 0;
}

static int smp_source_open(smp_sthread *st)
{
	if (smp_g.mechanism == LC_SAMPLER_TIMER)
		return smp_timer_open(st);
	uint64_t phase_ns = smp_random_phase_ns(st, smp_g.period_ns);
	int fd = smp_perf_open(st->tid, phase_ns, smp_g.user_only);
	if (fd < 0)
		return fd;
	int rc = smp_perf_route(fd, st->tid, smp_g.signo);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	if (!smp_g.user_only)
		smp_perf_map_ring(st, fd);
	st->first_period = 1;
	atomic_store(&st->perf_fd, fd);
	return 0;
}

static void smp_timespec_set(struct timespec *ts, uint64_t ns)
{
	ts->tv_sec = (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

/* first_ns = 0 disarms. */
static void smp_timer_set(smp_sthread *st, uint64_t first_ns, uint64_t period_ns)
{
	struct itimerspec its;
	smp_timespec_set(&its.it_value, first_ns);
	smp_timespec_set(&its.it_interval, period_ns);
	timer_settime(st->timer, 0, &its, NULL);
}

/* Called first at publish (random first period), again only after a
 * failed exec (then the regular period). armed is set first: the first
 * overflow can come before the ioctl even returns, and its handler only
 * restores the regular period of an armed source. */
void smp_sthread_rearm(smp_sthread *st)
{
	int fd = atomic_load(&st->perf_fd);
	uint64_t period_ns = smp_g.period_ns;
	if (fd < 0 && !st->has_timer)
		return;
	atomic_store(&st->armed, 1);
	if (fd >= 0 && st->first_period) {
		ioctl(fd, PERF_EVENT_IOC_REFRESH, 1); /* one overflow, then the handler */
	} else if (fd >= 0) {
		ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
	} else {
		uint64_t first_ns =
		    st->first_period ? smp_random_phase_ns(st, period_ns) : period_ns;
		st->first_period = 0; /* it_interval takes over: nothing for the handler */
		smp_timer_set(st, first_ns, period_ns);
	}
}

/* The handler runs on st's thread and holds perf_busy while it uses the
 * fd or the ring; the caller has already cleared what it will take away,
 * so the handler cannot start using it again. Bounded: the handler never
 * blocks. On st's own thread perf_busy is never seen set. */
static void smp_sthread_wait_perf_idle(smp_sthread *st)
{
	while (atomic_load(&st->perf_busy))
		sched_yield();
}

void smp_sthread_disarm(smp_sthread *st)
{
	if (!atomic_exchange(&st->armed, 0))
		return;
	smp_sthread_wait_perf_idle(st); /* it no longer re-enables the event */
	int fd = atomic_load(&st->perf_fd);
	if (fd >= 0)
		ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
	else if (st->has_timer)
		smp_timer_set(st, 0, 0);
}

/* The CPU time st used while armed, once, before the source is disarmed
 * (the disarming ioctl is not sampled). */
static void smp_sthread_note_cpu(smp_sthread *st)
{
	if (st->released || !st->start_cpu_ns || st->cpu_noted)
		return;
	uint64_t end_ns = smp_sthread_cpu_ns(st) - atomic_load(&st->first_sample_cpu_ns);
	st->sampled_cpu_ns = end_ns > st->start_cpu_ns ? end_ns - st->start_cpu_ns : 0;
	st->cpu_noted = 1;
}

/* Closes the source for good; the handler no longer recognises its
 * signals (perf_fd = -1 before close, so a reused fd number is not ours).
 * Remembers the CPU time the thread used while it was armed, less the
 * handler's first sample on it: that one pays libunwind's per-thread set-up
 * (~0.1-0.2 ms here), and for a thread shorter than a period it would come
 * on top of CPU the samples measure (docs/sampling.md, "Short threads"). */
void smp_sthread_release(smp_sthread *st)
{
	smp_sthread_note_cpu(st);
	smp_sthread_disarm(st);
	void *ring = atomic_exchange(&st->perf_ring, NULL);
	int fd = atomic_exchange(&st->perf_fd, -1);
	smp_sthread_wait_perf_idle(st);
	if (ring)
		munmap(ring, smp_perf_ring_bytes());
	if (fd >= 0)
		close(fd);
	if (atomic_exchange(&st->has_timer, 0))
		timer_delete(st->timer);
	st->released = 1;
}

uint64_t smp_now_ns(const smp_sthread *st)
{
	struct timespec ts;
	clockid_t clock = CLOCK_MONOTONIC;
	if (smp_g.mode != SMP_SAMPLE_WALL && pthread_getcpuclockid(st->self, &clock) != 0)
		return 0;
	if (clock_gettime(clock, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t smp_sthread_cpu_ns(const smp_sthread *st)
{
	struct timespec ts;
	clockid_t clock;
	if (pthread_getcpuclockid(st->self, &clock) != 0 || clock_gettime(clock, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t smp_sthread_elapsed_ns(const smp_sthread *st)
{
	if (st->released)
		return 0;
	uint64_t now_ns = smp_now_ns(st);
	return now_ns > st->start_ns ? now_ns - st->start_ns : 0;
}

/* Enough room for ~200 ms of samples of ~32 frames at the requested rate,
 * so a 100 ms flush interval never fills it in steady state. */
static size_t smp_ring_bytes(void)
{
	size_t bytes = (size_t)smp_g.hz / 5u * (32u + 32u * 8u);
	if (bytes < 64u * 1024u)
		bytes = 64u * 1024u;
	if (bytes > 2u * 1024u * 1024u)
		bytes = 2u * 1024u * 1024u;
	return bytes;
}

static void smp_emit_thread_named(uint32_t tid, const char *name)
{
	lc_record rec;
	memset(&rec, 0, sizeof rec);
	rec.type = LC_REC_THREAD;
	rec.u.thread.ts = lc_clock_ticks();
	rec.u.thread.tid = tid;
	rec.u.thread.name = name;
	lc_log_meta(&rec, 1);
}

static void smp_emit_thread(uint32_t tid)
{
	char name[32] = "";
	prctl(PR_GET_NAME, name, 0, 0, 0);
	name[sizeof name - 1] = '\0';
	smp_emit_thread_named(tid, name);
}

void smp_sthread_renamed(pthread_t thread, const char *name)
{
	uint32_t tid = 0;
	smp_registry_lock();
	for (smp_sthread *st = smp_registry; st; st = st->next)
		if (pthread_equal(st->self, thread))
			tid = st->tid;
	smp_registry_unlock();
	if (tid)
		smp_emit_thread_named(tid, name);
}

/* The CPU time the thread used while sampled and, when it got no sample
 * and ends with the sampling signal blocked, the flag that says why: merge
 * and record report such threads instead of leaving them silently out. */
static void smp_emit_thread_end(const smp_sthread *st)
{
	lc_record rec;
	memset(&rec, 0, sizeof rec);
	rec.type = LC_REC_THREAD_END;
	rec.u.thread_end.ts = lc_clock_ticks();
	rec.u.thread_end.tid = st->tid;
	rec.u.thread_end.cpu_ns = st->sampled_cpu_ns;
	sigset_t mask;
	if (atomic_load(&st->samples) == 0 && pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 &&
	    sigismember(&mask, smp_g.signo) == 1)
		rec.u.thread_end.flags |= LC_THREAD_END_F_SIGNAL_BLOCKED;
	lc_log_meta(&rec, 0);
}

/* Publishes st and arms it, unless stop ran meanwhile. */
static int smp_sthread_publish(smp_sthread *st)
{
	smp_registry_lock();
	if (!atomic_load(&smp_g.active)) {
		smp_registry_unlock();
		return -SP_ESTATE;
	}
	st->next = smp_registry;
	smp_registry = st;
	smp_sthread_self = st;
	atomic_signal_fence(memory_order_seq_cst);
	st->start_ns = smp_now_ns(st);
	smp_sthread_rearm(st);
	st->start_cpu_ns = smp_sthread_cpu_ns(st);
	smp_registry_unlock();
	return 0;
}

int smp_sthread_begin(void)
{
	if (smp_sthread_self || !atomic_load(&smp_g.active))
		return 0;
	smp_sthread *st = calloc(1, sizeof *st);
	if (!st)
		return -SP_ENOMEM;
	st->tid = (uint32_t)gettid();
	st->self = pthread_self();
	atomic_init(&st->perf_fd, -1);
	st->ring = lc_ring_create(st->tid, smp_ring_bytes());
	if (!st->ring) {
		free(st);
		return -SP_ENOMEM;
	}
	smp_emit_thread(st->tid);
	int rc = smp_source_open(st);
	if (rc == 0)
		rc = smp_sthread_publish(st);
	if (rc < 0) {
		smp_sthread_release(st);
		lc_ring_retire(st->ring);
		free(st);
	}
	return rc;
}

void smp_sthread_end(void)
{
	smp_sthread *st = smp_sthread_self;
	if (!st)
		return;
	smp_sthread_note_cpu(st);
	smp_registry_lock();
	smp_registry_remove(st);
	smp_sthread_disarm(st);
	if (!st->released) {
		smp_g.done_samples += atomic_load(&st->samples);
		smp_g.done_ns += smp_sthread_elapsed_ns(st);
	}
	smp_sthread_release(st);
	smp_registry_unlock();
	smp_sthread_self = NULL;
	atomic_signal_fence(memory_order_seq_cst);
	lc_ring *ring = st->ring;
	st->ring = NULL;
	smp_emit_thread_end(st);
	lc_ring_retire(ring);
	free(st);
}

/* In a forked child: the parent's threads are gone, their perf fds and
 * rings are inherited duplicates (close and unmap them), timers are not inherited, and the log
 * writer already dropped every ring. */
void smp_sthread_forget_all_after_fork(void)
{
	smp_sthread *st = smp_registry;
	smp_registry = NULL;
	smp_sthread_self = NULL;
	while (st) {
		smp_sthread *next = st->next;
		int fd = atomic_load(&st->perf_fd);
		if (fd >= 0)
			close(fd);
		void *ring = atomic_load(&st->perf_ring);
		if (ring)
			munmap(ring, smp_perf_ring_bytes());
		free(st);
		st = next;
	}
}
