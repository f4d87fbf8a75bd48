/*
 * synth.c - see synth.h. Flushes the writer every few thousand records so
 * that the rings never fill (a real producer relies on the writer thread;
 * we produce far faster than any program would).
 */
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

#define SYNTH_FLUSH_EVERY 2048

int synth_open(synth *s, const char *dir, const char *program, uint32_t pid, uint32_t ppid)
{
	memset(s, 0, sizeof *s);
	setenv("SPANPROF_CLOCK", "monotonic", 1);
	lc_clock_init();
	lc_log_opts opts = {.dir = dir, .program = program};
	lc_rec_process proc = {.pid = pid, .ppid = ppid};
	int err = lc_log_open(&opts, &proc);
	s->base = lc_clock_ticks();
	return err;
}

uint64_t synth_ts(const synth *s, uint64_t off_ns)
{
	return s->base + off_ns;
}

static void synth_tick(synth *s)
{
	if (++s->writes % SYNTH_FLUSH_EVERY == 0)
		lc_log_flush();
}

lc_ring *synth_thread(synth *s, uint32_t tid, const char *name)
{
	for (int i = 0; i < s->n_threads; i++)
		if (s->tids[i] == tid)
			return s->rings[i];
	if (s->n_threads == SYNTH_MAX_THREADS)
		abort();
	lc_ring *r = lc_ring_create(tid, 1u << 22);
	if (!r)
		abort();
	s->rings[s->n_threads] = r;
	s->tids[s->n_threads++] = tid;
	lc_record rec = {.type = LC_REC_THREAD};
	rec.u.thread = (lc_rec_thread){.ts = s->base, .tid = tid, .name = name ? name : ""};
	lc_log_meta(&rec, 0); /* not sticky: the next synthetic log is another process */
	return r;
}

void synth_span_begin(synth *s, uint32_t tid, uint64_t off_ns, uint64_t span_id, uint64_t parent_id,
                      const char *name)
{
	lc_rec_span_begin b = {.ts = synth_ts(s, off_ns),
	                       .tid = tid,
	                       .span_id = span_id,
	                       .parent_id = parent_id,
	                       .trace_hi = 0x1234,
	                       .trace_lo = 0x5678,
	                       .name = name,
	                       .name_len = (uint32_t)strlen(name)};
	if (lc_ring_span_begin(synth_thread(s, tid, NULL), &b))
		abort();
	synth_tick(s);
}

void synth_span_end(synth *s, uint32_t tid, uint64_t off_ns, uint64_t span_id)
{
	synth_span_end_flags(s, tid, off_ns, span_id, 0);
}

void synth_span_end_flags(synth *s, uint32_t tid, uint64_t off_ns, uint64_t span_id, uint32_t flags)
{
	lc_rec_span_end e = {
	    .ts = synth_ts(s, off_ns), .tid = tid, .span_id = span_id, .flags = flags};
	if (lc_ring_span_end(synth_thread(s, tid, NULL), &e))
		abort();
	synth_tick(s);
}

static void synth_attr(synth *s, uint32_t tid, lc_rec_attr *a)
{
	if (lc_ring_attr(synth_thread(s, tid, NULL), a))
		abort();
	synth_tick(s);
}

void synth_attr_int(synth *s, uint32_t tid, uint64_t span_id, const char *key, int64_t v)
{
	lc_rec_attr a = {.tid = tid,
	                 .span_id = span_id,
	                 .key = key,
	                 .key_len = (uint32_t)strlen(key),
	                 .kind = LC_ATTR_INT,
	                 .i = v};
	synth_attr(s, tid, &a);
}

void synth_attr_str(synth *s, uint32_t tid, uint64_t span_id, const char *key, const char *v)
{
	lc_rec_attr a = {.tid = tid,
	                 .span_id = span_id,
	                 .key = key,
	                 .key_len = (uint32_t)strlen(key),
	                 .kind = LC_ATTR_STR,
	                 .s = v,
	                 .s_len = (uint32_t)strlen(v)};
	synth_attr(s, tid, &a);
}

void synth_sample(synth *s, uint32_t tid, uint64_t off_ns, const uint64_t *pcs, uint32_t n)
{
	lc_rec_sample r = {.ts = synth_ts(s, off_ns), .tid = tid, .nframes = n, .pcs = pcs};
	if (lc_ring_sample(synth_thread(s, tid, NULL), &r))
		abort();
	synth_tick(s);
}

void synth_module(synth *s, const char *path, uint64_t start, uint64_t end, uint64_t offset,
                  const uint8_t *build_id, uint32_t build_id_len)
{
	lc_record rec = {.type = LC_REC_MODULE};
	rec.u.module = (lc_rec_module){.start = start,
	                               .end = end,
	                               .file_offset = offset,
	                               .path = path,
	                               .path_len = (uint32_t)strlen(path),
	                               .build_id = build_id,
	                               .build_id_len = build_id_len,
	                               .ts = s->base};
	if (lc_log_meta(&rec, 0))
		abort();
}

void synth_sampler(synth *s, uint32_t hz)
{
	(void)s;
	lc_record rec = {.type = LC_REC_SAMPLER};
	rec.u.sampler = (lc_rec_sampler){
	    .mechanism = LC_SAMPLER_PERF, .mode = 1, .requested_hz = hz, .achieved_hz = hz};
	if (lc_log_meta(&rec, 0))
		abort();
}

void synth_close(synth *s)
{
	for (int i = 0; i < s->n_threads; i++)
		lc_ring_retire(s->rings[i]);
	s->n_threads = 0;
	lc_log_close();
}

int synth_map_self(synth *s, const char *path, const char *as, const uint8_t *bid, uint32_t bid_len)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[8192];
	int n = 0;
	while (maps && fgets(line, sizeof line, maps)) {
		unsigned long long start, end, off;
		char perms[8], p[4096] = "";
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095s", &start, &end, perms, &off,
		           p) == 5 &&
		    !strcmp(p, path)) {
			synth_module(s, as ? as : p, start, end, off, bid, bid_len);
			n++;
		}
	}
	if (maps)
		fclose(maps);
	return n;
}

void synth_mapped_path(const char *needle, char *out, size_t len)
{
	out[0] = 0;
	if (!needle) {
		ssize_t n = readlink("/proc/self/exe", out, len - 1);
		out[n > 0 ? n : 0] = 0;
		return;
	}
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[8192];
	while (maps && !out[0] && fgets(line, sizeof line, maps)) {
		char p[4096] = "";
		if (sscanf(line, "%*s %*s %*s %*s %*s %4095s", p) == 1 && strstr(p, needle))
			snprintf(out, len, "%s", p);
	}
	if (maps)
		fclose(maps);
}
