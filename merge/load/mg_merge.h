/*
 * mg_merge.h - the merge pipeline's shared state (private to merge/).
 *
 * mg_load_log streams the records of one log and writes processes, threads,
 * spans (held in memory only while open), attributes, modules, frames and
 * stack-trie nodes; samples go through mg_attr (mg_attr.c), which gives each
 * its innermost open span as the log streams by and writes it. Memory is
 * bounded by open spans, distinct stacks and distinct pcs, and a short
 * time window per thread, never by the number of events.
 *
 * Threading: one thread uses mg_merge and the database; each log is read
 * ahead on a thread of its own (mg_prefetch.h). Not signal-safe.
 */
#ifndef MG_MERGE_H
#define MG_MERGE_H

#include <sqlite3.h>
#include <stdint.h>

#include "mg_batch.h"
#include "mg_cli.h"
#include "mg_hash.h"
#include "mg_sym.h"

typedef struct mg_anc_row {
	uint64_t span_id, ancestor_id;
	int64_t distance;
	uint64_t seq; /* arrival order: of two rows with one key, the first stays */
} mg_anc_row;

typedef struct mg_merge {
	sqlite3 *db;
	mg_sym *sym;
	sqlite3_stmt *ins_log, *ins_damage, *ins_process, *upd_process_end, *ins_thread,
	    *upd_thread_end, *ins_span, *ins_attr, *ins_sampler, *ins_lost, *ins_dropped,
	    *ins_stack;
	sqlite3_stmt *ins_span_many; /* MG_SPAN_STMT_ROWS spans per INSERT (mg_load.c) */
	sqlite3_stmt *sel_prev_span, *sel_process; /* rotated logs: spans, processes seen */
	mg_batch samples_batch;   /* samples(ts_ns, pid, tid, span_id, stack_id, weight_ns) */
	mg_batch ancestors_batch; /* span_ancestors rows */
	mg_anc_row *anc;          /* span_ancestors rows not yet sorted and written */
	size_t n_anc;
	uint64_t next_anc_seq;
	mg_hash trie; /* (parent stack id or 0, frame id) -> stack id */
	int64_t next_stack_id;
	int64_t next_log_id;
	uint64_t next_span_seq;       /* arrival order of finished spans */
	int64_t next_span_id;         /* spans.span_id: dense, in BEGIN order */
	mg_hash continued;            /* (recorded id, pid) -> span_id of a span cut 3 */
	uint64_t spans_without_depth; /* parent not open in its log: walked in SQL */
	uint64_t ids_unresolved;      /* parents and attributes by recorded id: mg_db_resolve */
	uint64_t events;              /* records read, all logs */
	uint64_t bytes_done;          /* compressed bytes of finished logs */
	uint64_t bytes_total;         /* sizes of all input files */
	uint64_t samples;
	uint64_t span_events; /* BEGIN, END and ATTR records, all logs */
	uint64_t spans_cut;   /* spans closed without their END (mg_repair.h) */
	uint64_t logs_damaged, logs_failed;
	mg_progress progress;
	int quiet;
	uint64_t since_ns, until_ns; /* --since/--until window, 0 = open */
	int appending;               /* --append: the living database is attached as "prev" */
} mg_merge;

int mg_merge_prepare(mg_merge *mg);
void mg_merge_finalize(mg_merge *mg);
/* Loads one log. Returns the number of records read (0 if nothing could be
 * read), or -1 on a database error (fatal). Damage is reported, not fatal. */
int64_t mg_load_log(mg_merge *mg, const char *path);
/* Streaming attribution, one per log (mg_attr.c). All return 0 or -1
 * (database error or out of memory). owner_tid of an end is the thread
 * the span began on. */
typedef struct mg_attr mg_attr;
mg_attr *mg_attr_new(mg_merge *mg, uint32_t pid);
void mg_attr_free(mg_attr *a);
void mg_attr_set_pid(mg_attr *a, uint32_t pid);
int mg_attr_begin(mg_attr *a, uint32_t tid, uint64_t ts, uint64_t span_id);
int mg_attr_end(mg_attr *a, uint32_t owner_tid, uint64_t ts, uint64_t span_id);
int mg_attr_sample(mg_attr *a, uint32_t tid, uint64_t ts, int64_t stack_id, int64_t weight_ns);
/* Writes the samples with ts <= watermark (of one thread, index i). */
int mg_attr_settle(mg_attr *a, uint64_t watermark);
int mg_attr_settle_thread(mg_attr *a, size_t i, uint64_t watermark);

#endif
