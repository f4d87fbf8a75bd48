/*
 * export_tables.c - the per-function, per-frame and per-stack tables the
 * formats share, loaded once from the database. Memory: they grow with
 * the number of distinct call sites, never with the number of samples or
 * spans; samples and spans are streamed from SQLite cursors.
 *
 * Threading: single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export_int.h"
#include "spanprof.h"

/* The name of a frame: its function, else module+offset. P: table prefix. */
#define MG_XNAME_EXPR(P)                                                                           \
	"COALESCE(NULLIF(" P "func, ''), printf('%s+0x%x', COALESCE(" P "module, '?'), "           \
	"COALESCE(" P "rel_pc, 0)))"

static char *dup_col(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return s ? strdup((const char *)s) : NULL;
}

int mg_export_load_funcs(struct mg_export *x)
{
	int rc = mg_export_exec(
	    x, "CREATE TEMP TABLE x_funcs(idx INTEGER PRIMARY KEY, name TEXT, "
	       "module TEXT, file TEXT, UNIQUE(name, module));"
	       "INSERT INTO x_funcs(name, module, file) SELECT " MG_XNAME_EXPR(
	           "") ", COALESCE(module, ''), min(file) FROM main.frames GROUP BY 1, 2 "
	               "ORDER BY 1, 2;");
	sqlite3_stmt *st = rc ? NULL
	                      : mg_export_prepare(x, "SELECT name, module, file FROM x_funcs "
	                                             "ORDER BY idx");
	if (!st)
		return -SP_EIO;
	size_t cap = 0;
	while ((rc = mg_export_step(x, st)) == 1) {
		if (MG_GROW_ONE(x->funcs, cap, x->nfuncs)) {
			rc = -SP_ENOMEM;
			break;
		}
		struct mg_xfunc *f = &x->funcs[x->nfuncs++];
		f->name = dup_col(st, 0);
		f->module = dup_col(st, 1);
		f->file = dup_col(st, 2);
	}
	sqlite3_finalize(st);
	return rc;
}

int mg_export_load_frames(struct mg_export *x)
{
	sqlite3_stmt *st = mg_export_prepare(
	    x, "SELECT f.frame_id, x.idx - 1, COALESCE(f.line, 0) FROM main.frames f "
	       "JOIN x_funcs x ON x.name = " MG_XNAME_EXPR(
	           "f.") " AND x.module = COALESCE(f.module, '') ORDER BY f.frame_id");
	if (!st)
		return -SP_EIO;
	size_t cap = 0;
	int rc;
	while ((rc = mg_export_step(x, st)) == 1) {
		if (MG_GROW_ONE(x->frames, cap, x->nframes)) {
			rc = -SP_ENOMEM;
			break;
		}
		struct mg_xframe *f = &x->frames[x->nframes++];
		f->frame_id = sqlite3_column_int64(st, 0);
		f->func_idx = (int32_t)sqlite3_column_int64(st, 1);
		f->line = (int32_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc;
}

static int32_t frame_idx(const struct mg_export *x, int64_t frame_id)
{
	size_t lo = 0, hi = x->nframes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->frames[mid].frame_id < frame_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->nframes && x->frames[lo].frame_id == frame_id ? (int32_t)lo : -1;
}

int32_t mg_export_stack_idx(const struct mg_export *x, int64_t stack_id)
{
	size_t lo = 0, hi = x->nstacks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->stacks[mid].stack_id < stack_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->nstacks && x->stacks[lo].stack_id == stack_id ? (int32_t)lo : -1;
}

const char *mg_export_stack_name(const struct mg_export *x, int32_t stack_idx)
{
	int32_t f = x->stacks[stack_idx].frame_idx;
	if (f < 0)
		return "[unknown]";
	const char *name = x->funcs[x->frames[f].func_idx].name;
	return name ? name : "[unknown]";
}

static int cmp_depth_order(const void *a, const void *b, void *arg)
{
	const struct mg_xstack *s = arg;
	const struct mg_xstack *p = &s[*(const int32_t *)a], *q = &s[*(const int32_t *)b];
	if (p->depth != q->depth)
		return p->depth < q->depth ? -1 : 1;
	return p->stack_id < q->stack_id ? -1 : p->stack_id > q->stack_id;
}

/* Numbers the stacks parents-first (firefox needs prefix < index) and
 * checks the trie: every parent must come before its child. */
static int order_stacks(struct mg_export *x)
{
	int32_t *perm = malloc((x->nstacks + 1) * sizeof *perm);
	if (!perm)
		return -SP_ENOMEM;
	for (size_t i = 0; i < x->nstacks; i++)
		perm[i] = (int32_t)i;
	qsort_r(perm, x->nstacks, sizeof *perm, cmp_depth_order, x->stacks);
	for (size_t i = 0; i < x->nstacks; i++)
		x->stacks[perm[i]].order = (int32_t)i;
	free(perm);
	for (size_t i = 0; i < x->nstacks; i++) {
		int32_t p = x->stacks[i].parent_idx;
		if (p >= 0 && x->stacks[p].order >= x->stacks[i].order) {
			mg_err_set(-SP_ECORRUPT,
			           "%s: stacks: node %" PRId64 " is not deeper than its parent",
			           x->opts->db_path, x->stacks[i].stack_id);
			return -SP_ECORRUPT;
		}
	}
	return 0;
}

int mg_export_load_stacks(struct mg_export *x)
{
	sqlite3_stmt *st = mg_export_prepare(
	    x, "SELECT stack_id, parent_id, frame_id, depth FROM main.stacks ORDER BY stack_id");
	if (!st)
		return -SP_EIO;
	size_t cap = 0;
	int64_t *parents = NULL;
	size_t pcap = 0;
	int rc;
	while ((rc = mg_export_step(x, st)) == 1) {
		if (MG_GROW_ONE(x->stacks, cap, x->nstacks) ||
		    MG_GROW_ONE(parents, pcap, x->nstacks)) {
			rc = -SP_ENOMEM;
			break;
		}
		struct mg_xstack *s = &x->stacks[x->nstacks];
		s->stack_id = sqlite3_column_int64(st, 0);
		parents[x->nstacks] = sqlite3_column_type(st, 1) == SQLITE_NULL
		                          ? INT64_MIN
		                          : sqlite3_column_int64(st, 1);
		s->frame_idx = frame_idx(x, sqlite3_column_int64(st, 2));
		s->depth = (int32_t)sqlite3_column_int64(st, 3);
		x->nstacks++;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; rc == 0 && i < x->nstacks; i++)
		x->stacks[i].parent_idx =
		    parents[i] == INT64_MIN ? -1 : mg_export_stack_idx(x, parents[i]);
	free(parents);
	return rc ? rc : order_stacks(x);
}

void mg_export_free_tables(struct mg_export *x)
{
	for (size_t i = 0; i < x->nfuncs; i++) {
		free(x->funcs[i].name);
		free(x->funcs[i].module);
		free(x->funcs[i].file);
	}
	free(x->funcs);
	free(x->frames);
	free(x->stacks);
}
