/*
 * merge_damage.c - damaged input. A flipped bit in a middle frame,
 * a truncated log and random bytes between two frames each cost exactly
 * the damaged bytes: merge reads on at the next intact frame, prints one
 * warning line naming the range, writes one row in table damage (offset,
 * end_offset, reason) and exits 0. A span whose name and key STRINGs were
 * in the damaged frame is merged with "?<id>" names. Input of which
 * nothing can be read fails (status 1) and leaves neither the database nor
 * temporary files behind.
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

#include "log_reader.h"
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
	snprintf(buf, len, "%s", lc_log_path());
	for (uint64_t i = 0; i < N_SAMPLES; i++)
		synth_sample(&s, 7, i * 1000, pcs, 2);
	synth_close(&s);
}

#define MAX_FRAMES 256

/* The frames of an intact log: file offset and SAMPLE records of each. */
typedef struct frame_map {
	uint64_t start[MAX_FRAMES];
	int64_t samples[MAX_FRAMES];
	int n;
	uint64_t size;
} frame_map;

static void map_frames(const char *path, frame_map *m)
{
	memset(m, 0, sizeof *m);
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int rc;
	while ((rc = lc_reader_next(r, &rec)) == 1) {
		if (m->n == 0 || m->start[m->n - 1] != rec.file_offset) {
			assert_true(m->n < MAX_FRAMES);
			m->start[m->n++] = rec.file_offset;
		}
		m->samples[m->n - 1] += rec.type == LC_REC_SAMPLE;
	}
	assert_int_equal(rc, 0);
	m->size = lc_reader_bytes_read(r);
	lc_reader_close(r);
}

static uint64_t frame_end(const frame_map *m, int k)
{
	return k + 1 < m->n ? m->start[k + 1] : m->size;
}

static int count_substr(const char *s, const char *sub)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, sub)) != NULL; p++)
		n++;
	return n;
}

/* Merges dir name (exit 0: damage is a warning) and checks the one warning
 * line, the one damage row [start, end) and the log's status; returns the
 * database (caller closes). */
static sqlite3 *merge_one_range(const char *name, uint64_t start, uint64_t end)
{
	char db_path[700], logs[700], want[200];
	snprintf(db_path, sizeof db_path, "%s/%s.db", g_dir, name);
	snprintf(logs, sizeof logs, "%s/%s", g_dir, name);
	char *err = NULL;
	assert_int_equal(tl_cli_run(NULL, &err, "merge -o '%s' '%s'", db_path, logs), 0);
	assert_int_equal(count_substr(err, "warning:"), 1);
	snprintf(want, sizeof want, ": 1 damaged range (bytes %llu-%llu, ",
	         (unsigned long long)start, (unsigned long long)end);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "records of the intact frames"));
	assert_non_null(strstr(err, "see table damage"));
	free(err);
	sqlite3 *db = mtest_db(db_path);
	assert_int_equal(tl_sql_int(db,
	                            "SELECT count(*) FROM damage WHERE offset = %llu AND"
	                            " end_offset = %llu AND length(reason) > 0",
	                            (unsigned long long)start, (unsigned long long)end),
	                 1);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM damage"), 1);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM logs WHERE status = 'damaged'"), 1);
	return db;
}

/* One flipped bit in a middle frame costs that frame's samples only. */
static void test_flipped_bit_middle(void **state)
{
	(void)state;
	char dir[600], log[1024];
	snprintf(dir, sizeof dir, "%s/mid", g_dir);
	write_log(dir, log, sizeof log);
	frame_map m;
	map_frames(log, &m);
	assert_true(m.n >= 6);
	int k = m.n / 2;
	tl_flip_byte(log, (m.start[k] + frame_end(&m, k)) / 2, 0x20);
	sqlite3 *db = merge_one_range("mid", m.start[k], frame_end(&m, k));
	assert_true(m.samples[k] > 0);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples"), N_SAMPLES - m.samples[k]);
	sqlite3_close(db);
}

/* A log cut inside its last frames: everything before the cut frame. */
static void test_truncated(void **state)
{
	(void)state;
	char dir[600], log[1024];
	snprintf(dir, sizeof dir, "%s/trunc", g_dir);
	write_log(dir, log, sizeof log);
	frame_map m;
	map_frames(log, &m);
	uint64_t cut = m.size / 2;
	int k = 0;
	while (k + 1 < m.n && m.start[k + 1] <= cut)
		k++;
	if (m.start[k] == cut) /* between two frames would be a clean log */
		cut++;
	assert_int_equal(truncate(log, (off_t)cut), 0);
	sqlite3 *db = merge_one_range("trunc", m.start[k], cut);
	int64_t before = 0;
	for (int i = 0; i < k; i++)
		before += m.samples[i];
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples"), before);
	sqlite3_close(db);
}

/* Random bytes between two frames are skipped; no sample is lost. */
static void test_garbage_between_frames(void **state)
{
	(void)state;
	char dir[600], log[1024];
	snprintf(dir, sizeof dir, "%s/garbage-mid", g_dir);
	write_log(dir, log, sizeof log);
	frame_map m;
	map_frames(log, &m);
	size_t size = (size_t)m.size, at = (size_t)m.start[m.n / 2], len = 3000;
	uint8_t *bytes = malloc(size + len);
	FILE *f = fopen(log, "rb");
	assert_int_equal(fread(bytes, 1, size, f), size);
	fclose(f);
	memmove(bytes + at + len, bytes + at, size - at);
	unsigned seed = 4242;
	for (size_t i = 0; i < len; i++)
		bytes[at + i] = (uint8_t)rand_r(&seed);
	memcpy(bytes + at + 100, "\x04\x22\x4d\x18", 4); /* a false frame start */
	tl_write_file(log, bytes, size + len);
	free(bytes);
	sqlite3 *db = merge_one_range("garbage-mid", at, at + len);
	assert_int_equal(tl_sql_int(db, "SELECT count(*) FROM samples"), N_SAMPLES);
	sqlite3_close(db);
}

/* File offset of the frame holding STRING id. */
static uint64_t string_frame(const char *path, uint32_t id)
{
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	uint64_t at = 0;
	while (lc_reader_next(r, &rec) == 1)
		if (rec.type == LC_REC_STRING && rec.u.string.id == id)
			at = rec.file_offset;
	lc_reader_close(r);
	assert_true(at > 0);
	return at;
}

/* The frame holding the STRING records of a span's name and attribute key
 * (and its THREAD record) is damaged; the span, in a later frame, is merged
 * with placeholder names "?<id>", as dump shows them. */
static void test_unknown_strings_after_damage(void **state)
{
	(void)state;
	char dir[600], log[1024];
	snprintf(dir, sizeof dir, "%s/strings", g_dir);
	synth s;
	assert_int_equal(synth_open(&s, dir, "str", 0, 0), 0);
	snprintf(log, sizeof log, "%s", lc_log_path());
	lc_log_flush(); /* frame 0: PROCESS */
	lc_ring *ring = synth_thread(&s, 7, "worker");
	lc_record str = {.type = LC_REC_STRING};
	str.u.string = (lc_rec_string){.id = 900, .len = 9, .bytes = "lost_name"};
	assert_int_equal(lc_log_meta(&str, 0), 0);
	str.u.string = (lc_rec_string){.id = 901, .len = 8, .bytes = "lost_key"};
	assert_int_equal(lc_log_meta(&str, 0), 0);
	lc_log_flush(); /* the frame to damage: THREAD and STRINGs */
	lc_rec_span_begin b = {.ts = synth_ts(&s, 10), .tid = 7, .span_id = 5, .name_id = 900};
	assert_int_equal(lc_ring_span_begin(ring, &b), 0);
	lc_rec_attr a = {.tid = 7, .span_id = 5, .key_id = 901, .kind = LC_ATTR_INT, .i = 42};
	assert_int_equal(lc_ring_attr(ring, &a), 0);
	lc_rec_span_end e = {.ts = synth_ts(&s, 20), .tid = 7, .span_id = 5};
	assert_int_equal(lc_ring_span_end(ring, &e), 0);
	synth_close(&s);
	frame_map m;
	map_frames(log, &m);
	uint64_t at = string_frame(log, 900);
	int k = 0;
	while (m.start[k] != at)
		k++;
	assert_true(k >= 1 && k + 1 < m.n); /* not the first frame, nor the span's */
	tl_flip_byte(log, (m.start[k] + frame_end(&m, k)) / 2, 0x20);
	sqlite3 *db = merge_one_range("strings", m.start[k], frame_end(&m, k));
	char *name = tl_sql_text(db, "SELECT name FROM spans WHERE tid = 7");
	assert_string_equal(name, "?900");
	free(name);
	char *key = tl_sql_text(db, "SELECT key FROM span_attrs WHERE value = 42");
	assert_string_equal(key, "?901");
	free(key);
	assert_int_equal(tl_sql_int(db, "SELECT dur_ns FROM spans WHERE tid = 7"), 10);
	sqlite3_close(db);
}

static void test_nothing_readable(void **state)
{
	(void)state;
	char dir[600], path[700], db_path[700];
	snprintf(dir, sizeof dir, "%s/garbage", g_dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof path, "%s/x.splog", dir);
	tl_write_text(path, "hello, I am not a log\n");
	snprintf(db_path, sizeof db_path, "%s/out.db", dir);
	char *err = NULL;
	assert_int_equal(tl_cli_run(NULL, &err, "merge -o '%s' '%s'", db_path, dir), 1);
	assert_non_null(strstr(err, "nothing could be read"));
	free(err);
	assert_false(tl_exists(db_path));
	char *out = NULL;
	assert_int_equal(tl_cli_run(&out, NULL, "query /dev/null 'SELECT 1' 2>&1; ls '%s'", dir),
	                 0);
	assert_string_equal(strstr(out, "x.splog"), "x.splog\n"); /* no temp files */
	free(out);
	/* A directory without logs, and a missing input: failures too. */
	assert_int_equal(tl_cli_run(NULL, NULL, "merge -o '%s' '%s/none'", db_path, dir), 1);
}

static int setup(void **state)
{
	tl_tmpdir(g_dir, sizeof g_dir, "damage");
	*state = g_dir;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flipped_bit_middle),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_garbage_between_frames),
	    cmocka_unit_test(test_unknown_strings_after_damage),
	    cmocka_unit_test(test_nothing_readable),
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
