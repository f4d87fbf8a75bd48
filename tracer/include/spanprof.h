/*
 * spanprof.h - the public API of spanprof: span tracing joined with
 * statistical profiling. What is not in this header is not API.
 *
 * Threading: every function is thread-safe unless its comment says otherwise.
 * Signal safety: stated per function; the hot-path calls never lock.
 */
#ifndef SPANPROF_H
#define SPANPROF_H

#include <stddef.h>
#include <stdint.h>

#define SPANPROF_VERSION_MAJOR 0
#define SPANPROF_VERSION_MINOR 1
#define SPANPROF_VERSION_PATCH 0
#define SPANPROF_VERSION_NUMBER                                                                    \
	(SPANPROF_VERSION_MAJOR * 10000 + SPANPROF_VERSION_MINOR * 100 + SPANPROF_VERSION_PATCH)

#if defined(SPANPROF_BUILDING) && defined(__GNUC__)
#define SP_API __attribute__((visibility("default")))
#else
#define SP_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Errors: functions return 0 or a negative -SP_E... code. The list also
 * generates the strings of sp_strerror(). */
#define SP_LIST_ERRORS(X)                                                                          \
	X(OK, 0, "success")                                                                        \
	X(INVAL, 1, "invalid argument")                                                            \
	X(NOMEM, 2, "out of memory")                                                               \
	X(IO, 3, "input/output error")                                                             \
	X(STATE, 4, "wrong state (already started, or not started)")                               \
	X(CORRUPT, 5, "damaged or truncated data")                                                 \
	X(VERSION, 6, "unsupported format version")                                                \
	X(PERM, 7, "permission denied")                                                            \
	X(NOTLOG, 8, "not a spanprof log")                                                         \
	X(EXISTS, 9, "already exists")                                                             \
	X(UNSUPPORTED, 10, "not supported here")

#define SP_ERROR_ENUM_(name, code, text) SP_E##name = code,
enum { SP_LIST_ERRORS(SP_ERROR_ENUM_) SP_E_COUNT_ };
#undef SP_ERROR_ENUM_

/*
 * Runtime configuration for sp_start(). All-zero (or a NULL pointer) means
 * "defaults, overridden by the environment"; a non-zero field wins over the
 * environment. Reserved fields must be zero (else -SP_EINVAL), so that later
 * versions can give them a meaning without breaking old callers.
 */
typedef enum sp_mode {
	SP_MODE_DEFAULT = 0, /* $SPANPROF_MODE, else SP_MODE_CPU */
	SP_MODE_CPU = 1,     /* on-CPU sampling (task clock) */
	SP_MODE_WALL = 2,    /* wall-clock sampling of every thread */
	SP_MODE_OFF = 3,     /* no sampling: spans only */
} sp_mode;

/* What a thread does when its buffer is full because the log writer fell
 * behind: WAIT loses nothing (the thread pays, within a bounded memory
 * budget); DROP drops whole spans (a begin and its subtree) and counts them. */
typedef enum sp_on_full {
	SP_ON_FULL_DEFAULT = 0, /* $SPANPROF_ON_FULL, else SP_ON_FULL_WAIT */
	SP_ON_FULL_WAIT = 1,    /* never lose an event */
	SP_ON_FULL_DROP = 2,    /* drop whole spans, counted by name */
} sp_on_full;

typedef struct sp_config {
	const char *out_dir;  /* log directory; NULL = $SPANPROF_OUT, else "." */
	uint32_t hz;          /* sampling rate; 0 = $SPANPROF_HZ, else 999 */
	int mode;             /* sp_mode; 0 = $SPANPROF_MODE, else cpu */
	uint32_t ring_kib;    /* per-thread buffer; 0 = $SPANPROF_BUFFER_KB, else 256 */
	uint32_t on_full;     /* sp_on_full: 0 = $SPANPROF_ON_FULL, else wait */
	uint64_t reserved[4]; /* must be 0 */
} sp_config;

/* A span handle: a small value, copied freely, valid on any thread. The
 * fields are private (the all-zero handle is "no span", returned when the
 * runtime is off; sp_end and sp_attr_* ignore it). */
typedef struct sp_span {
	uint64_t id_;
	uint32_t tid_;
	uint32_t depth_;
} sp_span;

/* A span context that can travel to another thread (sp_begin_child_of) or,
 * as a W3C traceparent string, to another process. All-zero = no context. */
typedef struct sp_context {
	uint64_t trace_hi; /* 128-bit W3C trace id, high half */
	uint64_t trace_lo;
	uint64_t span_id; /* the span that will be the parent */
	uint32_t flags;   /* W3C trace-flags (bit 0 = sampled) */
	uint32_t reserved;
} sp_context;

/* Span stack depth per thread: spans nested deeper are still recorded, with
 * the flag TOO_DEEP, as children of the deepest tracked span. */
#define SP_MAX_DEPTH 256
/* Attribute string values are copied up to this many bytes, then cut and
 * marked truncated (same value as the log format's cap). */
#define SP_MAX_ATTR_STR 256
/* "00-" + 32 hex + "-" + 16 hex + "-" + 2 hex, plus the NUL. */
#define SP_TRACEPARENT_LEN 56

#if !defined(SPANPROF_DISABLE)

/* Starts the runtime: reads cfg and the environment, opens the log
 * <out_dir>/<program>.<pid>.splog, starts the sampler. Returns 0, -SP_ESTATE
 * if already running (e.g. started by $SPANPROF_OUT), -SP_EINVAL for a bad
 * field or environment value (one "spanprof:" line on stderr), or another
 * -SP_E... from opening the log. On failure the runtime stays off.
 * Thread: any thread, serialised internally. Signal: not signal-safe. */
SP_API int sp_start(const sp_config *cfg);

/* Ends the calling thread's open spans (flag UNCLOSED), stops the sampler,
 * flushes and closes the log. Idempotent; also run at exit. Spans still open
 * on other threads stay open in the log. sp_start may be called again.
 * Thread: any thread. Signal: not signal-safe. */
SP_API void sp_stop(void);

/* 1 while the runtime is recording, else 0. Thread: any. Signal: safe. */
SP_API int sp_active(void);

/* Begins a span named `name` as a child of the calling thread's innermost
 * open span (or of the process's inherited traceparent, or as a new trace).
 * `name` is only read during the call. Returns the handle for sp_end and
 * sp_attr_*; the zero handle when the runtime is off.
 * Thread: any; spans nest per thread. Signal: not async-signal-safe (a
 * thread's first span and a call site's first name allocate and lock; the
 * hot path takes no lock, but a thread's span stack is not reentrant). */
SP_API sp_span sp_begin(const char *name);

/* Begins a span whose parent is `parent` (a context captured with
 * sp_current_context on another thread, or parsed from a traceparent): it
 * gets the parent's trace id and the flag REMOTE_PARENT. Spans begun inside
 * it on this thread nest under it. A NULL or zero parent = sp_begin(name).
 * Thread: any. Signal: as sp_begin. */
SP_API sp_span sp_begin_child_of(const char *name, const sp_context *parent);

/* Ends a span. The innermost span of the thread is the common case; other
 * cases are recorded with a flag, never a crash (docs/api.md): ending an
 * outer span also ends the spans open inside it, ending twice is recorded
 * once more flagged DOUBLE_END, ending on another thread is flagged
 * CROSS_THREAD. The zero handle is ignored. Thread: any. Signal: as sp_begin. */
SP_API void sp_end(sp_span span);

/* Attach a typed attribute to a span that has not ended yet (several per
 * span, any time before sp_end; a key set twice keeps both records, the
 * last one wins in merge). `key` and a string value are copied during the
 * call; string values longer than SP_MAX_ATTR_STR bytes are cut and marked
 * truncated. The zero handle is ignored. Thread: any (the thread that owns
 * the span is the cheap case). Signal: as sp_begin. */
SP_API void sp_attr_int(sp_span span, const char *key, int64_t value);
SP_API void sp_attr_double(sp_span span, const char *key, double value);
SP_API void sp_attr_str(sp_span span, const char *key, const char *value);

/* Names the calling thread in the log (the OS name is recorded anyway on
 * the thread's first span); kept for its later logs (restart, fork child),
 * cut at 63 bytes; the OS thread name is not changed. Returns 0, or -SP_ESTATE when the runtime is
 * off, -SP_EINVAL for NULL. Thread: any. Signal: not signal-safe. */
SP_API int sp_thread_name(const char *name);

/* The context of the calling thread's innermost open span, else the
 * process's inherited traceparent, else all-zero.
 * Thread: any. Signal: as sp_begin. */
SP_API sp_context sp_current_context(void);

/* Formats ctx as a W3C traceparent "00-<32 hex>-<16 hex>-<2 hex>" into buf
 * (len >= SP_TRACEPARENT_LEN). Returns the length (55), -SP_EINVAL for a
 * NULL/short buffer, -SP_ESTATE for a zero context. Thread/signal: safe. */
SP_API int sp_context_format(const sp_context *ctx, char *buf, size_t len);

/* Parses a W3C traceparent (version 00; unknown higher versions are read as
 * far as version 00 defines). Returns 0 or -SP_EINVAL (then *out is zeroed).
 * Thread/signal: safe. */
SP_API int sp_context_parse(const char *traceparent, sp_context *out);

/* sp_context_format(sp_current_context()): the string to put in a child
 * process's TRACEPARENT (or SPANPROF_TRACEPARENT) variable.
 * Thread: any. Signal: as sp_begin. */
SP_API int sp_traceparent(char *buf, size_t len);

/* --- Private to the macros below; not API, may change any time. --- */
typedef struct sp_site_ {
	const char *volatile ptr;  /* the literal cached, or NULL */
	uint32_t id;               /* its interned string id */
	const char *volatile wptr; /* last name seen here in writable memory */
} sp_site_;
SP_API extern volatile int sp_on_; /* 1 while recording; read with __atomic_load_n */
SP_API sp_span sp_begin_site_(sp_site_ *site, const char *name);
SP_API sp_span sp_begin_child_of_site_(sp_site_ *site, const char *name, const sp_context *parent);
SP_API void sp_end_(sp_span span);
SP_API void sp_attr_int_site_(sp_site_ *site, sp_span span, const char *key, int64_t value);
SP_API void sp_attr_double_site_(sp_site_ *site, sp_span span, const char *key, double value);
SP_API void sp_attr_str_site_(sp_site_ *site, sp_span span, const char *key, const char *value);
static inline void sp_scope_end_(sp_span *span)
{
	if (span->id_)
		sp_end_(*span);
}

#if defined(__GNUC__) && !defined(SPANPROF_NO_SITE_CACHE)
/* Each call site keeps a static cache of its literal name's interned id, so
 * the hot path neither hashes nor locks; the runtime-off test is inlined. */
/* A relaxed atomic load: one plain load and one branch, and no data race
 * with sp_start/sp_stop on another thread. */
#define SP_LIKELY_ON_() __builtin_expect(__atomic_load_n(&sp_on_, __ATOMIC_RELAXED), 0)
#define sp_begin(name)                                                                             \
	__extension__({                                                                            \
		static sp_site_ sp_site_v_;                                                        \
		SP_LIKELY_ON_() ? sp_begin_site_(&sp_site_v_, (name)) : (sp_span){0, 0, 0};        \
	})
#define sp_begin_child_of(name, parent)                                                            \
	__extension__({                                                                            \
		static sp_site_ sp_site_v_;                                                        \
		SP_LIKELY_ON_() ? sp_begin_child_of_site_(&sp_site_v_, (name), (parent))           \
		                : (sp_span){0, 0, 0};                                              \
	})
#define sp_end(...)                                                                                \
	__extension__({                                                                            \
		sp_span sp_end_v_ = (__VA_ARGS__);                                                 \
		if (__builtin_expect(sp_end_v_.id_ != 0, 0))                                       \
			sp_end_(sp_end_v_);                                                        \
	})
#define SP_ATTR_SITE_(fn, span, key, value)                                                        \
	__extension__({                                                                            \
		static sp_site_ sp_site_v_;                                                        \
		sp_span sp_attr_v_ = (span);                                                       \
		if (__builtin_expect(sp_attr_v_.id_ != 0, 0))                                      \
			fn(&sp_site_v_, sp_attr_v_, (key), (value));                               \
	})
#define sp_attr_int(span, key, value)    SP_ATTR_SITE_(sp_attr_int_site_, span, key, value)
#define sp_attr_double(span, key, value) SP_ATTR_SITE_(sp_attr_double_site_, span, key, value)
#define sp_attr_str(span, key, value)    SP_ATTR_SITE_(sp_attr_str_site_, span, key, value)
#endif

#define SP_CAT2_(a, b) a##b
#define SP_CAT_(a, b)  SP_CAT2_(a, b)
#define SP_SCOPE_1_(name)                                                                          \
	sp_span SP_CAT_(sp_scope_, __COUNTER__) __attribute__((cleanup(sp_scope_end_), unused)) =  \
	    sp_begin(name)
#define SP_SCOPE_2_(var, name)                                                                     \
	sp_span var __attribute__((cleanup(sp_scope_end_), unused)) = sp_begin(name)

#else /* SPANPROF_DISABLE: everything compiles to nothing. */

static inline int sp_start(const sp_config *cfg)
{
	(void)cfg;
	return 0;
}
static inline void sp_stop(void) {}
static inline int sp_active(void)
{
	return 0;
}
static inline sp_span sp_begin(const char *name)
{
	(void)name;
	return (sp_span){0, 0, 0};
}
static inline sp_span sp_begin_child_of(const char *name, const sp_context *parent)
{
	(void)name;
	(void)parent;
	return (sp_span){0, 0, 0};
}
static inline void sp_end(sp_span span)
{
	(void)span;
}
static inline void sp_attr_int(sp_span span, const char *key, int64_t value)
{
	(void)span, (void)key, (void)value;
}
static inline void sp_attr_double(sp_span span, const char *key, double value)
{
	(void)span, (void)key, (void)value;
}
static inline void sp_attr_str(sp_span span, const char *key, const char *value)
{
	(void)span, (void)key, (void)value;
}
static inline int sp_thread_name(const char *name)
{
	(void)name;
	return 0;
}
static inline sp_context sp_current_context(void)
{
	return (sp_context){0, 0, 0, 0, 0};
}
static inline int sp_context_format(const sp_context *ctx, char *buf, size_t len)
{
	(void)ctx;
	if (buf && len)
		buf[0] = '\0';
	return -SP_ESTATE;
}
static inline int sp_context_parse(const char *traceparent, sp_context *out)
{
	(void)traceparent;
	if (out)
		*out = (sp_context){0, 0, 0, 0, 0};
	return -SP_EINVAL;
}
static inline int sp_traceparent(char *buf, size_t len)
{
	return sp_context_format(0, buf, len);
}
#define SP_SCOPE_1_(name)
#define SP_SCOPE_2_(var, name) sp_span var __attribute__((unused)) = {0, 0, 0}

#endif /* SPANPROF_DISABLE */

/* SP_SCOPE("name") or SP_SCOPE(var, "name"): a span that ends when the
 * enclosing block is left by any path (return, break, goto; not longjmp or
 * exit). The two-argument form names the handle for sp_attr_*. Compiled out
 * with SPANPROF_DISABLE (the two-argument form then declares a zero handle). */
#define SP_PICK3_(a, b, c, ...) c
#define SP_SCOPE(...)           SP_PICK3_(__VA_ARGS__, SP_SCOPE_2_, SP_SCOPE_1_, unused)(__VA_ARGS__)

#if !defined(SPANPROF_DISABLE)
/* Returns a static string for 0 or -SP_E... (sign ignored). Signal-safe. */
SP_API const char *sp_strerror(int err);
/* SPANPROF_VERSION_NUMBER of the library actually loaded. Signal-safe. */
SP_API unsigned sp_version(void);
#else
static inline const char *sp_strerror(int err)
{
#define SP_ERROR_CASE_(name, code, text)                                                           \
	case code:                                                                                 \
		return text;
	switch (err < 0 ? -err : err) {
		SP_LIST_ERRORS(SP_ERROR_CASE_)
	default:
		return "unknown error";
	}
#undef SP_ERROR_CASE_
}
static inline unsigned sp_version(void)
{
	return SPANPROF_VERSION_NUMBER;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* SPANPROF_H */
