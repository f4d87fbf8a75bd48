/*
 * export_output.c - where an export writes: stdout for -, else a temporary file
 * beside the target renamed over it only on success; and spools, the
 * temporary files a format writes a section into before copying it out.
 *
 * Threading: single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export_int.h"
#include "spanprof.h"

static int open_stdout(struct mg_export *x)
{
	if (x->opts->format == MG_EXPORT_PPROF && isatty(STDOUT_FILENO)) {
		mg_err_set(-SP_EINVAL, "pprof is binary; use -o FILE");
		return -SP_EINVAL;
	}
	x->out = stdout;
	x->out_fd = STDOUT_FILENO;
	return 0;
}

/* The target must be new or a regular file: it is replaced by a rename,
 * which keeps it whole or untouched. Anything else (a directory, a symbolic
 * link, a device such as /dev/null, a FIFO) is refused, never followed,
 * written in place or replaced; stdout is "-o -" (docs/export.md). */
static int check_target(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) != 0 || S_ISREG(sb.st_mode))
		return 0;
	mg_err_set(-SP_EINVAL, "%s: exists and is not a regular file (use -o - for stdout)", path);
	return -SP_EINVAL;
}

int mg_export_output_open(struct mg_export *x, char **tmp_path)
{
	const struct mg_export_opts *o = x->opts;
	if (!o->out_path || !strcmp(o->out_path, "-"))
		return open_stdout(x);
	int rc = check_target(o->out_path);
	if (rc)
		return rc;
	if (asprintf(tmp_path, "%s.tmp.XXXXXX", o->out_path) < 0)
		return -SP_ENOMEM;
	int fd = mkstemp(*tmp_path); /* O_EXCL, mode 0600 */
	if (fd < 0 || !(x->out = fdopen(fd, "w"))) {
		mg_err_set(-SP_EIO, "%s: %s", o->out_path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(*tmp_path);
		}
		free(*tmp_path);
		*tmp_path = NULL;
		return -SP_EIO;
	}
	x->out_fd = fd;
	x->out_owned = 1;
	return 0;
}

int mg_export_output_close(struct mg_export *x, char *tmp_path, int rc)
{
	if (x->out && fflush(x->out) != 0 && rc == 0) {
		mg_err_set(-SP_EIO, "write: %s", strerror(errno));
		rc = -SP_EIO;
	}
	if (x->out_owned && fclose(x->out) != 0 && rc == 0)
		rc = -SP_EIO;
	if (!tmp_path)
		return rc;
	if (rc == 0 && rename(tmp_path, x->opts->out_path) != 0) {
		mg_err_set(-SP_EIO, "%s: %s", x->opts->out_path, strerror(errno));
		rc = -SP_EIO;
	}
	if (rc != 0)
		unlink(tmp_path);
	free(tmp_path);
	return rc;
}

int mg_spool_open(struct mg_spool *sp)
{
	sp->n = 0;
	sp->f = tmpfile();
	return sp->f ? 0 : -SP_EIO;
}

FILE *mg_spool_next(struct mg_spool *sp)
{
	if (sp->n++)
		putc(',', sp->f);
	return sp->f;
}

int mg_spool_copy(struct mg_spool *sp, FILE *out)
{
	char buf[65536];
	size_t n;
	if (fflush(sp->f) != 0 || fseek(sp->f, 0, SEEK_SET) != 0)
		return -SP_EIO;
	while ((n = fread(buf, 1, sizeof buf, sp->f)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			return -SP_EIO;
	return ferror(sp->f) ? -SP_EIO : 0;
}

void mg_spool_close(struct mg_spool *sp)
{
	if (sp->f)
		fclose(sp->f);
	sp->f = NULL;
}
