/*
 * tracer_fatal.c - a traced program that dies of a signal keeps what it
 * recorded, dies of that same signal, and never sees our handlers.
 *
 * Runs tracer_fatal_prog (fatal_prog.c) with SPANPROF_FLUSH_MS=3600000:
 * the writer thread then drains only when asked, so the span "last" ended
 * just before the signal reaches the log only through the last drain that
 * the fatal-signal handler asks for. SPANPROF_FLUSH_ON_SIGNAL=0 shows the
 * difference (the span is lost), i.e. that these tests can fail.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tl.h"
#include "tr_log.h"

/* Runs the program in mode with SPANPROF_OUT=dir; returns its wait status
 * and its pid in *pid. ignore_int: SIGINT is SIG_IGN when it starts (as a
 * shell leaves it for a background job); otherwise every signal it is
 * killed by is at SIG_DFL, whatever ctest inherited. */
static int run_prog(const char *dir, const char *mode, int flush_on_signal, int ignore_int,
                    pid_t *pid_out)
{
	const char *build = getenv("SPANPROF_BUILD_DIR");
	assert_non_null(build);
	char exe[1024];
	snprintf(exe, sizeof exe, "%s/tests/tracer/tracer_fatal_prog", build);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static const int sigs[] = {SIGHUP, SIGINT, SIGTERM, SIGABRT, SIGILL};
		for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			signal(sigs[i], SIG_DFL);
		if (ignore_int)
			signal(SIGINT, SIG_IGN);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		struct rlimit no_core = {0, 0}; /* abort and trap would dump core */
		setrlimit(RLIMIT_CORE, &no_core);
		setenv("SPANPROF_OUT", dir, 1);
		setenv("SPANPROF_FLUSH_MS", "3600000", 1);
		setenv("SPANPROF_FLUSH_ON_SIGNAL", flush_on_signal ? "1" : "0", 1);
		execl(exe, "tracer_fatal_prog", mode, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	*pid_out = pid;
	return status;
}

/* The program died of signo and its log holds the span "last" (with its
 * mode), ended just before, and the span "dying", still open. */
static void check_death(const char *mode, int signo)
{
	char *dir = tr_tmpdir();
	pid_t pid = 0;
	int status = run_prog(dir, mode, 1, 0, &pid);
	if (!WIFSIGNALED(status))
		fprintf(stderr, "%s: exited %d\n", mode, WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), signo);
	tr_log *log = tr_log_load_pid(dir, pid);
	tr_span *last = tr_span_by_name(log, "last");
	assert_non_null(last);
	assert_int_equal(last->ends, 1);
	tr_attr *m = tr_attr_of(log, last->id, "mode");
	assert_non_null(m);
	assert_string_equal(m->s, mode);
	tr_span *dying = tr_span_by_name(log, "dying");
	assert_non_null(dying);
	assert_int_equal(dying->ends, 0);
	tr_log_free(log);
	tl_rm_rf(dir);
	free(dir);
}

static void test_sigterm_keeps_last_span(void **state)
{
	(void)state;
	check_death("term", SIGTERM);
}

static void test_sigint_keeps_last_span(void **state)
{
	(void)state;
	check_death("int", SIGINT);
}

static void test_kill_from_other_thread_keeps_last_span(void **state)
{
	(void)state;
	check_death("kill", SIGTERM);
}

static void test_abort_keeps_last_span(void **state)
{
	(void)state;
	check_death("abort", SIGABRT);
}

static void test_fault_keeps_last_span(void **state)
{
	(void)state;
	check_death("trap", SIGILL);
}

/* A program that sets SIG_DFL itself (resetting its signals) keeps the
 * last drain: SIG_DFL and our handler cannot be told apart. */
static void test_reset_to_default_keeps_last_span(void **state)
{
	(void)state;
	check_death("reset", SIGTERM);
}

/* Without the handler the writer never drained: "last" is not on disk. */
static void test_without_flush_on_signal_the_span_is_lost(void **state)
{
	(void)state;
	char *dir = tr_tmpdir();
	pid_t pid = 0;
	int status = run_prog(dir, "term", 0, 0, &pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	char *path = tr_log_path(dir, pid);
	if (path) {
		tr_log *log = tr_log_load(path);
		assert_null(tr_span_by_name(log, "last"));
		tr_log_free(log);
		free(path);
	}
	tl_rm_rf(dir);
	free(dir);
}

/* The program's own handler sees SIG_DFL as the previous action and runs. */
static void test_own_handler_replaces_ours(void **state)
{
	(void)state;
	char *dir = tr_tmpdir();
	pid_t pid = 0;
	int status = run_prog(dir, "own", 1, 0, &pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);
	tl_rm_rf(dir);
	free(dir);
}

/* A signal ignored at start stays ignored: the program goes on. */
static void test_ignored_signal_stays_ignored(void **state)
{
	(void)state;
	char *dir = tr_tmpdir();
	pid_t pid = 0;
	int status = run_prog(dir, "ignored", 1, 1, &pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	tr_log *log = tr_log_load_pid(dir, pid);
	assert_non_null(tr_span_by_name(log, "after"));
	tr_log_free(log);
	tl_rm_rf(dir);
	free(dir);
}

/* The action the kernel holds, past the sigaction() interposer. */
static void *kernel_handler(int signo)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} k;
	assert_int_equal(syscall(SYS_rt_sigaction, signo, NULL, &k, sizeof k.mask), 0);
	return k.handler;
}

/* In this process: sp_start puts a handler on a SIG_DFL signal, sigaction()
 * reports SIG_DFL all the same, and sp_stop takes the handler away. */
static void test_handler_hidden_while_running_removed_by_stop(void **state)
{
	(void)state;
	signal(SIGUSR2, SIG_DFL);
	char *dir = tr_tmpdir();
	tr_start(dir);
	assert_ptr_not_equal(kernel_handler(SIGUSR2), (void *)SIG_DFL);
	struct sigaction old;
	assert_int_equal(sigaction(SIGUSR2, NULL, &old), 0);
	assert_ptr_equal((void *)old.sa_handler, (void *)SIG_DFL);
	assert_false(old.sa_flags & SA_SIGINFO);
	sp_stop();
	assert_ptr_equal(kernel_handler(SIGUSR2), (void *)SIG_DFL);
	tl_rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sigterm_keeps_last_span),
	    cmocka_unit_test(test_sigint_keeps_last_span),
	    cmocka_unit_test(test_kill_from_other_thread_keeps_last_span),
	    cmocka_unit_test(test_abort_keeps_last_span),
	    cmocka_unit_test(test_fault_keeps_last_span),
	    cmocka_unit_test(test_reset_to_default_keeps_last_span),
	    cmocka_unit_test(test_without_flush_on_signal_the_span_is_lost),
	    cmocka_unit_test(test_own_handler_replaces_ours),
	    cmocka_unit_test(test_ignored_signal_stays_ignored),
	    cmocka_unit_test(test_handler_hidden_while_running_removed_by_stop),
	};
	unsetenv("SPANPROF_OUT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
