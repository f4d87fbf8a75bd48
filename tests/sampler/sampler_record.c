/*
 * sampler_record.c - 'spanprof record' end to end: an unmodified
 * program (sampler_helper) runs with the runtime preloaded.
 *
 * Proves: a crashing program leaves a readable log with its samples and
 * record dies of the same signal; a fork+exec child writes its own log
 * (ppid = the parent's pid); threads created by the program are sampled;
 * a library loaded with dlopen is recorded; the program's exit status is
 * passed on; bad usage gives one line and exit 2, a missing program 127.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "smp_util.h"
#include "tl.h"

/* Runs 'spanprof record -o DIR -F HZ -- sampler_helper ARGS'. */
static int record_hz(const char *dir, const char *hz, const char *a1, const char *a2, char *err,
                     size_t cap)
{
	char *argv[] = {
	    (char *)tl_cli(), "record",   "-o",       (char *)dir, "-F", (char *)hz, "--",
	    SU_HELPER,        (char *)a1, (char *)a2, NULL};
	char *env[] = {"ASAN_OPTIONS=handle_segv=0", NULL};
	int status = tl_run(argv, env, NULL, 0, err, cap);
	print_message("# record %s: stderr: %s", a1, err);
	return status;
}

static int record(const char *dir, const char *a1, const char *a2, char *err, size_t cap)
{
	return record_hz(dir, "999", a1, a2, err, cap);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_record_crash_keeps_samples(void **state)
{
	(void)state;
	char dir[64], err[4096];
	tl_tmpdir(dir, sizeof dir, "crash");
	int status = record(dir, "crash", NULL, err, sizeof err);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	char logs[4][512];
	assert_int_equal(tl_find_logs(dir, logs, 4), 1);
	su_log log;
	assert_int_equal(su_read_log(logs[0], &log), 0);
	print_message("# crash: %zu samples (0.5 s CPU at 999 Hz; the last <= 100 ms may be "
	              "lost)\n",
	              log.nsamples);
	assert_true(log.nsamples > 150);
	assert_true(log.nmodules > 0);
	su_free_log(&log);
	tl_rm_rf(dir);
}

static void check_fork_exec(const char *mode)
{
	char dir[64], err[4096];
	tl_tmpdir(dir, sizeof dir, mode);
	int status = record(dir, mode, NULL, err, sizeof err);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The parent's log, the forked child's log up to exec, and the log of
	 * the image it exec'd (same pid; the writer picks a fresh file name). */
	char logs[8][512];
	int nlogs = tl_find_logs(dir, logs, 8);
	assert_true(nlogs >= 2);
	su_log log[8];
	for (int i = 0; i < nlogs; i++)
		assert_int_equal(su_read_log(logs[i], &log[i]), 0);
	int found = 0;
	for (int p = 0; p < nlogs; p++)
		for (int c = 0; c < nlogs; c++)
			if (log[c].ppid == log[p].pid && log[p].nsamples > 150 &&
			    log[c].nsamples > 150) {
				print_message("# parent %u: %zu samples; child %u: %zu samples\n",
				              log[p].pid, log[p].nsamples, log[c].pid,
				              log[c].nsamples);
				found = 1;
			}
	assert_true(found);
	for (int i = 0; i < nlogs; i++)
		su_free_log(&log[i]);
	tl_rm_rf(dir);
}

static void test_record_fork_exec_child_has_own_log(void **state)
{
	(void)state;
	check_fork_exec("forkexec");
}

static void test_record_vfork_exec_child_has_own_log(void **state)
{
	(void)state;
	check_fork_exec("vforkexec");
}

static void test_record_threads_sampled(void **state)
{
	(void)state;
	char dir[64], err[4096];
	tl_tmpdir(dir, sizeof dir, "rthreads");
	int status = record(dir, "threads", NULL, err, sizeof err);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char logs[2][512];
	assert_int_equal(tl_find_logs(dir, logs, 2), 1);
	su_log log;
	assert_int_equal(su_read_log(logs[0], &log), 0);
	size_t busy_threads = 0;
	for (size_t i = 0; i < log.nthreads; i++) {
		size_t n = su_samples_of(&log, log.threads[i]);
		busy_threads += n > 200;
	}
	print_message("# %zu THREAD records, %zu threads with > 200 samples\n", log.nthreads,
	              busy_threads);
	assert_true(busy_threads >= 2);
	su_free_log(&log);
	tl_rm_rf(dir);
}

static void test_record_dlopen_module(void **state)
{
	(void)state;
	char dir[64], err[4096];
	tl_tmpdir(dir, sizeof dir, "dlopen");
	int status = record(dir, "dlopen", NULL, err, sizeof err);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char logs[2][512];
	assert_int_equal(tl_find_logs(dir, logs, 2), 1);
	su_log log;
	assert_int_equal(su_read_log(logs[0], &log), 0);
	assert_true(su_has_module(&log, "libz.so"));
	assert_true(su_has_module(&log, "sampler_helper"));
	su_free_log(&log);
	tl_rm_rf(dir);
}

/* The MODULE records let merge symbolize offline: the hot function of the
 * program comes out by name. */
static void test_record_merge_symbolizes(void **state)
{
	(void)state;
	char dir[64], db[128], err[4096], out[4096];
	tl_tmpdir(dir, sizeof dir, "symbols");
	assert_true(WIFEXITED(record(dir, "child", NULL, err, sizeof err)));
	snprintf(db, sizeof db, "%s/profile.db", dir);
	char *merge[] = {(char *)tl_cli(), "merge", "-o", db, dir, NULL};
	int status = tl_run(merge, NULL, out, sizeof out, err, sizeof err);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char *query[] = {(char *)tl_cli(), "query", db,
	                 "SELECT f.func, count(*) AS n FROM samples s JOIN stacks st ON "
	                 "s.stack_id = st.stack_id JOIN frames f ON st.frame_id = f.frame_id "
	                 "GROUP BY f.func ORDER BY n DESC LIMIT 1",
	                 NULL};
	status = tl_run(query, NULL, out, sizeof out, err, sizeof err);
	print_message("# leaf functions:\n%s", out);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	const char *row = strstr(out, "\nspin ");
	assert_non_null(row); /* sampler_helper's spin() holds the most leaf samples */
	unlink(db);
	tl_rm_rf(dir);
}

/* Threads that come and go quickly while sampled at ~10 kHz: every exit
 * path (return, pthread_exit, detached) disarms cleanly. */
static void test_record_thread_churn(void **state)
{
	(void)state;
	char dir[64], err[4096];
	tl_tmpdir(dir, sizeof dir, "churn");
	int status = record_hz(dir, "9999", "churn", NULL, err, sizeof err);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	char logs[2][512];
	assert_int_equal(tl_find_logs(dir, logs, 2), 1);
	su_log log;
	assert_int_equal(su_read_log(logs[0], &log), 0);
	assert_false(log.read_error);
	print_message("# churn: %zu THREAD, %zu THREAD_END, %zu samples\n", log.nthreads,
	              log.nthread_ends, log.nsamples);
	assert_true(log.nthread_ends >= 16 * 16);
	su_free_log(&log);
	tl_rm_rf(dir);
}

static void test_record_exit_status(void **state)
{
	(void)state;
	char dir[64], err[4096];
	tl_tmpdir(dir, sizeof dir, "exit");
	int status = record(dir, "exit", "7", err, sizeof err);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
	assert_non_null(strstr(err, ".splog"));
	tl_rm_rf(dir);
}

/* -o names a directory whose parents do not exist yet: record creates them
 * (mode 0700) and the log lands there. */
static void test_record_creates_parent_dirs(void **state)
{
	(void)state;
	char dir[64], mid[128], leaf[192], err[4096];
	tl_tmpdir(dir, sizeof dir, "nest");
	snprintf(mid, sizeof mid, "%s/a", dir);
	snprintf(leaf, sizeof leaf, "%s/b", mid);
	int status = record(leaf, "exit", "0", err, sizeof err);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(err, leaf));
	char logs[2][512];
	assert_int_equal(tl_find_logs(leaf, logs, 2), 1);
	su_log log;
	assert_int_equal(su_read_log(logs[0], &log), 0);
	su_free_log(&log);
	tl_rm_rf(leaf);
	tl_rm_rf(mid);
	tl_rm_rf(dir);
}

static void expect_usage_error(char *const argv[], int code)
{
	char err[4096];
	int status = tl_run(argv, NULL, NULL, 0, err, sizeof err);
	print_message("# %s: %s", argv[2] ? argv[2] : "(none)", err);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), code);
	assert_int_equal(count_lines(err), 1);
}

static void test_record_bad_usage(void **state)
{
	(void)state;
	char *c = (char *)tl_cli();
	char *bogus[] = {c, "record", "--bogus", "--", "/bin/true", NULL};
	char *none[] = {c, "record", NULL};
	char *rate[] = {c, "record", "-F", "0", "--", "/bin/true", NULL};
	char *dash_o[] = {c, "record", "-o", NULL};
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "usage"); /* not /tmp: a directory with logs is refused */
	char *missing[] = {c, "record", "-o", dir, "--", "/nonexistent/program", NULL};
	expect_usage_error(bogus, 2);
	expect_usage_error(none, 2);
	expect_usage_error(rate, 2);
	expect_usage_error(dash_o, 2);
	expect_usage_error(missing, 127);
	tl_rm_rf(dir);
	char *help[] = {c, "record", "--help", NULL};
	char out[4096], err[4096];
	int status = tl_run(help, NULL, out, sizeof out, err, sizeof err);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_non_null(strstr(out, "usage: spanprof record"));
}

#ifdef SU_LINKED_HELPER
/* Linked mode: the program calls sp_start itself, after one thread exists. */
static void test_linked_mode_threads(void **state)
{
	(void)state;
	char dir[64], err[4096], path[128];
	tl_tmpdir(dir, sizeof dir, "linked");
	char *argv[] = {SU_LINKED_HELPER, dir, NULL};
	int status = tl_run(argv, NULL, NULL, 0, err, sizeof err);
	print_message("# linked: stderr: %s\n", err);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(path, sizeof path, "%s/tids.txt", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	unsigned tids[4];
	assert_int_equal(fscanf(f, "%u %u %u %u", &tids[0], &tids[1], &tids[2], &tids[3]), 4);
	fclose(f);
	unlink(path);
	char logs[2][512];
	assert_int_equal(tl_find_logs(dir, logs, 2), 1);
	su_log log;
	assert_int_equal(su_read_log(logs[0], &log), 0);
	size_t n[4];
	for (int i = 0; i < 4; i++)
		n[i] = su_samples_of(&log, tids[i]);
	print_message("# samples: thread before start %zu (not sampled by design), new threads "
	              "%zu %zu, main %zu\n",
	              n[0], n[1], n[2], n[3]);
	assert_true(n[1] > 200 && n[2] > 200); /* 0.3 s of CPU each at 999 Hz */
	assert_true(n[3] > 120);               /* 0.2 s */
	su_free_log(&log);
	tl_rm_rf(dir);
}
#endif

/* The runtime's entry point (the tracer's sp_start, which starts the sampler
 * from the library constructor) must exist for record to do anything. */
static int runtime_present(void)
{
	const char *lib = getenv("SPANPROF_LIB");
	void *h = lib ? dlopen(lib, RTLD_LAZY | RTLD_LOCAL) : NULL;
	int ok = h && dlsym(h, "sp_start");
	if (h)
		dlclose(h);
	return ok;
}

static void skip_without_runtime(void **state)
{
	(void)state;
	print_message("# libspanprof.so has no sp_start (runtime not built yet): skipping\n");
	skip();
}

int main(void)
{
	if (getenv("SPANPROF_LIB") && !runtime_present()) {
		const struct CMUnitTest none[] = {cmocka_unit_test(skip_without_runtime)};
		return cmocka_run_group_tests(none, NULL, NULL);
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_bad_usage),
	    cmocka_unit_test(test_record_exit_status),
	    cmocka_unit_test(test_record_creates_parent_dirs),
	    cmocka_unit_test(test_record_crash_keeps_samples),
	    cmocka_unit_test(test_record_fork_exec_child_has_own_log),
	    cmocka_unit_test(test_record_vfork_exec_child_has_own_log),
	    cmocka_unit_test(test_record_threads_sampled),
	    cmocka_unit_test(test_record_thread_churn),
	    cmocka_unit_test(test_record_dlopen_module),
	    cmocka_unit_test(test_record_merge_symbolizes),
#ifdef SU_LINKED_HELPER
	    cmocka_unit_test(test_linked_mode_threads),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
