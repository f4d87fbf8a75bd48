/*
 * tl.c - the shared test library; see tl.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tl.h"

/* ---- files and directories ---- */

void tl_tmpdir(char *out, size_t cap, const char *tag)
{
	if ((size_t)snprintf(out, cap, "/tmp/spanprof-%s.XXXXXX", tag) >= cap)
		fail_msg("temporary directory name too long for its buffer");
	if (!mkdtemp(out))
		fail_msg("mkdtemp %s: %s", out, strerror(errno));
}

static int tl_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void tl_rm_rf(const char *dir)
{
	nftw(dir, tl_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tl_teardown_rm_rf(void **state)
{
	tl_rm_rf(*state);
	return 0;
}

int tl_exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

char *tl_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (cap - n < 2) {
			char *bigger = realloc(buf, cap *= 2);
			if (!bigger)
				free(buf);
			buf = bigger;
		}
	}
	int bad = ferror(f);
	fclose(f);
	if (!buf || bad) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

void tl_write_file(const char *path, const void *bytes, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot create %s: %s", path, strerror(errno));
	size_t n = fwrite(bytes, 1, len, f);
	if (fclose(f) != 0 || n != len)
		fail_msg("cannot write %s: %s", path, strerror(errno));
}

void tl_write_text(const char *path, const char *text)
{
	tl_write_file(path, text, strlen(text));
}

void tl_flip_byte(const char *path, uint64_t offset, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	if (fd < 0 || pread(fd, &b, 1, (off_t)offset) != 1)
		fail_msg("cannot read byte %llu of %s", (unsigned long long)offset, path);
	b ^= mask;
	if (pwrite(fd, &b, 1, (off_t)offset) != 1)
		fail_msg("cannot write byte %llu of %s", (unsigned long long)offset, path);
	close(fd);
}

static int tl_cmp_path(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

int tl_find_logs(const char *dir, char out[][TL_PATH_MAX], int max)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < max) {
		size_t len = strlen(e->d_name);
		if (len > 6 && !strcmp(e->d_name + len - 6, ".splog"))
			snprintf(out[n++], TL_PATH_MAX, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	qsort(out, (size_t)n, TL_PATH_MAX, tl_cmp_path);
	return n;
}

/* ---- running programs ---- */

/* An unlinked temporary file: captured output, any size, no pipe to drain. */
static FILE *tl_capture_file(void)
{
	FILE *f = tmpfile();
	if (!f)
		fail_msg("tmpfile: %s", strerror(errno));
	return f;
}

/* The captured output, truncated to cap (NUL-terminated); closes f. */
static void tl_capture_into(FILE *f, char *buf, size_t cap)
{
	rewind(f);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* The captured output as a malloc'd string; closes f. */
static char *tl_capture_all(FILE *f)
{
	fflush(f);
	long n = ftell(f);
	char *buf = malloc(n > 0 ? (size_t)n + 1 : 1);
	if (!buf)
		fail_msg("out of memory");
	rewind(f);
	size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
	buf[got] = '\0';
	fclose(f);
	return buf;
}

int tl_run(char *const argv[], char *const env[], char *out, size_t out_cap, char *err,
           size_t err_cap)
{
	FILE *out_f = out ? tl_capture_file() : NULL;
	FILE *err_f = err ? tl_capture_file() : NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (out_f)
			dup2(fileno(out_f), STDOUT_FILENO);
		if (err_f)
			dup2(fileno(err_f), STDERR_FILENO);
		for (size_t i = 0; env && env[i]; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		_exit(126);
	}
	int status = -1;
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	waitpid(pid, &status, 0);
	if (out_f)
		tl_capture_into(out_f, out, out_cap);
	if (err_f)
		tl_capture_into(err_f, err, err_cap);
	return status;
}

/* sh -c CMD with stdout into *out and stderr into *err when they are not
 * NULL; err == out sends both into one capture (2>&1). */
static int tl_vsh(char **out, char **err, const char *fmt, va_list ap)
{
	char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		fail_msg("out of memory");
	fprintf(stderr, "$ %s\n", cmd);
	fflush(NULL);
	FILE *out_f = out ? tl_capture_file() : NULL;
	FILE *err_f = err == out ? out_f : err ? tl_capture_file() : NULL;
	pid_t pid = fork();
	if (pid == 0) {
		if (out_f)
			dup2(fileno(out_f), STDOUT_FILENO);
		if (err_f)
			dup2(fileno(err_f), STDERR_FILENO);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	int status = -1;
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (out_f)
		*out = tl_capture_all(out_f);
	if (err_f && err != out)
		*err = tl_capture_all(err_f);
	return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int tl_sh(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tl_vsh(out, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int tl_sh_all(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tl_vsh(out, out, fmt, ap);
	va_end(ap);
	return rc;
}

const char *tl_cli(void)
{
	const char *cli = getenv("SPANPROF_CLI");
	if (!cli || !*cli)
		fail_msg("SPANPROF_CLI is not set (run the test through ctest)");
	return cli;
}

static int tl_sh_split(char **out, char **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int tl_sh_split(char **out, char **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tl_vsh(out, err, fmt, ap);
	va_end(ap);
	return rc;
}

int tl_cli_run(char **out, char **err, const char *fmt, ...)
{
	char *args = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&args, fmt, ap);
	va_end(ap);
	if (n < 0)
		fail_msg("out of memory");
	int rc = tl_sh_split(out, err, "'%s' %s", tl_cli(), args);
	free(args);
	return rc;
}

/* ---- SQL ---- */

sqlite3 *tl_db_open(const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		fail_msg("cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
	return db;
}

static sqlite3_stmt *tl_prepare(sqlite3 *db, const char *fmt, va_list ap)
{
	char *sql = NULL;
	if (vasprintf(&sql, fmt, ap) < 0)
		fail_msg("out of memory");
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("SQL error: %s\n%s", sqlite3_errmsg(db), sql);
	free(sql);
	return st;
}

/* The first row's first column; fails the test when there is no row. */
static int64_t tl_step_int(sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("no row: %s", sqlite3_sql(st));
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int64_t tl_sql_int(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *st = tl_prepare(db, fmt, ap);
	va_end(ap);
	return tl_step_int(st);
}

char *tl_sql_text(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *st = tl_prepare(db, fmt, ap);
	va_end(ap);
	char *v = NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

void tl_sql_column(sqlite3 *db, char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *st = tl_prepare(db, fmt, ap);
	va_end(ap);
	size_t n = 0;
	buf[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW && n < cap) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? " " : "", v ? v : "");
	}
	sqlite3_finalize(st);
}

int64_t tl_db_int(const char *path, const char *fmt, ...)
{
	sqlite3 *db = tl_db_open(path);
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *st = tl_prepare(db, fmt, ap);
	va_end(ap);
	int64_t v = tl_step_int(st);
	sqlite3_close(db);
	return v;
}
