/*
 * tr_log.c - see tr_log.h. Reads logs with the same reader merge uses
 * (libcore/read/log_reader.h), so the tests check what consumers will see.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log_reader.h"
#include "tl.h"
#include "tr_log.h"

char *tr_tmpdir(void)
{
	char dir[TL_PATH_MAX];
	tl_tmpdir(dir, sizeof dir, "tracer");
	char *copy = strdup(dir);
	assert_non_null(copy);
	return copy;
}

char *tr_dir;

int tr_setup(void **state)
{
	(void)state;
	tr_dir = tr_tmpdir();
	return 0;
}

int tr_teardown(void **state)
{
	(void)state;
	sp_stop();
	tl_rm_rf(tr_dir);
	free(tr_dir);
	tr_dir = NULL;
	return 0;
}

void tr_start(const char *dir)
{
	sp_config cfg = {.out_dir = dir, .mode = SP_MODE_OFF};
	int rc = sp_start(&cfg);
	if (rc != 0)
		fprintf(stderr, "sp_start: %s\n", sp_strerror(rc));
	assert_int_equal(rc, 0);
	assert_int_equal(sp_active(), 1);
}

char *tr_log_path(const char *dir, int pid)
{
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	char suffix[32], *found = NULL;
	snprintf(suffix, sizeof suffix, ".%d.splog", pid);
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name), m = strlen(suffix);
		if (n > m && strcmp(e->d_name + n - m, suffix) == 0) {
			found = malloc(strlen(dir) + n + 2);
			sprintf(found, "%s/%s", dir, e->d_name);
		}
	}
	closedir(d);
	return found;
}

static void *tr_grow(void *arr, size_t n, size_t elem)
{
	if ((n & (n - 1)) == 0) { /* n is 0 or a power of two: double */
		arr = realloc(arr, (n ? n * 2 : 16) * elem);
		assert_non_null(arr);
	}
	return arr;
}

static void tr_copy(char *dst, size_t cap, const char *src, size_t len)
{
	if (!src)
		src = "", len = 0;
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void tr_apply_early_ends(tr_log *log, tr_span *s);

static void tr_on_begin(tr_log *log, lc_reader *r, const lc_record *rec)
{
	const lc_rec_span_begin *b = &rec->u.span_begin;
	log->spans = tr_grow(log->spans, log->nspans, sizeof *log->spans);
	tr_span *s = &log->spans[log->nspans++];
	memset(s, 0, sizeof *s);
	s->id = b->span_id;
	s->parent = b->parent_id;
	s->trace_hi = b->trace_hi;
	s->trace_lo = b->trace_lo;
	s->tid = b->tid;
	s->begin_flags = b->flags;
	s->begin_ns = rec->ts_ns;
	if (b->name_id) {
		const char *name = lc_reader_string(r, b->name_id);
		assert_non_null(name); /* defined before use */
		tr_copy(s->name, sizeof s->name, name, strlen(name));
		s->name_interned = 1;
	} else {
		tr_copy(s->name, sizeof s->name, b->name, b->name_len);
	}
	tr_apply_early_ends(log, s);
}

static void tr_apply_end(tr_span *s, uint64_t ts_ns, uint32_t tid, uint32_t flags)
{
	if (s->ends++ == 0 || ts_ns < s->end_ns) { /* rings drain in any order */
		s->end_ns = ts_ns;
		s->end_tid = tid;
	}
	s->end_flags |= flags;
}

/* An END ahead of its BEGIN (a cross-thread end whose ring was drained
 * first) waits in log->early until the BEGIN comes; what is left at the end
 * of the log counts as orphans. */
static void tr_on_end(tr_log *log, const lc_record *rec)
{
	const lc_rec_span_end *e = &rec->u.span_end;
	tr_span *s = tr_span_by_id(log, e->span_id);
	if (s) {
		tr_apply_end(s, rec->ts_ns, e->tid, e->flags);
		return;
	}
	log->early = tr_grow(log->early, log->nearly, sizeof *log->early);
	log->early[log->nearly++] = (tr_early_end){e->span_id, rec->ts_ns, e->tid, e->flags};
}

static void tr_apply_early_ends(tr_log *log, tr_span *s)
{
	size_t kept = 0;
	for (size_t i = 0; i < log->nearly; i++) {
		tr_early_end *e = &log->early[i];
		if (e->span_id == s->id)
			tr_apply_end(s, e->ts_ns, e->tid, e->flags);
		else
			log->early[kept++] = *e;
	}
	log->nearly = kept;
}

static void tr_on_attr(tr_log *log, lc_reader *r, const lc_record *rec)
{
	const lc_rec_attr *a = &rec->u.attr;
	log->attrs = tr_grow(log->attrs, log->nattrs, sizeof *log->attrs);
	tr_attr *t = &log->attrs[log->nattrs++];
	memset(t, 0, sizeof *t);
	t->span_id = a->span_id;
	if (a->key_id) {
		const char *key = lc_reader_string(r, a->key_id);
		assert_non_null(key);
		tr_copy(t->key, sizeof t->key, key, strlen(key));
	} else {
		tr_copy(t->key, sizeof t->key, a->key, a->key_len);
	}
	t->kind = a->kind;
	t->flags = a->flags;
	t->i = a->i;
	t->d = a->d;
	t->s_len = a->s_len;
	if (a->kind == LC_ATTR_STR)
		tr_copy(t->s, sizeof t->s, a->s, a->s_len);
}

static void tr_on_thread(tr_log *log, const lc_record *rec, int end)
{
	uint32_t tid = end ? rec->u.thread_end.tid : rec->u.thread.tid;
	tr_thread *t = (tr_thread *)tr_thread_by_tid(log, tid);
	if (!t) {
		log->threads = tr_grow(log->threads, log->nthreads, sizeof *log->threads);
		t = &log->threads[log->nthreads++];
		memset(t, 0, sizeof *t);
		t->tid = tid;
	}
	if (end)
		t->ended = 1;
	else if (rec->u.thread.name && rec->u.thread.name[0])
		tr_copy(t->name, sizeof t->name, rec->u.thread.name, strlen(rec->u.thread.name));
}

static void tr_on_record(tr_log *log, lc_reader *r, const lc_record *rec)
{
	switch (rec->type) {
	case LC_REC_PROCESS:
		log->pid = rec->u.process.pid;
		log->ppid = rec->u.process.ppid;
		tr_copy(log->traceparent, sizeof log->traceparent, rec->u.process.traceparent,
		        rec->u.process.traceparent ? strlen(rec->u.process.traceparent) : 0);
		tr_copy(log->exe, sizeof log->exe, rec->u.process.exe,
		        rec->u.process.exe ? strlen(rec->u.process.exe) : 0);
		break;
	case LC_REC_SPAN_BEGIN:
		tr_on_begin(log, r, rec);
		break;
	case LC_REC_SPAN_END:
		tr_on_end(log, rec);
		break;
	case LC_REC_ATTR:
		tr_on_attr(log, r, rec);
		break;
	case LC_REC_THREAD:
	case LC_REC_THREAD_END:
		tr_on_thread(log, rec, rec->type == LC_REC_THREAD_END);
		break;
	case LC_REC_LOST:
		if (rec->u.lost.kind == LC_LOST_EVENTS)
			log->lost_events += rec->u.lost.count; /* cumulative per thread */
		break;
	default:
		break;
	}
}

tr_log *tr_log_load(const char *path)
{
	lc_reader *r = NULL;
	int rc = lc_reader_open(path, &r);
	if (rc != 0)
		fprintf(stderr, "cannot open %s: %s\n", path, sp_strerror(rc));
	assert_int_equal(rc, 0);
	tr_log *log = calloc(1, sizeof *log);
	assert_non_null(log);
	lc_record rec;
	while ((rc = lc_reader_next(r, &rec)) == 1)
		tr_on_record(log, r, &rec);
	if (rc != 0)
		fprintf(stderr, "%s: %s at %llu\n", path, lc_reader_error(r),
		        (unsigned long long)lc_reader_error_offset(r));
	assert_int_equal(rc, 0);
	lc_reader_close(r);
	log->end_orphans = log->nearly;
	return log;
}

tr_log *tr_log_load_pid(const char *dir, int pid)
{
	char *path = tr_log_path(dir, pid);
	if (!path)
		fprintf(stderr, "no log of pid %d in %s\n", pid, dir);
	assert_non_null(path);
	tr_log *log = tr_log_load(path);
	free(path);
	return log;
}

void tr_log_free(tr_log *log)
{
	if (!log)
		return;
	free(log->spans);
	free(log->attrs);
	free(log->threads);
	free(log->early);
	free(log);
}

tr_span *tr_span_by_name(tr_log *log, const char *name)
{
	for (size_t i = 0; i < log->nspans; i++) {
		if (strcmp(log->spans[i].name, name) == 0)
			return &log->spans[i];
	}
	return NULL;
}

size_t tr_count_named(const tr_log *log, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < log->nspans; i++)
		n += strcmp(log->spans[i].name, name) == 0;
	return n;
}

tr_span *tr_span_by_id(tr_log *log, uint64_t id)
{
	for (size_t i = log->nspans; i-- > 0;) {
		if (log->spans[i].id == id)
			return &log->spans[i];
	}
	return NULL;
}

tr_attr *tr_attr_of(tr_log *log, uint64_t span_id, const char *key)
{
	for (size_t i = 0; i < log->nattrs; i++) {
		if (log->attrs[i].span_id == span_id && strcmp(log->attrs[i].key, key) == 0)
			return &log->attrs[i];
	}
	return NULL;
}

const tr_thread *tr_thread_by_tid(const tr_log *log, uint32_t tid)
{
	for (size_t i = 0; i < log->nthreads; i++) {
		if (log->threads[i].tid == tid)
			return &log->threads[i];
	}
	return NULL;
}
