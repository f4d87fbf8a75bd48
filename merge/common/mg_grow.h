/*
 * mg_grow.h - the one array-growth helper of merge: a dynamic array is a
 * pointer and a capacity in elements; growing doubles the capacity (from
 * MG_GROW_FIRST) until it holds what is needed, and every size is checked
 * for overflow before it reaches realloc.
 *
 * Arrays that share one capacity (parallel columns) compute the new
 * capacity once with mg_grow_cap and reallocate each column with
 * mg_realloc_n, committing the capacity when all succeeded.
 *
 * Threading: none; one array per user. Not signal-safe (allocates).
 */
#ifndef MG_GROW_H
#define MG_GROW_H

#include <stddef.h>

#define MG_GROW_FIRST 16 /* elements, when an array first grows */

/* The capacity an array of cap elements of elem_size bytes grows to so as
 * to hold need: cap itself if it already does, else cap (or MG_GROW_FIRST)
 * doubled until it does. 0 if that would overflow size_t in bytes. */
size_t mg_grow_cap(size_t cap, size_t need, size_t elem_size);

/* realloc(p, n * elem_size) with the product checked; NULL on overflow or
 * out of memory (p is then untouched and still owned by the caller). */
void *mg_realloc_n(void *p, size_t n, size_t elem_size);

/* Makes the array at *arrp (address of any object pointer; capacity *cap
 * elements of elem_size bytes) hold at least need elements. Returns 0, or
 * -SP_ENOMEM with the array and *cap unchanged. */
int mg_grow(void *arrp, size_t *cap, size_t need, size_t elem_size);

/* mg_grow for the usual case: makes room for one element past n. */
#define MG_GROW_ONE(arr, cap, n) mg_grow(&(arr), &(cap), (n) + 1, sizeof *(arr))

#endif
