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

sp_sampler_global sp_sampler_g = {.signo = 0};

void sp_sampler_warn(const char *msg)
{
	int saved_errno = errno;
	size_t len = strlen(msg);
	ssize_t rc = write(STDERR_FILENO, msg, len);
	(void)rc;
	errno = saved_errno;
}

/* SIGRTMIN+6: see docs/sampling.md ("The signal"). SPANPROF_SIGNAL=N
 * overrides it for programs that already use that number. */
static int sp_sampler_choose_signal(void)
{
	const char *env = getenv("SPANPROF_SIGNAL");
	if (env && *env) {
		uint64_t n = 0;
		/* Only signals that mean nothing to the kernel by themselves. */
		if (sp_parse_count(env, 1, (uint64_t)SIGRTMAX, &n) == 0 &&
		    (n == SIGPROF || n >= (uint64_t)SIGRTMIN))
			return (int)n;
		char msg[256];
		snprintf(msg, sizeof msg,
		         "spanprof: invalid SPANPROF_SIGNAL=\"%.64s\" (expected SIGPROF or a "
		         "real-time signal number); using the default\n",
		         env);
		sp_sampler_warn(msg);
	}
	return SIGRTMIN + 6;
}

/* -1 if unreadable. 3 and above (Debian's extension) refuse perf events to
 * unprivileged users entirely; 2 still allows user-space self-profiling. */
static int sp_perf_paranoid(void)
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

static int sp_sampler_choose_mechanism(int mode)
{
	if (mode == SP_SAMPLE_WALL)
		return SP_SAMPLER_TIMER;
	const char *force = getenv("SPANPROF_SAMPLER_FORCE_TIMER");
	if (force && *force == '1')
		return SP_SAMPLER_TIMER;
	int rc = sp_sthread_probe_perf();
	char msg[256];
	if (rc == 0 && sp_sampler_g.user_only) {
		snprintf(msg, sizeof msg,
		         "spanprof: the kernel refuses kernel-mode sampling (perf_event_paranoid = "
		         "%d, no CAP_PERFMON): samples count user CPU time only\n",
		         sp_perf_paranoid());
		sp_sampler_warn(msg);
	}
	if (rc == 0)
		return SP_SAMPLER_PERF;
	snprintf(msg, sizeof msg,
	         "spanprof: perf_event_open refused (%s; perf_event_paranoid = %d); sampling "
	         "with POSIX CPU-time timers instead (kernel-tick resolution)\n",
	         strerror(-rc), sp_perf_paranoid());
	sp_sampler_warn(msg);
	return SP_SAMPLER_TIMER;
}

static void sp_sampler_emit_info(uint32_t achieved_hz)
{
	sp_record rec;
	memset(&rec, 0, sizeof rec);
	rec.type = SP_REC_SAMPLER;
	rec.u.sampler.mechanism = (uint8_t)sp_sampler_g.mechanism;
	rec.u.sampler.mode = (uint8_t)sp_sampler_g.mode;
	rec.u.sampler.signo = (uint32_t)sp_sampler_g.signo;
	rec.u.sampler.requested_hz = sp_sampler_g.hz;
	rec.u.sampler.achieved_hz = achieved_hz;
	rec.u.sampler.flags = sp_sampler_g.signal_conflict ? SP_SAMPLER_F_SIGNAL_SHARED : 0;
	if (sp_sampler_g.mechanism == SP_SAMPLER_PERF && sp_sampler_g.user_only)
		rec.u.sampler.flags |= SP_SAMPLER_F_USER_ONLY;
	sp_log_meta(&rec, 0);
}

int sp_sampler_start(const sp_sampler_opts *opts)
{
	int mode = opts && opts->mode ? opts->mode : SP_SAMPLE_CPU;
	uint32_t hz = opts && opts->hz ? opts->hz : SP_SAMPLER_DEFAULT_HZ;
	if (mode < SP_SAMPLE_CPU || mode > SP_SAMPLE_OFF || hz > SP_SAMPLER_MAX_HZ)
		return -SP_EINVAL;
	if (atomic_load(&sp_sampler_g.active))
		return -SP_ESTATE;
	sp_sampler_g.mode = mode;
	sp_sampler_g.hz = hz;
	sp_sampler_g.period_ns = 1000000000ull / hz;
	sp_sampler_g.done_samples = 0;
	sp_sampler_g.done_ns = 0;
	sp_sampler_g.pid = getpid();
	sp_modules_scan();
	if (mode == SP_SAMPLE_OFF) {
		sp_sampler_g.mechanism = SP_SAMPLER_NONE;
		sp_sampler_emit_info(0);
		return 0;
	}
	if (!sp_sampler_g.handler_installed) {
		int signo = sp_sampler_choose_signal();
		int rc = sp_handler_install(signo);
		if (rc < 0)
			return rc;
		sp_sampler_g.signo = signo;
		sp_sampler_g.handler_installed = 1;
	}
	sp_sampler_g.mechanism = sp_sampler_choose_mechanism(mode);
	sp_sampler_emit_info(0);
	atomic_store(&sp_sampler_g.active, 1);
	int rc = sp_sthread_begin();
	if (rc < 0)
		sp_sampler_warn("spanprof: could not start sampling the calling thread\n");
	return 0;
}

/* Samples and elapsed ns of every thread, live ones included. */
static uint32_t sp_sampler_achieved_hz(void)
{
	uint64_t samples = sp_sampler_g.done_samples;
	uint64_t elapsed_ns = sp_sampler_g.done_ns;
	for (sp_sthread *st = sp_registry_head(); st; st = st->next) {
		samples += atomic_load_explicit(&st->samples, memory_order_relaxed);
		elapsed_ns += sp_sthread_elapsed_ns(st);
	}
	if (elapsed_ns == 0)
		return 0;
	return (uint32_t)((double)samples * 1e9 / (double)elapsed_ns + 0.5);
}

void sp_sampler_stop(void)
{
	if (!atomic_exchange(&sp_sampler_g.active, 0))
		return;
	sp_registry_lock();
	for (sp_sthread *st = sp_registry_head(); st; st = st->next)
		sp_sthread_disarm(st);
	uint32_t achieved_hz = sp_sampler_achieved_hz();
	for (sp_sthread *st = sp_registry_head(); st; st = st->next)
		sp_sthread_release(st);
	sp_registry_unlock();
	sp_sthread_end();  /* the calling thread's ring, now */
	sp_modules_scan(); /* libraries loaded by means we did not see */
	sp_sampler_emit_info(achieved_hz);
}

void sp_sampler_atfork_child(void)
{
	sp_registry_reinit_after_fork();
	sp_modules_after_fork();
	sp_sthread_forget_all_after_fork();
	sp_sampler_g.pid = getpid();
	if (!atomic_load(&sp_sampler_g.active))
		return;
	sp_sampler_g.done_samples = 0;
	sp_sampler_g.done_ns = 0;
	sp_sampler_emit_info(0);
	if (sp_sthread_begin() < 0)
		sp_sampler_warn("spanprof: could not sample the forked child\n");
}
