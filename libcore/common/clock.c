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
 * Threading: lc_clock_init runs once through pthread_once. The chosen mode
 * is published before pthread_once returns and is read-only afterwards.
 */
#include <cpuid.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

_Atomic int lc_clock_use_tsc_;
static double lc_clock_initial_npt = 1.0;
static pthread_once_t lc_clock_once = PTHREAD_ONCE_INIT;

#define LC_CALIBRATION_NS 2000000u /* 2 ms */

static int cpu_has_invariant_tsc(void)
{
#if LC_CLOCK_HAVE_TSC
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

/* A pair whose bracket is this tight (far above what three clock reads
 * take: docs/performance.md, "Clock") was not preempted; wider ones are
 * retried. */
#define LC_CLOCK_PAIR_GOOD_GAP_NS 1000u
#define LC_CLOCK_PAIR_TRIES       16

/* Test hook: runs between the reads of a bracket, where a preemption would
 * land (a test makes it sleep). NULL in programs. */
void (*lc_clock_bracket_hook_)(void);

/* Reads ticks between two monotonic reads, up to LC_CLOCK_PAIR_TRIES times,
 * and keeps the tightest bracket, stopping at the first tight one: a
 * preemption between the reads would otherwise pair the ticks with a
 * monotonic time that is off by the preemption's length. */
static uint64_t tight_pair(uint64_t *ticks, uint64_t *mono_ns, uint64_t *real_ns)
{
	uint64_t best_gap = UINT64_MAX;
	for (int i = 0; i < LC_CLOCK_PAIR_TRIES && best_gap > LC_CLOCK_PAIR_GOOD_GAP_NS; i++) {
		uint64_t m0 = lc_clock_mono_ns_();
		uint64_t real = real_ns ? real_ns_now() : 0;
		uint64_t t = lc_clock_ticks();
		if (lc_clock_bracket_hook_)
			lc_clock_bracket_hook_();
		uint64_t m1 = lc_clock_mono_ns_();
		if (m1 - m0 < best_gap) {
			best_gap = m1 - m0;
			*ticks = t;
			*mono_ns = m0 + (m1 - m0) / 2;
			if (real_ns)
				*real_ns = real;
		}
	}
	return best_gap;
}

/* ns per tick from two tight pairs LC_CALIBRATION_NS apart, spinning in
 * between (a busy wait, not a sleep, so the program starts on time). Both
 * ends are bracketed: with single reads, one preemption between the last
 * tick read and the last monotonic read (a loaded machine) made the rate
 * several times too large, and every timestamp before the writer's first
 * refined CLOCK pair with it. */
double lc_clock_calibrate_(void)
{
	uint64_t t0, m0, t1, m1;
	tight_pair(&t0, &m0, NULL);
	while (lc_clock_mono_ns_() - m0 < LC_CALIBRATION_NS)
		;
	tight_pair(&t1, &m1, NULL);
	if (t1 <= t0 || m1 <= m0)
		return 0.0;
	return (double)(m1 - m0) / (double)(t1 - t0);
}

static void clock_init_once(void)
{
	if (!env_forces_monotonic() && cpu_has_invariant_tsc() && kernel_uses_tsc()) {
		lc_clock_use_tsc_ = 1;
		double npt = lc_clock_calibrate_();
		if (npt > 0.0)
			lc_clock_initial_npt = npt;
		else
			lc_clock_use_tsc_ = 0;
	}
}

void lc_clock_init(void)
{
	pthread_once(&lc_clock_once, clock_init_once);
}

int lc_clock_kind(void)
{
	return lc_clock_use_tsc_ ? LC_CLOCK_TSC : LC_CLOCK_MONOTONIC;
}

double lc_clock_initial_ns_per_tick(void)
{
	return lc_clock_use_tsc_ ? lc_clock_initial_npt : 1.0;
}

/* The pair written to the log: tight, so that converting with it does not
 * shift every timestamp by a preemption's length. */
void lc_clock_pair_now(lc_clock_pair *p)
{
	tight_pair(&p->ticks, &p->mono_ns, &p->real_ns);
	p->ns_per_tick = lc_clock_initial_ns_per_tick();
}

/* Unsigned arithmetic and a clamped double: a log is untrusted input, and
 * absurd pairs must give absurd times, not undefined behaviour. */
uint64_t lc_clock_to_epoch_ns(const lc_clock_pair *pair, uint64_t ticks)
{
	int64_t dt = (int64_t)(ticks - pair->ticks);
	double dns = (double)dt * pair->ns_per_tick;
	if (!(dns > -9.0e18))
		dns = -9.0e18;
	if (dns > 9.0e18)
		dns = 9.0e18;
	return pair->real_ns + (uint64_t)(int64_t)dns;
}
