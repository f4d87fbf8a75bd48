/*
 * json.h - the one JSON writer of the spanprof command (query --json and
 * the JSON exporters: firefox, chrome, speedscope).
 *
 * Output is streamed to a FILE as it is produced: exports write millions
 * of events with bounded memory, so nothing is built as a tree first
 * (docs/design.md, "JSON output"). Whatever the input, the output is
 * strict JSON (RFC 8259) that any parser accepts:
 *   - strings are escaped ('"', '\\', control characters as \u00XX) and
 *     bytes that are not valid UTF-8 (RFC 3629: no overlong forms, no
 *     surrogates, nothing above U+10FFFF) become U+FFFD;
 *   - numbers that JSON cannot hold (inf, -inf, NaN) are written as null.
 *
 * Two layers:
 *   - value writers (mg_json_str, mg_json_double, mg_json_value, ...) write
 *     one value; column-oriented formats (firefox) lay out their arrays
 *     themselves and call these for the values;
 *   - mg_json, a writer that tracks nesting and commas: begin/end objects
 *     and arrays, keys and values, and the separators come by themselves.
 *
 * Write errors are left in the FILE (check ferror once at the end).
 * Threading: a writer belongs to one thread; no global state.
 */
#ifndef MG_JSON_H
#define MG_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sqlite3.h>

/* --- value writers --- */

/* Length of the valid UTF-8 sequence at s (avail bytes left), or 0 when it
 * is invalid (RFC 3629): for writers of other formats that must replace
 * invalid bytes too (OTLP strings). */
size_t mg_json_utf8_len(const unsigned char *s, size_t avail);

/* Writes s as a JSON string literal (with quotes); NULL writes null. */
void mg_json_str(FILE *out, const char *s);
/* The same for len bytes (which may hold NUL: written as \u0000). */
void mg_json_strn(FILE *out, const char *s, size_t len);
/* Writes d with round-trip precision (%.17g), or null if not finite. */
void mg_json_double(FILE *out, double d);
/* Writes a SQLite value as JSON (integer, number, string or null; a blob
 * is written as a string of its bytes, with invalid UTF-8 replaced). */
void mg_json_value(FILE *out, sqlite3_stmt *st, int col);
/* Writes ns as milliseconds / microseconds with ns precision (exact
 * decimals, no exponent, no trailing zeros). */
void mg_json_ms(FILE *out, int64_t ns);
void mg_json_us(FILE *out, int64_t ns);

/* --- the nesting writer --- */

/* Layout flags; 0 is compact (no whitespace at all). */
enum {
	MG_JSON_SPACED = 1, /* ", " between items, ": " after keys */
	MG_JSON_ROWS = 2,   /* each item of the outermost array on a line of
	                     * its own, indented by one space */
};

#define MG_JSON_MAX_DEPTH 64

typedef struct mg_json {
	FILE *out;
	unsigned flags;
	unsigned depth;     /* open containers */
	uint64_t nonempty;  /* bit d-1: the container at depth d has an item */
	uint64_t in_object; /* bit d-1: the container at depth d is an object */
	int after_key;      /* a key was written: its value comes next */
	int misuse;         /* nesting error (too deep, unbalanced, key outside
	                     * an object): a bug in the caller */
} mg_json;

/* Starts a writer on out (not owned). */
void mg_json_init(mg_json *w, FILE *out, unsigned flags);

void mg_json_begin_object(mg_json *w);
void mg_json_end_object(mg_json *w);
void mg_json_begin_array(mg_json *w);
void mg_json_end_array(mg_json *w);
/* Writes an object member's key; the next value call writes its value. */
void mg_json_key(mg_json *w, const char *key);

void mg_json_put_str(mg_json *w, const char *s); /* NULL: null */
void mg_json_put_int(mg_json *w, int64_t v);
void mg_json_put_double(mg_json *w, double d); /* non-finite: null */
void mg_json_put_null(mg_json *w);
void mg_json_put_bool(mg_json *w, int v);
void mg_json_put_column(mg_json *w, sqlite3_stmt *st, int col);

/* 0 if every container was closed and nothing was misused, else -1. */
int mg_json_finish(const mg_json *w);

#endif
