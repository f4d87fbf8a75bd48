/*
 * quickstart.c - the example the README shows: a "server" that handles a
 * list of generated requests. Each request is a span "request" with the
 * attributes bytes (int) and kind (string), and child spans "parse" and
 * "compress". Parsing is hot in a different function per kind (json:
 * parse_json_document, csv: parse_csv_rows, xml: parse_xml_tags), so
 * `spanprof top DB --span parse --by kind` shows which input makes which
 * code hot. CPU-bound, about 1-2 s in total on a small machine.
 *
 * Runs the same linked (sp_start/sp_stop below) or driven from outside
 * (`spanprof record`, or SPANPROF_OUT=DIR: the library starts by itself
 * and sp_start returns -SP_ESTATE, which is fine).
 *
 * Usage: quickstart [-n REQUESTS] [-o DIR]
 * Threading: single-threaded. Signal safety: n/a.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spanprof.h>

enum { KIND_JSON, KIND_CSV, KIND_XML, KIND_COUNT };
static const char *const kind_names[KIND_COUNT] = {"json", "csv", "xml"};

typedef struct request {
	int kind;
	size_t bytes;
	char *body;
} request;

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* A body that looks enough like its kind for the parsers to chew on. */
static void fill_body(request *r)
{
	static const char *const alphabet[KIND_COUNT] = {"{\"k\":1,}[] ", "a,b,1,2\n", "<a>x</a> "};
	const char *chars = alphabet[r->kind];
	size_t n = strlen(chars);
	r->body = malloc(r->bytes + 1);
	for (size_t i = 0; i < r->bytes; i++)
		r->body[i] = chars[rng_next() % n];
	r->body[r->bytes] = '\0';
}

/* The three parsers do comparable work but live in different functions:
 * noinline keeps them apart in the profile. */
static __attribute__((noinline)) uint64_t parse_json_document(const char *s, size_t n)
{
	uint64_t depth = 0, h = 1469598103934665603ULL;
	for (int pass = 0; pass < 24; pass++)
		for (size_t i = 0; i < n; i++) {
			depth += (s[i] == '{' || s[i] == '[') - (s[i] == '}' || s[i] == ']');
			h = (h ^ (uint64_t)s[i] ^ depth) * 1099511628211ULL;
		}
	return h;
}

static __attribute__((noinline)) uint64_t parse_csv_rows(const char *s, size_t n)
{
	uint64_t fields = 0, h = 7;
	for (int pass = 0; pass < 8; pass++)
		for (size_t i = 0; i < n; i++) {
			fields += s[i] == ',' || s[i] == '\n';
			h = h * 31 + (uint64_t)s[i] + fields;
		}
	return h;
}

static __attribute__((noinline)) uint64_t parse_xml_tags(const char *s, size_t n)
{
	uint64_t tags = 0, h = 11;
	for (int pass = 0; pass < 12; pass++)
		for (size_t i = 0; i < n; i++) {
			tags += s[i] == '<';
			h = (h << 5) - h + (uint64_t)s[i] + tags;
		}
	return h;
}

/* Run-length "compression": same cost for every kind. */
static __attribute__((noinline)) size_t compress_block(const char *s, size_t n)
{
	size_t out = 0;
	for (int pass = 0; pass < 4; pass++)
		for (size_t i = 0; i < n;) {
			size_t run = 1;
			while (i + run < n && s[i + run] == s[i] && run < 255)
				run++;
			out += 2;
			i += run;
		}
	return out;
}

static uint64_t parse(const request *r)
{
	SP_SCOPE("parse");
	switch (r->kind) {
	case KIND_JSON:
		return parse_json_document(r->body, r->bytes);
	case KIND_CSV:
		return parse_csv_rows(r->body, r->bytes);
	default:
		return parse_xml_tags(r->body, r->bytes);
	}
}

static uint64_t handle_request(const request *r)
{
	SP_SCOPE(span, "request");
	sp_attr_int(span, "bytes", (int64_t)r->bytes);
	sp_attr_str(span, "kind", kind_names[r->kind]);
	uint64_t h = parse(r);
	sp_span c = sp_begin("compress");
	size_t out = compress_block(r->body, r->bytes);
	sp_attr_int(c, "out_bytes", (int64_t)out);
	sp_end(c);
	return h ^ out;
}

static int parse_args(int argc, char **argv, int *requests, const char **out_dir)
{
	int opt;
	while ((opt = getopt(argc, argv, "n:o:h")) != -1) {
		if (opt == 'n' && atoi(optarg) > 0)
			*requests = atoi(optarg);
		else if (opt == 'o')
			*out_dir = optarg;
		else
			return -1;
	}
	return optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
	int requests = 1000;
	const char *out_dir = NULL;
	if (parse_args(argc, argv, &requests, &out_dir) != 0) {
		fprintf(stderr, "usage: quickstart [-n REQUESTS] [-o DIR]\n");
		return 2;
	}
	sp_config cfg = {.out_dir = out_dir};
	int rc = sp_start(&cfg);
	if (rc != 0 && rc != -SP_ESTATE) /* ESTATE: already started from outside */
		fprintf(stderr, "quickstart: tracing off (%s)\n", sp_strerror(rc));

	request *reqs = calloc((size_t)requests, sizeof *reqs);
	for (int i = 0; i < requests; i++) {
		reqs[i].kind = (int)(rng_next() % KIND_COUNT);
		reqs[i].bytes = 4096 + rng_next() % (64 * 1024);
		fill_body(&reqs[i]);
	}
	uint64_t checksum = 0;
	for (int i = 0; i < requests; i++)
		checksum ^= handle_request(&reqs[i]);
	for (int i = 0; i < requests; i++)
		free(reqs[i].body);
	free(reqs);
	printf("quickstart: %d requests, checksum %016llx\n", requests,
	       (unsigned long long)checksum);
	sp_stop();
	return 0;
}
