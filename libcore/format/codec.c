/*
 * codec.c - encoder and validating decoder for one record.
 *
 * Wire format (docs/log-format.md): type:u8, payload_len:uLEB128, payload.
 * Integers are unsigned LEB128, signed ones zigzag-mapped first; doubles are
 * 8 bytes little-endian; strings are uLEB128 length + bytes. Timestamps and
 * span ids are zigzag deltas from the previous one in the frame. Trailing
 * payload bytes the decoder does not know are ignored, so fields can be
 * appended in later format versions; optional trailing fields that are
 * absent read as 0.
 *
 * The decoder treats its input as hostile: every length is checked against
 * the record, the frame and the caps of records.h before use, and every
 * varint against 64-bit (or 32-bit) overflow.
 *
 * Threading: no shared state. No allocation.
 */
#include <math.h>
#include <string.h>

#include "codec.h"
#include "spanprof.h"

static const char *const lc_rec_names[LC_REC_TYPE_COUNT] = {
    [LC_REC_PROCESS] = "PROCESS",
    [LC_REC_CLOCK] = "CLOCK",
    [LC_REC_STRING] = "STRING",
    [LC_REC_THREAD] = "THREAD",
    [LC_REC_THREAD_END] = "THREAD_END",
    [LC_REC_SPAN_BEGIN] = "SPAN_BEGIN",
    [LC_REC_SPAN_END] = "SPAN_END",
    [LC_REC_ATTR] = "ATTR",
    [LC_REC_SAMPLE] = "SAMPLE",
    [LC_REC_MODULE] = "MODULE",
    [LC_REC_LOST] = "LOST",
    [LC_REC_SAMPLER] = "SAMPLER",
    [LC_REC_BLOCK] = "BLOCK",
    [LC_REC_DROPPED] = "DROPPED",
    [LC_REC_SEGMENT] = "SEGMENT",
};

const char *lc_rec_type_name(int type)
{
	if (type <= 0 || type >= LC_REC_TYPE_COUNT || !lc_rec_names[type])
		return "UNKNOWN";
	return lc_rec_names[type];
}

void lc_codec_reset(lc_codec_state *s)
{
	memset(s, 0, sizeof *s);
}

/* ---- encoder ---------------------------------------------------------- */

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static uint8_t *put_u(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *put_u64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *put_f64(uint8_t *p, double d)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof bits);
	return put_u64le(p, bits);
}

static uint8_t *put_bytes(uint8_t *p, const void *s, size_t len, size_t cap)
{
	if (!s)
		len = 0;
	if (len > cap)
		len = cap;
	p = put_u(p, len);
	if (len)
		memcpy(p, s, len);
	return p + len;
}

static uint8_t *put_cstr(uint8_t *p, const char *s)
{
	return put_bytes(p, s, s ? strlen(s) : 0, LC_MAX_STRING_BYTES);
}

static uint8_t *put_ts(lc_codec_state *s, uint8_t *p, uint64_t ts)
{
	p = put_u(p, zigzag((int64_t)(ts - s->prev_ts)));
	s->prev_ts = ts;
	return p;
}

static uint8_t *put_span(lc_codec_state *s, uint8_t *p, uint64_t span_id)
{
	p = put_u(p, zigzag((int64_t)(span_id - s->prev_span)));
	s->prev_span = span_id;
	return p;
}

static uint8_t *put_pair(uint8_t *p, const lc_clock_pair *c)
{
	p = put_u(p, c->ticks);
	p = put_u(p, c->mono_ns);
	p = put_u(p, c->real_ns);
	return put_f64(p, c->ns_per_tick);
}

static uint8_t *enc_process(uint8_t *p, const lc_rec_process *r)
{
	memcpy(p, LC_LOG_MAGIC, LC_LOG_MAGIC_LEN);
	p += LC_LOG_MAGIC_LEN;
	*p++ = (uint8_t)(r->format_version & 0xff);
	*p++ = (uint8_t)(r->format_version >> 8);
	*p++ = (uint8_t)(r->min_reader_version & 0xff);
	*p++ = (uint8_t)(r->min_reader_version >> 8);
	p = put_u(p, r->pid);
	p = put_u(p, r->ppid);
	*p++ = r->clock_kind;
	p = put_pair(p, &r->clock);
	p = put_cstr(p, r->host);
	p = put_cstr(p, r->exe);
	p = put_cstr(p, r->cmdline);
	return put_cstr(p, r->traceparent);
}

static uint8_t *enc_span_begin(lc_codec_state *s, uint8_t *p, const lc_rec_span_begin *r)
{
	int trace_changed = r->trace_hi != s->trace_hi || r->trace_lo != s->trace_lo;
	uint64_t bits = ((uint64_t)r->flags << 1) | (uint64_t)trace_changed;
	uint64_t parent = r->parent_id ? zigzag((int64_t)(r->span_id - r->parent_id)) : 0;
	p = put_ts(s, p, r->ts);
	p = put_span(s, p, r->span_id);
	p = put_u(p, parent);
	p = put_u(p, r->name_id);
	if (bits == 0 && r->name_id != 0)
		return p; /* optional trailing fields all zero */
	p = put_u(p, bits);
	if (trace_changed) {
		p = put_u64le(p, r->trace_hi);
		p = put_u64le(p, r->trace_lo);
		s->trace_hi = r->trace_hi;
		s->trace_lo = r->trace_lo;
	}
	if (r->name_id == 0)
		p = put_bytes(p, r->name, r->name_len, LC_MAX_STRING_BYTES);
	return p;
}

static uint8_t *enc_span_end(lc_codec_state *s, uint8_t *p, const lc_rec_span_end *r)
{
	p = put_ts(s, p, r->ts);
	p = put_span(s, p, r->span_id);
	if (r->flags)
		p = put_u(p, r->flags);
	return p;
}

static uint8_t *enc_attr(lc_codec_state *s, uint8_t *p, const lc_rec_attr *r)
{
	p = put_span(s, p, r->span_id);
	p = put_u(p, r->key_id);
	if (r->key_id == 0)
		p = put_bytes(p, r->key, r->key_len, LC_MAX_STRING_BYTES);
	*p++ = r->kind;
	uint8_t flags = r->flags;
	if (r->kind == LC_ATTR_STR && r->s_len > LC_MAX_ATTR_STR_BYTES)
		flags |= LC_ATTR_TRUNCATED;
	*p++ = flags;
	if (r->kind == LC_ATTR_INT)
		return put_u(p, zigzag(r->i));
	if (r->kind == LC_ATTR_DOUBLE)
		return put_f64(p, r->d);
	return put_bytes(p, r->s, r->s_len, LC_MAX_ATTR_STR_BYTES);
}

static uint8_t *enc_sample(lc_codec_state *s, uint8_t *p, const lc_rec_sample *r)
{
	p = put_ts(s, p, r->ts);
	p = put_u(p, r->weight_us);
	p = put_u(p, r->nframes);
	for (uint32_t i = 0; i < r->nframes; i++)
		p = put_u(p, i ? zigzag((int64_t)(r->pcs[i] - r->pcs[i - 1])) : r->pcs[0]);
	return p;
}

static uint8_t *enc_module(lc_codec_state *s, uint8_t *p, const lc_rec_module *r)
{
	p = put_ts(s, p, r->ts);
	p = put_u(p, r->start);
	p = put_u(p, r->end - r->start);
	p = put_u(p, r->file_offset);
	p = put_bytes(p, r->path, r->path_len, LC_MAX_STRING_BYTES);
	return put_bytes(p, r->build_id, r->build_id_len, LC_MAX_BUILD_ID_BYTES);
}

static uint8_t *enc_sampler(uint8_t *p, const lc_rec_sampler *r)
{
	*p++ = r->mechanism;
	*p++ = r->mode;
	p = put_u(p, r->signo);
	p = put_u(p, r->requested_hz);
	p = put_u(p, r->achieved_hz);
	return r->flags ? put_u(p, r->flags) : p; /* optional trailing field */
}

static int needs_block(int type)
{
	return type == LC_REC_SPAN_BEGIN || type == LC_REC_SPAN_END || type == LC_REC_ATTR ||
	       type == LC_REC_SAMPLE || type == LC_REC_LOST || type == LC_REC_DROPPED;
}

static int encodable(const lc_codec_state *s, const lc_record *rec)
{
	if (rec->type == 0 || rec->type >= LC_REC_TYPE_COUNT)
		return 0;
	if (needs_block(rec->type) && !s->in_block)
		return 0;
	if (rec->type == LC_REC_SAMPLE && (rec->u.sample.nframes > LC_MAX_STACK_FRAMES ||
	                                   (rec->u.sample.nframes && !rec->u.sample.pcs)))
		return 0;
	if (rec->type == LC_REC_ATTR &&
	    (rec->u.attr.kind < LC_ATTR_INT || rec->u.attr.kind > LC_ATTR_STR))
		return 0;
	if (rec->type == LC_REC_MODULE && rec->u.module.end < rec->u.module.start)
		return 0;
	if (rec->type == LC_REC_SEGMENT && rec->u.segment.kind != LC_SEGMENT_START &&
	    rec->u.segment.kind != LC_SEGMENT_END)
		return 0;
	return 1;
}

static uint8_t *enc_payload(lc_codec_state *s, const lc_record *rec, uint8_t *p)
{
	const typeof(rec->u) *u = &rec->u;
	switch (rec->type) {
	case LC_REC_PROCESS:
		return enc_process(p, &u->process);
	case LC_REC_CLOCK:
		return put_pair(p, &u->clock);
	case LC_REC_STRING:
		p = put_u(p, u->string.id);
		return put_bytes(p, u->string.bytes, u->string.len, LC_MAX_STRING_BYTES);
	case LC_REC_THREAD:
		p = put_ts(s, p, u->thread.ts);
		p = put_u(p, u->thread.tid);
		return put_cstr(p, u->thread.name);
	case LC_REC_THREAD_END:
		p = put_ts(s, p, u->thread_end.ts);
		p = put_u(p, u->thread_end.tid);
		if (u->thread_end.cpu_ns || u->thread_end.flags) /* optional trailing fields */
			p = put_u(p, u->thread_end.cpu_ns);
		return u->thread_end.flags ? put_u(p, u->thread_end.flags) : p;
	case LC_REC_SPAN_BEGIN:
		return enc_span_begin(s, p, &u->span_begin);
	case LC_REC_SPAN_END:
		return enc_span_end(s, p, &u->span_end);
	case LC_REC_ATTR:
		return enc_attr(s, p, &u->attr);
	case LC_REC_SAMPLE:
		return enc_sample(s, p, &u->sample);
	case LC_REC_MODULE:
		return enc_module(s, p, &u->module);
	case LC_REC_LOST:
		*p++ = u->lost.kind;
		return put_u(p, u->lost.count);
	case LC_REC_SAMPLER:
		return enc_sampler(p, &u->sampler);
	case LC_REC_DROPPED:
		p = put_u(p, u->dropped.name_id);
		return put_u(p, u->dropped.count);
	case LC_REC_SEGMENT:
		p = put_ts(s, p, u->segment.ts);
		*p++ = u->segment.kind;
		return put_u(p, u->segment.index);
	default: /* LC_REC_BLOCK */
		s->in_block = 1;
		s->block_tid = u->block.tid;
		return put_u(p, u->block.tid);
	}
}

/* The payload is written 2 bytes in (type + a 1-byte length, the common
 * case) and moved up only when its length needs a longer varint. */
int lc_codec_encode(lc_codec_state *s, const lc_record *rec, uint8_t *out)
{
	if (!encodable(s, rec))
		return -SP_EINVAL;
	uint8_t *payload = out + 2;
	size_t plen = (size_t)(enc_payload(s, rec, payload) - payload);
	if (plen > LC_MAX_RECORD_BYTES)
		return -SP_EINVAL;
	out[0] = rec->type;
	s->records++;
	if (plen < 0x80) {
		out[1] = (uint8_t)plen;
		return (int)(plen + 2);
	}
	uint8_t len_bytes[4];
	size_t k = (size_t)(put_u(len_bytes, plen) - len_bytes);
	memmove(out + 1 + k, payload, plen);
	memcpy(out + 1, len_bytes, k);
	return (int)(1 + k + plen);
}

/* ---- decoder ---------------------------------------------------------- */

typedef struct rd {
	const uint8_t *p, *end;
	char *text;      /* next free byte in the scratch text buffer */
	const char *bad; /* first problem found, or NULL */
} rd;

static void rd_fail(rd *c, const char *why)
{
	if (!c->bad)
		c->bad = why;
	c->p = c->end;
}

static uint64_t rd_u(rd *c)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (c->p >= c->end) {
			rd_fail(c, "field runs past the end of its record");
			return 0;
		}
		uint8_t b = *c->p++;
		if (shift == 63 && b > 1) {
			rd_fail(c, "varint overflows 64 bits");
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	rd_fail(c, "varint longer than 10 bytes");
	return 0;
}

static uint32_t rd_u32(rd *c)
{
	uint64_t v = rd_u(c);
	if (v > UINT32_MAX)
		rd_fail(c, "32-bit field out of range");
	return (uint32_t)v;
}

static uint8_t rd_u8(rd *c)
{
	if (c->p >= c->end) {
		rd_fail(c, "field runs past the end of its record");
		return 0;
	}
	return *c->p++;
}

static uint64_t rd_u64le(rd *c)
{
	uint64_t v = 0;
	if (c->end - c->p < 8) {
		rd_fail(c, "field runs past the end of its record");
		return 0;
	}
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)c->p[i] << (8 * i);
	c->p += 8;
	return v;
}

static double rd_f64(rd *c)
{
	uint64_t bits = rd_u64le(c);
	double d;
	memcpy(&d, &bits, sizeof d);
	return d;
}

/* Copies a length-prefixed string into scratch, NUL-terminated. */
static const char *rd_str(rd *c, uint32_t cap, uint32_t *len_out)
{
	uint64_t len = rd_u(c);
	if (len > cap) {
		rd_fail(c, "string longer than its cap");
		len = 0;
	} else if (len > (uint64_t)(c->end - c->p)) {
		rd_fail(c, "string runs past the end of its record");
		len = 0;
	}
	char *s = c->text;
	memcpy(s, c->p, len);
	s[len] = 0;
	c->text += len + 1;
	c->p += len;
	if (len_out)
		*len_out = (uint32_t)len;
	return s;
}

static uint64_t rd_ts(lc_codec_state *s, rd *c)
{
	s->prev_ts += (uint64_t)unzigzag(rd_u(c));
	return s->prev_ts;
}

static uint64_t rd_span(lc_codec_state *s, rd *c)
{
	s->prev_span += (uint64_t)unzigzag(rd_u(c));
	return s->prev_span;
}

static void rd_pair(rd *c, lc_clock_pair *p)
{
	p->ticks = rd_u(c);
	p->mono_ns = rd_u(c);
	p->real_ns = rd_u(c);
	p->ns_per_tick = rd_f64(c);
	if (!c->bad && !(isfinite(p->ns_per_tick) && p->ns_per_tick > 0.0 && p->ns_per_tick < 1e6))
		rd_fail(c, "clock rate out of range");
}

static void dec_process(rd *c, lc_rec_process *r)
{
	if (c->end - c->p < LC_LOG_MAGIC_LEN + 4 || memcmp(c->p, LC_LOG_MAGIC, LC_LOG_MAGIC_LEN)) {
		rd_fail(c, "bad magic in PROCESS record");
		return;
	}
	c->p += LC_LOG_MAGIC_LEN;
	r->format_version = (uint16_t)(c->p[0] | c->p[1] << 8);
	r->min_reader_version = (uint16_t)(c->p[2] | c->p[3] << 8);
	c->p += 4;
	if (r->min_reader_version > LC_LOG_FORMAT_VERSION)
		return; /* the rest may have a layout we do not know: caller refuses */
	r->pid = rd_u32(c);
	r->ppid = rd_u32(c);
	r->clock_kind = rd_u8(c);
	if (!c->bad && r->clock_kind != LC_CLOCK_TSC && r->clock_kind != LC_CLOCK_MONOTONIC)
		rd_fail(c, "unknown clock kind");
	rd_pair(c, &r->clock);
	r->host = rd_str(c, LC_MAX_STRING_BYTES, NULL);
	r->exe = rd_str(c, LC_MAX_STRING_BYTES, NULL);
	r->cmdline = rd_str(c, LC_MAX_STRING_BYTES, NULL);
	r->traceparent = rd_str(c, LC_MAX_STRING_BYTES, NULL);
}

static void dec_span_begin(lc_codec_state *s, rd *c, lc_rec_span_begin *r)
{
	r->ts = rd_ts(s, c);
	r->span_id = rd_span(s, c);
	uint64_t parent = rd_u(c);
	r->parent_id = parent ? r->span_id - (uint64_t)unzigzag(parent) : 0;
	r->name_id = rd_u32(c);
	uint64_t bits = (c->p < c->end || r->name_id == 0) ? rd_u(c) : 0;
	if (bits >> 33)
		rd_fail(c, "span flags out of range");
	r->flags = (uint32_t)(bits >> 1);
	if (bits & 1) {
		s->trace_hi = rd_u64le(c);
		s->trace_lo = rd_u64le(c);
	}
	r->trace_hi = s->trace_hi;
	r->trace_lo = s->trace_lo;
	if (r->name_id == 0)
		r->name = rd_str(c, LC_MAX_STRING_BYTES, &r->name_len);
	if (r->span_id == 0)
		rd_fail(c, "span id 0");
}

static void dec_span_end(lc_codec_state *s, rd *c, lc_rec_span_end *r)
{
	r->ts = rd_ts(s, c);
	r->span_id = rd_span(s, c);
	r->flags = c->p < c->end ? rd_u32(c) : 0;
}

static void dec_attr(lc_codec_state *s, rd *c, lc_rec_attr *r)
{
	r->span_id = rd_span(s, c);
	r->key_id = rd_u32(c);
	if (r->key_id == 0)
		r->key = rd_str(c, LC_MAX_STRING_BYTES, &r->key_len);
	r->kind = rd_u8(c);
	r->flags = rd_u8(c);
	if (r->kind == LC_ATTR_INT)
		r->i = unzigzag(rd_u(c));
	else if (r->kind == LC_ATTR_DOUBLE)
		r->d = rd_f64(c);
	else if (r->kind == LC_ATTR_STR)
		r->s = rd_str(c, LC_MAX_ATTR_STR_BYTES, &r->s_len);
	else
		rd_fail(c, "unknown attribute kind");
}

static void dec_sample(lc_codec_state *s, rd *c, lc_rec_sample *r, uint64_t *pcs)
{
	r->ts = rd_ts(s, c);
	r->weight_us = rd_u32(c);
	r->nframes = rd_u32(c);
	if (r->nframes > LC_MAX_STACK_FRAMES) {
		rd_fail(c, "sample has more frames than the cap");
		r->nframes = 0;
	}
	for (uint32_t i = 0; i < r->nframes; i++)
		pcs[i] = i ? pcs[i - 1] + (uint64_t)unzigzag(rd_u(c)) : rd_u(c);
	r->pcs = pcs;
}

static void dec_module(lc_codec_state *s, rd *c, lc_rec_module *r)
{
	r->ts = rd_ts(s, c);
	r->start = rd_u(c);
	uint64_t size = rd_u(c);
	if (size > UINT64_MAX - r->start)
		rd_fail(c, "module address range overflows");
	r->end = r->start + size;
	r->file_offset = rd_u(c);
	r->path = rd_str(c, LC_MAX_STRING_BYTES, &r->path_len);
	r->build_id = (const uint8_t *)rd_str(c, LC_MAX_BUILD_ID_BYTES, &r->build_id_len);
}

static void dec_lost(rd *c, lc_rec_lost *r)
{
	r->kind = rd_u8(c);
	r->count = rd_u(c);
	if (!c->bad && (r->kind < LC_LOST_EVENTS || r->kind > LC_LOST_UNWIND))
		rd_fail(c, "unknown lost-event kind");
}

static void dec_sampler(rd *c, lc_rec_sampler *r)
{
	r->mechanism = rd_u8(c);
	r->mode = rd_u8(c);
	r->signo = rd_u32(c);
	r->requested_hz = rd_u32(c);
	r->achieved_hz = rd_u32(c);
	r->flags = c->p < c->end ? rd_u32(c) : 0;
}

static void dec_string(rd *c, lc_rec_string *r)
{
	r->id = rd_u32(c);
	r->bytes = rd_str(c, LC_MAX_STRING_BYTES, &r->len);
	if (!c->bad && r->id == 0)
		rd_fail(c, "string id 0");
}

static void dec_payload(lc_codec_state *s, rd *c, lc_record *rec, lc_codec_scratch *scr)
{
	typeof(rec->u) *u = &rec->u;
	switch (rec->type) {
	case LC_REC_PROCESS:
		dec_process(c, &u->process);
		break;
	case LC_REC_CLOCK:
		rd_pair(c, &u->clock);
		break;
	case LC_REC_STRING:
		dec_string(c, &u->string);
		break;
	case LC_REC_THREAD:
		u->thread.ts = rd_ts(s, c);
		u->thread.tid = rd_u32(c);
		u->thread.name = rd_str(c, LC_MAX_STRING_BYTES, NULL);
		break;
	case LC_REC_THREAD_END:
		u->thread_end.ts = rd_ts(s, c);
		u->thread_end.tid = rd_u32(c);
		u->thread_end.cpu_ns = c->p < c->end ? rd_u(c) : 0;
		u->thread_end.flags = c->p < c->end ? rd_u32(c) : 0;
		break;
	case LC_REC_SPAN_BEGIN:
		dec_span_begin(s, c, &u->span_begin);
		u->span_begin.tid = s->block_tid;
		break;
	case LC_REC_SPAN_END:
		dec_span_end(s, c, &u->span_end);
		u->span_end.tid = s->block_tid;
		break;
	case LC_REC_ATTR:
		dec_attr(s, c, &u->attr);
		u->attr.tid = s->block_tid;
		break;
	case LC_REC_SAMPLE:
		dec_sample(s, c, &u->sample, scr->pcs);
		u->sample.tid = s->block_tid;
		break;
	case LC_REC_MODULE:
		dec_module(s, c, &u->module);
		break;
	case LC_REC_LOST:
		dec_lost(c, &u->lost);
		u->lost.tid = s->block_tid;
		break;
	case LC_REC_SAMPLER:
		dec_sampler(c, &u->sampler);
		break;
	case LC_REC_DROPPED:
		u->dropped.name_id = rd_u32(c);
		u->dropped.count = rd_u(c);
		u->dropped.tid = s->block_tid;
		break;
	case LC_REC_SEGMENT:
		u->segment.ts = rd_ts(s, c);
		u->segment.kind = rd_u8(c);
		u->segment.index = rd_u32(c);
		if (!c->bad && u->segment.kind != LC_SEGMENT_START &&
		    u->segment.kind != LC_SEGMENT_END)
			rd_fail(c, "unknown segment kind");
		break;
	case LC_REC_BLOCK:
		u->block.tid = rd_u32(c);
		s->block_tid = u->block.tid;
		s->in_block = 1;
		break;
	}
}

int lc_codec_decode(lc_codec_state *s, const uint8_t *buf, size_t len, size_t *pos, lc_record *rec,
                    lc_codec_scratch *scratch, const char **reason)
{
	rd c = {buf + *pos, buf + len, scratch->text, NULL};
	uint8_t type = rd_u8(&c);
	uint64_t plen = rd_u(&c);
	if (!c.bad && plen > LC_MAX_RECORD_BYTES)
		c.bad = "record length over the cap";
	else if (!c.bad && plen > (uint64_t)(c.end - c.p))
		c.bad = "record runs past the end of its frame";
	if (c.bad) {
		*reason = c.bad;
		return -SP_ECORRUPT;
	}
	size_t next = (size_t)(c.p - buf) + plen;
	memset(&rec->u, 0, sizeof rec->u);
	rec->type = type;
	if (type == 0 || type >= LC_REC_TYPE_COUNT) {
		*pos = next;
		return 0;
	}
	if (needs_block(type) && !s->in_block) {
		*reason = "thread record outside a BLOCK";
		return -SP_ECORRUPT;
	}
	c.end = c.p + plen;
	dec_payload(s, &c, rec, scratch);
	if (c.bad) {
		*reason = c.bad;
		return -SP_ECORRUPT;
	}
	*pos = next;
	s->records++;
	return 1;
}
