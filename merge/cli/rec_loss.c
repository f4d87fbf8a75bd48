/*
 * rec_loss.c - what `spanprof record` says at exit about loss: it reads
 * back the logs it just wrote. LOST records carry cumulative counts per
 * thread and kind (docs/log-format.md), so the tally keeps the latest
 * count per (thread, kind) of each log and adds them up at the log's end;
 * one log is one process, so (log, thread) stands for (pid, tid).
 *
 * Threads that could not be sampled: a thread's THREAD_END follows all its
 * records in the file and carries the CPU time it used while sampled, so a
 * set of the threads that had a sample (or lost one) since their THREAD
 * record decides at THREAD_END.
 */
#include "rec_logs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "log_reader.h"
#include "mg_grow.h"
#include "mg_hash.h"
#include "mg_gaps.h"

/* kind REC_KIND_DROPPED holds a DROPPED count (per thread and span name). */
#define REC_KIND_DROPPED 0

typedef struct rec_lost_slot {
	uint32_t tid;
	uint8_t kind;
	uint32_t name_id; /* DROPPED only */
	uint64_t count;
} rec_lost_slot;

/* The latest LOST counts of one log. Few threads lose anything, and LOST
 * records come once per drain at most, so a linear search is enough. */
typedef struct rec_lost_set {
	rec_lost_slot *slots;
	size_t n, cap;
} rec_lost_set;

static int rec_lost_set_put(rec_lost_set *set, rec_lost_slot slot)
{
	for (size_t i = 0; i < set->n; i++) {
		rec_lost_slot *s = &set->slots[i];
		if (s->tid == slot.tid && s->kind == slot.kind && s->name_id == slot.name_id) {
			s->count = slot.count;
			return 0;
		}
	}
	if (MG_GROW_ONE(set->slots, set->cap, set->n))
		return -1;
	set->slots[set->n++] = slot;
	return 0;
}

static int rec_lost_set_has_tid(const rec_lost_set *set, size_t before, uint32_t tid)
{
	for (size_t i = 0; i < before; i++)
		if (set->slots[i].tid == tid && set->slots[i].count > 0)
			return 1;
	return 0;
}

/* Adds one log's final counts to the totals. */
static void rec_lost_set_sum(const rec_lost_set *set, rec_loss *out)
{
	for (size_t i = 0; i < set->n; i++) {
		const rec_lost_slot *s = &set->slots[i];
		if (s->count == 0)
			continue;
		if (s->kind == REC_KIND_DROPPED)
			out->spans_dropped += s->count;
		else if (s->kind == LC_LOST_EVENTS)
			out->span_lost += s->count;
		else if (s->kind == LC_LOST_SAMPLES || s->kind == LC_LOST_UNWIND)
			out->samples_lost += s->count;
		else
			out->other_lost += s->count;
		if (!rec_lost_set_has_tid(set, i, s->tid))
			out->threads++;
	}
}

/* A thread ends: count it when it used CPU and has no sample. */
static void rec_gaps_thread_end(rec_loss *out, mg_hash *sampled, const lc_rec_thread_end *e)
{
	if (e->cpu_ns && !mg_hash_get(sampled, e->tid, 0)) {
		out->gap_threads++;
		out->gap_cpu_ns += e->cpu_ns;
		if (e->flags & LC_THREAD_END_F_SIGNAL_BLOCKED) {
			out->gap_threads_blocked++;
			out->gap_cpu_blocked_ns += e->cpu_ns;
		}
	}
	mg_hash_del(sampled, e->tid, 0);
}

static int rec_loss_count(rec_loss *out, rec_lost_set *set, mg_hash *sampled, const lc_record *rec)
{
	switch (rec->type) {
	case LC_REC_THREAD: /* a new thread (or a reused tid) starts unsampled */
		mg_hash_del(sampled, rec->u.thread.tid, 0);
		break;
	case LC_REC_THREAD_END:
		rec_gaps_thread_end(out, sampled, &rec->u.thread_end);
		break;
	case LC_REC_SAMPLER:
		out->timers |= rec->u.sampler.mechanism == LC_SAMPLER_TIMER;
		break;
	case LC_REC_SPAN_BEGIN:
	case LC_REC_SPAN_END:
	case LC_REC_ATTR:
		out->span_events++;
		break;
	case LC_REC_SAMPLE:
		out->samples++;
		return mg_hash_put(sampled, rec->u.sample.tid, 0, 1) ? -1 : 0;
	case LC_REC_LOST:
		if (rec->u.lost.kind != LC_LOST_EVENTS && rec->u.lost.count > 0 &&
		    mg_hash_put(sampled, rec->u.lost.tid, 0, 1))
			return -1;
		return rec_lost_set_put(
		    set, (rec_lost_slot){rec->u.lost.tid, rec->u.lost.kind, 0, rec->u.lost.count});
	case LC_REC_DROPPED:
		return rec_lost_set_put(set, (rec_lost_slot){rec->u.dropped.tid, REC_KIND_DROPPED,
		                                             rec->u.dropped.name_id,
		                                             rec->u.dropped.count});
	}
	return 0;
}

/* rec_logs_fn: one log. A log that cannot be read is counted, not fatal. */
static int rec_loss_log(const char *path, int is_file, void *ctx)
{
	rec_loss *out = ctx;
	lc_reader *r = NULL;
	struct stat st;
	if (is_file && stat(path, &st) == 0 && st.st_size == 0) {
		out->logs++; /* a process that ended before its first write */
		return 0;
	}
	if (!is_file || lc_reader_open(path, &r) < 0) {
		out->unreadable++;
		return 0;
	}
	rec_lost_set set = {0};
	mg_hash sampled = {0};
	lc_record rec;
	int rc, err = 0;
	while (!err && (rc = lc_reader_next(r, &rec)) == 1)
		err = rec_loss_count(out, &set, &sampled, &rec);
	mg_hash_free(&sampled);
	if (!err && rc < 0 && lc_reader_damage_count(r) == 0)
		out->unreadable++; /* not a log, or damaged from its first frame */
	out->damaged += lc_reader_damage_count(r);
	out->logs++;
	rec_lost_set_sum(&set, out);
	free(set.slots);
	lc_reader_close(r);
	if (err)
		errno = ENOMEM;
	return err;
}

int rec_loss_tally(const char *dir, rec_loss *out)
{
	*out = (rec_loss){0};
	return rec_logs_walk(dir, rec_loss_log, out) ? -1 : 0;
}

static double rec_loss_pct(uint64_t lost, uint64_t kept)
{
	return lost ? 100.0 * (double)lost / (double)(lost + kept) : 0.0;
}

int rec_loss_line(const rec_loss *l, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (!l->span_lost && !l->samples_lost && !l->other_lost && !l->spans_dropped &&
	    !l->damaged && !l->unreadable)
		return 0;
	char damage[160] = "";
	if (l->damaged || l->unreadable)
		snprintf(damage, sizeof damage,
		         "; %" PRIu64 " damaged range(s) skipped, %" PRIu64 " unreadable log(s)",
		         l->damaged, l->unreadable);
	char other[160] = "";
	if (l->other_lost || l->spans_dropped)
		snprintf(other, sizeof other,
		         ", %" PRIu64 " whole span(s) dropped (SPANPROF_ON_FULL=drop), %" PRIu64
		         " other record(s) lost",
		         l->spans_dropped, l->other_lost);
	snprintf(buf, cap,
	         "spanprof: %" PRIu64 " of %" PRIu64 " span events lost (%.1f%%), %" PRIu64
	         " of %" PRIu64 " samples lost (%.1f%%)%s in %" PRIu64
	         " thread(s)%s: see docs/sampling.md, \"What record reports\"",
	         l->span_lost, l->span_lost + l->span_events,
	         rec_loss_pct(l->span_lost, l->span_events), l->samples_lost,
	         l->samples_lost + l->samples, rec_loss_pct(l->samples_lost, l->samples), other,
	         l->threads, damage);
	return 1;
}

int rec_gaps_line(const rec_loss *l, char *buf, size_t cap)
{
	mg_gaps gaps = {(int64_t)l->gap_threads, (int64_t)l->gap_cpu_ns,
	                (int64_t)l->gap_threads_blocked, (int64_t)l->gap_cpu_blocked_ns, l->timers};
	char text[400];
	buf[0] = '\0';
	if (!l->gap_threads)
		return 0;
	snprintf(buf, cap, "spanprof: %s: see docs/sampling.md, \"What cannot be sampled\"",
	         mg_gaps_text(&gaps, text, sizeof text));
	return 1;
}
