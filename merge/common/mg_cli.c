/*
 * mg_cli.c - see mg_cli.h. The progress line is written to stderr only when
 * it is a terminal, so logs and pipes never see carriage returns.
 */
#include "mg_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double mg_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void mg_progress_init(mg_progress *p)
{
	p->tty = isatty(2);
	p->t0_s = mg_now_s();
	p->last_s = 0;
	p->shown = 0;
}

void mg_progress_update(mg_progress *p, const char *fmt, ...)
{
	if (!p->tty)
		return;
	double now = mg_now_s();
	if (now - p->t0_s < 1.0 || now - p->last_s < 0.1)
		return;
	p->last_s = now;
	va_list ap;
	va_start(ap, fmt);
	fputs("\r", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\033[K", stderr);
	va_end(ap);
	fflush(stderr);
	p->shown = 1;
}

void mg_progress_done(mg_progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
	p->shown = 0;
}

const char *mg_fmt_bytes(uint64_t bytes, char *buf, int len)
{
	if (bytes >= 1000000000ull)
		snprintf(buf, (size_t)len, "%.1f GB", (double)bytes / 1e9);
	else if (bytes >= 1000000ull)
		snprintf(buf, (size_t)len, "%.1f MB", (double)bytes / 1e6);
	else
		snprintf(buf, (size_t)len, "%.1f kB", (double)bytes / 1e3);
	return buf;
}

const char *mg_fmt_count(uint64_t n, char *buf, int len)
{
	if (n >= 1000000ull)
		snprintf(buf, (size_t)len, "%.1fM", (double)n / 1e6);
	else if (n >= 1000ull)
		snprintf(buf, (size_t)len, "%.1fk", (double)n / 1e3);
	else
		snprintf(buf, (size_t)len, "%llu", (unsigned long long)n);
	return buf;
}

long mg_parse_count(const char *s)
{
	char *end = NULL;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : -1;
	if (!s || errno || end == s || *end || v <= 0)
		return -1;
	return v;
}
