/*
 * mg_runs.c - see mg_runs.h. The processes are few (one per log), but a
 * program that forks thousands of children must not make this quadratic:
 * the links are found by sorting (same pid, same parent) and by binary
 * search (parent's pid), and joined with a union-find.
 */
#include "mg_runs.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_grow.h"

typedef struct mg_run_proc {
	char *host, *exe;
	int64_t pid, ppid, start_ns, end_ns;
	size_t parent; /* union-find */
} mg_run_proc;

typedef struct mg_runs {
	mg_run_proc *p;
	size_t n;
	int64_t *run_start, *run_end; /* per union-find root */
} mg_runs;

static size_t mg_runs_find(mg_runs *r, size_t i)
{
	while (r->p[i].parent != i) {
		r->p[i].parent = r->p[r->p[i].parent].parent;
		i = r->p[i].parent;
	}
	return i;
}

static void mg_runs_join(mg_runs *r, size_t a, size_t b)
{
	a = mg_runs_find(r, a);
	b = mg_runs_find(r, b);
	if (a != b)
		r->p[b].parent = a;
}

static char *mg_runs_dup(const unsigned char *s)
{
	return strdup(s ? (const char *)s : "");
}

static int mg_runs_load(sqlite3 *db, mg_runs *r)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc =
	    sqlite3_prepare_v2(db,
	                       "SELECT host, exe, pid, ppid, start_ns, coalesce(end_ns, start_ns)"
	                       " FROM processes",
	                       -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (MG_GROW_ONE(r->p, cap, r->n))
			break;
		mg_run_proc *p = &r->p[r->n];
		*p = (mg_run_proc){mg_runs_dup(sqlite3_column_text(st, 0)),
		                   mg_runs_dup(sqlite3_column_text(st, 1)),
		                   sqlite3_column_int64(st, 2),
		                   sqlite3_column_int64(st, 3),
		                   sqlite3_column_int64(st, 4),
		                   sqlite3_column_int64(st, 5),
		                   r->n};
		r->n++;
		if (!p->host || !p->exe)
			break;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* qsort has no context argument: the array being sorted. */
static const mg_run_proc *mg_runs_sorting;

static int mg_runs_cmp_key(size_t a, size_t b, int by_ppid)
{
	const mg_run_proc *x = &mg_runs_sorting[a], *y = &mg_runs_sorting[b];
	int c = strcmp(x->host, y->host);
	if (c)
		return c;
	int64_t kx = by_ppid ? x->ppid : x->pid, ky = by_ppid ? y->ppid : y->pid;
	return (kx > ky) - (kx < ky);
}

static int mg_runs_cmp_pid(const void *a, const void *b)
{
	return mg_runs_cmp_key(*(const size_t *)a, *(const size_t *)b, 0);
}

static int mg_runs_cmp_ppid(const void *a, const void *b)
{
	return mg_runs_cmp_key(*(const size_t *)a, *(const size_t *)b, 1);
}

/* Joins neighbours with equal (host, pid) or (host, ppid). */
static void mg_runs_join_equal(mg_runs *r, size_t *idx, int by_ppid)
{
	mg_runs_sorting = r->p;
	qsort(idx, r->n, sizeof *idx, by_ppid ? mg_runs_cmp_ppid : mg_runs_cmp_pid);
	for (size_t i = 1; i < r->n; i++)
		if (mg_runs_cmp_key(idx[i - 1], idx[i], by_ppid) == 0)
			mg_runs_join(r, idx[i - 1], idx[i]);
}

/* Joins each process with its parent's log(s): by_pid sorted by (host, pid). */
static void mg_runs_join_parents(mg_runs *r, const size_t *by_pid)
{
	for (size_t i = 0; i < r->n; i++) {
		size_t lo = 0, hi = r->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			const mg_run_proc *m = &r->p[by_pid[mid]];
			int c = strcmp(m->host, r->p[i].host);
			if (c < 0 || (c == 0 && m->pid < r->p[i].ppid))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < r->n && r->p[by_pid[lo]].pid == r->p[i].ppid &&
		    !strcmp(r->p[by_pid[lo]].host, r->p[i].host))
			mg_runs_join(r, i, by_pid[lo]);
	}
}

/* Each run's time range, indexed by its root. */
static int mg_runs_ranges(mg_runs *r)
{
	r->run_start = malloc(r->n * sizeof *r->run_start);
	r->run_end = malloc(r->n * sizeof *r->run_end);
	if (!r->run_start || !r->run_end)
		return -1;
	for (size_t i = 0; i < r->n; i++) {
		r->run_start[i] = INT64_MAX;
		r->run_end[i] = INT64_MIN;
	}
	for (size_t i = 0; i < r->n; i++) {
		size_t g = mg_runs_find(r, i);
		if (r->p[i].start_ns < r->run_start[g])
			r->run_start[g] = r->p[i].start_ns;
		if (r->p[i].end_ns > r->run_end[g])
			r->run_end[g] = r->p[i].end_ns;
	}
	return 0;
}

/* 1 if processes a and b (same host and exe) are of runs that do not
 * overlap in time. */
static int mg_runs_apart(mg_runs *r, size_t a, size_t b)
{
	size_t ga = mg_runs_find(r, a), gb = mg_runs_find(r, b);
	return ga != gb && (r->run_end[ga] < r->run_start[gb] || r->run_end[gb] < r->run_start[ga]);
}

static void mg_runs_message(mg_runs *r, size_t a, size_t b, char *line, size_t cap)
{
	if (r->p[a].start_ns > r->p[b].start_ns) {
		size_t t = a;
		a = b;
		b = t;
	}
	double gap_s =
	    (double)(r->run_start[mg_runs_find(r, b)] - r->run_end[mg_runs_find(r, a)]) / 1e9;
	snprintf(line, cap,
	         "spanprof merge: warning: the inputs hold separate runs of %s (pid %" PRId64
	         " and pid %" PRId64 ", unrelated, the second starting %.3f s after the first "
	         "ended): their numbers add up; merge one run's directory (docs/schema.md, "
	         "\"Runs\")",
	         r->p[a].exe, r->p[a].pid, r->p[b].pid, gap_s);
}

/* Finds two processes of one exe in runs apart in time. Pairs of one run
 * cost one integer comparison (roots are resolved first): 10 000
 * processes take ~50 ms. */
static int mg_runs_find_mixed(mg_runs *r, char *line, size_t cap)
{
	for (size_t i = 0; i < r->n; i++)
		r->p[i].parent = mg_runs_find(r, i);
	for (size_t a = 0; a < r->n; a++) {
		for (size_t b = a + 1; b < r->n; b++) {
			if (r->p[a].parent == r->p[b].parent || strcmp(r->p[a].exe, r->p[b].exe) ||
			    strcmp(r->p[a].host, r->p[b].host) || !mg_runs_apart(r, a, b))
				continue;
			mg_runs_message(r, a, b, line, cap);
			return 1;
		}
	}
	return 0;
}

int mg_runs_check(sqlite3 *db, char *line, size_t cap)
{
	mg_runs r = {0};
	size_t *idx = NULL;
	int rc = -1;
	line[0] = '\0';
	if (mg_runs_load(db, &r) < 0 || (r.n && !(idx = malloc(r.n * sizeof *idx))))
		goto out;
	for (size_t i = 0; i < r.n; i++)
		idx[i] = i;
	mg_runs_join_equal(&r, idx, 1);
	mg_runs_join_equal(&r, idx, 0); /* leaves idx sorted by (host, pid) */
	mg_runs_join_parents(&r, idx);
	if (r.n && mg_runs_ranges(&r) < 0)
		goto out;
	rc = mg_runs_find_mixed(&r, line, cap);
out:
	for (size_t i = 0; i < r.n; i++) {
		free(r.p[i].host);
		free(r.p[i].exe);
	}
	free(r.p);
	free(r.run_start);
	free(r.run_end);
	free(idx);
	return rc;
}
