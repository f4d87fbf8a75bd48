/*
 * xt.h - helpers for the export tests (prefix xt_): build the
 * fixture database, locate the real readers installed by
 * scripts/install-readers.sh and drive them. Running commands and one-value
 * SQL come from tests/lib (tl.h).
 * Single-threaded test processes; each test gets its own temp directory.
 */
#ifndef XT_H
#define XT_H

#include <stddef.h>
#include <stdint.h>

struct xt {
	char dir[256]; /* temp directory, removed by xt_teardown */
	char db[320];  /* the fixture database inside it */
};

/* Creates the temp dir and the fixture database (tests/export/fixture.sql). */
void xt_setup(struct xt *t);
void xt_teardown(struct xt *t);
/* The same as cmocka per-test fixtures: xt_fixture_setup puts a new set-up
 * struct xt into *state; xt_fixture_teardown tears down and frees *state,
 * a struct xt or a struct whose first member is one. */
int xt_fixture_setup(void **state);
int xt_fixture_teardown(void **state);
/* The readers' prefix; fails the test naming scripts/install-readers.sh when
 * a reader is missing, or skips it when SPANPROF_SKIP_READERS=1. */
const char *xt_readers(void);
/* Path of a file below SPANPROF_SOURCE_DIR/tests/export. */
const char *xt_src(const char *name);
/* profiler-cli: the command prefix for readers dir r with HOME=home. */
void xt_pcli_prefix(char *buf, size_t n, const char *readers, const char *home);
/* Runs profiler-cli ARGS in session; fails the test on error; returns the
 * output (malloc'd). A failed command is tried once more. */
char *xt_pcli(const char *prefix, const char *session, const char *args);
/* Loads path into a new session. profiler-cli gives its daemon 500 ms to
 * start, too little on a loaded machine: when that is the failure, the
 * daemon goes on starting, and this waits (up to ~30 s) until the session
 * answers. */
void xt_pload(const char *prefix, const char *session, const char *path);
/* Number of entries in dir (other than . and ..). */
int xt_count_files(const char *dir);
/* Sum of the trailing counts of folded-stack lines in text. */
int64_t xt_folded_total(const char *text);

#endif
