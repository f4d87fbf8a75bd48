/*
 * sampler.c - start, stop and fork of the sampler; the SAMPLER record.
 *
 * Design: start installs one process-wide handler for the sampling signal,
 * chooses the mechanism once (perf task-clock event in cpu mode, falling back
 * to a CPU-time POSIX timer when perf events are refused; a CLOCK_MONOTONIC
 * POSIX timer in wall mode), records the loaded modules, and arms the calling
 * thread. The perf event counts kernel time too unless the kernel refuses
 * it: then it counts user time, which start says once on stderr and the
 * SAMPLER record says in its flags (merge and top label it "user CPU"). Threads created later arm
 * themselves (sampler_interpose.c). Stop disarms every thread, writes the achieved rate, and
 * retires the calling thread's ring; other threads retire theirs when they exit. The handler is
 * never uninstalled: a signal still queued after stop must not hit SIG_DFL
 * (which terminates the process for real-time signals).
 *
 * Threading: start/stop/atfork_child are serialised by the runtime.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "sampler_int.h"
#include "spanprof.h"

smp_global smp_g = {.signo = 0};

void smp_warn(const char *msg)
{
	int saved_errno = errno;
	size_t len = strlen(msg);
	ssize_t rc = write(STDERR_FILENO, msg, len);
	(void)rc;
	errno = saved_errno;
}

/* SIGRTMIN+6: see docs/sampling.md ("The signal"). SPANPROF_SIGNAL=N
 * overrides it for programs that already use that number. */
static int smp_choose_signal(void)
{
	const char *env = getenv("SPANPROF_SIGNAL");
	if (env && *env) {
		uint64_t n = 0;
		/* Only signals that mean nothing to the kernel by themselves. */
		if (lc_parse_count(env, 1, (uint64_t)SIGRTMAX, &n) == 0 &&
		    (n == SIGPROF || n >= (uint64_t)SIGRTMIN))
			return (int)n;
		char msg[256];
		snprintf(msg, sizeof msg,
		         "spanprof: invalid SPANPROF_SIGNAL=\"%.64s\" (expected SIGPROF or a "
		         "real-time signal number); using the default\n",
		         env);
		smp_warn(msg);
	}
	return SIGRTMIN + 6;
}

/* -1 if unreadable. 3 and above (Debian's extension) refuse perf events to
 * unprivileged users entirely; 2 still allows user-space self-profiling. */
static int smp_perf_paranoid(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	int level = -1;
	if (f) {
		if (fscanf(f, "%d", &level) != 1)
			level = -1;
		fclose(f);
	}
	return level;
}

static int smp_choose_mechanism(int mode)
{
	if (mode == SMP_SAMPLE_WALL)
		return LC_SAMPLER_TIMER;
	const char *force = getenv("SPANPROF_SAMPLER_FORCE_TIMER");
	if (force && *force == '1')
		return LC_SAMPLER_TIMER;
	int rc = smp_sthread_probe_perf();
	char msg[256];
	if (rc == 0 && smp_g.user_only) {
		snprintf(msg, sizeof msg,
		         "spanprof: the kernel refuses kernel-mode sampling (perf_event_paranoid = "
		         "%d, no CAP_PERFMON): samples count user CPU time only\n",
		         smp_perf_paranoid());
		smp_warn(msg);
	}
	if (rc == 0)
		return LC_SAMPLER_PERF;
	snprintf(msg, sizeof msg,
	         "spanprof: perf_event_open refused (%s; perf_event_paranoid = %d); sampling "
	         "with POSIX CPU-time timers instead (kernel-tick resolution)\n",
	         strerror(-rc), smp_perf_paranoid());
	smp_warn(msg);
	return LC_SAMPLER_TIMER;
}

static void smp_emit_info(uint32_t achieved_hz)
{
	lc_record rec;
	memset(&rec, 0, sizeof rec);
	rec.type = LC_REC_SAMPLER;
	rec.u.sampler.mechanism = (uint8_t)smp_g.mechanism;
	rec.u.sampler.mode = (uint8_t)smp_g.mode;
	rec.u.sampler.signo = (uint32_t)smp_g.signo;
	rec.u.sampler.requested_hz = smp_g.hz;
	rec.u.sampler.achieved_hz = achieved_hz;
	rec.u.sampler.flags = smp_g.signal_conflict ? LC_SAMPLER_F_SIGNAL_SHARED : 0;
	if (smp_g.mechanism == LC_SAMPLER_PERF && smp_g.user_only)
		rec.u.sampler.flags |= LC_SAMPLER_F_USER_ONLY;
	lc_log_meta(&rec, 0);
}

int smp_start(const smp_opts *opts)
{
	int mode = opts && opts->mode ? opts->mode : SMP_SAMPLE_CPU;
	uint32_t hz = opts && opts->hz ? opts->hz : SMP_DEFAULT_HZ;
	if (mode < SMP_SAMPLE_CPU || mode > SMP_SAMPLE_OFF || hz > SMP_MAX_HZ)
		return -SP_EINVAL;
	if (atomic_load(&smp_g.active))
		return -SP_ESTATE;
	smp_g.mode = mode;
	smp_g.hz = hz;
	smp_g.period_ns = 1000000000ull / hz;
	smp_g.done_samples = 0;
	smp_g.done_ns = 0;
	smp_g.pid = getpid();
	smp_modules_scan();
	if (mode == SMP_SAMPLE_OFF) {
		smp_g.mechanism = LC_SAMPLER_NONE;
		smp_emit_info(0);
		return 0;
	}
	if (!smp_g.handler_installed) {
		int signo = smp_choose_signal();
		int rc = smp_handler_install(signo);
		if (rc < 0)
			return rc;
		smp_g.signo = signo;
		smp_g.handler_installed = 1;
	}
	smp_g.mechanism = smp_choose_mechanism(mode);
	smp_emit_info(0);
	atomic_store(&smp_g.active, 1);
	int rc = smp_sthread_begin();
	if (rc < 0)
		smp_warn("spanprof: could not start sampling the calling thread\n");
	return 0;
}

/* Samples and elapsed ns of every thread, live ones included. */
static uint32_t smp_achieved_hz(void)
{
	uint64_t samples = smp_g.done_samples;
	uint64_t elapsed_ns = smp_g.done_ns;
	for (smp_sthread *st = smp_registry_head(); st; st = st->next) {
		samples += atomic_load_explicit(&st->samples, memory_order_relaxed);
		elapsed_ns += smp_sthread_elapsed_ns(st);
	}
	if (elapsed_ns == 0)
		return 0;
	return (uint32_t)((double)samples * 1e9 / (double)elapsed_ns + 0.5);
}

void smp_stop(void)
{
	if (!atomic_exchange(&smp_g.active, 0))
		return;
	smp_registry_lock();
	for (smp_sthread *st = smp_registry_head(); st; st = st->next)
		smp_sthread_disarm(st);
	uint32_t achieved_hz = smp_achieved_hz();
	for (smp_sthread *st = smp_registry_head(); st; st = st->next)
		smp_sthread_release(st);
	smp_registry_unlock();
	smp_sthread_end();  /* the calling thread's ring, now */
	smp_modules_scan(); /* libraries loaded by means we did not see */
	smp_emit_info(achieved_hz);
}

void smp_atfork_child(void)
{
	smp_registry_reinit_after_fork();
	smp_modules_after_fork();
	smp_sthread_forget_all_after_fork();
	smp_g.pid = getpid();
	if (!atomic_load(&smp_g.active))
		return;
	smp_g.done_samples = 0;
	smp_g.done_ns = 0;
	smp_emit_info(0);
	if (smp_sthread_begin() < 0)
		smp_warn("spanprof: could not sample the forked child\n");
}
