/*
 * sampler_handler.c - the sampling signal handler.
 *
 * Design: the handler runs on the sampled thread, on that thread's stack.
 * It decides whether the signal is ours (perf: si_fd is this thread's event;
 * timer: sival_ptr is this thread's state), unwinds with libunwind into a
 * stack array, and appends one SAMPLE to the thread's own ring. Everything it
 * calls is async-signal-safe: libunwind's local unwinder with per-thread
 * caching (no malloc; its caches are mmap-backed), lc_clock_ticks and the
 * wait-free ring. A signal that is not ours goes to the handler the program
 * installed for the same number, if any (sigaction interposition).
 *
 * unw_backtrace starts inside this handler: the frames up to the kernel's
 * signal trampoline are ours; the interrupted pc (from the ucontext) marks
 * the first frame of the program. If it is not found among the first frames,
 * the slower unw_init_local2(UNW_INIT_SIGNAL_FRAME) + unw_step walk starts
 * from the ucontext directly.
 *
 * Perf events: the handler first empties the thread's perf ring (one
 * header-only record per overflow, whose misc field says user or kernel
 * mode) to learn how many periods this signal stands for and how many of
 * them the thread spent in the kernel. A sample in the kernel gets the
 * leaf pc LC_PC_KERNEL on top of the user stack the handler sees (the
 * signal arrives on the way back to user space, so that stack is the one
 * that made the system call or took the fault). A signal whose overflow an
 * earlier signal already counted adds nothing. After the first sample of
 * a thread the handler restores the regular period, which follows the
 * random first one (sampler_thread.c).
 *
 * Threading: per-thread state only; errno is saved and restored.
 */
#define UNW_LOCAL_ONLY
#include <errno.h>
#include <libunwind.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <ucontext.h>

#include "clock.h"
#include "sampler_int.h"
#include "spanprof.h"

#define SMP_HANDLER_SKIP_MAX 16 /* frames of the handler + trampoline at most */

static __thread volatile sig_atomic_t smp_handler_depth __attribute__((tls_model("initial-exec")));
/* Set by the dlopen/dlclose interposers: the loader's data may be in flux,
 * so libunwind (which walks the loaded objects) must not run. */
__thread volatile sig_atomic_t smp_in_loader __attribute__((tls_model("initial-exec")));

static struct sigaction smp_prev_action; /* what was installed before us */
static struct sigaction smp_user_action; /* what the program installed since */
static _Atomic int smp_user_action_valid;
static _Atomic int smp_conflict_reported;

int smp_in_handler(void)
{
	return smp_handler_depth != 0;
}

static int smp_signal_is_ours(const siginfo_t *si, const smp_sthread *st)
{
	if (!st)
		return 0;
	if (si->si_code == SI_TIMER)
		return si->si_value.sival_ptr == st && st->has_timer;
	if (si->si_code == POLL_IN || si->si_code == POLL_HUP) {
		int fd = atomic_load_explicit(&st->perf_fd, memory_order_relaxed);
		return fd >= 0 && si->si_fd == fd;
	}
	return 0;
}

/* Looks like one of our sources, but for a thread that is not (or no
 * longer) set up: drop it rather than surprise the program. */
static int smp_signal_looks_ours(const siginfo_t *si)
{
	return si->si_code == SI_TIMER || si->si_code == POLL_IN || si->si_code == POLL_HUP;
}

static void smp_forward(int signo, siginfo_t *si, void *uc)
{
	if (!atomic_load_explicit(&smp_user_action_valid, memory_order_acquire))
		return;
	const struct sigaction *act = &smp_user_action;
	if (act->sa_flags & SA_SIGINFO) {
		if (act->sa_sigaction)
			act->sa_sigaction(signo, si, uc);
	} else if (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN) {
		act->sa_handler(signo);
	}
}

static int smp_unwind_slow(ucontext_t *uc, uint64_t *pcs, int cap)
{
	unw_cursor_t cursor;
	if (unw_init_local2(&cursor, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) < 0)
		return -1;
	int n = 0;
	do {
		unw_word_t ip = 0;
		if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		pcs[n++] = (uint64_t)ip;
	} while (n < cap && unw_step(&cursor) > 0);
	return n;
}

/* Fills pcs (leaf first) with the interrupted thread's stack. */
static int smp_unwind(ucontext_t *uc, uint64_t *pcs, int cap)
{
	void *raw[LC_MAX_STACK_FRAMES + SMP_HANDLER_SKIP_MAX];
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	int n = unw_backtrace(raw, cap + SMP_HANDLER_SKIP_MAX);
	int first = -1;
	for (int i = 0; i < n && i < SMP_HANDLER_SKIP_MAX; i++) {
		if ((uint64_t)(uintptr_t)raw[i] == rip) {
			first = i;
			break;
		}
	}
	if (first < 0)
		return smp_unwind_slow(uc, pcs, cap);
	int count = 0;
	for (int i = first; i < n && count < cap; i++)
		pcs[count++] = (uint64_t)(uintptr_t)raw[i];
	return count;
}

/* Periods a signal stands for, split by the mode the thread was in. */
typedef struct smp_periods {
	uint64_t user, kernel;
} smp_periods;

/* One 8-byte-aligned word of the perf ring's data area (records are
 * 8-byte aligned, so a word never wraps around the end). */
static uint64_t smp_perf_word(const struct perf_event_mmap_page *meta, uint64_t pos)
{
	const volatile uint64_t *data =
	    (const volatile uint64_t *)((const char *)meta + meta->data_offset);
	return data[(pos & (meta->data_size - 1)) / 8];
}

/* Consumes every record of the ring (the handler is its only reader).
 * Returns 0 when the thread has no ring (then the caller counts one
 * period of unknown mode). */
static int smp_perf_consume(struct perf_event_mmap_page *meta, smp_periods *out)
{
	uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = meta->data_tail;
	while (head - tail >= sizeof(struct perf_event_header)) {
		uint64_t word = smp_perf_word(meta, tail);
		uint32_t type = (uint32_t)word;
		uint16_t misc = (uint16_t)(word >> 32), size = (uint16_t)(word >> 48);
		if (size < sizeof(struct perf_event_header) || size > head - tail)
			break; /* never written by the kernel: stop rather than loop */
		uint16_t mode = misc & PERF_RECORD_MISC_CPUMODE_MASK;
		if (type == PERF_RECORD_SAMPLE && mode != PERF_RECORD_MISC_USER &&
		    mode != PERF_RECORD_MISC_GUEST_USER && mode != PERF_RECORD_MISC_CPUMODE_UNKNOWN)
			out->kernel++;
		else if (type == PERF_RECORD_SAMPLE)
			out->user++;
		else if (type == PERF_RECORD_LOST && size >= 24)
			out->user += smp_perf_word(meta, tail + 16); /* mode unknown */
		tail += size;
	}
	__atomic_store_n(&meta->data_tail, head, __ATOMIC_RELEASE);
	return 1;
}

/* After the random first period (the event disabled itself): the regular
 * one, unless stop or exec disarmed the source meanwhile (they wait for
 * perf_busy to drop before they disable it). */
static void smp_perf_restore_period(smp_sthread *st)
{
	atomic_store(&st->perf_busy, 1);
	int fd = atomic_load(&st->perf_fd);
	if (fd >= 0 && atomic_load(&st->armed)) { /* else a later rearm refreshes it */
		st->first_period = 0;
		uint64_t period_ns = smp_g.period_ns;
		ioctl(fd, PERF_EVENT_IOC_PERIOD, &period_ns);
		ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
	}
	atomic_store(&st->perf_busy, 0);
}

/* How many periods this signal stands for. A POSIX timer that expired
 * again before its signal was handled counts overruns instead of queueing. */
static smp_periods smp_signal_periods(smp_sthread *st, const siginfo_t *si)
{
	smp_periods p = {0, 0};
	if (si->si_code == SI_TIMER) {
		p.user = 1 + (si->si_overrun > 0 ? (uint64_t)si->si_overrun : 0);
		return p;
	}
	atomic_store(&st->perf_busy, 1);
	struct perf_event_mmap_page *meta = atomic_load(&st->perf_ring);
	if (!meta || !smp_perf_consume(meta, &p))
		p.user = 1;
	atomic_store(&st->perf_busy, 0);
	return p;
}

static uint32_t smp_weight_us(uint64_t periods)
{
	uint64_t weight_us = periods * smp_g.period_ns / 1000u;
	return weight_us > UINT32_MAX ? UINT32_MAX : (uint32_t)weight_us;
}

static void smp_put_sample(lc_ring *ring, const smp_sthread *st, uint64_t ts, uint64_t periods,
                           const uint64_t *pcs, int n)
{
	lc_rec_sample rec;
	rec.ts = ts;
	rec.tid = st->tid;
	rec.weight_us = smp_weight_us(periods);
	rec.nframes = (uint32_t)(n < (int)LC_MAX_STACK_FRAMES ? n : (int)LC_MAX_STACK_FRAMES);
	rec.pcs = pcs;
	lc_ring_sample(ring, &rec); /* a full ring counts the loss itself */
}

/* The calling thread's CPU time (a system call: async-signal-safe). */
static uint64_t smp_handler_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void smp_take_sample_at(smp_sthread *st, const siginfo_t *si, ucontext_t *uc);

/* The first sample of a thread is timed: it pays libunwind's per-thread
 * set-up (~0.1-0.2 ms here), which THREAD_END's cpu_ns leaves out
 * (sampler_thread.c). With perf events the event stays disabled until
 * that sample is written, so its cost is not counted by the task clock
 * either: samples and cpu_ns measure the same CPU time. */
static void smp_take_sample(smp_sthread *st, const siginfo_t *si, ucontext_t *uc)
{
	if (atomic_load_explicit(&st->samples, memory_order_relaxed) != 0 && !st->first_period) {
		smp_take_sample_at(st, si, uc);
		return;
	}
	uint64_t start_ns = smp_handler_cpu_ns();
	smp_take_sample_at(st, si, uc);
	if (st->first_period && si->si_code != SI_TIMER)
		smp_perf_restore_period(st);
	uint64_t end_ns = smp_handler_cpu_ns();
	if (start_ns && end_ns > start_ns) /* signals that counted nothing add up too */
		atomic_fetch_add(&st->first_sample_cpu_ns, end_ns - start_ns);
}

static void smp_take_sample_at(smp_sthread *st, const siginfo_t *si, ucontext_t *uc)
{
	uint64_t ts = lc_clock_ticks();
	lc_ring *ring = st->ring;
	if (!ring)
		return;
	smp_periods p = smp_signal_periods(st, si);
	if (p.user + p.kernel == 0)
		return; /* an earlier signal already counted this overflow */
	atomic_store_explicit(&st->samples,
	                      atomic_load_explicit(&st->samples, memory_order_relaxed) + p.user +
	                          p.kernel,
	                      memory_order_relaxed);
	if (smp_in_loader) {
		lc_ring_count_lost(ring, LC_LOST_UNWIND);
		return;
	}
	uint64_t pcs[1 + LC_MAX_STACK_FRAMES]; /* pcs[0]: room for LC_PC_KERNEL */
	int n = smp_unwind(uc, pcs + 1, (int)LC_MAX_STACK_FRAMES);
	if (n <= 0) {
		lc_ring_count_lost(ring, LC_LOST_UNWIND);
		return;
	}
	if (p.user)
		smp_put_sample(ring, st, ts, p.user, pcs + 1, n);
	if (p.kernel) {
		pcs[0] = LC_PC_KERNEL;
		smp_put_sample(ring, st, ts, p.kernel, pcs, n + 1);
	}
}

void smp_on_signal(int signo, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	smp_sthread *st = smp_sthread_self;
	if (smp_signal_is_ours(si, st)) {
		if (!st->in_handler) {
			st->in_handler = 1;
			smp_handler_depth++;
			atomic_signal_fence(memory_order_seq_cst);
			smp_take_sample(st, si, (ucontext_t *)uc);
			atomic_signal_fence(memory_order_seq_cst);
			smp_handler_depth--;
			st->in_handler = 0;
		}
	} else if (!(st == NULL && smp_signal_looks_ours(si))) {
		smp_forward(signo, si, uc);
	}
	errno = saved_errno;
}

static void smp_handler_action(struct sigaction *act)
{
	memset(act, 0, sizeof *act);
	act->sa_sigaction = smp_on_signal;
	act->sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&act->sa_mask);
}

void smp_handler_reinstall(void)
{
	struct sigaction act;
	smp_handler_action(&act);
	smp_real_sigaction(smp_g.signo, &act, NULL);
}

/* Once per process: on stderr now, in the SAMPLER record at stop. */
static void smp_report_conflict(void)
{
	if (atomic_exchange(&smp_conflict_reported, 1))
		return;
	smp_warn("spanprof: the program uses the sampling signal for itself; "
	         "spanprof keeps it and forwards signals that are not samples "
	         "(set SPANPROF_SIGNAL=N to use another signal)\n");
	smp_g.signal_conflict = 1;
}

/* A real handler, not SIG_DFL or SIG_IGN. */
static int smp_action_is_handler(const struct sigaction *act)
{
	return (act->sa_flags & SA_SIGINFO) ||
	       (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN);
}

/* The program asks sigaction() about our signal: it sees and sets its own
 * action; ours stays installed and forwards foreign signals to it. Installing
 * a real handler is reported once (queries and SIG_DFL/SIG_IGN are not: many
 * programs query or reset every signal at start). Returns 0. */
int smp_handler_user_action(const struct sigaction *act, struct sigaction *old)
{
	if (act && smp_action_is_handler(act))
		smp_report_conflict();
	if (old) {
		if (atomic_load(&smp_user_action_valid))
			*old = smp_user_action;
		else
			*old = smp_prev_action;
	}
	if (act) {
		atomic_store_explicit(&smp_user_action_valid, 0, memory_order_release);
		smp_user_action = *act;
		atomic_store_explicit(&smp_user_action_valid, 1, memory_order_release);
	}
	return 0;
}

int smp_handler_install(int signo)
{
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	struct sigaction act;
	smp_handler_action(&act);
	if (smp_real_sigaction(signo, &act, &smp_prev_action) < 0)
		return -SP_EINVAL;
	if (smp_action_is_handler(&smp_prev_action)) {
		/* The program got there first: keep its handler for signals
		 * that are not ours. */
		smp_user_action = smp_prev_action;
		atomic_store_explicit(&smp_user_action_valid, 1, memory_order_release);
		smp_report_conflict();
	}
	return 0;
}
