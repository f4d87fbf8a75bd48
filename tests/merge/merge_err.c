/*
 * merge_err.c - the one error path of merge (merge/common/mg_err.h): the
 * first recorded error wins, printing forgets it, warnings go to the
 * handler the command line sets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <spanprof.h>

#include "mg_err.h"

static void test_first_error_wins(void **state)
{
	(void)state;
	mg_err_clear();
	assert_int_equal(mg_err_code(), 0);
	assert_string_equal(mg_err_text(), "");
	assert_int_equal(mg_err_set(-SP_EIO, "database error: %s", "disk I/O error"), -SP_EIO);
	assert_int_equal(mg_err_set(-SP_ENOMEM, "out of memory"), -SP_ENOMEM);
	assert_int_equal(mg_err_code(), -SP_EIO);
	assert_string_equal(mg_err_text(), "database error: disk I/O error");
	mg_err_clear();
	assert_int_equal(mg_err_code(), 0);
}

/* mg_err_print writes "spanprof CMD: TEXT" once and forgets the error. */
static void test_print_once(void **state)
{
	(void)state;
	char path[] = "/tmp/merge_err_XXXXXX", buf[256] = "";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	assert_int_equal(dup2(fd, 2), 2);
	mg_err_clear();
	assert_int_equal(mg_err_print("top"), 0); /* nothing recorded */
	mg_err_set(-SP_EINVAL, "%s: not a regular file", "/tmp");
	assert_int_equal(mg_err_print("top"), 1);
	assert_int_equal(mg_err_print("top"), 0); /* printed once */
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
	close(fd);
	unlink(path);
	assert_string_equal(buf, "spanprof top: /tmp: not a regular file\n");
}

static char warned[256];
static void catch_warning(void *ctx, const char *text)
{
	snprintf(warned, sizeof warned, "%s|%s", (const char *)ctx, text);
}

/* Warnings reach the handler, and record no error. */
static void test_warning_handler(void **state)
{
	(void)state;
	mg_err_clear();
	mg_warn_set_handler(catch_warning, "merge");
	mg_warn("%s: using module+offset", "/lib/x.so");
	mg_warn_set_handler(NULL, NULL);
	assert_string_equal(warned, "merge|/lib/x.so: using module+offset");
	assert_int_equal(mg_err_code(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_error_wins),
	    cmocka_unit_test(test_print_once),
	    cmocka_unit_test(test_warning_handler),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
