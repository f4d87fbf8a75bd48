/*
 * export_speed.c - benchmark of 'spanprof export': generates (with SQL) a
 * merged database of N spans and N samples (default N = 1,000,000), on 4
 * threads unless THREADS says otherwise: requests of 10 nested spans, one
 * or two attributes per span, a 4095-node call-site trie over 200
 * functions, and merge's indexes. Then runs the spanprof command once per
 * format and prints wall time, output MB/s, spans/s, samples/s and the
 * peak RSS of the exporting process.
 *
 * usage: export_speed [N] [DIR] [THREADS]  (DIR defaults to /tmp and needs
 * ~0.5 GB for N = 1e6; THREADS defaults to 4)
 * Single-threaded; the exporter runs as a child process (wait4 for RSS).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

static const char schema_sql[] =
    "CREATE TABLE processes(pid INTEGER, host TEXT, exe TEXT, cmdline TEXT, start_ns INTEGER);"
    "CREATE TABLE threads(tid INTEGER, pid INTEGER, name TEXT);"
    "CREATE TABLE spans(span_id INTEGER PRIMARY KEY, parent_id INTEGER, trace_id TEXT,"
    " pid INTEGER, tid INTEGER, name TEXT, start_ns INTEGER, end_ns INTEGER, dur_ns INTEGER,"
    " depth INTEGER);"
    "CREATE TABLE span_attrs(span_id INTEGER, key TEXT, value);"
    "CREATE TABLE samples(sample_id INTEGER PRIMARY KEY, ts_ns INTEGER, pid INTEGER,"
    " tid INTEGER, span_id INTEGER, stack_id INTEGER, weight_ns INTEGER);"
    "CREATE TABLE stacks(stack_id INTEGER PRIMARY KEY, parent_id INTEGER, frame_id INTEGER,"
    " depth INTEGER);"
    "CREATE TABLE frames(frame_id INTEGER PRIMARY KEY, func TEXT, file TEXT, line INTEGER,"
    " module TEXT, rel_pc INTEGER);";

/* %1$lld = T0, %2$lld = N, %3$lld = threads. Span k (1-based): group
 * g = (k-1)/10 is a 'request' (j = 0) with 9 children 'step0..2', on thread
 * g mod threads; sample k lies inside span k. */
static const char data_sql[] =
    "INSERT INTO processes VALUES (1, 'bench', '/usr/bin/bench', 'bench', %1$lld);"
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %3$lld - 1)"
    " INSERT INTO threads SELECT 1000 + i, 1, 't' || i FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
    " INSERT INTO frames SELECT i, 'function_' || i, '/src/file' || (i %% 17) || '.c',"
    " i * 3, '/usr/bin/bench', i * 64 FROM n;"
    "WITH RECURSIVE t(id, parent, depth) AS (SELECT 1, NULL, 0 UNION ALL"
    " SELECT id * 2 + k, id, depth + 1 FROM t, (SELECT 0 AS k UNION ALL SELECT 1)"
    " WHERE id * 2 + k <= 4095)"
    " INSERT INTO stacks SELECT id, parent, id %% 200 + 1, depth FROM t;"
    "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < %2$lld)"
    " INSERT INTO spans SELECT k, CASE (k - 1) %% 10 WHEN 0 THEN NULL ELSE k - (k - 1) %% 10 END,"
    " 'trace' || ((k - 1) / 10), 1, 1000 + ((k - 1) / 10) %% %3$lld,"
    " CASE (k - 1) %% 10 WHEN 0 THEN 'request' ELSE 'step' || (k %% 3) END,"
    " %1$lld + ((k - 1) / 10) * 100000 + ((k - 1) %% 10) * 10000,"
    " %1$lld + ((k - 1) / 10) * 100000 + CASE (k - 1) %% 10 WHEN 0 THEN 100000"
    "   ELSE ((k - 1) %% 10) * 10000 + 9000 END,"
    " CASE (k - 1) %% 10 WHEN 0 THEN 100000 ELSE 9000 END,"
    " CASE (k - 1) %% 10 WHEN 0 THEN 0 ELSE 1 END FROM n;"
    "INSERT INTO span_attrs SELECT span_id, 'n', span_id FROM spans;"
    "INSERT INTO span_attrs SELECT span_id, 'path', '/data/input' || span_id || '.txt'"
    " FROM spans WHERE parent_id IS NULL;"
    "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < %2$lld - 1)"
    " INSERT INTO samples SELECT k + 1,"
    " %1$lld + (k / 10) * 100000 + (k %% 10) * 10000 + 5000, 1, 1000 + (k / 10) %% %3$lld, k + 1,"
    " (k * 7919) %% 4095 + 1, 10000 FROM n;"
    /* the indexes 'spanprof merge' creates (docs/schema.md) */
    "CREATE INDEX samples_span ON samples(span_id);"
    "CREATE INDEX samples_stack ON samples(stack_id);"
    "CREATE INDEX spans_thread ON spans(pid, tid, start_ns, depth);"
    "CREATE INDEX spans_parent ON spans(parent_id);"
    "CREATE INDEX span_attrs_span ON span_attrs(span_id, key);"
    "ANALYZE;";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int make_db(const char *path, long long n, long long threads)
{
	sqlite3 *db;
	char *err = NULL;
	unlink(path);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	char *sql = NULL;
	if (asprintf(&sql, data_sql, 1700000000000000000LL, n, threads) < 0)
		return -1;
	int rc =
	    sqlite3_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", NULL, NULL, &err);
	rc = rc ? rc : sqlite3_exec(db, "BEGIN", NULL, NULL, &err);
	rc = rc ? rc : sqlite3_exec(db, schema_sql, NULL, NULL, &err);
	rc = rc ? rc : sqlite3_exec(db, sql, NULL, NULL, &err);
	rc = rc ? rc : sqlite3_exec(db, "COMMIT", NULL, NULL, &err);
	if (rc)
		fprintf(stderr, "export_speed: %s\n", err ? err : "sqlite error");
	sqlite3_free(err);
	free(sql);
	sqlite3_close(db);
	return rc ? -1 : 0;
}

/* Runs one export; returns wall seconds, sets *rss_kb. */
static double run_export(const char *db, const char *format, const char *out, long *rss_kb)
{
	double t0 = now_s();
	pid_t pid = fork();
	if (pid == 0) {
		execl(SPANPROF_CLI_PATH, "spanprof", "export", db, "--format", format, "-o", out,
		      (char *)NULL);
		_exit(127);
	}
	int status = 0;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	*rss_kb = ru.ru_maxrss;
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	long long n = argc > 1 ? atoll(argv[1]) : 1000000;
	const char *dir = argc > 2 ? argv[2] : "/tmp";
	long long threads = argc > 3 ? atoll(argv[3]) : 4;
	char db[512], out[512];
	snprintf(db, sizeof db, "%s/export_speed.db", dir);
	double t0 = now_s();
	if (n < 10 || threads < 1 || make_db(db, n, threads) != 0)
		return 1;
	printf("database: %lld spans, %lld samples, %lld threads, generated in %.1f s (%s)\n", n, n,
	       threads, now_s() - t0, db);
	printf("%-11s %8s %9s %8s %11s %11s %9s\n", "format", "seconds", "out MB", "MB/s",
	       "spans/s", "samples/s", "peak RSS");
	static const char *const formats[] = {"firefox", "chrome", "pprof", "folded", "speedscope"};
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		long rss_kb = 0;
		struct stat sb;
		snprintf(out, sizeof out, "%s/export_speed.%s", dir, formats[i]);
		double s = run_export(db, formats[i], out, &rss_kb);
		if (s < 0 || stat(out, &sb) != 0) {
			printf("%-11s failed\n", formats[i]);
			continue;
		}
		double mb = sb.st_size / 1e6;
		printf("%-11s %8.2f %9.1f %8.1f %11.0f %11.0f %6ld MB\n", formats[i], s, mb, mb / s,
		       n / s, n / s, rss_kb / 1024);
		unlink(out);
	}
	unlink(db);
	return 0;
}
