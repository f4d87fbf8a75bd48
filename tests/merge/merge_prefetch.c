/*
 * merge_prefetch.c - merge's read-ahead thread (merge/load/mg_prefetch.c)
 * gives exactly the records lc_reader_next gives: same order, types,
 * offsets, times and field values, strings and stacks byte for byte,
 * interned names and keys resolved (unknown ids left unresolved), and the
 * same end: 0 for a whole log, the reader's error after the same records
 * for a truncated one, repeated on later calls. Stopping it early neither
 * hangs nor leaks (the ASan build checks the leak).
 *
 * The log's records carry more data than a batch's arena holds (attribute
 * values, stacks of up to LC_MAX_STACK_FRAMES, an interned name of the
 * longest length a log allows), so batches end before their record limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log_reader.h"
#include "mg_prefetch.h"
#include "mtest.h"
#include "ring.h"
#include "synth.h"

#define N_SPANS    6000
#define LONG_NAME  LC_MAX_STRING_BYTES
#define UNKNOWN_ID 99u
#define TID        11u

static char g_dir[512], g_log[1024];

static void emit_string(uint32_t id, const char *s, uint32_t len)
{
	lc_record rec = {.type = LC_REC_STRING};
	rec.u.string = (lc_rec_string){.id = id, .len = len, .bytes = s};
	assert_int_equal(lc_log_meta(&rec, 0), 0);
}

static void write_log(void)
{
	static char long_name[LONG_NAME + 1];
	static char value[4001];
	uint64_t pcs[LC_MAX_STACK_FRAMES];
	synth s;
	memset(long_name, 'n', LONG_NAME);
	for (size_t i = 0; i < sizeof value - 1; i++)
		value[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < LC_MAX_STACK_FRAMES; i++)
		pcs[i] = 0x400000u + i * 16u;
	assert_int_equal(synth_open(&s, g_dir, "pf", 0, 0), 0);
	snprintf(g_log, sizeof g_log, "%s", lc_log_path());
	static const uint8_t build_id[20] = {1, 2, 3, 4, 5};
	synth_module(&s, "/usr/lib/libexample.so", 0x7000000, 0x7100000, 0, build_id, 20);
	lc_ring *ring = synth_thread(&s, TID, "worker");
	emit_string(1, "interned_name", 13);
	emit_string(2, "interned_key", 12);
	emit_string(3, long_name, LONG_NAME);
	lc_log_flush(); /* the strings come before their first use */
	for (uint64_t i = 1; i <= N_SPANS; i++) {
		uint32_t name_id = i % 1000 == 0 ? 3 : i % 997 == 0 ? UNKNOWN_ID : i % 2 ? 1 : 0;
		lc_rec_span_begin b = {.ts = synth_ts(&s, i * 1000),
		                       .tid = TID,
		                       .span_id = i,
		                       .trace_hi = i,
		                       .trace_lo = ~i,
		                       .name_id = name_id,
		                       .name = name_id ? NULL : "inline_name",
		                       .name_len = name_id ? 0 : 11};
		while (lc_ring_span_begin(ring, &b))
			lc_log_flush(); /* ring full: let the writer drain it */
		uint32_t len = (uint32_t)(i * 37 % 4000);
		lc_rec_attr a = {.tid = TID,
		                 .span_id = i,
		                 .key_id = i % 3 ? 2 : 0,
		                 .key = i % 3 ? NULL : "inline_key",
		                 .key_len = i % 3 ? 0 : 10,
		                 .kind = i % 5 ? LC_ATTR_STR : LC_ATTR_INT,
		                 .i = (int64_t)i,
		                 .s = i % 5 ? value : NULL,
		                 .s_len = i % 5 ? len : 0};
		while (lc_ring_attr(ring, &a))
			lc_log_flush();
		lc_rec_sample smp = {.ts = synth_ts(&s, i * 1000 + 500),
		                     .tid = TID,
		                     .nframes = (uint32_t)(i % LC_MAX_STACK_FRAMES) + 1,
		                     .pcs = pcs};
		while (lc_ring_sample(ring, &smp))
			lc_log_flush();
		lc_rec_span_end e = {.ts = synth_ts(&s, i * 1000 + 900), .tid = TID, .span_id = i};
		while (lc_ring_span_end(ring, &e))
			lc_log_flush();
	}
	synth_close(&s);
}

static int setup(void **state)
{
	tl_tmpdir(g_dir, sizeof g_dir, "prefetch");
	*state = g_dir;
	write_log();
	return 0;
}

static void assert_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	assert_int_equal(alen, blen);
	if (alen)
		assert_memory_equal(a, b, alen);
}

static void assert_cstr(const char *a, const char *b)
{
	assert_true((a == NULL) == (b == NULL));
	if (a)
		assert_string_equal(a, b);
}

/* want comes from the plain reader r (its ids resolved here), got from the
 * prefetcher. */
static void assert_same(const lc_reader *r, const lc_record *want, const lc_record *got)
{
	assert_int_equal(got->type, want->type);
	assert_int_equal(got->file_offset, want->file_offset);
	assert_int_equal(got->ts_ns, want->ts_ns);
	switch (want->type) {
	case LC_REC_PROCESS:
		assert_int_equal(got->u.process.pid, want->u.process.pid);
		assert_cstr(got->u.process.host, want->u.process.host);
		assert_cstr(got->u.process.exe, want->u.process.exe);
		assert_cstr(got->u.process.cmdline, want->u.process.cmdline);
		assert_cstr(got->u.process.traceparent, want->u.process.traceparent);
		break;
	case LC_REC_STRING:
		assert_int_equal(got->u.string.id, want->u.string.id);
		assert_bytes(got->u.string.bytes, got->u.string.len, want->u.string.bytes,
		             want->u.string.len);
		break;
	case LC_REC_THREAD:
		assert_int_equal(got->u.thread.tid, want->u.thread.tid);
		assert_cstr(got->u.thread.name, want->u.thread.name);
		break;
	case LC_REC_SPAN_BEGIN: {
		const lc_rec_span_begin *w = &want->u.span_begin, *g = &got->u.span_begin;
		assert_int_equal(g->span_id, w->span_id);
		assert_int_equal(g->trace_lo, w->trace_lo);
		const char *known = w->name_id ? lc_reader_string(r, w->name_id) : NULL;
		if (known) {
			assert_int_equal(g->name_id, 0);
			assert_bytes(g->name, g->name_len, known, strlen(known));
		} else if (w->name_id) {
			assert_int_equal(g->name_id, w->name_id);
			assert_null(g->name);
		} else {
			assert_bytes(g->name, g->name_len, w->name, w->name_len);
		}
		break;
	}
	case LC_REC_SPAN_END:
		assert_int_equal(got->u.span_end.span_id, want->u.span_end.span_id);
		break;
	case LC_REC_ATTR: {
		const lc_rec_attr *w = &want->u.attr, *g = &got->u.attr;
		const char *key = w->key_id ? lc_reader_string(r, w->key_id) : w->key;
		size_t key_len = w->key_id ? (key ? strlen(key) : 0) : w->key_len;
		assert_int_equal(g->key_id, 0);
		assert_bytes(g->key, g->key_len, key, key_len);
		assert_int_equal(g->kind, w->kind);
		assert_int_equal(g->i, w->i);
		assert_bytes(g->s, g->s_len, w->s, w->s_len);
		break;
	}
	case LC_REC_SAMPLE:
		assert_bytes(got->u.sample.pcs, got->u.sample.nframes * sizeof(uint64_t),
		             want->u.sample.pcs, want->u.sample.nframes * sizeof(uint64_t));
		break;
	case LC_REC_MODULE:
		assert_bytes(got->u.module.path, got->u.module.path_len, want->u.module.path,
		             want->u.module.path_len);
		assert_bytes(got->u.module.build_id, got->u.module.build_id_len,
		             want->u.module.build_id, want->u.module.build_id_len);
		assert_int_equal(got->u.module.start, want->u.module.start);
		break;
	default:
		assert_memory_equal(&got->u, &want->u, sizeof got->u);
	}
}

/* Reads path both ways; returns the end code both gave, counts records and
 * the special ones seen. */
static int compare(const char *path, uint64_t *records, uint64_t *unknown, uint64_t *long_names)
{
	lc_reader *a = NULL, *b = NULL;
	assert_int_equal(lc_reader_open(path, &a), 0);
	assert_int_equal(lc_reader_open(path, &b), 0);
	mg_prefetch *p = mg_prefetch_start(b);
	assert_non_null(p);
	lc_record want, got;
	int ra, rb;
	*records = *unknown = *long_names = 0;
	while ((ra = lc_reader_next(a, &want)) == 1) {
		rb = mg_prefetch_next(p, &got);
		assert_int_equal(rb, 1);
		assert_same(a, &want, &got);
		(*records)++;
		if (got.type == LC_REC_SPAN_BEGIN && got.u.span_begin.name_id == UNKNOWN_ID)
			(*unknown)++;
		if (got.type == LC_REC_SPAN_BEGIN && got.u.span_begin.name_len == LONG_NAME)
			(*long_names)++;
	}
	rb = mg_prefetch_next(p, &got);
	assert_int_equal(rb, ra);
	assert_int_equal(mg_prefetch_next(p, &got), ra); /* and again */
	assert_int_equal(mg_prefetch_bytes_read(p), lc_reader_bytes_read(a));
	mg_prefetch_stop(p);
	assert_int_equal(lc_reader_records(b), lc_reader_records(a));
	lc_reader_close(a);
	lc_reader_close(b);
	return ra;
}

static void test_whole_log_same_records(void **state)
{
	(void)state;
	uint64_t n, unknown, long_names;
	assert_int_equal(compare(g_log, &n, &unknown, &long_names), 0);
	/* 4 records per span plus strings, module, thread, process... */
	assert_true(n > 4 * N_SPANS);
	assert_true(unknown > 0);
	assert_true(long_names > 0);
}

static void test_truncated_log_same_records_then_error(void **state)
{
	(void)state;
	size_t len = 0;
	char *bytes = tl_read_file(g_log, &len);
	assert_non_null(bytes);
	char cut[1100];
	snprintf(cut, sizeof cut, "%s/cut.splog", g_dir);
	tl_write_file(cut, bytes, len * 6 / 10);
	free(bytes);
	uint64_t n, whole, unknown, long_names;
	int rc = compare(cut, &n, &unknown, &long_names);
	assert_true(rc < 0);
	assert_int_equal(compare(g_log, &whole, &unknown, &long_names), 0);
	assert_true(n > 0 && n < whole);
}

static void test_stop_early(void **state)
{
	(void)state;
	lc_reader *r = NULL;
	assert_int_equal(lc_reader_open(g_log, &r), 0);
	mg_prefetch *p = mg_prefetch_start(r);
	assert_non_null(p);
	lc_record rec;
	for (int i = 0; i < 10; i++)
		assert_int_equal(mg_prefetch_next(p, &rec), 1);
	mg_prefetch_stop(p); /* the thread is mid-log, possibly waiting for room */
	/* The reader is the caller's again and goes on where the thread was. */
	int rc;
	while ((rc = lc_reader_next(r, &rec)) == 1)
		;
	assert_int_equal(rc, 0);
	lc_reader_close(r);
	mg_prefetch_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole_log_same_records),
	    cmocka_unit_test(test_truncated_log_same_records_then_error),
	    cmocka_unit_test(test_stop_early),
	};
	return cmocka_run_group_tests(tests, setup, tl_teardown_rm_rf);
}
