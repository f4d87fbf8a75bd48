/*
 * cli.h - entry points of the subcommands (one file each: cmd_NAME.c).
 * Each takes argv with argv[0] = the subcommand name and returns the exit
 * status: 0 success, 1 failure of the work, 2 bad usage.
 */
#ifndef MG_CLI_TABLE_H
#define MG_CLI_TABLE_H

int mg_cmd_record(int argc, char **argv);
int mg_cmd_dump(int argc, char **argv);
int mg_cmd_merge(int argc, char **argv);
int mg_cmd_top(int argc, char **argv);
int mg_cmd_query(int argc, char **argv);
int mg_cmd_export(int argc, char **argv);
int mg_cmd_push(int argc, char **argv);
int mg_cmd_explain(int argc, char **argv);
int mg_cmd_spans(int argc, char **argv);

/* Table of commands in the order --help lists them. */
#define MG_CLI_COMMANDS                                                                            \
	{"record", mg_cmd_record, "run a program with the runtime preloaded"},                     \
	    {"dump", mg_cmd_dump, "print the records of a log as text"},                           \
	    {"merge", mg_cmd_merge, "load logs into one SQLite database"},                         \
	    {"top", mg_cmd_top, "hot functions, overall or per span"},                             \
	    {"spans", mg_cmd_spans, "the slowest spans of a name: inputs, hottest function"},      \
	    {"explain", mg_cmd_explain, "why the slowest spans of a name are slow"},               \
	    {"query", mg_cmd_query, "run SQL on a merged database"},                               \
	    {"export", mg_cmd_export, "export to Firefox Profiler, Perfetto, pprof..."},           \
	    {"push", mg_cmd_push, "send the spans to an OpenTelemetry collector (OTLP/HTTP)"},

#endif
