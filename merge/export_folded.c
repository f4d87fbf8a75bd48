/*
 * export_folded.c - collapsed stacks for flame graphs (Brendan Gregg's
 * flamegraph.pl, inferno, speedscope, ...): one line per distinct stack,
 * "root;caller;leaf COUNT". With --span-frames the span path comes first as
 * "[span] NAME" frames, so one flame graph splits by span.
 *
 * Streaming: SQLite groups the samples by (stack, span); each group's path
 * is rebuilt from the in-memory call-site trie and the span tree (one
 * primary-key lookup per ancestor span). Single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "spanprof.h"

/* Frame names must not contain the separators of the format. */
static void put_frame(FILE *out, const char *name)
{
	for (const char *p = name; *p; p++)
		putc(*p == ';' || *p == '\n' || *p == '\r' ? '_' : *p, out);
}

static int put_stack(struct sp_export *x, int32_t idx)
{
	if (idx < 0) {
		fputs("[unknown]", x->out);
		return 0;
	}
	int32_t path[512];
	int n = 0;
	for (int32_t i = idx; i >= 0 && n < 512; i = x->stacks[i].parent_idx)
		path[n++] = i;
	for (int i = n - 1; i >= 0; i--) {
		put_frame(x->out, sp_export_stack_name(x, path[i]));
		if (i)
			putc(';', x->out);
	}
	return 0;
}

/* Writes "[span] root;[span] child;" for span_id and its ancestors. */
static int put_span_path(struct sp_export *x, sqlite3_stmt *q, int64_t span_id)
{
	char *names[256];
	int n = 0, rc = 0;
	for (int64_t id = span_id; n < 256;) {
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, id);
		if ((rc = sp_export_step(x, q)) != 1)
			break;
		const unsigned char *name = sqlite3_column_text(q, 0);
		names[n++] = strdup(name ? (const char *)name : "?");
		if (sqlite3_column_type(q, 1) == SQLITE_NULL)
			break;
		id = sqlite3_column_int64(q, 1);
	}
	for (int i = n - 1; i >= 0; i--) {
		fputs("[span] ", x->out);
		put_frame(x->out, names[i] ? names[i] : "?");
		putc(';', x->out);
		free(names[i]);
	}
	return rc < 0 ? rc : 0;
}

int sp_export_folded(struct sp_export *x)
{
	const char *sql = x->opts->span_frames
	                      ? "SELECT stack_id, span_id, count(*) FROM x_samples "
	                        "GROUP BY stack_id, span_id ORDER BY stack_id, span_id"
	                      : "SELECT stack_id, NULL, count(*) FROM x_samples "
	                        "GROUP BY stack_id ORDER BY stack_id";
	sqlite3_stmt *st = sp_export_prepare(x, sql);
	sqlite3_stmt *q =
	    sp_export_prepare(x, "SELECT name, parent_id FROM main.spans WHERE span_id = ?1");
	int rc = st && q ? 0 : -SP_EIO;
	while (rc == 0 && (rc = sp_export_step(x, st)) == 1) {
		rc = 0;
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			rc = put_span_path(x, q, sqlite3_column_int64(st, 1));
		int32_t idx = sqlite3_column_type(st, 0) == SQLITE_NULL
		                  ? -1
		                  : sp_export_stack_idx(x, sqlite3_column_int64(st, 0));
		put_stack(x, idx);
		fprintf(x->out, " %" PRId64 "\n", (int64_t)sqlite3_column_int64(st, 2));
		sp_export_tick(x);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(q);
	return rc;
}
