/*
 * core_damage.c - the reader against damaged logs.
 *
 * A small multi-frame log is cut at EVERY byte offset, has single bytes
 * flipped at seeded random positions, and has random garbage inserted
 * between two frames (many iterations each). The reader must never crash
 * (this test also runs under ASan/UBSan), must return every record of every
 * intact frame exactly as in the intact log (before AND after the damage:
 * it resumes at the next intact frame), and must report each damaged range
 * with its start (the damaged frame) and end (where reading resumed). A
 * cut exactly between two frames is a clean (shorter) log; damage in the
 * first frame (PROCESS) ends the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <unistd.h>

#include "clock.h"
#include "core_util.h"
#include "spanprof.h"
#include "tl.h"

#define MAX_RECS   512
#define MAX_FRAMES 64

typedef struct fingerprint {
	uint8_t type;
	uint64_t offset, ts_ns, key;
} fingerprint;

typedef struct log_image {
	uint8_t *bytes;
	size_t size;
	fingerprint recs[MAX_RECS];
	int nrecs;
	uint64_t frame_start[MAX_FRAMES];
	int nframes;
} log_image;

/* What one read of a log gave. */
typedef struct read_result {
	fingerprint recs[MAX_RECS];
	int n;
	uint64_t err_offset;
	size_t ndamage;
	lc_reader_damage damage[MAX_FRAMES];
} read_result;

static log_image ref;
static char dir[64], damaged_path[256];

static uint64_t key_of(const lc_record *r)
{
	switch (r->type) {
	case LC_REC_SPAN_BEGIN:
		return r->u.span_begin.span_id;
	case LC_REC_SPAN_END:
		return r->u.span_end.span_id;
	case LC_REC_STRING:
		return r->u.string.id;
	case LC_REC_ATTR:
		return (uint64_t)r->u.attr.i;
	case LC_REC_BLOCK:
		return r->u.block.tid;
	default:
		return 0;
	}
}

/* Reads a log; fills res; returns the final reader status. */
static int read_log(const char *path, read_result *res)
{
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int rc;
	res->n = 0;
	while ((rc = lc_reader_next(r, &rec)) == 1) {
		assert_true(res->n < MAX_RECS);
		res->recs[res->n++] =
		    (fingerprint){rec.type, rec.file_offset, rec.ts_ns, key_of(&rec)};
	}
	assert_int_equal(lc_reader_next(r, &rec), rc); /* errors are sticky */
	res->err_offset = lc_reader_error_offset(r);
	if (rc < 0)
		assert_true(strlen(lc_reader_error(r)) > 0);
	res->ndamage = lc_reader_damage_count(r);
	assert_true(res->ndamage <= MAX_FRAMES);
	uint64_t bytes = 0;
	for (size_t i = 0; i < res->ndamage; i++) {
		res->damage[i] = *lc_reader_damage_at(r, i);
		assert_true(res->damage[i].end > res->damage[i].start);
		assert_true(strlen(res->damage[i].reason) > 0);
		bytes += res->damage[i].end - res->damage[i].start;
	}
	assert_int_equal(lc_reader_damage_bytes(r), bytes);
	assert_null(lc_reader_damage_at(r, res->ndamage));
	/* Damage that was skipped still ends the log with an error. */
	assert_true(res->ndamage == 0 || rc == -SP_ECORRUPT);
	lc_reader_close(r);
	return rc;
}

static void write_frames(lc_ring *ring)
{
	uint64_t span = 1;
	for (int f = 0; f < 6; f++) {
		lc_record s = {.type = LC_REC_STRING};
		char name[16];
		snprintf(name, sizeof name, "name%d", f);
		s.u.string = (lc_rec_string){
		    .id = (uint32_t)f + 1, .len = (uint32_t)strlen(name), .bytes = name};
		lc_log_meta(&s, 0);
		for (int i = 0; i < 4; i++, span++) {
			lc_rec_span_begin b = {
			    .ts = lc_clock_ticks(), .span_id = span, .name_id = (uint32_t)f + 1};
			lc_ring_span_begin(ring, &b);
			lc_rec_attr a = {.span_id = span,
			                 .key = "i",
			                 .key_len = 1,
			                 .kind = LC_ATTR_INT,
			                 .i = (int64_t)span * 1000};
			lc_ring_attr(ring, &a);
			lc_rec_span_end e = {.ts = lc_clock_ticks(), .span_id = span};
			lc_ring_span_end(ring, &e);
		}
		lc_log_flush();
	}
}

static void load_image(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	ref.bytes = malloc(1 << 20);
	ref.size = fread(ref.bytes, 1, 1 << 20, f);
	fclose(f);
	static read_result res;
	assert_int_equal(read_log(path, &res), 0);
	memcpy(ref.recs, res.recs, sizeof ref.recs);
	ref.nrecs = res.n;
	for (int i = 0; i < ref.nrecs; i++)
		if (ref.nframes == 0 || ref.frame_start[ref.nframes - 1] != ref.recs[i].offset)
			ref.frame_start[ref.nframes++] = ref.recs[i].offset;
	assert_true(ref.nframes >= 6);
}

static int setup(void **state)
{
	(void)state;
	tl_tmpdir(dir, sizeof dir, "core");
	char path[512];
	lc_ring *ring = lc_ring_create(77, 0);
	assert_non_null(ring);
	assert_int_equal(core_open_log(dir, "damage", path, sizeof path), 0);
	write_frames(ring);
	lc_ring_retire(ring);
	lc_log_close();
	load_image(path);
	snprintf(damaged_path, sizeof damaged_path, "%s/damaged.splog", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_rm_rf(dir);
	free(ref.bytes);
	return 0;
}

/* A fresh file each time: rewriting a truncated file makes ext4 flush it
 * on close (auto_da_alloc), which costs seconds over thousands of runs. */
static void write_damaged(const uint8_t *bytes, size_t size)
{
	unlink(damaged_path);
	tl_write_file(damaged_path, bytes, size);
}

/* Index of the frame holding file offset off. */
static int frame_of(uint64_t off)
{
	int k = 0;
	while (k + 1 < ref.nframes && ref.frame_start[k + 1] <= off)
		k++;
	return k;
}

static uint64_t frame_end(int k)
{
	return k + 1 < ref.nframes ? ref.frame_start[k + 1] : ref.size;
}

static int records_before_frame(int k)
{
	int n = 0;
	while (n < ref.nrecs && frame_of(ref.recs[n].offset) < k)
		n++;
	return n;
}

static void assert_same(const fingerprint *got, const fingerprint *want, int64_t shift)
{
	assert_int_equal(got->type, want->type);
	assert_int_equal(got->offset, want->offset + (uint64_t)shift);
	assert_int_equal(got->ts_ns, want->ts_ns);
	assert_int_equal(got->key, want->key);
}

static void assert_prefix(const fingerprint *got, int ngot, int nwant)
{
	assert_true(ngot >= nwant);
	for (int i = 0; i < nwant; i++)
		assert_same(&got[i], &ref.recs[i], 0);
}

/* got = the reference without frame k's records: all before, all after. */
static void assert_all_but_frame(const read_result *got, int k)
{
	int before = records_before_frame(k), after = records_before_frame(k + 1);
	assert_int_equal(got->n, ref.nrecs - (after - before));
	assert_prefix(got->recs, got->n, before);
	for (int i = before; i < got->n; i++)
		assert_same(&got->recs[i], &ref.recs[i + after - before], 0);
}

static void assert_one_range(const read_result *got, uint64_t start, uint64_t end)
{
	assert_int_equal(got->ndamage, 1);
	assert_int_equal(got->damage[0].start, start);
	assert_int_equal(got->damage[0].end, end);
	assert_int_equal(got->err_offset, start);
}

static void test_truncate_every_offset(void **state)
{
	(void)state;
	static read_result got;
	for (size_t cut = 0; cut < ref.size; cut++) {
		write_damaged(ref.bytes, cut);
		int rc = read_log(damaged_path, &got);
		int k = frame_of(cut);
		int at_boundary = ref.frame_start[k] == cut;
		if (cut == 0 || (k == 0 && !at_boundary)) {
			assert_true(rc == -SP_ENOTLOG || rc == -SP_ECORRUPT);
			assert_int_equal(got.err_offset, 0);
			assert_int_equal(got.n, 0);
			assert_int_equal(got.ndamage, 0); /* the first frame: fatal */
		} else if (at_boundary) {
			assert_int_equal(rc, 0);
			assert_int_equal(got.n, records_before_frame(k));
			assert_prefix(got.recs, got.n, got.n);
			assert_int_equal(got.ndamage, 0);
		} else {
			/* the truncated last frame: everything before it, one range */
			assert_int_equal(rc, -SP_ECORRUPT);
			assert_int_equal(got.n, records_before_frame(k));
			assert_prefix(got.recs, got.n, got.n);
			assert_one_range(&got, ref.frame_start[k], cut);
		}
	}
}

static void test_flip_random_bytes(void **state)
{
	(void)state;
	static read_result got;
	uint8_t *copy = malloc(ref.size);
	unsigned seed = 12345;
	int undetected = 0, resumed = 0, iterations = 3000;
	for (int it = 0; it < iterations; it++) {
		memcpy(copy, ref.bytes, ref.size);
		size_t pos = (size_t)rand_r(&seed) % ref.size;
		copy[pos] ^= (uint8_t)(1 + rand_r(&seed) % 255);
		write_damaged(copy, ref.size);
		int rc = read_log(damaged_path, &got);
		int k = frame_of(pos);
		if (rc == 0) {
			undetected++;
			continue;
		}
		if (k == 0) { /* PROCESS lost: nothing can be placed */
			assert_int_equal(got.err_offset, 0);
			assert_int_equal(got.n, 0);
			continue;
		}
		/* Exactly the damaged frame is lost, and the range is that frame. */
		assert_int_equal(rc, -SP_ECORRUPT);
		assert_all_but_frame(&got, k);
		assert_one_range(&got, ref.frame_start[k], frame_end(k));
		resumed += k + 1 < ref.nframes;
	}
	free(copy);
	/* Only a flip in a frame header whose 1-byte header checksum still
	 * matches (1 in 256) can go unnoticed; content has a 32-bit checksum. */
	assert_true(undetected * 50 < iterations);
	assert_true(resumed > iterations / 2); /* most flips are in a middle frame */
}

/* Random garbage (sometimes holding a frame magic) between two frames is
 * one damaged range; every record of every frame is read. */
static void test_garbage_between_frames(void **state)
{
	(void)state;
	static read_result got;
	static const uint8_t magic[4] = {0x04, 0x22, 0x4d, 0x18};
	uint8_t *copy = malloc(ref.size + 512);
	unsigned seed = 777;
	for (int it = 0; it < 500; it++) {
		int j = 1 + rand_r(&seed) % (ref.nframes - 1);
		size_t at = (size_t)ref.frame_start[j], len = 1 + (size_t)rand_r(&seed) % 500;
		memcpy(copy, ref.bytes, at);
		for (size_t i = 0; i < len; i++)
			copy[at + i] = (uint8_t)rand_r(&seed);
		if (len > 8 && it % 2) /* a false start the reader must reject */
			memcpy(copy + at + (size_t)rand_r(&seed) % (len - 4), magic, sizeof magic);
		memcpy(copy + at + len, ref.bytes + at, ref.size - at);
		write_damaged(copy, ref.size + len);
		assert_int_equal(read_log(damaged_path, &got), -SP_ECORRUPT);
		assert_one_range(&got, at, at + len);
		assert_int_equal(got.n, ref.nrecs);
		int before = records_before_frame(j);
		for (int i = 0; i < got.n; i++)
			assert_same(&got.recs[i], &ref.recs[i], i < before ? 0 : (int64_t)len);
	}
	free(copy);
}

/* Two damaged frames are two ranges; the frames between and after them are
 * read. */
static void test_two_damaged_frames(void **state)
{
	(void)state;
	static read_result got;
	assert_true(ref.nframes >= 5);
	uint8_t *copy = malloc(ref.size);
	memcpy(copy, ref.bytes, ref.size);
	int a = 1, b = 3;
	copy[(ref.frame_start[a] + frame_end(a)) / 2] ^= 0x10;
	copy[(ref.frame_start[b] + frame_end(b)) / 2] ^= 0x01;
	write_damaged(copy, ref.size);
	free(copy);
	assert_int_equal(read_log(damaged_path, &got), -SP_ECORRUPT);
	assert_int_equal(got.ndamage, 2);
	assert_int_equal(got.damage[0].start, ref.frame_start[a]);
	assert_int_equal(got.damage[0].end, frame_end(a));
	assert_int_equal(got.damage[1].start, ref.frame_start[b]);
	assert_int_equal(got.damage[1].end, frame_end(b));
	int lost = records_before_frame(a + 1) - records_before_frame(a) +
	           records_before_frame(b + 1) - records_before_frame(b);
	assert_int_equal(got.n, ref.nrecs - lost);
}

static void test_garbage_after_log(void **state)
{
	(void)state;
	static read_result got;
	uint8_t *copy = malloc(ref.size + 10);
	memcpy(copy, ref.bytes, ref.size);
	memcpy(copy + ref.size, "not a log!", 10);
	write_damaged(copy, ref.size + 10);
	free(copy);
	assert_int_equal(read_log(damaged_path, &got), -SP_ECORRUPT);
	assert_one_range(&got, ref.size, ref.size + 10);
	assert_int_equal(got.n, ref.nrecs);
}

static void test_not_a_log(void **state)
{
	(void)state;
	static read_result got;
	const char *text = "hello, this is plain text and not an LZ4 frame\n";
	write_damaged((const uint8_t *)text, strlen(text));
	assert_int_equal(read_log(damaged_path, &got), -SP_ENOTLOG);
	assert_int_equal(got.n, 0);
	lc_reader *r;
	assert_int_equal(lc_reader_open("/nonexistent/dir/x.splog", &r), -SP_EIO);
	assert_null(r);
}

/* A standard LZ4 skippable frame between two frames is skipped. */
static void test_skippable_frame_is_skipped(void **state)
{
	(void)state;
	static read_result got;
	static const uint8_t skippable[] = {0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'a', 'b', 'c'};
	size_t cut = (size_t)ref.frame_start[1];
	uint8_t *copy = malloc(ref.size + sizeof skippable);
	memcpy(copy, ref.bytes, cut);
	memcpy(copy + cut, skippable, sizeof skippable);
	memcpy(copy + cut + sizeof skippable, ref.bytes + cut, ref.size - cut);
	write_damaged(copy, ref.size + sizeof skippable);
	free(copy);
	assert_int_equal(read_log(damaged_path, &got), 0);
	assert_int_equal(got.n, ref.nrecs);
	assert_int_equal(got.ndamage, 0);
	for (int i = 0; i < got.n; i++) {
		assert_int_equal(got.recs[i].type, ref.recs[i].type);
		assert_int_equal(got.recs[i].key, ref.recs[i].key);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_truncate_every_offset),
	    cmocka_unit_test(test_flip_random_bytes),
	    cmocka_unit_test(test_garbage_between_frames),
	    cmocka_unit_test(test_two_damaged_frames),
	    cmocka_unit_test(test_garbage_after_log),
	    cmocka_unit_test(test_not_a_log),
	    cmocka_unit_test(test_skippable_frame_is_skipped),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
