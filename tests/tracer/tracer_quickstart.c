/*
 * tracer_quickstart.c - the README's example really produces what the README
 * says: run examples/quickstart both ways (sp_start with -o DIR, and
 * started by the library constructor from SPANPROF_OUT), read each log and
 * check every request span, its attributes and its two children.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "records.h"
#include "tr_log.h"
#include "tl.h"

enum { N_REQUESTS = 60 };

static pid_t run_quickstart(const char *dir, int via_env)
{
	const char *build = getenv("SPANPROF_BUILD_DIR");
	assert_non_null(build);
	char exe[1024], count[16];
	snprintf(exe, sizeof exe, "%s/examples/quickstart/quickstart", build);
	snprintf(count, sizeof count, "%d", N_REQUESTS);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("SPANPROF_MODE", "off", 1);
		if (via_env) {
			setenv("SPANPROF_OUT", dir, 1);
			execl(exe, "quickstart", "-n", count, (char *)NULL);
		} else {
			execl(exe, "quickstart", "-n", count, "-o", dir, (char *)NULL);
		}
		_exit(127);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return pid;
}

static void check_log(tr_log *log)
{
	assert_int_equal(tr_count_named(log, "request"), N_REQUESTS);
	assert_int_equal(tr_count_named(log, "parse"), N_REQUESTS);
	assert_int_equal(tr_count_named(log, "compress"), N_REQUESTS);
	for (size_t i = 0; i < log->nspans; i++) {
		tr_span *s = &log->spans[i];
		assert_int_equal(s->ends, 1);
		assert_int_equal(s->begin_flags | s->end_flags, 0);
		if (strcmp(s->name, "request") == 0) {
			assert_int_equal(s->parent, 0);
			tr_attr *bytes = tr_attr_of(log, s->id, "bytes");
			tr_attr *kind = tr_attr_of(log, s->id, "kind");
			assert_true(bytes && bytes->kind == LC_ATTR_INT && bytes->i >= 4096);
			assert_true(kind && kind->kind == LC_ATTR_STR);
			assert_true(strcmp(kind->s, "json") == 0 || strcmp(kind->s, "csv") == 0 ||
			            strcmp(kind->s, "xml") == 0);
		} else {
			tr_span *p = tr_span_by_id(log, s->parent);
			assert_non_null(p);
			assert_string_equal(p->name, "request");
		}
	}
}

static void test_quickstart_linked(void **state)
{
	(void)state;
	char *dir = tr_tmpdir();
	pid_t pid = run_quickstart(dir, 0);
	tr_log *log = tr_log_load_pid(dir, pid);
	check_log(log);
	tr_log_free(log);
	tl_rm_rf(dir);
	free(dir);
}

static void test_quickstart_from_environment(void **state)
{
	(void)state;
	char *dir = tr_tmpdir();
	pid_t pid = run_quickstart(dir, 1);
	tr_log *log = tr_log_load_pid(dir, pid);
	check_log(log);
	tr_log_free(log);
	tl_rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quickstart_linked),
	    cmocka_unit_test(test_quickstart_from_environment),
	};
	unsetenv("SPANPROF_OUT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
