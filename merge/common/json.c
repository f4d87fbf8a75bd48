/*
 * json.c - the streaming JSON writer (see json.h for the rules it keeps).
 *
 * Strings are written in runs: bytes that need no escape are gathered and
 * written with one fwrite, so a long plain name costs one call, not one
 * per byte. Numbers for times are written from integers (exact decimals),
 * never through a double.
 *
 * Threading: no global state.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "json.h"

/* --- value writers --- */

/* Length of the valid UTF-8 sequence at s (avail bytes left), or 0 if it
 * is invalid (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF, no sequence cut by the end). */
size_t mg_json_utf8_len(const unsigned char *s, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
	size_t n;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void mg_json_strn(FILE *out, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + len, *run = s;
	putc('"', out);
	while (s < end) {
		size_t n = mg_json_utf8_len(s, (size_t)(end - s));
		if (n != 0 && *s != '"' && *s != '\\' && *s >= 0x20) {
			s += n; /* plain: stays in the run */
			continue;
		}
		fwrite(run, 1, (size_t)(s - run), out);
		if (n == 0) /* invalid byte: U+FFFD keeps the output valid UTF-8 */
			fputs("\\ufffd", out);
		else if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else
			fprintf(out, "\\u%04x", *s);
		run = ++s;
	}
	fwrite(run, 1, (size_t)(s - run), out);
	putc('"', out);
}

void mg_json_str(FILE *out, const char *s)
{
	if (s)
		mg_json_strn(out, s, strlen(s));
	else
		fputs("null", out);
}

void mg_json_double(FILE *out, double d)
{
	if (isfinite(d))
		fprintf(out, "%.17g", d);
	else
		fputs("null", out);
}

void mg_json_value(FILE *out, sqlite3_stmt *st, int col)
{
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		fprintf(out, "%lld", (long long)sqlite3_column_int64(st, col));
		break;
	case SQLITE_FLOAT:
		mg_json_double(out, sqlite3_column_double(st, col));
		break;
	case SQLITE_TEXT:
	case SQLITE_BLOB: {
		/* text first, then its length: the order SQLite documents */
		const char *s = (const char *)sqlite3_column_text(st, col);
		size_t len = (size_t)sqlite3_column_bytes(st, col);
		if (s)
			mg_json_strn(out, s, len);
		else
			fputs("null", out);
		break;
	}
	default:
		fputs("null", out);
	}
}

/* Writes ns / 10^digits with exactly the needed decimals (ns precision). */
static void json_fixed(FILE *out, int64_t ns, int digits, int64_t div)
{
	uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
	uint64_t whole = a / (uint64_t)div, frac = a % (uint64_t)div;
	if (ns < 0)
		putc('-', out);
	if (frac == 0) {
		fprintf(out, "%" PRIu64, whole);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	fprintf(out, "%" PRIu64 ".%0*" PRIu64, whole, digits, frac);
}

void mg_json_ms(FILE *out, int64_t ns)
{
	json_fixed(out, ns, 6, 1000000);
}

void mg_json_us(FILE *out, int64_t ns)
{
	json_fixed(out, ns, 3, 1000);
}

/* --- the nesting writer --- */

void mg_json_init(mg_json *w, FILE *out, unsigned flags)
{
	memset(w, 0, sizeof *w);
	w->out = out;
	w->flags = flags;
}

static uint64_t json_level_bit(const mg_json *w)
{
	return (uint64_t)1 << (w->depth - 1);
}

static int json_in_object(const mg_json *w)
{
	return w->depth > 0 && (w->in_object & json_level_bit(w));
}

/* Writes what must come before a value or a key at the current level. */
static void json_sep(mg_json *w)
{
	if (w->depth == 0)
		return;
	int rows = (w->flags & MG_JSON_ROWS) && w->depth == 1;
	if (w->nonempty & json_level_bit(w))
		fputs(rows ? ",\n " : (w->flags & MG_JSON_SPACED) ? ", " : ",", w->out);
	else if (rows)
		fputs("\n ", w->out);
	w->nonempty |= json_level_bit(w);
}

/* Before a value: the separator, unless it is the value of a key. A value
 * in an object without its key is a misuse. */
static void json_item(mg_json *w)
{
	if (w->after_key) {
		w->after_key = 0;
		return;
	}
	if (json_in_object(w))
		w->misuse = 1;
	json_sep(w);
}

static void json_begin(mg_json *w, char open)
{
	json_item(w);
	if (w->depth >= MG_JSON_MAX_DEPTH) {
		w->misuse = 1;
		return;
	}
	w->depth++;
	w->nonempty &= ~json_level_bit(w);
	if (open == '{')
		w->in_object |= json_level_bit(w);
	else
		w->in_object &= ~json_level_bit(w);
	putc(open, w->out);
}

static void json_end(mg_json *w, char close)
{
	if (w->depth == 0 || w->after_key || json_in_object(w) != (close == '}')) {
		w->misuse = 1;
		return;
	}
	if ((w->flags & MG_JSON_ROWS) && w->depth == 1 && (w->nonempty & 1))
		putc('\n', w->out);
	w->depth--;
	putc(close, w->out);
}

void mg_json_begin_object(mg_json *w)
{
	json_begin(w, '{');
}

void mg_json_end_object(mg_json *w)
{
	json_end(w, '}');
}

void mg_json_begin_array(mg_json *w)
{
	json_begin(w, '[');
}

void mg_json_end_array(mg_json *w)
{
	json_end(w, ']');
}

void mg_json_key(mg_json *w, const char *key)
{
	if (w->after_key || !json_in_object(w))
		w->misuse = 1;
	json_sep(w);
	mg_json_str(w->out, key ? key : "");
	fputs(w->flags & MG_JSON_SPACED ? ": " : ":", w->out);
	w->after_key = 1;
}

void mg_json_put_str(mg_json *w, const char *s)
{
	json_item(w);
	mg_json_str(w->out, s);
}

void mg_json_put_int(mg_json *w, int64_t v)
{
	json_item(w);
	fprintf(w->out, "%" PRId64, v);
}

void mg_json_put_double(mg_json *w, double d)
{
	json_item(w);
	mg_json_double(w->out, d);
}

void mg_json_put_null(mg_json *w)
{
	json_item(w);
	fputs("null", w->out);
}

void mg_json_put_bool(mg_json *w, int v)
{
	json_item(w);
	fputs(v ? "true" : "false", w->out);
}

void mg_json_put_column(mg_json *w, sqlite3_stmt *st, int col)
{
	json_item(w);
	mg_json_value(w->out, st, col);
}

int mg_json_finish(const mg_json *w)
{
	return w->depth == 0 && !w->after_key && !w->misuse ? 0 : -1;
}
