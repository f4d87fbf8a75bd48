/*
 * cmd_merge.c - 'spanprof merge [-o OUT.db] [--force] [--since T]
 * [--until T] INPUT...' and 'spanprof merge --append DB INPUT...'.
 *
 * Builds the database in OUT.db.tmp.PID (created O_EXCL|O_NOFOLLOW, mode
 * 0600: it holds input values) next to the output and renames it over the
 * output only when everything succeeded, so a failed or interrupted merge
 * never leaves a half-written database under the final name.
 * Bulk-load settings: 16 KiB pages (fewer, shallower B-tree pages: less
 * CPU than 4 KiB, docs/performance.md "Merge"), no journal, no fsync, one
 * transaction, indexes after the load; the page cache is capped (96 MiB)
 * so memory stays bounded.
 *
 * --append builds the new logs' database the same way, with the living
 * one attached read-only (to join spans that continue from its segments),
 * then copies it in, in one transaction of the living database
 * (mg_append.h): an interrupted append changes nothing.
 *
 * Threading: single-threaded. SIGINT/SIGTERM remove the temporary files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "mg_db.h"
#include "mg_append.h"
#include "mg_err.h"
#include "mg_grow.h"
#include "mg_loss.h"
#include "mg_merge.h"
#include "mg_runs.h"
#include "mg_spanstacks.h"
#include "mg_window.h"

#define MG_DEFAULT_OUT "spanprof.db"

typedef struct mg_inputs {
	char **paths;
	size_t n, cap;
} mg_inputs;

/* What the command line asked for beyond the inputs. */
typedef struct mg_opts {
	const char *out;
	int quiet, force, append;
	int no_cache;                /* --no-cache: neither read nor write the symbol cache */
	uint64_t since_ns, until_ns; /* 0 = open */
} mg_opts;

static char mg_tmp_path[PATH_MAX];

static void mg_merge_usage(FILE *out)
{
	fprintf(out,
	        "usage: spanprof merge [-o OUT.db] [--force] [--quiet] [--since T] [--until T]\n"
	        "                      [--no-cache] INPUT...\n"
	        "       spanprof merge --append DB [--since T] [--until T] INPUT...\n"
	        "\n"
	        "Loads event logs (*.splog files, or directories searched for them) into\n"
	        "one SQLite database: symbolized stacks, spans with their attributes, and\n"
	        "every sample attributed to the innermost span open on its thread.\n"
	        "\n"
	        "  -o, --output OUT.db  database to write (default " MG_DEFAULT_OUT ")\n"
	        "  -f, --force          replace OUT.db if it exists\n"
	        "  -q, --quiet          no warnings about modules\n"
	        "  --no-cache           neither read nor write the symbol cache\n"
	        "                       ($XDG_CACHE_HOME/spanprof/symbols, default\n"
	        "                       ~/.cache/spanprof/symbols: one file per build-id,\n"
	        "                       safe to delete)\n"
	        "  --since T, --until T only events in this window: T is an RFC 3339 time\n"
	        "                       (2025-05-01T12:00:00Z, ...+02:00), a time relative\n"
	        "                       to now (-5m, -1h, -30s), or ns since the epoch;\n"
	        "                       logs wholly outside it are not read\n"
	        "  -a, --append DB      add the inputs to the database DB made by merge:\n"
	        "                       logs already in it are skipped, and so is the\n"
	        "                       newest segment of a process still running (it is\n"
	        "                       still being written); spans that continue from a\n"
	        "                       segment merged before are joined. With --since,\n"
	        "                       what ended before T is also deleted from DB\n"
	        "  -h, --help           this text\n"
	        "\n"
	        "A damaged range of a log is skipped: reading resumes at the next intact\n"
	        "LZ4 frame, one warning line per log names the ranges, and table damage\n"
	        "lists each (offset, end_offset, reason). The exit status is 0 then, and\n"
	        "non-zero only if nothing could be read. Schema: docs/schema.md.\n"
	        "Segments of a rotated log (SPANPROF_ROTATE) merge alone or together;\n"
	        "spans cut where a segment ended and not continued by a merged one have\n"
	        "spans.cut = 3.\n");
}

static void mg_on_signal(int sig)
{
	if (mg_tmp_path[0])
		unlink(mg_tmp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int mg_input_add(mg_inputs *in, const char *path)
{
	if (MG_GROW_ONE(in->paths, in->cap, in->n))
		return -1;
	if (!(in->paths[in->n] = strdup(path)))
		return -1;
	in->n++;
	return 0;
}

static int mg_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int mg_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcmp(s + n - k, suffix);
}

/* Adds the *.splog files under dir (recursively), sorted by name. */
static int mg_scan_dir(mg_inputs *in, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "spanprof merge: %s: %s\n", dir, strerror(errno));
		return 0;
	}
	size_t first = in->n;
	struct dirent *e;
	char path[PATH_MAX];
	int err = 0;
	while (!err && (e = readdir(d))) {
		struct stat sb;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			err = mg_scan_dir(in, path);
		else if (S_ISREG(sb.st_mode) && mg_has_suffix(e->d_name, ".splog"))
			err = mg_input_add(in, path);
	}
	closedir(d);
	qsort(in->paths + first, in->n - first, sizeof *in->paths, mg_cmp_str);
	return err;
}

static int mg_collect(mg_inputs *in, char **args, int n, uint64_t *total_bytes)
{
	for (int i = 0; i < n; i++) {
		struct stat sb;
		if (stat(args[i], &sb) != 0) {
			fprintf(stderr, "spanprof merge: %s: %s\n", args[i], strerror(errno));
			continue;
		}
		if ((S_ISDIR(sb.st_mode) ? mg_scan_dir(in, args[i]) : mg_input_add(in, args[i])))
			return -1;
	}
	for (size_t i = 0; i < in->n; i++) {
		struct stat sb;
		if (stat(in->paths[i], &sb) == 0)
			*total_bytes += (uint64_t)sb.st_size;
	}
	return 0;
}

static int mg_create_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "spanprof merge: %s: %s\n", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static sqlite3 *mg_open_output(void)
{
	sqlite3 *db = NULL;
	if (mg_create_private(mg_tmp_path))
		return NULL;
	/* No per-connection mutex, no memory statistics (a global lock). Index
	 * sorts stay on one thread: a helper thread doubled peak memory. */
	sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_open(mg_tmp_path, &db) != SQLITE_OK) {
		fprintf(stderr, "spanprof merge: %s: %s\n", mg_tmp_path,
		        db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	if (mg_exec(db, "PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
	                "PRAGMA cache_size=-98304;"
	                "PRAGMA locking_mode=EXCLUSIVE; PRAGMA temp_store=FILE;") ||
	    mg_db_create_tables(db)) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* SPANPROF_MERGE_TIMING=1 prints the time of each phase (for tuning). */
static void mg_phase(const char *what)
{
	static double last;
	static int on = -1;
	if (on < 0)
		on = getenv("SPANPROF_MERGE_TIMING") != NULL;
	double now = mg_now_s();
	if (on && last > 0)
		fprintf(stderr, "spanprof merge: %-10s %.3f s\n", what, now - last);
	last = now;
}

/* With SPANPROF_MERGE_TIMING, how many module addresses were looked up
 * and how many the symbol cache answered (the bench and tests read it). */
static void mg_sym_report(const mg_sym *sym)
{
	uint64_t lookups = 0, hits = 0;
	if (!sym || !getenv("SPANPROF_MERGE_TIMING"))
		return;
	mg_sym_stats(sym, &lookups, &hits);
	fprintf(stderr,
	        "spanprof merge: symbols    %" PRIu64 " addresses, %" PRIu64 " from the cache\n",
	        lookups, hits);
}

/* One line when the inputs mix runs of one program (mg_runs.h); shown
 * even with --quiet: it says the numbers are wrong, not noise. */
static int mg_warn_mixed_runs(sqlite3 *db)
{
	char line[1024];
	int rc = mg_runs_check(db, line, sizeof line);
	if (rc < 0)
		fprintf(stderr, "spanprof merge: checking for mixed runs: %s\n",
		        sqlite3_errmsg(db));
	else if (rc > 0)
		fprintf(stderr, "%s\n", line);
	return rc < 0 ? -1 : 0;
}

/* Everything after the logs are loaded; *loss gets the loss summary,
 * *gaps the threads that could not be sampled. */
static int mg_finish_db(mg_merge *mg, mg_loss *loss, mg_gaps *gaps)
{
	char a[32];
	mg_progress_update(&mg->progress, "deriving span ancestors and stacks...");
	mg_phase("load");
	if (mg_db_derive(mg->db, mg->spans_without_depth > 0, mg->ids_unresolved > 0) ||
	    (mg->spans_cut && mg_db_repair_samples(mg->db)) ||
	    mg_loss_save(mg->db, mg->span_events, mg->samples, mg->spans_cut) ||
	    mg_loss_read(mg->db, loss))
		return -1;
	mg_phase("derive");
	if (mg->appending) /* indexes and views: the living database has them */
		return mg_exec(mg->db, "COMMIT");
	mg_progress_update(&mg->progress, "indexing %s samples...",
	                   mg_fmt_count(mg->samples, a, sizeof a));
	if (mg_db_create_indexes(mg->db))
		return -1;
	mg_phase("index");
	mg_progress_update(&mg->progress, "summing samples per stack, span name and attribute...");
	if (mg_span_stacks_fill(mg->db) || mg_db_create_views(mg->db) || mg_gaps_read(mg->db, gaps))
		return -1;
	mg_phase("spanstacks");
	int err = mg_exec(mg->db, "COMMIT");
	mg_phase("commit");
	return err;
}

/* 1 when the log is not loaded: outside the window, or (--append) merged
 * before or still being written. */
static int mg_skip_log(sqlite3 *living, const mg_opts *o, const char *path)
{
	struct stat sb;
	if ((o->since_ns || o->until_ns) && mg_log_outside_window(path, o->since_ns, o->until_ns))
		return 1;
	if (!o->append || stat(path, &sb) != 0)
		return 0;
	return mg_log_merged_before(living, path, (uint64_t)sb.st_size) == 1 ||
	       mg_log_still_written(path);
}

/* Leaves in the inputs only the logs to load; the number left out. */
static size_t mg_filter_inputs(mg_inputs *in, const mg_opts *o)
{
	sqlite3 *living = o->append ? mg_db_open(o->out, MG_DB_SPANPROF) : NULL;
	mg_err_print("merge"); /* a living database that cannot be opened: no log is kept */
	size_t kept = 0, n = in->n;
	for (size_t i = 0; i < in->n; i++) {
		if ((o->append && !living) || mg_skip_log(living, o, in->paths[i]))
			free(in->paths[i]);
		else
			in->paths[kept++] = in->paths[i];
	}
	in->n = kept;
	sqlite3_close(living);
	return n - kept;
}

/* --append: the logs' database (built in mg_tmp_path) goes into out. */
static int mg_append_into(const char *out, uint64_t prune_ns)
{
	char sql[PATH_MAX + 64];
	sqlite3 *db = mg_db_open(out, MG_DB_WRITE | MG_DB_SPANPROF);
	if (!db)
		return -1;
	char *q = sqlite3_mprintf("ATTACH %Q AS new", mg_tmp_path);
	snprintf(sql, sizeof sql, "%s", q ? q : "");
	sqlite3_free(q);
	int err = mg_exec(db, "PRAGMA busy_timeout=10000") || mg_exec(db, sql) ||
	          mg_exec(db, "BEGIN IMMEDIATE") || mg_append_copy(db) ||
	          (prune_ns && mg_append_prune(db, prune_ns)) || mg_span_stacks_fill(db) ||
	          mg_exec(db, "COMMIT");
	if (err)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(db, "DETACH new", NULL, NULL, NULL);
	if (sqlite3_close(db) != SQLITE_OK)
		err = 1;
	return err ? -1 : 0;
}

/* --append: the living database, read-only, beside the new one. */
static int mg_attach_prev(sqlite3 *db, const char *living)
{
	char *q = sqlite3_mprintf("ATTACH %Q AS prev", living);
	int err = !q || mg_exec(db, q);
	sqlite3_free(q);
	return err;
}

static int mg_run(mg_inputs *in, const mg_opts *o)
{
	const char *out = o->append ? mg_tmp_path : o->out;
	int quiet = o->quiet;
	mg_merge mg = {.quiet = quiet,
	               .since_ns = o->since_ns,
	               .until_ns = o->until_ns,
	               .appending = o->append};
	int64_t total = 0;
	mg_progress_init(&mg.progress);
	mg_phase("start");
	for (size_t i = 0; i < in->n; i++) {
		struct stat sb;
		if (stat(in->paths[i], &sb) == 0)
			mg.bytes_total += (uint64_t)sb.st_size;
	}
	if (!(mg.db = mg_open_output()))
		return 1;
	int err = (o->append && mg_attach_prev(mg.db, o->out)) ||
	          !(mg.sym = mg_sym_new(mg.db, quiet)) || mg_merge_prepare(&mg) ||
	          mg_exec(mg.db, "BEGIN");
	if (mg.sym) {
		mg_sym_set_cache(mg.sym, !o->no_cache);
		mg_sym_set_progress(mg.sym, &mg.progress);
	}
	for (size_t i = 0; !err && i < in->n; i++) {
		int64_t n = mg_load_log(&mg, in->paths[i]);
		mg_err_print("merge"); /* a log that could not be read, or the failure */
		err = n < 0;
		total += n > 0 ? n : 0;
	}
	if (!err && total == 0) {
		fprintf(stderr, "spanprof merge: nothing could be read from the inputs\n");
		err = 1;
	}
	err = err || mg_warn_mixed_runs(mg.db);
	mg_merge_finalize(&mg);
	mg_loss loss = {0};
	mg_gaps gaps = {0};
	err = err || mg_sym_finish(mg.sym) || mg_finish_db(&mg, &loss, &gaps);
	mg_sym_report(mg.sym);
	mg_sym_free(mg.sym);
	mg_progress_done(&mg.progress);
	if (sqlite3_close(mg.db) != SQLITE_OK && !err) {
		fprintf(stderr, "spanprof merge: closing %s failed\n", mg_tmp_path);
		err = 1;
	}
	if (!err && o->append)
		err = mg_append_into(o->out, o->since_ns) != 0;
	else if (!err && rename(mg_tmp_path, out) != 0) {
		fprintf(stderr, "spanprof merge: %s: %s\n", out, strerror(errno));
		err = 1;
	}
	char text[512];
	loss.damaged = 0;               /* each damaged log had its own warning line */
	if (!err && mg_loss_any(&loss)) /* never hidden, not even by --quiet */
		fprintf(stderr,
		        "spanprof merge: warning: %s: see tables lost, dropped and damage, and "
		        "spans.cut\n",
		        mg_loss_text(&loss, text, sizeof text));
	if (!err && gaps.threads > 0) /* likewise */
		fprintf(
		    stderr,
		    "spanprof merge: warning: %s: see threads.cpu_ns and threads.signal_blocked\n",
		    mg_gaps_text(&gaps, text, sizeof text));
	double secs = mg_now_s() - mg.progress.t0_s;
	char rate[32];
	if (!err && !quiet)
		fprintf(stderr,
		        "spanprof merge: %s: %zu log(s), %" PRId64 " records, %" PRIu64
		        " samples in %.2f s (%s events/s)%s\n",
		        o->out, in->n, total, mg.samples, secs,
		        mg_fmt_count(secs > 0 ? (uint64_t)((double)total / secs) : 0, rate,
		                     sizeof rate),
		        mg.logs_damaged || mg.logs_failed ? " (some logs damaged: see table damage)"
		                                          : "");
	return err ? 1 : 0;
}

static int mg_prepare_paths(const char *out, int force)
{
	struct stat sb;
	if (force < 0 && lstat(out, &sb) != 0) { /* --append: it must exist */
		fprintf(stderr, "spanprof merge: %s: no such database to append to\n", out);
		return -1;
	}
	if (!force && lstat(out, &sb) == 0) {
		fprintf(stderr, "spanprof merge: %s exists (use --force to replace it)\n", out);
		return -1;
	}
	int n1 = snprintf(mg_tmp_path, sizeof mg_tmp_path, "%s.tmp.%ld", out, (long)getpid());
	if (n1 < 0 || (size_t)n1 >= sizeof mg_tmp_path) {
		fprintf(stderr, "spanprof merge: %s: path too long\n", out);
		return -1;
	}
	signal(SIGINT, mg_on_signal);
	signal(SIGTERM, mg_on_signal);
	return 0;
}

/* --since/--until: one line and 2 on a bad time. */
static int mg_opt_time(const char *opt, const char *arg, uint64_t now_ns, uint64_t *out)
{
	if (mg_parse_time(arg, now_ns, out) == 0)
		return 0;
	fprintf(stderr,
	        "spanprof merge: bad %s '%s' (expected an RFC 3339 time such as "
	        "2025-05-01T12:00:00Z, or -5m for five minutes ago)\n",
	        opt, arg);
	return -1;
}

/* Parses the options into *o; returns -1 (exit 0: help), 0, or 2. */
static int mg_parse_opts(int argc, char **argv, mg_opts *o)
{
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {"quiet", no_argument, NULL, 'q'},
	                                     {"append", required_argument, NULL, 'a'},
	                                     {"since", required_argument, NULL, 'S'},
	                                     {"until", required_argument, NULL, 'U'},
	                                     {"no-cache", no_argument, NULL, 'C'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	uint64_t now_ns = mg_now_ns();
	int c;
	optind = 1;
	opterr = 0; /* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "+o:fqa:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->out = optarg;
			break;
		case 'f':
			o->force = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'a':
			o->append = 1;
			o->out = optarg;
			break;
		case 'S':
			if (mg_opt_time("--since", optarg, now_ns, &o->since_ns))
				return 2;
			break;
		case 'U':
			if (mg_opt_time("--until", optarg, now_ns, &o->until_ns))
				return 2;
			break;
		case 'C':
			o->no_cache = 1;
			break;
		case 'h':
			mg_merge_usage(stdout);
			return -1;
		default:
			fprintf(stderr,
			        "spanprof merge: bad option '%s' (try 'spanprof merge --help')\n",
			        argv[optind - 1]);
			return 2;
		}
	}
	if (o->since_ns && o->until_ns && o->until_ns < o->since_ns) {
		fprintf(stderr, "spanprof merge: --until is before --since\n");
		return 2;
	}
	if (optind >= argc) {
		fprintf(stderr, "spanprof merge: no input logs (try 'spanprof merge --help')\n");
		return 2;
	}
	return 0;
}

int mg_cmd_merge(int argc, char **argv)
{
	mg_opts o = {.out = MG_DEFAULT_OUT};
	int rc = mg_parse_opts(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	mg_inputs in = {0};
	uint64_t bytes = 0;
	size_t skipped = 0;
	rc = 1;
	if (mg_collect(&in, argv + optind, argc - optind, &bytes) == 0 && in.n == 0) {
		fprintf(stderr, "spanprof merge: no *.splog logs found in the inputs\n");
	} else if (in.n && mg_prepare_paths(o.out, o.append ? -1 : o.force) == 0) {
		skipped = mg_filter_inputs(&in, &o);
		if (in.n)
			rc = mg_run(&in, &o);
		else if (!o.quiet) /* nothing new, or nothing in the window: no error */
			fprintf(stderr,
			        "spanprof merge: %s: nothing to add (%zu log(s) left out)\n", o.out,
			        skipped);
		rc = in.n ? rc : 0;
	}
	if (mg_tmp_path[0])
		unlink(mg_tmp_path);
	for (size_t i = 0; i < in.n; i++)
		free(in.paths[i]);
	free(in.paths);
	return rc;
}
