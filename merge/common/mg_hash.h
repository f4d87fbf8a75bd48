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

/*
 * The one content hash of merge: 128 bits in two 64-bit halves, which are
 * the two keys of an mg_hash (a string, a stack of pcs). One half is FNV-1a,
 * the other a multiply-xorshift, so the pair collides far less often than
 * either half. Fed one 64-bit word at a time (a byte, a pc); inline because
 * the merge hashes every sample's stack with it.
 */
typedef struct mg_hash128 {
	uint64_t h1, h2;
} mg_hash128;

static inline mg_hash128 mg_hash128_init(uint64_t seed)
{
	return (mg_hash128){0xcbf29ce484222325ull ^ seed, 0x9e3779b97f4a7c15ull + seed};
}

static inline void mg_hash128_add(mg_hash128 *h, uint64_t word)
{
	h->h1 = (h->h1 ^ word) * 0x100000001b3ull;
	h->h2 = (h->h2 + word) * 0xff51afd7ed558ccdull;
	h->h2 ^= h->h2 >> 33;
}

/* The hash of a NUL-terminated string, byte by byte. */
mg_hash128 mg_hash128_str(const char *s);
/* The hash of n bytes, byte by byte, from mg_hash128_init(seed). */
mg_hash128 mg_hash128_bytes(const void *p, size_t n, uint64_t seed);

#endif
