/*
 * core_codec_fuzz.c - the record validator behind the LZ4 checksum.
 *
 * Bit flips in a file are caught by the frame checksum before any record is
 * decoded, so this test attacks the decoder directly: valid frame content
 * holding every record type is mutated (random bytes, random cuts, pure
 * noise; seeded) and decoded from an exactly-sized heap buffer, so ASan
 * catches any read past it. The decoder must stop with an error or reach
 * the end, always advancing. Then mutated content is wrapped in a valid LZ4
 * frame (correct checksum) after a good frame: the reader must return every
 * record of the good frame and either accept the second frame or report it
 * damaged at its offset.
 */
#include <lz4frame.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <unistd.h>

#include "codec.h"
#include "core_util.h"
#include "spanprof.h"
#include "tl.h"

static uint8_t good[8192];
static size_t good_len;
static lc_codec_scratch scratch;

static void put(lc_codec_state *st, const lc_record *rec)
{
	int n = lc_codec_encode(st, rec, good + good_len);
	assert_true(n > 0);
	good_len += (size_t)n;
}

static void put_meta_records(lc_codec_state *st)
{
	lc_record r = {.type = LC_REC_CLOCK};
	r.u.clock = (lc_clock_pair){.ticks = 1000, .mono_ns = 5, .real_ns = 77, .ns_per_tick = 0.4};
	put(st, &r);
	r = (lc_record){.type = LC_REC_STRING};
	r.u.string = (lc_rec_string){.id = 3, .len = 4, .bytes = "name"};
	put(st, &r);
	r = (lc_record){.type = LC_REC_THREAD};
	r.u.thread = (lc_rec_thread){.ts = 1100, .tid = 9, .name = "t"};
	put(st, &r);
	static const uint8_t bid[4] = {1, 2, 3, 4};
	r = (lc_record){.type = LC_REC_MODULE};
	r.u.module = (lc_rec_module){.start = 4096,
	                             .end = 8192,
	                             .path = "/lib/x.so",
	                             .path_len = 9,
	                             .build_id = bid,
	                             .build_id_len = 4,
	                             .ts = 1200};
	put(st, &r);
	r = (lc_record){.type = LC_REC_SAMPLER};
	r.u.sampler = (lc_rec_sampler){.mechanism = 1, .mode = 1, .signo = 34, .requested_hz = 99};
	put(st, &r);
}

static void put_thread_records(lc_codec_state *st)
{
	lc_record r = {.type = LC_REC_BLOCK, .u.block.tid = 9};
	put(st, &r);
	r = (lc_record){.type = LC_REC_SPAN_BEGIN};
	r.u.span_begin = (lc_rec_span_begin){.ts = 1300,
	                                     .span_id = 5,
	                                     .parent_id = 2,
	                                     .trace_hi = 1,
	                                     .trace_lo = 2,
	                                     .name = "inline",
	                                     .name_len = 6};
	put(st, &r);
	r = (lc_record){.type = LC_REC_ATTR};
	r.u.attr = (lc_rec_attr){.span_id = 5, .key_id = 3, .kind = LC_ATTR_INT, .i = -5};
	put(st, &r);
	r.u.attr = (lc_rec_attr){
	    .span_id = 5, .key = "k", .key_len = 1, .kind = LC_ATTR_STR, .s = "value", .s_len = 5};
	put(st, &r);
	static const uint64_t pcs[3] = {0x7f00001000, 0x7f00002000, 0x400000};
	r = (lc_record){.type = LC_REC_SAMPLE};
	r.u.sample = (lc_rec_sample){.ts = 1350, .nframes = 3, .pcs = pcs};
	put(st, &r);
	r = (lc_record){.type = LC_REC_SPAN_END};
	r.u.span_end = (lc_rec_span_end){.ts = 1400, .span_id = 5, .flags = 2};
	put(st, &r);
	r = (lc_record){.type = LC_REC_LOST};
	r.u.lost = (lc_rec_lost){.kind = LC_LOST_SAMPLES, .count = 12};
	put(st, &r);
	r = (lc_record){.type = LC_REC_THREAD_END};
	r.u.thread_end = (lc_rec_thread_end){.ts = 1500, .tid = 9};
	put(st, &r);
}

static int setup(void **state)
{
	(void)state;
	lc_codec_state st;
	lc_codec_reset(&st);
	put_meta_records(&st);
	put_thread_records(&st);
	return 0;
}

/* Decodes a whole buffer; returns the number of records or -1 on error. */
static int decode_all(const uint8_t *buf, size_t len)
{
	lc_codec_state st;
	lc_codec_reset(&st);
	size_t pos = 0;
	int n = 0;
	while (pos < len) {
		lc_record rec;
		const char *why = NULL;
		size_t before = pos;
		int rc = lc_codec_decode(&st, buf, len, &pos, &rec, &scratch, &why);
		if (rc < 0) {
			assert_non_null(why);
			return -1;
		}
		assert_true(pos > before);
		n++;
	}
	return n;
}

static void test_valid_content_decodes(void **state)
{
	(void)state;
	assert_int_equal(decode_all(good, good_len), 13);
}

static void mutate(uint8_t *buf, size_t *len, unsigned *seed)
{
	int how = rand_r(seed) % 3;
	if (how == 0) {
		*len = (size_t)rand_r(seed) % *len;
		return;
	}
	int flips = 1 + rand_r(seed) % 4;
	for (int i = 0; i < flips; i++) {
		size_t pos = (size_t)rand_r(seed) % *len;
		buf[pos] = how == 1 ? buf[pos] ^ (uint8_t)(1u << (rand_r(seed) % 8))
		                    : (uint8_t)rand_r(seed);
	}
}

static void test_mutated_content_never_overreads(void **state)
{
	(void)state;
	unsigned seed = 4242;
	int rejected = 0;
	for (int it = 0; it < 20000; it++) {
		size_t len = good_len;
		uint8_t *copy = malloc(len);
		memcpy(copy, good, len);
		mutate(copy, &len, &seed);
		uint8_t *exact = malloc(len ? len : 1);
		memcpy(exact, copy, len);
		rejected += decode_all(exact, len) < 0;
		free(exact);
		free(copy);
	}
	assert_true(rejected > 1000); /* the validator does reject things */
	for (int it = 0; it < 2000; it++) {
		size_t len = 1 + (size_t)rand_r(&seed) % 300;
		uint8_t *noise = malloc(len);
		for (size_t i = 0; i < len; i++)
			noise[i] = (uint8_t)rand_r(&seed);
		decode_all(noise, len);
		free(noise);
	}
}

static void append_frame(FILE *f, const uint8_t *content, size_t len)
{
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.contentSize = len;
	static uint8_t frame[16384];
	size_t n = LZ4F_compressFrame(frame, sizeof frame, content, len, &prefs);
	assert_false(LZ4F_isError(n));
	assert_int_equal(fwrite(frame, 1, n, f), n);
}

/* First frame: PROCESS + the good content. Returns the second frame's offset. */
static long write_log(const char *path, const uint8_t *second, size_t second_len)
{
	static uint8_t first[LC_CODEC_MAX_ENCODED + sizeof good];
	lc_codec_state st;
	lc_codec_reset(&st);
	lc_record p = {.type = LC_REC_PROCESS};
	p.u.process = (lc_rec_process){.format_version = 1,
	                               .min_reader_version = 1,
	                               .pid = 7,
	                               .clock_kind = LC_CLOCK_TSC,
	                               .clock = {.ticks = 1, .real_ns = 1, .ns_per_tick = 1.0}};
	int n = lc_codec_encode(&st, &p, first);
	assert_true(n > 0);
	memcpy(first + n, good, good_len);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	append_frame(f, first, (size_t)n + good_len);
	long off = ftell(f);
	if (second_len)
		append_frame(f, second, second_len);
	fclose(f);
	return off;
}

static void test_reader_rejects_bad_records_in_good_frames(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "core");
	char path[512];
	unsigned seed = 99;
	int damaged = 0;
	for (int it = 0; it < 400; it++) {
		snprintf(path, sizeof path, "%s/fuzz%d.splog", dir, it);
		uint8_t copy[sizeof good];
		size_t len = good_len;
		memcpy(copy, good, len);
		mutate(copy, &len, &seed);
		long second = write_log(path, copy, len);
		lc_reader *r;
		assert_int_equal(lc_reader_open(path, &r), 0);
		lc_record rec;
		int rc, n = 0;
		while ((rc = lc_reader_next(r, &rec)) == 1)
			n += rec.file_offset == 0;
		assert_int_equal(n, 14); /* PROCESS + 13: the whole good frame */
		if (rc < 0) {
			assert_int_equal(rc, -SP_ECORRUPT);
			assert_int_equal(lc_reader_error_offset(r), (uint64_t)second);
			damaged++;
		}
		lc_reader_close(r);
		unlink(path);
	}
	assert_true(damaged > 50);
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_content_decodes),
	    cmocka_unit_test(test_mutated_content_never_overreads),
	    cmocka_unit_test(test_reader_rejects_bad_records_in_good_frames),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
