/*
 * mg_stackfuncs.h - fills the stack_funcs table (each stack-trie node with
 * the distinct function names on its path to the root) after the load.
 *
 * Why not the recursive SQL it replaces: that expanded every node's whole
 * path (nodes x depth rows: 290k for a 2,500-sample CPython recording,
 * whose stacks are ~90 frames deep) and sorted them for DISTINCT, which was
 * most of the time of a merge whose symbols came from the cache. Here one
 * ordered scan of stacks joins frames, each node's path is walked in
 * memory with a per-function stamp, and only the distinct rows are
 * inserted, per node in function-name order as before.
 *
 * Threading: the merge thread, which owns db. Not signal-safe.
 */
#ifndef MG_STACKFUNCS_H
#define MG_STACKFUNCS_H

#include <sqlite3.h>

/* Inserts the rows for the stacks of the main database (a parent not in
 * it ends the path). Returns 0, or -1 on a database error or out of
 * memory (with a line on stderr). */
int mg_stack_funcs_fill(sqlite3 *db);

#endif
