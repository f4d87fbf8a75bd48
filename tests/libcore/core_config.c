/*
 * core_config.c - the configuration value parser (libcore/common/config.c):
 * sizes with K/M/G suffixes in any case, a bare number in the caller's
 * unit, durations with a required unit, counts within a range; and every
 * malformed value refused (the ones from issue 11 among them) without
 * touching the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "spanprof.h"

#define KIB   UINT64_C(1024)
#define MIB   (KIB * 1024u)
#define GIB   (MIB * 1024u)
#define UNSET UINT64_C(0xdeadbeef)

static uint64_t size_of(const char *s, uint64_t bare_unit)
{
	uint64_t v = UNSET;
	assert_int_equal(lc_parse_size(s, bare_unit, &v), 0);
	return v;
}

static void assert_size_refused(const char *s, uint64_t bare_unit)
{
	uint64_t v = UNSET;
	if (lc_parse_size(s, bare_unit, &v) != -SP_EINVAL)
		fail_msg("size \"%s\" was accepted as %llu", s ? s : "(null)",
		         (unsigned long long)v);
	assert_true(v == UNSET);
}

static void test_size_suffixes(void **state)
{
	(void)state;
	assert_true(size_of("4096", 1) == 4096);
	assert_true(size_of("0", 1) == 0);
	assert_true(size_of("007", 1) == 7);
	assert_true(size_of("16K", 1) == 16 * KIB);
	assert_true(size_of("16k", 1) == 16 * KIB);
	assert_true(size_of("16M", 1) == 16 * MIB);
	assert_true(size_of("16m", 1) == 16 * MIB);
	assert_true(size_of("1G", 1) == GIB);
	assert_true(size_of("1g", 1) == GIB);
	assert_true(size_of("16MB", 1) == 16 * MIB);
	assert_true(size_of("16mb", 1) == 16 * MIB);
	assert_true(size_of("16MiB", 1) == 16 * MIB);
	assert_true(size_of("512KiB", 1) == 512 * KIB);
	assert_true(size_of("4096B", 1) == 4096);
}

/* SPANPROF_BUFFER_KB: a bare number is KiB, a suffix names its own unit. */
static void test_size_bare_unit(void **state)
{
	(void)state;
	assert_true(size_of("256", KIB) == 256 * KIB);
	assert_true(size_of("512K", KIB) == 512 * KIB);
	assert_true(size_of("16M", KIB) == 16 * MIB);
	assert_true(size_of("4096B", KIB) == 4096);
	assert_true(size_of("18446744073709551615", 1) == UINT64_MAX);
	assert_true(size_of("17179869183G", 1) == UINT64_C(17179869183) * GIB);
}

static void test_size_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "abc",  "-5",   "16X",  "",     "99999999999G", "+5",
	    " 5",   "5 ",   "1.5G", "16M ", "16MX",         "16Mi",
	    "16iB", "16BB", "K",    "M16",  "0x10",         "18446744073709551616",
	    "5e3",  "16KK",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_size_refused(bad[i], 1);
	assert_size_refused(NULL, 1);
	/* 2^54 KiB does not fit in 64 bits of bytes */
	assert_size_refused("18014398509481984", KIB);
	assert_size_refused("5", 0);
}

static uint64_t duration_of(const char *s)
{
	uint64_t v = UNSET;
	assert_int_equal(lc_parse_duration(s, &v), 0);
	return v;
}

static void test_duration_units(void **state)
{
	(void)state;
	assert_true(duration_of("10s") == UINT64_C(10000000000));
	assert_true(duration_of("500ms") == UINT64_C(500000000));
	assert_true(duration_of("5m") == UINT64_C(300000000000));
	assert_true(duration_of("2h") == UINT64_C(7200000000000));
	assert_true(duration_of("250us") == UINT64_C(250000));
	assert_true(duration_of("7ns") == 7);
	assert_true(duration_of("0s") == 0);
}

static void test_duration_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "abc",
	    "-5s",
	    "10",
	    "",
	    "10S",
	    "5M",
	    "10 s",
	    "10sec",
	    "1.5s",
	    "ms",
	    "10s ",
	    "99999999999h",
	    "18446744073709551616ns",
	    "10 ",
	    "+10s",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t v = UNSET;
		if (lc_parse_duration(bad[i], &v) != -SP_EINVAL)
			fail_msg("duration \"%s\" was accepted as %llu", bad[i],
			         (unsigned long long)v);
		assert_true(v == UNSET);
	}
	uint64_t v = UNSET;
	assert_int_equal(lc_parse_duration(NULL, &v), -SP_EINVAL);
}

static void test_count_range(void **state)
{
	(void)state;
	uint64_t v = UNSET;
	assert_int_equal(lc_parse_count("1", 1, 100000, &v), 0);
	assert_true(v == 1);
	assert_int_equal(lc_parse_count("100000", 1, 100000, &v), 0);
	assert_true(v == 100000);
	static const char *const bad[] = {"0", "100001", "abc", "-5", "", "12abc", "1K", " 1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = UNSET;
		assert_int_equal(lc_parse_count(bad[i], 1, 100000, &v), -SP_EINVAL);
		assert_true(v == UNSET);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size_suffixes),      cmocka_unit_test(test_size_bare_unit),
	    cmocka_unit_test(test_size_malformed),     cmocka_unit_test(test_duration_units),
	    cmocka_unit_test(test_duration_malformed), cmocka_unit_test(test_count_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
