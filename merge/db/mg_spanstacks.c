/*
 * mg_spanstacks.c - see mg_spanstacks.h.
 *
 * Three scans, each in the order SQLite stores the rows:
 * 1. spans by name (the spans_name index when it exists): each distinct
 *    name gets a dense index (rows of one name come together, so one
 *    comparison with the previous name interns it);
 * 2. span_ancestors by (span_id, distance): each span gets its "name set",
 *    the sorted distinct names of itself and its ancestors, interned (a
 *    program has few distinct sets: request, request+parse, ...);
 * 3. samples: summed per (name set, stack), then spread over the names of
 *    each set and written.
 * The answers are those of the SQL that span_func_time ran before this
 * table (tests/merge/merge_spanstacks_test.c compares them): an ancestor
 * row whose ancestor is not in spans names nothing, a sample whose span
 * has no ancestor rows counts for no name, and a sum of weights that are
 * all NULL is NULL.
 *
 * Per-span data lives in arrays indexed by span_id - min(span_id) when
 * the ids are dense (merge hands them out so), else in a hash map.
 * Memory: 8 bytes per span id in the range, plus the (small) sets and sums.
 */
#include "mg_spanstacks.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_hash.h"

typedef struct mg_sum {
	int64_t stack;
	uint32_t key;         /* the set, then the name */
	int64_t n, w, w_rows; /* samples, sum of weights, non-NULL weights */
} mg_sum;

typedef struct mg_set {
	uint32_t off, len; /* the set's names: pool[off] .. pool[off + len - 1] */
} mg_set;

typedef struct mg_ss {
	/* span names, by index; NULL for a span without a name */
	char **names;
	size_t n_names, cap_names;
	/* per span: name index and name-set index, -1 for none */
	int64_t min_id;
	size_t range; /* 0: the hash map below holds every span */
	int32_t *name_of, *set_of;
	mg_hash sparse; /* span_id -> (name + 1) | (set + 1) << 32 */
	/* name sets, their names in pool */
	uint32_t *pool;
	mg_set *sets;
	size_t n_pool, cap_pool, n_sets, cap_sets;
	mg_hash set_index; /* hash of the sorted ids -> set index */
	/* sums per (set, stack), then per (name, stack) */
	mg_sum *sums;
	size_t n_sums, cap_sums;
	mg_hash sum_index;
} mg_ss;

static int mg_ss_grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* The slot of span id in the arrays, or -1 if it is kept in the map. */
static int64_t mg_ss_slot(const mg_ss *ss, int64_t id)
{
	if (ss->range && id >= ss->min_id && (uint64_t)(id - ss->min_id) < ss->range)
		return id - ss->min_id;
	return -1;
}

static int32_t mg_ss_get(const mg_ss *ss, int64_t id, int set)
{
	int64_t i = mg_ss_slot(ss, id);
	if (i >= 0)
		return set ? ss->set_of[i] : ss->name_of[i];
	uint64_t *v = mg_hash_get(&ss->sparse, (uint64_t)id, 0);
	if (!v)
		return -1;
	return (int32_t)(set ? (*v >> 32) : (*v & 0xffffffffu)) - 1;
}

static int mg_ss_put(mg_ss *ss, int64_t id, int set, int32_t value)
{
	int64_t i = mg_ss_slot(ss, id);
	if (i >= 0) {
		(set ? ss->set_of : ss->name_of)[i] = value;
		return 0;
	}
	uint64_t *old = mg_hash_get(&ss->sparse, (uint64_t)id, 0);
	uint64_t v = old ? *old : 0;
	if (set)
		v = (v & 0xffffffffu) | (uint64_t)(uint32_t)(value + 1) << 32;
	else
		v = (v & ~(uint64_t)0xffffffffu) | (uint32_t)(value + 1);
	return mg_hash_put(&ss->sparse, (uint64_t)id, 0, v) ? -1 : 0;
}

static int64_t mg_ss_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Arrays over [min, max] of span ids when that range is not much larger
 * than the number of spans; else everything goes to the map. */
static int mg_ss_alloc(mg_ss *ss, sqlite3 *db)
{
	int64_t lo = mg_ss_int(db, "SELECT coalesce(min(span_id), 0) FROM main.spans");
	int64_t hi = mg_ss_int(db, "SELECT coalesce(max(span_id), -1) FROM main.spans");
	int64_t n = mg_ss_int(db, "SELECT count(*) FROM main.spans");
	if (n < 0)
		return -1;
	if (hi < lo || (uint64_t)(hi - lo) >= 4 * (uint64_t)n + (1u << 20))
		return 0;
	ss->min_id = lo;
	ss->range = (size_t)(hi - lo) + 1;
	ss->name_of = malloc(ss->range * sizeof *ss->name_of);
	ss->set_of = malloc(ss->range * sizeof *ss->set_of);
	if (!ss->name_of || !ss->set_of)
		return -1;
	memset(ss->name_of, 0xff, ss->range * sizeof *ss->name_of);
	memset(ss->set_of, 0xff, ss->range * sizeof *ss->set_of);
	return 0;
}

static int mg_ss_read_names(mg_ss *ss, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT span_id, name FROM main.spans ORDER BY name", -1,
	                            &st, NULL);
	int32_t cur = -1;
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *last = cur >= 0 ? ss->names[cur] : NULL;
		if (cur < 0 || (name == NULL) != (last == NULL) || (name && strcmp(name, last))) {
			if (mg_ss_grow((void **)&ss->names, &ss->cap_names, ss->n_names + 1,
			               sizeof *ss->names))
				break;
			char *copy = name ? strdup(name) : NULL;
			if (name && !copy)
				break;
			cur = (int32_t)ss->n_names;
			ss->names[ss->n_names++] = copy;
		}
		rc = mg_ss_put(ss, sqlite3_column_int64(st, 0), 0, cur) ? SQLITE_NOMEM : SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int mg_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The index of the set of n names in ids (sorted here, duplicates
 * dropped), added if new; -1 for an empty set, -2 out of memory. */
static int64_t mg_ss_intern_set(mg_ss *ss, uint32_t *ids, size_t n)
{
	if (n == 0)
		return -1;
	qsort(ids, n, sizeof *ids, mg_cmp_u32);
	size_t k = 1;
	for (size_t i = 1; i < n; i++)
		if (ids[i] != ids[k - 1])
			ids[k++] = ids[i];
	uint64_t h1 = 0xcbf29ce484222325ull, h2 = k;
	for (size_t i = 0; i < k; i++) {
		h1 = (h1 ^ ids[i]) * 0x100000001b3ull;
		h2 = (h2 + ids[i] + 1) * 0xff51afd7ed558ccdull;
		h2 ^= h2 >> 33;
	}
	for (;; h2++) { /* a different set with the same hash takes the next key */
		uint64_t *v = mg_hash_get(&ss->set_index, h1, h2);
		if (!v)
			break;
		if (ss->sets[*v].len == k &&
		    !memcmp(ss->pool + ss->sets[*v].off, ids, k * sizeof *ids))
			return (int64_t)*v;
	}
	if (mg_ss_grow((void **)&ss->pool, &ss->cap_pool, ss->n_pool + k, sizeof *ss->pool) ||
	    mg_ss_grow((void **)&ss->sets, &ss->cap_sets, ss->n_sets + 1, sizeof *ss->sets))
		return -2;
	memcpy(ss->pool + ss->n_pool, ids, k * sizeof *ids);
	ss->sets[ss->n_sets] = (mg_set){(uint32_t)ss->n_pool, (uint32_t)k};
	ss->n_pool += k;
	if (mg_hash_put(&ss->set_index, h1, h2, ss->n_sets))
		return -2;
	return (int64_t)ss->n_sets++;
}

/* Each span's set: the names of the spans among its ancestor rows. */
static int mg_ss_read_sets(mg_ss *ss, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	uint32_t *ids = NULL;
	size_t n = 0, cap = 0;
	int64_t span = 0;
	int have = 0;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT span_id, ancestor_id FROM main.span_ancestors"
	                            " ORDER BY span_id, distance",
	                            -1, &st, NULL);
	for (;;) {
		int row =
		    (rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW;
		int64_t id = row ? sqlite3_column_int64(st, 0) : 0;
		if (have && (!row || id != span)) { /* the span's rows are all read */
			int64_t set = mg_ss_intern_set(ss, ids, n);
			if (set < -1 || (set >= 0 && mg_ss_put(ss, span, 1, (int32_t)set))) {
				rc = SQLITE_NOMEM;
				break;
			}
			n = 0;
		}
		if (!row)
			break;
		span = id;
		have = 1;
		int32_t name = mg_ss_get(ss, sqlite3_column_int64(st, 1), 0);
		if (name < 0)
			continue; /* an ancestor no longer in spans */
		if (mg_ss_grow((void **)&ids, &cap, n + 1, sizeof *ids)) {
			rc = SQLITE_NOMEM;
			break;
		}
		ids[n++] = (uint32_t)name;
	}
	sqlite3_finalize(st);
	free(ids);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The sums of (key, stack), added if new; NULL out of memory. */
static mg_sum *mg_ss_sum(mg_ss *ss, uint32_t key, int64_t stack)
{
	uint64_t *v = mg_hash_get(&ss->sum_index, key, (uint64_t)stack);
	if (v)
		return &ss->sums[*v];
	if (mg_ss_grow((void **)&ss->sums, &ss->cap_sums, ss->n_sums + 1, sizeof *ss->sums) ||
	    mg_hash_put(&ss->sum_index, key, (uint64_t)stack, ss->n_sums))
		return NULL;
	ss->sums[ss->n_sums] = (mg_sum){stack, key, 0, 0, 0};
	return &ss->sums[ss->n_sums++];
}

static int mg_ss_read_samples(mg_ss *ss, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t last_span = 0;
	int32_t set = -1;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT span_id, stack_id, weight_ns FROM main.samples"
	                            " WHERE span_id IS NOT NULL AND stack_id IS NOT NULL",
	                            -1, &st, NULL);
	for (int first = 1;
	     (rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW;
	     first = 0) {
		int64_t span = sqlite3_column_int64(st, 0);
		if (first || span != last_span) {
			last_span = span;
			set = mg_ss_get(ss, span, 1);
		}
		if (set < 0)
			continue;
		mg_sum *s = mg_ss_sum(ss, (uint32_t)set, sqlite3_column_int64(st, 1));
		if (!s) {
			rc = SQLITE_NOMEM;
			break;
		}
		s->n++;
		if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
			s->w += sqlite3_column_int64(st, 2);
			s->w_rows++;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Per (set, stack) -> per (name, stack): each set's sums go to each of its
 * names. The per-set sums stay first in the arrays; the rest are new. */
static int mg_ss_spread(mg_ss *ss, size_t *first)
{
	size_t n_set_sums = ss->n_sums;
	mg_hash_free(&ss->sum_index);
	*first = n_set_sums;
	for (size_t i = 0; i < n_set_sums; i++) {
		mg_set set = ss->sets[ss->sums[i].key];
		for (uint32_t k = 0; k < set.len; k++) {
			mg_sum *t = mg_ss_sum(ss, ss->pool[set.off + k], ss->sums[i].stack);
			if (!t)
				return -1;
			mg_sum s = ss->sums[i]; /* read after: the call may move the array */
			t->n += s.n;
			t->w += s.w;
			t->w_rows += s.w_rows;
		}
	}
	return 0;
}

static int mg_ss_write(mg_ss *ss, sqlite3 *db, size_t first)
{
	sqlite3_stmt *st = NULL;
	int rc =
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO main.span_name_stacks(span_name, stack_id, samples,"
	                       " weight_ns) VALUES(?,?,?,?)",
	                       -1, &st, NULL);
	for (size_t i = first; rc == SQLITE_OK && i < ss->n_sums; i++) {
		const char *name = ss->names[ss->sums[i].key];
		if (name)
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 1);
		sqlite3_bind_int64(st, 2, ss->sums[i].stack);
		sqlite3_bind_int64(st, 3, ss->sums[i].n);
		if (ss->sums[i].w_rows)
			sqlite3_bind_int64(st, 4, ss->sums[i].w);
		else
			sqlite3_bind_null(st, 4);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : -1;
}

static void mg_ss_free(mg_ss *ss)
{
	for (size_t i = 0; i < ss->n_names; i++)
		free(ss->names[i]);
	free(ss->names);
	free(ss->name_of);
	free(ss->set_of);
	mg_hash_free(&ss->sparse);
	free(ss->pool);
	free(ss->sets);
	mg_hash_free(&ss->set_index);
	free(ss->sums);
	mg_hash_free(&ss->sum_index);
}

int mg_span_stacks_fill(sqlite3 *db)
{
	mg_ss ss = {0};
	size_t first = 0;
	int err =
	    sqlite3_exec(db, "DELETE FROM main.span_name_stacks", NULL, NULL, NULL) != SQLITE_OK ||
	    mg_ss_alloc(&ss, db) || mg_ss_read_names(&ss, db) || mg_ss_read_sets(&ss, db) ||
	    mg_ss_read_samples(&ss, db) || mg_ss_spread(&ss, &first) || mg_ss_write(&ss, db, first);
	if (err)
		fprintf(stderr, "spanprof merge: summing samples per span name: %s\n",
		        sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db) : "out of memory");
	mg_ss_free(&ss);
	return err ? -1 : 0;
}
