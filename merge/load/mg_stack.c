/*
 * mg_stack.c - the stack trie of the log loader: a sample's pcs, hashed
 * twice into a 128-bit key, map to a stack id; a new stack is symbolized
 * (leaf first, inline frames expanded) and walked into the trie of
 * (parent, frame) nodes, so each distinct stack is symbolized once per
 * log. The sample then goes to attribution (mg_attr.c).
 *
 * Threading: the merge thread. Not signal-safe.
 */
#include "mg_load_int.h"
#include "spanprof.h"

/* Stack-trie node for (parent, frame), created on first sight. */
static int64_t mg_trie_node(mg_merge *mg, int64_t parent, int64_t frame, int depth)
{
	uint64_t *hit = mg_hash_get(&mg->trie, (uint64_t)parent, (uint64_t)frame);
	if (hit)
		return (int64_t)*hit;
	int64_t id = mg->next_stack_id++;
	sqlite3_stmt *st = mg->ins_stack;
	sqlite3_bind_int64(st, 1, id);
	if (parent)
		sqlite3_bind_int64(st, 2, parent);
	sqlite3_bind_int64(st, 3, frame);
	sqlite3_bind_int(st, 4, depth);
	if (mg_step(st) || mg_hash_put(&mg->trie, (uint64_t)parent, (uint64_t)frame, (uint64_t)id))
		return -1;
	return id;
}

/* The 128-bit hash of the pcs (common/mg_hash.h): a key whose collision
 * chance is negligible, so an identical stack skips symbolization and the
 * trie walk. */
static mg_hash128 mg_pcs_hash(const lc_rec_sample *s)
{
	mg_hash128 h = mg_hash128_init(s->nframes);
	for (uint32_t i = 0; i < s->nframes; i++)
		mg_hash128_add(&h, s->pcs[i]);
	return h;
}

/* Symbolizes the pcs (leaf first) and returns the leaf trie node, 0 for an
 * empty stack, -1 on error. */
static int64_t mg_stack_id_slow(mg_log *lg, const lc_rec_sample *s)
{
	int64_t frames[MG_MAX_STACK_FRAMES];
	int n = 0;
	for (uint32_t i = 0; i < s->nframes && n < MG_MAX_STACK_FRAMES; i++) {
		int k = mg_sym_resolve(lg->proc, s->pcs[i], i == 0, frames + n,
		                       MG_MAX_STACK_FRAMES - n);
		if (k < 0)
			return -1;
		n += k;
	}
	int64_t node = 0;
	for (int d = 0; d < n; d++) {
		node = mg_trie_node(lg->mg, node, frames[n - 1 - d], d);
		if (node < 0)
			return -1;
	}
	return node;
}

static int64_t mg_stack_id(mg_log *lg, const lc_rec_sample *s)
{
	mg_hash128 h = mg_pcs_hash(s);
	uint64_t *hit = mg_hash_get(&lg->stacks, h.h1, h.h2);
	if (hit)
		return (int64_t)*hit;
	int64_t id = mg_stack_id_slow(lg, s);
	if (id >= 0 && mg_hash_put(&lg->stacks, h.h1, h.h2, (uint64_t)id))
		return -1;
	return id;
}

int mg_on_sample(mg_log *lg, const lc_record *rec)
{
	const lc_rec_sample *s = &rec->u.sample;
	if (!lg->proc && !(lg->proc = mg_sym_proc_new(lg->mg->sym, lg->pid)))
		return -1;
	int64_t stack = mg_stack_id(lg, s);
	if (stack < 0)
		return -1;
	if (mg_repair_sample(lg->repair, s->tid, rec->ts_ns))
		return -1;
	if (mg_outside_window(lg->mg, rec->ts_ns, rec->ts_ns))
		return 0;
	lg->mg->samples++;
	return mg_attr_sample(lg->attr, s->tid, rec->ts_ns, stack,
	                      s->weight_us ? (int64_t)s->weight_us * 1000 : (int64_t)lg->weight_ns);
}
