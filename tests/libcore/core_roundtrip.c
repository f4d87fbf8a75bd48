/*
 * core_roundtrip.c - every record type goes through the ring, the writer,
 * the file and the reader, and comes back equal; caps truncate instead of
 * overflowing; records of unknown type are skipped; LOST counts arrive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <lz4frame.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"
#include "core_util.h"
#include "spanprof.h"
#include "tl.h"

static const uint8_t build_id[20] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                     11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
static uint64_t pcs[200];

static void put_meta(void)
{
	lc_record s = {.type = LC_REC_STRING};
	s.u.string = (lc_rec_string){.id = 7, .len = 5, .bytes = "parse"};
	assert_int_equal(lc_log_meta(&s, 1), 0);
	lc_record t = {.type = LC_REC_THREAD};
	t.u.thread = (lc_rec_thread){.ts = lc_clock_ticks(), .tid = 1234, .name = "worker"};
	assert_int_equal(lc_log_meta(&t, 1), 0);
	lc_record m = {.type = LC_REC_MODULE};
	m.u.module = (lc_rec_module){.start = 0x400000,
	                             .end = 0x401000,
	                             .file_offset = 0x1000,
	                             .path = "/usr/bin/x",
	                             .path_len = 10,
	                             .build_id = build_id,
	                             .build_id_len = 20,
	                             .ts = lc_clock_ticks()};
	assert_int_equal(lc_log_meta(&m, 1), 0);
	lc_record sm = {.type = LC_REC_SAMPLER};
	sm.u.sampler = (lc_rec_sampler){.mechanism = 1,
	                                .mode = 2,
	                                .signo = 34,
	                                .requested_hz = 999,
	                                .achieved_hz = 973,
	                                .flags = LC_SAMPLER_F_SIGNAL_SHARED};
	assert_int_equal(lc_log_meta(&sm, 0), 0);
	lc_record bad = {.type = LC_REC_SPAN_BEGIN};
	assert_int_equal(lc_log_meta(&bad, 0), -SP_EINVAL);
}

static char long_name[LC_MAX_STRING_BYTES + 100];
static char long_str[LC_MAX_ATTR_STR_BYTES + 50];

static void put_ring(lc_ring *ring, uint64_t t0)
{
	lc_rec_span_begin b = {.ts = t0,
	                       .span_id = 100,
	                       .parent_id = 0,
	                       .trace_hi = 0xabc,
	                       .trace_lo = 0xdef,
	                       .name_id = 7};
	assert_int_equal(lc_ring_span_begin(ring, &b), 0);
	lc_rec_span_begin b2 = {.ts = t0 + 10,
	                        .span_id = 101,
	                        .parent_id = 100,
	                        .trace_hi = 0xabc,
	                        .trace_lo = 0xdef,
	                        .name = long_name,
	                        .name_len = sizeof long_name - 1,
	                        .flags = LC_SPAN_REMOTE_PARENT};
	assert_int_equal(lc_ring_span_begin(ring, &b2), 0);
	lc_rec_attr ai = {.span_id = 101, .key_id = 7, .kind = LC_ATTR_INT, .i = -123456789012};
	assert_int_equal(lc_ring_attr(ring, &ai), 0);
	lc_rec_attr ad = {
	    .span_id = 101, .key = "ratio", .key_len = 5, .kind = LC_ATTR_DOUBLE, .d = 0.125};
	assert_int_equal(lc_ring_attr(ring, &ad), 0);
	lc_rec_attr as = {.span_id = 101,
	                  .key = "q",
	                  .key_len = 1,
	                  .kind = LC_ATTR_STR,
	                  .s = long_str,
	                  .s_len = sizeof long_str - 1};
	assert_int_equal(lc_ring_attr(ring, &as), 0);
	lc_rec_sample s = {.ts = t0 + 15, .weight_us = 1001, .nframes = 200, .pcs = pcs};
	assert_int_equal(lc_ring_sample(ring, &s), 0);
	lc_rec_span_end e2 = {.ts = t0 + 20, .span_id = 101, .flags = LC_SPAN_NOT_INNERMOST};
	assert_int_equal(lc_ring_span_end(ring, &e2), 0);
	lc_rec_span_end e = {.ts = t0 + 5, .span_id = 100}; /* time going back is legal */
	assert_int_equal(lc_ring_span_end(ring, &e), 0);
	lc_ring_count_lost(ring, LC_LOST_UNWIND);
	lc_ring_count_lost(ring, LC_LOST_UNWIND);
}

static void check_span_records(const lc_record *recs, int n, uint64_t t0)
{
	int seen = 0;
	for (int i = 0; i < n; i++) {
		const lc_record *r = &recs[i];
		if (r->type == LC_REC_SPAN_BEGIN && r->u.span_begin.span_id == 100) {
			assert_int_equal(r->u.span_begin.ts, t0);
			assert_int_equal(r->u.span_begin.tid, 1234);
			assert_int_equal(r->u.span_begin.name_id, 7);
			assert_int_equal(r->u.span_begin.trace_lo, 0xdef);
			seen |= 1;
		} else if (r->type == LC_REC_SPAN_BEGIN) {
			assert_int_equal(r->u.span_begin.parent_id, 100);
			assert_int_equal(r->u.span_begin.name_len, LC_MAX_STRING_BYTES);
			assert_int_equal(r->u.span_begin.flags, LC_SPAN_REMOTE_PARENT);
			assert_int_equal(r->u.span_begin.trace_hi, 0xabc);
			seen |= 2;
		} else if (r->type == LC_REC_SPAN_END && r->u.span_end.span_id == 101) {
			assert_int_equal(r->u.span_end.flags, LC_SPAN_NOT_INNERMOST);
			assert_int_equal(r->u.span_end.ts, t0 + 20);
			seen |= 4;
		} else if (r->type == LC_REC_SPAN_END) {
			assert_int_equal(r->u.span_end.ts, t0 + 5);
			seen |= 8;
		}
	}
	assert_int_equal(seen, 15);
}

static void check_other_records(const lc_record *recs, int n)
{
	int seen = 0;
	for (int i = 0; i < n; i++) {
		const lc_record *r = &recs[i];
		if (r->type == LC_REC_ATTR && r->u.attr.kind == LC_ATTR_INT) {
			assert_int_equal(r->u.attr.i, -123456789012);
			seen |= 1;
		} else if (r->type == LC_REC_ATTR && r->u.attr.kind == LC_ATTR_DOUBLE) {
			assert_true(r->u.attr.d == 0.125);
			seen |= 2;
		} else if (r->type == LC_REC_ATTR) {
			assert_int_equal(r->u.attr.s_len, LC_MAX_ATTR_STR_BYTES);
			assert_true(r->u.attr.flags & LC_ATTR_TRUNCATED);
			seen |= 4;
		} else if (r->type == LC_REC_SAMPLE) {
			assert_int_equal(r->u.sample.nframes, LC_MAX_STACK_FRAMES);
			assert_int_equal(r->u.sample.weight_us, 1001);
			seen |= 8;
		} else if (r->type == LC_REC_LOST) {
			assert_int_equal(r->u.lost.kind, LC_LOST_UNWIND);
			assert_int_equal(r->u.lost.count, 2);
			seen |= 16;
		} else if (r->type == LC_REC_MODULE) {
			assert_int_equal(r->u.module.end, 0x401000);
			assert_int_equal(r->u.module.build_id_len, 20);
			seen |= 32;
		} else if (r->type == LC_REC_SAMPLER) {
			assert_int_equal(r->u.sampler.achieved_hz, 973);
			assert_int_equal(r->u.sampler.flags, LC_SAMPLER_F_SIGNAL_SHARED);
			seen |= 64;
		} else if (r->type == LC_REC_THREAD) {
			seen |= 128;
		}
	}
	assert_int_equal(seen, 255);
}

/* Records are copied (their pointers die with the next call); strings are
 * checked in place. */
static int read_all(const char *path, lc_record *out, int max)
{
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int n = 0, rc;
	while ((rc = lc_reader_next(r, &rec)) == 1) {
		assert_true(n < max);
		if (rec.type == LC_REC_SPAN_BEGIN && rec.u.span_begin.name_id == 0)
			assert_memory_equal(rec.u.span_begin.name, long_name, LC_MAX_STRING_BYTES);
		if (rec.type == LC_REC_ATTR && rec.u.attr.kind == LC_ATTR_STR)
			assert_memory_equal(rec.u.attr.s, long_str, LC_MAX_ATTR_STR_BYTES);
		if (rec.type == LC_REC_ATTR && rec.u.attr.key_id == 0)
			assert_true(!strcmp(rec.u.attr.key, "ratio") ||
			            !strcmp(rec.u.attr.key, "q"));
		if (rec.type == LC_REC_SAMPLE)
			assert_memory_equal(rec.u.sample.pcs, pcs, LC_MAX_STACK_FRAMES * 8);
		if (rec.type == LC_REC_MODULE)
			assert_memory_equal(rec.u.module.build_id, build_id, 20);
		out[n++] = rec;
	}
	assert_int_equal(rc, 0);
	assert_string_equal(lc_reader_string(r, 7), "parse");
	assert_null(lc_reader_string(r, 8));
	const lc_rec_process *p = lc_reader_process(r);
	assert_non_null(p);
	assert_int_equal(p->pid, (uint32_t)getpid());
	assert_int_equal(p->format_version, LC_LOG_FORMAT_VERSION);
	lc_reader_close(r);
	return n;
}

static void test_roundtrip_all_types(void **state)
{
	(void)state;
	memset(long_name, 'n', sizeof long_name - 1);
	memset(long_str, 's', sizeof long_str - 1);
	for (int i = 0; i < 200; i++)
		pcs[i] = 0x7f0000001000u + (uint64_t)(i * 37 % 11) * 0x100 - (uint64_t)i;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "core");
	char path[512];
	lc_ring *ring = lc_ring_create(1234, 0);
	assert_non_null(ring);
	assert_int_equal(core_open_log(dir, "roundtrip", path, sizeof path), 0);
	assert_int_equal(core_open_log(dir, "roundtrip", path, sizeof path), -SP_ESTATE);
	put_meta();
	uint64_t t0 = lc_clock_ticks();
	put_ring(ring, t0);
	lc_ring_retire(ring);
	lc_log_close();
	static lc_record recs[64];
	int n = read_all(path, recs, 64);
	assert_int_equal(recs[0].type, LC_REC_PROCESS);
	check_span_records(recs, n, t0);
	check_other_records(recs, n);
	tl_rm_rf(dir);
}

/* A record type this reader does not know is skipped, and trailing payload
 * bytes of a known type are ignored (appended fields of a newer writer). */
static void test_codec_skips_unknown_and_trailing(void **state)
{
	(void)state;
	static uint8_t buf[256];
	lc_codec_state enc, dec;
	lc_codec_reset(&enc);
	lc_codec_reset(&dec);
	lc_record blk = {.type = LC_REC_BLOCK, .u.block.tid = 9};
	size_t len = (size_t)lc_codec_encode(&enc, &blk, buf);
	buf[len++] = 200; /* unknown type, 3-byte payload */
	buf[len++] = 3;
	len += 3;
	lc_record e = {.type = LC_REC_SPAN_END};
	e.u.span_end = (lc_rec_span_end){.ts = 77, .span_id = 5, .flags = 1};
	int n = lc_codec_encode(&enc, &e, buf + len);
	assert_true(n > 0);
	buf[len + 1] += 2; /* two extra payload bytes */
	len += (size_t)n;
	buf[len++] = 0xee;
	buf[len++] = 0xff;
	static lc_codec_scratch scratch;
	lc_record out;
	const char *why = NULL;
	size_t pos = 0;
	assert_int_equal(lc_codec_decode(&dec, buf, len, &pos, &out, &scratch, &why), 1);
	assert_int_equal(lc_codec_decode(&dec, buf, len, &pos, &out, &scratch, &why), 0);
	assert_int_equal(out.type, 200);
	assert_int_equal(lc_codec_decode(&dec, buf, len, &pos, &out, &scratch, &why), 1);
	assert_int_equal(out.u.span_end.ts, 77);
	assert_int_equal(out.u.span_end.tid, 9);
	assert_int_equal(out.u.span_end.flags, 1);
	assert_int_equal(pos, len);
}

/* Writes a one-frame log whose PROCESS record asks for a newer reader. */
static void write_future_log(const char *path)
{
	static uint8_t content[LC_CODEC_MAX_ENCODED];
	lc_codec_state st;
	lc_codec_reset(&st);
	lc_record p = {.type = LC_REC_PROCESS};
	p.u.process = (lc_rec_process){.format_version = 9,
	                               .min_reader_version = 9,
	                               .pid = 1,
	                               .clock_kind = LC_CLOCK_MONOTONIC,
	                               .clock = {.ns_per_tick = 1.0}};
	int n = lc_codec_encode(&st, &p, content);
	assert_true(n > 0);
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.contentSize = (unsigned long long)n;
	static uint8_t frame[LC_CODEC_MAX_ENCODED + 1024];
	size_t len = LZ4F_compressFrame(frame, sizeof frame, content, (size_t)n, &prefs);
	assert_false(LZ4F_isError(len));
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(frame, 1, len, f), len);
	fclose(f);
}

static void test_refuses_newer_min_reader_version(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "core");
	char path[512];
	snprintf(path, sizeof path, "%s/future.splog", dir);
	write_future_log(path);
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	assert_int_equal(lc_reader_next(r, &rec), -SP_EVERSION);
	assert_non_null(strstr(lc_reader_error(r), "needs reader version 9"));
	lc_reader_close(r);
	tl_rm_rf(dir);
}

/* SIGKILL, SIGSTOP and glibc's two internal signals cannot be blocked. */
static int all_signals_blocked(unsigned long long mask)
{
	unsigned long long unblockable =
	    1ull << (SIGKILL - 1) | 1ull << (SIGSTOP - 1) | 1ull << 31 | 1ull << 32;
	return (mask | unblockable) == ~0ull;
}

/* The writer thread blocks every signal, so neither the program's signals
 * nor the sampler's can land on it. */
static void test_writer_thread_blocks_signals(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "core");
	char path[512], line[256], file[300];
	assert_int_equal(core_open_log(dir, "sigmask", path, sizeof path), 0);
	DIR *tasks = opendir("/proc/self/task");
	assert_non_null(tasks);
	int found = 0;
	for (struct dirent *d; (d = readdir(tasks));) {
		snprintf(file, sizeof file, "/proc/self/task/%s/comm", d->d_name);
		FILE *f = fopen(file, "r");
		if (!f)
			continue;
		int is_writer = fgets(line, sizeof line, f) && !strcmp(line, "spanprof-writer\n");
		fclose(f);
		if (!is_writer)
			continue;
		snprintf(file, sizeof file, "/proc/self/task/%s/status", d->d_name);
		f = fopen(file, "r");
		assert_non_null(f);
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "SigBlk:", 7))
				found = all_signals_blocked(strtoull(line + 7, NULL, 16));
		fclose(f);
	}
	closedir(tasks);
	lc_log_close();
	assert_true(found);
	tl_rm_rf(dir);
}

/* The log is created private (0600) in a private directory (0700, created
 * with its parents), never over an existing file or through a symlink. */
static void test_log_file_created_safely(void **state)
{
	(void)state;
	char tmp[64];
	tl_tmpdir(tmp, sizeof tmp, "core");
	char dir[256], path[512], target[300];
	snprintf(dir, sizeof dir, "%s/a/b", tmp);
	assert_int_equal(core_open_log(dir, "safe", path, sizeof path), 0);
	lc_log_close();
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* Same pid, same name: the existing file is not overwritten. */
	assert_int_equal(core_open_log(dir, "safe", path, sizeof path), -SP_EEXISTS);
	assert_int_equal(lc_log_is_open(), 0);
	unlink(path);
	snprintf(target, sizeof target, "%s/target", tmp);
	assert_int_equal(symlink(target, path), 0);
	assert_true(core_open_log(dir, "safe", path, sizeof path) < 0);
	assert_int_equal(access(target, F_OK), -1);
	tl_rm_rf(tmp);
}

/* Child of the disk-full test: a 4 KiB file size limit makes writes fail
 * (EFBIG) part-way; returns the number of frames flushed. */
static int disk_full_child(const char *dir)
{
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit lim = {4096, 4096};
	if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
		return 100;
	char path[512];
	lc_ring *ring = lc_ring_create(1, 0);
	if (!ring || core_open_log(dir, "full", path, sizeof path) != 0)
		return 101;
	for (uint64_t f = 0; f < 40; f++) {
		for (uint64_t i = 0; i < 50; i++) {
			lc_rec_span_begin b = {.ts = lc_clock_ticks(),
			                       .span_id = f * 100 + i + 1,
			                       .name = "xyz",
			                       .name_len = 3,
			                       .trace_hi = f * 7919 + i * 104729};
			lc_ring_span_begin(ring, &b);
		}
		lc_log_flush();
	}
	lc_log_close();
	return 0;
}

/* Disk full: frames that do not fit are cut off whole, so what is on disk
 * is still a clean, readable log. */
static void test_disk_full_keeps_log_readable(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "core");
	pid_t pid = fork();
	if (pid == 0)
		_exit(disk_full_child(dir));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	char path[512];
	snprintf(path, sizeof path, "%s/full.%d.splog", dir, (int)pid);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 0 && st.st_size <= 4096);
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int rc, spans = 0;
	while ((rc = lc_reader_next(r, &rec)) == 1)
		spans += rec.type == LC_REC_SPAN_BEGIN;
	assert_int_equal(rc, 0);
	assert_true(spans > 0 && spans < 2000);
	lc_reader_close(r);
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_all_types),
	    cmocka_unit_test(test_codec_skips_unknown_and_trailing),
	    cmocka_unit_test(test_refuses_newer_min_reader_version),
	    cmocka_unit_test(test_writer_thread_blocks_signals),
	    cmocka_unit_test(test_log_file_created_safely),
	    cmocka_unit_test(test_disk_full_keeps_log_readable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
