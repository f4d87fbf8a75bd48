/*
 * mg_strtab.h - the one string table of merge: each distinct string is
 * copied once and gets a dense index in first-seen order (the string
 * tables of pprof, Firefox and speedscope, the lines of folded output,
 * explain's names, the function names of stack_funcs).
 *
 * Built on mg_hash, keyed by the string's mg_hash128; a hit is confirmed
 * with strcmp, and the rare different string with the same 128-bit hash
 * takes the next key (h2 + 1, ...), so two strings never share an index.
 *
 * An all-zero mg_strtab is an empty table. Threading: none; one table per
 * user. Not signal-safe (allocates).
 */
#ifndef MG_STRTAB_H
#define MG_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "mg_hash.h"

typedef struct mg_strtab {
	char **strs; /* by index; owned */
	size_t count, cap;
	mg_hash index; /* (hash of the string) -> index in strs */
} mg_strtab;

/* Empties t (all zero); 0. Equivalent to = {0}, kept for symmetry. */
int mg_strtab_init(mg_strtab *t);
/* Index of s, adding a copy if new (*added, when given, is then 1, else
 * 0). Returns the index, or -SP_ENOMEM with t unchanged. */
int64_t mg_strtab_intern(mg_strtab *t, const char *s, int *added);
/* Index of s, or -1 if it is not in t. */
int64_t mg_strtab_find(const mg_strtab *t, const char *s);
/* Frees the strings and the index; leaves an empty, reusable table. */
void mg_strtab_free(mg_strtab *t);

#endif
