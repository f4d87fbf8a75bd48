/*
 * runtime.c - starting and stopping the runtime: configuration and
 * environment, the log, the sampler, exit and fork handling, and the
 * library constructor that starts everything when $SPANPROF_OUT is set
 * (how `spanprof record` drives an unmodified program via LD_PRELOAD).
 *
 * Design: one mutex serialises start/stop; the hot path only reads sp_on_
 * and trc_gen_ (relaxed atomic loads: plain loads on x86, and no data race
 * in the C11 sense, so ThreadSanitizer stays quiet) and, for root spans,
 * the inherited traceparent through a seqlock. Stopping clears sp_on_
 * first and bumps trc_gen_, so threads stop using their rings before the
 * log closes; a restart bumps trc_gen_ again and every thread attaches a
 * fresh ring on its next span. Bad configuration never disturbs the host
 * program: one "spanprof:" line on stderr, and the runtime stays off.
 *
 * Threading: sp_start/sp_stop from any thread. fork: handlers registered
 * with pthread_atfork keep the locks consistent and give the child its own
 * log. Signal safety: none here.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "sampler.h"
#include "tracer_int.h"

#define TRC_DEFAULT_HZ 999u
#define TRC_MAX_HZ     100000u

SP_API volatile int sp_on_; /* accessed with __atomic builtins only */
TRC_HIDDEN uint32_t trc_gen_ = 1;
TRC_HIDDEN sp_context trc_root_ctx_;
TRC_HIDDEN uint32_t trc_root_seq_;
TRC_HIDDEN uint32_t trc_ring_bytes_;
TRC_HIDDEN int trc_on_full_ = SP_ON_FULL_WAIT;

static pthread_mutex_t trc_rt_mu = PTHREAD_MUTEX_INITIALIZER;
static int trc_running;
static int trc_hooks_installed;

/* Everything sp_start resolved from cfg and the environment. */
typedef struct trc_settings {
	const char *out_dir;
	uint32_t hz;
	int mode;
	uint32_t ring_bytes;     /* 0 = the ring's default */
	int on_full;             /* SP_ON_FULL_WAIT or SP_ON_FULL_DROP */
	const char *traceparent; /* "" if none */
	sp_context root;
	uint64_t rotate_ns, rotate_bytes, keep_bytes; /* 0 = off / keep all */
	uint32_t flush_ms;                            /* 0 = the writer's default */
	int flush_on_signal;                          /* smp_fatal_install */
} trc_settings;

static int trc_bad_env(const char *var, const char *value, const char *why)
{
	fprintf(stderr, "spanprof: invalid %s=\"%s\" (%s); tracing stays off\n", var, value, why);
	return -SP_EINVAL;
}

static int trc_settings_mode(const sp_config *cfg, trc_settings *st)
{
	st->mode = cfg->mode;
	if (st->mode < 0 || st->mode > SP_MODE_OFF) {
		fprintf(stderr, "spanprof: invalid sp_config.mode %d\n", st->mode);
		return -SP_EINVAL;
	}
	const char *env = getenv("SPANPROF_MODE");
	if (st->mode != SP_MODE_DEFAULT || !env || !*env) {
		if (st->mode == SP_MODE_DEFAULT)
			st->mode = SP_MODE_CPU;
		return 0;
	}
	if (strcmp(env, "cpu") == 0)
		st->mode = SP_MODE_CPU;
	else if (strcmp(env, "wall") == 0)
		st->mode = SP_MODE_WALL;
	else if (strcmp(env, "off") == 0)
		st->mode = SP_MODE_OFF;
	else
		return trc_bad_env("SPANPROF_MODE", env, "expected cpu, wall or off");
	return 0;
}

/* Each variable is read here, once, and parsed by libcore/common/config.c: a value
 * is read exactly or refused, never half-read. An empty value is unset. */
static const char *trc_env(const char *var)
{
	const char *env = getenv(var);
	return env && *env ? env : NULL;
}

static int trc_settings_hz(const sp_config *cfg, trc_settings *st)
{
	if (cfg->hz > TRC_MAX_HZ) {
		fprintf(stderr, "spanprof: invalid sp_config.hz %u (max %u)\n", cfg->hz,
		        TRC_MAX_HZ);
		return -SP_EINVAL;
	}
	const char *env = trc_env("SPANPROF_HZ");
	uint64_t hz = cfg->hz ? cfg->hz : TRC_DEFAULT_HZ;
	if (!cfg->hz && env && lc_parse_count(env, 1, TRC_MAX_HZ, &hz) != 0)
		return trc_bad_env("SPANPROF_HZ", env, "expected 1..100000");
	st->hz = (uint32_t)hz;
	return 0;
}

/* The per-thread ring: sp_config.ring_kib, else $SPANPROF_BUFFER_KB (a bare
 * number is KiB, the variable's historical unit; a suffix names its own),
 * else 0 = the ring's default. The ring rounds up to a power of two. */
static int trc_settings_ring(const sp_config *cfg, trc_settings *st)
{
	if (cfg->ring_kib > LC_RING_MAX_BYTES / 1024u) {
		fprintf(stderr, "spanprof: invalid sp_config.ring_kib %u (max %u)\n", cfg->ring_kib,
		        LC_RING_MAX_BYTES / 1024u);
		return -SP_EINVAL;
	}
	st->ring_bytes = cfg->ring_kib * 1024u;
	const char *env = trc_env("SPANPROF_BUFFER_KB");
	if (cfg->ring_kib || !env)
		return 0;
	uint64_t bytes;
	if (lc_parse_size(env, 1024u, &bytes) != 0)
		return trc_bad_env("SPANPROF_BUFFER_KB", env,
		                   "expected a size such as 256 (KiB), 512K, 16M");
	if (bytes < LC_RING_MIN_BYTES || bytes > LC_RING_MAX_BYTES)
		return trc_bad_env("SPANPROF_BUFFER_KB", env, "out of range 1K..1G");
	st->ring_bytes = (uint32_t)bytes;
	return 0;
}

static int trc_settings_on_full(const sp_config *cfg, trc_settings *st)
{
	if (cfg->on_full > SP_ON_FULL_DROP) {
		fprintf(stderr, "spanprof: invalid sp_config.on_full %u\n", cfg->on_full);
		return -SP_EINVAL;
	}
	st->on_full = cfg->on_full ? (int)cfg->on_full : SP_ON_FULL_WAIT;
	const char *env = trc_env("SPANPROF_ON_FULL");
	if (cfg->on_full || !env)
		return 0;
	if (strcmp(env, "wait") == 0)
		st->on_full = SP_ON_FULL_WAIT;
	else if (strcmp(env, "drop") == 0)
		st->on_full = SP_ON_FULL_DROP;
	else
		return trc_bad_env("SPANPROF_ON_FULL", env, "expected wait or drop");
	return 0;
}

/* Continuous recording (docs/log-format.md, "Rotation"). SPANPROF_ROTATE
 * is a duration or a size, the duration tried first ("5m" is five
 * minutes, "5M" five MiB); a bare number has no obvious unit and is
 * refused. SPANPROF_KEEP is a size and needs SPANPROF_ROTATE. */
#define TRC_ROTATE_MIN_NS    100000000ull /* one flush interval */
#define TRC_ROTATE_MIN_BYTES (64u * 1024u)

static int trc_settings_rotate(trc_settings *st)
{
	const char *rot = trc_env("SPANPROF_ROTATE"), *keep = trc_env("SPANPROF_KEEP");
	st->rotate_ns = st->rotate_bytes = st->keep_bytes = 0;
	if (rot && lc_parse_duration(rot, &st->rotate_ns) != 0 &&
	    (rot[strspn(rot, "0123456789")] == '\0' ||
	     lc_parse_size(rot, 1, &st->rotate_bytes) != 0))
		return trc_bad_env("SPANPROF_ROTATE", rot,
		                   "expected a duration such as 10s or 5m, "
		                   "or a size such as 64M");
	if ((st->rotate_ns && st->rotate_ns < TRC_ROTATE_MIN_NS) ||
	    (st->rotate_bytes && st->rotate_bytes < TRC_ROTATE_MIN_BYTES))
		return trc_bad_env("SPANPROF_ROTATE", rot, "at least 100ms or 64K");
	if (keep && lc_parse_size(keep, 1, &st->keep_bytes) != 0)
		return trc_bad_env("SPANPROF_KEEP", keep, "expected a size such as 512M or 1G");
	if (keep && !rot)
		return trc_bad_env("SPANPROF_KEEP", keep, "needs SPANPROF_ROTATE");
	return 0;
}

/* SPANPROF_FLUSH_MS: how often the writer drains the buffers (a duration;
 * a bare number counts milliseconds). SPANPROF_FLUSH_ON_SIGNAL=0 leaves
 * fatal signals alone (docs/api.md, "A program that dies of a signal"). */
#define TRC_FLUSH_MAX_NS (3600ull * 1000000000ull)

static int trc_settings_flush(trc_settings *st)
{
	const char *env = trc_env("SPANPROF_FLUSH_MS");
	st->flush_ms = 0;
	if (env) {
		uint64_t ms = 0, ns = 0;
		if (lc_parse_count(env, 1, TRC_FLUSH_MAX_NS / 1000000u, &ms) == 0)
			ns = ms * 1000000u;
		else if (lc_parse_duration(env, &ns) != 0 || ns < 1000000u || ns > TRC_FLUSH_MAX_NS)
			return trc_bad_env(
			    "SPANPROF_FLUSH_MS", env,
			    "expected 1..3600000 ms, or a duration such as 50ms or 2s");
		st->flush_ms = (uint32_t)(ns / 1000000u);
	}
	env = trc_env("SPANPROF_FLUSH_ON_SIGNAL");
	st->flush_on_signal = !env || strcmp(env, "0") != 0;
	if (env && strcmp(env, "0") != 0 && strcmp(env, "1") != 0)
		return trc_bad_env("SPANPROF_FLUSH_ON_SIGNAL", env, "expected 0 or 1");
	return 0;
}

/* SPANPROF_TRACEPARENT is ours: a bad value is an error. TRACEPARENT may
 * come from any tool: a bad value is reported and ignored. */
static int trc_settings_traceparent(trc_settings *st)
{
	const char *ours = getenv("SPANPROF_TRACEPARENT");
	const char *theirs = getenv("TRACEPARENT");
	st->traceparent = "";
	memset(&st->root, 0, sizeof st->root);
	if (ours && *ours) {
		if (sp_context_parse(ours, &st->root) != 0)
			return trc_bad_env("SPANPROF_TRACEPARENT", ours, "not a W3C traceparent");
		st->traceparent = ours;
	} else if (theirs && *theirs) {
		if (sp_context_parse(theirs, &st->root) == 0)
			st->traceparent = theirs;
		else
			fprintf(stderr, "spanprof: ignoring invalid TRACEPARENT=\"%s\"\n", theirs);
	}
	return 0;
}

static int trc_settings_resolve(const sp_config *cfg, trc_settings *st)
{
	static const sp_config zero;
	if (!cfg)
		cfg = &zero;
	if (cfg->reserved[0] || cfg->reserved[1] || cfg->reserved[2] || cfg->reserved[3]) {
		fprintf(stderr, "spanprof: sp_config reserved fields must be zero\n");
		return -SP_EINVAL;
	}
	st->out_dir = cfg->out_dir;
	if (!st->out_dir || !*st->out_dir)
		st->out_dir = getenv("SPANPROF_OUT");
	if (!st->out_dir || !*st->out_dir)
		st->out_dir = ".";
	int rc = trc_settings_mode(cfg, st);
	if (rc == 0)
		rc = trc_settings_hz(cfg, st);
	if (rc == 0)
		rc = trc_settings_ring(cfg, st);
	if (rc == 0)
		rc = trc_settings_on_full(cfg, st);
	if (rc == 0)
		rc = trc_settings_rotate(st);
	if (rc == 0)
		rc = trc_settings_flush(st);
	if (rc == 0)
		rc = trc_settings_traceparent(st);
	return rc;
}

/* /proc/self/cmdline with the NULs between arguments turned into spaces. */
static void trc_read_cmdline(char *buf, size_t cap)
{
	buf[0] = '\0';
	FILE *f = fopen("/proc/self/cmdline", "re");
	if (!f)
		return;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\0')
			buf[i] = ' ';
	}
	buf[n] = '\0';
}

static void trc_read_exe(char *buf, size_t cap)
{
	ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
}

static int trc_open_log(const trc_settings *st)
{
	static char exe[PATH_MAX], cmdline[LC_MAX_STRING_BYTES];
	trc_read_exe(exe, sizeof exe);
	trc_read_cmdline(cmdline, sizeof cmdline);
	const char *slash = strrchr(exe, '/');
	const char *program = slash ? slash + 1 : exe;
	/* The writer thread is spanprof's own: created past the interposers,
	 * it is never sampled, also when a fork child restarts it. */
	lc_log_set_thread_create(smp_real_pthread_create);
	lc_log_opts opts = {.dir = st->out_dir,
	                    .program = *program ? program : "unknown",
	                    .rotate_ns = st->rotate_ns,
	                    .rotate_bytes = st->rotate_bytes,
	                    .keep_bytes = st->keep_bytes,
	                    .flush_interval_ms = st->flush_ms};
	lc_rec_process proc = {
	    .format_version = LC_LOG_FORMAT_VERSION,
	    .min_reader_version = LC_LOG_MIN_READER_VERSION,
	    .pid = (uint32_t)getpid(),
	    .ppid = (uint32_t)getppid(),
	    .clock_kind = (uint8_t)lc_clock_kind(),
	    .exe = exe,
	    .cmdline = cmdline,
	    .traceparent = st->traceparent,
	    /* SPANPROF_HOST names the host in the log (default: gethostname):
	     * containers sharing a host name, or tests simulating two hosts */
	    .host = trc_env("SPANPROF_HOST"),
	};
	/* A traced process that forks and then execs the same program leaves
	 * the fork child's log under this very name (same pid): use a suffix. */
	char alt[NAME_MAX];
	int rc = lc_log_open(&opts, &proc);
	for (int i = 2; rc == -SP_EEXISTS && i <= 9; i++) {
		snprintf(alt, sizeof alt, "%.200s-%d", opts.program, i);
		opts.program = alt;
		rc = lc_log_open(&opts, &proc);
		opts.program = *program ? program : "unknown";
	}
	if (rc != 0)
		fprintf(stderr, "spanprof: cannot open a log in %s: %s; tracing stays off\n",
		        st->out_dir, sp_strerror(rc));
	return rc;
}

/* Lock order everywhere: trc_rt_mu, intern, registry, then the log's own. */
static void trc_atfork_prepare(void)
{
	pthread_mutex_lock(&trc_rt_mu);
	trc_intern_atfork_prepare();
	trc_tstate_atfork_prepare();
	if (trc_running)
		lc_log_atfork_prepare();
}

static void trc_atfork_parent(void)
{
	if (trc_running)
		lc_log_atfork_parent();
	trc_tstate_atfork_parent();
	trc_intern_atfork_parent();
	pthread_mutex_unlock(&trc_rt_mu);
}

static void trc_atfork_child(void)
{
	int was_running = trc_running;
	int rc = was_running ? lc_log_atfork_child() : 0;
	pthread_mutex_init(&trc_rt_mu, NULL);
	trc_tstate_atfork_child();
	trc_intern_atfork_child();
	trc_gen_++;
	if (!was_running)
		return;
	if (rc != 0) {
		__atomic_store_n(&sp_on_, 0, __ATOMIC_RELEASE);
		trc_running = 0;
		return;
	}
	smp_atfork_child();
}

static void trc_stop_at_exit(void)
{
	sp_stop();
}

static void trc_install_hooks(void)
{
	if (trc_hooks_installed)
		return;
	trc_hooks_installed = 1;
	trc_tstate_init_once();
	atexit(trc_stop_at_exit);
	pthread_atfork(trc_atfork_prepare, trc_atfork_parent, trc_atfork_child);
}

/* The inherited traceparent, replaced while other threads may be reading
 * it for their root spans (a thread that passed its sp_on_ test before a
 * stop can still be in sp_begin when the next start runs): a seqlock, so
 * that a reader never sees half of the old context and half of the new.
 * One writer at a time (under trc_rt_mu); readers: trc_root_ctx_read. */
static void trc_root_ctx_publish(const sp_context *ctx)
{
	uint32_t seq = __atomic_load_n(&trc_root_seq_, __ATOMIC_RELAXED);
	__atomic_store_n(&trc_root_seq_, seq + 1, __ATOMIC_RELAXED);
	/* release stores: none of them moves above the odd sequence number */
	__atomic_store_n(&trc_root_ctx_.trace_hi, ctx->trace_hi, __ATOMIC_RELEASE);
	__atomic_store_n(&trc_root_ctx_.trace_lo, ctx->trace_lo, __ATOMIC_RELEASE);
	__atomic_store_n(&trc_root_ctx_.span_id, ctx->span_id, __ATOMIC_RELEASE);
	__atomic_store_n(&trc_root_ctx_.flags, ctx->flags, __ATOMIC_RELEASE);
	__atomic_store_n(&trc_root_seq_, seq + 2, __ATOMIC_RELEASE);
}

static int trc_start_locked(const sp_config *cfg)
{
	trc_settings st;
	if (trc_running)
		return -SP_ESTATE;
	int rc = trc_settings_resolve(cfg, &st);
	if (rc != 0)
		return rc;
	lc_clock_init();
	/* threads still in a span from before the last stop may read these */
	__atomic_store_n(&trc_ring_bytes_, st.ring_bytes, __ATOMIC_RELAXED); /* 0 = default */
	__atomic_store_n(&trc_on_full_, st.on_full, __ATOMIC_RELAXED);
	rc = trc_open_log(&st);
	if (rc != 0)
		return rc;
	/* Interned strings are sticky meta records: the log writer repeats
	 * them in every log it opens (after a restart, in a fork child), so
	 * call sites keep their cached ids. */
	trc_root_ctx_publish(&st.root);
	smp_opts sopts = {.mode = st.mode, .hz = st.hz};
	rc = smp_start(&sopts);
	if (rc != 0)
		fprintf(stderr, "spanprof: sampler did not start (%s); recording spans only\n",
		        sp_strerror(rc));
	if (st.flush_on_signal)
		smp_fatal_install();
	trc_install_hooks();
	trc_running = 1;
	__atomic_add_fetch(&trc_gen_, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sp_on_, 1, __ATOMIC_RELEASE);
	return 0;
}

SP_API int sp_start(const sp_config *cfg)
{
	int saved_errno = errno;
	pthread_mutex_lock(&trc_rt_mu);
	int rc = trc_start_locked(cfg);
	pthread_mutex_unlock(&trc_rt_mu);
	errno = saved_errno;
	return rc;
}

SP_API void sp_stop(void)
{
	int saved_errno = errno;
	pthread_mutex_lock(&trc_rt_mu);
	if (trc_running) {
		trc_tstate *ts = trc_tls_;
		if (ts)
			trc_tstate_end_all(ts, LC_SPAN_UNCLOSED);
		__atomic_store_n(&sp_on_, 0, __ATOMIC_RELEASE);
		__atomic_add_fetch(&trc_gen_, 1, __ATOMIC_SEQ_CST);
		smp_fatal_uninstall();
		smp_stop();
		lc_log_close();
		trc_running = 0;
	}
	pthread_mutex_unlock(&trc_rt_mu);
	errno = saved_errno;
}

SP_API int sp_active(void)
{
	return trc_is_on();
}

SP_API int sp_thread_name(const char *name)
{
	if (!name)
		return -SP_EINVAL;
	trc_tstate *ts = trc_is_on() ? trc_tstate_slow() : NULL;
	if (!ts)
		return -SP_ESTATE;
	int saved_errno = errno;
	int rc = trc_tstate_set_name(ts, name);
	errno = saved_errno;
	return rc;
}

/* Runs when the library is loaded: `spanprof record` sets SPANPROF_OUT and
 * preloads us. Failures were reported by sp_start; the program runs on. */
__attribute__((constructor)) static void trc_autostart(void)
{
	const char *out = getenv("SPANPROF_OUT");
	if (out && *out)
		(void)sp_start(NULL);
}
