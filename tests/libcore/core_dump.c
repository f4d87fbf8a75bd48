/*
 * core_dump.c - 'spanprof dump' as a user runs it: a good log prints one
 * line per record and a summary (exit 0), with lost and dropped counts
 * summed from their cumulative records; a damaged log prints the records
 * before the damage, then one line "damaged at offset N" on stderr (exit
 * 1); a damaged middle frame shows as a DAMAGE line with its byte range,
 * the records after it are printed too, and stderr has one line for it
 * (exit 1); a non-log file and a missing file give one line and exit 1; bad usage
 * exits 2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "core_util.h"
#include "spanprof.h"
#include "tl.h"

static char dir[64], log_path[512];

typedef struct run_result {
	int status;
	char *out, *err; /* malloc'd; the next run_dump into it frees them */
} run_result;

/* "spanprof dump ARGS", its exit status and output into res. */
static void run_dump(const char *args, run_result *res)
{
	free(res->out);
	free(res->err);
	res->status = tl_cli_run(&res->out, &res->err, "dump %s", args);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int setup(void **state)
{
	(void)state;
	tl_tmpdir(dir, sizeof dir, "core");
	lc_ring *ring = lc_ring_create(321, 0);
	lc_ring *tiny = lc_ring_create(322, 1024); /* 5 of 10 samples fit, 5 lost */
	static const uint64_t pcs[20] = {0x1000};
	for (int i = 0; i < 10; i++) {
		lc_rec_sample smp = {.ts = lc_clock_ticks(), .nframes = 20, .pcs = pcs};
		lc_ring_sample(tiny, &smp);
	}
	lc_ring_retire(tiny);
	assert_int_equal(core_open_log(dir, "dumped", log_path, sizeof log_path), 0);
	lc_record s = {.type = LC_REC_STRING};
	s.u.string = (lc_rec_string){.id = 1, .len = 5, .bytes = "parse"};
	lc_log_meta(&s, 0);
	for (uint64_t i = 1; i <= 3; i++) {
		lc_rec_span_begin b = {.ts = lc_clock_ticks(), .span_id = i, .name_id = 1};
		lc_ring_span_begin(ring, &b);
		lc_rec_attr a = {
		    .span_id = i, .key = "bytes", .key_len = 5, .kind = LC_ATTR_INT, .i = 4096};
		lc_ring_attr(ring, &a);
		lc_rec_span_end e = {.ts = lc_clock_ticks(), .span_id = i};
		lc_ring_span_end(ring, &e);
		lc_log_flush();
	}
	/* Spans dropped under SPANPROF_ON_FULL=drop: 2 named "parse", 1 under
	 * a name beyond the per-name counters; cumulative across two drains. */
	lc_ring_count_dropped(ring, 1);
	lc_log_flush();
	lc_ring_count_dropped(ring, 1);
	lc_ring_count_dropped(ring, 0);
	lc_ring_retire(ring);
	lc_log_close();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_rm_rf(dir);
	return 0;
}

static void test_dump_good_log(void **state)
{
	(void)state;
	static run_result res;
	char args[600];
	snprintf(args, sizeof args, "'%s'", log_path);
	run_dump(args, &res);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.err, "");
	assert_non_null(strstr(res.out, "PROCESS ts="));
	assert_non_null(strstr(res.out, "SPAN_BEGIN ts="));
	assert_non_null(strstr(res.out, "tid=321 span=3 parent=0 name=\"parse\""));
	assert_non_null(strstr(res.out, "key=\"bytes\" int=4096"));
	assert_non_null(strstr(res.out, "SPAN_BEGIN=3 SPAN_END=3"));
	assert_non_null(strstr(res.out, "SAMPLE ts="));
	assert_non_null(strstr(res.out, "LOST tid=322 kind=2 count=5"));
	assert_non_null(strstr(res.out, "-- lost: events=0 samples=5 unwind_failed=0"));
	assert_non_null(strstr(res.out, "DROPPED tid=321 name=\"parse\" count=2"));
	assert_non_null(strstr(res.out, "DROPPED tid=321 name=\"(other names)\" count=1"));
	assert_non_null(strstr(res.out, "-- dropped: spans=3 (SPANPROF_ON_FULL=drop)"));
}

/* Offset of the last frame of the good log. */
static uint64_t last_frame_offset(void)
{
	lc_reader *r;
	assert_int_equal(lc_reader_open(log_path, &r), 0);
	lc_record rec;
	uint64_t last_frame = 0;
	while (lc_reader_next(r, &rec) == 1)
		last_frame = rec.file_offset;
	lc_reader_close(r);
	return last_frame;
}

/* Cuts a copy of the log in the middle of its last frame. */
static void test_dump_damaged_log(void **state)
{
	(void)state;
	static run_result res;
	uint64_t last = last_frame_offset();
	size_t n = 0;
	char *bytes = tl_read_file(log_path, &n);
	assert_non_null(bytes);
	assert_true(n > last + 2);
	char cut[600], args[700], want[700];
	snprintf(cut, sizeof cut, "%s/cut.splog", dir);
	tl_write_file(cut, bytes, (size_t)last + (n - (size_t)last) / 2);
	free(bytes);
	snprintf(args, sizeof args, "'%s'", cut);
	snprintf(want, sizeof want, "spanprof dump: %s: damaged at offset %llu: ", cut,
	         (unsigned long long)last);
	run_dump(args, &res);
	assert_int_equal(res.status, 1);
	assert_int_equal(count_lines(res.err), 1);
	assert_memory_equal(res.err, want, strlen(want));
	assert_non_null(strstr(res.out, "SPAN_BEGIN ts="));
	assert_non_null(strstr(res.out, "span=2"));
}

/* File offsets of the frame holding span 2's BEGIN and of the next one. */
static void span2_frame(uint64_t *start, uint64_t *end)
{
	lc_reader *r;
	assert_int_equal(lc_reader_open(log_path, &r), 0);
	lc_record rec;
	*start = *end = 0;
	while (lc_reader_next(r, &rec) == 1) {
		if (rec.type == LC_REC_SPAN_BEGIN && rec.u.span_begin.span_id == 2)
			*start = rec.file_offset;
		if (*start && !*end && rec.file_offset > *start)
			*end = rec.file_offset;
	}
	lc_reader_close(r);
	assert_true(*start > 0 && *end > *start);
}

/* One flipped byte in the middle frame: that frame is skipped and shown,
 * span 3's frame after it is printed. */
static void test_dump_damaged_middle_frame(void **state)
{
	(void)state;
	static run_result res;
	uint64_t start, end;
	span2_frame(&start, &end);
	size_t n = 0;
	char *bytes = tl_read_file(log_path, &n);
	assert_non_null(bytes);
	bytes[(start + end) / 2] ^= 0x04;
	char bad[600], args[700], want[200];
	snprintf(bad, sizeof bad, "%s/flipped.splog", dir);
	tl_write_file(bad, bytes, n);
	free(bytes);
	snprintf(args, sizeof args, "'%s'", bad);
	run_dump(args, &res);
	assert_int_equal(res.status, 1);
	assert_non_null(strstr(res.out, "span=1 parent=0 name=\"parse\""));
	assert_null(strstr(res.out, "span=2 "));
	assert_non_null(strstr(res.out, "span=3 parent=0 name=\"parse\""));
	snprintf(want, sizeof want, "DAMAGE offset=%llu end=%llu bytes=%llu reason=\"",
	         (unsigned long long)start, (unsigned long long)end,
	         (unsigned long long)(end - start));
	const char *damage = strstr(res.out, want);
	assert_non_null(damage);
	assert_true(damage < strstr(res.out, "span=3 ")); /* in place, before span 3 */
	assert_non_null(strstr(res.out, "-- damage: 1 ranges"));
	assert_int_equal(count_lines(res.err), 1);
	snprintf(want, sizeof want, "damaged at offset %llu: ", (unsigned long long)start);
	assert_non_null(strstr(res.err, want));
	snprintf(want, sizeof want, "skipped bytes %llu-%llu, read on", (unsigned long long)start,
	         (unsigned long long)end);
	assert_non_null(strstr(res.err, want));
}

static void test_dump_not_a_log(void **state)
{
	(void)state;
	static run_result res;
	char path[600], args[700];
	snprintf(path, sizeof path, "%s/text.txt", dir);
	tl_write_text(path, "just some text\n");
	snprintf(args, sizeof args, "'%s'", path);
	run_dump(args, &res);
	assert_int_equal(res.status, 1);
	assert_int_equal(count_lines(res.err), 1);
	assert_non_null(strstr(res.err, "not a spanprof log"));
	run_dump("/nonexistent/missing.splog", &res);
	assert_int_equal(res.status, 1);
	assert_int_equal(count_lines(res.err), 1);
	assert_non_null(strstr(res.err, "No such file"));
}

static void test_dump_usage(void **state)
{
	(void)state;
	static run_result res;
	run_dump("", &res);
	assert_int_equal(res.status, 2);
	run_dump("a b", &res);
	assert_int_equal(res.status, 2);
	run_dump("--help", &res);
	assert_int_equal(res.status, 0);
	assert_non_null(strstr(res.out, "usage: spanprof dump"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dump_good_log),
	    cmocka_unit_test(test_dump_damaged_log),
	    cmocka_unit_test(test_dump_damaged_middle_frame),
	    cmocka_unit_test(test_dump_not_a_log),
	    cmocka_unit_test(test_dump_usage),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
