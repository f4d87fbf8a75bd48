/*
 * config.h - parsing of configuration values: sizes, durations, counts
 * (private). The runtime reads each SPANPROF_* variable once and hands the
 * string here; a value is either read exactly or refused, never read as
 * something else (strtol's "16M" = 16 is the bug this replaces).
 *
 * Accepted syntax (no spaces, no sign, no decimal point, nothing after):
 *   size      DIGITS [K|M|G [B|iB]] | DIGITS B      K = 1024, M = 1024^2,
 *             G = 1024^3; the letters in any case ("16m", "16MiB", "16mb").
 *             A bare number counts in the caller's unit (1 for bytes,
 *             1024 for a variable named in KiB such as SPANPROF_BUFFER_KB);
 *             "B" alone means bytes whatever that unit.
 *   duration  DIGITS UNIT with UNIT one of ns, us, ms, s, m (minutes), h,
 *             lowercase only. A bare number is refused: it has no obvious
 *             unit, and a variable that takes a size or a duration
 *             (SPANPROF_ROTATE=10s|64M) tries the duration first, so "5m"
 *             is five minutes there and "5M" five MiB.
 *   count     DIGITS, within [lo, hi].
 *
 * Every function returns 0 and sets *out, or -SP_EINVAL (empty, negative,
 * garbage, unknown suffix, trailing junk, overflow of 64 bits, out of range)
 * and leaves *out alone. Pure functions: no getenv, no allocation, no
 * errno change. Thread and signal safety: safe.
 */
#ifndef LC_CONFIG_H
#define LC_CONFIG_H

#include <stdint.h>

/* A size in bytes; a bare number is multiplied by bare_unit_bytes (>= 1). */
int lc_parse_size(const char *s, uint64_t bare_unit_bytes, uint64_t *out_bytes);

/* A duration in nanoseconds (a unit is required). */
int lc_parse_duration(const char *s, uint64_t *out_ns);

/* A plain decimal count within [lo, hi]. */
int lc_parse_count(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

#endif
