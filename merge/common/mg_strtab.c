/*
 * mg_strtab.c - see mg_strtab.h. The lookup walks the keys (h1, h2),
 * (h1, h2 + 1), ... until it finds s or a free key: strings are never
 * removed, so the first free key ends the search and is where s goes.
 */
#include "mg_strtab.h"

#include <stdlib.h>
#include <string.h>

#include "mg_grow.h"
#include "spanprof.h"

int mg_strtab_init(mg_strtab *t)
{
	memset(t, 0, sizeof *t);
	return 0;
}

/* The index of s, or -1 with *h2 set to the free key where s would go. */
static int64_t mg_strtab_lookup(const mg_strtab *t, const char *s, uint64_t h1, uint64_t *h2)
{
	for (;; (*h2)++) {
		const uint64_t *hit = mg_hash_get(&t->index, h1, *h2);
		if (!hit)
			return -1;
		if (!strcmp(t->strs[*hit], s))
			return (int64_t)*hit;
	}
}

int64_t mg_strtab_find(const mg_strtab *t, const char *s)
{
	mg_hash128 h = mg_hash128_str(s);
	return mg_strtab_lookup(t, s, h.h1, &h.h2);
}

int64_t mg_strtab_intern(mg_strtab *t, const char *s, int *added)
{
	if (added)
		*added = 0;
	mg_hash128 h = mg_hash128_str(s);
	int64_t i = mg_strtab_lookup(t, s, h.h1, &h.h2);
	if (i >= 0)
		return i;
	char *copy = MG_GROW_ONE(t->strs, t->cap, t->count) ? NULL : strdup(s);
	if (!copy || mg_hash_put(&t->index, h.h1, h.h2, t->count)) {
		free(copy);
		return -SP_ENOMEM;
	}
	t->strs[t->count] = copy;
	if (added)
		*added = 1;
	return (int64_t)t->count++;
}

void mg_strtab_free(mg_strtab *t)
{
	for (size_t i = 0; i < t->count; i++)
		free(t->strs[i]);
	free(t->strs);
	mg_hash_free(&t->index);
	memset(t, 0, sizeof *t);
}
