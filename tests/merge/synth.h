/*
 * synth.h - writes synthetic event logs through libcore's real writer, for
 * merge's tests and the fuzzers' seeds (tests/fuzz/make_seeds.c; the
 * merge_throughput bench writes its own): spans, attributes, samples and
 * modules at chosen timestamps on chosen (fake) threads, without a tracer
 * or a sampler.
 *
 * Timestamps: SPANPROF_CLOCK=monotonic is forced, so ticks are nanoseconds
 * and synth_ts(off) = (start of the log) + off ns converts exactly.
 *
 * Threading: one synthetic log at a time, from one thread.
 */
#ifndef MERGE_SYNTH_H
#define MERGE_SYNTH_H

#include <stdint.h>

#include "log_writer.h"
#include "records.h"

#define SYNTH_MAX_THREADS 16

typedef struct synth {
	lc_ring *rings[SYNTH_MAX_THREADS];
	uint32_t tids[SYNTH_MAX_THREADS];
	int n_threads;
	uint64_t base; /* ticks at open */
	uint64_t writes;
} synth;

/* Opens <dir>/<program>.<pid>.splog (pid 0 = the real one). 0 or -SP_E*. */
int synth_open(synth *s, const char *dir, const char *program, uint32_t pid, uint32_t ppid);
uint64_t synth_ts(const synth *s, uint64_t off_ns);
/* Ring of a fake thread (created on first use, THREAD record with name). */
lc_ring *synth_thread(synth *s, uint32_t tid, const char *name);
void synth_span_begin(synth *s, uint32_t tid, uint64_t off_ns, uint64_t span_id, uint64_t parent_id,
                      const char *name);
void synth_span_end(synth *s, uint32_t tid, uint64_t off_ns, uint64_t span_id);
/* END with record flags (LC_SPAN_*), e.g. CROSS_THREAD from another tid. */
void synth_span_end_flags(synth *s, uint32_t tid, uint64_t off_ns, uint64_t span_id,
                          uint32_t flags);
void synth_attr_int(synth *s, uint32_t tid, uint64_t span_id, const char *key, int64_t v);
void synth_attr_str(synth *s, uint32_t tid, uint64_t span_id, const char *key, const char *v);
void synth_sample(synth *s, uint32_t tid, uint64_t off_ns, const uint64_t *pcs, uint32_t n);
void synth_module(synth *s, const char *path, uint64_t start, uint64_t end, uint64_t offset,
                  const uint8_t *build_id, uint32_t build_id_len);
/* SAMPLER record with the requested rate. */
void synth_sampler(synth *s, uint32_t hz);
/* Writes a MODULE for every mapping of path in this process's
 * /proc/self/maps, named as (NULL: path), with the build-id bid (NULL:
 * none), so real addresses of this process symbolize. Returns how many. */
int synth_map_self(synth *s, const char *path, const char *as, const uint8_t *bid,
                   uint32_t bid_len);
/* The path of the first mapping of this process whose path contains
 * needle, or of this executable when needle is NULL; "" when none. */
void synth_mapped_path(const char *needle, char *out, size_t len);
void synth_close(synth *s);

#endif
