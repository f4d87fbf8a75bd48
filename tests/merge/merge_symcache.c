/*
 * merge_symcache.c - the persistent symbol cache (mg_symcache.c) and
 * the stack_funcs fill (mg_stackfuncs.c), end to end through the CLI.
 *
 * A log maps this test binary (sym_target.c is built -O2 -g, so one pc
 * sits in an inlined function) and libc, and samples a few pcs. Merged
 * with --no-cache, cold (empty cache) and warm, the frames and stack_funcs
 * tables must be identical, and SPANPROF_MERGE_TIMING's "symbols" line
 * says how many addresses the cache answered: none cold, all warm. Then a
 * corrupt entry (a miss, same result, rewritten), a copy of the binary
 * with another build-id (a new file, a miss), the same build-id on a
 * changed file (stale: replaced), two merges at once, and --no-cache
 * writing nothing. XDG_CACHE_HOME points into the test's directory.
 */
#include <dirent.h>
#include <link.h>
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

extern volatile uintptr_t sym_captured_pc;
void sym_capture(void);
void sym_outer(void);

static char g_dir[512], g_cache[600], g_exe[4096], g_libc[4096], g_bid[128];

/* An address in libc's code (not &strlen: a sanitizer intercepts it). */
static uint64_t libc_code(uint64_t off)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[8192];
	unsigned long long start = 0;
	assert_non_null(maps);
	while (!start && fgets(line, sizeof line, maps)) {
		unsigned long long a, b;
		char perms[8], p[4096] = "";
		if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %4095s", &a, &b, perms, p) == 4 &&
		    !strcmp(p, g_libc) && perms[2] == 'x' && b - a > off)
			start = a;
	}
	fclose(maps);
	assert_true(start != 0);
	return start + off;
}

/* The main program's build-id bytes (from its PT_NOTE). */
static int bid_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	uint8_t **bid = data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
			const uint8_t *desc = p + sizeof *n + ((n->n_namesz + 3) & ~3u);
			if (n->n_type == NT_GNU_BUILD_ID && n->n_descsz == 20) {
				bid[0] = (uint8_t *)desc;
				return 1;
			}
			p = desc + ((n->n_descsz + 3) & ~3u);
		}
	}
	return 1; /* the first object is the main program */
}

static const uint8_t *self_build_id(void)
{
	uint8_t *bid = NULL;
	dl_iterate_phdr(bid_cb, &bid);
	assert_non_null(bid);
	return bid;
}

/* A log in <g_dir>/<name> sampling pcs of the binary mapped as exe_as. */
static void write_log(const char *name, const char *exe_as)
{
	char dir[700];
	snprintf(dir, sizeof dir, "%s/%s", g_dir, name);
	synth s;
	assert_int_equal(synth_open(&s, dir, "cache", 0, 0), 0);
	assert_true(synth_map_self(&s, g_exe, exe_as, NULL, 0) > 0);
	assert_true(synth_map_self(&s, g_libc, NULL, NULL, 0) > 0);
	uint64_t pcs[] = {(uint64_t)(uintptr_t)&sym_capture, sym_captured_pc,
	                  (uint64_t)(uintptr_t)&write_log + 8, libc_code(0x1004),
	                  libc_code(0x2010)};
	synth_sample(&s, 1, 100, pcs, 5);
	synth_sample(&s, 1, 200, pcs + 2, 3);
	synth_sample(&s, 1, 300, pcs + 3, 1);
	synth_close(&s);
}

/* Merges <g_dir>/<log> into <g_dir>/<db>.db; *hits and *lookups from the
 * symbols line. Returns the database path (static). */
static const char *merge(const char *log, const char *db, const char *flags, long *lookups,
                         long *hits)
{
	static char path[700];
	char *err = NULL;
	snprintf(path, sizeof path, "%s/%s.db", g_dir, db);
	assert_int_equal(
	    tl_cli_run(NULL, &err, "merge %s -f -o '%s' '%s/%s'", flags, path, g_dir, log), 0);
	const char *line = err ? strstr(err, "symbols ") : NULL;
	assert_non_null(line);
	assert_int_equal(sscanf(line, "symbols %ld addresses, %ld from the cache", lookups, hits),
	                 2);
	free(err);
	return path;
}

/* Rows of one table that differ between two databases (both ways). */
static int64_t diff_rows(const char *a, const char *b, const char *cols, const char *table)
{
	sqlite3 *db = NULL;
	char sql[2048];
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	snprintf(sql, sizeof sql, "ATTACH '%s' AS a; ATTACH '%s' AS b;", a, b);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	snprintf(sql, sizeof sql,
	         "SELECT (SELECT count(*) FROM (SELECT %s FROM a.%s EXCEPT SELECT %s FROM b.%s))"
	         " + (SELECT count(*) FROM (SELECT %s FROM b.%s EXCEPT SELECT %s FROM a.%s))"
	         " + abs((SELECT count(*) FROM a.%s) - (SELECT count(*) FROM b.%s))",
	         cols, table, cols, table, cols, table, cols, table, table, table);
	int64_t n = tl_sql_int(db, "%s", sql);
	sqlite3_close(db);
	return n;
}

#define FRAME_COLS "frame_id, func, file, line, rel_pc, inlined"

static void same_result(const char *a, const char *b)
{
	assert_int_equal(diff_rows(a, b, FRAME_COLS, "frames"), 0);
	assert_int_equal(diff_rows(a, b, "stack_id, func", "stack_funcs"), 0);
	assert_int_equal(diff_rows(a, b, "stack_id, parent_id, frame_id, depth", "stacks"), 0);
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void cache_file(char *buf, size_t len, const char *bid)
{
	snprintf(buf, len, "%s/spanprof/symbols/%s", g_cache, bid);
}

static char g_nocache_db[700], g_cold_db[700];

static void test_no_cache_hit_and_identical(void **state)
{
	(void)state;
	long lookups, hits;
	char sym_dir[700];
	write_log("plain", g_exe);
	snprintf(g_nocache_db, sizeof g_nocache_db, "%s",
	         merge("plain", "nocache", "--no-cache", &lookups, &hits));
	snprintf(sym_dir, sizeof sym_dir, "%s/spanprof/symbols", g_cache);
	assert_int_equal(count_files(sym_dir), 0); /* --no-cache wrote nothing */
	assert_int_equal(hits, 0);
	snprintf(g_cold_db, sizeof g_cold_db, "%s", merge("plain", "cold", "", &lookups, &hits));
	assert_true(lookups >= 5);
	assert_int_equal(hits, 0);
	assert_int_equal(count_files(sym_dir), 2); /* the binary and libc */
	char f[800];
	cache_file(f, sizeof f, g_bid);
	assert_true(tl_exists(f));
	struct stat sb;
	assert_int_equal(stat(f, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	long lookups2;
	const char *warm = merge("plain", "warm", "", &lookups2, &hits);
	assert_int_equal(lookups2, lookups);
	assert_int_equal(hits, lookups); /* no DWARF read at all */
	same_result(g_nocache_db, g_cold_db);
	same_result(g_nocache_db, warm);
	/* the inlined frame came back from the cache too */
	sqlite3 *db = mtest_db(warm);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM frames WHERE inlined = 1"
	                                " AND func = 'sym_inlined_work'"),
	                 1);
	sqlite3_close(db);
}

static void test_corrupt_entry(void **state)
{
	(void)state;
	char f[800];
	long lookups, hits;
	cache_file(f, sizeof f, g_bid);
	size_t len = 0;
	char *bytes = tl_read_file(f, &len);
	assert_non_null(bytes);
	assert_true(len > 300);
	bytes[len - 3] ^= 0x5a; /* inside the last entry: its checksum fails */
	tl_write_file(f, bytes, len);
	free(bytes);
	const char *db = merge("plain", "corrupt", "", &lookups, &hits);
	assert_int_equal(hits, lookups - 1); /* that one entry was a miss */
	same_result(g_nocache_db, db);
	merge("plain", "rewritten", "", &lookups, &hits);
	assert_int_equal(hits, lookups); /* and it was written again */
	/* garbage instead of the file: all misses, same result, replaced */
	tl_write_file(f, "not a cache file", 16);
	db = merge("plain", "garbage", "", &lookups, &hits);
	same_result(g_nocache_db, db);
	merge("plain", "after_garbage", "", &lookups, &hits);
	assert_int_equal(hits, lookups);
}

static void test_rebuilt_binary(void **state)
{
	(void)state;
	char copy[700], f[800];
	long lookups, hits;
	snprintf(copy, sizeof copy, "%s/rebuilt", g_dir);
	assert_int_equal(tl_sh(NULL, "cp '%s' '%s'", g_exe, copy), 0);
	/* Another build-id: flip the last byte of the note in the copy. */
	size_t len = 0;
	char *bytes = tl_read_file(copy, &len);
	const uint8_t *bid = self_build_id();
	char *at = memmem(bytes, len, bid, 20);
	assert_non_null(at);
	at[19] ^= 0xff;
	tl_write_file(copy, bytes, len);
	free(bytes);
	char new_bid[41];
	for (int i = 0; i < 20; i++)
		sprintf(new_bid + 2 * i, "%02x", i == 19 ? bid[i] ^ 0xff : bid[i]);
	write_log("rebuilt_log", copy);
	const char *db = merge("rebuilt_log", "rebuilt", "", &lookups, &hits);
	cache_file(f, sizeof f, new_bid);
	assert_true(tl_exists(f));   /* a file of its own */
	assert_true(hits < lookups); /* the binary's addresses were misses */
	assert_int_equal(diff_rows(g_nocache_db, db, "func, file, line, rel_pc, inlined", "frames"),
	                 0);
	merge("rebuilt_log", "rebuilt2", "", &lookups, &hits);
	assert_int_equal(hits, lookups);
	/* Same build-id, changed file (here only its mtime): stale, replaced. */
	assert_int_equal(tl_sh(NULL, "touch -d '2001-01-01' '%s'", copy), 0);
	long stale_hits;
	merge("rebuilt_log", "stale", "", &lookups, &stale_hits);
	assert_true(stale_hits < lookups);
	merge("rebuilt_log", "stale2", "", &lookups, &hits);
	assert_int_equal(hits, lookups);
}

static void test_concurrent_merges(void **state)
{
	(void)state;
	long lookups, hits;
	char f[800];
	cache_file(f, sizeof f, g_bid);
	unlink(f);
	/* Two merges at once, both writing the binary's file. */
	assert_int_equal(tl_sh(NULL,
	                       "'%s' merge -q -f -o '%s/c1.db' '%s/plain' &"
	                       " '%s' merge -q -f -o '%s/c2.db' '%s/plain' & wait",
	                       tl_cli(), g_dir, g_dir, tl_cli(), g_dir, g_dir),
	                 0);
	assert_true(tl_exists(f));
	const char *db = merge("plain", "after_concurrent", "", &lookups, &hits);
	assert_int_equal(hits, lookups);
	same_result(g_nocache_db, db);
}

/* stack_funcs equals what the recursive SQL it replaced computed. */
static void test_stack_funcs_as_recursive_sql(void **state)
{
	(void)state;
	sqlite3 *db = mtest_db(g_cold_db);
	int64_t n = tl_sql_int(
	    db,
	    "WITH RECURSIVE p(stack_id, node) AS ("
	    " SELECT stack_id, stack_id FROM stacks"
	    " UNION ALL SELECT p.stack_id, s.parent_id FROM p JOIN stacks s ON s.stack_id = p.node"
	    " WHERE s.parent_id IS NOT NULL),"
	    " old(stack_id, func) AS (SELECT DISTINCT p.stack_id, f.func FROM p"
	    " JOIN stacks s ON s.stack_id = p.node JOIN frames f ON f.frame_id = s.frame_id)"
	    " SELECT (SELECT count(*) FROM (SELECT * FROM old EXCEPT SELECT * FROM stack_funcs))"
	    " + (SELECT count(*) FROM (SELECT * FROM stack_funcs EXCEPT SELECT * FROM old))"
	    " + (SELECT count(*) FROM old) - (SELECT count(*) FROM stack_funcs)");
	assert_int_equal(n, 0);
	assert_true(tl_sql_int(db, "SELECT count(*) FROM stack_funcs") > 5);
	sqlite3_close(db);
}

static int setup(void **state)
{
	tl_tmpdir(g_dir, sizeof g_dir, "symcache");
	*state = g_dir;
	snprintf(g_cache, sizeof g_cache, "%s/xdg", g_dir);
	setenv("XDG_CACHE_HOME", g_cache, 1);
	setenv("SPANPROF_MERGE_TIMING", "1", 1);
	ssize_t n = readlink("/proc/self/exe", g_exe, sizeof g_exe - 1);
	assert_true(n > 0);
	g_exe[n] = 0;
	synth_mapped_path("/libc.so", g_libc, sizeof g_libc);
	assert_true(g_libc[0] != 0);
	const uint8_t *bid = self_build_id();
	for (int i = 0; i < 20; i++)
		sprintf(g_bid + 2 * i, "%02x", bid[i]);
	sym_outer(); /* sets sym_captured_pc, inside the inlined function */
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_cache_hit_and_identical),
	    cmocka_unit_test(test_stack_funcs_as_recursive_sql),
	    cmocka_unit_test(test_corrupt_entry),
	    cmocka_unit_test(test_rebuilt_binary),
	    cmocka_unit_test(test_concurrent_merges),
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
