/*
 * soak.c - continuous recording, left running: a server-like program
 * (THREADS threads paced to RATE spans/s in total, each request a
 * "request" span with an attribute and a "handle" span around ~5 us of
 * CPU) runs first untraced (the baseline), then traced with rotation and
 * a retention bound, for DURATION seconds. Every second it prints the RSS,
 * the bytes of logs on disk, and the segments closed and deleted; at the
 * end the peak RSS of the first and second halves (flat means no growth),
 * the peak disk use against KEEP + the largest segment, the events lost
 * (LOST records in the segments left), and the overhead (process CPU per
 * request, traced against untraced).
 *
 * usage: soak [-d SECONDS] [-F HZ] [-r ROTATE] [-k KEEP] [-t THREADS]
 *             [-s SPANS_PER_S] [-b BASELINE_SECONDS] [-R RSS_SLACK_MIB]
 *             [--check] DIR
 * defaults: 600 s, 999 Hz, rotate 10s, keep 64M, 4 threads, 100000 spans/s.
 * --check exits 1 when a bound fails (the test in tests/tracer runs that).
 *
 * Threading: the workers make spans; the main thread measures.
 */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <spanprof.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log_reader.h"
#include "log_writer.h"

typedef struct soak_opts {
	double duration_s, baseline_s;
	unsigned hz, threads;
	double spans_per_s;
	const char *rotate, *keep, *dir;
	int check;
	double rss_slack_mib; /* --check: allowed RSS growth between the halves */
} soak_opts;

static soak_opts opt = {600, 10, 999, 4, 100000, "10s", "64M", NULL, 0, 4.0};
static _Atomic int phase; /* 0 run untraced, 1 traced, 2 stop */
static _Atomic uint64_t requests;
static volatile uint64_t sink;

static double now_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void handle(uint64_t seed)
{
	uint64_t x = seed | 1;
	for (int i = 0; i < 1500; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	sink += x;
}

/* Paced in 1 ms ticks: each tick's requests, then sleep to the next tick
 * (a late thread does not sleep: it catches up). */
static void *worker(void *arg)
{
	uintptr_t index = (uintptr_t)arg;
	double per_tick = opt.spans_per_s / 2.0 / opt.threads / 1000.0, owed = 0;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	uint64_t i = 0;
	while (atomic_load(&phase) < 2) {
		for (owed += per_tick; owed >= 1; owed--, i++) {
			sp_span r = sp_begin("request");
			sp_attr_int(r, "id", (int64_t)(i * 16 + index));
			sp_span h = sp_begin("handle");
			handle(i);
			sp_end(h);
			sp_end(r);
		}
		atomic_fetch_add_explicit(&requests, (uint64_t)per_tick, memory_order_relaxed);
		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return NULL;
}

static double rss_mib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	if (f)
		fclose(f);
	return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

/* Bytes of *.splog in the directory, and the largest one. */
static uint64_t disk_bytes(uint64_t *largest)
{
	DIR *d = opendir(opt.dir);
	uint64_t total = 0;
	struct dirent *e;
	char path[4096];
	while (d && (e = readdir(d))) {
		struct stat sb;
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 6, ".splog"))
			continue;
		snprintf(path, sizeof path, "%s/%s", opt.dir, e->d_name);
		if (stat(path, &sb) == 0) {
			total += (uint64_t)sb.st_size;
			if ((uint64_t)sb.st_size > *largest)
				*largest = (uint64_t)sb.st_size;
		}
	}
	if (d)
		closedir(d);
	return total;
}

/* LOST counts are cumulative per thread and kind, and each segment
 * repeats them: the largest per (tid, kind) over the segments left. */
static uint64_t lost_events(void)
{
	DIR *d = opendir(opt.dir);
	struct dirent *e;
	char path[4096];
	uint64_t tids[256] = {0}, counts[256] = {0}, total = 0;
	size_t n = 0;
	while (d && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 6, ".splog"))
			continue;
		snprintf(path, sizeof path, "%s/%s", opt.dir, e->d_name);
		lc_reader *r = NULL;
		if (lc_reader_open(path, &r) != 0)
			continue;
		lc_record rec;
		while (lc_reader_next(r, &rec) == 1) {
			if (rec.type != LC_REC_LOST)
				continue;
			uint64_t key = (uint64_t)rec.u.lost.tid << 8 | rec.u.lost.kind;
			size_t k = 0;
			while (k < n && tids[k] != key)
				k++;
			if (k == n && n < 256)
				tids[n++] = key;
			if (k < 256 && rec.u.lost.count > counts[k])
				counts[k] = rec.u.lost.count;
		}
		lc_reader_close(r);
	}
	if (d)
		closedir(d);
	for (size_t k = 0; k < n; k++)
		total += counts[k];
	return total;
}

static int parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--check")) {
			opt.check = 1;
			continue;
		}
		if (a[0] != '-') {
			opt.dir = a;
			continue;
		}
		if (!v)
			return -1;
		i++;
		switch (a[1]) {
		case 'd':
			opt.duration_s = atof(v);
			break;
		case 'b':
			opt.baseline_s = atof(v);
			break;
		case 'F':
			opt.hz = (unsigned)atoi(v);
			break;
		case 't':
			opt.threads = (unsigned)atoi(v);
			break;
		case 's':
			opt.spans_per_s = atof(v);
			break;
		case 'r':
			opt.rotate = v;
			break;
		case 'k':
			opt.keep = v;
			break;
		case 'R':
			opt.rss_slack_mib = atof(v);
			break;
		default:
			return -1;
		}
	}
	return opt.dir && opt.threads >= 1 && opt.threads <= 64 ? 0 : -1;
}

/* Process CPU seconds per request over a phase of phase_s seconds. */
static double cpu_per_request(double phase_s)
{
	uint64_t r0 = atomic_load(&requests);
	double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	struct timespec ts = {(time_t)phase_s, (long)((phase_s - (double)(time_t)phase_s) * 1e9)};
	nanosleep(&ts, NULL);
	uint64_t r1 = atomic_load(&requests);
	return (now_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)(r1 > r0 ? r1 - r0 : 1);
}

int main(int argc, char **argv)
{
	if (parse_args(argc, argv) < 0) {
		fprintf(stderr, "usage: soak [-d S] [-F HZ] [-r ROTATE] [-k KEEP] [-t THREADS] "
		                "[-s SPANS_PER_S] [-b BASELINE_S] [--check] DIR\n");
		return 2;
	}
	uint64_t keep = 0;
	if (lc_parse_size(opt.keep, 1, &keep) != 0)
		return 2;
	char hz[16];
	snprintf(hz, sizeof hz, "%u", opt.hz);
	setenv("SPANPROF_ROTATE", opt.rotate, 1);
	setenv("SPANPROF_KEEP", opt.keep, 1);
	setenv("SPANPROF_HZ", hz, 1);
	pthread_t t[64];
	for (unsigned i = 0; i < opt.threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
	double base = cpu_per_request(opt.baseline_s);
	sp_config cfg = {.out_dir = opt.dir};
	if (sp_start(&cfg) != 0)
		return 1;
	atomic_store(&phase, 1);
	printf("# soak: %u threads, %.0f spans/s, %u Hz, rotate %s, keep %s, %.0f s\n", opt.threads,
	       opt.spans_per_s, opt.hz, opt.rotate, opt.keep, opt.duration_s);
	printf("#    t_s  rss_mib  disk_kib  closed  deleted  kspans/s\n");
	double rss_early = 0, rss_late = 0, t0 = now_s(CLOCK_MONOTONIC),
	       c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	uint64_t disk_max = 0, seg_max = 0, r0 = atomic_load(&requests), r_last = r0;
	for (int s = 1; s <= (int)opt.duration_s; s++) {
		struct timespec next = {0, 0};
		double target = t0 + s;
		next.tv_sec = (time_t)target;
		next.tv_nsec = (long)((target - (double)(time_t)target) * 1e9);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		uint32_t closed, deleted;
		lc_log_segment_counts(&closed, &deleted);
		uint64_t disk = disk_bytes(&seg_max), r = atomic_load(&requests);
		double rss = rss_mib();
		if (s <= (int)opt.duration_s / 2)
			rss_early = rss > rss_early ? rss : rss_early;
		else
			rss_late = rss > rss_late ? rss : rss_late;
		disk_max = disk > disk_max ? disk : disk_max;
		printf("%8d %8.1f %9.0f %7u %8u %9.1f\n", s, rss, (double)disk / 1024, closed,
		       deleted, (double)(r - r_last) * 2 / 1000);
		fflush(stdout);
		r_last = r;
	}
	double traced = (now_s(CLOCK_PROCESS_CPUTIME_ID) - c0) /
	                (double)(atomic_load(&requests) - r0 ? atomic_load(&requests) - r0 : 1);
	atomic_store(&phase, 2);
	for (unsigned i = 0; i < opt.threads; i++)
		pthread_join(t[i], NULL);
	uint32_t closed, deleted;
	lc_log_segment_counts(&closed, &deleted);
	sp_stop();
	uint64_t lost = lost_events();
	double overhead = (traced - base) / base * 100;
	printf("# rss_mib: peak first half %.1f, second half %.1f\n", rss_early, rss_late);
	printf("# disk: peak %.0f KiB, bound keep + largest segment = %.0f + %.0f KiB\n",
	       (double)disk_max / 1024, (double)keep / 1024, (double)seg_max / 1024);
	printf("# segments: %u closed, %u deleted\n", closed, deleted);
	printf("# lost events: %" PRIu64 "\n", lost);
	printf("# overhead: %.2f us CPU per request traced vs %.2f untraced (+%.1f%%; a request is "
	       "2 spans + 1 attribute + ~5 us of work; process CPU incl. writer and sampler)\n",
	       traced * 1e6, base * 1e6, overhead);
	if (!opt.check)
		return 0;
	int bad = 0;
	if (disk_max > keep + seg_max)
		bad |= fprintf(stderr, "soak: disk use above KEEP + one segment\n") > 0;
	if (lost)
		bad |= fprintf(stderr, "soak: events were lost\n") > 0;
	if (rss_late > rss_early + opt.rss_slack_mib)
		bad |= fprintf(stderr, "soak: RSS grew by more than %.0f MiB\n",
		               opt.rss_slack_mib) > 0;
	if (!deleted || closed < 3)
		bad |= fprintf(stderr, "soak: rotation or retention did not run\n") > 0;
	return bad ? 1 : 0;
}
