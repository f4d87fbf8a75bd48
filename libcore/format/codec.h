/*
 * codec.h - byte encoding of one record (private; docs/log-format.md).
 *
 * The encoder and the decoder are exact inverses over lc_record, which is
 * what the round-trip tests check. Both carry a small delta state that
 * starts fresh at every LZ4 frame, so each frame decodes alone: previous
 * timestamp, previous span id, previous trace id, current BLOCK thread.
 *
 * Threading: the state is owned by its caller. No allocation, no locks.
 */
#ifndef LC_CODEC_H
#define LC_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "records.h"

typedef struct lc_codec_state {
	uint64_t prev_ts;
	uint64_t prev_span;
	uint64_t trace_hi, trace_lo;
	uint32_t block_tid;
	int in_block;
	int records; /* records seen in this frame */
} lc_codec_state;

/* Room the encoder needs for one record: payload cap plus type and length. */
#define LC_CODEC_MAX_ENCODED (LC_MAX_RECORD_BYTES + 8u)

/* Scratch memory for the decoder: NUL-terminated copies of strings, pcs. */
typedef struct lc_codec_scratch {
	char text[LC_MAX_RECORD_BYTES + 16u];
	uint64_t pcs[LC_MAX_STACK_FRAMES];
} lc_codec_scratch;

void lc_codec_reset(lc_codec_state *s);

/* Encodes rec (type, length, payload) at out, which has room for
 * LC_CODEC_MAX_ENCODED bytes. Strings longer than their cap are cut.
 * Returns the number of bytes written, or -SP_EINVAL for a record that cannot
 * be encoded (unknown type, too many frames, bad kind). */
int lc_codec_encode(lc_codec_state *s, const lc_record *rec, uint8_t *out);

/* Decodes the record at buf[*pos] (len = bytes in the frame's content).
 * Returns 1 with *rec filled (pointers into scratch or buf), 0 for a record
 * of unknown type that was skipped (rec->type holds its type), or
 * -SP_ECORRUPT with *reason set to a static one-line text. *pos advances
 * past the record on success. rec->ts_ns and file_offset are left alone. */
int lc_codec_decode(lc_codec_state *s, const uint8_t *buf, size_t len, size_t *pos, lc_record *rec,
                    lc_codec_scratch *scratch, const char **reason);

#endif
