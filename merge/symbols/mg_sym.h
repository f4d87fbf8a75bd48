/*
 * mg_sym.h - offline symbolization for merge, with elfutils (libdwfl/libdw).
 *
 * Modules (distinct files) are shared by every process that mapped them; a
 * process keeps its own list of mappings. A pc is turned into the module's
 * ELF virtual address (bias from the recorded mapping start and file offset
 * and the file's PT_LOAD headers), then resolved once per (module, address)
 * into a chain of frames, innermost inlined function first, each of which is
 * a row of the frames table. Fallbacks: ELF symbol table (.symtab, then
 * .dynsym), then "basename+0xOFFSET". DWARF lookups: mg_symdwarf.h; what
 * they give is kept across merges in a per-build-id cache (mg_symcache.h)
 * unless merge --no-cache.
 *
 * Threading: one mg_sym per thread. Not signal-safe.
 */
#ifndef MG_SYM_H
#define MG_SYM_H

#include <sqlite3.h>
#include <stdint.h>

#include "mg_cli.h"
#include "records.h"

#define MG_SYM_MAX_CHAIN 16 /* inline levels kept per address */

typedef struct mg_sym mg_sym;
typedef struct mg_sym_proc mg_sym_proc;

/* Inserts into frames and modules of db as it goes. quiet suppresses the
 * one-per-module warnings. NULL on out of memory. */
mg_sym *mg_sym_new(sqlite3 *db, int quiet);
/* The persistent symbol cache is on unless turned off here (before the
 * first mg_sym_proc_map). */
void mg_sym_set_cache(mg_sym *s, int on);
/* A progress line to redraw while symbolizing (NULL: none). */
void mg_sym_set_progress(mg_sym *s, mg_progress *progress);
/* Module addresses looked up so far, and how many the cache answered. */
void mg_sym_stats(const mg_sym *s, uint64_t *lookups, uint64_t *cache_hits);
/* Writes the symbol caches that changed; returns 0 or -1 (database error). */
int mg_sym_finish(mg_sym *s);
void mg_sym_free(mg_sym *s);

mg_sym_proc *mg_sym_proc_new(mg_sym *s, uint32_t pid);
void mg_sym_proc_free(mg_sym_proc *p);
/* Records a mapping of the process. Returns 0, -1 on database error. */
int mg_sym_proc_map(mg_sym_proc *p, const lc_rec_module *m, uint64_t ts_ns);

/* Resolves one pc of the process (leaf != 0 for the sampled pc, 0 for a
 * return address). Writes frame ids innermost first into out[cap], returns
 * their count (>= 1) or -1 on database error. */
int mg_sym_resolve(mg_sym_proc *p, uint64_t pc, int leaf, int64_t *out, int cap);

#endif
