/*
 * export.h - private plumbing shared by the exporters of 'spanprof export'
 * (one file per format: export_firefox.c, export_chrome.c, export_pprof.c,
 * export_folded.c, export_speedscope.c; shared code in export_common.c,
 * export_filter.c, export_tables.c, export_output.c; the string table is
 * common/mg_strtab.h).
 *
 * Design: an exporter reads the merged SQLite database (DESIGN.md "SQLite
 * schema") through two TEMP views that apply the user's filters:
 *   x_spans   - the selected spans (same columns as main.spans)
 *   x_samples - the selected samples (same columns as main.samples)
 *   x_tsamples - the same for per-thread queries (pid, tid, ts_ns,
 *               stack_id, weight_ns): a view, or with more than
 *               MG_EXPORT_SCAN_THREADS threads an indexed TEMP copy
 * and streams its output while iterating SQLite cursors. The only tables
 * held in memory are per-stack and per-frame ones (the call-site trie, the
 * functions) and interned strings; none grows with the number of samples
 * or spans (see docs/export.md, "Memory").
 *
 * Threading: single-threaded; one mg_export per export run.
 */
#ifndef MG_EXPORT_H
#define MG_EXPORT_H

#include <stdint.h>
#include <stdio.h>
#include <sqlite3.h>

#include "json.h"      /* the JSON writers share mg_json_* */
#include "mg_cli.h"    /* the progress line */
#include "mg_strtab.h" /* the string tables of the formats */

/* Up to this many sampled threads, per-thread queries scan x_samples. */
#define MG_EXPORT_SCAN_THREADS 8

enum mg_export_format {
	MG_EXPORT_FIREFOX,
	MG_EXPORT_CHROME,
	MG_EXPORT_PPROF,
	MG_EXPORT_FOLDED,
	MG_EXPORT_SPEEDSCOPE,
	MG_EXPORT_OTLP,
};

/* What the user asked for; all-zero means "everything, to stdout". */
struct mg_export_opts {
	enum mg_export_format format;
	const char *db_path;
	const char *out_path;  /* NULL: stdout */
	const char *span_name; /* NULL: no span filter */
	int64_t from_ns;       /* INT64_MIN: unbounded */
	int64_t to_ns;         /* INT64_MAX: unbounded */
	int span_frames;       /* folded: prefix the span path as frames */
	int progress;          /* print progress on stderr */
};

/* One function (frames with the same name and module share it). */
struct mg_xfunc {
	char *name;
	char *file; /* may be NULL */
	char *module;
};

/* One row of frames, sorted by frame_id. */
struct mg_xframe {
	int64_t frame_id;
	int32_t func_idx; /* index into funcs */
	int32_t line;     /* 0: unknown */
};

/* One node of the call-site trie, sorted by stack_id. */
struct mg_xstack {
	int64_t stack_id;
	int32_t parent_idx; /* index into stacks, -1 at the root */
	int32_t frame_idx;  /* index into frames, -1 if the frame is missing */
	int32_t depth;      /* number of ancestors */
	int32_t order;      /* position in (depth, stack_id) order: parents first */
};

struct mg_export {
	const struct mg_export_opts *opts;
	sqlite3 *db;
	FILE *out; /* JSON/text exporters write here (pprof writes gzip to out_fd) */
	int out_fd;
	int out_owned; /* out is ours to fclose (not stdout) */
	struct mg_xfunc *funcs;
	size_t nfuncs;
	struct mg_xframe *frames;
	size_t nframes;
	struct mg_xstack *stacks;
	size_t nstacks;
	int64_t nsel_samples, nsel_spans; /* rows in x_samples / x_spans */
	int64_t min_ns, max_ns;           /* time range of the selection */
	uint64_t rows_done;               /* progress counter */
	mg_progress progress;             /* the progress line (common/mg_cli.h) */
	/* What the data is missing (mg_loss.h): lost events and samples, cut
	 * spans...; "" when nothing. Each format carries it where it has room. */
	char missing[512];
};

/* Runs a whole export: opens and checks the database, applies filters,
 * writes to a temporary file renamed over opts->out_path on success.
 * Records a one-line reason on failure (common/mg_err.h): the command
 * prints it. Returns 0, or -SP_E... */
int mg_export_run(const struct mg_export_opts *opts);

/* The per-format writers, called by mg_export_run with tables loaded. */
int mg_export_firefox(struct mg_export *x);
int mg_export_chrome(struct mg_export *x);
int mg_export_pprof(struct mg_export *x);
int mg_export_folded(struct mg_export *x);
int mg_export_speedscope(struct mg_export *x);
int mg_export_otlp(struct mg_export *x);

/* For commands that read the database like an export but write no file
 * ('spanprof push'): opens and checks it and builds the views as
 * mg_export_run does (x is reset first). 0, or -SP_E... (recorded:
 * common/mg_err.h).
 * mg_export_close frees what mg_export_open took, also after a failure. */
int mg_export_open(struct mg_export *x, const struct mg_export_opts *opts);
void mg_export_close(struct mg_export *x);

/* --- OTLP traces (export_otlp.c), shared by export and push --- */

/* A growable byte buffer. */
struct mg_otlp_buf {
	uint8_t *p;
	size_t len, cap;
};
int mg_otlp_buf_reserve(struct mg_otlp_buf *b, size_t more);
int mg_otlp_buf_put(struct mg_otlp_buf *b, const void *data, size_t len);
/* Appends the key of length-delimited field `field` and the length len:
 * the framing of a message whose packed bytes follow. */
int mg_otlp_put_len(struct mg_otlp_buf *b, unsigned field, uint64_t len);
void mg_otlp_buf_free(struct mg_otlp_buf *b);

/* Receives the pieces of the selected spans, process by process: process()
 * with its packed Resource, then chunk() once or more with a packed
 * ScopeSpans of nspans spans, then process_end(). Pointers are valid
 * during the call only. A non-zero return stops the scan with that code. */
struct mg_otlp_sink {
	void *ctx;
	int (*process)(void *ctx, int64_t pid, const uint8_t *resource, size_t len);
	int (*chunk)(void *ctx, const uint8_t *scope_spans, size_t len, int64_t nspans);
	int (*process_end)(void *ctx);
};
/* Scans x_spans in (pid, start) order; a chunk is cut once it holds
 * chunk_bytes or more (one span past the limit at most). 0 or -SP_E... */
int mg_otlp_scan(struct mg_export *x, size_t chunk_bytes, struct mg_otlp_sink *sink);

/* --- helpers (export_common.c; spools: export_output.c) --- */

/* Prepares sql; on error records it and returns NULL. */
sqlite3_stmt *mg_export_prepare(struct mg_export *x, const char *sql);
/* The exported threads, one row each, ordered by (pid, tid): columns
 * pid, tid, thread name (or NULL), executable of its process (or NULL).
 * NULL on error (recorded). */
sqlite3_stmt *mg_export_threads(struct mg_export *x);
/* sqlite3_step wrapper: 1 = row, 0 = done, -SP_EIO = error (recorded). */
int mg_export_step(struct mg_export *x, sqlite3_stmt *st);
/* Index of stack_id in x->stacks, or -1. */
int32_t mg_export_stack_idx(const struct mg_export *x, int64_t stack_id);
/* Frame name of stack node idx (never NULL). */
const char *mg_export_stack_name(const struct mg_export *x, int32_t stack_idx);
/* Attribute rows come sorted by (span, key, newest first): returns 1 if key
 * repeats the previous row's key (an older value to skip), else remembers
 * it. *prev is malloc'd; free it and set NULL when a new span starts. */
int mg_export_dup_key(char **prev, const char *key);
/* Counts a row for the progress line. */
void mg_export_tick(struct mg_export *x);

/* A spool: one JSON array column written to a temp file, to be copied into
 * the output later (column-oriented formats need several arrays per pass). */
struct mg_spool {
	FILE *f;
	uint64_t n;
};
int mg_spool_open(struct mg_spool *sp);
FILE *mg_spool_next(struct mg_spool *sp); /* writes the separator, returns f */
int mg_spool_copy(struct mg_spool *sp, FILE *out);
void mg_spool_close(struct mg_spool *sp);

#endif
