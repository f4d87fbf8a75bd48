/*
 * records.h - the in-memory form of every event-log record (private).
 *
 * One struct, lc_record, is what producers hand to the log writer and what
 * the log reader hands back, so the writer's encoder and the reader's
 * decoder are exact inverses and can be tested against each other. The byte
 * encoding on disk is specified in docs/log-format.md; nothing here is
 * public API.
 *
 * Threading: plain data, no state. Signal safety: plain data.
 */
#ifndef LC_RECORDS_H
#define LC_RECORDS_H

#include <stddef.h>
#include <stdint.h>

/* Format version written by this build, and the oldest reader version that
 * can read what this build writes (bumped only for incompatible changes). */
#define LC_LOG_FORMAT_VERSION     1
#define LC_LOG_MIN_READER_VERSION 1
/* First 8 payload bytes of the PROCESS record, which starts every log. */
#define LC_LOG_MAGIC     "SPANPROF"
#define LC_LOG_MAGIC_LEN 8

/* Caps that bound every variable-length field; a reader rejects bigger. */
#define LC_MAX_STACK_FRAMES        128u  /* frames per sample */
#define LC_MAX_STRING_BYTES        4096u /* interned strings, paths, names */
#define LC_MAX_ATTR_STR_BYTES      256u  /* attribute string values (truncated) */
#define LC_MAX_BUILD_ID_BYTES      64u
#define LC_MAX_RECORD_BYTES        (64u * 1024u)
#define LC_MAX_FRAME_CONTENT_BYTES (4u * 1024u * 1024u)

/* Record types. Values are part of the file format: never renumber. A
 * reader skips types it does not know (each record carries its length). */
typedef enum lc_rec_type {
	LC_REC_PROCESS = 1,    /* first record of a log: identity + clock */
	LC_REC_CLOCK = 2,      /* clock calibration pair */
	LC_REC_STRING = 3,     /* interned string: id -> bytes */
	LC_REC_THREAD = 4,     /* thread start or rename */
	LC_REC_THREAD_END = 5, /* thread exit */
	LC_REC_SPAN_BEGIN = 6,
	LC_REC_SPAN_END = 7,
	LC_REC_ATTR = 8,
	LC_REC_SAMPLE = 9,
	LC_REC_MODULE = 10,  /* loaded module (ELF mapping) */
	LC_REC_LOST = 11,    /* cumulative count of events lost */
	LC_REC_SAMPLER = 12, /* which sampling mechanism ran, rates */
	LC_REC_BLOCK = 13,   /* start of a run of records of one thread */
	LC_REC_DROPPED = 14, /* cumulative count of spans dropped, per name */
	LC_REC_SEGMENT = 15, /* start or end of one segment of a rotated log */
	LC_REC_TYPE_COUNT
} lc_rec_type;

/* Clock kinds (LC_REC_PROCESS.clock_kind). No typedef: lc_clock_kind() is
 * the function of clock.h that returns one. */
enum lc_clock_kind {
	LC_CLOCK_TSC = 1,       /* ticks are raw rdtsc values */
	LC_CLOCK_MONOTONIC = 2, /* ticks are CLOCK_MONOTONIC nanoseconds */
};

/* One calibration point: the same instant read on three clocks. */
typedef struct lc_clock_pair {
	uint64_t ticks;
	uint64_t mono_ns;
	uint64_t real_ns;
	double ns_per_tick; /* writer's best estimate at this point */
} lc_clock_pair;

typedef struct lc_rec_process {
	uint16_t format_version;
	uint16_t min_reader_version;
	uint32_t pid;
	uint32_t ppid;
	uint8_t clock_kind; /* lc_clock_kind */
	lc_clock_pair clock;
	const char *host;        /* NUL-terminated; owned by producer/reader */
	const char *exe;         /* absolute path of the executable */
	const char *cmdline;     /* arguments joined by single spaces */
	const char *traceparent; /* inherited W3C traceparent or "" */
} lc_rec_process;

typedef struct lc_rec_string {
	uint32_t id; /* > 0 */
	uint32_t len;
	const char *bytes; /* not NUL-terminated in the log; reader adds one */
} lc_rec_string;

typedef struct lc_rec_thread {
	uint64_t ts; /* clock ticks */
	uint32_t tid;
	const char *name; /* "" if unknown */
} lc_rec_thread;

typedef struct lc_rec_thread_end {
	uint64_t ts;
	uint32_t tid;
	uint64_t cpu_ns; /* CPU used while sampled, 0 = unknown (optional trailing field) */
	uint32_t flags;  /* LC_THREAD_END_F_* (optional trailing field) */
} lc_rec_thread_end;

/* THREAD_END flags. */
#define LC_THREAD_END_F_SIGNAL_BLOCKED 0x1u /* no sample: the sampling signal was blocked */

/* Span flags: misuse and special cases are recorded, never hidden. */
#define LC_SPAN_REMOTE_PARENT 0x1u  /* parent came from another thread/process */
#define LC_SPAN_NOT_INNERMOST 0x2u  /* ended while a child was still open */
#define LC_SPAN_CROSS_THREAD  0x4u  /* ended on a thread other than its own */
#define LC_SPAN_UNCLOSED      0x8u  /* closed by the runtime (thread/process exit) */
#define LC_SPAN_TOO_DEEP      0x10u /* exceeded the span stack depth */
#define LC_SPAN_DOUBLE_END    0x20u /* sp_end called again on an ended span */
#define LC_SPAN_CONTINUED     0x40u /* repeat: began in an earlier segment (rotation) */

typedef struct lc_rec_span_begin {
	uint64_t ts;
	uint32_t tid;                /* from the enclosing BLOCK; set by the reader */
	uint64_t span_id;            /* process-unique, > 0 */
	uint64_t parent_id;          /* 0 = root (or see trace/parent for remote) */
	uint64_t trace_hi, trace_lo; /* 128-bit W3C trace id */
	uint32_t name_id;            /* interned string id, or 0 with name inline */
	uint32_t flags;
	const char *name; /* inline name when name_id == 0 */
	uint32_t name_len;
} lc_rec_span_begin;

typedef struct lc_rec_span_end {
	uint64_t ts;
	uint32_t tid;
	uint64_t span_id;
	uint32_t flags;
} lc_rec_span_end;

typedef enum lc_attr_kind {
	LC_ATTR_INT = 1,
	LC_ATTR_DOUBLE = 2,
	LC_ATTR_STR = 3,
} lc_attr_kind;

#define LC_ATTR_TRUNCATED 0x1u /* string value was cut at the cap */
#define LC_ATTR_CONTINUED 0x2u /* repeat of an attribute set in an earlier segment */

typedef struct lc_rec_attr {
	uint32_t tid;
	uint64_t span_id;
	uint32_t key_id; /* interned string id of the key, or 0 with key inline */
	const char *key;
	uint32_t key_len;
	uint8_t kind; /* lc_attr_kind */
	uint8_t flags;
	int64_t i;
	double d;
	const char *s;
	uint32_t s_len;
} lc_rec_attr;

typedef struct lc_rec_sample {
	uint64_t ts;
	uint32_t tid;
	uint32_t weight_us; /* sampling interval this sample stands for, 0 = default */
	uint32_t nframes;   /* <= LC_MAX_STACK_FRAMES; frames[0] is the leaf */
	const uint64_t *pcs;
} lc_rec_sample;

/* A leaf pc of this value marks a sample taken while the thread ran in the
 * kernel; the pcs after it are the user stack that entered the kernel. It
 * lies in the kernel half of the address space, where no user pc can be. */
#define LC_PC_KERNEL UINT64_C(0xffffffffffffff00)

typedef struct lc_rec_module {
	uint64_t start, end; /* mapped address range [start, end) */
	uint64_t file_offset;
	const char *path;
	uint32_t path_len;
	const uint8_t *build_id;
	uint32_t build_id_len; /* <= LC_MAX_BUILD_ID_BYTES, 0 if none */
	uint64_t ts;
} lc_rec_module;

typedef enum lc_lost_kind {
	LC_LOST_EVENTS = 1,  /* span/attr records that found the buffer full */
	LC_LOST_SAMPLES = 2, /* samples that found the ring full */
	LC_LOST_UNWIND = 3,  /* samples whose unwind failed */
} lc_lost_kind;

typedef struct lc_rec_lost {
	uint32_t tid;
	uint8_t kind;   /* lc_lost_kind */
	uint64_t count; /* cumulative for this thread and kind */
} lc_rec_lost;

/* Spans dropped whole (a begin, its attributes, its end and its subtree)
 * under SPANPROF_ON_FULL=drop, per thread (the BLOCK) and span name. */
typedef struct lc_rec_dropped {
	uint32_t tid;
	uint32_t name_id; /* interned STRING id; 0 = names beyond the table */
	uint64_t count;   /* cumulative for this thread and name */
	const char *name; /* not encoded: tools may fill in the resolved name */
} lc_rec_dropped;

typedef enum lc_sampler_mech {
	LC_SAMPLER_NONE = 0,
	LC_SAMPLER_PERF = 1,  /* perf_event_open task clock */
	LC_SAMPLER_TIMER = 2, /* POSIX timer fallback */
} lc_sampler_mech;

typedef struct lc_rec_sampler {
	uint8_t mechanism; /* lc_sampler_mech */
	uint8_t mode;      /* 1 = cpu, 2 = wall, 3 = off */
	uint32_t signo;
	uint32_t requested_hz;
	uint32_t achieved_hz; /* 0 until measured (written again at stop) */
	uint32_t flags;       /* LC_SAMPLER_F_* (optional trailing field) */
} lc_rec_sampler;

/* SAMPLER flags. */
#define LC_SAMPLER_F_SIGNAL_SHARED 0x1u /* the program has its own handler for signo */
#define LC_SAMPLER_F_USER_ONLY     0x2u /* kernel time not sampled: figures are user CPU */

typedef struct lc_rec_block {
	uint32_t tid;
} lc_rec_block;

/* SEGMENT kinds. A rotated log is a chain of segment files; each starts
 * with PROCESS, SEGMENT(start), CLOCK, the sticky meta records and the
 * spans open at that instant (SPAN_BEGIN flagged CONTINUED, their ATTRs
 * flagged CONTINUED), and a segment that was closed for rotation ends
 * with SEGMENT(end): index + 1 continues it. */
enum lc_segment_kind {
	LC_SEGMENT_START = 1,
	LC_SEGMENT_END = 2,
};

typedef struct lc_rec_segment {
	uint64_t ts;
	uint8_t kind;   /* lc_segment_kind */
	uint32_t index; /* 0 for the first segment of the process */
} lc_rec_segment;

typedef struct lc_record {
	uint8_t type;         /* lc_rec_type */
	uint64_t file_offset; /* reader: offset of the LZ4 frame holding it */
	uint64_t ts_ns;       /* reader: ts converted to ns since the epoch, 0 if none */
	union {
		lc_rec_process process;
		lc_clock_pair clock;
		lc_rec_string string;
		lc_rec_thread thread;
		lc_rec_thread_end thread_end;
		lc_rec_span_begin span_begin;
		lc_rec_span_end span_end;
		lc_rec_attr attr;
		lc_rec_sample sample;
		lc_rec_module module;
		lc_rec_lost lost;
		lc_rec_sampler sampler;
		lc_rec_block block;
		lc_rec_dropped dropped;
		lc_rec_segment segment;
	} u;
} lc_record;

const char *lc_rec_type_name(int type);

#endif
