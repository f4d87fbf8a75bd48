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

__thread sp_sthread *sp_sthread_self __attribute__((tls_model("initial-exec")));

static pthread_mutex_t sp_registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static sp_sthread *sp_registry;

void sp_registry_lock(void)
{
	pthread_mutex_lock(&sp_registry_mutex);
}

void sp_registry_unlock(void)
{
	pthread_mutex_unlock(&sp_registry_mutex);
}

/* The child of fork has one thread; a lock held by another parent thread at
 * fork time would never be released. */
void sp_registry_reinit_after_fork(void)
{
	pthread_mutex_init(&sp_registry_mutex, NULL);
}

sp_sthread *sp_registry_head(void)
{
	return sp_registry;
}

static void sp_registry_remove(sp_sthread *st)
{
	for (sp_sthread **p = &sp_registry; *p; p = &(*p)->next) {
		if (*p == st) {
			*p = st->next;
			return;
		}
	}
}

static int sp_perf_open(uint32_t tid, uint64_t period_ns, int exclude_kernel)
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

int sp_sthread_probe_perf(void)
{
	sp_sampler_g.user_only = 0;
	int fd = sp_perf_open((uint32_t)gettid(), 1000000, 0);
	if (fd == -EACCES || fd == -EPERM) {
		fd = sp_perf_open((uint32_t)gettid(), 1000000, 1);
		sp_sampler_g.user_only = fd >= 0;
	}
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* A uniform pseudo-random phase in [1, period_ns]: splitmix64 over the
 * clock, the tid and a process-wide counter (statistics, not secrets). */
static uint64_t sp_random_phase_ns(const sp_sthread *st, uint64_t period_ns)
{
	static _Atomic uint64_t counter;
	uint64_t x = sp_clock_ticks() ^ ((uint64_t)st->tid << 32) ^ (uint64_t)(uintptr_t)st;
	x += (atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) + 1) *
	     UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return 1 + x % period_ns;
}

static size_t sp_perf_ring_bytes(void)
{
	return SP_PERF_RING_PAGES * (size_t)sysconf(_SC_PAGESIZE);
}

/* Without the ring (mmap refused, e.g. over perf_event_mlock_kb for an
 * unprivileged user) sampling still works: each signal counts one period
 * and kernel samples are not told apart. */
static void sp_perf_map_ring(sp_sthread *st, int fd)
{
	void *ring = mmap(NULL, sp_perf_ring_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring != MAP_FAILED)
		atomic_store(&st->perf_ring, ring);
}

/* Routes the event's overflow signal to the owner thread. */
static int sp_perf_route(int fd, uint32_t tid, int signo)
{
	struct f_owner_ex owner = {.type = F_OWNER_TID, .pid = (pid_t)tid};
	if (fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) < 0 || fcntl(fd, F_SETSIG, signo) < 0 ||
	    fcntl(fd, F_SETOWN_EX, &owner) < 0)
		return -errno;
	return 0;
}

static int sp_timer_open(sp_sthread *st)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = sp_sampler_g.signo;
	sev.sigev_value.sival_ptr = st;
	sev._sigev_un._tid = (pid_t)st->tid;
	clockid_t clock =
	    sp_sampler_g.mode == SP_SAMPLE_WALL ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
	if (timer_create(clock, &sev, &st->timer) < 0)
		return -errno;
	st->first_period = 1;
	st->has_timer = 1;
	return 0;
}

static int sp_source_open(sp_sthread *st)
{
	if (sp_sampler_g.mechanism == SP_SAMPLER_TIMER)
		return sp_timer_open(st);
	uint64_t phase_ns = sp_random_phase_ns(st, sp_sampler_g.period_ns);
	int fd = sp_perf_open(st->tid, phase_ns, sp_sampler_g.user_only);
	if (fd < 0)
		return fd;
	int rc = sp_perf_route(fd, st->tid, sp_sampler_g.signo);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	if (!sp_sampler_g.user_only)
		sp_perf_map_ring(st, fd);
	st->first_period = 1;
	atomic_store(&st->perf_fd, fd);
	return 0;
}

static void sp_timespec_set(struct timespec *ts, uint64_t ns)
{
	ts->tv_sec = (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

/* first_ns = 0 disarms. */
static void sp_timer_set(sp_sthread *st, uint64_t first_ns, uint64_t period_ns)
{
	struct itimerspec its;
	sp_timespec_set(&its.it_value, first_ns);
	sp_timespec_set(&its.it_interval, period_ns);
	timer_settime(st->timer, 0, &its, NULL);
}

/* Called first at publish (random first period), again only after a
 * failed exec (then the regular period). armed is set first: the first
 * overflow can come before the ioctl even returns, and its handler only
 * restores the regular period of an armed source. */
void sp_sthread_rearm(sp_sthread *st)
{
	int fd = atomic_load(&st->perf_fd);
	uint64_t period_ns = sp_sampler_g.period_ns;
	if (fd < 0 && !st->has_timer)
		return;
	atomic_store(&st->armed, 1);
	if (fd >= 0 && st->first_period) {
		ioctl(fd, PERF_EVENT_IOC_REFRESH, 1); /* one overflow, then the handler */
	} else if (fd >= 0) {
		ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
	} else {
		uint64_t first_ns =
		    st->first_period ? sp_random_phase_ns(st, period_ns) : period_ns;
		st->first_period = 0; /* it_interval takes over: nothing for the handler */
		sp_timer_set(st, first_ns, period_ns);
	}
}

/* The handler runs on st's thread and holds perf_busy while it uses the
 * fd or the ring; the caller has already cleared what it will take away,
 * so the handler cannot start using it again. Bounded: the handler never
 * blocks. On st's own thread perf_busy is never seen set. */
static void sp_sthread_wait_perf_idle(sp_sthread *st)
{
	while (atomic_load(&st->perf_busy))
		sched_yield();
}

void sp_sthread_disarm(sp_sthread *st)
{
	if (!atomic_exchange(&st->armed, 0))
		return;
	sp_sthread_wait_perf_idle(st); /* it no longer re-enables the event */
	int fd = atomic_load(&st->perf_fd);
	if (fd >= 0)
		ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
	else if (st->has_timer)
		sp_timer_set(st, 0, 0);
}

/* The CPU time st used while armed, once, before the source is disarmed
 * (the disarming ioctl is not sampled). */
static void sp_sthread_note_cpu(sp_sthread *st)
{
	if (st->released || !st->start_cpu_ns || st->cpu_noted)
		return;
	uint64_t end_ns = sp_sthread_cpu_ns(st) - atomic_load(&st->first_sample_cpu_ns);
	st->sampled_cpu_ns = end_ns > st->start_cpu_ns ? end_ns - st->start_cpu_ns : 0;
	st->cpu_noted = 1;
}

/* Closes the source for good; the handler no longer recognises its
 * signals (perf_fd = -1 before close, so a reused fd number is not ours).
 * Remembers the CPU time the thread used while it was armed, less the
 * handler's first sample on it: that one pays libunwind's per-thread set-up
 * (~0.1-0.2 ms here), and for a thread shorter than a period it would come
 * on top of CPU the samples measure (docs/sampling.md, "Short threads"). */
void sp_sthread_release(sp_sthread *st)
{
	sp_sthread_note_cpu(st);
	sp_sthread_disarm(st);
	void *ring = atomic_exchange(&st->perf_ring, NULL);
	int fd = atomic_exchange(&st->perf_fd, -1);
	sp_sthread_wait_perf_idle(st);
	if (ring)
		munmap(ring, sp_perf_ring_bytes());
	if (fd >= 0)
		close(fd);
	if (atomic_exchange(&st->has_timer, 0))
		timer_delete(st->timer);
	st->released = 1;
}

uint64_t sp_sampler_now_ns(const sp_sthread *st)
{
	struct timespec ts;
	clockid_t clock = CLOCK_MONOTONIC;
	if (sp_sampler_g.mode != SP_SAMPLE_WALL && pthread_getcpuclockid(st->self, &clock) != 0)
		return 0;
	if (clock_gettime(clock, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t sp_sthread_cpu_ns(const sp_sthread *st)
{
	struct timespec ts;
	clockid_t clock;
	if (pthread_getcpuclockid(st->self, &clock) != 0 || clock_gettime(clock, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t sp_sthread_elapsed_ns(const sp_sthread *st)
{
	if (st->released)
		return 0;
	uint64_t now_ns = sp_sampler_now_ns(st);
	return now_ns > st->start_ns ? now_ns - st->start_ns : 0;
}

/* Enough room for ~200 ms of samples of ~32 frames at the requested rate,
 * so a 100 ms flush interval never fills it in steady state. */
static size_t sp_ring_bytes(void)
{
	size_t bytes = (size_t)sp_sampler_g.hz / 5u * (32u + 32u * 8u);
	if (bytes < 64u * 1024u)
		bytes = 64u * 1024u;
	if (bytes > 2u * 1024u * 1024u)
		bytes = 2u * 1024u * 1024u;
	return bytes;
}

static void sp_emit_thread_named(uint32_t tid, const char *name)
{
	sp_record rec;
	memset(&rec, 0, sizeof rec);
	rec.type = SP_REC_THREAD;
	rec.u.thread.ts = sp_clock_ticks();
	rec.u.thread.tid = tid;
	rec.u.thread.name = name;
	sp_log_meta(&rec, 1);
}

static void sp_emit_thread(uint32_t tid)
{
	char name[32] = "";
	prctl(PR_GET_NAME, name, 0, 0, 0);
	name[sizeof name - 1] = '\0';
	sp_emit_thread_named(tid, name);
}

void sp_sthread_renamed(pthread_t thread, const char *name)
{
	uint32_t tid = 0;
	sp_registry_lock();
	for (sp_sthread *st = sp_registry; st; st = st->next)
		if (pthread_equal(st->self, thread))
			tid = st->tid;
	sp_registry_unlock();
	if (tid)
		sp_emit_thread_named(tid, name);
}

/* The CPU time the thread used while sampled and, when it got no sample
 * and ends with the sampling signal blocked, the flag that says why: merge
 * and record report such threads instead of leaving them silently out. */
static void sp_emit_thread_end(const sp_sthread *st)
{
	sp_record rec;
	memset(&rec, 0, sizeof rec);
	rec.type = SP_REC_THREAD_END;
	rec.u.thread_end.ts = sp_clock_ticks();
	rec.u.thread_end.tid = st->tid;
	rec.u.thread_end.cpu_ns = st->sampled_cpu_ns;
	sigset_t mask;
	if (atomic_load(&st->samples) == 0 && pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 &&
	    sigismember(&mask, sp_sampler_g.signo) == 1)
		rec.u.thread_end.flags |= SP_THREAD_END_F_SIGNAL_BLOCKED;
	sp_log_meta(&rec, 0);
}

/* Publishes st and arms it, unless stop ran meanwhile. */
static int sp_sthread_publish(sp_sthread *st)
{
	sp_registry_lock();
	if (!atomic_load(&sp_sampler_g.active)) {
		sp_registry_unlock();
		return -SP_ESTATE;
	}
	st->next = sp_registry;
	sp_registry = st;
	sp_sthread_self = st;
	atomic_signal_fence(memory_order_seq_cst);
	st->start_ns = sp_sampler_now_ns(st);
	sp_sthread_rearm(st);
	st->start_cpu_ns = sp_sthread_cpu_ns(st);
	sp_registry_unlock();
	return 0;
}

int sp_sthread_begin(void)
{
	if (sp_sthread_self || !atomic_load(&sp_sampler_g.active))
		return 0;
	sp_sthread *st = calloc(1, sizeof *st);
	if (!st)
		return -SP_ENOMEM;
	st->tid = (uint32_t)gettid();
	st->self = pthread_self();
	atomic_init(&st->perf_fd, -1);
	st->ring = sp_ring_create(st->tid, sp_ring_bytes());
	if (!st->ring) {
		free(st);
		return -SP_ENOMEM;
	}
	sp_emit_thread(st->tid);
	int rc = sp_source_open(st);
	if (rc == 0)
		rc = sp_sthread_publish(st);
	if (rc < 0) {
		sp_sthread_release(st);
		sp_ring_retire(st->ring);
		free(st);
	}
	return rc;
}

void sp_sthread_end(void)
{
	sp_sthread *st = sp_sthread_self;
	if (!st)
		return;
	sp_sthread_note_cpu(st);
	sp_registry_lock();
	sp_registry_remove(st);
	sp_sthread_disarm(st);
	if (!st->released) {
		sp_sampler_g.done_samples += atomic_load(&st->samples);
		sp_sampler_g.done_ns += sp_sthread_elapsed_ns(st);
	}
	sp_sthread_release(st);
	sp_registry_unlock();
	sp_sthread_self = NULL;
	atomic_signal_fence(memory_order_seq_cst);
	sp_ring *ring = st->ring;
	st->ring = NULL;
	sp_emit_thread_end(st);
	sp_ring_retire(ring);
	free(st);
}

/* In a forked child: the parent's threads are gone, their perf fds and
 * rings are inherited duplicates (close and unmap them), timers are not inherited, and the log
 * writer already dropped every ring. */
void sp_sthread_forget_all_after_fork(void)
{
	sp_sthread *st = sp_registry;
	sp_registry = NULL;
	sp_sthread_self = NULL;
	while (st) {
		sp_sthread *next = st->next;
		int fd = atomic_load(&st->perf_fd);
		if (fd >= 0)
			close(fd);
		void *ring = atomic_load(&st->perf_ring);
		if (ring)
			munmap(ring, sp_perf_ring_bytes());
		free(st);
		st = next;
	}
}
