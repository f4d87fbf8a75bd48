/*
 * mg_symdwarf.c - see mg_symdwarf.h.
 *
 * A unit's table: every DW_TAG_subprogram and DW_TAG_inlined_subroutine
 * that has code (DW_AT_low_pc/high_pc or DW_AT_ranges), with the index of
 * the nearest such DIE enclosing it, and one row per address range. The
 * walk descends only into the DIEs that can hold code (the set libdw's own
 * scope walk uses: units, namespaces, classes, functions, blocks), and
 * follows DW_TAG_imported_unit into partial units (dwz).
 *
 * For an address, the deepest instance whose range holds it is the
 * innermost frame; its enclosing instances, up to the first subprogram,
 * are its callers. Each inlined frame is named after its abstract origin
 * and its caller's position is its DW_AT_call_file:DW_AT_call_line; the
 * innermost position comes from the line table.
 *
 * Threading: single-threaded (see the header).
 */
#include "mg_symdwarf.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdlib.h>

#include "mg_grow.h"
#include "mg_hash.h"

#define MG_DWARF_MAX_DEPTH 256 /* DIE nesting followed; deeper is malformed */

typedef struct mg_scope {
	Dwarf_Die die;
	int32_t parent; /* index of the enclosing instance, -1 for none */
	int32_t depth;
	int inlined;
} mg_scope;

typedef struct mg_range {
	uint64_t lo, hi; /* [lo, hi) in the unit's DWARF addresses */
	uint32_t scope;
} mg_range;

typedef struct mg_unit {
	Dwarf_Die cu;
	Dwarf_Files *files; /* for DW_AT_call_file; NULL if none */
	mg_scope *scopes;
	size_t n_scopes, cap_scopes;
	mg_range *ranges;
	size_t n_ranges, cap_ranges;
} mg_unit;

struct mg_symdwarf {
	Dwfl_Module *mod;
	mg_progress *progress;
	mg_unit *units;
	size_t n_units, cap_units;
	mg_hash unit_of; /* (DIE offset of the unit, 0) -> index in units */
	uint64_t dies_walked;
};

mg_symdwarf *mg_symdwarf_new(Dwfl_Module *mod, mg_progress *progress)
{
	mg_symdwarf *d = calloc(1, sizeof *d);
	if (d) {
		d->mod = mod;
		d->progress = progress;
	}
	return d;
}

void mg_symdwarf_free(mg_symdwarf *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_units; i++) {
		free(d->units[i].scopes);
		free(d->units[i].ranges);
	}
	free(d->units);
	mg_hash_free(&d->unit_of);
	free(d);
}

/* Adds the instance with its ranges; returns its index, or the enclosing
 * index when it has no code (declaration, abstract instance), -2 on out
 * of memory. */
static int32_t mg_unit_add(mg_unit *u, Dwarf_Die *die, int32_t enclosing, int inlined)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;
	int32_t idx = (int32_t)u->n_scopes;
	size_t first = u->n_ranges;
	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
		if (hi <= lo)
			continue;
		if (MG_GROW_ONE(u->ranges, u->cap_ranges, u->n_ranges))
			return -2;
		u->ranges[u->n_ranges++] = (mg_range){lo, hi, (uint32_t)idx};
	}
	if (u->n_ranges == first)
		return enclosing;
	if (MG_GROW_ONE(u->scopes, u->cap_scopes, u->n_scopes))
		return -2;
	int32_t depth = enclosing >= 0 ? u->scopes[enclosing].depth + 1 : 0;
	u->scopes[u->n_scopes++] = (mg_scope){*die, enclosing, depth, inlined};
	return idx;
}

/* DIEs under which code can sit (libdw's may_have_scopes). */
static int mg_may_hold_code(int tag)
{
	switch (tag) {
	case DW_TAG_compile_unit:
	case DW_TAG_partial_unit:
	case DW_TAG_module:
	case DW_TAG_lexical_block:
	case DW_TAG_with_stmt:
	case DW_TAG_catch_block:
	case DW_TAG_try_block:
	case DW_TAG_entry_point:
	case DW_TAG_inlined_subroutine:
	case DW_TAG_subprogram:
	case DW_TAG_namespace:
	case DW_TAG_class_type:
	case DW_TAG_structure_type:
		return 1;
	default:
		return 0;
	}
}

static int mg_unit_walk(mg_symdwarf *d, mg_unit *u, Dwarf_Die *parent, int32_t enclosing,
                        int depth);

/* One child DIE: adds it if it is a function with code, then descends. */
static int mg_unit_visit(mg_symdwarf *d, mg_unit *u, Dwarf_Die *die, int32_t enclosing, int depth)
{
	int tag = dwarf_tag(die);
	if ((++d->dies_walked & 0xfff) == 0 && d->progress)
		mg_progress_update(d->progress, "symbolizing: %llu DWARF entries read",
		                   (unsigned long long)d->dies_walked);
	if (tag == DW_TAG_imported_unit) {
		Dwarf_Attribute attr;
		Dwarf_Die unit;
		if (dwarf_formref_die(dwarf_attr(die, DW_AT_import, &attr), &unit))
			return mg_unit_walk(d, u, &unit, enclosing, depth + 1);
		return 0;
	}
	int32_t here = enclosing;
	if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
		here = mg_unit_add(u, die, enclosing, tag == DW_TAG_inlined_subroutine);
		if (here == -2)
			return -1;
		if (here == enclosing) /* no code: nothing of it can be sampled */
			return 0;
	}
	return mg_may_hold_code(tag) ? mg_unit_walk(d, u, die, here, depth + 1) : 0;
}

static int mg_unit_walk(mg_symdwarf *d, mg_unit *u, Dwarf_Die *parent, int32_t enclosing, int depth)
{
	Dwarf_Die child;
	if (depth > MG_DWARF_MAX_DEPTH || dwarf_child(parent, &child) != 0)
		return 0;
	do {
		if (mg_unit_visit(d, u, &child, enclosing, depth))
			return -1;
	} while (dwarf_siblingof(&child, &child) == 0);
	return 0;
}

/* The table of the unit cu, built on first use; NULL on out of memory. */
static mg_unit *mg_unit_get(mg_symdwarf *d, Dwarf_Die *cu)
{
	uint64_t key = dwarf_dieoffset(cu);
	uint64_t *hit = mg_hash_get(&d->unit_of, key, 0);
	if (hit)
		return &d->units[*hit];
	if (MG_GROW_ONE(d->units, d->cap_units, d->n_units))
		return NULL;
	mg_unit *u = &d->units[d->n_units];
	*u = (mg_unit){.cu = *cu};
	if (dwarf_getsrcfiles(cu, &u->files, NULL) != 0)
		u->files = NULL;
	if (mg_unit_walk(d, u, cu, -1, 0) ||
	    mg_hash_put(&d->unit_of, key, 0, (uint64_t)d->n_units)) {
		free(u->scopes);
		free(u->ranges);
		return NULL;
	}
	return &d->units[d->n_units++];
}

/* The deepest instance holding addr (the first in DIE order among equals),
 * or -1. */
static int32_t mg_unit_innermost(const mg_unit *u, uint64_t addr)
{
	int32_t best = -1;
	for (size_t i = 0; i < u->n_ranges; i++) {
		const mg_range *r = &u->ranges[i];
		if (addr >= r->lo && addr < r->hi &&
		    (best < 0 || u->scopes[r->scope].depth > u->scopes[best].depth))
			best = (int32_t)r->scope;
	}
	return best;
}

static const char *mg_die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	return name;
}

/* Caller position of an inlined instance: its call site. */
static void mg_call_site(Dwarf_Die *die, Dwarf_Files *files, const char **file, int *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word v;
	*file = NULL;
	*line = 0;
	if (files && dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &v) == 0)
		*file = dwarf_filesrc(files, v, NULL, NULL);
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &v) == 0)
		*line = (int)v;
}

/* The DWARF chain for addr; 0 when no function of a unit holds it. */
static int mg_dwarf_chain(mg_symdwarf *d, uint64_t addr, mg_frame_txt *out, int cap)
{
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = dwfl_module_addrdie(d->mod, addr, &bias);
	mg_unit *u = cu ? mg_unit_get(d, cu) : NULL;
	int32_t i = u ? mg_unit_innermost(u, addr - bias) : -1;
	if (i < 0)
		return 0;
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *l = dwfl_module_getsrc(d->mod, addr);
	if (l)
		file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
	int k = 0;
	for (; i >= 0 && k < cap; i = u->scopes[i].parent) {
		mg_scope *sc = &u->scopes[i];
		out[k++] = (mg_frame_txt){mg_die_name(&sc->die), file, line, sc->inlined};
		if (!sc->inlined)
			break;
		mg_call_site(&sc->die, u->files, &file, &line);
	}
	return k;
}

int mg_symdwarf_chain(mg_symdwarf *d, uint64_t addr, mg_frame_txt *out, int cap)
{
	GElf_Off off;
	GElf_Sym sym;
	int k = mg_dwarf_chain(d, addr, out, cap);
	if (k > 0) {
		if (!out[k - 1].func) /* a physical function without a name */
			out[k - 1].func =
			    dwfl_module_addrinfo(d->mod, addr, &off, &sym, NULL, NULL, NULL);
		for (int i = 0; i < k; i++)
			if (!out[i].func)
				out[i].func = "??";
		return k;
	}
	out[0] = (mg_frame_txt){NULL, NULL, 0, 0};
	out[0].func = dwfl_module_addrinfo(d->mod, addr, &off, &sym, NULL, NULL, NULL);
	Dwfl_Line *l = dwfl_module_getsrc(d->mod, addr);
	if (l)
		out[0].file = dwfl_lineinfo(l, NULL, &out[0].line, NULL, NULL, NULL);
	return 1;
}
