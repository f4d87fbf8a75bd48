/*
 * clock.c - choosing and calibrating the shared clock.
 *
 * The TSC is used only when the CPU says it is invariant (CPUID 0x80000007
 * EDX bit 8) and the kernel itself trusts it (current clocksource "tsc"):
 * then every core's TSC ticks at one rate and they are synchronised, so
 * ticks from any thread compare. The initial ns_per_tick comes from a 2 ms
 * calibration against CLOCK_MONOTONIC (it delays program start, so it is
 * short); the log writer refines it with every CLOCK pair it writes
 * (monotonic delta / tick delta since the first pair).
 *
 * Threading: sp_clock_init runs once through pthread_once. The chosen mode
 * is published before pthread_once returns and is read-only afterwards.
 */
#include <cpuid.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

_Atomic int sp_clock_use_tsc_;
static double sp_clock_initial_npt = 1.0;
static pthread_once_t sp_clock_once = PTHREAD_ONCE_INIT;

#define SP_CALIBRATION_NS 2000000u /* 2 ms */

static int cpu_has_invariant_tsc(void)
{
#if SP_CLOCK_HAVE_TSC
	unsigned eax, ebx, ecx, edx;
	if (!__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) || eax < 0x80000007u)
		return 0;
	if (!__get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx))
		return 0;
	return (edx >> 8) & 1u;
#else
	return 0;
#endif
}

static int kernel_uses_tsc(void)
{
	char buf[32] = {0};
	int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
	              O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n >= 3 && !strncmp(buf, "tsc", 3) && (buf[3] == '\n' || buf[3] == 0);
}

static int env_forces_monotonic(void)
{
	const char *v = getenv("SPANPROF_CLOCK");
	return v && !strcmp(v, "monotonic");
}

static uint64_t real_ns_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spins for SP_CALIBRATION_NS and divides: a busy wait, not a sleep, so the
 * measurement is not stretched by scheduler wake-up latency at both ends. */
static double calibrate_tsc(void)
{
	uint64_t t0 = sp_clock_ticks(), m0 = sp_clock_mono_ns_();
	uint64_t t1, m1;
	do {
		t1 = sp_clock_ticks();
		m1 = sp_clock_mono_ns_();
	} while (m1 - m0 < SP_CALIBRATION_NS);
	if (t1 <= t0)
		return 0.0;
	return (double)(m1 - m0) / (double)(t1 - t0);
}

static void clock_init_once(void)
{
	if (!env_forces_monotonic() && cpu_has_invariant_tsc() && kernel_uses_tsc()) {
		sp_clock_use_tsc_ = 1;
		double npt = calibrate_tsc();
		if (npt > 0.0)
			sp_clock_initial_npt = npt;
		else
			sp_clock_use_tsc_ = 0;
	}
}

void sp_clock_init(void)
{
	pthread_once(&sp_clock_once, clock_init_once);
}

int sp_clock_kind(void)
{
	return sp_clock_use_tsc_ ? SP_CLOCK_TSC : SP_CLOCK_MONOTONIC;
}

double sp_clock_initial_ns_per_tick(void)
{
	return sp_clock_use_tsc_ ? sp_clock_initial_npt : 1.0;
}

/* A pair whose bracket is this tight (far above what three clock reads
 * take: docs/performance.md, "Clock") was not preempted; wider ones are
 * retried. */
#define SP_CLOCK_PAIR_GOOD_GAP_NS 1000u
#define SP_CLOCK_PAIR_TRIES       16

/* Reads ticks between two monotonic reads and keeps the tightest attempt,
 * stopping at the first tight one, so the pair is not skewed by a preemption
 * in the middle (on a loaded machine a skewed pair would shift every
 * timestamp converted with it by the preemption's length). */
void sp_clock_pair_now(sp_clock_pair *p)
{
	uint64_t best_gap = UINT64_MAX;
	for (int i = 0; i < SP_CLOCK_PAIR_TRIES && best_gap > SP_CLOCK_PAIR_GOOD_GAP_NS; i++) {
		uint64_t m0 = sp_clock_mono_ns_();
		uint64_t real = real_ns_now();
		uint64_t t = sp_clock_ticks();
		uint64_t m1 = sp_clock_mono_ns_();
		if (m1 - m0 < best_gap) {
			best_gap = m1 - m0;
			p->ticks = t;
			p->mono_ns = m0 + (m1 - m0) / 2;
			p->real_ns = real;
		}
	}
	p->ns_per_tick = sp_clock_initial_ns_per_tick();
}

/* Unsigned arithmetic and a clamped double: a log is untrusted input, and
 * absurd pairs must give absurd times, not undefined behaviour. */
uint64_t sp_clock_to_epoch_ns(const sp_clock_pair *pair, uint64_t ticks)
{
	int64_t dt = (int64_t)(ticks - pair->ticks);
	double dns = (double)dt * pair->ns_per_tick;
	if (!(dns > -9.0e18))
		dns = -9.0e18;
	if (dns > 9.0e18)
		dns = 9.0e18;
	return pair->real_ns + (uint64_t)(int64_t)dns;
}
