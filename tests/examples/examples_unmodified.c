/*
 * examples_unmodified.c - `spanprof record` on programs that were never
 * instrumented (sampling only): examples/unmodified, built without the
 * library, whose hot function find_slot must be found by name; and the
 * system's xz compressing a generated file, whose stacks must go through
 * liblzma's exported entry point lzma_code (named from .dynsym; the
 * stripped internals are module+offset).
 *
 * Threading: single-threaded test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ex_util.h"
#include "tl.h"

/* Share of samples with func anywhere on the stack, in percent. */
static double stack_share(sqlite3 *db, const char *func)
{
	int64_t all = tl_sql_int(db, "SELECT count(*) FROM samples");
	int64_t with = tl_sql_int(db,
	                          "SELECT count(*) FROM samples s JOIN stack_funcs f"
	                          " USING (stack_id) WHERE f.func = '%s'",
	                          func);
	return all ? 100.0 * (double)with / (double)all : 0.0;
}

static void test_own_program(void **state)
{
	(void)state;
	ex_scratch("unmodified");
	const char *prog = ex_program("unmodified");
	/* Not linked with the library: the runtime comes from the preload. */
	assert_int_not_equal(tl_sh(NULL, "ldd %s | grep -q libspanprof", prog), 0);
	assert_int_equal(tl_sh(NULL, "$SP record -o out -- %s", prog), 0);
	assert_int_equal(tl_sh(NULL, "$SP merge -o um.db out"), 0);
	char *top = NULL;
	/* -n 20: without libc debug symbols strcmp may split into many
	 * libc.so.6+0x... lines above find_slot. */
	assert_int_equal(tl_sh(&top, "$SP top um.db -n 20"), 0);
	assert_non_null(strstr(top, "find_slot  (unmodified.c)"));
	free(top);

	sqlite3 *db = tl_db_open("um.db");
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM spans"), 0);
	assert_true(tl_sql_int(db, "SELECT count(*) FROM samples") >= 100);
	double share = stack_share(db, "find_slot");
	fprintf(stderr, "find_slot on the stack of %.1f%% of the samples\n", share);
	assert_true(share >= 70.0);
	sqlite3_close(db);
	ex_scratch_remove();
}

static void test_system_program(void **state)
{
	(void)state;
	ex_scratch("unmodified_xz");
	if (tl_sh(NULL, "command -v xz >/dev/null") != 0)
		skip();
	assert_int_equal(tl_sh(NULL, "head -c 1500000 /dev/urandom | base64 > data.txt"), 0);
	assert_int_equal(tl_sh(NULL, "$SP record -o out -- xz -T1 -1 -c data.txt > data.txt.xz"),
	                 0);
	assert_int_equal(tl_sh(NULL, "xz -dc data.txt.xz | cmp - data.txt"), 0);
	assert_int_equal(tl_sh(NULL, "$SP merge -o xz.db out"), 0);

	sqlite3 *db = tl_db_open("xz.db");
	int64_t samples = tl_sql_int(db, "SELECT count(*) FROM samples");
	int64_t in_xz =
	    tl_sql_int(db, "SELECT count(*) FROM sample_leaf"
	                   " WHERE module LIKE '%%/liblzma.so%%' OR module LIKE '%%/xz'");
	double share = stack_share(db, "lzma_code");
	fprintf(stderr, "xz: %lld samples, %lld in xz/liblzma, lzma_code on %.1f%%\n",
	        (long long)samples, (long long)in_xz, share);
	assert_true(samples >= 50);
	assert_true(in_xz * 10 >= samples * 8);
	assert_true(share >= 50.0);
	sqlite3_close(db);
	ex_scratch_remove();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_own_program),
	                                   cmocka_unit_test(test_system_program)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
