/*
 * mg_spanstacks.c - see mg_spanstacks.h.
 *
 * Four scans, each in the order SQLite stores the rows:
 * 1. spans by name (the spans_name index): each distinct name gets a dense
 *    index (rows of one name come together, so one comparison with the
 *    previous name interns it);
 * 2. span_attrs: each distinct (key, value) pair gets an index, and each
 *    span the list of its own pairs;
 * 3. span_ancestors by (span_id, distance): each span gets a "class", the
 *    pair of its name set (the distinct names of itself and its
 *    ancestors) and its attribute set (for each key, the pair of the
 *    nearest span that has it), both interned: a program has few classes;
 * 4. samples (those with a stack): summed per stack; per (name set,
 *    stack), then spread over the names of each set; and per (pair,
 *    stack) for each pair of the sample's span (memory: the rows written,
 *    not a sum per span).
 * The answers are those of the SQL of func_time and span_func_time before
 * these tables and of sample_attrs (tests/merge/merge_spanstacks.c
 * compares them): an
 * ancestor row whose ancestor is not in spans counts for nothing, a
 * sample whose span has no ancestor rows counts for no name, and a sum of
 * weights that are all NULL is NULL. Values keep their type: an integer 1
 * and a real 1.0 are two rows here (a GROUP BY value over them makes one
 * group, as over sample_attrs).
 *
 * Per-span data lives in arrays indexed by span_id - min(span_id) when
 * the ids are dense (merge hands them out so); other ids get a slot after
 * those through a hash map. Memory: 12 bytes per span id in the range,
 * 8 per attribute, plus the (small) sets and sums.
 */
#include "mg_spanstacks.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_db.h"
#include "mg_err.h"
#include "mg_hash.h"
#include "mg_strtab.h"
#include "spanprof.h"

typedef struct mg_sum {
	int64_t stack;
	uint32_t key;         /* a name set, a name or a pair */
	int64_t n, w, w_rows; /* samples, sum of weights, non-NULL weights */
} mg_sum;

typedef struct mg_sums {
	mg_sum *v;
	size_t n, cap;
	mg_hash index; /* (key, stack) -> index in v */
} mg_sums;

typedef struct mg_set {
	uint32_t off, len; /* the members: pool[off] .. pool[off + len - 1] */
} mg_set;

/* Interned sets of small integers (name indexes, pair indexes). */
typedef struct mg_sets {
	uint32_t *pool;
	mg_set *v;
	size_t n_pool, cap_pool, n, cap;
	mg_hash index; /* hash of the sorted members -> index in v */
} mg_sets;

/* A (key, value) pair of span_attrs; value keeps its type. */
typedef struct mg_kv {
	uint32_t key; /* index in keys */
	sqlite3_value *value;
} mg_kv;

typedef struct mg_attr {
	uint32_t kv;
	int32_t next; /* the span's next attribute, -1 at the end */
} mg_attr;

typedef struct mg_ss {
	char **names; /* span names, by index; NULL for a span without one */
	size_t n_names, cap_names;
	mg_strtab keys;
	mg_kv *kvs;
	size_t n_kvs, cap_kvs;
	mg_hash kv_index;
	mg_attr *attrs;
	size_t n_attrs, cap_attrs;
	/* per span slot: name, class, first attribute; -1 for none */
	int64_t min_id;
	size_t range, n_slots, cap_slots;
	int32_t *name_of, *class_of, *attr_of;
	mg_hash slot_of; /* span ids outside the range -> slot */
	mg_sets name_sets, attr_sets;
	int32_t *class_names, *class_attrs; /* per class: its two sets, -1 for none */
	size_t n_classes, cap_classes;
	mg_hash class_index;
	uint8_t *key_wide; /* per key: more than MG_SS_MAX_VALUES values */
	mg_sums by_set, by_name, by_kv, by_stack;
} mg_ss;

/* Keys with more distinct values (request ids, file names) get no rows
 * in span_attr_stacks: a row per value and stack would be about a row per
 * sample, and a question per value of such a key is one per span. */
#define MG_SS_MAX_VALUES 1000

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

/* The slot of a span id; with add, a new one (all -1) if it has none.
 * -1 when it has none, -2 out of memory. */
static int64_t mg_ss_slot(mg_ss *ss, int64_t id, int add)
{
	if (ss->range && id >= ss->min_id && (uint64_t)(id - ss->min_id) < ss->range)
		return id - ss->min_id;
	uint64_t *v = mg_hash_get(&ss->slot_of, (uint64_t)id, 0);
	if (v || !add)
		return v ? (int64_t)*v : -1;
	size_t cap = ss->cap_slots, c2 = ss->cap_slots, c3 = ss->cap_slots;
	if (mg_ss_grow((void **)&ss->name_of, &cap, ss->n_slots + 1, sizeof(int32_t)) ||
	    mg_ss_grow((void **)&ss->class_of, &c2, ss->n_slots + 1, sizeof(int32_t)) ||
	    mg_ss_grow((void **)&ss->attr_of, &c3, ss->n_slots + 1, sizeof(int32_t)) ||
	    mg_hash_put(&ss->slot_of, (uint64_t)id, 0, ss->n_slots))
		return -2;
	ss->cap_slots = cap;
	ss->name_of[ss->n_slots] = ss->class_of[ss->n_slots] = ss->attr_of[ss->n_slots] = -1;
	return (int64_t)ss->n_slots++;
}

/* Slots for [min, max] of span ids when that range is not much larger
 * than the number of spans; the other ids get slots after them. */
static int mg_ss_alloc(mg_ss *ss, sqlite3 *db)
{
	int64_t lo = mg_db_int(db, "SELECT coalesce(min(span_id), 0) FROM main.spans");
	int64_t hi = mg_db_int(db, "SELECT coalesce(max(span_id), -1) FROM main.spans");
	int64_t n = mg_db_int(db, "SELECT count(*) FROM main.spans");
	if (n < 0)
		return -1;
	if (hi < lo || (uint64_t)(hi - lo) >= 4 * (uint64_t)n + (1u << 20))
		return 0;
	ss->min_id = lo;
	ss->range = ss->n_slots = ss->cap_slots = (size_t)(hi - lo) + 1;
	ss->name_of = malloc(ss->range * sizeof(int32_t));
	ss->class_of = malloc(ss->range * sizeof(int32_t));
	ss->attr_of = malloc(ss->range * sizeof(int32_t));
	if (!ss->name_of || !ss->class_of || !ss->attr_of)
		return -1;
	memset(ss->name_of, 0xff, ss->range * sizeof(int32_t));
	memset(ss->class_of, 0xff, ss->range * sizeof(int32_t));
	memset(ss->attr_of, 0xff, ss->range * sizeof(int32_t));
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
		int64_t slot = mg_ss_slot(ss, sqlite3_column_int64(st, 0), 1);
		if (slot < 0)
			break;
		ss->name_of[slot] = cur;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The index of the pair (key, column 2 of st), added if new; -1 out of
 * memory. Pairs are equal when their keys, types and bytes are. */
static int64_t mg_ss_kv(mg_ss *ss, sqlite3_stmt *st)
{
	const char *k = (const char *)sqlite3_column_text(st, 1);
	int64_t key = mg_strtab_intern(&ss->keys, k ? k : "", NULL);
	if (key < 0)
		return -1;
	int type = sqlite3_column_type(st, 2);
	int64_t i = 0;
	double d = 0;
	const unsigned char *bytes = NULL;
	size_t len = 0;
	if (type == SQLITE_INTEGER)
		i = sqlite3_column_int64(st, 2);
	else if (type == SQLITE_FLOAT)
		d = sqlite3_column_double(st, 2);
	else if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
		bytes =
		    type == SQLITE_TEXT ? sqlite3_column_text(st, 2) : sqlite3_column_blob(st, 2);
		len = (size_t)sqlite3_column_bytes(st, 2);
	}
	if (type == SQLITE_FLOAT)
		memcpy(&i, &d, sizeof i);
	mg_hash128 h = mg_hash128_init((uint64_t)key);
	mg_hash128_add(&h, (uint64_t)type);
	mg_hash128_add(&h, (uint64_t)i);
	mg_hash128_add(&h, len);
	for (size_t b = 0; b < len; b++)
		mg_hash128_add(&h, bytes[b]);
	for (;; h.h2++) { /* a different pair with the same hash takes the next key */
		uint64_t *v = mg_hash_get(&ss->kv_index, h.h1, h.h2);
		if (!v)
			break;
		sqlite3_value *o = ss->kvs[*v].value;
		if (ss->kvs[*v].key != (uint32_t)key || sqlite3_value_type(o) != type)
			continue;
		if (type == SQLITE_INTEGER && sqlite3_value_int64(o) == i)
			return (int64_t)*v;
		if (type == SQLITE_FLOAT) {
			double od = sqlite3_value_double(o);
			if (!memcmp(&od, &d, sizeof d))
				return (int64_t)*v;
		}
		if ((type == SQLITE_TEXT || type == SQLITE_BLOB) &&
		    (size_t)sqlite3_value_bytes(o) == len &&
		    (len == 0 ||
		     !memcmp(type == SQLITE_TEXT ? sqlite3_value_text(o) : sqlite3_value_blob(o),
		             bytes, len)))
			return (int64_t)*v;
		if (type == SQLITE_NULL)
			return (int64_t)*v;
	}
	sqlite3_value *copy = sqlite3_value_dup(sqlite3_column_value(st, 2));
	if (!copy || mg_ss_grow((void **)&ss->kvs, &ss->cap_kvs, ss->n_kvs + 1, sizeof *ss->kvs) ||
	    mg_hash_put(&ss->kv_index, h.h1, h.h2, ss->n_kvs)) {
		sqlite3_value_free(copy);
		return -1;
	}
	ss->kvs[ss->n_kvs] = (mg_kv){(uint32_t)key, copy};
	return (int64_t)ss->n_kvs++;
}

static int mg_ss_read_attrs(mg_ss *ss, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT span_id, key, value FROM main.span_attrs"
	                            " WHERE span_id IS NOT NULL ORDER BY rowid DESC",
	                            -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t slot = mg_ss_slot(ss, sqlite3_column_int64(st, 0), 1);
		int64_t kv = slot < -1 ? -1 : mg_ss_kv(ss, st);
		if (kv < 0 || mg_ss_grow((void **)&ss->attrs, &ss->cap_attrs, ss->n_attrs + 1,
		                         sizeof *ss->attrs))
			break;
		/* rows read last first and put at the head: the list is in row order */
		ss->attrs[ss->n_attrs] = (mg_attr){(uint32_t)kv, ss->attr_of[slot]};
		ss->attr_of[slot] = (int32_t)ss->n_attrs++;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int mg_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The index of the set of n members in ids (sorted here, duplicates
 * dropped), added if new; -1 for an empty set, -2 out of memory. */
static int64_t mg_sets_intern(mg_sets *s, uint32_t *ids, size_t n)
{
	if (n == 0)
		return -1;
	qsort(ids, n, sizeof *ids, mg_cmp_u32);
	size_t k = 1;
	for (size_t i = 1; i < n; i++)
		if (ids[i] != ids[k - 1])
			ids[k++] = ids[i];
	mg_hash128 h = mg_hash128_init(k);
	for (size_t i = 0; i < k; i++)
		mg_hash128_add(&h, ids[i]);
	for (;; h.h2++) { /* a different set with the same hash takes the next key */
		uint64_t *v = mg_hash_get(&s->index, h.h1, h.h2);
		if (!v)
			break;
		if (s->v[*v].len == k && !memcmp(s->pool + s->v[*v].off, ids, k * sizeof *ids))
			return (int64_t)*v;
	}
	if (mg_ss_grow((void **)&s->pool, &s->cap_pool, s->n_pool + k, sizeof *s->pool) ||
	    mg_ss_grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v) ||
	    mg_hash_put(&s->index, h.h1, h.h2, s->n))
		return -2;
	memcpy(s->pool + s->n_pool, ids, k * sizeof *ids);
	s->v[s->n] = (mg_set){(uint32_t)s->n_pool, (uint32_t)k};
	s->n_pool += k;
	return (int64_t)s->n++;
}

/* The class of (name set, attribute set), added if new; -1 for two empty
 * sets, -2 out of memory. */
static int64_t mg_ss_class(mg_ss *ss, int64_t names, int64_t attrs)
{
	if (names < 0 && attrs < 0)
		return -1;
	uint64_t *v = mg_hash_get(&ss->class_index, (uint64_t)(names + 1), (uint64_t)(attrs + 1));
	if (v)
		return (int64_t)*v;
	size_t cap = ss->cap_classes;
	if (mg_ss_grow((void **)&ss->class_names, &cap, ss->n_classes + 1, sizeof(int32_t)) ||
	    mg_ss_grow((void **)&ss->class_attrs, &ss->cap_classes, ss->n_classes + 1,
	               sizeof(int32_t)) ||
	    mg_hash_put(&ss->class_index, (uint64_t)(names + 1), (uint64_t)(attrs + 1),
	                ss->n_classes))
		return -2;
	ss->class_names[ss->n_classes] = (int32_t)names;
	ss->class_attrs[ss->n_classes] = (int32_t)attrs;
	return (int64_t)ss->n_classes++;
}

/* One span's ancestors, nearest first, are in anc[0..n): its class. */
static int mg_ss_classify(mg_ss *ss, int64_t span, const int64_t *anc, size_t n, uint32_t *names,
                          uint32_t *pairs, uint32_t *seen, uint32_t stamp)
{
	size_t n_names = 0, n_pairs = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t slot = mg_ss_slot(ss, anc[i], 0);
		if (slot < 0)
			continue; /* an ancestor no longer in spans */
		if (ss->name_of[slot] >= 0)
			names[n_names++] = (uint32_t)ss->name_of[slot];
		for (int32_t a = ss->attr_of[slot]; a >= 0; a = ss->attrs[a].next) {
			uint32_t kv = ss->attrs[a].kv, key = ss->kvs[kv].key;
			if (seen[key] != stamp) { /* the nearest span with the key wins */
				seen[key] = stamp;
				if (!ss->key_wide[key])
					pairs[n_pairs++] = kv;
			}
		}
	}
	int64_t ns = mg_sets_intern(&ss->name_sets, names, n_names);
	int64_t as = mg_sets_intern(&ss->attr_sets, pairs, n_pairs);
	int64_t c = ns < -1 || as < -1 ? -2 : mg_ss_class(ss, ns, as);
	int64_t slot = c < 0 ? -1 : mg_ss_slot(ss, span, 1);
	if (c < -1 || slot < -1)
		return -1;
	if (slot >= 0)
		ss->class_of[slot] = (int32_t)c;
	return 0;
}

static int mg_ss_read_ancestors(mg_ss *ss, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t *anc = NULL, span = 0;
	uint32_t *names = NULL, *pairs = NULL, stamp = 0;
	uint32_t *seen = calloc(ss->keys.count + 1, sizeof *seen);
	size_t n = 0, cap = 0, cap_names = 0, cap_pairs = 0, max_attrs = 0;
	int have = 0;
	size_t *values = calloc(ss->keys.count + 1, sizeof *values);
	ss->key_wide = calloc(ss->keys.count + 1, 1);
	if (!values || !ss->key_wide)
		seen = (free(seen), NULL);
	for (size_t i = 0; seen && i < ss->n_kvs; i++)
		if (++values[ss->kvs[i].key] > MG_SS_MAX_VALUES)
			ss->key_wide[ss->kvs[i].key] = 1;
	free(values);
	/* the most attributes one span has: a bound on a class's pairs per ancestor */
	for (size_t s = 0; s < ss->n_slots; s++) {
		size_t k = 0;
		for (int32_t a = ss->attr_of[s]; a >= 0; a = ss->attrs[a].next)
			k++;
		max_attrs = k > max_attrs ? k : max_attrs;
	}
	int rc = seen ? sqlite3_prepare_v2(db,
	                                   "SELECT span_id, ancestor_id FROM main.span_ancestors"
	                                   " ORDER BY span_id, distance",
	                                   -1, &st, NULL)
	              : SQLITE_NOMEM;
	for (;;) {
		int row =
		    (rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW;
		int64_t id = row ? sqlite3_column_int64(st, 0) : 0;
		if (have && (!row || id != span)) { /* the span's rows are all read */
			if (mg_ss_grow((void **)&names, &cap_names, n, sizeof *names) ||
			    mg_ss_grow((void **)&pairs, &cap_pairs, n * max_attrs + 1,
			               sizeof *pairs) ||
			    mg_ss_classify(ss, span, anc, n, names, pairs, seen, ++stamp)) {
				rc = SQLITE_NOMEM;
				break;
			}
			n = 0;
		}
		if (!row)
			break;
		span = id;
		have = 1;
		if (mg_ss_grow((void **)&anc, &cap, n + 1, sizeof *anc)) {
			rc = SQLITE_NOMEM;
			break;
		}
		anc[n++] = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	free(anc);
	free(names);
	free(pairs);
	free(seen);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The sums of (key, stack) in s, added if new; NULL out of memory. */
static mg_sum *mg_sums_at(mg_sums *s, uint32_t key, int64_t stack)
{
	uint64_t *v = mg_hash_get(&s->index, key, (uint64_t)stack);
	if (v)
		return &s->v[*v];
	if (mg_ss_grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v) ||
	    mg_hash_put(&s->index, key, (uint64_t)stack, s->n))
		return NULL;
	s->v[s->n] = (mg_sum){stack, key, 0, 0, 0};
	return &s->v[s->n++];
}

static void mg_sums_free(mg_sums *s)
{
	free(s->v);
	mg_hash_free(&s->index);
}

/* Sums s (of one stack) into to: for each member of the set, or with
 * sets NULL for the set itself. */
static int mg_ss_add_to(mg_sums *to, const mg_sets *sets, int32_t set, const mg_sum *s)
{
	if (set < 0)
		return 0;
	for (uint32_t k = 0; k < (sets ? sets->v[set].len : 1); k++) {
		uint32_t key = sets ? sets->pool[sets->v[set].off + k] : (uint32_t)set;
		mg_sum *t = mg_sums_at(to, key, s->stack);
		if (!t)
			return -1;
		t->n += s->n;
		t->w += s->w;
		t->w_rows += s->w_rows;
	}
	return 0;
}

static int mg_ss_read_samples(mg_ss *ss, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t last_span = 0;
	int64_t cls = -1;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT span_id, stack_id, weight_ns FROM main.samples"
	                            " WHERE stack_id IS NOT NULL",
	                            -1, &st, NULL);
	for (int known = 0;
	     (rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW;) {
		mg_sum one = {sqlite3_column_int64(st, 1), 0, 1, 0, 0};
		if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
			one.w = sqlite3_column_int64(st, 2);
			one.w_rows = 1;
		}
		if (mg_ss_add_to(&ss->by_stack, NULL, 0, &one)) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			continue; /* outside any span */
		int64_t span = sqlite3_column_int64(st, 0);
		if (!known || span != last_span) {
			int64_t slot = mg_ss_slot(ss, span, 0);
			last_span = span;
			known = 1;
			cls = slot < 0 ? -1 : ss->class_of[slot];
		}
		if (cls < 0)
			continue;
		if (mg_ss_add_to(&ss->by_set, NULL, ss->class_names[cls], &one) ||
		    mg_ss_add_to(&ss->by_kv, &ss->attr_sets, ss->class_attrs[cls], &one)) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Per (name set, stack) -> per (name, stack). */
static int mg_ss_spread(mg_ss *ss)
{
	for (size_t i = 0; i < ss->by_set.n; i++) {
		const mg_sum *s = &ss->by_set.v[i];
		if (mg_ss_add_to(&ss->by_name, &ss->name_sets, (int32_t)s->key, s))
			return -1;
	}
	return 0;
}

enum { MG_SS_BY_NAME, MG_SS_BY_KV, MG_SS_BY_STACK };

/* Inserts the rows of one table: its key columns (a name; a key and a
 * value; none), then stack_id, samples, weight_ns. */
static int mg_ss_write_rows(mg_ss *ss, sqlite3 *db, const char *sql, const mg_sums *sums, int kind)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < sums->n; i++) {
		const mg_sum *s = &sums->v[i];
		int col = 1;
		if (kind == MG_SS_BY_NAME && ss->names[s->key])
			sqlite3_bind_text(st, col++, ss->names[s->key], -1, SQLITE_STATIC);
		else if (kind == MG_SS_BY_NAME)
			sqlite3_bind_null(st, col++);
		else if (kind == MG_SS_BY_KV) {
			sqlite3_bind_text(st, col++, ss->keys.strs[ss->kvs[s->key].key], -1,
			                  SQLITE_STATIC);
			sqlite3_bind_value(st, col++, ss->kvs[s->key].value);
		}
		sqlite3_bind_int64(st, col++, s->stack);
		sqlite3_bind_int64(st, col++, s->n);
		if (s->w_rows)
			sqlite3_bind_int64(st, col, s->w);
		else
			sqlite3_bind_null(st, col);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : -1;
}

static int mg_ss_write(mg_ss *ss, sqlite3 *db)
{
	return mg_ss_write_rows(ss, db,
	                        "INSERT INTO main.span_name_stacks(span_name, stack_id, samples,"
	                        " weight_ns) VALUES(?,?,?,?)",
	                        &ss->by_name, MG_SS_BY_NAME) ||
	       mg_ss_write_rows(ss, db,
	                        "INSERT INTO main.span_attr_stacks(key, value, stack_id, samples,"
	                        " weight_ns) VALUES(?,?,?,?,?)",
	                        &ss->by_kv, MG_SS_BY_KV) ||
	       mg_ss_write_rows(ss, db,
	                        "INSERT INTO main.stack_samples(stack_id, samples, weight_ns)"
	                        " VALUES(?,?,?)",
	                        &ss->by_stack, MG_SS_BY_STACK);
}

static void mg_sets_free(mg_sets *s)
{
	free(s->pool);
	free(s->v);
	mg_hash_free(&s->index);
}

static void mg_ss_free(mg_ss *ss)
{
	for (size_t i = 0; i < ss->n_names; i++)
		free(ss->names[i]);
	free(ss->names);
	mg_strtab_free(&ss->keys);
	for (size_t i = 0; i < ss->n_kvs; i++)
		sqlite3_value_free(ss->kvs[i].value);
	free(ss->kvs);
	mg_hash_free(&ss->kv_index);
	free(ss->attrs);
	free(ss->name_of);
	free(ss->class_of);
	free(ss->attr_of);
	mg_hash_free(&ss->slot_of);
	mg_sets_free(&ss->name_sets);
	mg_sets_free(&ss->attr_sets);
	free(ss->class_names);
	free(ss->class_attrs);
	mg_hash_free(&ss->class_index);
	free(ss->key_wide);
	mg_sums_free(&ss->by_set);
	mg_sums_free(&ss->by_name);
	mg_sums_free(&ss->by_kv);
	mg_sums_free(&ss->by_stack);
}

int mg_span_stacks_fill(sqlite3 *db)
{
	mg_ss ss = {0};
	int err =
	    sqlite3_exec(db,
	                 "DELETE FROM main.span_name_stacks; DELETE FROM main.span_attr_stacks;"
	                 " DELETE FROM main.stack_samples",
	                 NULL, NULL, NULL) != SQLITE_OK ||
	    mg_ss_alloc(&ss, db) || mg_ss_read_names(&ss, db) || mg_ss_read_attrs(&ss, db) ||
	    mg_ss_read_ancestors(&ss, db) || mg_ss_read_samples(&ss, db) || mg_ss_spread(&ss) ||
	    mg_ss_write(&ss, db);
	if (err && sqlite3_errcode(db) != SQLITE_OK)
		mg_err_set(-SP_EIO, "summing samples per span name and attribute: %s",
		           sqlite3_errmsg(db));
	else if (err)
		mg_err_set(-SP_ENOMEM,
		           "summing samples per span name and attribute: out of memory");
	mg_ss_free(&ss);
	return err ? -1 : 0;
}
