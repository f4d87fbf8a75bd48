/*
 * log_reader.h - validating reader for event logs (private; used by merge,
 * dump and the tests).
 *
 * A log is untrusted input. The reader decompresses one LZ4 frame at a time
 * (bounded memory: SP_MAX_FRAME_CONTENT_BYTES), checks the frame's checksum,
 * then decodes and validates every record. On damage it stops, reports the
 * offset of the damaged frame and a reason; every record of the earlier
 * frames has been returned. Records of unknown type are skipped.
 *
 * Timestamps: each record with a timestamp gets ts_ns (ns since the Unix
 * epoch) from the latest clock calibration seen.
 *
 * Threading: one reader per thread. Not signal-safe.
 */
#ifndef SP_LOG_READER_H
#define SP_LOG_READER_H

#include <stdint.h>
#include "records.h"

typedef struct sp_reader sp_reader;

/* Returns 0, or -SP_EIO / -SP_EPERM / -SP_ENOMEM with *out = NULL and errno
 * saying why (ENOENT, EISDIR, ...: print it with strerror). Whether the file
 * is a log at all shows at the first sp_reader_next (-SP_ENOTLOG). */
int sp_reader_open(const char *path, sp_reader **out);
void sp_reader_close(sp_reader *r); /* accepts NULL */

/* Next record. Returns 1 with *rec filled (pointers valid until the next
 * call), 0 at the clean end of the log, or -SP_E* on damage/error: see
 * sp_reader_error() and sp_reader_error_offset(). After an error, further
 * calls return the same error. */
int sp_reader_next(sp_reader *r, sp_record *rec);

const char *sp_reader_error(const sp_reader *r); /* one line, "" if none */
uint64_t sp_reader_error_offset(const sp_reader *r);

/* The PROCESS record (valid once the first record was read), or NULL. */
const sp_rec_process *sp_reader_process(const sp_reader *r);
/* An interned string seen so far, or NULL. */
const char *sp_reader_string(const sp_reader *r, uint32_t id);
uint64_t sp_reader_to_epoch_ns(const sp_reader *r, uint64_t ticks);

/* Counters, for reports. */
uint64_t sp_reader_frames(const sp_reader *r);
uint64_t sp_reader_records(const sp_reader *r);
uint64_t sp_reader_bytes_read(const sp_reader *r); /* compressed bytes consumed */

#endif
