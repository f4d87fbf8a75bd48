/*
 * config.c - sizes, durations and counts from configuration strings (see
 * config.h for the accepted syntax).
 *
 * Hand-written rather than strtoull: strtoull skips spaces, accepts a sign
 * (and turns "-5" into a huge positive number), and sets errno; here every
 * byte is accounted for and overflow is checked on each digit and on the
 * final multiplication.
 */
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "spanprof.h"

/* Reads the leading decimal digits of s into *out; returns the first byte
 * after them, or NULL when there is no digit or the value overflows. */
static const char *lc_parse_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - digit) / 10u)
			return NULL;
		v = v * 10u + digit;
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

static int lc_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* The multiplier a size suffix stands for, or 0 when it is not one. */
static uint64_t lc_size_suffix(const char *p, uint64_t bare_unit_bytes)
{
	uint64_t mult;
	switch (lc_lower(*p)) {
	case '\0':
		return bare_unit_bytes;
	case 'b':
		return p[1] == '\0' ? 1u : 0u;
	case 'k':
		mult = UINT64_C(1) << 10;
		break;
	case 'm':
		mult = UINT64_C(1) << 20;
		break;
	case 'g':
		mult = UINT64_C(1) << 30;
		break;
	default:
		return 0;
	}
	p++;
	if (lc_lower(p[0]) == 'i' && lc_lower(p[1]) == 'b')
		p += 2;
	else if (lc_lower(p[0]) == 'b')
		p++;
	return *p == '\0' ? mult : 0;
}

int lc_parse_size(const char *s, uint64_t bare_unit_bytes, uint64_t *out_bytes)
{
	uint64_t v;
	const char *p = s ? lc_parse_digits(s, &v) : NULL;
	if (!p || bare_unit_bytes == 0)
		return -SP_EINVAL;
	uint64_t mult = lc_size_suffix(p, bare_unit_bytes);
	if (mult == 0 || v > UINT64_MAX / mult)
		return -SP_EINVAL;
	*out_bytes = v * mult;
	return 0;
}

int lc_parse_duration(const char *s, uint64_t *out_ns)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
	    {"ns", 1u},
	    {"us", 1000u},
	    {"ms", 1000u * 1000u},
	    {"s", UINT64_C(1000000000)},
	    {"m", UINT64_C(60000000000)},
	    {"h", UINT64_C(3600000000000)},
	};
	uint64_t v;
	const char *p = s ? lc_parse_digits(s, &v) : NULL;
	if (!p)
		return -SP_EINVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(p, units[i].unit) != 0)
			continue;
		if (v > UINT64_MAX / units[i].ns)
			return -SP_EINVAL;
		*out_ns = v * units[i].ns;
		return 0;
	}
	return -SP_EINVAL;
}

int lc_parse_count(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v;
	const char *p = s ? lc_parse_digits(s, &v) : NULL;
	if (!p || *p != '\0' || v < lo || v > hi)
		return -SP_EINVAL;
	*out = v;
	return 0;
}
