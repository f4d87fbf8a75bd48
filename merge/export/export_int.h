/*
 * export_int.h - what the files of 'spanprof export' share beyond
 * export.h (private to merge/export/): the steps of a run, each in its
 * file, and a helper. All int functions return 0 or a negative SP_E*
 * code, having recorded one line (common/mg_err.h) that the command
 * prints.
 *
 * Threading: single-threaded.
 */
#ifndef EXPORT_INT_H
#define EXPORT_INT_H

#include "export.h"
#include "mg_err.h"  /* the error a failed step records */
#include "mg_grow.h" /* array growth, for every file of the export */

/* Runs SQL that returns no rows. */
int mg_export_exec(struct mg_export *x, const char *sql);

/* export_filter.c */
int mg_export_open_db(struct mg_export *x);
int mg_export_make_views(struct mg_export *x);
int mg_export_check_selection(struct mg_export *x);
int mg_export_make_thread_samples(struct mg_export *x);

/* export_tables.c */
int mg_export_load_funcs(struct mg_export *x);
int mg_export_load_frames(struct mg_export *x);
int mg_export_load_stacks(struct mg_export *x);
void mg_export_free_tables(struct mg_export *x);

/* export_output.c: the output file (stdout for "-"); close renames the
 * temporary file over the target when rc is 0, else removes it, and
 * returns rc or its own error. */
int mg_export_output_open(struct mg_export *x, char **tmp_path);
int mg_export_output_close(struct mg_export *x, char *tmp_path, int rc);

#endif
