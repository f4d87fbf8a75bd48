/*
 * mg_hash.h - open-addressing hash map from a pair of 64-bit keys to a 64-bit
 * value, used by merge for its caches (pc -> frames, trie edges, open spans).
 *
 * Why not a library: the Debian libraries the project depends on (SQLite,
 * elfutils, lz4) offer no general hash map, and pulling glib into the CLI for
 * one map is heavier than these ~100 lines. Linear probing with backward-shift
 * deletion keeps lookups to one or two cache lines and needs no tombstones.
 *
 * Threading: none; one map per user. Not signal-safe (allocates).
 */
#ifndef MG_HASH_H
#define MG_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct mg_hash_slot {
	uint64_t k1, k2, value;
	uint8_t used;
} mg_hash_slot;

typedef struct mg_hash {
	mg_hash_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t len;
} mg_hash;

/* Returns a pointer to the value of (k1, k2), or NULL if absent. */
uint64_t *mg_hash_get(const mg_hash *h, uint64_t k1, uint64_t k2);
/* Starts loading the slot where (k1, k2) would be into the cache: a scan
 * that looks up many random keys prefetches a batch of them first, so that
 * their cache misses overlap instead of following one another. */
void mg_hash_prefetch(const mg_hash *h, uint64_t k1, uint64_t k2);
/* Inserts or overwrites. Returns 0 or -SP_ENOMEM. */
int mg_hash_put(mg_hash *h, uint64_t k1, uint64_t k2, uint64_t value);
/* Makes room for n entries in all: the puts up to n never rehash (which
 * re-places every entry: costly for a map of millions). 0 or -SP_ENOMEM. */
int mg_hash_reserve(mg_hash *h, size_t n);
/* Removes (k1, k2) if present; returns 1 if it was there. */
int mg_hash_del(mg_hash *h, uint64_t k1, uint64_t k2);
void mg_hash_free(mg_hash *h); /* leaves an empty, reusable map */

#endif
