/*
 * log_reader.c - validating reader for event logs.
 *
 * The file is read through a 64 KiB input buffer and decompressed one LZ4
 * frame at a time with the lz4frame streaming API into a buffer of the
 * frame's declared content size (<= LC_MAX_FRAME_CONTENT_BYTES): memory is
 * bounded per frame whatever the file size. LZ4F verifies the content
 * checksum and size at the end of the frame. Then every record of the frame
 * is decoded once to validate it (pass 1), and only then are its records
 * handed out (pass 2): a damaged frame yields no records.
 *
 * Damage costs one frame, not the rest of the log: every frame decodes
 * alone (the codec's delta state and the BLOCK thread reset at each frame),
 * so after a damaged frame the reader scans forward from the byte after
 * its start for the LZ4 frame magic and resumes at the first candidate that
 * loads whole (header checksum, content size, content checksum, records).
 * Each skipped byte range is kept (lc_reader_damage_at). The first frame
 * is the exception: it holds PROCESS, without which nothing else can be
 * placed, so damage there ends the log.
 *
 * Threading: a reader belongs to one thread. Not signal-safe.
 */
#include <errno.h>
#include <lz4frame.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "codec.h"
#include "log_reader.h"
#include "spanprof.h"

#define LC_READER_IN_BYTES (64u * 1024u)
/* Damaged ranges kept for the caller; more are counted only (an adversarial
 * file could hold one per few dozen bytes). */
#define LC_READER_MAX_DAMAGE_LISTED 4096u

typedef struct lc_string_slot {
	uint32_t id; /* 0 = empty */
	char *s;
} lc_string_slot;

struct lc_reader {
	FILE *f;
	uint8_t in[LC_READER_IN_BYTES];
	size_t in_pos, in_len;
	int in_eof;
	uint64_t consumed; /* file offset of in[in_pos] */
	LZ4F_dctx *dctx;
	uint8_t *content;
	size_t content_cap, content_len, content_pos;
	uint64_t frame_offset;
	lc_codec_state codec;
	lc_codec_scratch scratch;
	int have_process;
	lc_rec_process process;
	char *proc_strings[4];
	lc_clock_pair pair;
	lc_string_slot *strings;
	size_t strings_cap, strings_n;
	int err;
	char errmsg[LC_READER_REASON_BYTES];
	uint64_t err_offset;
	uint64_t frames, records;
	lc_reader_damage *damage; /* the first LC_READER_MAX_DAMAGE_LISTED ranges */
	size_t damage_n, damage_listed, damage_cap;
	uint64_t damage_bytes;
};

static int reader_fail(lc_reader *r, int err, uint64_t offset, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
	va_end(ap);
	r->err = err;
	r->err_offset = offset;
	return err;
}

int lc_reader_open(const char *path, lc_reader **out)
{
	*out = NULL;
	lc_reader *r = calloc(1, sizeof *r);
	if (!r)
		return -SP_ENOMEM;
	r->f = fopen(path, "rbe");
	struct stat st;
	if (r->f && fstat(fileno(r->f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(r->f);
		r->f = NULL;
		errno = EISDIR;
	}
	if (!r->f) {
		int e = errno;
		free(r);
		errno = e;
		return e == EACCES ? -SP_EPERM : -SP_EIO;
	}
	if (LZ4F_isError(LZ4F_createDecompressionContext(&r->dctx, LZ4F_VERSION))) {
		fclose(r->f);
		free(r);
		return -SP_ENOMEM;
	}
	*out = r;
	return 0;
}

void lc_reader_close(lc_reader *r)
{
	if (!r)
		return;
	if (r->f)
		fclose(r->f);
	LZ4F_freeDecompressionContext(r->dctx);
	free(r->content);
	for (size_t i = 0; i < r->strings_cap; i++)
		free(r->strings[i].s);
	free(r->strings);
	for (int i = 0; i < 4; i++)
		free(r->proc_strings[i]);
	free(r->damage);
	free(r);
}

/* ---- interned strings: open addressing on the id ---------------------- */

static size_t string_slot(const lc_string_slot *t, size_t cap, uint32_t id)
{
	size_t i = (id * 2654435761u) & (cap - 1);
	while (t[i].id && t[i].id != id)
		i = (i + 1) & (cap - 1);
	return i;
}

static int strings_grow(lc_reader *r)
{
	size_t cap = r->strings_cap ? r->strings_cap * 2 : 256;
	lc_string_slot *t = calloc(cap, sizeof *t);
	if (!t)
		return -SP_ENOMEM;
	for (size_t i = 0; i < r->strings_cap; i++)
		if (r->strings[i].id)
			t[string_slot(t, cap, r->strings[i].id)] = r->strings[i];
	free(r->strings);
	r->strings = t;
	r->strings_cap = cap;
	return 0;
}

static int strings_put(lc_reader *r, uint32_t id, const char *s)
{
	if ((r->strings_n + 1) * 2 > r->strings_cap && strings_grow(r) < 0)
		return -SP_ENOMEM;
	char *copy = strdup(s);
	if (!copy)
		return -SP_ENOMEM;
	lc_string_slot *slot = &r->strings[string_slot(r->strings, r->strings_cap, id)];
	if (!slot->id)
		r->strings_n++;
	free(slot->s);
	slot->id = id;
	slot->s = copy;
	return 0;
}

const char *lc_reader_string(const lc_reader *r, uint32_t id)
{
	if (!id || !r->strings_cap)
		return NULL;
	const lc_string_slot *slot = &r->strings[string_slot(r->strings, r->strings_cap, id)];
	return slot->id ? slot->s : NULL;
}

/* ---- input ------------------------------------------------------------ */

/* Makes at least `want` bytes available from in_pos, unless the file ends. */
static void in_fill(lc_reader *r, size_t want)
{
	if (r->in_len - r->in_pos >= want || r->in_eof)
		return;
	memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
	r->in_len -= r->in_pos;
	r->in_pos = 0;
	while (r->in_len < want && !r->in_eof) {
		size_t n = fread(r->in + r->in_len, 1, sizeof r->in - r->in_len, r->f);
		r->in_len += n;
		if (n == 0)
			r->in_eof = 1;
	}
}

static void in_consume(lc_reader *r, size_t n)
{
	r->in_pos += n;
	r->consumed += n;
}

/* Moves the input to file offset off: inside the buffer when it is there
 * (the usual case while resynchronizing), else by seeking. Returns 0, or -1
 * when the input cannot seek (a pipe). */
static int in_seek(lc_reader *r, uint64_t off)
{
	uint64_t base = r->consumed - r->in_pos; /* file offset of in[0] */
	if (off >= base && off <= base + r->in_len) {
		r->in_pos = (size_t)(off - base);
		r->consumed = off;
		return 0;
	}
	if (fseeko(r->f, (off_t)off, SEEK_SET) != 0)
		return -1;
	r->in_pos = r->in_len = 0;
	r->in_eof = 0;
	r->consumed = off;
	return 0;
}

/* Advances to the next LZ4 frame magic (0x184D2204, little-endian). Returns
 * 1 with the input at it, or 0 with the input at the end of the file. */
static int in_find_magic(lc_reader *r)
{
	static const uint8_t magic[4] = {0x04, 0x22, 0x4d, 0x18};
	for (;;) {
		in_fill(r, sizeof magic);
		size_t avail = r->in_len - r->in_pos;
		if (avail < sizeof magic) {
			in_consume(r, avail);
			return 0;
		}
		const uint8_t *p = r->in + r->in_pos, *end = p + avail - sizeof magic + 1;
		while (p < end && (p = memchr(p, magic[0], (size_t)(end - p))) != NULL) {
			if (!memcmp(p, magic, sizeof magic)) {
				in_consume(r, (size_t)(p - (r->in + r->in_pos)));
				return 1;
			}
			p++;
		}
		in_consume(r, avail - (sizeof magic - 1)); /* keep a possible partial magic */
	}
}

/* ---- one frame -------------------------------------------------------- */

static int frame_header(lc_reader *r, LZ4F_frameInfo_t *info)
{
	in_fill(r, LZ4F_HEADER_SIZE_MAX);
	size_t avail = r->in_len - r->in_pos;
	size_t src = avail;
	size_t rc = LZ4F_getFrameInfo(r->dctx, info, r->in + r->in_pos, &src);
	if (LZ4F_isError(rc)) {
		if (r->frames == 0)
			return reader_fail(r, -SP_ENOTLOG, r->frame_offset,
			                   "not a spanprof log (no LZ4 frame: %s)",
			                   LZ4F_getErrorName(rc));
		if (r->in_eof && avail < LZ4F_HEADER_SIZE_MAX)
			return reader_fail(r, -SP_ECORRUPT, r->frame_offset,
			                   "truncated frame header (%zu bytes left in the file)",
			                   avail);
		return reader_fail(r, -SP_ECORRUPT, r->frame_offset, "bad LZ4 frame header: %s",
		                   LZ4F_getErrorName(rc));
	}
	in_consume(r, src);
	return 0;
}

static int content_reserve(lc_reader *r, const LZ4F_frameInfo_t *info)
{
	if (info->frameType == LZ4F_skippableFrame)
		return 0;
	if (!info->contentChecksumFlag || info->contentSize == 0)
		return reader_fail(r, r->frames ? -SP_ECORRUPT : -SP_ENOTLOG, r->frame_offset,
		                   "%sLZ4 frame without content size or checksum",
		                   r->frames ? "" : "not a spanprof log: ");
	if (info->contentSize > LC_MAX_FRAME_CONTENT_BYTES)
		return reader_fail(r, -SP_ECORRUPT, r->frame_offset,
		                   "frame content of %llu bytes exceeds the cap",
		                   (unsigned long long)info->contentSize);
	if (info->contentSize > r->content_cap) {
		uint8_t *grown = realloc(r->content, info->contentSize);
		if (!grown)
			return reader_fail(r, -SP_ENOMEM, r->frame_offset, "out of memory");
		r->content = grown;
		r->content_cap = info->contentSize;
	}
	return 0;
}

static int frame_body(lc_reader *r, const LZ4F_frameInfo_t *info)
{
	size_t limit = info->frameType == LZ4F_skippableFrame ? 0 : info->contentSize;
	for (;;) {
		in_fill(r, 1);
		size_t src = r->in_len - r->in_pos;
		if (src == 0)
			return reader_fail(r, -SP_ECORRUPT, r->frame_offset,
			                   "truncated frame (file ends %llu bytes into it)",
			                   (unsigned long long)(r->consumed - r->frame_offset));
		size_t dst = limit - r->content_len;
		size_t rc =
		    LZ4F_decompress(r->dctx, r->content ? r->content + r->content_len : NULL, &dst,
		                    r->in + r->in_pos, &src, NULL);
		in_consume(r, src);
		r->content_len += dst;
		if (LZ4F_isError(rc))
			return reader_fail(r, -SP_ECORRUPT, r->frame_offset,
			                   "LZ4 frame damaged: %s", LZ4F_getErrorName(rc));
		if (rc == 0)
			return 0;
		if (src == 0 && dst == 0)
			return reader_fail(r, -SP_ECORRUPT, r->frame_offset,
			                   "frame content larger than declared");
	}
}

/* Pass 1: every record of the frame must decode and fit the log's rules. */
static int frame_validate(lc_reader *r)
{
	lc_codec_state st;
	lc_codec_reset(&st);
	size_t pos = 0;
	for (uint64_t i = 0; pos < r->content_len; i++) {
		lc_record rec;
		const char *why = NULL;
		size_t at = pos;
		int rc =
		    lc_codec_decode(&st, r->content, r->content_len, &pos, &rec, &r->scratch, &why);
		int first = r->frames == 0 && i == 0;
		if (first && (rc < 0 || rec.type != LC_REC_PROCESS))
			return reader_fail(r, -SP_ENOTLOG, r->frame_offset,
			                   "not a spanprof log (first record is not PROCESS%s%s)",
			                   why ? ": " : "", why ? why : "");
		if (rc < 0)
			return reader_fail(r, -SP_ECORRUPT, r->frame_offset,
			                   "record %llu (%s) at content byte %zu: %s",
			                   (unsigned long long)i, lc_rec_type_name(rec.type), at,
			                   why);
		if (first && rec.u.process.min_reader_version > LC_LOG_FORMAT_VERSION)
			return reader_fail(r, -SP_EVERSION, r->frame_offset,
			                   "log needs reader version %u, this is %u",
			                   rec.u.process.min_reader_version, LC_LOG_FORMAT_VERSION);
		if (!first && rc == 1 && rec.type == LC_REC_PROCESS)
			return reader_fail(r, -SP_ECORRUPT, r->frame_offset,
			                   "record %llu: PROCESS record after the start of the log",
			                   (unsigned long long)i);
	}
	return 0;
}

/* Loads and validates the next frame. Returns 1, 0 at the clean end of the
 * file, or the error. */
static int frame_load(lc_reader *r)
{
	r->frame_offset = r->consumed;
	r->content_len = r->content_pos = 0;
	in_fill(r, 1);
	if (r->in_len == r->in_pos) {
		if (r->frames == 0)
			return reader_fail(r, -SP_ENOTLOG, 0, "not a spanprof log (empty file)");
		return 0;
	}
	LZ4F_resetDecompressionContext(r->dctx);
	LZ4F_frameInfo_t info;
	int rc = frame_header(r, &info);
	if (rc == 0)
		rc = content_reserve(r, &info);
	if (rc == 0)
		rc = frame_body(r, &info);
	if (rc == 0)
		rc = frame_validate(r);
	if (rc < 0)
		return rc;
	if (r->frames == 0 && r->content_len == 0)
		return reader_fail(r, -SP_ENOTLOG, 0, "not a spanprof log (empty first frame)");
	r->frames++;
	lc_codec_reset(&r->codec);
	return 1;
}

/* ---- damage and resynchronization ------------------------------------ */

static void damage_add(lc_reader *r, uint64_t start, uint64_t end, const char *reason)
{
	r->damage_n++;
	r->damage_bytes += end - start;
	if (r->damage_listed == LC_READER_MAX_DAMAGE_LISTED)
		return;
	if (r->damage_listed == r->damage_cap) {
		size_t cap = r->damage_cap ? r->damage_cap * 2 : 8;
		lc_reader_damage *grown = realloc(r->damage, cap * sizeof *grown);
		if (!grown)
			return; /* still counted; the list is best effort */
		r->damage = grown;
		r->damage_cap = cap;
	}
	lc_reader_damage *d = &r->damage[r->damage_listed++];
	d->start = start;
	d->end = end;
	snprintf(d->reason, sizeof d->reason, "%s", reason);
}

/* The frame at r->frame_offset is damaged (r->errmsg says why). Scans on
 * from the byte after its start, not from where decompression stopped: a
 * damaged header may have sent the decoder past the next frame. A candidate
 * must load whole (frame_load); a false magic inside compressed data fails
 * the header checksum or, 1 in 256, the content checksum. Records the
 * skipped range. Returns 1 with the next intact frame loaded, 0 when none
 * follows, or a fatal error (out of memory). */
static int reader_resync(lc_reader *r)
{
	uint64_t start = r->frame_offset, from = start + 1;
	char why[LC_READER_REASON_BYTES];
	memcpy(why, r->errmsg, sizeof why);
	for (;;) {
		r->err = 0;
		if (in_seek(r, from) < 0) { /* a pipe: cannot go back, stop here */
			damage_add(r, start, r->consumed, why);
			return 0;
		}
		if (!in_find_magic(r)) {
			damage_add(r, start, r->consumed, why);
			return 0;
		}
		uint64_t at = r->consumed;
		int rc = frame_load(r);
		if (rc == 1)
			damage_add(r, start, at, why);
		if (rc != -SP_ECORRUPT)
			return rc;
		from = at + 1;
	}
}

/* The end of the log: 0 if it was clean, else -SP_ECORRUPT (sticky) naming
 * the first damaged range, so callers that know nothing of resync still
 * see that something was skipped. */
static int reader_end(lc_reader *r)
{
	r->content_len = r->content_pos = 0;
	if (!r->damage_n)
		return 0;
	const lc_reader_damage *d = r->damage_listed ? &r->damage[0] : NULL;
	return reader_fail(r, -SP_ECORRUPT, d ? d->start : 0, "%s", d ? d->reason : "damaged");
}

/* ---- records ---------------------------------------------------------- */

static int keep_process(lc_reader *r, const lc_rec_process *p)
{
	const char *src[4] = {p->host, p->exe, p->cmdline, p->traceparent};
	for (int i = 0; i < 4; i++) {
		free(r->proc_strings[i]);
		r->proc_strings[i] = strdup(src[i]);
		if (!r->proc_strings[i])
			return -SP_ENOMEM;
	}
	r->process = *p;
	r->process.host = r->proc_strings[0];
	r->process.exe = r->proc_strings[1];
	r->process.cmdline = r->proc_strings[2];
	r->process.traceparent = r->proc_strings[3];
	r->have_process = 1;
	r->pair = p->clock;
	return 0;
}

static const uint64_t *record_ticks(const lc_record *rec)
{
	switch (rec->type) {
	case LC_REC_THREAD:
		return &rec->u.thread.ts;
	case LC_REC_THREAD_END:
		return &rec->u.thread_end.ts;
	case LC_REC_SPAN_BEGIN:
		return &rec->u.span_begin.ts;
	case LC_REC_SPAN_END:
		return &rec->u.span_end.ts;
	case LC_REC_SAMPLE:
		return &rec->u.sample.ts;
	case LC_REC_MODULE:
		return &rec->u.module.ts;
	case LC_REC_SEGMENT:
		return &rec->u.segment.ts;
	default:
		return NULL;
	}
}

/* Applies what a record changes in the reader (strings, clock, process). */
static int record_apply(lc_reader *r, lc_record *rec)
{
	int rc = 0;
	if (rec->type == LC_REC_PROCESS)
		rc = keep_process(r, &rec->u.process);
	else if (rec->type == LC_REC_CLOCK)
		r->pair = rec->u.clock;
	else if (rec->type == LC_REC_STRING)
		rc = strings_put(r, rec->u.string.id, rec->u.string.bytes);
	if (rc < 0)
		return reader_fail(r, rc, r->frame_offset, "out of memory");
	const uint64_t *ticks = record_ticks(rec);
	rec->ts_ns = ticks ? lc_clock_to_epoch_ns(&r->pair, *ticks) : 0;
	if (rec->type == LC_REC_PROCESS || rec->type == LC_REC_CLOCK)
		rec->ts_ns = r->pair.real_ns;
	return 0;
}

int lc_reader_next(lc_reader *r, lc_record *rec)
{
	if (r->err)
		return r->err;
	for (;;) {
		if (r->content_pos >= r->content_len) {
			int rc = frame_load(r);
			if (rc == -SP_ECORRUPT && r->frames > 0)
				rc = reader_resync(r);
			if (rc == 0)
				return reader_end(r);
			if (rc < 0)
				return rc;
			continue;
		}
		const char *why = NULL;
		int rc = lc_codec_decode(&r->codec, r->content, r->content_len, &r->content_pos,
		                         rec, &r->scratch, &why);
		if (rc < 0) /* pass 1 accepted it: cannot happen, but stay safe */
			return reader_fail(r, rc, r->frame_offset, "%s", why);
		if (rc == 0)
			continue; /* unknown type: skipped */
		rec->file_offset = r->frame_offset;
		if (record_apply(r, rec) < 0)
			return r->err;
		r->records++;
		return 1;
	}
}

const char *lc_reader_error(const lc_reader *r)
{
	return r->err ? r->errmsg : "";
}

uint64_t lc_reader_error_offset(const lc_reader *r)
{
	return r->err_offset;
}

const lc_rec_process *lc_reader_process(const lc_reader *r)
{
	return r->have_process ? &r->process : NULL;
}

uint64_t lc_reader_to_epoch_ns(const lc_reader *r, uint64_t ticks)
{
	return lc_clock_to_epoch_ns(&r->pair, ticks);
}

uint64_t lc_reader_frames(const lc_reader *r)
{
	return r->frames;
}

uint64_t lc_reader_records(const lc_reader *r)
{
	return r->records;
}

uint64_t lc_reader_bytes_read(const lc_reader *r)
{
	return r->consumed;
}

size_t lc_reader_damage_count(const lc_reader *r)
{
	return r->damage_n;
}

const lc_reader_damage *lc_reader_damage_at(const lc_reader *r, size_t i)
{
	return i < r->damage_listed ? &r->damage[i] : NULL;
}

uint64_t lc_reader_damage_bytes(const lc_reader *r)
{
	return r->damage_bytes;
}
