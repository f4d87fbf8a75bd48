/*
 * smp_util.h - helpers of the sampler tests: reading the samples,
 * threads and modules of a log; spinning on the CPU comes with spin.h.
 * Temporary directories, finding logs and running programs come from
 * tests/lib (tl.h).
 *
 * Threading: single-threaded test code.
 */
#ifndef SU_SMP_UTIL_H
#define SU_SMP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "spin.h"

#define SU_MAX_FRAMES 128

typedef struct su_sample {
	uint32_t tid;
	uint32_t nframes;
	uint32_t weight_us;
	uint64_t pcs[SU_MAX_FRAMES];
} su_sample;

typedef struct su_log {
	uint32_t pid, ppid;
	su_sample *samples;
	size_t nsamples, cap;
	uint32_t threads[256]; /* tids of THREAD records */
	char thread_names[256][32];
	size_t nthreads;
	uint32_t thread_ends[256];
	size_t nthread_ends;
	int sampler_seen;
	uint32_t mechanism, mode, signo, requested_hz, achieved_hz, flags; /* last SAMPLER */
	size_t nmodules;
	char module_paths[256][256];
	uint64_t lost_samples, lost_unwind;
	int read_error; /* reader stopped on damage (e.g. crash mid-frame) */
} su_log;

/* Reads a whole log; returns 0 if at least the PROCESS record was read. */
int su_read_log(const char *path, su_log *log);
void su_free_log(su_log *log);
/* Nonzero if a MODULE record's path contains needle. */
int su_has_module(const su_log *log, const char *needle);
size_t su_samples_of(const su_log *log, uint32_t tid);

#endif
