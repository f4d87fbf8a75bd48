/*
 * core_nomalloc.c - the producer side is safe to call from a signal handler:
 * pushing every kind of record, through the half-full wake-up and the
 * ring-full path, allocates nothing (malloc and friends are replaced here
 * and count calls) and leaves errno as it was. A ring's size is the
 * caller's, rounded up to a power of two, or the default for 0: the ring
 * never reads the environment (the runtime parses SPANPROF_BUFFER_KB).
 */
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <unistd.h>

#include "clock.h"
#include "core_util.h"
#include "spanprof.h"

static volatile int counting; /* volatile: GCC assumes malloc touches no globals */
static volatile int allocations;

/* Under AddressSanitizer malloc belongs to ASan, so the allocation count is
 * checked in the normal build only (errno is checked in both). */
#ifndef __SANITIZE_ADDRESS__
#define CORE_COUNT_ALLOCATIONS 1
/* glibc's own entry points, so the replacements can forward. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

void *malloc(size_t n)
{
	allocations += counting;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	allocations += counting;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	allocations += counting;
	return __libc_realloc(p, n);
}
#endif

static void push_everything(lc_ring *ring, int rounds)
{
	static const uint64_t pcs[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	for (int i = 0; i < rounds; i++) {
		lc_rec_span_begin b = {.ts = lc_clock_ticks(),
		                       .span_id = (uint64_t)i + 1,
		                       .trace_hi = (uint64_t)i,
		                       .name = "dynamic",
		                       .name_len = 7};
		lc_ring_span_begin(ring, &b);
		lc_rec_attr a = {.span_id = (uint64_t)i + 1,
		                 .key = "k",
		                 .key_len = 1,
		                 .kind = LC_ATTR_STR,
		                 .s = "value",
		                 .s_len = 5};
		lc_ring_attr(ring, &a);
		lc_rec_sample s = {.ts = lc_clock_ticks(), .nframes = 8, .pcs = pcs};
		lc_ring_sample(ring, &s);
		lc_rec_span_end e = {.ts = lc_clock_ticks(), .span_id = (uint64_t)i + 1};
		lc_ring_span_end(ring, &e);
		lc_ring_count_lost(ring, LC_LOST_UNWIND);
	}
}

static void test_producer_never_allocates(void **state)
{
	(void)state;
	lc_clock_init();
	lc_ring *ring = lc_ring_create(1, 4096);
	assert_non_null(ring);
	counting = 1;
	errno = 4242;
	push_everything(ring, 1000); /* crosses half full, then fills and drops */
	int saved = errno;
	counting = 0;
	assert_int_equal(allocations, 0);
	assert_int_equal(saved, 4242);
#ifdef CORE_COUNT_ALLOCATIONS
	counting = 1;                      /* the counter itself works */
	void *volatile probe = malloc(16); /* volatile: not elided */
	free(probe);
	counting = 0;
	assert_int_equal(allocations, 1);
#endif
	assert_true(atomic_load(&ring->lost[LC_LOST_EVENTS]) > 0);
	lc_ring_retire(ring);
}

static void test_buffer_size(void **state)
{
	(void)state;
	setenv("SPANPROF_BUFFER_KB", "8", 1); /* not the ring's business */
	lc_ring *ring = lc_ring_create(2, 0);
	assert_int_equal(ring->cap_words * 8, LC_RING_DEFAULT_BYTES);
	lc_ring_retire(ring);
	unsetenv("SPANPROF_BUFFER_KB");
	ring = lc_ring_create(3, 8 * 1024);
	assert_int_equal(ring->cap_words * 8, 8 * 1024);
	lc_ring_retire(ring);
	ring = lc_ring_create(4, 3000); /* rounded up to a power of two */
	assert_int_equal(ring->cap_words * 8, 4096);
	lc_ring_retire(ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_producer_never_allocates),
	    cmocka_unit_test(test_buffer_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
