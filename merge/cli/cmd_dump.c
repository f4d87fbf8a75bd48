/*
 * cmd_dump.c - 'spanprof dump LOG': every record of a log as one line of
 * text, then a summary. For debugging logs and for the tests: the format is
 * "TYPE ts=NS tid=TID key=value..." with names resolved through the log's
 * interned strings ("?<id>" when a string id is unknown).
 *
 * A damaged range (the reader skips it and resumes at the next intact
 * frame) shows in place as a line "DAMAGE offset=S end=E bytes=N
 * reason=..." among the records; after the summary each range gets one
 * line on stderr, "spanprof dump: LOG: damaged at offset S: reason; ...",
 * and the exit status is 1: everything readable was printed, but not the
 * whole log.
 *
 * Threading: single-threaded command.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log_reader.h"
#include "spanprof.h"

/* LOST counts are cumulative per thread and kind, DROPPED counts per thread
 * and span name: the summary adds up the latest count of each (tid, kind,
 * name); a DROPPED count goes under kind 0. */
typedef struct lost_slot {
	uint32_t tid;
	uint8_t kind;
	uint32_t name_id;
	uint64_t count;
} lost_slot;

#define DUMP_LOST_SLOTS 4096

typedef struct dump_counts {
	uint64_t by_type[LC_REC_TYPE_COUNT];
	lost_slot lost[DUMP_LOST_SLOTS];
	size_t nlost;
} dump_counts;

static void usage(FILE *out)
{
	fprintf(out, "usage: spanprof dump [--help] LOG\n\n"
	             "Prints every record of an event log (.splog) as one line of text,\n"
	             "then a summary. A damaged range is skipped (reading resumes at the\n"
	             "next intact LZ4 frame) and shows as a DAMAGE line. Exits 1 if the log\n"
	             "is damaged (after printing every readable record and one line per\n"
	             "damaged range on stderr) or is not a spanprof log.\n");
}

static const char *name_of(lc_reader *r, uint32_t id, const char *inline_name, char *buf, size_t n)
{
	if (id == 0)
		return inline_name ? inline_name : "";
	const char *s = lc_reader_string(r, id);
	if (s)
		return s;
	snprintf(buf, n, "?%" PRIu32, id);
	return buf;
}

static void print_process(const lc_rec_process *p)
{
	printf(
	    " format=%u min_reader=%u pid=%" PRIu32 " ppid=%" PRIu32
	    " clock=%s ns_per_tick=%.9g host=\"%s\" exe=\"%s\" cmdline=\"%s\" traceparent=\"%s\"",
	    p->format_version, p->min_reader_version, p->pid, p->ppid,
	    p->clock_kind == 1 ? "tsc" : "monotonic", p->clock.ns_per_tick, p->host, p->exe,
	    p->cmdline, p->traceparent);
}

static void print_span_begin(lc_reader *r, const lc_rec_span_begin *b)
{
	char buf[32];
	printf(" tid=%" PRIu32 " span=%" PRIu64 " parent=%" PRIu64 " name=\"%s\"", b->tid,
	       b->span_id, b->parent_id, name_of(r, b->name_id, b->name, buf, sizeof buf));
	if (b->trace_hi || b->trace_lo)
		printf(" trace=%016" PRIx64 "%016" PRIx64, b->trace_hi, b->trace_lo);
	if (b->flags)
		printf(" flags=0x%" PRIx32, b->flags);
}

static void print_attr(lc_reader *r, const lc_rec_attr *a)
{
	char buf[32];
	printf(" tid=%" PRIu32 " span=%" PRIu64 " key=\"%s\"", a->tid, a->span_id,
	       name_of(r, a->key_id, a->key, buf, sizeof buf));
	if (a->kind == LC_ATTR_INT)
		printf(" int=%" PRId64, a->i);
	else if (a->kind == LC_ATTR_DOUBLE)
		printf(" double=%.17g", a->d);
	else
		printf(" str=\"%.*s\"%s", (int)a->s_len, a->s,
		       (a->flags & LC_ATTR_TRUNCATED) ? " truncated" : "");
}

static void print_sample(const lc_rec_sample *s)
{
	printf(" tid=%" PRIu32 " weight_us=%" PRIu32 " frames=%" PRIu32, s->tid, s->weight_us,
	       s->nframes);
	for (uint32_t i = 0; i < s->nframes; i++)
		printf(" %#" PRIx64, s->pcs[i]);
}

static void print_module(const lc_rec_module *m)
{
	printf(" start=%#" PRIx64 " end=%#" PRIx64 " offset=%#" PRIx64 " path=\"%s\" build_id=",
	       m->start, m->end, m->file_offset, m->path);
	for (uint32_t i = 0; i < m->build_id_len; i++)
		printf("%02x", m->build_id[i]);
}

static void print_dropped(lc_reader *r, const lc_rec_dropped *d)
{
	char buf[32];
	printf(" tid=%" PRIu32 " name=\"%s\" count=%" PRIu64, d->tid,
	       d->name_id ? name_of(r, d->name_id, NULL, buf, sizeof buf) : "(other names)",
	       d->count);
}

static void print_clock(const lc_clock_pair *c)
{
	printf(" ticks=%" PRIu64 " mono_ns=%" PRIu64 " real_ns=%" PRIu64 " ns_per_tick=%.9g",
	       c->ticks, c->mono_ns, c->real_ns, c->ns_per_tick);
}

static void print_fields(lc_reader *r, const lc_record *rec)
{
	const typeof(rec->u) *u = &rec->u;
	switch (rec->type) {
	case LC_REC_PROCESS:
		print_process(&u->process);
		break;
	case LC_REC_CLOCK:
		print_clock(&u->clock);
		break;
	case LC_REC_STRING:
		printf(" id=%" PRIu32 " \"%s\"", u->string.id, u->string.bytes);
		break;
	case LC_REC_THREAD:
		printf(" tid=%" PRIu32 " name=\"%s\"", u->thread.tid, u->thread.name);
		break;
	case LC_REC_THREAD_END:
		printf(" tid=%" PRIu32, u->thread_end.tid);
		if (u->thread_end.cpu_ns)
			printf(" cpu_ns=%" PRIu64, u->thread_end.cpu_ns);
		if (u->thread_end.flags)
			printf(" flags=0x%" PRIx32, u->thread_end.flags);
		break;
	case LC_REC_SPAN_BEGIN:
		print_span_begin(r, &u->span_begin);
		break;
	case LC_REC_SPAN_END:
		printf(" tid=%" PRIu32 " span=%" PRIu64, u->span_end.tid, u->span_end.span_id);
		if (u->span_end.flags)
			printf(" flags=0x%" PRIx32, u->span_end.flags);
		break;
	case LC_REC_ATTR:
		print_attr(r, &u->attr);
		break;
	case LC_REC_SAMPLE:
		print_sample(&u->sample);
		break;
	case LC_REC_MODULE:
		print_module(&u->module);
		break;
	case LC_REC_LOST:
		printf(" tid=%" PRIu32 " kind=%u count=%" PRIu64, u->lost.tid, u->lost.kind,
		       u->lost.count);
		break;
	case LC_REC_SAMPLER:
		printf(" mechanism=%u mode=%u signo=%" PRIu32 " requested_hz=%" PRIu32
		       " achieved_hz=%" PRIu32,
		       u->sampler.mechanism, u->sampler.mode, u->sampler.signo,
		       u->sampler.requested_hz, u->sampler.achieved_hz);
		if (u->sampler.flags)
			printf(" flags=0x%" PRIx32, u->sampler.flags);
		break;
	case LC_REC_BLOCK:
		printf(" tid=%" PRIu32, u->block.tid);
		break;
	case LC_REC_SEGMENT:
		printf(" %s index=%" PRIu32,
		       u->segment.kind == LC_SEGMENT_START ? "start" : "end (continues in index+1)",
		       u->segment.index);
		break;
	case LC_REC_DROPPED:
		print_dropped(r, &u->dropped);
		break;
	}
}

static void note_lost(dump_counts *c, lost_slot l)
{
	for (size_t i = 0; i < c->nlost; i++) {
		lost_slot *s = &c->lost[i];
		if (s->tid == l.tid && s->kind == l.kind && s->name_id == l.name_id) {
			s->count = l.count;
			return;
		}
	}
	if (c->nlost < DUMP_LOST_SLOTS)
		c->lost[c->nlost++] = l;
}

static void print_lost(const dump_counts *c)
{
	uint64_t by_kind[4] = {0};
	for (size_t i = 0; i < c->nlost; i++)
		by_kind[c->lost[i].kind & 3] += c->lost[i].count;
	if (by_kind[1] || by_kind[2] || by_kind[3])
		printf("-- lost: events=%" PRIu64 " samples=%" PRIu64 " unwind_failed=%" PRIu64
		       "\n",
		       by_kind[LC_LOST_EVENTS], by_kind[LC_LOST_SAMPLES], by_kind[LC_LOST_UNWIND]);
	if (by_kind[0])
		printf("-- dropped: spans=%" PRIu64 " (SPANPROF_ON_FULL=drop)\n", by_kind[0]);
}

static void print_record(lc_reader *r, const lc_record *rec, dump_counts *c)
{
	printf("%s", lc_rec_type_name(rec->type));
	if (rec->ts_ns)
		printf(" ts=%" PRIu64, rec->ts_ns);
	print_fields(r, rec);
	putchar('\n');
	if (rec->type < LC_REC_TYPE_COUNT)
		c->by_type[rec->type]++;
	if (rec->type == LC_REC_LOST)
		note_lost(c, (lost_slot){rec->u.lost.tid, rec->u.lost.kind, 0, rec->u.lost.count});
	else if (rec->type == LC_REC_DROPPED)
		note_lost(c, (lost_slot){rec->u.dropped.tid, 0, rec->u.dropped.name_id,
		                         rec->u.dropped.count});
}

static void print_summary(lc_reader *r, const dump_counts *c)
{
	printf("-- %" PRIu64 " records in %" PRIu64 " frames, %" PRIu64 " bytes:",
	       lc_reader_records(r), lc_reader_frames(r), lc_reader_bytes_read(r));
	for (int t = 1; t < LC_REC_TYPE_COUNT; t++)
		if (c->by_type[t])
			printf(" %s=%" PRIu64, lc_rec_type_name(t), c->by_type[t]);
	putchar('\n');
	print_lost(c);
	if (lc_reader_damage_count(r))
		printf("-- damage: %zu ranges, %" PRIu64 " bytes skipped\n",
		       lc_reader_damage_count(r), lc_reader_damage_bytes(r));
}

/* Prints the damaged ranges the reader found since the last call, in place
 * among the records; *shown counts those already printed. */
static void print_new_damage(lc_reader *r, size_t *shown)
{
	const lc_reader_damage *d;
	for (; (d = lc_reader_damage_at(r, *shown)) != NULL; ++*shown)
		printf("DAMAGE offset=%" PRIu64 " end=%" PRIu64 " bytes=%" PRIu64
		       " reason=\"%s\"\n",
		       d->start, d->end, d->end - d->start, d->reason);
}

/* One stderr line per damaged range, after everything readable. */
static void report_damage(lc_reader *r, const char *path)
{
	size_t n = lc_reader_damage_count(r), i = 0;
	const lc_reader_damage *d;
	for (; (d = lc_reader_damage_at(r, i)) != NULL; i++)
		fprintf(stderr,
		        "spanprof dump: %s: damaged at offset %" PRIu64
		        ": %s; skipped bytes %" PRIu64 "-%" PRIu64 "%s\n",
		        path, d->start, d->reason, d->start, d->end,
		        d->end < lc_reader_bytes_read(r) ? ", read on from the next intact frame"
		                                         : " (the end of the file)");
	if (n > i)
		fprintf(stderr, "spanprof dump: %s: %zu more damaged ranges not listed\n", path,
		        n - i);
}

static int dump_log(const char *path)
{
	lc_reader *r;
	int rc = lc_reader_open(path, &r);
	if (rc < 0) {
		fprintf(stderr, "spanprof dump: %s: %s\n", path, strerror(errno));
		return 1;
	}
	static dump_counts counts; /* large: not on the stack */
	memset(&counts, 0, sizeof counts);
	lc_record rec;
	size_t shown = 0;
	while ((rc = lc_reader_next(r, &rec)) > 0) {
		print_new_damage(r, &shown);
		print_record(r, &rec, &counts);
	}
	print_new_damage(r, &shown);
	int damaged = lc_reader_damage_count(r) > 0;
	if (rc == 0 || damaged || rc == -SP_ECORRUPT || rc == -SP_EVERSION)
		print_summary(r, &counts);
	fflush(stdout);
	if (damaged)
		report_damage(r, path);
	else if (rc == -SP_ECORRUPT)
		fprintf(stderr, "spanprof dump: %s: damaged at offset %" PRIu64 ": %s\n", path,
		        lc_reader_error_offset(r), lc_reader_error(r));
	else if (rc < 0)
		fprintf(stderr, "spanprof dump: %s: %s\n", path, lc_reader_error(r));
	lc_reader_close(r);
	return rc < 0 ? 1 : 0;
}

int mg_cmd_dump(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		usage(stderr);
		return 2;
	}
	return dump_log(argv[1]);
}
