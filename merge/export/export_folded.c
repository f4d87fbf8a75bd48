/*
 * export_folded.c - collapsed stacks for flame graphs (Brendan Gregg's
 * flamegraph.pl, inferno, speedscope, ...): one line per distinct stack,
 * "root;caller;leaf COUNT". With --span-frames the span path comes first as
 * "[span] NAME" frames, so one flame graph splits by span.
 *
 * SQLite groups the samples by (stack, span); each group's path is rebuilt
 * from the in-memory call-site trie and the span tree (one primary-key
 * lookup per ancestor span). Several groups can give the same line (call
 * sites on different source lines of one function, sibling spans of one
 * name), so lines are summed in a string table before printing, in
 * first-seen order. Memory: the distinct lines, never the samples.
 * Single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "mg_grow.h"
#include "spanprof.h"

/* Frame names must not contain the separators of the format. */
static void put_frame(FILE *out, const char *name)
{
	for (const char *p = name; *p; p++)
		putc(*p == ';' || *p == '\n' || *p == '\r' ? '_' : *p, out);
}

static int put_stack(struct mg_export *x, FILE *out, int32_t idx)
{
	if (idx < 0) {
		fputs("[unknown]", out);
		return 0;
	}
	int32_t path[512];
	int n = 0;
	for (int32_t i = idx; i >= 0 && n < 512; i = x->stacks[i].parent_idx)
		path[n++] = i;
	for (int i = n - 1; i >= 0; i--) {
		put_frame(out, mg_export_stack_name(x, path[i]));
		if (i)
			putc(';', out);
	}
	return 0;
}

/* Writes "[span] root;[span] child;" for span_id and its ancestors. */
static int put_span_path(struct mg_export *x, FILE *out, sqlite3_stmt *q, int64_t span_id)
{
	char *names[256];
	int n = 0, rc = 0;
	for (int64_t id = span_id; n < 256;) {
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, id);
		if ((rc = mg_export_step(x, q)) != 1)
			break;
		const unsigned char *name = sqlite3_column_text(q, 0);
		names[n++] = strdup(name ? (const char *)name : "?");
		if (sqlite3_column_type(q, 1) == SQLITE_NULL)
			break;
		id = sqlite3_column_int64(q, 1);
	}
	for (int i = n - 1; i >= 0; i--) {
		fputs("[span] ", out);
		put_frame(out, names[i] ? names[i] : "?");
		putc(';', out);
		free(names[i]);
	}
	return rc < 0 ? rc : 0;
}

/* Adds one group's count to its line in lines/counts. */
static int add_group(struct mg_export *x, sqlite3_stmt *st, sqlite3_stmt *q, mg_strtab *lines,
                     int64_t **counts, size_t *cap)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *line = open_memstream(&buf, &len);
	if (!line)
		return -SP_ENOMEM;
	int rc = 0;
	if (sqlite3_column_type(st, 1) != SQLITE_NULL)
		rc = put_span_path(x, line, q, sqlite3_column_int64(st, 1));
	int32_t idx = sqlite3_column_type(st, 0) == SQLITE_NULL
	                  ? -1
	                  : mg_export_stack_idx(x, sqlite3_column_int64(st, 0));
	put_stack(x, line, idx);
	fclose(line);
	int64_t i = rc ? 0 : mg_strtab_intern(lines, buf, NULL);
	free(buf);
	if (rc || i < 0)
		return rc ? rc : -SP_ENOMEM;
	if ((size_t)i >= *cap) {
		size_t old = *cap;
		if (mg_grow(counts, cap, (size_t)i + 1, sizeof **counts))
			return -SP_ENOMEM;
		memset(*counts + old, 0, (*cap - old) * sizeof **counts);
	}
	(*counts)[i] += sqlite3_column_int64(st, 2);
	return 0;
}

int mg_export_folded(struct mg_export *x)
{
	const char *sql = x->opts->span_frames
	                      ? "SELECT stack_id, span_id, count(*) FROM x_samples "
	                        "GROUP BY stack_id, span_id ORDER BY stack_id, span_id"
	                      : "SELECT stack_id, NULL, count(*) FROM x_samples "
	                        "GROUP BY stack_id ORDER BY stack_id";
	sqlite3_stmt *st = mg_export_prepare(x, sql);
	sqlite3_stmt *q =
	    mg_export_prepare(x, "SELECT name, parent_id FROM main.spans WHERE span_id = ?1");
	mg_strtab lines = {0};
	int64_t *counts = NULL;
	size_t cap = 0;
	int rc = st && q ? mg_strtab_init(&lines) : -SP_EIO;
	while (rc == 0 && (rc = mg_export_step(x, st)) == 1) {
		rc = add_group(x, st, q, &lines, &counts, &cap);
		mg_export_tick(x);
	}
	for (size_t i = 0; rc == 0 && i < lines.count; i++)
		fprintf(x->out, "%s %" PRId64 "\n", lines.strs[i], counts[i]);
	free(counts);
	mg_strtab_free(&lines);
	sqlite3_finalize(st);
	sqlite3_finalize(q);
	return rc;
}
