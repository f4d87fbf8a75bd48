/*
 * mg_merge.h - the merge pipeline's shared state (private to merge/).
 *
 * Phase 1 (mg_load_log, per log): stream records, write processes, threads,
 * spans (held in memory only while open), attributes, modules, frames and
 * stack-trie nodes directly, and samples into a scratch table without their
 * span. Phase 2 (mg_attribute): one ordered sweep over spans and samples per
 * thread assigns each sample its innermost open span and writes the final
 * samples table. Memory is bounded by open spans, distinct stacks and
 * distinct pcs, never by the number of events.
 *
 * Threading: single-threaded. Not signal-safe.
 */
#ifndef MG_MERGE_H
#define MG_MERGE_H

#include <sqlite3.h>
#include <stdint.h>

#include "mg_cli.h"
#include "mg_hash.h"
#include "mg_sym.h"

typedef struct mg_merge {
	sqlite3 *db;
	mg_sym *sym;
	sqlite3_stmt *ins_log, *ins_damage, *ins_process, *upd_process_end, *ins_thread,
	    *upd_thread_end, *ins_span, *ins_attr, *ins_raw_sample, *ins_sampler, *ins_lost,
	    *ins_stack;
	mg_hash trie; /* (parent stack id or 0, frame id) -> stack id */
	int64_t next_stack_id;
	int64_t next_log_id;
	uint64_t events;      /* records read, all logs */
	uint64_t bytes_done;  /* compressed bytes of finished logs */
	uint64_t bytes_total; /* sizes of all input files */
	uint64_t samples;
	uint64_t logs_damaged, logs_failed;
	mg_progress progress;
	int quiet;
} mg_merge;

int mg_merge_prepare(mg_merge *mg);
void mg_merge_finalize(mg_merge *mg);
/* Loads one log. Returns the number of records read (0 if nothing could be
 * read), or -1 on a database error (fatal). Damage is reported, not fatal. */
int64_t mg_load_log(mg_merge *mg, const char *path);
/* Sweep: writes samples with span_id. Returns 0 or -1. */
int mg_attribute(mg_merge *mg);

#endif
