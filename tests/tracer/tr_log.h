/*
 * tr_log.h - test helpers for the tracer tests: run the runtime into a
 * fresh temporary directory and read a log back, through the real log
 * reader, into flat arrays of spans, attributes and threads.
 *
 * Threading: single-threaded helpers (call them from the test's thread).
 */
#ifndef TR_LOG_H
#define TR_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "spanprof.h"

typedef struct tr_span {
	uint64_t id, parent, trace_hi, trace_lo;
	uint32_t tid, end_tid;
	uint32_t begin_flags, end_flags; /* end_flags: OR of every END seen */
	int ends;                        /* SPAN_END records seen for this id */
	int name_interned;               /* name came from a STRING record */
	uint64_t begin_ns, end_ns;
	char name[128];
} tr_span;

typedef struct tr_attr {
	uint64_t span_id;
	char key[64];
	int kind, flags;
	int64_t i;
	double d;
	uint32_t s_len;
	char s[512];
} tr_attr;

typedef struct tr_thread {
	uint32_t tid;
	char name[64];
	int ended;
} tr_thread;

typedef struct tr_early_end {
	uint64_t span_id, ts_ns;
	uint32_t tid, flags;
} tr_early_end;

typedef struct tr_log {
	uint32_t pid, ppid;
	char traceparent[64];
	char exe[256];
	tr_span *spans;
	size_t nspans;
	tr_attr *attrs;
	size_t nattrs;
	tr_thread *threads;
	size_t nthreads;
	uint64_t lost_events;
	size_t end_orphans;         /* SPAN_END records with no SPAN_BEGIN in this log */
	struct tr_early_end *early; /* ENDs read before their BEGIN (another */
	size_t nearly;              /* thread's ring drained first), pending */
} tr_log;

/* tl_tmpdir "tracer", as a malloc'd path (the caller frees it); remove
 * it with tl_rm_rf. */
char *tr_tmpdir(void);
/* A per-test fixture for cmocka_unit_test_setup_teardown: tr_setup puts
 * a fresh tr_tmpdir() into tr_dir; tr_teardown stops the runtime (sp_stop)
 * and removes and frees the directory. */
extern char *tr_dir;
int tr_setup(void **state);
int tr_teardown(void **state);
/* sp_start into dir with sampling off (spans only); asserts success. */
void tr_start(const char *dir);
/* Path of the log of process pid in dir (malloc'd), or NULL. */
char *tr_log_path(const char *dir, int pid);
/* Loads the log; asserts that it reads to a clean end. */
tr_log *tr_log_load(const char *path);
/* Convenience: load the log of pid in dir (asserts it exists). */
tr_log *tr_log_load_pid(const char *dir, int pid);
void tr_log_free(tr_log *log);

tr_span *tr_span_by_name(tr_log *log, const char *name); /* first one */
size_t tr_count_named(const tr_log *log, const char *name);
tr_span *tr_span_by_id(tr_log *log, uint64_t id);
tr_attr *tr_attr_of(tr_log *log, uint64_t span_id, const char *key);
const tr_thread *tr_thread_by_tid(const tr_log *log, uint32_t tid);

#endif
