/*
 * examples_slow_requests.c - runs examples/slow_requests as its README does
 * (record, merge, explain) and checks what the example exists for: explain
 * names the planted input first (charset = "shift_jis", attributes[0]) and
 * the planted function first (transcode_shift_jis, functions[0]), both as
 * separating causes. The JSON is read by python3's json module.
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

static void test_slow_requests(void **state)
{
	(void)state;
	ex_scratch("slow_requests");
	const char *prog = ex_program("slow_requests");
	assert_int_equal(tl_sh(NULL, "$SP record -o out -- %s", prog), 0);
	assert_int_equal(tl_sh(NULL, "$SP merge -o sr.db out"), 0);
	assert_int_equal(tl_sh(NULL, "$SP explain sr.db request --format json >explain.json"), 0);
	char *got = NULL;
	assert_int_equal(
	    tl_sh(&got, "python3 -c '\n"
	                "import json\n"
	                "d = json.load(open(\"explain.json\"))\n"
	                "a, f = d[\"attributes\"][0], d[\"functions\"][0]\n"
	                "print(a[\"key\"], a[\"value\"], a[\"separates\"],"
	                " f[\"function\"], f[\"separates\"], d[\"rest\"][\"count\"] > 2000)'"),
	    0);
	fprintf(stderr, "explain: %s", got);
	assert_string_equal(got, "charset shift_jis True transcode_shift_jis True True\n");
	free(got);

	/* The README's other steps run as shown. */
	char *out = NULL;
	assert_int_equal(tl_sh(&out, "$SP spans sr.db request --slowest 5"), 0);
	assert_non_null(strstr(out, "the 5 slowest of "));
	free(out);
	assert_int_equal(tl_sh(&out, "$SP explain sr.db request --diff req"), 0);
	assert_non_null(strstr(out, "Diagnosis: the slowest \"request\" mostly have"
	                            " charset = \"shift_jis\""));
	free(out);
	ex_scratch_remove();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_slow_requests)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
