/*
 * mg_prefetch.h - reads a log ahead on a second thread, for merge.
 *
 * Reading a log (read, LZ4 decompression, checksum, record decoding and
 * validation) is about a tenth of a merge's CPU; the rest is SQLite, which
 * runs on merge's own thread. A prefetcher moves the reading to a thread
 * of its own, so the two overlap on a machine with a second core. Records
 * come out exactly as lc_reader_next gives them, in the same order and with
 * the same end (0, or the reader's error after every record before the
 * damage), except that:
 *   - every pointer in a record points into the prefetcher's own copy,
 *     valid until the next mg_prefetch_next call;
 *   - interned names and attribute keys are resolved on the reading thread:
 *     a SPAN_BEGIN whose name_id is known comes with name_id 0 and the name
 *     inline (name/name_len), and likewise an ATTR's key_id and key. An id
 *     that is unknown stays, with a NULL name (key). The caller never needs
 *     lc_reader_string, which is not safe while the reader thread runs.
 *
 * Memory is bounded: MG_PREFETCH_BATCHES batches of at most
 * MG_PREFETCH_RECORDS records each and their copied strings and stacks.
 * If the thread cannot be created, the same batches are filled on the
 * caller's thread instead (slower, same results).
 *
 * Threading: one consumer thread; the lc_reader belongs to the prefetcher
 * from mg_prefetch_start to mg_prefetch_stop (the caller must not touch it
 * in between; after stop it may, e.g. for lc_reader_error). Not signal-safe.
 */
#ifndef MG_PREFETCH_H
#define MG_PREFETCH_H

#include <stdint.h>

#include "log_reader.h"

#define MG_PREFETCH_BATCHES 4
#define MG_PREFETCH_RECORDS 2048

typedef struct mg_prefetch mg_prefetch;

/* Returns a prefetcher reading r, or NULL when out of memory. */
mg_prefetch *mg_prefetch_start(lc_reader *r);
/* Like lc_reader_next: 1 with *rec filled, 0 at the clean end, or the
 * reader's negative error once every record before the damage was given. */
int mg_prefetch_next(mg_prefetch *p, lc_record *rec);
/* Compressed bytes the reader had consumed when it read the batch the last
 * record came from (for progress). */
uint64_t mg_prefetch_bytes_read(const mg_prefetch *p);
/* Stops the reading thread (also before the end of the log) and frees the
 * prefetcher. Accepts NULL. */
void mg_prefetch_stop(mg_prefetch *p);

#endif
