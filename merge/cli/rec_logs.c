/*
 * rec_logs.c - see rec_logs.h. The walk uses lstat and never follows a
 * symbolic link: record must neither count nor remove files outside its
 * directory. Depth is capped (REC_LOGS_MAX_DEPTH) so a deep tree cannot
 * exhaust the stack.
 */
#include "rec_logs.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log_reader.h"

#define REC_LOGS_MAX_DEPTH 16

static int rec_logs_is_log_name(const char *name)
{
	size_t len = strlen(name);
	return len > 6 && !strcmp(name + len - 6, ".splog");
}

static int rec_logs_walk_at(const char *dir, rec_logs_fn fn, void *ctx, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
		    lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < REC_LOGS_MAX_DEPTH)
			rc = rec_logs_walk_at(path, fn, ctx, depth + 1);
		else if (rec_logs_is_log_name(e->d_name))
			rc = fn(path, S_ISREG(st.st_mode), ctx);
	}
	int saved = errno;
	closedir(d);
	errno = saved;
	return rc;
}

int rec_logs_walk(const char *dir, rec_logs_fn fn, void *ctx)
{
	return rec_logs_walk_at(dir, fn, ctx, 0);
}

int rec_logs_is_ours(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (st.st_size == 0)
		return 1;
	lc_reader *r = NULL;
	lc_record rec;
	int ours = lc_reader_open(path, &r) == 0 && lc_reader_next(r, &rec) == 1 &&
	           rec.type == LC_REC_PROCESS;
	lc_reader_close(r);
	return ours;
}
