/*
 * mg_grow.c - see mg_grow.h. The array's pointer is read and written with
 * memcpy, so that one function serves arrays of every element type
 * without accessing a T * through a void * lvalue.
 */
#include "mg_grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spanprof.h"

size_t mg_grow_cap(size_t cap, size_t need, size_t elem_size)
{
	if (!elem_size)
		elem_size = 1;
	size_t max = SIZE_MAX / elem_size;
	if (need > max)
		return 0;
	if (need <= cap)
		return cap;
	size_t c = cap ? cap : MG_GROW_FIRST;
	while (c < need)
		c = c > max / 2 ? max : c * 2;
	return c;
}

void *mg_realloc_n(void *p, size_t n, size_t elem_size)
{
	if (elem_size && n > SIZE_MAX / elem_size)
		return NULL;
	size_t bytes = n * elem_size;
	return realloc(p, bytes ? bytes : 1);
}

int mg_grow(void *arrp, size_t *cap, size_t need, size_t elem_size)
{
	if (need <= *cap)
		return 0;
	size_t c = mg_grow_cap(*cap, need, elem_size);
	if (!c)
		return -SP_ENOMEM;
	void *old;
	memcpy(&old, arrp, sizeof old);
	void *p = mg_realloc_n(old, c, elem_size);
	if (!p)
		return -SP_ENOMEM;
	memcpy(arrp, &p, sizeof p);
	*cap = c;
	return 0;
}
