/*
 * fatal_prog.c - a traced program that dies of a signal, for tracer_fatal.
 * Started with SPANPROF_OUT set (the library constructor starts the
 * runtime); it ends a span "last", leaves a span "dying" open, then:
 *
 *   term    raise(SIGTERM)          int    raise(SIGINT)
 *   kill    kill(getpid(), SIGTERM) from a second thread, main blocked
 *   abort   abort()                 trap   __builtin_trap() (a SIGILL fault)
 *   reset   sets SIGTERM to SIG_DFL (signal() and sigaction()), raise(SIGTERM)
 *   own     installs its own SIGTERM handler (exit 42) after checking that
 *           sigaction() and signal() report SIG_DFL, then raise(SIGTERM)
 *   ignored expects SIGINT ignored (the parent set it), raise(SIGINT), then
 *           ends a span "after" and exits 0
 *
 * Exit 3 means a check failed (the program saw something of ours).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spanprof.h"

static void own_handler(int signo)
{
	(void)signo;
	_exit(42);
}

static void *killer(void *arg)
{
	(void)arg;
	sigset_t term; /* created with main's mask: SIGTERM blocked */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	sp_end(sp_begin("killer"));
	kill(getpid(), SIGTERM);
	return NULL;
}

static int check_default(int signo)
{
	struct sigaction old;
	if (sigaction(signo, NULL, &old) != 0)
		return 0;
	return !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
}

int main(int argc, char **argv)
{
	if (argc != 2 || !sp_active()) {
		fprintf(stderr, "usage: SPANPROF_OUT=DIR fatal_prog MODE\n");
		return 2;
	}
	const char *mode = argv[1];
	sp_span last = sp_begin("last");
	sp_attr_str(last, "mode", mode);
	sp_end(last);
	sp_begin("dying");
	if (strcmp(mode, "term") == 0) {
		raise(SIGTERM);
	} else if (strcmp(mode, "int") == 0) {
		raise(SIGINT);
	} else if (strcmp(mode, "kill") == 0) {
		sigset_t term;
		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &term, NULL); /* the killer thread takes it */
		pthread_t t;
		if (pthread_create(&t, NULL, killer, NULL) != 0)
			return 3;
		pthread_join(t, NULL);
		pause(); /* the signal ends the process, now or while we wait */
	} else if (strcmp(mode, "abort") == 0) {
		abort();
	} else if (strcmp(mode, "trap") == 0) {
		__builtin_trap();
	} else if (strcmp(mode, "own") == 0) {
		if (!check_default(SIGTERM) || !check_default(SIGHUP))
			return 3;
		if (signal(SIGHUP, SIG_DFL) != SIG_DFL)
			return 3;
		struct sigaction act, old;
		memset(&act, 0, sizeof act);
		act.sa_handler = own_handler;
		sigemptyset(&act.sa_mask);
		if (sigaction(SIGTERM, &act, &old) != 0 || old.sa_handler != SIG_DFL)
			return 3;
		raise(SIGTERM);
	} else if (strcmp(mode, "reset") == 0) {
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		if (signal(SIGTERM, SIG_DFL) != SIG_DFL || sigaction(SIGTERM, &dfl, NULL) != 0 ||
		    !check_default(SIGTERM))
			return 3;
		raise(SIGTERM);
	} else if (strcmp(mode, "ignored") == 0) {
		struct sigaction old;
		if (sigaction(SIGINT, NULL, &old) != 0 || old.sa_handler != SIG_IGN)
			return 3;
		raise(SIGINT);
		sp_end(sp_begin("after"));
		return 0;
	}
	return 1;
}
