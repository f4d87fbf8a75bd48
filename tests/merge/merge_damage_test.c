/*
 * merge_damage_test.c - damaged input: a log with corrupted bytes in the
 * middle and a truncated log merge up to the damage with a warning, a row in
 * table damage and exit status 0; input of which nothing can be read fails
 * (status 1) and leaves neither the database nor temporary files behind.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtest.h"
#include "synth.h"

#define N_SAMPLES 20000

static char g_dir[512];

/* Writes one log of N_SAMPLES samples (many LZ4 frames) into dir; returns
 * its path in buf. */
static void write_log(const char *dir, char *buf, size_t len)
{
	synth s;
	static const uint64_t pcs[] = {0x1000, 0x2000};
	assert_int_equal(synth_open(&s, dir, "dmg", 0, 0), 0);
	snprintf(buf, len, "%s", sp_log_path());
	for (uint64_t i = 0; i < N_SAMPLES; i++)
		synth_sample(&s, 7, i * 1000, pcs, 2);
	synth_close(&s);
}

static void corrupt(const char *path, double where)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	static const char junk[32] = "this is not lz4 data at all....";
	assert_int_equal(pwrite(fd, junk, sizeof junk, (off_t)(sb.st_size * where)),
	                 (ssize_t)sizeof junk);
	close(fd);
}

static void check_partial(const char *name, int64_t *samples)
{
	char db_path[700], logs[700];
	snprintf(db_path, sizeof db_path, "%s/%s.db", g_dir, name);
	snprintf(logs, sizeof logs, "%s/%s", g_dir, name);
	char *err = NULL;
	assert_int_equal(mtest_cli(NULL, &err, "merge -o '%s' '%s'", db_path, logs), 0);
	assert_non_null(strstr(err, "damaged at offset"));
	free(err);
	sqlite3 *db = mtest_db(db_path);
	assert_int_equal(mtest_int(db, "SELECT count(*) FROM damage WHERE offset > 0 AND"
	                               " length(reason) > 0"),
	                 1);
	assert_int_equal(mtest_int(db, "SELECT count(*) FROM logs WHERE status = 'damaged'"), 1);
	*samples = mtest_int(db, "SELECT count(*) FROM samples");
	assert_true(*samples > 0 && *samples < N_SAMPLES);
	sqlite3_close(db);
}

static void test_corrupted_middle(void **state)
{
	(void)state;
	char dir[600], log[1024];
	snprintf(dir, sizeof dir, "%s/mid", g_dir);
	write_log(dir, log, sizeof log);
	corrupt(log, 0.6);
	int64_t n = 0;
	check_partial("mid", &n);
	/* Everything before the damaged frame is kept: a good share. */
	assert_true(n >= N_SAMPLES / 4);
}

static void test_truncated(void **state)
{
	(void)state;
	char dir[600], log[1024];
	struct stat sb;
	snprintf(dir, sizeof dir, "%s/trunc", g_dir);
	write_log(dir, log, sizeof log);
	assert_int_equal(stat(log, &sb), 0);
	assert_int_equal(truncate(log, sb.st_size / 2), 0);
	int64_t n = 0;
	check_partial("trunc", &n);
}

static void test_nothing_readable(void **state)
{
	(void)state;
	char dir[600], path[700], db_path[700];
	snprintf(dir, sizeof dir, "%s/garbage", g_dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof path, "%s/x.splog", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("hello, I am not a log\n", f);
	fclose(f);
	snprintf(db_path, sizeof db_path, "%s/out.db", dir);
	char *err = NULL;
	assert_int_equal(mtest_cli(NULL, &err, "merge -o '%s' '%s'", db_path, dir), 1);
	assert_non_null(strstr(err, "nothing could be read"));
	free(err);
	assert_false(mtest_exists(db_path));
	char *out = NULL;
	assert_int_equal(mtest_cli(&out, NULL, "query /dev/null 'SELECT 1' 2>&1; ls '%s'", dir), 0);
	assert_string_equal(strstr(out, "x.splog"), "x.splog\n"); /* no temp files */
	free(out);
	/* A directory without logs, and a missing input: failures too. */
	assert_int_equal(mtest_cli(NULL, NULL, "merge -o '%s' '%s/none'", db_path, dir), 1);
}

static int setup(void **state)
{
	(void)state;
	mtest_tmpdir(g_dir, sizeof g_dir, "damage");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return mtest_rmdir(g_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corrupted_middle),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_nothing_readable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
