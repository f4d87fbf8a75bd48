/*
 * sampler_fatal.c - a program that dies of a signal keeps what was recorded.
 *
 * The writer thread drains the rings every 100 ms, so a program killed by
 * Ctrl-C, `kill`, abort() or a crash would lose its last 100 ms: the part
 * that explains the death. For each signal whose action is to end the
 * process and that the program leaves at SIG_DFL, we install a one-shot
 * handler (SA_RESETHAND: the action is SIG_DFL again the moment it runs).
 * It asks the writer thread for one more drain and waits for it (bounded),
 * then lets the signal do what it would have done: a signal sent by
 * kill/raise/abort is raised again, a fault (si_code > 0) returns and the
 * faulting instruction faults again, now with the default action. The
 * process ends by the same signal, with the same core dump and exit status.
 *
 * The program never sees these handlers: sigaction() and signal() (our
 * interposers) report SIG_DFL for a signal that holds one, and a program
 * that installs its own action simply replaces it.
 *
 * Threading: install/uninstall under the runtime's lock; the handler only
 * uses atomics, futex, clock_gettime and raise (async-signal-safe).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "sampler_int.h"

/* How long a dying process waits for its last drain: a drain of a full
 * ring set takes milliseconds; a writer that waits for a lock the dying
 * thread holds (it crashed inside malloc) never answers. */
#define SMP_FATAL_FLUSH_NS (1000000000ull)

/* Signals whose default action ends the process. Not SIGSYS (a seccomp
 * filter that raised it may refuse the handler's own system calls), nor
 * SIGPROF and SIGVTALRM (profilers' timers), nor real-time signals. */
static const int smp_fatal_signals[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGILL,  SIGABRT,
                                        SIGBUS,  SIGFPE,  SIGSEGV, SIGPIPE, SIGTERM,
                                        SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ};
#define SMP_FATAL_N (sizeof smp_fatal_signals / sizeof smp_fatal_signals[0])

/* 1 while signal signo holds our handler (cleared by the handler itself,
 * by uninstall, and when the program sets its own action). */
static _Atomic int smp_fatal_ours[NSIG];

/* A fault of the interrupted instruction: returning runs it again, and it
 * faults again with the default action and its own siginfo (a core dump
 * keeps the faulting address). A machine-check error on memory nobody is
 * touching (BUS_MCEERR_AO) is kernel-sent yet recurs on nothing. */
static int smp_fatal_recurs(int signo, const siginfo_t *si)
{
	if (!si || si->si_code <= 0)
		return 0; /* sent: kill, raise, abort, sigqueue, tgkill */
#ifdef BUS_MCEERR_AO
	if (signo == SIGBUS && si->si_code == BUS_MCEERR_AO)
		return 0;
#endif
	return signo == SIGILL || signo == SIGBUS || signo == SIGFPE || signo == SIGSEGV;
}

static void smp_fatal_handler(int signo, siginfo_t *si, void *uc);

static int smp_fatal_is_default(const struct sigaction *a)
{
	return !(a->sa_flags & SA_SIGINFO) && a->sa_handler == SIG_DFL;
}

/* 1 when the kernel holds our handler for signo (it may have been replaced
 * behind our back: sigset(), bsd_signal() and the raw system call do not
 * come through our interposers). */
static int smp_fatal_holds_ours(int signo)
{
	struct sigaction cur;
	return smp_real_sigaction(signo, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	       cur.sa_sigaction == smp_fatal_handler;
}

static void smp_fatal_handler(int signo, siginfo_t *si, void *uc)
{
	(void)uc;
	int saved = errno;
	atomic_store(&smp_fatal_ours[signo], 0); /* SA_RESETHAND: SIG_DFL now */
	lc_log_flush_from_signal(SMP_FATAL_FLUSH_NS);
	errno = saved;
	/* A fault returns and happens again; anything else is sent again (it
	 * stays pending while this handler runs, then ends the process). */
	if (!smp_fatal_recurs(signo, si))
		raise(signo);
}

void smp_fatal_install(void)
{
	for (size_t i = 0; i < SMP_FATAL_N; i++) {
		int signo = smp_fatal_signals[i];
		struct sigaction cur;
		if (smp_real_sigaction(signo, NULL, &cur) != 0 || !smp_fatal_is_default(&cur))
			continue; /* the program's own action (or SIG_IGN) stays */
		struct sigaction act;
		memset(&act, 0, sizeof act);
		act.sa_sigaction = smp_fatal_handler;
		act.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK | SA_RESTART;
		sigemptyset(&act.sa_mask);
		atomic_store(&smp_fatal_ours[signo], 1);
		struct sigaction prev;
		if (smp_real_sigaction(signo, &act, &prev) != 0) {
			atomic_store(&smp_fatal_ours[signo], 0);
		} else if (!smp_fatal_is_default(&prev)) {
			/* another thread set the program's action since we looked */
			atomic_store(&smp_fatal_ours[signo], 0);
			smp_real_sigaction(signo, &prev, NULL);
		}
	}
}

void smp_fatal_uninstall(void)
{
	for (size_t i = 0; i < SMP_FATAL_N; i++) {
		int signo = smp_fatal_signals[i];
		if (!atomic_exchange(&smp_fatal_ours[signo], 0) || !smp_fatal_holds_ours(signo))
			continue;
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		smp_real_sigaction(signo, &dfl, NULL);
	}
}

int smp_fatal_sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
	if (signo <= 0 || signo >= NSIG || !atomic_load(&smp_fatal_ours[signo]))
		return smp_real_sigaction(signo, act, old);
	if (!smp_fatal_holds_ours(signo)) { /* the real action is the answer */
		atomic_store(&smp_fatal_ours[signo], 0);
		return smp_real_sigaction(signo, act, old);
	}
	/* SIG_DFL again (a program resetting its signals, a child before exec):
	 * our handler is SIG_DFL as far as anyone can tell, so it stays. */
	if (act && smp_fatal_is_default(act))
		act = NULL;
	if (act) {
		atomic_store(&smp_fatal_ours[signo], 0);
		if (smp_real_sigaction(signo, act, NULL) != 0) {
			atomic_store(&smp_fatal_ours[signo], 1);
			return -1;
		}
	}
	if (old) { /* what the program would see without us */
		memset(old, 0, sizeof *old);
		old->sa_handler = SIG_DFL;
		sigemptyset(&old->sa_mask);
	}
	return 0;
}
