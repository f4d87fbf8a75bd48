/*
 * merge_common_test.c - the shared helpers of merge/common that the
 * command tests reach only indirectly: the array-growth helper (mg_grow).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <spanprof.h>

#include "mg_grow.h"

/* Growing one element at a time keeps every element written so far, and
 * the capacity is always enough and a power-of-two multiple of the first. */
static void test_grow_keeps_contents(void **state)
{
	(void)state;
	uint32_t *a = NULL;
	size_t cap = 0;
	for (uint32_t i = 0; i < 1000; i++) {
		assert_int_equal(MG_GROW_ONE(a, cap, i), 0);
		assert_true(cap > i);
		a[i] = i * 7u;
	}
	assert_int_equal(cap, 1024);
	for (uint32_t i = 0; i < 1000; i++)
		assert_int_equal(a[i], i * 7u);
	/* Enough room already: nothing moves. */
	uint32_t *before = a;
	assert_int_equal(mg_grow(&a, &cap, 1024, sizeof *a), 0);
	assert_ptr_equal(a, before);
	assert_int_equal(cap, 1024);
	free(a);
}

/* A need whose size in bytes overflows size_t is refused without touching
 * the array; so is a capacity that doubling would overflow. */
static void test_grow_refuses_overflow(void **state)
{
	(void)state;
	uint64_t *a = malloc(4 * sizeof *a);
	assert_non_null(a);
	a[3] = 42;
	size_t cap = 4;
	assert_int_equal(mg_grow(&a, &cap, SIZE_MAX / 4, sizeof *a), -SP_ENOMEM);
	assert_int_equal(cap, 4);
	assert_int_equal(a[3], 42);
	assert_int_equal(mg_grow_cap(4, SIZE_MAX / 8 + 1, 8), 0);
	assert_int_equal(mg_grow_cap(0, 5, 8), 16);
	assert_int_equal(mg_grow_cap(16, 17, 8), 32);
	assert_int_equal(mg_grow_cap(32, 17, 8), 32);
	assert_null(mg_realloc_n(NULL, SIZE_MAX / 2, 3));
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grow_keeps_contents),
	    cmocka_unit_test(test_grow_refuses_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
