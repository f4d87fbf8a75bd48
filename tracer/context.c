/*
 * context.c - span contexts: capture on one thread, W3C traceparent
 * formatting and parsing (https://www.w3.org/TR/trace-context/), trace ids.
 *
 * traceparent = "00-" 32 lowercase hex (trace id) "-" 16 hex (parent span
 * id) "-" 2 hex (flags). All-zero trace or span ids are invalid. A version
 * other than 00 (and not ff) is accepted if its first 55 characters parse
 * as version 00 and are followed by end or '-', as the spec asks.
 *
 * Threading: pure functions, except sp_current_context (reads the calling
 * thread's span stack). Signal safety: format/parse are async-signal-safe.
 */
#include <string.h>

#include "tracer_int.h"

TRC_HIDDEN uint64_t trc_new_trace_half(trc_tstate *ts)
{
	uint64_t half;
	do
		half = trc_rng_next(&ts->rng);
	while (TRC_UNLIKELY(half == 0));
	return half;
}

SP_API sp_context sp_current_context(void)
{
	sp_context ctx = {0, 0, 0, 0, 0};
	trc_tstate *ts = trc_is_on() ? trc_tstate_slow() : trc_tls_;
	if (ts && ts->depth > 0) {
		const trc_stack_entry *e = &ts->stack[ts->depth - 1];
		ctx.trace_hi = e->trace_hi;
		ctx.trace_lo = e->trace_lo;
		ctx.span_id = e->id;
		ctx.flags = 1; /* sampled: this span is recorded */
		return ctx;
	}
	trc_root_ctx_read(&ctx);
	return ctx;
}

static void trc_hex(char *out, uint64_t v, int digits)
{
	static const char hex[] = "0123456789abcdef";
	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		out[i] = hex[v & 0xf];
}

SP_API int sp_context_format(const sp_context *ctx, char *buf, size_t len)
{
	if (!buf || len < SP_TRACEPARENT_LEN)
		return -SP_EINVAL;
	buf[0] = '\0';
	if (!ctx || ctx->span_id == 0 || (ctx->trace_hi | ctx->trace_lo) == 0)
		return -SP_ESTATE;
	memcpy(buf, "00-", 3);
	trc_hex(buf + 3, ctx->trace_hi, 16);
	trc_hex(buf + 19, ctx->trace_lo, 16);
	buf[35] = '-';
	trc_hex(buf + 36, ctx->span_id, 16);
	buf[52] = '-';
	trc_hex(buf + 53, ctx->flags & 0xff, 2);
	buf[55] = '\0';
	return 55;
}

/* Lowercase hex only, as the spec requires. */
static int trc_parse_hex(const char *s, int digits, uint64_t *out)
{
	uint64_t v = 0;
	for (int i = 0; i < digits; i++) {
		char c = s[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return -1;
		v = (v << 4) | (uint64_t)d;
	}
	*out = v;
	return 0;
}

SP_API int sp_context_parse(const char *tp, sp_context *out)
{
	sp_context c = {0, 0, 0, 0, 0};
	uint64_t version, flags;
	if (out)
		*out = c;
	if (!tp || !out || strnlen(tp, 56) < 55)
		return -SP_EINVAL;
	if (trc_parse_hex(tp, 2, &version) || version == 0xff || tp[2] != '-' ||
	    trc_parse_hex(tp + 3, 16, &c.trace_hi) || trc_parse_hex(tp + 19, 16, &c.trace_lo) ||
	    tp[35] != '-' || trc_parse_hex(tp + 36, 16, &c.span_id) || tp[52] != '-' ||
	    trc_parse_hex(tp + 53, 2, &flags))
		return -SP_EINVAL;
	if (version == 0 ? tp[55] != '\0' : (tp[55] != '\0' && tp[55] != '-'))
		return -SP_EINVAL;
	if (c.span_id == 0 || (c.trace_hi | c.trace_lo) == 0)
		return -SP_EINVAL;
	c.flags = (uint32_t)flags;
	*out = c;
	return 0;
}

SP_API int sp_traceparent(char *buf, size_t len)
{
	sp_context ctx = sp_current_context();
	return sp_context_format(&ctx, buf, len);
}
