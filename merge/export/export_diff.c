/*
 * export_diff.c - see export_diff.h. explain has already aggregated the
 * samples of the compared instances per (slow|rest, stack), with each
 * stack's functions; this file only writes them out.
 *
 * pprof: one Profile message built in memory (a few thousand stacks at
 * most: explain's distinct stacks), one Function and one Location per
 * function (explain compares functions, not lines), one sample per stack
 * with one value: sampled nanoseconds per instance of the span, type
 * "cpu" or "wall" after the sampler's mode. Both files share the function
 * and location ids, and pprof's -diff_base subtracts the base's values
 * per stack, so 'go tool pprof -top -diff_base REST SLOW' lists what a
 * slow instance spends more than an ordinary one, function by function,
 * in the units explain reports (slow_ns_per_span - rest_ns_per_span).
 *
 * speedscope: one file, two "sampled" profiles (slow, then rest) over
 * shared frames, weights in nanoseconds per instance; speedscope shows
 * one at a time with a switcher, in the same units.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "export.h" /* mg_strtab, mg_json_str */
#include "export_diff.h"
#include "export_pprof.pb-c.h"
#include "mg_err.h"
#include "spanprof.h"

/* --- output files: a temp file beside the target, renamed on success --- */

typedef struct xd_file {
	char *path, *tmp;
	int fd;
} xd_file;

static int xd_open(xd_file *f, const char *prefix, const char *suffix)
{
	struct stat sb;
	f->fd = -1;
	f->tmp = NULL;
	if (asprintf(&f->path, "%s%s", prefix, suffix) < 0) {
		f->path = NULL;
		mg_err_set(-SP_ENOMEM, "out of memory");
		return -1;
	}
	if (lstat(f->path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		mg_err_set(-SP_EINVAL, "%s: exists and is not a regular file", f->path);
		return -1;
	}
	if (asprintf(&f->tmp, "%s.tmp.XXXXXX", f->path) < 0) {
		f->tmp = NULL;
		mg_err_set(-SP_ENOMEM, "out of memory");
		return -1;
	}
	f->fd = mkstemp(f->tmp); /* O_EXCL, mode 0600: the names may be inputs */
	if (f->fd < 0) {
		mg_err_set(-SP_EIO, "%s: %s", f->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Renames the temp file over the target if err is 0, else removes it. */
static int xd_close(xd_file *f, int err)
{
	if (f->fd >= 0 && close(f->fd) != 0 && !err) {
		mg_err_set(-SP_EIO, "%s: %s", f->path, strerror(errno));
		err = -1;
	}
	if (f->fd >= 0 && !err && rename(f->tmp, f->path) != 0) {
		mg_err_set(-SP_EIO, "%s: %s", f->path, strerror(errno));
		err = -1;
	}
	if (f->fd >= 0 && err)
		unlink(f->tmp);
	free(f->path);
	free(f->tmp);
	return err;
}

/* --- pprof --- */

typedef struct xd_pprof {
	mg_strtab strs;
	Perftools__Profiles__Function *fn;
	Perftools__Profiles__Function **fn_ptrs;
	Perftools__Profiles__Location *loc;
	Perftools__Profiles__Location **loc_ptrs;
	Perftools__Profiles__Line *lines;
	Perftools__Profiles__Line **line_ptrs;
	Perftools__Profiles__Sample *samples;
	Perftools__Profiles__Sample **sample_ptrs;
	uint64_t *loc_ids; /* every sample's location ids, one array */
	int64_t *values;   /* one value per sample */
	int err;
} xd_pprof;

static int64_t xd_str(xd_pprof *p, const char *s)
{
	int64_t i = mg_strtab_intern(&p->strs, s ? s : "", NULL);
	if (i < 0) {
		p->err = -1;
		return 0;
	}
	return i;
}

static int xd_pprof_alloc(xd_pprof *p, const struct mg_xdiff *d)
{
	size_t nf = d->n_funcs, ns = d->n_stacks, nloc = 0;
	for (size_t i = 0; i < ns; i++)
		nloc += (size_t)d->stacks[i].len;
	p->fn = calloc(nf + 1, sizeof *p->fn);
	p->fn_ptrs = calloc(nf + 1, sizeof *p->fn_ptrs);
	p->loc = calloc(nf + 1, sizeof *p->loc);
	p->loc_ptrs = calloc(nf + 1, sizeof *p->loc_ptrs);
	p->lines = calloc(nf + 1, sizeof *p->lines);
	p->line_ptrs = calloc(nf + 1, sizeof *p->line_ptrs);
	p->samples = calloc(ns + 1, sizeof *p->samples);
	p->sample_ptrs = calloc(ns + 1, sizeof *p->sample_ptrs);
	p->loc_ids = calloc(nloc + 1, sizeof *p->loc_ids);
	p->values = calloc(ns + 1, sizeof *p->values);
	return p->fn && p->fn_ptrs && p->loc && p->loc_ptrs && p->lines && p->line_ptrs &&
	               p->samples && p->sample_ptrs && p->loc_ids && p->values
	           ? 0
	           : -1;
}

static void xd_pprof_free(xd_pprof *p)
{
	mg_strtab_free(&p->strs);
	free(p->fn), free(p->fn_ptrs), free(p->loc), free(p->loc_ptrs);
	free(p->lines), free(p->line_ptrs), free(p->samples), free(p->sample_ptrs);
	free(p->loc_ids), free(p->values);
}

/* Functions and locations: id = function index + 1, the same in both files. */
static void xd_pprof_functions(xd_pprof *p, const struct mg_xdiff *d)
{
	for (size_t i = 0; i < d->n_funcs; i++) {
		perftools__profiles__function__init(&p->fn[i]);
		p->fn[i].id = i + 1;
		p->fn[i].name = p->fn[i].system_name = xd_str(p, d->funcs[i]);
		p->fn_ptrs[i] = &p->fn[i];
		perftools__profiles__line__init(&p->lines[i]);
		p->lines[i].function_id = i + 1;
		p->line_ptrs[i] = &p->lines[i];
		perftools__profiles__location__init(&p->loc[i]);
		p->loc[i].id = i + 1;
		p->loc[i].mapping_id = 1;
		p->loc[i].n_line = 1;
		p->loc[i].line = &p->line_ptrs[i];
		p->loc_ptrs[i] = &p->loc[i];
	}
}

/* The samples of one part (slow or rest); those that round to 0 ns per
 * instance are left out. Returns the number of samples. */
static size_t xd_pprof_samples(xd_pprof *p, const struct mg_xdiff *d, int slow)
{
	size_t n = 0, at = 0;
	for (size_t i = 0; i < d->n_stacks; i++) {
		const struct mg_xdiff_stack *s = &d->stacks[i];
		int64_t v = llround(slow ? s->slow_ns : s->rest_ns);
		if (v <= 0 || s->len <= 0)
			continue;
		Perftools__Profiles__Sample *out = &p->samples[n];
		perftools__profiles__sample__init(out);
		for (int32_t j = 0; j < s->len; j++)
			p->loc_ids[at + (size_t)j] = (uint64_t)s->funcs[j] + 1;
		out->location_id = &p->loc_ids[at];
		out->n_location_id = (size_t)s->len;
		at += (size_t)s->len;
		p->values[n] = v;
		out->value = &p->values[n];
		out->n_value = 1;
		p->sample_ptrs[n++] = out;
	}
	return n;
}

static int xd_pprof_write(const struct mg_xdiff *d, int slow, const char *prefix)
{
	xd_pprof p = {0};
	xd_file f = {0};
	int err = mg_strtab_init(&p.strs) || xd_pprof_alloc(&p, d) ? -1 : 0;
	if (err) {
		xd_pprof_free(&p);
		mg_err_set(-SP_ENOMEM, "out of memory");
		return -1;
	}
	Perftools__Profiles__Profile m = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType *types = &type;
	char comment[512];
	int64_t comment_id[1];
	xd_str(&p, "");
	type.type = xd_str(&p, d->mode && !strcmp(d->mode, "wall") ? "wall" : "cpu");
	type.unit = xd_str(&p, "nanoseconds");
	snprintf(comment, sizeof comment,
	         "spanprof explain --diff: span \"%s\", %s: %zu instances (%s%g%%); values are"
	         " sampled nanoseconds per instance (sample weights / %zu)",
	         d->span, slow ? "the slowest" : "the rest", slow ? d->n_slow : d->n_rest,
	         slow ? "the slowest " : "all but the slowest ", d->slow_pct,
	         slow ? d->n_slow : d->n_rest);
	comment_id[0] = xd_str(&p, comment);
	xd_pprof_functions(&p, d);
	/* One mapping for every location: pprof wants a main binary's name;
	 * the functions are given, so it symbolizes nothing. */
	Perftools__Profiles__Mapping map = PERFTOOLS__PROFILES__MAPPING__INIT;
	Perftools__Profiles__Mapping *maps = &map;
	map.id = 1;
	map.filename = xd_str(&p, "spanprof explain");
	map.has_functions = 1;
	m.n_mapping = 1;
	m.mapping = &maps;
	m.n_sample_type = 1;
	m.sample_type = &types;
	m.period_type = &type;
	m.default_sample_type = type.type;
	m.n_comment = 1;
	m.comment = comment_id;
	m.n_function = d->n_funcs;
	m.function = p.fn_ptrs;
	m.n_location = d->n_funcs;
	m.location = p.loc_ptrs;
	m.n_sample = xd_pprof_samples(&p, d, slow);
	m.sample = p.sample_ptrs;
	m.n_string_table = p.strs.count;
	m.string_table = p.strs.strs;
	err = p.err;
	size_t len = perftools__profiles__profile__get_packed_size(&m);
	uint8_t *buf = err ? NULL : malloc(len + 1);
	if (!err && !buf) {
		mg_err_set(-SP_ENOMEM, "out of memory");
		err = -1;
	}
	if (!err)
		perftools__profiles__profile__pack(&m, buf);
	if (!err && !(err = xd_open(&f, prefix, slow ? ".slow.pb.gz" : ".rest.pb.gz"))) {
		int fd = dup(f.fd);
		gzFile gz = fd >= 0 ? gzdopen(fd, "wb") : NULL;
		if (!gz && fd >= 0)
			close(fd);
		if (!gz || (len && gzwrite(gz, buf, (unsigned)len) != (int)len))
			err = -1;
		if (gz && gzclose(gz) != Z_OK)
			err = -1;
		if (err)
			mg_err_set(-SP_EIO, "%s: writing failed", f.path);
	}
	err = xd_close(&f, err);
	free(buf);
	xd_pprof_free(&p);
	return err;
}

/* --- speedscope --- */

static void xd_speedscope_profile(FILE *out, const struct mg_xdiff *d, int slow)
{
	double total = 0;
	fprintf(out, "{\"type\": \"sampled\", \"name\": ");
	char name[384];
	snprintf(name, sizeof name, "%s: %s (%zu instances), ns per instance", d->span,
	         slow ? "slowest" : "rest", slow ? d->n_slow : d->n_rest);
	mg_json_str(out, name);
	fprintf(out, ", \"unit\": \"nanoseconds\", \"startValue\": 0,\n \"samples\": [");
	int first = 1;
	for (size_t i = 0; i < d->n_stacks; i++) {
		const struct mg_xdiff_stack *s = &d->stacks[i];
		double v = slow ? s->slow_ns : s->rest_ns;
		if (v <= 0 || s->len <= 0)
			continue;
		fprintf(out, "%s[", first ? "" : ",");
		for (int32_t j = s->len - 1; j >= 0; j--) /* speedscope: root first */
			fprintf(out, "%d%s", s->funcs[j], j ? "," : "");
		fputc(']', out);
		first = 0;
	}
	fprintf(out, "],\n \"weights\": [");
	first = 1;
	for (size_t i = 0; i < d->n_stacks; i++) {
		const struct mg_xdiff_stack *s = &d->stacks[i];
		double v = slow ? s->slow_ns : s->rest_ns;
		if (v <= 0 || s->len <= 0)
			continue;
		fprintf(out, "%s%.1f", first ? "" : ",", v);
		total += v;
		first = 0;
	}
	fprintf(out, "], \"endValue\": %.1f}", total);
}

static int xd_speedscope_write(const struct mg_xdiff *d, const char *prefix)
{
	xd_file f = {0};
	int err = xd_open(&f, prefix, ".speedscope.json");
	FILE *out = err ? NULL : fdopen(dup(f.fd), "w");
	if (!err && !out) {
		mg_err_set(-SP_EIO, "%s: %s", f.path, strerror(errno));
		err = -1;
	}
	if (out) {
		char name[320];
		snprintf(name, sizeof name, "spanprof explain --diff %s", d->span);
		fprintf(out, "{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\","
		             " \"exporter\": \"spanprof\", \"name\": ");
		mg_json_str(out, name);
		fprintf(out, ", \"activeProfileIndex\": 0,\n\"shared\": {\"frames\": [");
		for (size_t i = 0; i < d->n_funcs; i++) {
			fprintf(out, "%s\n {\"name\": ", i ? "," : "");
			mg_json_str(out, d->funcs[i]);
			fputc('}', out);
		}
		fprintf(out, "]},\n\"profiles\": [\n");
		xd_speedscope_profile(out, d, 1);
		fprintf(out, ",\n");
		xd_speedscope_profile(out, d, 0);
		fprintf(out, "]}\n");
		if (ferror(out) | (fclose(out) != 0)) {
			mg_err_set(-SP_EIO, "%s: writing failed", f.path);
			err = -1;
		}
	}
	return xd_close(&f, err);
}

int mg_xdiff_write(const struct mg_xdiff *d, const char *prefix)
{
	if (xd_pprof_write(d, 1, prefix) || xd_pprof_write(d, 0, prefix) ||
	    xd_speedscope_write(d, prefix))
		return -1;
	return 0;
}
