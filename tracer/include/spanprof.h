/*
 * spanprof.h - the public API of spanprof: span tracing joined with
 * statistical profiling. What is not in this header is not API.
 *
 * Threading: every function is thread-safe unless its comment says otherwise.
 * Signal safety: stated per function; the hot-path calls never lock.
 */
#ifndef SPANPROF_H
#define SPANPROF_H

#include <stddef.h>
#include <stdint.h>

#define SPANPROF_VERSION_MAJOR 0
#define SPANPROF_VERSION_MINOR 1
#define SPANPROF_VERSION_PATCH 0
#define SPANPROF_VERSION_NUMBER                                                \
	(SPANPROF_VERSION_MAJOR * 10000 + SPANPROF_VERSION_MINOR * 100 +         \
	 SPANPROF_VERSION_PATCH)

#if defined(SPANPROF_BUILDING) && defined(__GNUC__)
#define SP_API __attribute__((visibility("default")))
#else
#define SP_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Errors: functions return 0 or a negative -SP_E... code. The list also
 * generates the strings of sp_strerror(). */
#define SP_LIST_ERRORS(X)                                                      \
	X(OK, 0, "success")                                                    \
	X(INVAL, 1, "invalid argument")                                        \
	X(NOMEM, 2, "out of memory")                                           \
	X(IO, 3, "input/output error")                                         \
	X(STATE, 4, "wrong state (already started, or not started)")           \
	X(CORRUPT, 5, "damaged or truncated data")                             \
	X(VERSION, 6, "unsupported format version")                            \
	X(PERM, 7, "permission denied")                                        \
	X(NOTLOG, 8, "not a spanprof log")                                     \
	X(EXISTS, 9, "already exists")                                         \
	X(UNSUPPORTED, 10, "not supported here")

#define SP_ERROR_ENUM_(name, code, text) SP_E##name = code,
enum { SP_LIST_ERRORS(SP_ERROR_ENUM_) SP_E_COUNT_ };
#undef SP_ERROR_ENUM_

/* Returns a static string for 0 or -SP_E... (sign ignored). Signal-safe. */
SP_API const char *sp_strerror(int err);
/* SPANPROF_VERSION_NUMBER of the library actually loaded. Signal-safe. */
SP_API unsigned sp_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SPANPROF_H */
