/*
 * ex_util.c - see ex_util.h. Commands run through /bin/sh with the scratch
 * directory as working directory; their stdout is captured through a file
 * (not a pipe), so a chatty command can never block on a full pipe.
 *
 * Threading: single-threaded tests.
 */
#include "ex_util.h"

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

static char scratch_dir[2048];

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v && *v ? v : dflt;
}

const char *ex_scratch(const char *tag)
{
	const char *base = env_or("SPANPROF_BUILD_DIR", "/tmp");
	char cmd[2 * sizeof scratch_dir + 64];
	if (snprintf(scratch_dir, sizeof scratch_dir, "%s/ex-tmp/%s.%d", base, tag,
	             (int)getpid()) >= (int)sizeof scratch_dir)
		fail_msg("scratch path too long");
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", scratch_dir, scratch_dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(chdir(scratch_dir), 0);
	assert_int_equal(setenv("SP", env_or("SPANPROF_CLI", "spanprof"), 1), 0);
	return scratch_dir;
}

void ex_scratch_remove(void)
{
	char cmd[sizeof scratch_dir + 64];
	if (scratch_dir[0] == '\0' || chdir("/") != 0)
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", scratch_dir);
	scratch_dir[0] = '\0';
}

const char *ex_program(const char *name)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/examples/%s/%s", env_or("SPANPROF_BUILD_DIR", "."), name,
	         name);
	return path;
}

static char *read_all(FILE *f)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t n;
	rewind(f);
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2048) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	return buf;
}

int ex_sh(char **out, const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, "$ %s\n", cmd);
	fflush(NULL);
	FILE *capture = out ? tmpfile() : NULL;
	pid_t pid = fork();
	if (pid == 0) {
		if (capture)
			dup2(fileno(capture), STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int status = -1;
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (capture) {
		*out = read_all(capture);
		fclose(capture);
		fputs(*out, stderr);
	}
	return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

sqlite3 *ex_db(const char *path)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK)
		fail_msg("cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
	return db;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *fmt, va_list ap)
{
	char sql[8192];
	vsnprintf(sql, sizeof sql, fmt, ap);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("SQL error: %s\n%s", sqlite3_errmsg(db), sql);
	return st;
}

int64_t ex_int(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *st = prepare(db, fmt, ap);
	va_end(ap);
	int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return v;
}

char *ex_text(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *st = prepare(db, fmt, ap);
	va_end(ap);
	char *v = NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}
