/*
 * mg_symcache.h - merge's persistent symbol cache: one file per module
 * build-id under $XDG_CACHE_HOME/spanprof/symbols (default
 * ~/.cache/spanprof/symbols), mapping a module address to the frames that
 * mg_symdwarf_chain gave for it, so that a second merge of the same
 * binaries reads no DWARF at all.
 *
 * A file is trusted only for the module file (and separate debuginfo
 * file) it was written from: its header holds their sizes and mtimes,
 * and a file that does not match is replaced. Every entry carries a CRC-32;
 * a bad entry is a miss, and the file is rewritten. Files are read with
 * O_NOFOLLOW and must be regular and ours; they are written whole to a
 * temporary file (O_EXCL|O_NOFOLLOW, mode 0600) renamed over the old one,
 * after taking in the entries another merge wrote meanwhile, so concurrent
 * merges never see a half-written file and rarely lose each other's work.
 * The file format is in docs/design.md, "Symbol cache".
 *
 * Threading: one mg_symcache per thread. Not signal-safe.
 */
#ifndef MG_SYMCACHE_H
#define MG_SYMCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "mg_symdwarf.h"

typedef struct mg_symcache mg_symcache;

/* The cache directory (created 0700 if missing) into buf; -1 when there
 * is none (no $XDG_CACHE_HOME nor $HOME, or it cannot be created). */
int mg_symcache_dir(char *buf, size_t len);

/* The cache of the module file at path whose build-id is build_id_hex,
 * read from dir. An unreadable, foreign or stale file gives an empty
 * cache. NULL on out of memory or when the file cannot be described
 * (stat fails). */
mg_symcache *mg_symcache_open(const char *dir, const char *build_id_hex, const char *path);

/* The frames stored for addr into out[cap]; returns their count, 0 on a
 * miss. The strings live until mg_symcache_close. */
int mg_symcache_get(mg_symcache *c, uint64_t addr, mg_frame_txt *out, int cap);

/* Stores the frames for addr (n >= 1). 0 or -1 (out of memory). */
int mg_symcache_put(mg_symcache *c, uint64_t addr, const mg_frame_txt *chain, int n);

/* Writes the file if something changed, then frees c (NULL is fine).
 * Returns 0, or -1 when the file could not be written (not an error for
 * merge: the cache is an optimisation). */
int mg_symcache_close(mg_symcache *c);

/* Counters for the bench and tests: lookups that hit, entries added. */
void mg_symcache_stats(const mg_symcache *c, uint64_t *hits, uint64_t *added);

#endif
