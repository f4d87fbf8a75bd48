/*
 * log_reader.h - validating reader for event logs (private; used by merge,
 * dump and the tests).
 *
 * A log is untrusted input. The reader decompresses one LZ4 frame at a time
 * (bounded memory: LC_MAX_FRAME_CONTENT_BYTES), checks the frame's checksum,
 * then decodes and validates every record. A damaged frame yields no
 * records; reading resumes at the next intact frame (docs/log-format.md,
 * "Damage and resynchronization"), and each skipped byte range is kept with
 * a reason. Damage in the first frame (the one with PROCESS) ends the log.
 * Records of unknown type are skipped.
 *
 * Timestamps: each record with a timestamp gets ts_ns (ns since the Unix
 * epoch) from the latest clock calibration seen.
 *
 * Threading: one reader per thread. Not signal-safe.
 */
#ifndef LC_LOG_READER_H
#define LC_LOG_READER_H

#include <stddef.h>
#include <stdint.h>
#include "records.h"

typedef struct lc_reader lc_reader;

#define LC_READER_REASON_BYTES 200

/* A byte range [start, end) of the file that was skipped: start is the
 * offset of the damaged frame (or of bytes that are no frame at all), end
 * the offset of the next intact frame, or the file size when none follows. */
typedef struct lc_reader_damage {
	uint64_t start, end;
	char reason[LC_READER_REASON_BYTES]; /* one line, e.g. "LZ4 frame damaged: ..." */
} lc_reader_damage;

/* Returns 0, or -SP_EIO / -SP_EPERM / -SP_ENOMEM with *out = NULL and errno
 * saying why (ENOENT, EISDIR, ...: print it with strerror). Whether the file
 * is a log at all shows at the first lc_reader_next (-SP_ENOTLOG). */
int lc_reader_open(const char *path, lc_reader **out);
void lc_reader_close(lc_reader *r); /* accepts NULL */

/* Next record. Returns 1 with *rec filled (pointers valid until the next
 * call); 0 at the end of a clean log; -SP_ECORRUPT at the end of a log
 * with damaged ranges, once every readable record (also those after the
 * damage) was returned; or -SP_E* at once for a log that cannot be read
 * (not a log, damaged first frame, newer version, out of memory). See
 * lc_reader_error() and lc_reader_error_offset() (for damage: the first
 * range's reason and start). After an error, further calls return it. */
int lc_reader_next(lc_reader *r, lc_record *rec);

const char *lc_reader_error(const lc_reader *r); /* one line, "" if none */
uint64_t lc_reader_error_offset(const lc_reader *r);

/* The PROCESS record (valid once the first record was read), or NULL. */
const lc_rec_process *lc_reader_process(const lc_reader *r);
/* An interned string seen so far, or NULL. */
const char *lc_reader_string(const lc_reader *r, uint32_t id);
uint64_t lc_reader_to_epoch_ns(const lc_reader *r, uint64_t ticks);

/* Counters, for reports. */
uint64_t lc_reader_frames(const lc_reader *r);
uint64_t lc_reader_records(const lc_reader *r);
uint64_t lc_reader_bytes_read(const lc_reader *r); /* compressed bytes consumed */

/* Damaged ranges so far, in file order (a new one appears when the reader
 * resumes after it, i.e. before the first record of the next intact frame
 * is returned). count includes ranges beyond the listed cap (4096), for
 * which damage_at returns NULL; damage_bytes sums every range. */
size_t lc_reader_damage_count(const lc_reader *r);
const lc_reader_damage *lc_reader_damage_at(const lc_reader *r, size_t i);
uint64_t lc_reader_damage_bytes(const lc_reader *r);

#endif
