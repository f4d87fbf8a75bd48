/*
 * cmd_export.c - 'spanprof export DB --format FMT [-o FILE] [filters]':
 * parses the command line and hands over to mg_export_run (export_common.c)
 * and the per-format writers (export_*.c).
 *
 * Exit status: 0 success, 1 the export failed (garbage, empty database,
 * filter matching nothing, I/O), 2 bad usage. Single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mg_window.h"
#include "export.h"

static const char export_usage[] =
    "usage: spanprof export DB --format FORMAT [-o FILE] [--span NAME]\n"
    "                       [--from T] [--to T] [--span-frames]\n"
    "\n"
    "Export a merged database to a viewer's format:\n"
    "  firefox     Firefox Profiler processed profile (JSON): one track per\n"
    "              thread, samples with stacks, spans as markers with attributes\n"
    "  chrome      Chrome trace event JSON (Perfetto UI, chrome://tracing,\n"
    "              DevTools): spans as X events, samples as ProfileChunks\n"
    "  pprof       gzipped profile.proto for 'go tool pprof': samples labelled\n"
    "              with span_id, trace_id (hex, as Pyroscope wants), span_name\n"
    "              and the span's attributes\n"
    "  folded      collapsed stacks for flame graphs ('a;b;c COUNT')\n"
    "  speedscope  speedscope JSON file format\n"
    "  otlp        OpenTelemetry traces: one OTLP/protobuf ExportTraceServiceRequest\n"
    "              (what 'spanprof push' sends); service.name from SPANPROF_SERVICE\n"
    "\n"
    "options:\n"
    "  -f, --format FORMAT  one of the formats above (required)\n"
    "  -o, --output FILE    write FILE (created only on success); default stdout\n"
    "  --span NAME          keep spans named NAME, their descendants, and the\n"
    "                       samples attributed to them\n"
    "  --from T, --to T     keep spans overlapping and samples inside the window\n"
    "                       (T: RFC 3339, -5m relative to now, or ns since the epoch)\n"
    "                       (nanoseconds since the Unix epoch, inclusive)\n"
    "  --span-frames        folded: prefix each stack with its span path\n"
    "  -h, --help           this text\n";

static int parse_format(const char *s, enum mg_export_format *f)
{
	static const struct {
		const char *name;
		enum mg_export_format format;
	} names[] = {
	    {"firefox", MG_EXPORT_FIREFOX}, {"chrome", MG_EXPORT_CHROME},
	    {"perfetto", MG_EXPORT_CHROME}, {"pprof", MG_EXPORT_PPROF},
	    {"folded", MG_EXPORT_FOLDED},   {"speedscope", MG_EXPORT_SPEEDSCOPE},
	    {"otlp", MG_EXPORT_OTLP},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(s, names[i].name)) {
			*f = names[i].format;
			return 0;
		}
	return -1;
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "spanprof export: %s%s%s (try 'spanprof export --help')\n", what,
	        arg ? ": " : "", arg ? arg : "");
	return 2;
}

enum { OPT_SPAN = 256, OPT_FROM, OPT_TO, OPT_SPAN_FRAMES };

static int parse_args(int argc, char **argv, struct mg_export_opts *o, int *help)
{
	static const struct option longopts[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"span", required_argument, NULL, OPT_SPAN},
	    {"from", required_argument, NULL, OPT_FROM},
	    {"to", required_argument, NULL, OPT_TO},
	    {"span-frames", no_argument, NULL, OPT_SPAN_FRAMES},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int have_format = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
		if (c == 'f' && parse_format(optarg, &o->format) != 0)
			return usage_error("unknown format", optarg);
		have_format |= c == 'f';
		if (c == 'o')
			o->out_path = optarg;
		else if (c == OPT_SPAN)
			o->span_name = optarg;
		else if (c == OPT_FROM && mg_parse_time_ns(optarg, &o->from_ns) != 0)
			return usage_error(
			    "--from wants a time (RFC 3339, -5m, or ns since the epoch)", optarg);
		else if (c == OPT_TO && mg_parse_time_ns(optarg, &o->to_ns) != 0)
			return usage_error(
			    "--to wants a time (RFC 3339, -5m, or ns since the epoch)", optarg);
		else if (c == OPT_SPAN_FRAMES)
			o->span_frames = 1;
		else if (c == 'h')
			*help = 1;
		else if (c == '?')
			return usage_error("unknown or incomplete option", argv[optind - 1]);
	}
	if (*help)
		return 0;
	if (optind != argc - 1)
		return usage_error(optind >= argc ? "missing DB" : "one DB expected", NULL);
	if (!have_format)
		return usage_error("missing --format", NULL);
	if (o->from_ns > o->to_ns)
		return usage_error("--from is after --to", NULL);
	o->db_path = argv[optind];
	return 0;
}

int mg_cmd_export(int argc, char **argv)
{
	struct mg_export_opts o = {.from_ns = INT64_MIN, .to_ns = INT64_MAX};
	int help = 0;
	int rc = parse_args(argc, argv, &o, &help);
	if (rc)
		return rc;
	if (help) {
		fputs(export_usage, stdout);
		return 0;
	}
	o.progress = isatty(STDERR_FILENO);
	return mg_export_run(&o) == 0 ? 0 : 1;
}
