/*
 * fuzz_helpers.h - what the libFuzzer targets share: a check that aborts
 * (so the fuzzer records the input) and a way to hand bytes to code that
 * reads a file by path, without touching the disk.
 *
 * The targets are built and run by tests/fuzz/run_fuzz.sh (ctest fuzz_*),
 * with clang -fsanitize=fuzzer,address,undefined: a crash, a read past a
 * buffer, undefined behaviour, a leak or a failed FUZZ_CHECK ends the run
 * with the input saved.
 *
 * Threading: libFuzzer calls a target from one thread.
 */
#ifndef FUZZ_HELPERS_H
#define FUZZ_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* An invariant of the code under test: abort when it does not hold. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Writes data to an anonymous in-memory file; path gets a name that open()
 * accepts (/proc/self/fd/N). Returns the fd (close it when done). */
static inline int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t path_len)
{
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	for (size_t off = 0; off < size;) {
		ssize_t n = write(fd, data + off, size - off);
		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	snprintf(path, path_len, "/proc/self/fd/%d", fd);
	return fd;
}

/* A copy of data in a heap block of exactly size bytes, so that ASan sees
 * any read past the end (libFuzzer's own buffer is exact too; the copy
 * keeps the guarantee when a target splits its input). */
static inline uint8_t *fuzz_exact_copy(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);
	FUZZ_CHECK(p != NULL);
	for (size_t i = 0; i < size; i++)
		p[i] = data[i];
	return p;
}

#endif
