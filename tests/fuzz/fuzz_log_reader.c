/*
 * fuzz_log_reader.c - libFuzzer target for the log reader
 * (libcore/read/log_reader.c): the input is a whole log file (LZ4 frames).
 *
 * For any bytes the reader must open the file, return records until 0 or
 * an error, keep returning that error, describe damage within the file's
 * bounds, and free everything (LeakSanitizer checks). The seed corpus
 * (corpus/log_reader) holds small valid logs, so mutations reach the
 * record decoder behind intact and damaged frames.
 */
#include "fuzz_helpers.h"
#include "log_reader.h"
#include "spanprof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_memfile(data, size, path, sizeof path);
	lc_reader *r = NULL;
	FUZZ_CHECK(lc_reader_open(path, &r) == 0 && r);
	lc_record rec;
	int rc;
	uint64_t records = 0;
	while ((rc = lc_reader_next(r, &rec)) == 1) {
		records++;
		FUZZ_CHECK(records <= size); /* every record takes at least a byte */
	}
	FUZZ_CHECK(rc == 0 || rc < 0);
	FUZZ_CHECK(lc_reader_next(r, &rec) == rc); /* an end or error sticks */
	FUZZ_CHECK(rc == 0 || *lc_reader_error(r));
	for (size_t i = 0; i < lc_reader_damage_count(r); i++) {
		const lc_reader_damage *d = lc_reader_damage_at(r, i);
		if (d)
			FUZZ_CHECK(d->start < d->end && d->end <= size && d->reason[0]);
	}
	FUZZ_CHECK(lc_reader_damage_bytes(r) <= size);
	FUZZ_CHECK(lc_reader_bytes_read(r) <= size);
	lc_reader_close(r);
	close(fd);
	return 0;
}
