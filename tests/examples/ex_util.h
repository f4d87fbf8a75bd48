/*
 * ex_util.h - helpers for the examples' tests: a scratch directory that
 * the test runs in, with $SP = the spanprof command for tl_sh's shell
 * commands, and the path of a built example. Running commands and
 * one-value SQL come from tests/lib (tl.h).
 *
 * Threading: single-threaded tests.
 */
#ifndef EX_UTIL_H
#define EX_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh empty directory under $SPANPROF_BUILD_DIR/ex-tmp (or /tmp); the
 * process changes into it. Returns its path (static storage). */
const char *ex_scratch(const char *tag);
/* Removes the scratch directory (call at the end of a passing test; a
 * failing test leaves it for inspection). */
void ex_scratch_remove(void);
/* Path of a built example program: $SPANPROF_BUILD_DIR/examples/NAME/NAME. */
const char *ex_program(const char *name);
#endif
