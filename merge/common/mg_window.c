/*
 * mg_window.c - see mg_window.h. Times are parsed strictly: a value is
 * read exactly or refused (as libcore/config.c does for sizes), since a
 * window read wrongly selects the wrong events without a word.
 */
#include "mg_window.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log_reader.h"

int mg_parse_time_ns(const char *s, int64_t *out_ns)
{
	uint64_t t;
	if (mg_parse_time(s, mg_now_ns(), &t) != 0 || t > (uint64_t)INT64_MAX)
		return -1;
	*out_ns = (int64_t)t;
	return 0;
}

uint64_t mg_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* n decimal digits at *p (advanced); -1 if not all digits. */
static int digits(const char **p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

static int expect(const char **p, const char *set)
{
	if (!**p || !strchr(set, **p))
		return -1;
	(*p)++;
	return 0;
}

/* ".123456789" (1 to 9 digits) -> ns; absent = 0. */
static int64_t fraction_ns(const char **p)
{
	if (**p != '.')
		return 0;
	(*p)++;
	int64_t ns = 0, scale = 100000000;
	int n = 0;
	for (; **p >= '0' && **p <= '9'; (*p)++, n++) {
		if (n < 9)
			ns += (**p - '0') * scale;
		scale /= 10;
	}
	return n ? ns : -1;
}

static int parse_rfc3339(const char *s, uint64_t *out_ns)
{
	const char *p = s;
	struct tm tm = {0};
	int year = digits(&p, 4), mon, day, hh, mm, ss;
	if (year < 1970 || expect(&p, "-") || (mon = digits(&p, 2)) < 1 || mon > 12 ||
	    expect(&p, "-") || (day = digits(&p, 2)) < 1 || day > 31 || expect(&p, "Tt ") ||
	    (hh = digits(&p, 2)) < 0 || hh > 23 || expect(&p, ":") || (mm = digits(&p, 2)) < 0 ||
	    mm > 59 || expect(&p, ":") || (ss = digits(&p, 2)) < 0 || ss > 60)
		return -1;
	int64_t frac = fraction_ns(&p);
	if (frac < 0)
		return -1;
	int64_t offset_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else {
		int sign = *p == '+' ? 1 : *p == '-' ? -1 : 0, oh, om;
		if (!sign)
			return -1;
		p++;
		if ((oh = digits(&p, 2)) < 0 || oh > 23 || expect(&p, ":") ||
		    (om = digits(&p, 2)) < 0 || om > 59)
			return -1;
		offset_s = sign * (oh * 3600 + om * 60);
	}
	if (*p)
		return -1;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || (int64_t)t - offset_s < 0)
		return -1;
	*out_ns = (uint64_t)((int64_t)t - offset_s) * 1000000000u + (uint64_t)frac;
	return 0;
}

int mg_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns)
{
	if (!s || !*s)
		return -1;
	if (s[0] == '-') {
		uint64_t ago;
		if (lc_parse_duration(s + 1, &ago) != 0 || ago > now_ns)
			return -1;
		*out_ns = now_ns - ago;
		return 0;
	}
	if (s[strspn(s, "0123456789")] == '\0')
		return lc_parse_count(s, 1, UINT64_MAX, out_ns) == 0 ? 0 : -1;
	return parse_rfc3339(s, out_ns);
}

/* First time the log covers: its SEGMENT start, else its PROCESS start. */
static uint64_t log_first_ns(const char *path)
{
	lc_reader *r = NULL;
	if (lc_reader_open(path, &r) != 0)
		return 0;
	lc_record rec;
	uint64_t first = 0;
	for (int i = 0; i < 8 && lc_reader_next(r, &rec) == 1; i++) {
		if (rec.type == LC_REC_PROCESS)
			first = rec.ts_ns;
		if (rec.type == LC_REC_SEGMENT && rec.u.segment.kind == LC_SEGMENT_START) {
			first = rec.ts_ns;
			break;
		}
	}
	lc_reader_close(r);
	return first;
}

/* How far a log's events may lie outside the times that stand for it.
 * Its mtime may trail its last event: the kernel stamps a write with its
 * coarse clock (a tick behind, up to 10 ms at HZ=100) and events carry the
 * recorder's realtime offset taken at its start (slewed since). Its first
 * time may follow its first event: a segment is cut after a drain, and
 * what threads recorded while that drain ran goes into the next segment
 * (docs/schema.md, "Rotated logs: segments, windows, appending"). So a
 * log is skipped unread only when it misses the window by more than this;
 * the events of a log that is read are filtered one by one. */
#define MG_WINDOW_SLACK_NS (2 * 1000000000ull)

int mg_log_outside_window(const char *path, uint64_t since_ns, uint64_t until_ns)
{
	struct stat sb;
	if (since_ns && stat(path, &sb) == 0) {
		uint64_t mtime_ns =
		    (uint64_t)sb.st_mtim.tv_sec * 1000000000u + (uint64_t)sb.st_mtim.tv_nsec;
		if (mtime_ns + MG_WINDOW_SLACK_NS < since_ns)
			return 1;
	}
	if (until_ns) {
		uint64_t first = log_first_ns(path);
		if (first && first > until_ns + MG_WINDOW_SLACK_NS)
			return 1;
	}
	return 0;
}

int mg_log_merged_before(sqlite3 *db, const char *path, uint64_t size)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM logs WHERE path = ? AND bytes = ?", -1, &st,
	                       NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)size);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* "<prefix>.<pid>.s<N>.splog": 0 and the parts, or -1. */
static int segment_name(const char *path, unsigned long *pid, unsigned long *index,
                        size_t *index_at)
{
	size_t n = strlen(path);
	if (n < 16 || strcmp(path + n - 6, ".splog") != 0)
		return -1;
	size_t end = n - 6, i = end;
	while (i > 0 && path[i - 1] >= '0' && path[i - 1] <= '9')
		i--;
	if (end - i < 6 || i < 3 || path[i - 1] != 's' || path[i - 2] != '.')
		return -1;
	*index = strtoul(path + i, NULL, 10);
	*index_at = i;
	size_t j = i - 2;
	while (j > 0 && path[j - 1] >= '0' && path[j - 1] <= '9')
		j--;
	if (j == i - 2 || j == 0 || path[j - 1] != '.')
		return -1;
	*pid = strtoul(path + j, NULL, 10);
	return 0;
}

int mg_log_still_written(const char *path)
{
	unsigned long pid, index;
	size_t at;
	if (segment_name(path, &pid, &index, &at) != 0 || pid == 0)
		return 0;
	char next[4096];
	int len = snprintf(next, sizeof next, "%.*s%06lu.splog", (int)at, path, index + 1);
	if (len < 0 || (size_t)len >= sizeof next)
		return 0;
	struct stat sb;
	if (stat(next, &sb) == 0)
		return 0; /* a later segment exists: this one is closed */
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}
