/*
 * main.c - the spanprof command's dispatcher: one file per subcommand
 * (cmd_*.c), each with one entry function declared in cli.h. An error
 * that a lower layer (db, load, symbols, export) recorded and the command
 * did not print where it went on is printed here, once, as
 * "spanprof COMMAND: TEXT" (common/mg_err.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mg_err.h"
#include "spanprof.h"

static const struct mg_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} mg_commands[] = {MG_CLI_COMMANDS};

static void usage(FILE *out)
{
	fprintf(out, "usage: spanprof COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof mg_commands / sizeof mg_commands[0]; i++)
		fprintf(out, "  %-8s %s\n", mg_commands[i].name, mg_commands[i].summary);
	fprintf(out, "\n'spanprof COMMAND --help' describes one command.\n");
}

/* Warnings of the lower layers: "spanprof COMMAND: warning: TEXT". */
static void mg_cli_warn(void *cmd, const char *text)
{
	fprintf(stderr, "spanprof %s: warning: %s\n", (const char *)cmd, text);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("spanprof %d.%d.%d\n", SPANPROF_VERSION_MAJOR, SPANPROF_VERSION_MINOR,
		       SPANPROF_VERSION_PATCH);
		return 0;
	}
	for (size_t i = 0; i < sizeof mg_commands / sizeof mg_commands[0]; i++)
		if (!strcmp(argv[1], mg_commands[i].name)) {
			mg_warn_set_handler(mg_cli_warn, (void *)mg_commands[i].name);
			int status = mg_commands[i].run(argc - 1, argv + 1);
			/* the one place that prints a lower layer's error */
			mg_err_print(mg_commands[i].name);
			return status;
		}
	fprintf(stderr, "spanprof: unknown command '%s' (try 'spanprof --help')\n", argv[1]);
	return 2;
}
