/*
 * merge_common.c - the shared helpers of merge/common that the
 * command tests reach only indirectly: the array-growth helper (mg_grow)
 * and the string table (mg_strtab).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <spanprof.h>

#include "mg_grow.h"
#include "mg_strtab.h"

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

/* Strings get dense indices in first-seen order, one copy each; a string
 * that is not in the table is not found. */
static void test_strtab_interns(void **state)
{
	(void)state;
	mg_strtab t = {0};
	char buf[32];
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 5000; i++) {
			snprintf(buf, sizeof buf, "name%d", i);
			int added = -1;
			assert_int_equal(mg_strtab_intern(&t, buf, &added), i);
			assert_int_equal(added, round == 0);
		}
	assert_int_equal(t.count, 5000);
	assert_string_equal(t.strs[4321], "name4321");
	assert_int_equal(mg_strtab_find(&t, "name17"), 17);
	assert_int_equal(mg_strtab_find(&t, "name5000"), -1);
	assert_int_equal(mg_strtab_intern(&t, "", NULL), 5000);
	mg_strtab_free(&t);
	assert_int_equal(t.count, 0);
	assert_int_equal(mg_strtab_find(&t, "name17"), -1);
}

/* Two strings whose 128-bit hashes are made equal (by planting a key in
 * the index) still get two indices: a hit is confirmed by comparing. */
static void test_strtab_collision(void **state)
{
	(void)state;
	mg_strtab t = {0};
	assert_int_equal(mg_strtab_intern(&t, "first", NULL), 0);
	mg_hash128 h = mg_hash128_str("second");
	assert_int_equal(mg_hash_put(&t.index, h.h1, h.h2, 0), 0); /* "second" -> "first" */
	assert_int_equal(mg_strtab_find(&t, "second"), -1);
	assert_int_equal(mg_strtab_intern(&t, "second", NULL), 1);
	assert_int_equal(mg_strtab_intern(&t, "second", NULL), 1);
	assert_int_equal(mg_strtab_find(&t, "first"), 0);
	assert_string_equal(t.strs[1], "second");
	mg_strtab_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grow_keeps_contents),
	    cmocka_unit_test(test_grow_refuses_overflow),
	    cmocka_unit_test(test_strtab_interns),
	    cmocka_unit_test(test_strtab_collision),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
