/*
 * mg_symdwarf.h - one module's address -> frames lookup for merge, from
 * DWARF (libdw), falling back to the ELF symbol table.
 *
 * Why not dwarf_getscopes per address: it walks the compilation unit's
 * DIE tree from the top for every address, and dwarf_getscopes_die walks
 * it again to find the physical parents. A unit such as CPython's ceval.c
 * holds hundreds of sampled addresses, so merge spent its time in
 * dwarf_siblingof. Here each unit that holds a looked-up address is walked
 * once, into a table of its functions and inlined instances (their address
 * ranges and their enclosing instance); every address of that unit is then
 * a scan of that table. The result is the one eu-addr2line -i gives.
 *
 * Threading: one mg_symdwarf per thread, like the Dwfl it reads. Not
 * signal-safe.
 */
#ifndef MG_SYMDWARF_H
#define MG_SYMDWARF_H

#include <elfutils/libdwfl.h>
#include <stdint.h>

#include "mg_cli.h"

/* One frame of a chain; strings belong to whoever filled it (libdw, the
 * symbol cache) and live as long as that owner. func NULL: no name. */
typedef struct mg_frame_txt {
	const char *func, *file;
	int line;
	int inlined;
} mg_frame_txt;

typedef struct mg_symdwarf mg_symdwarf;

/* mod stays owned by the caller and must outlive the result. progress
 * (may be NULL) is redrawn while a large unit is walked. NULL on out of
 * memory. */
mg_symdwarf *mg_symdwarf_new(Dwfl_Module *mod, mg_progress *progress);
void mg_symdwarf_free(mg_symdwarf *d);

/* Frames for the module's ELF address addr, innermost inlined function
 * first, into out[cap] (cap >= 1); returns their count, always >= 1.
 * Without DWARF for addr: one frame from the symbol table, with func NULL
 * when no symbol covers addr (the caller names it module+offset); a DWARF
 * frame without a name is "??". */
int mg_symdwarf_chain(mg_symdwarf *d, uint64_t addr, mg_frame_txt *out, int cap);

#endif
