/*
 * export_cli.c - 'spanprof export' command line, failure handling and
 * filters, on the fixture database (tests/export/fixture.sql):
 * usage errors exit 2; garbage, an empty database and a filter that matches
 * nothing exit 1 with a one-line reason and leave no file behind (nor touch
 * an existing one); --span / --from / --to select exactly the samples the
 * database attributes; every format runs (ASan build: without leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "xt.h"
#include "tl.h"

#define T0 1700000000000000000LL

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_usage(void **state)
{
	struct xt *t = *state;
	char *out = NULL;
	assert_int_equal(tl_sh_all(&out, "%s export --help", tl_cli()), 0);
	assert_non_null(strstr(out, "--format"));
	assert_non_null(strstr(out, "speedscope"));
	free(out);
	assert_int_equal(tl_sh_all(NULL, "%s export %s", tl_cli(), t->db), 2);
	assert_int_equal(tl_sh_all(NULL, "%s export %s --format svg", tl_cli(), t->db), 2);
	assert_int_equal(tl_sh_all(NULL, "%s export --format folded", tl_cli()), 2);
	assert_int_equal(tl_sh_all(NULL, "%s export %s -f folded --from 12x", tl_cli(), t->db), 2);
	assert_int_equal(tl_sh_all(NULL, "%s export %s -f folded --from 5 --to 4", tl_cli(), t->db),
	                 2);
	assert_int_equal(tl_sh_all(NULL, "%s export %s -f folded --bogus", tl_cli(), t->db), 2);
}

/* A failed export: exit 1, one line naming the reason, no file left. */
static void expect_failure(struct xt *t, const char *db, const char *args, const char *reason)
{
	char *out = NULL;
	int before = xt_count_files(t->dir);
	assert_int_equal(
	    tl_sh_all(&out, "%s export %s %s -o %s/out.json", tl_cli(), db, args, t->dir), 1);
	assert_int_equal(count_lines(out), 1);
	if (!strstr(out, reason))
		fail_msg("expected '%s' in: %s", reason, out);
	assert_int_equal(xt_count_files(t->dir), before);
	free(out);
}

static void test_garbage(void **state)
{
	struct xt *t = *state;
	char path[512];
	snprintf(path, sizeof path, "%s/garbage.db", t->dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 1000; i++)
		fputs("this is not a database\n", f);
	fclose(f);
	expect_failure(t, path, "-f firefox", "not a spanprof database");
	expect_failure(t, "/nonexistent/x.db", "-f folded", "No such file");
}

static void test_empty_and_foreign_db(void **state)
{
	struct xt *t = *state;
	char path[512], *err = NULL;
	sqlite3 *db;
	snprintf(path, sizeof path, "%s/empty.db", t->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ATTACH ':memory:' AS m", NULL, NULL, &err), SQLITE_OK);
	sqlite3_close(db);
	expect_failure(t, path, "-f chrome", "not a spanprof database"); /* no tables */
	assert_int_equal(tl_sh_all(NULL, "cp %s %s", t->db, path), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "DELETE FROM samples; DELETE FROM spans; "
	                              "DELETE FROM span_attrs",
	                              NULL, NULL, &err),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(tl_db_int(path, "%s", "SELECT count(*) FROM samples"), 0);
	expect_failure(t, path, "-f pprof", "no spans and no samples");
}

static void test_filter_matches_nothing(void **state)
{
	struct xt *t = *state;
	expect_failure(t, t->db, "-f speedscope --span no_such_span", "no span or sample matches");
	expect_failure(t, t->db, "-f firefox --from 1 --to 2", "no span or sample matches");
	/* an existing output file is left as it was */
	char path[512], *out = NULL;
	snprintf(path, sizeof path, "%s/keep.txt", t->dir);
	FILE *f = fopen(path, "w");
	fputs("precious\n", f);
	fclose(f);
	assert_int_equal(
	    tl_sh_all(NULL, "%s export %s -f folded --span nope -o %s", tl_cli(), t->db, path), 1);
	assert_int_equal(tl_sh_all(&out, "cat %s", path), 0);
	assert_string_equal(out, "precious\n");
	free(out);
}

static void test_folded_all(void **state)
{
	struct xt *t = *state;
	char *out = NULL;
	assert_int_equal(tl_sh_all(&out, "%s export %s -f folded", tl_cli(), t->db), 0);
	assert_int_equal(xt_folded_total(out),
	                 tl_db_int(t->db, "%s", "SELECT count(*) FROM samples"));
	assert_non_null(strstr(out, "main;work;hot_loop "));
	assert_non_null(strstr(out, "main;parse_input;memcpy "));
	assert_non_null(strstr(out, "main;work;/usr/lib/libx.so+0x1234 ")); /* unresolved */
	free(out);
}

static void test_folded_span_filter(void **state)
{
	struct xt *t = *state;
	char *out = NULL;
	assert_int_equal(
	    tl_sh_all(&out, "%s export %s -f folded --span parse --span-frames", tl_cli(), t->db),
	    0);
	assert_int_equal(xt_folded_total(out),
	                 tl_db_int(t->db, "%s",
	                           "SELECT count(*) FROM samples WHERE span_id IN "
	                           "(SELECT span_id FROM spans WHERE name = 'parse')"));
	for (const char *l = out; *l; l = strchr(l, '\n') + 1)
		assert_memory_equal(l, "[span] request;[span] parse;main;", 33);
	free(out);
	/* a parent span keeps its descendants and their samples */
	assert_int_equal(tl_sh_all(&out, "%s export %s -f folded --span request", tl_cli(), t->db),
	                 0);
	assert_int_equal(
	    xt_folded_total(out),
	    tl_db_int(t->db, "%s", "SELECT count(*) FROM samples WHERE span_id IS NOT NULL"));
	free(out);
}

static void test_time_window(void **state)
{
	struct xt *t = *state;
	char *out = NULL;
	long long from = T0 + 2000000, to = T0 + 4350000; /* inclusive: a sample at 4.35 ms */
	assert_int_equal(tl_sh_all(&out, "%s export %s -f folded --from %lld --to %lld", tl_cli(),
	                           t->db, from, to),
	                 0);
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM samples WHERE ts_ns BETWEEN %lld AND %lld",
	         from, to);
	assert_int_equal(xt_folded_total(out), tl_db_int(t->db, "%s", sql));
	assert_true(xt_folded_total(out) > 0);
	/* The same window in RFC 3339, as merge --since/--until take it. */
	char *rfc = NULL;
	assert_int_equal(tl_sh_all(&rfc,
	                           "%s export %s -f folded --from 2023-11-14T22:13:20.002Z"
	                           " --to 2023-11-14T22:13:20.00435Z",
	                           tl_cli(), t->db),
	                 0);
	assert_string_equal(rfc, out);
	free(rfc);
	free(out);
}

static void test_every_format_writes_private_file(void **state)
{
	struct xt *t = *state;
	static const char *const formats[] = {"firefox", "chrome", "pprof", "folded", "speedscope"};
	for (size_t i = 0; i < 5; i++) {
		char path[512], *out = NULL;
		struct stat sb;
		snprintf(path, sizeof path, "%s/out.%s", t->dir, formats[i]);
		if (tl_sh_all(&out, "%s export %s -f %s -o %s", tl_cli(), t->db, formats[i],
		              path) != 0)
			fail_msg("%s: %s", formats[i], out);
		free(out);
		assert_int_equal(stat(path, &sb), 0);
		assert_true(sb.st_size > 100);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	assert_int_equal(xt_count_files(t->dir), 6); /* db + 5 exports, no temp files */
}

static void test_output_targets(void **state)
{
	struct xt *t = *state;
	char *out = NULL, link[512], target[512];
	struct stat sb;
	/* only new or regular files: a device, a FIFO (which would block) and
	 * a directory are refused with one line and left as they were */
	assert_int_equal(tl_sh_all(&out, "%s export %s -f chrome -o /dev/null", tl_cli(), t->db),
	                 1);
	if (!strstr(out, "not a regular file") || count_lines(out) != 1)
		fail_msg("%s", out);
	free(out);
	assert_int_equal(stat("/dev/null", &sb), 0);
	assert_true(S_ISCHR(sb.st_mode));
	snprintf(target, sizeof target, "%s/fifo", t->dir);
	assert_int_equal(mkfifo(target, 0600), 0);
	assert_int_equal(tl_sh_all(&out, "%s export %s -f folded -o %s", tl_cli(), t->db, target),
	                 1);
	if (!strstr(out, "not a regular file"))
		fail_msg("%s", out);
	free(out);
	assert_int_equal(lstat(target, &sb), 0);
	assert_true(S_ISFIFO(sb.st_mode));
	unlink(target);
	assert_int_equal(tl_sh_all(&out, "%s export %s -f folded -o %s", tl_cli(), t->db, t->dir),
	                 1);
	if (!strstr(out, "not a regular file"))
		fail_msg("%s", out);
	free(out);
	assert_int_equal(stat(t->dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	/* '-' is stdout */
	assert_int_equal(tl_sh_all(&out, "%s export %s -f folded -o -", tl_cli(), t->db), 0);
	assert_int_equal(xt_folded_total(out),
	                 tl_db_int(t->db, "%s", "SELECT count(*) FROM samples"));
	free(out);
	/* a symbolic link is not followed, nor replaced */
	snprintf(target, sizeof target, "%s/target.txt", t->dir);
	snprintf(link, sizeof link, "%s/link.txt", t->dir);
	FILE *f = fopen(target, "w");
	fputs("keep\n", f);
	fclose(f);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(tl_sh_all(&out, "%s export %s -f folded -o %s", tl_cli(), t->db, link), 1);
	if (!strstr(out, "not a regular file"))
		fail_msg("%s", out);
	free(out);
	assert_int_equal(lstat(link, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	assert_int_equal(tl_sh_all(&out, "cat %s", target), 0);
	assert_string_equal(out, "keep\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_usage, xt_fixture_setup, xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_garbage, xt_fixture_setup, xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_empty_and_foreign_db, xt_fixture_setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_filter_matches_nothing, xt_fixture_setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_folded_all, xt_fixture_setup, xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_folded_span_filter, xt_fixture_setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_time_window, xt_fixture_setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_output_targets, xt_fixture_setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_every_format_writes_private_file, xt_fixture_setup,
	                                    xt_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
