/*
 * fuzz_codec.c - libFuzzer target for the record decoder
 * (libcore/format/codec.c, lc_codec_decode): the input is the content of one LZ4
 * frame, i.e. what the decoder sees once the frame checksum has passed.
 *
 * The decoder must, for any bytes: stop with -SP_ECORRUPT and a reason, or
 * reach the end; always advance on success; never read outside the buffer;
 * and return records whose pointers and lengths stay inside the input or
 * the scratch memory.
 */
#include <string.h>

#include "codec.h"
#include "fuzz_helpers.h"
#include "spanprof.h"

static lc_codec_scratch scratch;

static int fuzz_inside(const void *p, size_t len, const void *base, size_t base_len)
{
	const uint8_t *q = p, *b = base;
	return !p || (q >= b && len <= base_len && (size_t)(q - b) <= base_len - len);
}

/* Strings of a decoded record point into the input or the scratch. */
static void fuzz_check_record(const lc_record *rec, const uint8_t *buf, size_t len)
{
	const void *s = NULL;
	size_t n = 0;
	switch (rec->type) {
	case LC_REC_STRING:
		s = rec->u.string.bytes, n = rec->u.string.len;
		break;
	case LC_REC_SPAN_BEGIN:
		s = rec->u.span_begin.name, n = rec->u.span_begin.name_len;
		break;
	case LC_REC_MODULE:
		s = rec->u.module.path, n = rec->u.module.path_len;
		FUZZ_CHECK(rec->u.module.build_id_len <= LC_MAX_BUILD_ID_BYTES);
		break;
	case LC_REC_SAMPLE:
		FUZZ_CHECK(rec->u.sample.nframes <= LC_MAX_STACK_FRAMES);
		break;
	default:
		return;
	}
	FUZZ_CHECK(fuzz_inside(s, n, buf, len) || fuzz_inside(s, n, &scratch, sizeof scratch));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_exact_copy(data, size);
	lc_codec_state st;
	lc_codec_reset(&st);
	size_t pos = 0;
	while (pos < size) {
		lc_record rec;
		const char *reason = NULL;
		size_t before = pos;
		memset(&rec, 0, sizeof rec);
		int rc = lc_codec_decode(&st, buf, size, &pos, &rec, &scratch, &reason);
		if (rc < 0) {
			FUZZ_CHECK(rc == -SP_ECORRUPT && reason && *reason);
			break;
		}
		FUZZ_CHECK(rc == 0 || rc == 1);
		FUZZ_CHECK(pos > before && pos <= size);
		if (rc == 1)
			fuzz_check_record(&rec, buf, size);
	}
	free(buf);
	return 0;
}
