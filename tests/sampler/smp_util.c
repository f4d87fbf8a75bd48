/*
 * smp_util.c - see smp_util.h.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log_reader.h"
#include "smp_util.h"

static void su_add_sample(su_log *log, const lc_rec_sample *s)
{
	if (log->nsamples == log->cap) {
		log->cap = log->cap ? log->cap * 2 : 1024;
		log->samples = realloc(log->samples, log->cap * sizeof *log->samples);
		if (!log->samples)
			abort();
	}
	su_sample *t = &log->samples[log->nsamples++];
	t->tid = s->tid;
	t->weight_us = s->weight_us;
	t->nframes = s->nframes < SU_MAX_FRAMES ? s->nframes : SU_MAX_FRAMES;
	memcpy(t->pcs, s->pcs, t->nframes * sizeof t->pcs[0]);
}

static void su_add_record(su_log *log, const lc_record *rec)
{
	switch (rec->type) {
	case LC_REC_SAMPLE:
		su_add_sample(log, &rec->u.sample);
		break;
	case LC_REC_THREAD:
		if (log->nthreads < 256) {
			snprintf(log->thread_names[log->nthreads], 32, "%s",
			         rec->u.thread.name ? rec->u.thread.name : "");
			log->threads[log->nthreads++] = rec->u.thread.tid;
		}
		break;
	case LC_REC_THREAD_END:
		if (log->nthread_ends < 256)
			log->thread_ends[log->nthread_ends++] = rec->u.thread_end.tid;
		break;
	case LC_REC_SAMPLER:
		log->sampler_seen = 1;
		log->mechanism = rec->u.sampler.mechanism;
		log->mode = rec->u.sampler.mode;
		log->signo = rec->u.sampler.signo;
		log->requested_hz = rec->u.sampler.requested_hz;
		log->achieved_hz = rec->u.sampler.achieved_hz;
		log->flags = rec->u.sampler.flags;
		break;
	case LC_REC_MODULE:
		if (log->nmodules < 256)
			snprintf(log->module_paths[log->nmodules], 256, "%.*s",
			         (int)rec->u.module.path_len, rec->u.module.path);
		log->nmodules++;
		break;
	case LC_REC_LOST:
		if (rec->u.lost.kind == LC_LOST_SAMPLES)
			log->lost_samples += rec->u.lost.count;
		if (rec->u.lost.kind == LC_LOST_UNWIND)
			log->lost_unwind += rec->u.lost.count;
		break;
	default:
		break;
	}
}

int su_read_log(const char *path, su_log *log)
{
	memset(log, 0, sizeof *log);
	lc_reader *r = NULL;
	if (lc_reader_open(path, &r) < 0)
		return -1;
	lc_record rec;
	int rc;
	while ((rc = lc_reader_next(r, &rec)) > 0)
		su_add_record(log, &rec);
	log->read_error = rc < 0;
	if (rc < 0)
		fprintf(stderr, "# %s: %s at %llu\n", path, lc_reader_error(r),
		        (unsigned long long)lc_reader_error_offset(r));
	const lc_rec_process *p = lc_reader_process(r);
	int ok = p != NULL;
	if (p) {
		log->pid = p->pid;
		log->ppid = p->ppid;
	}
	lc_reader_close(r);
	return ok ? 0 : -1;
}

void su_free_log(su_log *log)
{
	free(log->samples);
	log->samples = NULL;
}

int su_has_module(const su_log *log, const char *needle)
{
	for (size_t i = 0; i < log->nmodules && i < 256; i++)
		if (strstr(log->module_paths[i], needle))
			return 1;
	return 0;
}

size_t su_samples_of(const su_log *log, uint32_t tid)
{
	size_t n = 0;
	for (size_t i = 0; i < log->nsamples; i++)
		n += log->samples[i].tid == tid;
	return n;
}
