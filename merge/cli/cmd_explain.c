/*
 * cmd_explain.c - 'spanprof explain DB SPAN_NAME [--slow PCT] [--format text|json]':
 * which inputs and which code separate the slowest instances of a span from
 * the rest (DESIGN.md "Command line"; the measures are defined in
 * docs/cookbook.md, "Why are some spans slow? spanprof explain").
 *
 * Data flow: the instances (spans of that name with a duration) are sorted
 * by duration and split into the slowest PCT% and the rest. Then, one pass
 * each, in C over plain table reads (SQLite has no hash join; one scan of a
 * table costs less than one index probe per instance once the instances are
 * a fair share of the database, and probes are used when they are few):
 *   span_ancestors -> the spans inside each instance, the instance's ancestors;
 *   span_attrs     -> each instance's attributes, inherited ones included
 *                     (nearest span wins, as in view span_attrs_inherited);
 *   samples        -> per (slow|rest, stack) sample count and weight;
 *   stacks, frames -> the functions of the few distinct stacks.
 * Memory grows with the number of instances and of the spans inside them,
 * never with the number of samples.
 *
 * Threading: single-threaded.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "export.h" /* mg_strtab */
#include "export_diff.h"
#include "json.h"
#include "mg_cli.h"
#include "mg_db.h"
#include "mg_grow.h"
#include "mg_hash.h"

#define EX_MIN_INSTANCES 10  /* fewer cannot be split into slow and rest */
#define EX_MAX_FUNCS     10  /* function findings */
#define EX_MAX_ATTRS     20  /* attribute findings */
#define EX_PER_KEY       3   /* values of one key */
#define EX_CATEGORIES    12  /* a numeric key with more values is cut into ranges */
#define EX_BINS          10  /* quantile bins of a numeric key */
#define EX_Z_SEPARATES   4.0 /* |z| of the share difference that is not chance */
#define EX_MIN_SAMPLES   10  /* fewer slow samples behind a function: low confidence */
#define EX_MIN_COUNT     5   /* fewer slow instances with a value: low confidence */
#define EX_PROBE_SHARE   20  /* probe by index when under 1/20 of the spans */

typedef struct ex_opts {
	const char *db, *span;
	const char *diff; /* --diff PREFIX, or NULL */
	double slow_pct;
	int json;
} ex_opts;

typedef struct ex_inst {
	int64_t span_id, dur_ns;
	int slow;
} ex_inst;

typedef struct ex_anc { /* an ancestor (or the span itself) of an instance */
	int64_t ancestor_id;
	uint32_t inst;
	uint32_t distance;
} ex_anc;

typedef struct ex_pair { /* one (key, value) */
	int key;
	int type; /* SQLITE_INTEGER, SQLITE_FLOAT or SQLITE_TEXT */
	double num;
	const char *text; /* points into the intern table */
} ex_pair;

typedef struct ex_key { /* per key: each instance's value (pair id, -1 unset) */
	int32_t *pair;
	uint16_t *distance;
} ex_key;

typedef struct ex_cell { /* per (slow|rest, stack) */
	int slow;
	int64_t stack_id, n, w;
} ex_cell;

typedef struct ex_node { /* a node of the stack trie */
	int64_t parent_id;
	int32_t parent; /* index in nodes, -1 at the root or unknown */
	int32_t func;   /* index in funcs */
} ex_node;

typedef struct ex_stack { /* a sampled stack: its functions, leaf first */
	int64_t stack_id;
	int32_t *funcs, len;
	double a, b;      /* weight per slow / rest instance */
	int64_t n_s, n_r; /* samples */
	int active;       /* not yet explained by a finding */
} ex_stack;

typedef struct ex_attr_find {
	int key, pair; /* pair -1: "not set"; pair -2: a range */
	double lo, hi; /* the range */
	int64_t c_s, c_r;
	double p_s, p_r, mu_with, mu_without, explains, z;
	int inherited; /* most instances got the value from an ancestor */
	int open;      /* a range: -1 open below (<= hi), 1 open above (>= lo) */
} ex_attr_find;

typedef struct ex_func_find {
	int func;
	double explains, z;
	int via[3], n_via;
} ex_func_find;

typedef struct ex_ctx {
	sqlite3 *db;
	const ex_opts *o;
	mg_progress prog;
	ex_inst *inst;
	size_t n, n_slow;
	double mean_slow, mean_rest, gap;
	int64_t total_spans, named;
	int64_t rows_read;          /* progress */
	int32_t stamp;              /* marks a function seen in the current stack */
	int64_t row_span, row_inst; /* the span_ancestors scan's current span */
	int64_t last_span;          /* ex_sample's one-entry cache */
	uint64_t last_at[8];
	int last_n;
	int last_key;   /* ex_key_id's cache */
	mg_hash inside; /* (span_id, k) -> instance of a span inside one */
	int64_t *inside_ids;
	size_t n_inside, cap_inside;
	ex_anc *anc;
	size_t n_anc, cap_anc;
	mg_hash anc_first; /* ancestor_id -> first position in sorted anc */
	mg_strtab keys, values, funcs;
	ex_pair *pairs;
	size_t cap_pairs;
	ex_key *key_vals;
	size_t cap_keys;
	mg_hash cell_at; /* (slow, stack) -> index in cells */
	ex_cell *cells;
	size_t n_cells, cap_cells;
	ex_node *nodes;
	size_t n_nodes, cap_nodes;
	mg_hash node_at; /* stack_id -> index in nodes */
	ex_stack *stacks;
	size_t n_stacks;
	char mode[16];
	/* per function, [0] rest [1] slow: inclusive and self weight, samples */
	double *incl[2], *self[2];
	int64_t *incl_n[2];
	int64_t samples_tot[2];
	double sampled[2]; /* sampled ns per instance */
	double waiting[2]; /* wall mode: ns per instance in blocking leaves */
	ex_attr_find attrs[EX_MAX_ATTRS];
	int n_attrs;
	ex_func_find finds[EX_MAX_FUNCS];
	int n_finds;
} ex_ctx;

static int ex_oom(void)
{
	fprintf(stderr, "spanprof explain: out of memory\n");
	return -1;
}

static int ex_db_error(ex_ctx *c)
{
	fprintf(stderr, "spanprof explain: database error: %s\n", sqlite3_errmsg(c->db));
	return -1;
}

/* --- instances --- */

static int ex_cmp_dur(const void *a, const void *b)
{
	const ex_inst *x = a, *y = b;
	if (x->dur_ns != y->dur_ns)
		return x->dur_ns > y->dur_ns ? -1 : 1;
	return (x->span_id > y->span_id) - (x->span_id < y->span_id);
}

static int64_t ex_int(ex_ctx *c, const char *sql, const char *arg)
{
	sqlite3_stmt *st = mg_prepare(c->db, sql);
	if (!st)
		return -1;
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return v;
}

/* Reads the instances, in decreasing duration (ties: by span_id). A scan
 * of spans when the name is common (cheaper than one probe per row). */
static int ex_load_instances(ex_ctx *c)
{
	int64_t named = ex_int(c, "SELECT count(*) FROM spans WHERE name = ?1", c->o->span);
	c->named = named;
	c->total_spans = ex_int(
	    c, "SELECT CAST(stat AS INTEGER) FROM sqlite_stat1 WHERE tbl = 'spans' LIMIT 1", NULL);
	if (c->total_spans <= 0)
		c->total_spans = named * EX_PROBE_SHARE * 2;
	int probe = named * EX_PROBE_SHARE < c->total_spans;
	sqlite3_stmt *st = mg_prepare(
	    c->db,
	    probe ? "SELECT span_id, dur_ns FROM spans WHERE name = ?1 AND dur_ns IS NOT NULL"
	          : "SELECT span_id, dur_ns FROM spans WHERE +name = ?1 AND dur_ns IS NOT NULL");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, c->o->span, -1, SQLITE_STATIC);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (mg_grow(&c->inst, &cap, c->n + 1, sizeof *c->inst)) {
			sqlite3_finalize(st);
			return ex_oom();
		}
		c->inst[c->n++] = (ex_inst){.span_id = sqlite3_column_int64(st, 0),
		                            .dur_ns = sqlite3_column_int64(st, 1)};
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return ex_db_error(c);
	if (c->n)
		qsort(c->inst, c->n, sizeof *c->inst, ex_cmp_dur);
	return 0;
}

/* The closest span names to the one asked for, by edit distance. */
static size_t ex_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65];
	if (la > 64 || lb > 64)
		return 64;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

static void ex_unknown_span(ex_ctx *c)
{
	sqlite3_stmt *st = mg_prepare(c->db, "SELECT name, count(*) FROM spans GROUP BY name");
	char best[5][128] = {{0}};
	size_t dist[5] = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name)
			continue;
		size_t d = ex_edit_distance(c->o->span, name);
		if (strstr(name, c->o->span) || strstr(c->o->span, name))
			d = d < 2 ? d : 2;
		for (int i = 0; i < 5; i++) {
			if (d >= dist[i])
				continue;
			memmove(&best[i + 1], &best[i], (size_t)(4 - i) * sizeof best[0]);
			memmove(&dist[i + 1], &dist[i], (size_t)(4 - i) * sizeof dist[0]);
			snprintf(best[i], sizeof best[i], "%s", name);
			dist[i] = d;
			break;
		}
	}
	sqlite3_finalize(st);
	fprintf(stderr, "spanprof explain: no span named \"%s\"", c->o->span);
	for (int i = 0; i < 5 && dist[i] != SIZE_MAX; i++)
		fprintf(stderr, "%s%s", i ? ", " : "; closest names: ", best[i]);
	fputc('\n', stderr);
}

/* Map inside: (span_id, 0) -> the instance it is in; a span inside several
 * (an instance nested in another of the same name) has entries k = 1, 2...
 * too, and EX_MORE set on every entry but the last, so that the common
 * case costs one probe. An instance is inside itself, first: its entry
 * (k = 0) has EX_SELF, so the same probe says whether a span is an
 * instance (one map of the spans that matter, not two). */
#define EX_MORE    (1ull << 63)
#define EX_SELF    (1ull << 62)
#define EX_INST(v) ((v) & ~(EX_MORE | EX_SELF))

/* The instance span_id is (its index), or -1. */
static int64_t ex_instance(const ex_ctx *c, int64_t span_id)
{
	const uint64_t *at = mg_hash_get(&c->inside, (uint64_t)span_id, 0);
	return at && (*at & EX_SELF) ? (int64_t)EX_INST(*at) : -1;
}

/* Splits slow and rest; checks there is something to compare. */
static int ex_split(ex_ctx *c)
{
	if (c->named == 0) {
		ex_unknown_span(c);
		return -1;
	}
	if (c->n < EX_MIN_INSTANCES) {
		fprintf(stderr,
		        "spanprof explain: only %zu instance%s of span \"%s\" with a duration"
		        " (need at least %d to compare the slowest with the rest)\n",
		        c->n, c->n == 1 ? "" : "s", c->o->span, EX_MIN_INSTANCES);
		return -1;
	}
	size_t k = (size_t)ceil((double)c->n * c->o->slow_pct / 100.0);
	c->n_slow = k < 1 ? 1 : k >= c->n ? c->n - 1 : k;
	double sum[2] = {0, 0};
	/* Every instance is inside itself; the spans inside them come next. */
	if (mg_hash_reserve(&c->inside, 2 * c->n) ||
	    mg_grow(&c->inside_ids, &c->cap_inside, c->n, sizeof(int64_t)))
		return ex_oom();
	for (size_t i = 0; i < c->n; i++) {
		c->inst[i].slow = i < c->n_slow;
		sum[c->inst[i].slow] += (double)c->inst[i].dur_ns;
		c->inside_ids[c->n_inside++] = c->inst[i].span_id;
		mg_hash_prefetch(&c->inside,
		                 (uint64_t)c->inst[i + (i + 16 < c->n ? 16 : 0)].span_id, 0);
		if (mg_hash_put(&c->inside, (uint64_t)c->inst[i].span_id, 0, i | EX_SELF))
			return ex_oom();
	}
	c->mean_slow = sum[1] / (double)c->n_slow;
	c->mean_rest = sum[0] / (double)(c->n - c->n_slow);
	c->gap = c->mean_slow - c->mean_rest;
	return 0;
}

/* --- spans inside the instances, and their ancestors --- */

static int ex_add_inside(ex_ctx *c, int64_t span_id, uint64_t inst)
{
	uint64_t k = 0, *at = mg_hash_get(&c->inside, (uint64_t)span_id, 0);
	if (!at) {
		if (mg_grow(&c->inside_ids, &c->cap_inside, c->n_inside + 1, sizeof(int64_t)))
			return -1;
		c->inside_ids[c->n_inside++] = span_id;
	}
	for (; at; at = mg_hash_get(&c->inside, (uint64_t)span_id, ++k))
		*at |= EX_MORE;
	return mg_hash_put(&c->inside, (uint64_t)span_id, k, inst) ? -1 : 0;
}

static int ex_add_anc(ex_ctx *c, uint64_t inst, int64_t ancestor_id, int64_t distance)
{
	if (mg_grow(&c->anc, &c->cap_anc, c->n_anc + 1, sizeof *c->anc))
		return -1;
	c->anc[c->n_anc++] =
	    (ex_anc){ancestor_id, (uint32_t)inst, distance > 65535 ? 65535 : (uint32_t)distance};
	return 0;
}

/* One row of span_ancestors (span_id, ancestor_id, distance > 0). The
 * instances themselves are in inside already (ex_split), and their own
 * attributes are found through it too (ex_attr_row). Rows come by span:
 * whether the span is an instance is looked up once per span, before the
 * span is added inside another (a put may move the map). */
static int ex_ancestor_row(ex_ctx *c, int64_t span_id, int64_t anc_id, int64_t distance)
{
	if (c->row_span != span_id) {
		c->row_inst = ex_instance(c, span_id);
		c->row_span = span_id;
	}
	int64_t i = ex_instance(c, anc_id);
	if (i >= 0 && ex_add_inside(c, span_id, (uint64_t)i))
		return -1;
	return c->row_inst >= 0 ? ex_add_anc(c, (uint64_t)c->row_inst, anc_id, distance) : 0;
}

static int ex_cmp_anc(const void *a, const void *b)
{
	const ex_anc *x = a, *y = b;
	return (x->ancestor_id > y->ancestor_id) - (x->ancestor_id < y->ancestor_id);
}

/* Scans of millions of rows look up random keys in maps of millions:
 * each lookup misses the cache. The rows (three integer columns) are read
 * EX_BATCH at a time; prefetch() starts loading what each will touch, then
 * row() handles them, by when most of it has arrived. */
#define EX_BATCH 32

typedef struct ex_row {
	int64_t v[3];
} ex_row;

static int ex_scan_batched(ex_ctx *c, sqlite3_stmt *st, void (*prefetch)(ex_ctx *, ex_row *),
                           int (*row)(ex_ctx *, const ex_row *))
{
	ex_row rows[EX_BATCH];
	int rc = SQLITE_ROW, err = 0;
	while (rc == SQLITE_ROW && !err) {
		int n = 0;
		while (n < EX_BATCH && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			for (int k = 0; k < 3; k++)
				rows[n].v[k] = sqlite3_column_int64(st, k);
			prefetch(c, &rows[n++]);
		}
		for (int i = 0; i < n && !err; i++)
			err = row(c, &rows[i]);
	}
	sqlite3_finalize(st);
	if (err)
		return ex_oom();
	return rc == SQLITE_DONE ? 0 : ex_db_error(c);
}

static void ex_anc_prefetch(ex_ctx *c, ex_row *r)
{
	mg_hash_prefetch(&c->inside, (uint64_t)r->v[1], 0);
	mg_hash_prefetch(&c->inside, (uint64_t)r->v[0], 0);
}

static int ex_anc_scan_row(ex_ctx *c, const ex_row *r)
{
	return ex_ancestor_row(c, r->v[0], r->v[1], r->v[2]);
}

/* Probes: per instance, its descendants and its ancestors by index. */
static int ex_load_ancestors_probe(ex_ctx *c)
{
	sqlite3_stmt *down = mg_prepare(
	    c->db, "SELECT span_id FROM span_ancestors WHERE ancestor_id = ?1 AND distance > 0");
	sqlite3_stmt *up = mg_prepare(
	    c->db,
	    "SELECT ancestor_id, distance FROM span_ancestors WHERE span_id = ?1 AND distance > 0");
	int err = !down || !up;
	for (size_t i = 0; i < c->n && !err; i++) {
		sqlite3_bind_int64(down, 1, c->inst[i].span_id);
		while (!err && sqlite3_step(down) == SQLITE_ROW)
			err = ex_add_inside(c, sqlite3_column_int64(down, 0), i);
		sqlite3_reset(down);
		sqlite3_bind_int64(up, 1, c->inst[i].span_id);
		while (!err && sqlite3_step(up) == SQLITE_ROW)
			err = ex_add_anc(c, i, sqlite3_column_int64(up, 0),
			                 sqlite3_column_int64(up, 1));
		sqlite3_reset(up);
	}
	sqlite3_finalize(down);
	sqlite3_finalize(up);
	return err ? -1 : 0;
}

static int ex_load_ancestors(ex_ctx *c, int probe)
{
	if (probe) {
		if (ex_load_ancestors_probe(c))
			return -1;
	} else {
		sqlite3_stmt *st =
		    mg_prepare(c->db, "SELECT span_id, ancestor_id, distance FROM span_ancestors"
		                      " WHERE distance > 0 ORDER BY span_id, distance");
		if (!st || ex_scan_batched(c, st, ex_anc_prefetch, ex_anc_scan_row))
			return -1;
	}
	if (c->n_anc) /* qsort wants a non-NULL array */
		qsort(c->anc, c->n_anc, sizeof *c->anc, ex_cmp_anc);
	/* At most one entry per ancestor row: no rehash of a map of millions. */
	if (mg_hash_reserve(&c->anc_first, c->n_anc))
		return ex_oom();
	for (size_t i = 0; i < c->n_anc; i++)
		if ((i == 0 || c->anc[i].ancestor_id != c->anc[i - 1].ancestor_id) &&
		    mg_hash_put(&c->anc_first, (uint64_t)c->anc[i].ancestor_id, 0, i))
			return ex_oom();
	return 0;
}

/* --- attributes --- */

/* Interns (key, value) and returns the pair id, or -1. */
/* One attribute row: key and value as SQLite gives them. */
typedef struct ex_attr_in {
	const char *key; /* NULL for NULL */
	int type;        /* SQLITE_INTEGER... */
	double num;
	const char *text; /* the value as text, or NULL */
} ex_attr_in;

#define EX_VALUE_MAX 320 /* bytes of "key\x1ftype\x1fvalue" compared */

static int ex_pair_id(ex_ctx *c, int key, const ex_attr_in *v)
{
	int type = v->type;
	char buf[EX_VALUE_MAX];
	const char *text = v->text;
	if (type == SQLITE_NULL || type == SQLITE_BLOB)
		return -2; /* not a value we compare */
	snprintf(buf, sizeof buf, "%d\x1f%d\x1f%s", key, type, text ? text : "");
	int added = 0;
	int64_t id = mg_strtab_intern(&c->values, buf, &added);
	if (id < 0 || mg_grow(&c->pairs, &c->cap_pairs, (size_t)id + 1, sizeof *c->pairs))
		return -1;
	if (added) {
		const char *s = c->values.strs[id];
		s = strchr(strchr(s, '\x1f') + 1, '\x1f') + 1;
		c->pairs[id] = (ex_pair){key, type, v->num, s};
	}
	return (int)id;
}

static int ex_key_id(ex_ctx *c, const char *key)
{
	if (key && c->last_key >= 0 && !strcmp(key, c->keys.strs[c->last_key]))
		return c->last_key; /* rows of one key come in runs */
	int added = 0;
	int64_t id = mg_strtab_intern(&c->keys, key ? key : "", &added);
	if (id < 0 || mg_grow(&c->key_vals, &c->cap_keys, (size_t)id + 1, sizeof *c->key_vals))
		return -1;
	if (added) {
		ex_key *k = &c->key_vals[id];
		k->pair = malloc(c->n * sizeof *k->pair);
		k->distance = malloc(c->n * sizeof *k->distance);
		if (!k->pair || !k->distance)
			return -1;
		memset(k->pair, 0xff, c->n * sizeof *k->pair); /* -1: not set */
	}
	c->last_key = (int)id;
	return (int)id;
}

/* One attribute row of span span_id: given to every instance that has that
 * span as ancestor, unless a nearer one gave the key (later rows of the
 * same span win: the newer value). */
static void ex_attr_give(ex_key *k, uint32_t in, uint32_t distance, int pair)
{
	if (k->pair[in] < 0 || distance <= k->distance[in]) {
		k->pair[in] = pair;
		k->distance[in] = (uint16_t)distance;
	}
}

static int ex_attr_row(ex_ctx *c, int64_t span_id, const ex_attr_in *v)
{
	int64_t own = ex_instance(c, span_id);
	uint64_t *first = mg_hash_get(&c->anc_first, (uint64_t)span_id, 0);
	if (own < 0 && !first)
		return 0;
	int key = ex_key_id(c, v->key);
	int pair = key < 0 ? -1 : ex_pair_id(c, key, v);
	if (pair == -2)
		return 0;
	if (pair < 0)
		return -1;
	ex_key *k = &c->key_vals[key];
	if (own >= 0)
		ex_attr_give(k, (uint32_t)own, 0, pair);
	for (size_t i = first ? *first : c->n_anc; i < c->n_anc && c->anc[i].ancestor_id == span_id;
	     i++)
		ex_attr_give(k, c->anc[i].inst, c->anc[i].distance, pair);
	return 0;
}

/* Row kcol.. of st: key, value. The pointers live until the next step. */
static ex_attr_in ex_attr_read(sqlite3_stmt *st, int kcol)
{
	return (ex_attr_in){(const char *)sqlite3_column_text(st, kcol),
	                    sqlite3_column_type(st, kcol + 1), sqlite3_column_double(st, kcol + 1),
	                    (const char *)sqlite3_column_text(st, kcol + 1)};
}

/* A copied attribute row of a batch (ex_scan_batched's, with strings). */
typedef struct ex_attr_copy {
	int64_t span_id;
	ex_attr_in v;
	char key[EX_VALUE_MAX], text[EX_VALUE_MAX];
} ex_attr_copy;

/* Copies row st into r; 0, or 1 when the key does not fit (the row is to
 * be handled from st, in its turn). */
static int ex_attr_copy_row(sqlite3_stmt *st, ex_attr_copy *r)
{
	r->span_id = sqlite3_column_int64(st, 0);
	r->v = ex_attr_read(st, 1);
	size_t klen = r->v.key ? strlen(r->v.key) : 0;
	if (klen >= sizeof r->key)
		return 1;
	if (r->v.key)
		r->v.key = memcpy(r->key, r->v.key, klen + 1);
	if (r->v.text) /* longer values compare on their first bytes anyway */
		r->v.text = strncpy(r->text, r->v.text, sizeof r->text - 1);
	r->text[sizeof r->text - 1] = 0;
	return 0;
}

/* The span_attrs scan, batched like ex_scan_batched: the rows' spans are
 * looked up in inside and anc_first, prefetched a batch ahead. */
static int ex_attr_scan(ex_ctx *c, sqlite3_stmt *st)
{
	ex_attr_copy *rows = malloc(EX_BATCH * sizeof *rows);
	int rc = SQLITE_ROW, err = !rows;
	while (rc == SQLITE_ROW && !err) {
		int n = 0, long_key = 0;
		while (n < EX_BATCH && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if ((long_key = ex_attr_copy_row(st, &rows[n])))
				break;
			mg_hash_prefetch(&c->inside, (uint64_t)rows[n].span_id, 0);
			mg_hash_prefetch(&c->anc_first, (uint64_t)rows[n].span_id, 0);
			n++;
		}
		for (int i = 0; i < n && !err; i++)
			err = ex_attr_row(c, rows[i].span_id, &rows[i].v);
		if (long_key && !err) {
			ex_attr_in v = ex_attr_read(st, 1);
			err = ex_attr_row(c, sqlite3_column_int64(st, 0), &v);
		}
	}
	free(rows);
	sqlite3_finalize(st);
	if (err)
		return ex_oom();
	return rc == SQLITE_DONE ? 0 : ex_db_error(c);
}

static int ex_load_attrs(ex_ctx *c, int probe)
{
	if (!probe) {
		sqlite3_stmt *st = mg_prepare(c->db, "SELECT span_id, key, value FROM span_attrs");
		return st ? ex_attr_scan(c, st) : -1;
	}
	sqlite3_stmt *st = mg_prepare(
	    c->db, "SELECT key, value FROM span_attrs WHERE span_id = ?1 ORDER BY rowid");
	int err = !st;
	/* The instances, then each distinct ancestor (a span that is both gives
	 * its attributes twice: the same values, no harm). */
	for (size_t i = 0; i < c->n + c->n_anc && !err; i++) {
		int64_t id = i < c->n ? c->inst[i].span_id : c->anc[i - c->n].ancestor_id;
		if (i > c->n && id == c->anc[i - c->n - 1].ancestor_id)
			continue;
		sqlite3_bind_int64(st, 1, id);
		while (!err && sqlite3_step(st) == SQLITE_ROW) {
			ex_attr_in v = ex_attr_read(st, 0);
			err = ex_attr_row(c, id, &v) ? ex_oom() : 0;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return err ? -1 : 0;
}

/* --- samples --- */

/* The instances span_id is inside (at most 8), into c->last_at: samples
 * come in time order per thread, so runs of one span are common. */
static void ex_sample_span(ex_ctx *c, int64_t span_id)
{
	if (span_id == c->last_span && c->last_n >= 0)
		return;
	c->last_span = span_id;
	c->last_n = 0;
	uint64_t *at = mg_hash_get(&c->inside, (uint64_t)span_id, 0);
	for (uint64_t k = 1; at && c->last_n < 8; k++) {
		c->last_at[c->last_n++] = EX_INST(*at);
		at = *at & EX_MORE ? mg_hash_get(&c->inside, (uint64_t)span_id, k) : NULL;
	}
}

static int ex_sample(ex_ctx *c, int64_t span_id, int64_t stack_id, int64_t w)
{
	ex_sample_span(c, span_id);
	for (int k = 0; k < c->last_n; k++) {
		/* The instances are sorted slowest first: no need to read them. */
		int slow = c->last_at[k] < c->n_slow;
		uint64_t *cell = mg_hash_get(&c->cell_at, (uint64_t)slow, (uint64_t)stack_id);
		if (!cell) {
			if (mg_grow(&c->cells, &c->cap_cells, c->n_cells + 1, sizeof *c->cells) ||
			    mg_hash_put(&c->cell_at, (uint64_t)slow, (uint64_t)stack_id,
			                c->n_cells))
				return -1;
			c->cells[c->n_cells] = (ex_cell){slow, stack_id, 0, 0};
			cell = mg_hash_get(&c->cell_at, (uint64_t)slow, (uint64_t)stack_id);
			c->n_cells++;
		}
		c->cells[*cell].n++;
		c->cells[*cell].w += w;
	}
	return 0;
}

static void ex_sample_prefetch(ex_ctx *c, ex_row *r)
{
	mg_hash_prefetch(&c->inside, (uint64_t)r->v[0], 0);
}

static int ex_sample_scan_row(ex_ctx *c, const ex_row *r)
{
	if ((++c->rows_read & 0xfffff) == 0)
		mg_progress_update(&c->prog, "explain: %lld samples read", (long long)c->rows_read);
	return ex_sample(c, r->v[0], r->v[1], r->v[2]);
}

static int ex_load_samples(ex_ctx *c, int probe)
{
	int err = 0;
	if (!probe) {
		sqlite3_stmt *st =
		    mg_prepare(c->db, "SELECT span_id, stack_id, weight_ns FROM samples"
		                      " WHERE span_id IS NOT NULL");
		return st ? ex_scan_batched(c, st, ex_sample_prefetch, ex_sample_scan_row) : -1;
	}
	sqlite3_stmt *st =
	    mg_prepare(c->db, "SELECT stack_id, weight_ns FROM samples WHERE span_id = ?1");
	err = !st;
	for (size_t i = 0; i < c->n_inside && !err; i++) {
		sqlite3_bind_int64(st, 1, c->inside_ids[i]);
		while (!err && sqlite3_step(st) == SQLITE_ROW)
			err = ex_sample(c, c->inside_ids[i], sqlite3_column_int64(st, 0),
			                sqlite3_column_int64(st, 1))
			          ? ex_oom()
			          : 0;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return err ? -1 : 0;
}

/* --- stacks and functions --- */

/* Index of the trie node stack_id in c->nodes (loaded on first use with
 * its ancestors), or -1 for an unknown node. */
static int32_t ex_node_load(ex_ctx *c, sqlite3_stmt *q, int64_t stack_id)
{
	int32_t first = -1, prev = -1;
	for (int guard = 0; stack_id && guard < 4096; guard++) {
		uint64_t *at = mg_hash_get(&c->node_at, (uint64_t)stack_id, 0);
		int32_t idx;
		if (at) {
			idx = (int32_t)*at;
		} else {
			sqlite3_bind_int64(q, 1, stack_id);
			if (sqlite3_step(q) != SQLITE_ROW) {
				sqlite3_reset(q);
				break;
			}
			const char *f = (const char *)sqlite3_column_text(q, 1);
			int64_t func = mg_strtab_intern(&c->funcs, f ? f : "?", NULL);
			if (func < 0 ||
			    mg_grow(&c->nodes, &c->cap_nodes, c->n_nodes + 1, sizeof *c->nodes))
				return -2;
			idx = (int32_t)c->n_nodes++;
			c->nodes[idx] = (ex_node){sqlite3_column_int64(q, 0), -1, (int32_t)func};
			sqlite3_reset(q);
			if (mg_hash_put(&c->node_at, (uint64_t)stack_id, 0, (uint64_t)idx))
				return -2;
		}
		if (prev >= 0)
			c->nodes[prev].parent = idx;
		if (first < 0)
			first = idx;
		if (at && (c->nodes[idx].parent >= 0 || !c->nodes[idx].parent_id))
			break; /* its chain is known */
		prev = idx;
		stack_id = c->nodes[idx].parent_id;
	}
	return first;
}

static int ex_stack_path(ex_ctx *c, ex_stack *s, int32_t node)
{
	int32_t len = 0;
	size_t cap = 0;
	for (int32_t i = node; i >= 0 && len < 4096; i = c->nodes[i].parent) {
		if (mg_grow(&s->funcs, &cap, (size_t)len + 1, sizeof *s->funcs))
			return -1;
		s->funcs[len++] = c->nodes[i].func;
	}
	s->len = len;
	return 0;
}

/* Builds c->stacks from the cells: one per distinct stack, with the weight
 * per slow and per rest instance. */
static int ex_load_stacks(ex_ctx *c)
{
	sqlite3_stmt *q =
	    mg_prepare(c->db, "SELECT s.parent_id, f.func FROM stacks s LEFT JOIN frames f"
	                      " ON f.frame_id = s.frame_id WHERE s.stack_id = ?1");
	mg_hash at = {0};
	int err = !q;
	c->stacks = calloc(c->n_cells + 1, sizeof *c->stacks);
	err |= !c->stacks;
	double n_s = (double)c->n_slow, n_r = (double)(c->n - c->n_slow);
	for (size_t i = 0; i < c->n_cells && !err; i++) {
		const ex_cell *cell = &c->cells[i];
		c->samples_tot[cell->slow] += cell->n;
		c->sampled[cell->slow] += (double)cell->w / (cell->slow ? n_s : n_r);
		if (!cell->stack_id)
			continue; /* a sample without a stack: time, but no function */
		uint64_t *j = mg_hash_get(&at, (uint64_t)cell->stack_id, 0);
		if (!j) {
			ex_stack *s = &c->stacks[c->n_stacks];
			s->stack_id = cell->stack_id;
			s->active = 1;
			int32_t node = ex_node_load(c, q, cell->stack_id);
			err = node < -1 || (node >= 0 && ex_stack_path(c, s, node)) ||
			      mg_hash_put(&at, (uint64_t)cell->stack_id, 0, c->n_stacks++);
			j = err ? NULL : mg_hash_get(&at, (uint64_t)cell->stack_id, 0);
			if (!j)
				break;
		}
		ex_stack *s = &c->stacks[*j];
		if (cell->slow) {
			s->a += (double)cell->w / n_s;
			s->n_s += cell->n;
		} else {
			s->b += (double)cell->w / n_r;
			s->n_r += cell->n;
		}
	}
	sqlite3_finalize(q);
	mg_hash_free(&at);
	return err ? ex_oom() : 0;
}

/* Leaf functions where a thread waits (wall mode): libc's blocking calls. */
static int ex_is_waiting(const char *f)
{
	static const char *const names[] = {"nanosleep",
	                                    "clock_nanosleep",
	                                    "usleep",
	                                    "sleep",
	                                    "poll",
	                                    "ppoll",
	                                    "epoll_wait",
	                                    "epoll_pwait",
	                                    "select",
	                                    "pselect",
	                                    "pselect6",
	                                    "read",
	                                    "pread",
	                                    "pread64",
	                                    "readv",
	                                    "recv",
	                                    "recvfrom",
	                                    "recvmsg",
	                                    "accept",
	                                    "accept4",
	                                    "connect",
	                                    "write",
	                                    "pwrite",
	                                    "pwrite64",
	                                    "writev",
	                                    "send",
	                                    "sendto",
	                                    "sendmsg",
	                                    "fsync",
	                                    "fdatasync",
	                                    "wait",
	                                    "waitpid",
	                                    "wait4",
	                                    "waitid",
	                                    "pause",
	                                    "sigwait",
	                                    "sigtimedwait",
	                                    "sigsuspend",
	                                    "pthread_join",
	                                    "sem_wait",
	                                    "sem_timedwait",
	                                    "msgrcv",
	                                    "flock",
	                                    "fcntl",
	                                    "syscall",
	                                    "futex",
	                                    "lll_lock_wait",
	                                    "lll_lock_wait_private",
	                                    "futex_abstimed_wait_common",
	                                    "futex_abstimed_wait_common64",
	                                    "futex_wait",
	                                    "pthread_cond_wait",
	                                    "pthread_cond_timedwait",
	                                    "pthread_cond_clockwait",
	                                    "pthread_mutex_lock",
	                                    "pthread_rwlock_rdlock",
	                                    "pthread_rwlock_wrlock",
	                                    "libc_read",
	                                    "libc_recv",
	                                    "libc_write",
	                                    "libc_send",
	                                    "read_nocancel",
	                                    "libc_pread"};
	while (*f == '_')
		f++;
	if (!strncmp(f, "GI_", 3)) /* glibc's internal aliases: __GI___nanosleep */
		for (f += 3; *f == '_';)
			f++;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(f, names[i]))
			return 1;
	return 0;
}

/* Per function: inclusive (each once per stack) and self weights. */
static int ex_func_totals(ex_ctx *c)
{
	size_t nf = c->funcs.count ? c->funcs.count : 1;
	int32_t *seen = calloc(nf, sizeof *seen);
	int err = !seen;
	for (int g = 0; g < 2; g++) {
		c->incl[g] = calloc(nf, sizeof(double));
		c->self[g] = calloc(nf, sizeof(double));
		c->incl_n[g] = calloc(nf, sizeof(int64_t));
		err |= !c->incl[g] || !c->self[g] || !c->incl_n[g];
	}
	if (err) {
		free(seen);
		return ex_oom();
	}
	for (size_t i = 0; i < c->n_stacks; i++) {
		const ex_stack *s = &c->stacks[i];
		if (!s->len)
			continue;
		c->self[1][s->funcs[0]] += s->a;
		c->self[0][s->funcs[0]] += s->b;
		if (ex_is_waiting(c->funcs.strs[s->funcs[0]])) {
			c->waiting[1] += s->a;
			c->waiting[0] += s->b;
		}
		int32_t stamp = ++c->stamp;
		for (int32_t j = 0; j < s->len; j++) {
			int32_t f = s->funcs[j];
			if (seen[f] == stamp)
				continue;
			seen[f] = stamp;
			c->incl[1][f] += s->a;
			c->incl[0][f] += s->b;
			c->incl_n[1][f] += s->n_s;
			c->incl_n[0][f] += s->n_r;
		}
	}
	free(seen);
	return 0;
}

/* z of the difference between two proportions x1/n1 and x2/n2. */
static double ex_z(double x1, double n1, double x2, double n2)
{
	if (n1 <= 0 || n2 <= 0)
		return 0;
	double p = (x1 + x2) / (n1 + n2), se = sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
	return se > 0 ? (x1 / n1 - x2 / n2) / se : 0;
}

/* The callers of f in stack s (nearest first), into find->via. */
static void ex_via(const ex_stack *s, ex_func_find *find)
{
	int32_t j = 0;
	while (j < s->len && s->funcs[j] != find->func)
		j++;
	for (j++; j < s->len && find->n_via < 3; j++)
		if (s->funcs[j] != find->func &&
		    (find->n_via == 0 || find->via[find->n_via - 1] != s->funcs[j]))
			find->via[find->n_via++] = s->funcs[j];
}

static int ex_has_func(const ex_stack *s, int32_t f)
{
	for (int32_t j = 0; j < s->len; j++)
		if (s->funcs[j] == f)
			return 1;
	return 0;
}

/* One greedy step over the stacks not yet explained: each function's
 * excess E = sum over its stacks of (a - k b), k = the growth of all
 * sampled time; the deepest function within 10% of the largest E wins.
 * Returns the function or -1 when nothing left explains 2% of the gap. */
static int ex_pick(ex_ctx *c, double k, double *e, double *depth, double *wsum, int32_t *seen)
{
	size_t nf = c->funcs.count;
	memset(e, 0, nf * sizeof *e);
	memset(depth, 0, nf * sizeof *depth);
	memset(wsum, 0, nf * sizeof *wsum);
	for (size_t i = 0; i < c->n_stacks; i++) {
		const ex_stack *s = &c->stacks[i];
		double x = s->a - k * s->b, w = s->a + s->b;
		int32_t stamp = ++c->stamp;
		for (int32_t j = 0; s->active && j < s->len; j++) {
			int32_t f = s->funcs[j];
			if (seen[f] == stamp)
				continue;
			seen[f] = stamp;
			e[f] += x;
			depth[f] += w * (double)(s->len - 1 - j);
			wsum[f] += w;
		}
	}
	double best = 0;
	for (size_t f = 0; f < nf; f++)
		best = e[f] > best ? e[f] : best;
	if (best <= 0.02 * c->gap || best <= 0)
		return -1;
	int pick = -1;
	double pick_depth = -1;
	for (size_t f = 0; f < nf; f++) {
		double d = wsum[f] > 0 ? depth[f] / wsum[f] : 0;
		if (e[f] >= 0.9 * best && d > pick_depth) {
			pick = (int)f;
			pick_depth = d;
		}
	}
	return pick;
}

static int ex_functions(ex_ctx *c)
{
	if (ex_func_totals(c))
		return -1;
	size_t nf = c->funcs.count;
	if (!nf || c->gap <= 0)
		return 0;
	double k = c->sampled[0] > 0 ? c->sampled[1] / c->sampled[0] : 0;
	double *e = calloc(nf, sizeof *e), *depth = calloc(nf, sizeof *depth),
	       *wsum = calloc(nf, sizeof *wsum);
	int32_t *seen = calloc(nf, sizeof *seen);
	int err = !e || !depth || !wsum || !seen;
	while (!err && c->n_finds < EX_MAX_FUNCS) {
		int f = ex_pick(c, k, e, depth, wsum, seen);
		if (f < 0)
			break;
		ex_func_find *find = &c->finds[c->n_finds++];
		*find = (ex_func_find){.func = f, .explains = e[f]};
		find->z = ex_z((double)c->incl_n[1][f], (double)c->samples_tot[1],
		               (double)c->incl_n[0][f], (double)c->samples_tot[0]);
		const ex_stack *top = NULL;
		for (size_t i = 0; i < c->n_stacks; i++) {
			ex_stack *s = &c->stacks[i];
			if (!s->active || !ex_has_func(s, f))
				continue;
			if (!top || s->a - k * s->b > top->a - k * top->b)
				top = s;
			s->active = 0;
		}
		if (top)
			ex_via(top, find);
	}
	free(e);
	free(depth);
	free(wsum);
	free(seen);
	return err ? ex_oom() : 0;
}

/* --- attribute findings --- */

typedef struct ex_val { /* an instance's numeric value, for ranges */
	double v, dur;
	int slow;
} ex_val;

static int ex_cmp_val(const void *a, const void *b)
{
	const ex_val *x = a, *y = b;
	return (x->v > y->v) - (x->v < y->v);
}

/* Fills the measures of a finding from its counts and duration sum. */
static void ex_measure(ex_ctx *c, ex_attr_find *a, double sum_with, double sum_all)
{
	double n_s = (double)c->n_slow, n_r = (double)(c->n - c->n_slow);
	double with = (double)(a->c_s + a->c_r), without = (double)c->n - with;
	a->p_s = (double)a->c_s / n_s;
	a->p_r = (double)a->c_r / n_r;
	a->mu_with = with > 0 ? sum_with / with : 0;
	a->mu_without = without > 0 ? (sum_all - sum_with) / without : 0;
	a->explains =
	    with > 0 && without > 0 ? (a->p_s - a->p_r) * (a->mu_with - a->mu_without) : 0;
	a->z = ex_z((double)a->c_s, n_s, (double)a->c_r, n_r);
}

/* Keeps the finding if it is over-represented among the slow and explains
 * part of the gap; the list stays sorted by explains, the strongest first. */
static void ex_keep_attr(ex_ctx *c, const ex_attr_find *a)
{
	if (a->p_s <= a->p_r || a->explains <= 0)
		return;
	int at = c->n_attrs;
	while (at > 0 && c->attrs[at - 1].explains < a->explains)
		at--;
	if (at >= EX_MAX_ATTRS)
		return;
	int n = c->n_attrs < EX_MAX_ATTRS ? c->n_attrs : EX_MAX_ATTRS - 1;
	memmove(&c->attrs[at + 1], &c->attrs[at], (size_t)(n - at) * sizeof *a);
	c->attrs[at] = *a;
	if (c->n_attrs < EX_MAX_ATTRS)
		c->n_attrs++;
}

/* A numeric key: the contiguous run of quantile bins (a value range) that
 * explains the most. vals sorted by value. */
static void ex_best_range(ex_ctx *c, int key, ex_val *vals, size_t nv, double sum_all)
{
	size_t cut[EX_BINS + 1], nb = 0;
	cut[nb++] = 0;
	for (int b = 1; b < EX_BINS; b++) {
		size_t i = nv * (size_t)b / EX_BINS;
		while (i < nv && i > 0 && vals[i].v == vals[i - 1].v)
			i++;
		if (i < nv && i > cut[nb - 1])
			cut[nb++] = i;
	}
	cut[nb] = nv;
	ex_attr_find best = {.explains = 0};
	for (size_t i = 0; i < nb; i++)
		for (size_t j = i; j < nb; j++) {
			if (i == 0 && j == nb - 1)
				continue; /* every value: that is "set", not a range */
			ex_attr_find a = {.key = key, .pair = -2};
			double sum = 0;
			for (size_t x = cut[i]; x < cut[j + 1]; x++) {
				a.c_s += vals[x].slow;
				a.c_r += !vals[x].slow;
				sum += vals[x].dur;
			}
			ex_measure(c, &a, sum, sum_all);
			a.lo = vals[cut[i]].v;
			a.hi = vals[cut[j + 1] - 1].v;
			a.open = i == 0 ? -1 : j == nb - 1 ? 1 : 0;
			if (a.p_s > a.p_r && a.explains > best.explains)
				best = a;
		}
	if (best.explains > 0)
		ex_keep_attr(c, &best);
}

static int ex_key_findings(ex_ctx *c, int key, double sum_all)
{
	const ex_key *k = &c->key_vals[key];
	size_t np = c->values.count;
	int64_t *cs = calloc(np + 1, sizeof *cs), *cr = calloc(np + 1, sizeof *cr);
	int64_t *inh = calloc(np + 1, sizeof *inh);
	double *sum = calloc(np + 1, sizeof *sum);
	ex_val *vals = malloc(c->n * sizeof *vals);
	if (!cs || !cr || !inh || !sum || !vals) {
		free(cs), free(cr), free(inh), free(sum), free(vals);
		return ex_oom();
	}
	size_t nv = 0, distinct = 0;
	int numeric = 1;
	for (size_t i = 0; i < c->n; i++) {
		int32_t p = k->pair[i];
		size_t slot = p < 0 ? np : (size_t)p;
		distinct += p >= 0 && cs[slot] + cr[slot] == 0;
		(c->inst[i].slow ? cs : cr)[slot]++;
		sum[slot] += (double)c->inst[i].dur_ns;
		if (p < 0)
			continue;
		inh[slot] += k->distance[i] > 0;
		numeric &= c->pairs[p].type != SQLITE_TEXT;
		vals[nv++] = (ex_val){c->pairs[p].num, (double)c->inst[i].dur_ns, c->inst[i].slow};
	}
	int ranges = numeric && distinct > EX_CATEGORIES;
	for (size_t slot = 0; slot <= np; slot++) {
		if (cs[slot] + cr[slot] == 0 || (ranges && slot < np))
			continue;
		ex_attr_find a = {.key = key, .pair = slot == np ? -1 : (int)slot};
		a.c_s = cs[slot];
		a.c_r = cr[slot];
		a.inherited = 2 * inh[slot] > cs[slot] + cr[slot];
		ex_measure(c, &a, sum[slot], sum_all);
		ex_keep_attr(c, &a);
	}
	if (ranges) {
		qsort(vals, nv, sizeof *vals, ex_cmp_val);
		ex_best_range(c, key, vals, nv, sum_all);
	}
	free(cs), free(cr), free(inh), free(sum), free(vals);
	return 0;
}

/* Keeps at most EX_PER_KEY findings per key. */
static void ex_cap_per_key(ex_ctx *c)
{
	int out = 0;
	for (int i = 0; i < c->n_attrs; i++) {
		int same = 0;
		for (int j = 0; j < out; j++)
			same += c->attrs[j].key == c->attrs[i].key;
		if (same < EX_PER_KEY)
			c->attrs[out++] = c->attrs[i];
	}
	c->n_attrs = out;
}

static int ex_attributes(ex_ctx *c)
{
	double sum_all = 0;
	for (size_t i = 0; i < c->n; i++)
		sum_all += (double)c->inst[i].dur_ns;
	if (c->gap <= 0)
		return 0;
	/* Keep more than the cap while collecting, then trim per key. */
	for (size_t key = 0; key < c->keys.count; key++)
		if (ex_key_findings(c, (int)key, sum_all))
			return -1;
	ex_cap_per_key(c);
	return 0;
}

/* --- output --- */

static int ex_attr_separates(const ex_attr_find *a)
{
	return a->z >= EX_Z_SEPARATES;
}

static int ex_func_separates(const ex_ctx *c, const ex_func_find *f)
{
	return f->z >= EX_Z_SEPARATES && c->incl_n[1][f->func] >= EX_MIN_SAMPLES;
}

/* "1.2 ms" style duration into buf. */
static const char *ex_dur(double ns, char *buf, size_t len)
{
	double a = fabs(ns);
	if (a >= 1e9)
		snprintf(buf, len, "%.2f s", ns / 1e9);
	else if (a >= 1e6)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else if (a >= 1e3)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else
		snprintf(buf, len, "%.0f ns", ns);
	return buf;
}

static void ex_print_value(FILE *out, const ex_ctx *c, const ex_attr_find *a)
{
	const char *key = c->keys.strs[a->key];
	if (a->pair == -1) {
		fprintf(out, "%s (not set)", key);
	} else if (a->pair == -2) {
		if (a->open < 0)
			fprintf(out, "%s <= %.15g", key, a->hi);
		else if (a->open > 0)
			fprintf(out, "%s >= %.15g", key, a->lo);
		else
			fprintf(out, "%s in [%.15g, %.15g]", key, a->lo, a->hi);
	} else {
		const ex_pair *p = &c->pairs[a->pair];
		fprintf(out, p->type == SQLITE_TEXT ? "%s = \"%s\"" : "%s = %s", key, p->text);
	}
}

static void ex_print_via(const ex_ctx *c, const ex_func_find *f)
{
	for (int i = 0; i < f->n_via; i++)
		printf("%s%s", i ? " < " : " via ", c->funcs.strs[f->via[i]]);
}

static void ex_text_header(const ex_ctx *c)
{
	char a[32], b[32], g[32], m[32];
	printf("explain \"%s\": %zu instances; the slowest %g%% (%zu, from %s) average %s,"
	       " the rest (%zu) %s: a gap of %s per instance.\n",
	       c->o->span, c->n, c->o->slow_pct, c->n_slow,
	       ex_dur((double)c->inst[c->n_slow - 1].dur_ns, m, sizeof m),
	       ex_dur(c->mean_slow, a, sizeof a), c->n - c->n_slow,
	       ex_dur(c->mean_rest, b, sizeof b), ex_dur(c->gap, g, sizeof g));
}

static void ex_text_attrs(const ex_ctx *c)
{
	char e[32];
	int strong = 0;
	for (int i = 0; i < c->n_attrs; i++)
		strong += ex_attr_separates(&c->attrs[i]);
	if (!strong) {
		printf("\nInputs: no attribute separates the slowest from the rest");
		if (c->n_attrs) {
			printf(" (the strongest, ");
			ex_print_value(stdout, c, &c->attrs[0]);
			printf(", %.0f%% vs %.0f%%, is within chance)", 100 * c->attrs[0].p_s,
			       100 * c->attrs[0].p_r);
		}
		printf(".\n");
		return;
	}
	printf("\nInputs over-represented among the slowest (share of slow vs rest;"
	       " part of the gap they explain):\n");
	for (int i = 0; i < c->n_attrs; i++) {
		const ex_attr_find *a = &c->attrs[i];
		printf("  ");
		ex_print_value(stdout, c, a);
		printf(": %.1f%% vs %.1f%%; explains %s (%.0f%%)%s [%lld slow / %lld rest]%s\n",
		       100 * a->p_s, 100 * a->p_r, ex_dur(a->explains, e, sizeof e),
		       100 * a->explains / c->gap, a->inherited ? "; inherited" : "",
		       (long long)a->c_s, (long long)a->c_r,
		       !ex_attr_separates(a)   ? "  (within chance)"
		       : a->c_s < EX_MIN_COUNT ? "  (few instances)"
		                               : "");
	}
}

static void ex_text_funcs(const ex_ctx *c)
{
	char s[32], r[32], e[32], ss[32], rs[32];
	if (!c->samples_tot[1]) {
		printf("\nCode: no samples inside the slowest instances.\n");
		return;
	}
	int strong = 0;
	for (int i = 0; i < c->n_finds; i++)
		strong += ex_func_separates(c, &c->finds[i]);
	if (!strong)
		printf("\nCode: no function separates the slowest from the rest: their time grows"
		       " in proportion everywhere (more of the same work, or slower).\n");
	else
		printf("\nCode that separates them (inclusive time per instance, slow vs rest;"
		       " the deepest function first, its callers after \"via\"):\n");
	for (int i = 0; i < c->n_finds && strong; i++) {
		const ex_func_find *f = &c->finds[i];
		int fn = f->func;
		printf("  %d. %s: %s vs %s (self %s vs %s); explains %s (%.0f%%)", i + 1,
		       c->funcs.strs[fn], ex_dur(c->incl[1][fn], s, sizeof s),
		       ex_dur(c->incl[0][fn], r, sizeof r), ex_dur(c->self[1][fn], ss, sizeof ss),
		       ex_dur(c->self[0][fn], rs, sizeof rs), ex_dur(f->explains, e, sizeof e),
		       100 * f->explains / c->gap);
		ex_print_via(c, f);
		printf(" [%lld slow / %lld rest samples]%s\n", (long long)c->incl_n[1][fn],
		       (long long)c->incl_n[0][fn],
		       c->incl_n[1][fn] < EX_MIN_SAMPLES ? "  (few samples)"
		       : !ex_func_separates(c, f)        ? "  (within chance)"
		                                         : "");
	}
}

static void ex_text_time(const ex_ctx *c)
{
	char s[32], r[32], g[32];
	double sampled_gap = c->sampled[1] - c->sampled[0];
	if (!strcmp(c->mode, "wall")) {
		double wait_gap = c->waiting[1] - c->waiting[0];
		printf("\nWaiting (wall-clock sampling): %s vs %s per instance in blocking calls;"
		       " %.0f%% of the gap.\n",
		       ex_dur(c->waiting[1], s, sizeof s), ex_dur(c->waiting[0], r, sizeof r),
		       c->gap > 0 ? 100 * wait_gap / c->gap : 0.0);
		for (int i = 0; i < c->n_finds; i++)
			if (ex_is_waiting(c->funcs.strs[c->finds[i].func])) {
				printf("  waiting in %s", c->funcs.strs[c->finds[i].func]);
				ex_print_via(c, &c->finds[i]);
				printf("\n");
			}
		return;
	}
	if (strcmp(c->mode, "cpu"))
		return;
	double off = c->gap - sampled_gap;
	printf("\nOn CPU (CPU-time sampling): %s vs %s per instance sampled; %s of the gap"
	       " (%.0f%%) is time off CPU (waiting: I/O, locks, sleep, or preempted).\n",
	       ex_dur(c->sampled[1], s, sizeof s), ex_dur(c->sampled[0], r, sizeof r),
	       ex_dur(off > 0 ? off : 0, g, sizeof g),
	       c->gap > 0 && off > 0 ? 100 * off / c->gap : 0.0);
}

static void ex_text_diagnosis(const ex_ctx *c)
{
	int attr = c->n_attrs && ex_attr_separates(&c->attrs[0]);
	int func = c->n_finds && ex_func_separates(c, &c->finds[0]);
	printf("\nDiagnosis: ");
	if (c->gap <= 0) {
		printf("every instance lasts the same; nothing to explain.\n");
		return;
	}
	if (!attr && !func)
		printf("no separating cause found: the slowest instances have the same inputs"
		       " and run the same code as the rest");
	if (attr) {
		printf("the slowest \"%s\" mostly have ", c->o->span);
		ex_print_value(stdout, c, &c->attrs[0]);
		printf(" (%.0f%% vs %.0f%%)", 100 * c->attrs[0].p_s, 100 * c->attrs[0].p_r);
	}
	if (func) {
		printf("%s %s", attr ? " and spend" : "the slowest spend", "the extra time in ");
		printf("%s", c->funcs.strs[c->finds[0].func]);
		ex_print_via(c, &c->finds[0]);
		printf(" (%.0f%% of the gap)", 100 * c->finds[0].explains / c->gap);
	}
	double off = c->gap - (c->sampled[1] - c->sampled[0]);
	if (!strcmp(c->mode, "cpu") && off > 0.5 * c->gap)
		printf("; most of the gap (%.0f%%) is time off CPU", 100 * off / c->gap);
	printf(".\n");
}

static void ex_text_diff(const ex_ctx *c)
{
	const char *p = c->o->diff;
	if (!p)
		return;
	printf("\nProfiles (sampled ns per instance): %s.slow.pb.gz, %s.rest.pb.gz,"
	       " %s.speedscope.json\n  go tool pprof -top -diff_base %s.rest.pb.gz"
	       " %s.slow.pb.gz\n",
	       p, p, p, p, p);
}

static void ex_text(const ex_ctx *c)
{
	ex_text_header(c);
	if (c->gap > 0) {
		ex_text_attrs(c);
		ex_text_funcs(c);
		ex_text_time(c);
	}
	ex_text_diagnosis(c);
	ex_text_diff(c);
}

/* A finite number, or null (JSON has no NaN). */
static void ex_json_num(double v)
{
	if (isfinite(v))
		printf("%.6g", v);
	else
		fputs("null", stdout);
}

static void ex_json_ns(double v)
{
	printf("%lld", isfinite(v) ? (long long)llround(v) : 0LL);
}

static void ex_json_value(const ex_ctx *c, const ex_attr_find *a)
{
	if (a->pair == -1) {
		fputs("null", stdout);
	} else if (a->pair == -2) {
		char buf[96];
		if (a->open < 0)
			snprintf(buf, sizeof buf, "<= %.15g", a->hi);
		else if (a->open > 0)
			snprintf(buf, sizeof buf, ">= %.15g", a->lo);
		else
			snprintf(buf, sizeof buf, "%.15g..%.15g", a->lo, a->hi);
		mg_json_str(stdout, buf);
		printf(", \"range\": {\"min\": ");
		ex_json_num(a->lo);
		printf(", \"max\": ");
		ex_json_num(a->hi);
		printf("}");
	} else if (c->pairs[a->pair].type == SQLITE_TEXT) {
		mg_json_str(stdout, c->pairs[a->pair].text);
	} else {
		fputs(c->pairs[a->pair].text, stdout);
	}
}

static void ex_json_attrs(const ex_ctx *c)
{
	printf("\"attributes\": [");
	for (int i = 0; i < c->n_attrs; i++) {
		const ex_attr_find *a = &c->attrs[i];
		printf("%s\n  {\"key\": ", i ? "," : "");
		mg_json_str(stdout, c->keys.strs[a->key]);
		printf(", \"value\": ");
		ex_json_value(c, a);
		printf(", \"slow_share\": ");
		ex_json_num(a->p_s);
		printf(", \"rest_share\": ");
		ex_json_num(a->p_r);
		printf(", \"slow_count\": %lld, \"rest_count\": %lld", (long long)a->c_s,
		       (long long)a->c_r);
		printf(", \"explains_ns\": ");
		ex_json_ns(a->explains);
		printf(", \"gap_share\": ");
		ex_json_num(a->explains / c->gap);
		printf(", \"mean_dur_with_ns\": ");
		ex_json_ns(a->mu_with);
		printf(", \"mean_dur_without_ns\": ");
		ex_json_ns(a->mu_without);
		printf(", \"z\": ");
		ex_json_num(a->z);
		printf(", \"inherited\": %s, \"separates\": %s, \"low_confidence\": %s}",
		       a->inherited ? "true" : "false", ex_attr_separates(a) ? "true" : "false",
		       a->c_s < EX_MIN_COUNT ? "true" : "false");
	}
	printf("%s]", c->n_attrs ? "\n" : "");
}

static void ex_json_funcs(const ex_ctx *c)
{
	printf("\"functions\": [");
	for (int i = 0; i < c->n_finds; i++) {
		const ex_func_find *f = &c->finds[i];
		int fn = f->func;
		printf("%s\n  {\"function\": ", i ? "," : "");
		mg_json_str(stdout, c->funcs.strs[fn]);
		printf(", \"slow_ns_per_span\": ");
		ex_json_ns(c->incl[1][fn]);
		printf(", \"rest_ns_per_span\": ");
		ex_json_ns(c->incl[0][fn]);
		printf(", \"slow_self_ns_per_span\": ");
		ex_json_ns(c->self[1][fn]);
		printf(", \"rest_self_ns_per_span\": ");
		ex_json_ns(c->self[0][fn]);
		printf(", \"gap_ns\": ");
		ex_json_ns(c->incl[1][fn] - c->incl[0][fn]);
		printf(", \"explains_ns\": ");
		ex_json_ns(f->explains);
		printf(", \"gap_share\": ");
		ex_json_num(f->explains / c->gap);
		printf(", \"slow_samples\": %lld, \"rest_samples\": %lld, \"z\": ",
		       (long long)c->incl_n[1][fn], (long long)c->incl_n[0][fn]);
		ex_json_num(f->z);
		printf(", \"via\": [");
		for (int j = 0; j < f->n_via; j++) {
			printf("%s", j ? ", " : "");
			mg_json_str(stdout, c->funcs.strs[f->via[j]]);
		}
		printf("], \"waiting\": %s, \"separates\": %s, \"low_confidence\": %s}",
		       ex_is_waiting(c->funcs.strs[fn]) ? "true" : "false",
		       ex_func_separates(c, f) ? "true" : "false",
		       c->incl_n[1][fn] < EX_MIN_SAMPLES ? "true" : "false");
	}
	printf("%s]", c->n_finds ? "\n" : "");
}

static void ex_json_time(const ex_ctx *c)
{
	printf("\"time\": {\"mode\": ");
	mg_json_str(stdout, c->mode[0] ? c->mode : NULL);
	printf(", \"slow_sampled_ns_per_span\": ");
	ex_json_ns(c->sampled[1]);
	printf(", \"rest_sampled_ns_per_span\": ");
	ex_json_ns(c->sampled[0]);
	printf(", \"slow_samples\": %lld, \"rest_samples\": %lld", (long long)c->samples_tot[1],
	       (long long)c->samples_tot[0]);
	double unsampled = c->gap - (c->sampled[1] - c->sampled[0]);
	printf(", \"unsampled_gap_ns\": ");
	ex_json_ns(unsampled);
	printf(", \"off_cpu_share\": ");
	if (!strcmp(c->mode, "cpu") && c->gap > 0)
		ex_json_num(unsampled > 0 ? unsampled / c->gap : 0);
	else
		fputs("null", stdout);
	printf(", \"waiting_gap_ns\": ");
	ex_json_ns(c->waiting[1] - c->waiting[0]);
	printf(", \"waiting_share\": ");
	if (!strcmp(c->mode, "wall") && c->gap > 0)
		ex_json_num((c->waiting[1] - c->waiting[0]) / c->gap);
	else
		fputs("null", stdout);
	printf("}");
}

/* --diff: the files written, named as given (PREFIX + suffix). */
static void ex_json_diff(const ex_ctx *c)
{
	static const char *const names[3][2] = {{"slow_pprof", ".slow.pb.gz"},
	                                        {"rest_pprof", ".rest.pb.gz"},
	                                        {"speedscope", ".speedscope.json"}};
	if (!c->o->diff)
		return;
	printf(",\n\"diff\": {\"unit\": \"sampled ns per instance\"");
	for (int i = 0; i < 3; i++) {
		size_t len = strlen(c->o->diff) + strlen(names[i][1]) + 1;
		char *path = malloc(len);
		if (path)
			snprintf(path, len, "%s%s", c->o->diff, names[i][1]);
		printf(", \"%s\": ", names[i][0]);
		mg_json_str(stdout, path);
		free(path);
	}
	printf("}");
}

static void ex_json(const ex_ctx *c)
{
	int separates = (c->n_attrs && ex_attr_separates(&c->attrs[0])) ||
	                (c->n_finds && ex_func_separates(c, &c->finds[0]));
	printf("{\"span\": ");
	mg_json_str(stdout, c->o->span);
	printf(", \"slow_pct\": ");
	ex_json_num(c->o->slow_pct);
	printf(",\n\"slow\": {\"count\": %zu, \"min_dur_ns\": %lld, \"mean_dur_ns\": ", c->n_slow,
	       (long long)c->inst[c->n_slow - 1].dur_ns);
	ex_json_ns(c->mean_slow);
	printf("},\n\"rest\": {\"count\": %zu, \"max_dur_ns\": %lld, \"mean_dur_ns\": ",
	       c->n - c->n_slow, (long long)c->inst[c->n_slow].dur_ns);
	ex_json_ns(c->mean_rest);
	printf("},\n\"gap_ns\": ");
	ex_json_ns(c->gap);
	printf(", \"separating_cause_found\": %s,\n", separates ? "true" : "false");
	ex_json_attrs(c);
	printf(",\n");
	ex_json_funcs(c);
	printf(",\n");
	ex_json_time(c);
	ex_json_diff(c);
	printf("}\n");
}

/* --- the command --- */

/* --diff PREFIX: the slow and rest profiles, per instance (export_diff.h). */
static int ex_write_diff(const ex_ctx *c)
{
	if (!c->o->diff)
		return 0;
	struct mg_xdiff_stack *st = calloc(c->n_stacks + 1, sizeof *st);
	if (!st)
		return ex_oom();
	for (size_t i = 0; i < c->n_stacks; i++)
		st[i] =
		    (struct mg_xdiff_stack){c->stacks[i].funcs, c->stacks[i].len, c->stacks[i].a,
		                            c->stacks[i].b,     c->stacks[i].n_s, c->stacks[i].n_r};
	struct mg_xdiff d = {.span = c->o->span,
	                     .mode = c->mode,
	                     .funcs = c->funcs.strs,
	                     .n_funcs = c->funcs.count,
	                     .stacks = st,
	                     .n_stacks = c->n_stacks,
	                     .n_slow = c->n_slow,
	                     .n_rest = c->n - c->n_slow,
	                     .slow_pct = c->o->slow_pct,
	                     .slow_min_dur_ns = c->inst[c->n_slow - 1].dur_ns};
	int err = mg_xdiff_write(&d, c->o->diff);
	free(st);
	return err;
}

static void ex_read_mode(ex_ctx *c)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db,
	                       "SELECT mode FROM sampler GROUP BY mode ORDER BY count(*) DESC"
	                       " LIMIT 1",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(c->mode, sizeof c->mode, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static int ex_run(ex_ctx *c)
{
	mg_progress_init(&c->prog);
	if (ex_load_instances(c) || ex_split(c))
		return -1;
	int probe = (int64_t)c->n * EX_PROBE_SHARE < c->total_spans;
	mg_progress_update(&c->prog, "explain: %zu instances", c->n);
	if (ex_load_ancestors(c, probe) || ex_load_attrs(c, probe))
		return -1;
	probe = (int64_t)c->n_inside * EX_PROBE_SHARE < c->total_spans;
	if (ex_load_samples(c, probe) || ex_load_stacks(c))
		return -1;
	ex_read_mode(c);
	int err = ex_functions(c) || ex_attributes(c) || ex_write_diff(c);
	mg_progress_done(&c->prog);
	if (err)
		return -1;
	if (c->o->json)
		ex_json(c);
	else
		ex_text(c);
	return 0;
}

static void ex_free(ex_ctx *c)
{
	free(c->inst);
	mg_hash_free(&c->inside);
	mg_hash_free(&c->anc_first);
	mg_hash_free(&c->cell_at);
	mg_hash_free(&c->node_at);
	free(c->inside_ids);
	free(c->anc);
	for (size_t i = 0; c->key_vals && i < c->keys.count; i++) {
		free(c->key_vals[i].pair);
		free(c->key_vals[i].distance);
	}
	free(c->key_vals);
	free(c->pairs);
	mg_strtab_free(&c->keys);
	mg_strtab_free(&c->values);
	mg_strtab_free(&c->funcs);
	free(c->cells);
	free(c->nodes);
	for (size_t i = 0; c->stacks && i < c->n_stacks; i++)
		free(c->stacks[i].funcs);
	free(c->stacks);
	for (int g = 0; g < 2; g++) {
		free(c->incl[g]);
		free(c->self[g]);
		free(c->incl_n[g]);
	}
}

static void ex_usage(FILE *out)
{
	fprintf(out,
	        "usage: spanprof explain DB SPAN_NAME [--slow PCT] [--format text|json]\n"
	        "                        [--diff PREFIX]\n"
	        "\n"
	        "Why are some instances of a span slow? Compares the slowest PCT%% of the\n"
	        "spans named SPAN_NAME (by duration) with the rest: the attribute values\n"
	        "(their own and their ancestors') and the functions (inclusive and self\n"
	        "time per instance) that separate them, ordered by how much of the\n"
	        "duration gap each explains, with the sample counts behind each figure;\n"
	        "and how much of the gap is time off CPU (CPU sampling) or waiting (wall).\n"
	        "Measures: docs/cookbook.md, \"Why are some spans slow?\".\n"
	        "\n"
	        "  --slow PCT       the slowest PCT%% are \"slow\" (default 10; 0 < PCT < 100)\n"
	        "  --format F       text (default) or json\n"
	        "  --diff PREFIX    also write the slow and the rest profiles, in sampled\n"
	        "                   ns per instance: PREFIX.slow.pb.gz and PREFIX.rest.pb.gz\n"
	        "                   for 'go tool pprof -diff_base PREFIX.rest.pb.gz\n"
	        "                   PREFIX.slow.pb.gz', PREFIX.speedscope.json (both, side\n"
	        "                   by side, for speedscope)\n"
	        "  -h, --help\n");
}

/* 0, 1 (--help) or -1 (bad usage, printed). */
static int ex_parse(int argc, char **argv, ex_opts *o)
{
	static const struct option opts[] = {{"slow", required_argument, NULL, 's'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {"diff", required_argument, NULL, 'd'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int ch;
	char *end = NULL;
	o->slow_pct = 10;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h')
			return 1;
		if (ch == 'd' && !*optarg) {
			fprintf(stderr, "spanprof explain: --diff wants a file name prefix\n");
			return -1;
		} else if (ch == 'd') {
			o->diff = optarg;
		} else if (ch == 's') {
			o->slow_pct = strtod(optarg, &end);
			if (end == optarg || *end || !(o->slow_pct > 0 && o->slow_pct < 100)) {
				fprintf(stderr,
				        "spanprof explain: --slow wants a percentage above 0 and"
				        " below 100, not '%s'\n",
				        optarg);
				return -1;
			}
		} else if (ch == 'f' && (!strcmp(optarg, "text") || !strcmp(optarg, "json"))) {
			o->json = !strcmp(optarg, "json");
		} else if (ch == 'f') {
			fprintf(stderr, "spanprof explain: --format is text or json, not '%s'\n",
			        optarg);
			return -1;
		} else {
			fprintf(stderr, "spanprof explain: expected DB SPAN_NAME [--slow PCT]"
			                " [--format text|json] (try 'spanprof explain --help')\n");
			return -1;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "spanprof explain: expected DB SPAN_NAME [--slow PCT]"
		                " [--format text|json] (try 'spanprof explain --help')\n");
		return -1;
	}
	o->db = argv[optind];
	o->span = argv[optind + 1];
	return 0;
}

int mg_cmd_explain(int argc, char **argv)
{
	ex_opts o = {0};
	/* One thread: no mutex around every column read (SQLite is not yet
	 * initialized in this process; if it were, this is refused, harmlessly). */
	sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
	int p = ex_parse(argc, argv, &o);
	if (p)
		return p > 0 ? (ex_usage(stdout), 0) : 2;
	ex_ctx c = {.o = &o, .last_n = -1, .last_key = -1};
	if (mg_strtab_init(&c.keys) || mg_strtab_init(&c.values) || mg_strtab_init(&c.funcs)) {
		ex_free(&c);
		ex_oom();
		return 1;
	}
	c.db = mg_db_open(o.db, MG_DB_SPANPROF);
	int rc = 1;
	if (c.db && !mg_exec(c.db, "PRAGMA cache_size=-65536;"))
		rc = ex_run(&c) ? 1 : 0;
	sqlite3_close(c.db);
	ex_free(&c);
	return rc;
}
