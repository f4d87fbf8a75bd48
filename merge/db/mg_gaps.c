/*
 * mg_gaps.c - see mg_gaps.h.
 */
#include "mg_gaps.h"

#include <inttypes.h>
#include <stdio.h>

/* Short threads: with perf events each thread's first period has a random
 * phase, so the samples of the short threads that drew one stand for
 * those that did not; POSIX CPU timers only fire at a kernel tick, so
 * there short threads are missing for real. */
const char *mg_gaps_text(const mg_gaps *g, char *buf, size_t len)
{
	int64_t threads_short = g->threads - g->threads_blocked;
	size_t n = 0;
	buf[0] = '\0';
	if (g->threads <= 0)
		return buf;
	n += (size_t)snprintf(buf, len,
	                      "%" PRId64 " thread%s, %.1f ms of CPU, could not be sampled (",
	                      g->threads, g->threads == 1 ? "" : "s", (double)g->cpu_ns / 1e6);
	if (g->threads_blocked && n < len)
		n += (size_t)snprintf(
		    buf + n, len - n, "%" PRId64 ", %.1f ms, with the sampling signal blocked%s",
		    g->threads_blocked, (double)g->cpu_blocked_ns / 1e6, threads_short ? "; " : "");
	if (threads_short && n < len)
		n += (size_t)snprintf(
		    buf + n, len - n, "%" PRId64 ", %.1f ms, too short to draw a sample%s",
		    threads_short, (double)(g->cpu_ns - g->cpu_blocked_ns) / 1e6,
		    g->timers ? " (POSIX timers fire at kernel ticks only)"
		              : ", which the samples of other short threads stand for on average");
	if (n < len)
		snprintf(buf + n, len - n, ")");
	return buf;
}
