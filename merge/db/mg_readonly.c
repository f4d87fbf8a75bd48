/*
 * mg_readonly.c - the read-only guard of 'spanprof query' (mg_readonly.h).
 *
 * The authorizer is an allow list: an action code SQLite adds in a later
 * version is refused until someone decides it only reads. SQLite calls it
 * while preparing, so a refused statement never starts; it also runs for
 * the SQL inside views, so a crafted database cannot smuggle a call in.
 *
 * One exception to "no writes": SQLite authorizes an UPDATE of
 * main.sqlite_master when it sets up an eponymous virtual table
 * (json_each, pragma_table_info, dbstat), which is only reading. That is
 * allowed; a real write there still fails, because the file is opened
 * read-only and SQLITE_DBCONFIG_DEFENSIVE forbids writing the schema.
 *
 * Threading: as the connection.
 */
#include <stdio.h>
#include <string.h>

#include "mg_readonly.h"

/* Functions that take pointers or load code: refused by name. */
static const char *const mg_denied_functions[] = {"fts3_tokenizer", "load_extension"};

/* PRAGMAs that only report. The first group takes a table or index name,
 * the second nothing (a value would set it), the third an optional limit
 * or table name. */
static const char *const mg_pragma_named[] = {"table_info", "table_xinfo", "index_list",
                                              "index_info", "index_xinfo", "foreign_key_list"};
static const char *const mg_pragma_bare[] = {
    "table_list",   "database_list",   "collation_list", "function_list",  "module_list",
    "pragma_list",  "compile_options", "user_version",   "application_id", "schema_version",
    "data_version", "page_count",      "page_size",      "freelist_count", "encoding"};
static const char *const mg_pragma_checks[] = {"integrity_check", "quick_check",
                                               "foreign_key_check"};

#define MG_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int mg_in(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; name && i < n; i++)
		if (!sqlite3_stricmp(name, list[i]))
			return 1;
	return 0;
}

static int mg_pragma_ok(const char *name, const char *arg)
{
	if (mg_in(name, mg_pragma_named, MG_COUNT(mg_pragma_named)) ||
	    mg_in(name, mg_pragma_checks, MG_COUNT(mg_pragma_checks)))
		return 1;
	return !arg && mg_in(name, mg_pragma_bare, MG_COUNT(mg_pragma_bare));
}

/* sqlite_master, sqlite_temp_master, sqlite_schema, ... */
static int mg_is_schema(const char *table)
{
	return table && !sqlite3_strnicmp(table, "sqlite_", 7);
}

static int mg_refuse(mg_readonly *ro, const char *what, const char *name)
{
	snprintf(ro->refused, sizeof ro->refused, "%s%s%s", what, name ? " " : "",
	         name ? name : "");
	return SQLITE_DENY;
}

static int mg_authorize(void *arg, int action, const char *a1, const char *a2, const char *db,
                        const char *trigger)
{
	mg_readonly *ro = arg;
	(void)trigger;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_FUNCTION:
		if (mg_in(a2, mg_denied_functions, MG_COUNT(mg_denied_functions)))
			return mg_refuse(ro, "the function", a2);
		return SQLITE_OK;
	case SQLITE_PRAGMA:
		if (mg_pragma_ok(a1, a2))
			return SQLITE_OK;
		return mg_refuse(ro, a2 ? "setting PRAGMA" : "PRAGMA", a1);
	case SQLITE_UPDATE:
		if (a1 && db && !strcmp(db, "main") && !sqlite3_stricmp(a1, "sqlite_master"))
			return SQLITE_OK; /* eponymous virtual tables (see the top) */
		if (mg_is_schema(a1))
			return mg_refuse(ro, "statements that change the schema", NULL);
		return mg_refuse(ro, "UPDATE of", a1);
	case SQLITE_ATTACH:
		return mg_refuse(ro, "ATTACH and VACUUM (they write database files)", NULL);
	case SQLITE_DETACH:
		return mg_refuse(ro, "DETACH", NULL);
	case SQLITE_INSERT:
	case SQLITE_DELETE:
		if (mg_is_schema(a1)) /* CREATE and DROP write the schema table first */
			return mg_refuse(ro, "statements that change the schema", NULL);
		return mg_refuse(ro, action == SQLITE_INSERT ? "INSERT into" : "DELETE from", a1);
	case SQLITE_TRANSACTION:
	case SQLITE_SAVEPOINT:
		return mg_refuse(ro, "transactions", NULL);
	default:
		return mg_refuse(ro, "statements that change the schema or data", NULL);
	}
}

int mg_readonly_guard(sqlite3 *db, mg_readonly *ro)
{
	static const int off[] = {SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER,
	                          SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
	                          SQLITE_DBCONFIG_TRUSTED_SCHEMA};
	ro->refused[0] = '\0';
	for (size_t i = 0; i < MG_COUNT(off); i++)
		if (sqlite3_db_config(db, off[i], 0, (int *)NULL) != SQLITE_OK)
			return -1;
	if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL) != SQLITE_OK)
		return -1;
	return sqlite3_set_authorizer(db, mg_authorize, ro) == SQLITE_OK ? 0 : -1;
}
