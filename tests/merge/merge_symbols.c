/*
 * merge_symbols.c - symbolization through libdwfl, on logs that map
 * real files: this test binary (built -O2 -g: function, file, line, and an
 * always_inline function as a frame of its own at its source line, its
 * caller at the inline call site), a stripped program (names from .dynsym,
 * else module+offset), a missing file (module+offset), and a recorded
 * build-id that does not match the file (warning + modules.status).
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

#include "mtest.h"
#include "synth.h"

extern volatile uintptr_t sym_captured_pc;
extern volatile int sym_inner_line, sym_call_line;
void sym_capture(void);
void sym_outer(void);

static char g_dir[512];

static void self_exe(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	assert_true(n > 0);
	buf[n] = 0;
}

static char *merge_dir(const char *name, char **err)
{
	static char db[700];
	snprintf(db, sizeof db, "%s/%s.db", g_dir, name);
	char logs[700];
	snprintf(logs, sizeof logs, "%s/%s", g_dir, name);
	assert_int_equal(tl_cli_run(NULL, err, "merge -o '%s' '%s'", db, logs), 0);
	return db;
}

static void test_inline_frames(void **state)
{
	(void)state;
	char exe[4096], dir[600];
	sym_outer();
	self_exe(exe, sizeof exe);
	snprintf(dir, sizeof dir, "%s/inline", g_dir);
	synth s;
	assert_int_equal(synth_open(&s, dir, "self", 0, 0), 0);
	assert_true(synth_map_self(&s, exe, NULL, NULL, 0) > 0);
	uint64_t pcs[] = {(uint64_t)(uintptr_t)&sym_capture, sym_captured_pc};
	synth_sample(&s, 1, 100, pcs, 2);
	synth_close(&s);
	sqlite3 *db = mtest_db(merge_dir("inline", NULL));
	/* Leaf to root: sym_capture, sym_inlined_work (inlined), sym_outer. */
	char sql[1024];
	snprintf(sql, sizeof sql,
	         "WITH RECURSIVE p(id) AS (SELECT stack_id FROM samples UNION ALL"
	         " SELECT parent_id FROM stacks JOIN p ON stacks.stack_id = p.id"
	         " WHERE parent_id IS NOT NULL)"
	         " SELECT group_concat(x, ' ') FROM (SELECT f.func || ':' || f.inlined || ':'"
	         " || ifnull(f.line, 0) AS x FROM p JOIN stacks st ON st.stack_id = p.id"
	         " JOIN frames f ON f.frame_id = st.frame_id ORDER BY st.depth DESC)");
	char *chain = tl_sql_text(db, "%s", sql);
	char want[256];
	snprintf(want, sizeof want, "sym_capture:0:%d sym_inlined_work:1:%d sym_outer:0:%d", 0,
	         sym_inner_line, sym_call_line);
	assert_non_null(chain);
	print_message("chain: %s\n", chain);
	/* The leaf's line is that of the function entry: compare the rest. */
	assert_non_null(strstr(chain, strchr(want, ' ')));
	assert_true(!strncmp(chain, "sym_capture:0:", 14));
	free(chain);
	char *file = tl_sql_text(db, "SELECT file FROM frames WHERE func = 'sym_inlined_work'");
	assert_non_null(file);
	assert_non_null(strstr(file, "sym_target.c"));
	free(file);
	sqlite3_close(db);
}

/* Runs the stripped program and maps its file and functions into a log. */
static void write_stripped_log(const char *dir)
{
	char *out = NULL;
	assert_int_equal(
	    tl_sh(&out, "'%s/tests/merge/merge_stripped_prog'", getenv("SPANPROF_BUILD_DIR")), 0);
	synth s;
	assert_int_equal(synth_open(&s, dir, "stripped", 0, 0), 0);
	unsigned long long a = 0, b = 0, c = 0, exported = 0, stat = 0;
	char path[4096];
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (sscanf(line, "map %llx %llx %llx %4095s", &a, &b, &c, path) == 4)
			synth_module(&s, path, a, b, c, NULL, 0);
		sscanf(line, "exported %llx", &exported);
		sscanf(line, "static %llx", &stat);
	}
	free(out);
	assert_true(exported && stat);
	synth_module(&s, "/nonexistent/libgone.so", 0x7f0000000000ull, 0x7f0000010000ull, 0x1000,
	             NULL, 0);
	uint64_t pc1[] = {exported + 1}, pc2[] = {stat + 1}, pc3[] = {0x7f0000000234ull};
	synth_sample(&s, 1, 100, pc1, 1);
	synth_sample(&s, 1, 200, pc2, 1);
	synth_sample(&s, 1, 300, pc3, 1);
	synth_close(&s);
}

static void test_stripped_and_missing(void **state)
{
	(void)state;
	char dir[600];
	snprintf(dir, sizeof dir, "%s/stripped", g_dir);
	write_stripped_log(dir);
	char *err = NULL;
	sqlite3 *db = mtest_db(merge_dir("stripped", &err));
	assert_non_null(strstr(err, "libgone.so")); /* warned about the missing file */
	free(err);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM frames WHERE func ="
	                                " 'stripped_exported' AND file IS NULL"),
	                 1);
	/* The static function: a .dynsym neighbour's name or module+offset. */
	char *f2 =
	    tl_sql_text(db, "SELECT f.func FROM samples s JOIN stacks st USING (stack_id)"
	                    " JOIN frames f USING (frame_id) ORDER BY s.ts_ns LIMIT 1 OFFSET 1");
	assert_non_null(f2);
	assert_true(strlen(f2) > 0 && strcmp(f2, "??"));
	free(f2);
	/* Missing file: module+offset, offset in the file. */
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM frames WHERE func ="
	                                " 'libgone.so+0x1234'"),
	                 1);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM modules WHERE status = 'missing'"),
	                 1);
	sqlite3_close(db);
}

static void test_build_id_mismatch(void **state)
{
	(void)state;
	char exe[4096], dir[600];
	self_exe(exe, sizeof exe);
	snprintf(dir, sizeof dir, "%s/bid", g_dir);
	synth s;
	assert_int_equal(synth_open(&s, dir, "bid", 0, 0), 0);
	static const uint8_t fake[20] = {0xde, 0xad, 0xbe, 0xef};
	assert_true(synth_map_self(&s, exe, NULL, fake, sizeof fake) > 0);
	uint64_t pcs[] = {(uint64_t)(uintptr_t)&sym_capture};
	synth_sample(&s, 1, 100, pcs, 1);
	synth_close(&s);
	char *err = NULL;
	sqlite3 *db = mtest_db(merge_dir("bid", &err));
	assert_non_null(strstr(err, "changed since recording"));
	/* Warned once for the module, not once per mapping or sample. */
	assert_ptr_equal(strstr(strstr(err, "changed since") + 1, "changed since"), NULL);
	free(err);
	assert_int_equal(tl_sql_int(db,
	                            "SELECT count(*) FROM modules WHERE"
	                            " status = 'build-id mismatch' AND build_id LIKE 'deadbeef%%'"
	                            " AND file_build_id IS NOT NULL"),
	                 1);
	sqlite3_close(db);
}

static int setup(void **state)
{
	tl_tmpdir(g_dir, sizeof g_dir, "sym");
	*state = g_dir;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inline_frames),
	    cmocka_unit_test(test_stripped_and_missing),
	    cmocka_unit_test(test_build_id_mismatch),
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
