/*
 * mg_readonly.h - makes a database connection read-only in fact, for
 * 'spanprof query', which runs SQL that the user (or whoever wrote the
 * database, through its views) chose.
 *
 * Opening with SQLITE_OPEN_READONLY protects the database file only.
 * SQL can still write elsewhere (VACUUM INTO and ATTACH create files) or
 * reach native code through pointer-taking functions (fts3_tokenizer with
 * a forged pointer crashes the process; load_extension runs any library).
 * mg_readonly_guard closes those doors with SQLite's own means:
 *   - an authorizer that allows only reading: SELECT, reading columns,
 *     recursive CTEs, functions except a deny list (fts3_tokenizer,
 *     load_extension), and a fixed set of PRAGMAs that only report; it
 *     refuses ATTACH/DETACH (so VACUUM, which attaches, too), every write,
 *     CREATE/DROP/ALTER (TEMP objects included) and transactions;
 *   - SQLITE_DBCONFIG_DEFENSIVE on; FTS3 tokenizer registration, extension
 *     loading and trusted schema off (a view may only call functions that
 *     SQLite marks innocuous).
 * docs/design.md ("query is read-only") says why this and not a copy.
 *
 * Threading: the guard belongs to its connection's thread and must live as
 * long as the connection. Not signal-safe.
 */
#ifndef MG_READONLY_H
#define MG_READONLY_H

#include <sqlite3.h>

typedef struct mg_readonly {
	/* Why the last statement was refused ("" if it was not): one phrase
	 * such as "ATTACH (a new database file)". Cleared by each prepare. */
	char refused[160];
} mg_readonly;

/* Installs the authorizer and the settings on db. ro is not copied: it
 * must outlive db. Returns 0, or -1 when SQLite refused a setting (the
 * message is in sqlite3_errmsg(db)). */
int mg_readonly_guard(sqlite3 *db, mg_readonly *ro);

#endif
