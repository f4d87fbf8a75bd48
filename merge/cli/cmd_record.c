/*
 * cmd_record.c - 'spanprof record': run a program with the runtime preloaded.
 *
 * Design: record only prepares the environment (LD_PRELOAD=libspanprof.so,
 * SPANPROF_OUT, SPANPROF_HZ, SPANPROF_MODE) and runs the program as a child;
 * the library's constructor does the rest in the program and in every
 * process it forks or execs (they inherit the environment), each writing its
 * own <program>.<pid>.splog. When the child ends, record lists the logs it
 * wrote, reads them back to report in one line anything they say was lost
 * (rec_loss.c), and exits with the child's status, or dies of its signal.
 *
 * Runs never mix: merge reads every log in a directory, so a directory
 * that already holds logs is refused (--force removes those logs, and only
 * files that are spanprof logs), and the default directory is created with
 * an exclusive mkdir, with a sequence suffix when its second is taken.
 *
 * The library is found at $SPANPROF_LIB, else next to the spanprof binary
 * (build tree), else ../lib beside it, else the configured install libdir.
 * A library built with AddressSanitizer needs the ASan runtime first in the
 * initial library list: record then preloads that runtime ahead of it (and
 * turns off leak reports, which would change the program's exit status).
 *
 * Continuous recording: --rotate and --keep set SPANPROF_ROTATE and
 * SPANPROF_KEEP for the program (checked here first, so a bad value is
 * refused before anything runs); --duration D stops the program after D
 * like a terminal would (SIGINT), then insists (SIGTERM, SIGKILL) after a
 * grace period each. The wait is a sigtimedwait on SIGCHLD: no polling.
 *
 * Threading: single-threaded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "rec_exe.h"
#include "rec_logs.h"

#ifndef SPANPROF_LIBDIR
#define SPANPROF_LIBDIR "/usr/local/lib"
#endif

#define MG_RECORD_MAX_HZ 100000L
/* --duration: after SIGINT, then after SIGTERM, the program gets this long. */
#define MG_RECORD_GRACE_S 5

typedef struct mg_record_opts {
	const char *out_dir;
	long hz;
	int wall;
	int force;                 /* remove the logs of an earlier run from out_dir */
	char **argv;               /* program and its arguments */
	const char *rotate, *keep; /* SPANPROF_ROTATE / SPANPROF_KEEP, or NULL */
	uint64_t duration_ns;      /* 0 = until the program ends */
} mg_record_opts;

static void mg_record_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: spanprof record [-o DIR] [--force] [-F HZ] [--wall] [--rotate R] [--keep K]\n"
	    "                       [--duration D] -- PROGRAM [ARGS...]\n"
	    "\n"
	    "Runs PROGRAM with the spanprof runtime preloaded; every process it starts\n"
	    "(fork, exec) writes its own log DIR/<program>.<pid>.splog.\n"
	    "\n"
	    "  -o DIR    directory for the logs (default: a new ./spanprof.YYYYmmdd-HHMMSS,\n"
	    "            with -002, -003... appended when that second's name is taken)\n"
	    "  --force   if DIR holds logs of an earlier run, remove them first (only\n"
	    "            spanprof logs, *.splog; without --force such a DIR is refused,\n"
	    "            so that one merge never mixes two runs)\n"
	    "  -F HZ     samples per second and thread (default 999, at most %ld)\n"
	    "  --wall    sample wall-clock time (threads that sleep or wait too)\n"
	    "  --rotate R  cut each process's log into segments every R (10s, 5m) or\n"
	    "            every R bytes (64M): <program>.<pid>.s<NNNNNN>.splog, each of\n"
	    "            which merges alone (SPANPROF_ROTATE)\n"
	    "  --keep K  keep at most K bytes (512M, 1G) of each process's closed\n"
	    "            segments, deleting the oldest (SPANPROF_KEEP; needs --rotate)\n"
	    "  --duration D  stop the program after D (30s, 10m, 2h): SIGINT, then\n"
	    "            SIGTERM %d s later if it still runs, then SIGKILL %d s after\n"
	    "            that; record then exits 0 if it ended of that stop\n"
	    "  --help    this text\n"
	    "\n"
	    "At exit, one line reports any span events or samples the logs say were\n"
	    "lost, and any damage. Exits with PROGRAM's exit status, or dies of its signal.\n",
	    MG_RECORD_MAX_HZ, MG_RECORD_GRACE_S, MG_RECORD_GRACE_S);
}

static int mg_record_bad(const char *msg, const char *arg)
{
	fprintf(stderr, "spanprof record: %s%s%s (try 'spanprof record --help')\n", msg,
	        arg ? ": " : "", arg ? arg : "");
	return 2;
}

static int mg_record_parse_hz(const char *text, long *hz)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || !end || *end || v < 1 || v > MG_RECORD_MAX_HZ)
		return -1;
	*hz = v;
	return 0;
}

/* --rotate (a duration, else a size with a unit, as the runtime reads
 * SPANPROF_ROTATE), --keep (a size), --duration. 0, or -1 after one line. */
static int mg_record_parse_continuous(const char *opt, const char *v, mg_record_opts *o)
{
	uint64_t n;
	if (!strcmp(opt, "--rotate")) {
		if (lc_parse_duration(v, &n) == 0 ? n < 100000000ull
		                                  : (v[strspn(v, "0123456789")] == '\0' ||
		                                     lc_parse_size(v, 1, &n) != 0 || n < 65536)) {
			mg_record_bad("--rotate needs a duration of at least 100ms (10s, 5m) "
			              "or a size of at least 64K (64M)",
			              v);
			return -1;
		}
		o->rotate = v;
	} else if (!strcmp(opt, "--keep")) {
		if (lc_parse_size(v, 1, &n) != 0) {
			mg_record_bad("--keep needs a size (512M, 1G)", v);
			return -1;
		}
		o->keep = v;
	} else {
		if (lc_parse_duration(v, &o->duration_ns) != 0 || o->duration_ns == 0) {
			mg_record_bad("--duration needs a duration (30s, 10m, 2h)", v);
			return -1;
		}
	}
	return 0;
}

/* Returns -1 on success (continue), else the exit status to return. */
static int mg_record_parse(int argc, char **argv, mg_record_opts *o)
{
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			mg_record_usage(stdout);
			return 0;
		} else if (!strcmp(a, "--wall")) {
			o->wall = 1;
		} else if (!strcmp(a, "--force")) {
			o->force = 1;
		} else if (!strcmp(a, "--rotate") || !strcmp(a, "--keep") ||
		           !strcmp(a, "--duration")) {
			if (i + 1 >= argc)
				return mg_record_bad("option needs a value", a);
			if (mg_record_parse_continuous(a, argv[++i], o) != 0)
				return 2;
		} else if (!strcmp(a, "-o") || !strcmp(a, "-F")) {
			if (i + 1 >= argc)
				return mg_record_bad("option needs a value", a);
			if (a[1] == 'o')
				o->out_dir = argv[++i];
			else if (mg_record_parse_hz(argv[++i], &o->hz) < 0)
				return mg_record_bad("-F needs a rate from 1 to 100000", argv[i]);
		} else if (a[0] == '-' && a[1] != '\0') {
			return mg_record_bad("unknown option", a);
		} else {
			break; /* the program, without "--" */
		}
	}
	if (i >= argc)
		return mg_record_bad("missing PROGRAM", NULL);
	if (o->keep && !o->rotate)
		return mg_record_bad("--keep needs --rotate", NULL);
	o->argv = argv + i;
	return -1;
}

/* A program the preloaded runtime cannot enter (static) or cannot run in
 * (ThreadSanitizer) is refused before anything is created, in one line:
 * else it would run unrecorded, or crash. */
static int mg_record_check_program(const char *program)
{
	char path[PATH_MAX];
	rec_exe_kind kind = rec_exe_inspect(program, path, sizeof path);
	if (kind == REC_EXE_OK)
		return 0;
	fprintf(stderr, "spanprof record: cannot record %s: %s\n", path, rec_exe_reason(kind));
	return -1;
}

static int mg_record_readable(const char *path)
{
	return access(path, R_OK) == 0;
}

/* Finds libspanprof.so; writes an absolute path into out. */
static int mg_record_find_lib(char *out, size_t cap)
{
	char cand[PATH_MAX + 64];
	const char *env = getenv("SPANPROF_LIB");
	if (env && *env) {
		snprintf(cand, sizeof cand, "%s", env);
	} else {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		exe[n > 0 ? n : 0] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(cand, sizeof cand, "%s/libspanprof.so", exe);
		if (!mg_record_readable(cand))
			snprintf(cand, sizeof cand, "%s/../lib/libspanprof.so", exe);
		if (!mg_record_readable(cand))
			snprintf(cand, sizeof cand, "%s/libspanprof.so", SPANPROF_LIBDIR);
	}
	if (!realpath(cand, out) || strlen(out) >= cap) {
		fprintf(stderr,
		        "spanprof record: cannot find libspanprof.so (%s: %s); set SPANPROF_LIB\n",
		        cand, strerror(errno));
		return -1;
	}
	return 0;
}

/* If the library needs the ASan runtime, copies its soname ("libasan.so.8")
 * into out. The soname is a DT_NEEDED string of the library's .dynstr; a
 * byte search for it is enough for this one purpose. */
static int mg_record_asan_runtime(const char *lib, char *out, size_t cap)
{
	int fd = open(lib, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	const char *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return 0;
	const char *hit = memmem(map, (size_t)st.st_size, "libasan.so.", 11);
	int found = 0;
	if (hit && (hit == map || hit[-1] == '\0')) {
		size_t len = strnlen(hit, (size_t)(map + st.st_size - hit));
		if (len < cap && hit + len < map + st.st_size) {
			memcpy(out, hit, len);
			out[len] = '\0';
			found = 1;
		}
	}
	munmap((void *)map, (size_t)st.st_size);
	return found;
}

static int mg_record_set_preload(const char *lib)
{
	char asan[64];
	const char *old = getenv("LD_PRELOAD");
	char value[3 * PATH_MAX];
	int have_asan = mg_record_asan_runtime(lib, asan, sizeof asan);
	snprintf(value, sizeof value, "%s%s%s%s%s", have_asan ? asan : "", have_asan ? ":" : "",
	         lib, old && *old ? ":" : "", old && *old ? old : "");
	if (have_asan) {
		const char *opts = getenv("ASAN_OPTIONS");
		char asan_opts[1024];
		snprintf(asan_opts, sizeof asan_opts, "%s%sdetect_leaks=0", opts ? opts : "",
		         opts && *opts ? ":" : "");
		setenv("ASAN_OPTIONS", asan_opts, 1);
	}
	return setenv("LD_PRELOAD", value, 1);
}

#define MG_RECORD_MAX_SEQ 999

/* Creates a new directory ./spanprof.YYYYmmdd-HHMMSS, or -002 ... -999
 * appended when runs share a second: mkdir is atomic, so two records
 * started at once never get the same one. Names sort in time order. */
static int mg_record_default_dir(char *out, size_t cap)
{
	char base[64];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(base, sizeof base, "spanprof.%Y%m%d-%H%M%S", &tm);
	for (int seq = 1; seq <= MG_RECORD_MAX_SEQ; seq++) {
		if (seq == 1)
			snprintf(out, cap, "%s", base);
		else
			snprintf(out, cap, "%s-%03d", base, seq);
		if (mkdir(out, 0700) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	fprintf(stderr, "spanprof record: cannot create a directory %s[-NNN]: %s; use -o DIR\n",
	        base, errno == EEXIST ? "all names of this second are taken" : strerror(errno));
	return -1;
}

/* mkdir -p: creates DIR and its missing parents (mode 0700), so that
 * `-o results/run1` works in a fresh tree. */
static int mg_record_mkdirs(const char *dir)
{
	char path[PATH_MAX];
	if (strlen(dir) >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(path, dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* What the walk of an -o directory found. */
typedef struct mg_record_used {
	unsigned logs, foreign;
	char first[PATH_MAX];         /* first log seen, for the message */
	char first_foreign[PATH_MAX]; /* first *.splog that spanprof did not write */
} mg_record_used;

static int mg_record_note_log(const char *path, int is_file, void *ctx)
{
	mg_record_used *u = ctx;
	if (u->logs++ == 0)
		snprintf(u->first, sizeof u->first, "%s", path);
	if (!is_file || !rec_logs_is_ours(path)) {
		if (u->foreign++ == 0)
			snprintf(u->first_foreign, sizeof u->first_foreign, "%s", path);
	}
	return 0;
}

static int mg_record_remove_log(const char *path, int is_file, void *ctx)
{
	(void)is_file;
	(void)ctx;
	if (unlink(path) < 0) {
		fprintf(stderr, "spanprof record: cannot remove %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Refuses a directory that holds logs, unless force: then removes them,
 * after checking that every one is a spanprof log (nothing else is ever
 * removed: a foreign *.splog makes --force refuse too). */
static int mg_record_clear_dir(const char *dir, int force)
{
	static mg_record_used u; /* two PATH_MAX buffers: not on the stack */
	memset(&u, 0, sizeof u);
	if (rec_logs_walk(dir, mg_record_note_log, &u) < 0) {
		fprintf(stderr, "spanprof record: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (u.logs == 0)
		return 0;
	if (!force) {
		fprintf(stderr,
		        "spanprof record: %s already holds %u log(s) of an earlier run (%s): use "
		        "--force to remove them, or another -o DIR\n",
		        dir, u.logs, u.first);
		return -1;
	}
	if (u.foreign) {
		fprintf(stderr,
		        "spanprof record: %s is not a spanprof log; --force removes only spanprof "
		        "logs: move it away\n",
		        u.first_foreign);
		return -1;
	}
	return rec_logs_walk(dir, mg_record_remove_log, NULL) ? -1 : 0;
}

static int mg_record_prepare_dir(const char *dir, int force, char *abs, size_t cap)
{
	struct stat st;
	if (mg_record_mkdirs(dir) < 0) {
		fprintf(stderr, "spanprof record: cannot create %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "spanprof record: %s: not a directory\n", dir);
		return -1;
	}
	if (mg_record_clear_dir(dir, force) < 0)
		return -1;
	if (!realpath(dir, abs) || strlen(abs) >= cap) {
		fprintf(stderr, "spanprof record: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int mg_record_set_env(const mg_record_opts *o, const char *abs_dir)
{
	char hz[32];
	snprintf(hz, sizeof hz, "%ld", o->hz);
	if (setenv("SPANPROF_OUT", abs_dir, 1) < 0 || setenv("SPANPROF_HZ", hz, 1) < 0 ||
	    setenv("SPANPROF_MODE", o->wall ? "wall" : "cpu", 1) < 0)
		return -1;
	if ((o->rotate && setenv("SPANPROF_ROTATE", o->rotate, 1) < 0) ||
	    (o->keep && setenv("SPANPROF_KEEP", o->keep, 1) < 0))
		return -1;
	return 0;
}

/* Forks and execs the program. A close-on-exec pipe tells the parent
 * whether exec worked: on failure the child writes errno into it, which the
 * parent returns in *exec_errno (the child is then reaped). Returns the pid,
 * or -1 when pipe or fork failed. */
static pid_t mg_record_spawn(char **argv, int *exec_errno)
{
	int fds[2];
	*exec_errno = 0;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t chld; /* blocked for --duration's wait: not the program's */
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		close(fds[0]);
		execvp(argv[0], argv);
		int err = errno;
		ssize_t w = write(fds[1], &err, sizeof err);
		(void)w;
		_exit(127);
	}
	close(fds[1]);
	if (pid > 0) {
		int err = 0;
		ssize_t n;
		while ((n = read(fds[0], &err, sizeof err)) < 0 && errno == EINTR)
			;
		if (n == (ssize_t)sizeof err) {
			*exec_errno = err;
			waitpid(pid, NULL, 0);
		}
	}
	close(fds[0]);
	return pid;
}

static int mg_record_wait(pid_t pid)
{
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return status;
}

/* Waits for the program for at most timeout_ns; 1 and *status when it
 * ended, 0 on timeout, -1 on error. SIGCHLD is blocked by the caller. */
static int mg_record_wait_for(pid_t pid, uint64_t timeout_ns, int *status)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	struct timespec now, end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)(timeout_ns / 1000000000u);
	end.tv_nsec += (long)(timeout_ns % 1000000000u);
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			return 0;
		struct timespec left = {end.tv_sec - now.tv_sec, end.tv_nsec - now.tv_nsec};
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		sigtimedwait(&chld, NULL, &left); /* a child ended, or time is up */
	}
}

/* --duration: lets the program run for duration_ns, then stops it (SIGINT,
 * SIGTERM, SIGKILL, a grace period apart). Returns its wait status, or -1;
 * *stopped = 1 when it ended after one of our signals. */
static int mg_record_wait_duration(pid_t pid, uint64_t duration_ns, int *stopped)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGKILL};
	int status = 0, rc = mg_record_wait_for(pid, duration_ns, &status);
	*stopped = 0;
	for (size_t i = 0; rc == 0 && i < sizeof sigs / sizeof sigs[0]; i++) {
		kill(pid, sigs[i]);
		*stopped = 1;
		rc = mg_record_wait_for(
		    pid, sigs[i] == SIGKILL ? UINT64_MAX / 2 : MG_RECORD_GRACE_S * 1000000000ull,
		    &status);
	}
	return rc == 1 ? status : -1;
}

static int mg_record_is_log(const char *name)
{
	size_t len = strlen(name);
	return len > 6 && !strcmp(name + len - 6, ".splog");
}

/* Lists the logs of this run (written since it started) on stderr. */
static void mg_record_list_logs(const char *dir, time_t since)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	unsigned count = 0;
	struct dirent *e;
	fprintf(stderr, "spanprof: logs in %s:\n", dir);
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX + 256];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (!mg_record_is_log(e->d_name) || stat(path, &st) < 0 || st.st_mtime < since)
			continue;
		fprintf(stderr, "  %s (%lld bytes)\n", path, (long long)st.st_size);
		count++;
	}
	closedir(d);
	if (count == 0)
		fprintf(stderr, "  (none: did the program start? see messages above)\n");
}

/* One line when the logs say anything was lost or damaged, one when some
 * threads could not be sampled; else nothing. */
static void mg_record_report_loss(const char *dir)
{
	rec_loss loss;
	char line[512];
	if (rec_loss_tally(dir, &loss) < 0) {
		fprintf(stderr, "spanprof record: cannot read back the logs in %s: %s\n", dir,
		        strerror(errno));
		return;
	}
	if (rec_loss_line(&loss, line, sizeof line))
		fprintf(stderr, "%s\n", line);
	if (rec_gaps_line(&loss, line, sizeof line))
		fprintf(stderr, "%s\n", line);
}

/* Exit with the child's status, or die of its signal like it did. */
static int mg_record_finish(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (!WIFSIGNALED(status))
		return 1;
	int sig = WTERMSIG(status);
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core); /* the child dumped core already, if any */
	signal(sig, SIG_DFL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	return 128 + sig;
}

int mg_cmd_record(int argc, char **argv)
{
	mg_record_opts o = {.hz = 999};
	int rc = mg_record_parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (mg_record_check_program(o.argv[0]) < 0)
		return 1;
	char lib[PATH_MAX], dir[PATH_MAX], abs_dir[PATH_MAX];
	if (mg_record_find_lib(lib, sizeof lib) < 0)
		return 1;
	if (!o.out_dir) {
		if (mg_record_default_dir(dir, sizeof dir) < 0)
			return 1;
		o.out_dir = dir;
	}
	if (mg_record_prepare_dir(o.out_dir, o.force, abs_dir, sizeof abs_dir) < 0)
		return 1;
	if (mg_record_set_env(&o, abs_dir) < 0 || mg_record_set_preload(lib) < 0) {
		fprintf(stderr, "spanprof record: cannot set the environment: %s\n",
		        strerror(errno));
		return 1;
	}
	time_t started = time(NULL) - 1;
	int exec_errno = 0;
	if (o.duration_ns) { /* before the fork: no SIGCHLD can slip past the wait */
		sigset_t chld;
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_BLOCK, &chld, NULL);
	}
	pid_t pid = mg_record_spawn(o.argv, &exec_errno);
	if (pid < 0) {
		fprintf(stderr, "spanprof record: fork: %s\n", strerror(errno));
		return 1;
	}
	if (exec_errno) {
		fprintf(stderr, "spanprof record: cannot run %s: %s\n", o.argv[0],
		        strerror(exec_errno));
		return exec_errno == ENOENT ? 127 : 126;
	}
	/* Like a shell: a terminal's ^C goes to the program; we wait for it. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	int stopped = 0;
	int status = o.duration_ns ? mg_record_wait_duration(pid, o.duration_ns, &stopped)
	                           : mg_record_wait(pid);
	if (status < 0) {
		fprintf(stderr, "spanprof record: waitpid: %s\n", strerror(errno));
		return 1;
	}
	mg_record_list_logs(abs_dir, started);
	mg_record_report_loss(abs_dir);
	if (stopped && (WIFSIGNALED(status) || WEXITSTATUS(status) == 128 + SIGINT ||
	                WEXITSTATUS(status) == 128 + SIGTERM))
		return 0; /* it ended because --duration said so */
	return mg_record_finish(status);
}
