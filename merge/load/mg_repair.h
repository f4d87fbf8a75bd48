/*
 * mg_repair.h - spans whose END is missing (lost, or the log ended first):
 * when they ended, as far as the log can tell (private to merge/).
 *
 * mg_load feeds every span event, sample, LOST and THREAD_END record of a
 * log in file order. Per thread, mg_repair keeps the span stack the tracer
 * kept (docs/schema.md, "Spans whose end is missing"), with the last point
 * each span is known to have been open (its begin, its children's begins
 * and ends, its own thread's attributes). An event that the tracer could
 * only have written after a span had ended (a begin whose parent is further
 * down the stack, the END of a span further down, THREAD_END) takes the
 * spans above off the stack as suspects. A suspect whose END has not come
 * once the log is MG_SETTLE_MARGIN past that proof is cut at its last
 * known point (mg_repair_next_cut). At the end of the log every span still
 * on a stack is cut too (mg_repair_next_open): at the end of its thread's
 * data when nothing was lost on that thread after it was last seen and the
 * log is intact, else at its last known point.
 *
 * Memory: the open spans on the stacks, the suspects of the last margin,
 * one small record per thread.
 *
 * Threading: the merge thread only. Not signal-safe.
 */
#ifndef MG_REPAIR_H
#define MG_REPAIR_H

#include <stdint.h>

/* spans.cut codes (docs/schema.md). */
#define MG_CUT_NONE      0 /* its END record set end_ns */
#define MG_CUT_END_LOST  1 /* its thread went on without it; END missing */
#define MG_CUT_LOG_ENDED 2 /* the log ended with it open */
#define MG_CUT_CONTINUES 3 /* open where its segment ended; continues in a later one not merged */

typedef struct mg_repair mg_repair;

/* A span to close without an END: at end_ns, with a MG_CUT_* code. */
typedef struct mg_cut {
	uint64_t span_id, end_ns;
	int cut;
} mg_cut;

mg_repair *mg_repair_new(void);
void mg_repair_free(mg_repair *r); /* accepts NULL */

/* The events, in file order; ts in ns. Return 0, or -1 (out of memory).
 * begin: a span began on tid (flags: its LC_SPAN_* flags). */
int mg_repair_begin(mg_repair *r, uint32_t tid, uint64_t ts, uint64_t span_id, uint64_t parent_id,
                    uint32_t flags);
/* A span of owner_tid closed by an END that end_tid wrote at ts. */
int mg_repair_end(mg_repair *r, uint32_t owner_tid, uint32_t end_tid, uint64_t ts,
                  uint64_t span_id);
/* An attribute that tid set on span_id (it has no timestamp). */
void mg_repair_attr(mg_repair *r, uint32_t tid, uint64_t span_id);
int mg_repair_sample(mg_repair *r, uint32_t tid, uint64_t ts);
int mg_repair_thread_end(mg_repair *r, uint32_t tid, uint64_t ts);
/* A LOST record (cumulative count of a lc_lost_kind). */
int mg_repair_lost(mg_repair *r, uint32_t tid, int kind, uint64_t count);
/* A CLOCK record: the writer starts a drain with one. */
void mg_repair_drain(mg_repair *r);

/* Takes the next suspect proven ended before watermark: 1 and *out, or 0.
 * The caller ignores one whose span is no longer open (its END came). */
int mg_repair_next_cut(mg_repair *r, uint64_t watermark, mg_cut *out);
/* At the end of the log: takes the next span still on a stack, innermost
 * first: 1 and *out, or 0. damaged: the log had damage. */
int mg_repair_next_open(mg_repair *r, int damaged, mg_cut *out);
/* End of a span open at the end of the log that is on no stack (beyond
 * the tracer's depth, or taken off by an END from another thread), last
 * seen at inside_ns. */
mg_cut mg_repair_open_end(mg_repair *r, uint32_t tid, uint64_t span_id, uint64_t inside_ns,
                          int damaged);

#endif
