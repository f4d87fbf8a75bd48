/*
 * rec_exe.h - what `spanprof record` checks in the program's executable
 * before it runs it: that the runtime can be preloaded into it at all.
 * Private to the CLI.
 *
 * Threading: single-threaded CLI. Not signal-safe.
 */
#ifndef REC_EXE_H
#define REC_EXE_H

#include <stddef.h>

typedef enum rec_exe_kind {
	REC_EXE_OK = 0, /* dynamic ELF, or not ELF (a script), or not found */
	REC_EXE_STATIC, /* no PT_INTERP: the dynamic loader never runs */
	REC_EXE_TSAN,   /* built with -fsanitize=thread */
} rec_exe_kind;

/* Finds program as execvp would ($PATH when it holds no '/') and reads its
 * ELF headers. Anything that cannot be read or is not ELF is REC_EXE_OK:
 * exec will report it, or it is a script whose interpreter is dynamic.
 * The path examined is written to path (cap bytes; "" if not found). */
rec_exe_kind rec_exe_inspect(const char *program, char *path, size_t cap);

/* One sentence: why a program of this kind cannot be recorded. */
const char *rec_exe_reason(rec_exe_kind kind);

#endif
