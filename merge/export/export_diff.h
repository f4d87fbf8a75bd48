/*
 * export_diff.h - the differential profiles of 'spanprof explain --diff':
 * the slow and the rest instances of one span name as two pprof files (for
 * 'go tool pprof -diff_base REST SLOW') and one speedscope file holding both
 * profiles side by side. Values are nanoseconds of sampled time per
 * instance of the span (a group's sample weights over its instance count),
 * so that slow and rest compare per request however many there are of each
 * (docs/cookbook.md, "Differential profiles").
 *
 * Threading: single-threaded. Files are created beside the target
 * (mkstemp: O_EXCL, mode 0600) and renamed over it on success only.
 */
#ifndef MG_EXPORT_DIFF_H
#define MG_EXPORT_DIFF_H

#include <stddef.h>
#include <stdint.h>

/* One sampled stack of the compared span's instances. */
struct mg_xdiff_stack {
	const int32_t *funcs; /* function indices, leaf first */
	int32_t len;
	double slow_ns, rest_ns; /* sample weight per slow / per rest instance */
	int64_t slow_samples, rest_samples;
};

/* What explain compared; nothing is owned. */
struct mg_xdiff {
	const char *span;
	const char *mode;   /* sampler mode: "cpu", "wall", or "" */
	char *const *funcs; /* function names */
	size_t n_funcs;
	const struct mg_xdiff_stack *stacks;
	size_t n_stacks;
	size_t n_slow, n_rest; /* instances */
	double slow_pct;
	int64_t slow_min_dur_ns; /* the shortest slow instance */
};

/* Writes PREFIX.slow.pb.gz, PREFIX.rest.pb.gz and PREFIX.speedscope.json.
 * Returns 0, or -1 with a one-line reason recorded (common/mg_err.h). */
int mg_xdiff_write(const struct mg_xdiff *d, const char *prefix);

#endif
