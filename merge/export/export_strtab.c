/*
 * export_strtab.c - string interning for the formats that index their strings
 * (sp_xstrtab: one copy per distinct string, its index in insertion
 * order).
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

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

int sp_xstrtab_init(struct sp_xstrtab *t)
{
	memset(t, 0, sizeof *t);
	t->nslots = 1024;
	t->slots = calloc(t->nslots, sizeof *t->slots);
	return t->slots ? 0 : -SP_ENOMEM;
}

static int rehash(struct sp_xstrtab *t)
{
	size_t n = t->nslots * 2;
	uint32_t *slots = calloc(n, sizeof *slots);
	if (!slots)
		return -SP_ENOMEM;
	for (size_t i = 0; i < t->count; i++) {
		size_t j = str_hash(t->strs[i]) & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
	return 0;
}

int64_t sp_xstrtab_intern(struct sp_xstrtab *t, const char *s, int *added)
{
	if (added)
		*added = 0;
	size_t j = str_hash(s) & (t->nslots - 1);
	for (; t->slots[j]; j = (j + 1) & (t->nslots - 1))
		if (!strcmp(t->strs[t->slots[j] - 1], s))
			return t->slots[j] - 1;
	char *copy = MG_GROW_ONE(t->strs, t->cap, t->count) ? NULL : strdup(s);
	if (!copy)
		return -1;
	t->strs[t->count] = copy;
	t->slots[j] = (uint32_t)++t->count;
	if (added)
		*added = 1;
	if (t->count * 2 > t->nslots && rehash(t) != 0)
		return -1;
	return (int64_t)t->count - 1;
}

void sp_xstrtab_free(struct sp_xstrtab *t)
{
	for (size_t i = 0; i < t->count; i++)
		free(t->strs[i]);
	free(t->strs);
	free(t->slots);
	memset(t, 0, sizeof *t);
}
