/*
 * mg_hash.c - see mg_hash.h. Linear probing, load factor <= 1/2, capacity
 * doubles; deletion shifts later members of the probe run back so that no
 * tombstones are needed.
 */
#include "mg_hash.h"

#include <stdlib.h>
#include <string.h>

#include "spanprof.h"

static size_t mg_hash_index(const mg_hash *h, uint64_t k1, uint64_t k2)
{
	uint64_t x = k1 * 0x9E3779B97F4A7C15ull ^ (k2 + 0x632BE59BD9B4E019ull);
	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	return (size_t)x & (h->cap - 1);
}

uint64_t *mg_hash_get(const mg_hash *h, uint64_t k1, uint64_t k2)
{
	if (!h->cap)
		return NULL;
	for (size_t i = mg_hash_index(h, k1, k2);; i = (i + 1) & (h->cap - 1)) {
		mg_hash_slot *s = &h->slots[i];
		if (!s->used)
			return NULL;
		if (s->k1 == k1 && s->k2 == k2)
			return &s->value;
	}
}

void mg_hash_prefetch(const mg_hash *h, uint64_t k1, uint64_t k2)
{
	if (h->cap)
		__builtin_prefetch(&h->slots[mg_hash_index(h, k1, k2)]);
}

static void mg_hash_place(mg_hash *h, const mg_hash_slot *in)
{
	size_t i = mg_hash_index(h, in->k1, in->k2);
	while (h->slots[i].used)
		i = (i + 1) & (h->cap - 1);
	h->slots[i] = *in;
}

static int mg_hash_grow(mg_hash *h)
{
	size_t old_cap = h->cap;
	mg_hash_slot *old = h->slots;
	size_t cap = old_cap ? old_cap * 2 : 64;
	mg_hash_slot *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return -SP_ENOMEM;
	h->slots = slots;
	h->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].used)
			mg_hash_place(h, &old[i]);
	free(old);
	return 0;
}

int mg_hash_reserve(mg_hash *h, size_t n)
{
	while (n * 2 > h->cap) {
		int err = mg_hash_grow(h);
		if (err)
			return err;
	}
	return 0;
}

int mg_hash_put(mg_hash *h, uint64_t k1, uint64_t k2, uint64_t value)
{
	uint64_t *v = mg_hash_get(h, k1, k2);
	if (v) {
		*v = value;
		return 0;
	}
	if ((h->len + 1) * 2 > h->cap) {
		int err = mg_hash_grow(h);
		if (err)
			return err;
	}
	mg_hash_slot s = {.k1 = k1, .k2 = k2, .value = value, .used = 1};
	mg_hash_place(h, &s);
	h->len++;
	return 0;
}

int mg_hash_del(mg_hash *h, uint64_t k1, uint64_t k2)
{
	uint64_t *v = mg_hash_get(h, k1, k2);
	if (!v)
		return 0;
	size_t mask = h->cap - 1;
	size_t hole =
	    (size_t)((mg_hash_slot *)((char *)v - offsetof(mg_hash_slot, value)) - h->slots);
	h->slots[hole].used = 0;
	for (size_t i = (hole + 1) & mask; h->slots[i].used; i = (i + 1) & mask) {
		size_t home = mg_hash_index(h, h->slots[i].k1, h->slots[i].k2);
		/* Move i back into the hole unless its home lies in (hole, i]. */
		int stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
		if (stays)
			continue;
		h->slots[hole] = h->slots[i];
		h->slots[i].used = 0;
		hole = i;
	}
	h->len--;
	return 1;
}

void mg_hash_free(mg_hash *h)
{
	free(h->slots);
	h->slots = NULL;
	h->cap = h->len = 0;
}

mg_hash128 mg_hash128_bytes(const void *p, size_t n, uint64_t seed)
{
	mg_hash128 h = mg_hash128_init(seed);
	for (size_t i = 0; i < n; i++)
		mg_hash128_add(&h, ((const uint8_t *)p)[i]);
	return h;
}

mg_hash128 mg_hash128_str(const char *s)
{
	return mg_hash128_bytes(s, strlen(s), 0);
}
