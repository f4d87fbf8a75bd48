/*
 * core_lost.c - a full ring drops records and counts them, deterministically:
 * tiny rings are filled before any log is open (so nothing drains them),
 * then a log is opened and closed; the records that fit come back in order,
 * the LOST records carry the exact counts per kind, and after the drain the
 * ring accepts records again (across the wrap-around point).
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

#define PUSHES 100

static int push_ends(lc_ring *ring, uint64_t first_id, int n)
{
	int accepted = 0;
	for (int i = 0; i < n; i++) {
		lc_rec_span_end e = {.ts = lc_clock_ticks(), .span_id = first_id + (uint64_t)i};
		if (lc_ring_span_end(ring, &e) == 0)
			accepted++;
	}
	return accepted;
}

static int push_samples(lc_ring *ring, int n)
{
	static const uint64_t pcs[20] = {0x1000, 0x2000};
	int accepted = 0;
	for (int i = 0; i < n; i++) {
		lc_rec_sample s = {.ts = lc_clock_ticks(), .nframes = 20, .pcs = pcs};
		if (lc_ring_sample(ring, &s) == 0)
			accepted++;
	}
	return accepted;
}

typedef struct seen {
	uint64_t ends, next_id, lost_events, lost_samples, lost_unwind, samples;
} seen;

static void read_back(const char *path, seen *s)
{
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int rc;
	while ((rc = lc_reader_next(r, &rec)) == 1) {
		if (rec.type == LC_REC_SPAN_END) {
			assert_int_equal(rec.u.span_end.span_id, s->next_id);
			s->next_id++;
			s->ends++;
		} else if (rec.type == LC_REC_SAMPLE) {
			s->samples++;
		} else if (rec.type == LC_REC_LOST && rec.u.lost.kind == LC_LOST_EVENTS) {
			s->lost_events = rec.u.lost.count; /* cumulative: keep the latest */
		} else if (rec.type == LC_REC_LOST && rec.u.lost.kind == LC_LOST_SAMPLES) {
			s->lost_samples = rec.u.lost.count;
		} else if (rec.type == LC_REC_LOST) {
			s->lost_unwind = rec.u.lost.count;
		}
	}
	assert_int_equal(rc, 0);
	lc_reader_close(r);
}

static void test_full_ring_counts_losses(void **state)
{
	(void)state;
	lc_ring *events = lc_ring_create(501, 1); /* rounded up to the 1 KiB minimum */
	lc_ring *samples = lc_ring_create(501, 1024);
	assert_non_null(events);
	assert_non_null(samples);
	/* 1 KiB = 128 words; a SPAN_END takes 3: 42 fit. A 20-frame sample takes
	 * 23 words: 5 fit. */
	assert_int_equal(push_ends(events, 1, PUSHES), 42);
	assert_int_equal(push_samples(samples, 10), 5);
	lc_ring_count_lost(samples, LC_LOST_UNWIND);
	lc_ring_count_lost(samples, LC_LOST_UNWIND);
	lc_ring_count_lost(samples, LC_LOST_UNWIND);

	char dir[64];
	tl_tmpdir(dir, sizeof dir, "core");
	char path[512];
	assert_int_equal(core_open_log(dir, "lost", path, sizeof path), 0);
	lc_log_flush();
	/* Drained: the ring takes records again, wrapping around its end. */
	assert_int_equal(push_ends(events, 43, 42), 42);
	lc_ring_retire(events);
	lc_ring_retire(samples);
	lc_log_close();

	seen s = {.next_id = 1};
	read_back(path, &s);
	assert_int_equal(s.ends, 84);
	assert_int_equal(s.lost_events, PUSHES - 42);
	assert_int_equal(s.samples, 5);
	assert_int_equal(s.lost_samples, 5);
	assert_int_equal(s.lost_unwind, 3);
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_ring_counts_losses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
