/*
 * mg_loss.c - see mg_loss.h. The counts that need a scan of a big table
 * (span events, samples, cut spans) are stored in meta by merge, so that
 * top and export read a few small rows; a database without them (an older
 * merge) is counted, which only costs time.
 *
 * Threading: uses only the connection it is given.
 */
#include "mg_loss.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mg_db.h"
#include "mg_err.h"
#include "spanprof.h"

int mg_loss_save(sqlite3 *db, uint64_t span_events, uint64_t samples, uint64_t spans_cut)
{
	char sql[256];
	snprintf(sql, sizeof sql,
	         "INSERT OR REPLACE INTO meta VALUES('span_events', %" PRIu64 "),"
	         "('samples', %" PRIu64 "),('spans_cut', %" PRIu64 ");",
	         span_events, samples, spans_cut);
	return mg_exec(db, sql);
}

/* One integer from sql, 0 for NULL or no row; -1 on error (recorded: common/mg_err.h). */
static int mg_loss_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = mg_prepare(db, sql);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return 0;
	mg_err_set(-SP_EIO, "database error: %s", sqlite3_errmsg(db));
	return -1;
}

static int mg_loss_has_table(sqlite3 *db, const char *table, int64_t *yes)
{
	char sql[160];
	snprintf(sql, sizeof sql,
	         "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", table);
	return mg_loss_int(db, sql, yes);
}

/* The tables that hold the counts; a database made by hand or by an
 * older merge may lack any of them (then nothing of theirs is missing). */
enum { MG_T_LOST, MG_T_DAMAGE, MG_T_META, MG_T_DROPPED, MG_T_COUNT };

int mg_loss_read(sqlite3 *db, mg_loss *out)
{
	static const char *const tables[MG_T_COUNT] = {"lost", "damage", "meta", "dropped"};
	static const struct {
		int table;
		const char *sql;
		size_t field;
	} q[] = {
	    {MG_T_LOST,
	     "SELECT coalesce(sum(count), 0) FROM lost WHERE kind NOT IN ('samples', 'unwind')",
	     offsetof(mg_loss, events_lost)},
	    {MG_T_LOST,
	     "SELECT coalesce(sum(count), 0) FROM lost WHERE kind IN ('samples', 'unwind')",
	     offsetof(mg_loss, samples_lost)},
	    {MG_T_LOST, "SELECT count(*) FROM (SELECT DISTINCT pid, tid FROM lost WHERE count > 0)",
	     offsetof(mg_loss, threads_lossy)},
	    {MG_T_DAMAGE, "SELECT count(*) FROM damage", offsetof(mg_loss, damaged)},
	    {MG_T_META, "SELECT value FROM meta WHERE key = 'spans_cut'",
	     offsetof(mg_loss, spans_cut)},
	    {MG_T_META, "SELECT value FROM meta WHERE key = 'samples'", offsetof(mg_loss, samples)},
	    {MG_T_META, "SELECT value FROM meta WHERE key = 'span_events'",
	     offsetof(mg_loss, span_events)},
	    /* Spans dropped under SPANPROF_ON_FULL=drop, per thread and name. */
	    {MG_T_DROPPED, "SELECT coalesce(sum(count), 0) FROM dropped",
	     offsetof(mg_loss, spans_dropped)},
	};
	int64_t has[MG_T_COUNT];
	memset(out, 0, sizeof *out);
	for (int t = 0; t < MG_T_COUNT; t++)
		if (mg_loss_has_table(db, tables[t], &has[t]))
			return -1;
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
		if (has[q[i].table] &&
		    mg_loss_int(db, q[i].sql, (int64_t *)((char *)out + q[i].field)))
			return -1;
	/* Without merge's counts in meta, the shares need a count. */
	if ((out->events_lost || out->samples_lost) && !out->samples && !out->span_events &&
	    (mg_loss_int(db, "SELECT count(*) FROM samples", &out->samples) ||
	     mg_loss_int(
	         db, "SELECT (SELECT 2 * count(*) FROM spans) + (SELECT count(*) FROM span_attrs)",
	         &out->span_events)))
		return -1;
	return 0;
}

int mg_loss_any(const mg_loss *l)
{
	return l->events_lost > 0 || l->samples_lost > 0 || l->spans_dropped > 0 ||
	       l->spans_cut > 0 || l->damaged > 0;
}

static double mg_share(int64_t part, int64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : 100.0;
}

/* Appends to buf at *n, "; " first unless it is the first part. */
static void __attribute__((format(printf, 4, 5)))
mg_part(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	if (*n && *n < len)
		*n += (size_t)snprintf(buf + *n, len - *n, "; ");
	if (*n >= len)
		return;
	va_start(ap, fmt);
	*n += (size_t)vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
}

const char *mg_loss_text(const mg_loss *l, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	/* Shares of what was recorded plus what was lost: what happened. */
	int64_t events = l->span_events + l->events_lost, samples = l->samples + l->samples_lost;
	char ev[96] = "", sm[96] = "";
	if (l->events_lost)
		snprintf(ev, sizeof ev, "%" PRId64 " of %" PRId64 " span events (%.1f%%)",
		         l->events_lost, events, mg_share(l->events_lost, events));
	if (l->samples_lost)
		snprintf(sm, sizeof sm, "%" PRId64 " of %" PRId64 " samples (%.1f%%)",
		         l->samples_lost, samples, mg_share(l->samples_lost, samples));
	if (ev[0] || sm[0])
		mg_part(buf, len, &n, "%s%s%s lost in %" PRId64 " thread%s", ev,
		        ev[0] && sm[0] ? " and " : "", sm, l->threads_lossy,
		        l->threads_lossy == 1 ? "" : "s");
	if (l->spans_dropped)
		mg_part(buf, len, &n, "%" PRId64 " span%s dropped", l->spans_dropped,
		        l->spans_dropped == 1 ? "" : "s");
	if (l->spans_cut)
		mg_part(buf, len, &n, "%" PRId64 " span%s cut (no END in the log)", l->spans_cut,
		        l->spans_cut == 1 ? "" : "s");
	if (l->damaged)
		mg_part(buf, len, &n, "%" PRId64 " damaged range%s skipped", l->damaged,
		        l->damaged == 1 ? "" : "s");
	return buf;
}

int mg_gaps_read(sqlite3 *db, mg_gaps *out)
{
	memset(out, 0, sizeof *out);
	int64_t has_cpu = 0;
	if (mg_loss_int(db,
	                "SELECT count(*) FROM pragma_table_info('threads') WHERE name = 'cpu_ns'",
	                &has_cpu) ||
	    !has_cpu)
		return has_cpu ? -1 : 0;
	sqlite3_stmt *st =
	    mg_prepare(db, "SELECT count(*), total(cpu_ns), total(signal_blocked),"
	                   " total(CASE WHEN signal_blocked THEN cpu_ns END) FROM threads t"
	                   " WHERE cpu_ns > 0 AND (pid, tid) NOT IN (SELECT pid, tid FROM samples)"
	                   " AND (pid, tid) NOT IN (SELECT pid, tid FROM lost"
	                   "  WHERE kind IN ('samples', 'unwind') AND count > 0)");
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->threads = sqlite3_column_int64(st, 0);
		out->cpu_ns = sqlite3_column_int64(st, 1);
		out->threads_blocked = sqlite3_column_int64(st, 2);
		out->cpu_blocked_ns = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		mg_err_set(-SP_EIO, "database error: %s", sqlite3_errmsg(db));
		return -1;
	}
	int64_t timers = 0;
	if (mg_loss_int(db, "SELECT count(*) FROM sampler WHERE mechanism = 'timer'", &timers))
		return -1;
	out->timers = timers > 0;
	return 0;
}
