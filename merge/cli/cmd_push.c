/*
 * cmd_push.c - 'spanprof push DB --endpoint URL': sends the spans of a
 * merged database to an OpenTelemetry Collector (or any OTLP receiver:
 * Tempo, Jaeger) with OTLP/HTTP protobuf, POST URL/v1/traces.
 *
 * The spans are the ones 'export --format otlp' writes (export_otlp.c:
 * mg_otlp_scan), cut into requests under 4 MiB (a collector's default
 * limit for a request body is higher, a gateway's often lower): each
 * request is an ExportTraceServiceRequest of whole ResourceSpans, each
 * holding one chunk of at most ~1 MiB of one process's spans. A request is
 * sent as soon as the next chunk would overflow it, so memory holds one
 * request and one chunk.
 *
 * Failures (OTLP/HTTP spec, "Failures"): 429, 502, 503, 504 and a refused
 * connection are retried after a pause that doubles from 250 ms (or the
 * server's Retry-After, at most 30 s), up to --retries times (default
 * MG_PUSH_RETRIES, about 8 s of pauses in all); then,
 * or at once for any other error, one line names the endpoint and the
 * reason and the command exits 1. What was sent before stays sent: the
 * line says how many spans made it. A 2xx answer with partial_success
 * (rejected spans) is reported as a warning.
 *
 * HTTP is libcurl (Debian libcurl4-openssl-dev): TLS, proxies
 * ($https_proxy) and redirects as users expect. Single-threaded.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mg_window.h"
#include "export.h"
#include "mg_cli.h"
#include "otlp_trace_service.pb-c.h"
#include "spanprof.h"

#define MG_PUSH_MAX_REQUEST_BYTES (4u << 20) /* a request stays under this */
#define MG_PUSH_CHUNK_BYTES       (1u << 20) /* spans of one process per ResourceSpans */
#define MG_PUSH_RETRIES           5          /* default retries per request */
#define MG_PUSH_FIRST_PAUSE_MS    250
#define MG_PUSH_MAX_PAUSE_MS      30000

static const char push_usage[] =
    "usage: spanprof push DB --endpoint URL [--header K=V]... [--span NAME]\n"
    "                     [--retries N] [--from T] [--to T]\n"
    "\n"
    "Send the spans of a merged database to an OpenTelemetry Collector (or any\n"
    "OTLP/HTTP receiver): protobuf, POST URL/v1/traces, requests under 4 MiB.\n"
    "The spans are those of 'spanprof export --format otlp'; service.name is\n"
    "$SPANPROF_SERVICE, else the program's name.\n"
    "\n"
    "options:\n"
    "  --endpoint URL       the receiver's base URL, e.g. http://localhost:4318\n"
    "  -H, --header K=V     add the HTTP header 'K: V' (authentication); repeatable\n"
    "  --retries N          retries of a request that may succeed later (default 5)\n"
    "  --span NAME          send spans named NAME and their descendants only\n"
    "  --from T, --to T     send spans overlapping the window (T: RFC 3339, -5m\n"
    "                       relative to now, or ns since the epoch)\n"
    "  -h, --help           this text\n"
    "\n"
    "429, 502, 503, 504 and a refused connection are retried with backoff (--retries,\n"
    "pauses from 250 ms doubling, or the server's Retry-After); then, or at once\n"
    "on any other error, one line says why and the exit status is 1.\n";

struct push {
	const char *url; /* endpoint + /v1/traces */
	CURL *curl;
	struct curl_slist *headers;
	struct mg_otlp_buf req;      /* the request being filled */
	struct mg_otlp_buf resource; /* packed Resource of the current process */
	struct mg_otlp_buf rs;       /* one framed ResourceSpans */
	struct mg_otlp_buf answer;   /* response body */
	int64_t req_spans, sent_spans, requests, rejected;
	long retries;
	uint64_t sent_bytes;
	mg_progress progress;
};

static int push_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "spanprof push: %s%s%s (try 'spanprof push --help')\n", what,
	        arg ? ": " : "", arg ? arg : "");
	return 2;
}

static size_t push_collect(char *data, size_t size, size_t n, void *ctx)
{
	struct mg_otlp_buf *b = ctx;
	if (b->len + size * n > 65536) /* only the head is needed */
		return size * n;
	return mg_otlp_buf_put(b, data, size * n) ? 0 : size * n;
}

static void push_pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A 2xx answer may carry partial_success: spans the receiver refused. */
static void push_read_answer(struct push *p)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
	    opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
	        NULL, p->answer.len, p->answer.p);
	if (!r) /* a JSON or empty body: nothing to learn */
		return;
	if (r->partial_success && r->partial_success->rejected_spans > 0) {
		p->rejected += r->partial_success->rejected_spans;
		fprintf(stderr, "spanprof push: warning: %s rejected %" PRId64 " spans: %s\n",
		        p->url, r->partial_success->rejected_spans,
		        r->partial_success->error_message ? r->partial_success->error_message : "");
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
	    r, NULL);
}

/* The text of a failed answer, on one line, shortened. */
static const char *push_answer_text(struct push *p, char *buf, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < p->answer.len && n + 1 < cap && n < 160; i++) {
		unsigned char c = p->answer.p[i];
		buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	buf[n] = 0;
	return buf;
}

/* One POST; 1 = retry, 0 = done, -SP_EIO = failed for good (printed). */
static int push_post_once(struct push *p, long *retry_after_ms)
{
	char err[CURL_ERROR_SIZE] = "", text[192];
	p->answer.len = 0;
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, (const char *)p->req.p);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->req.len);
	curl_easy_setopt(p->curl, CURLOPT_ERRORBUFFER, err);
	CURLcode cc = curl_easy_perform(p->curl);
	long status = 0;
	curl_off_t retry_after_s = 0;
	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(p->curl, CURLINFO_RETRY_AFTER, &retry_after_s);
	*retry_after_ms = retry_after_s > 0 ? (long)retry_after_s * 1000 : 0;
	if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT)
		return 1;
	if (cc != CURLE_OK) {
		fprintf(stderr, "spanprof push: %s: %s\n", p->url,
		        err[0] ? err : curl_easy_strerror(cc));
		return -SP_EIO;
	}
	if (status >= 200 && status < 300) {
		push_read_answer(p);
		return 0;
	}
	if (status == 429 || status == 502 || status == 503 || status == 504)
		return 1;
	fprintf(stderr, "spanprof push: %s answered HTTP %ld: %s\n", p->url, status,
	        push_answer_text(p, text, sizeof text));
	return -SP_EIO;
}

/* Sends the request with retries; empties it on success. */
static int push_send(struct push *p)
{
	if (p->req_spans == 0)
		return 0;
	long pause_ms = MG_PUSH_FIRST_PAUSE_MS, retry_after_ms = 0;
	int rc = 1;
	for (int attempt = 1; rc == 1; attempt++) {
		rc = push_post_once(p, &retry_after_ms);
		if (rc != 1)
			break;
		if (attempt > p->retries) {
			long status = 0;
			curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
			mg_progress_done(&p->progress);
			if (status)
				fprintf(stderr,
				        "spanprof push: %s still answers HTTP %ld after %d tries\n",
				        p->url, status, attempt);
			else
				fprintf(stderr,
				        "spanprof push: %s: cannot connect after %d tries\n",
				        p->url, attempt);
			return -SP_EIO;
		}
		long ms = retry_after_ms > 0 ? retry_after_ms : pause_ms;
		push_pause_ms(ms < MG_PUSH_MAX_PAUSE_MS ? ms : MG_PUSH_MAX_PAUSE_MS);
		pause_ms *= 2;
	}
	if (rc)
		return rc;
	p->sent_spans += p->req_spans;
	p->sent_bytes += p->req.len;
	p->requests++;
	p->req_spans = 0;
	p->req.len = 0;
	char b[32];
	mg_progress_update(&p->progress,
	                   "spanprof push: %" PRId64 " spans, %" PRId64 " requests, %s",
	                   p->sent_spans, p->requests, mg_fmt_bytes(p->sent_bytes, b, sizeof b));
	return 0;
}

static int push_process(void *ctx, int64_t pid, const uint8_t *resource, size_t len)
{
	struct push *p = ctx;
	(void)pid;
	p->resource.len = 0;
	return mg_otlp_buf_put(&p->resource, resource, len);
}

/* One ResourceSpans (this process's resource and the chunk) into the
 * request; the request goes first if the two would not fit together. */
static int push_chunk(void *ctx, const uint8_t *scope_spans, size_t len, int64_t nspans)
{
	struct push *p = ctx;
	struct mg_otlp_buf *rs = &p->rs;
	rs->len = 0;
	int rc = mg_otlp_put_len(rs, 1, p->resource.len);
	rc = rc ? rc : mg_otlp_buf_put(rs, p->resource.p, p->resource.len);
	rc = rc ? rc : mg_otlp_put_len(rs, 2, len);
	rc = rc ? rc : mg_otlp_buf_put(rs, scope_spans, len);
	if (rc)
		return rc;
	if (p->req.len + rs->len + 16 > MG_PUSH_MAX_REQUEST_BYTES && (rc = push_send(p)))
		return rc;
	rc = mg_otlp_put_len(&p->req, 1, rs->len); /* ExportTraceServiceRequest.resource_spans */
	rc = rc ? rc : mg_otlp_buf_put(&p->req, rs->p, rs->len);
	p->req_spans += nspans;
	return rc;
}

static int push_process_end(void *ctx)
{
	(void)ctx;
	return 0;
}

/* K=V into a "K: V" header line; -1 if malformed. */
static int push_add_header(struct push *p, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || strpbrk(kv, "\r\n") || memchr(kv, ':', (size_t)(eq - kv)))
		return -1;
	char *line = NULL;
	if (asprintf(&line, "%.*s: %s", (int)(eq - kv), kv, eq + 1) < 0)
		return -1;
	struct curl_slist *l = curl_slist_append(p->headers, line);
	free(line);
	if (!l)
		return -1;
	p->headers = l;
	return 0;
}

static int push_parse_retries(const char *s, long *n)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 100)
		return -1;
	*n = v;
	return 0;
}

enum { OPT_ENDPOINT = 256, OPT_SPAN, OPT_FROM, OPT_TO, OPT_RETRIES };

static int push_parse_args(int argc, char **argv, struct push *p, struct mg_export_opts *o,
                           const char **endpoint, int *help)
{
	static const struct option longopts[] = {
	    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
	    {"header", required_argument, NULL, 'H'},
	    {"retries", required_argument, NULL, OPT_RETRIES},
	    {"span", required_argument, NULL, OPT_SPAN},
	    {"from", required_argument, NULL, OPT_FROM},
	    {"to", required_argument, NULL, OPT_TO},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "H:h", longopts, NULL)) != -1) {
		if (c == OPT_ENDPOINT)
			*endpoint = optarg;
		else if (c == 'H' && push_add_header(p, optarg) != 0)
			return push_usage_error("--header wants K=V", optarg);
		else if (c == OPT_RETRIES && push_parse_retries(optarg, &p->retries) != 0)
			return push_usage_error("--retries wants 0..100", optarg);
		else if (c == OPT_SPAN)
			o->span_name = optarg;
		else if (c == OPT_FROM && mg_parse_time_ns(optarg, &o->from_ns) != 0)
			return push_usage_error(
			    "--from wants a time (RFC 3339, -5m, or ns since the epoch)", optarg);
		else if (c == OPT_TO && mg_parse_time_ns(optarg, &o->to_ns) != 0)
			return push_usage_error(
			    "--to wants a time (RFC 3339, -5m, or ns since the epoch)", optarg);
		else if (c == 'h')
			*help = 1;
		else if (c == '?')
			return push_usage_error("unknown or incomplete option", argv[optind - 1]);
	}
	if (*help)
		return 0;
	if (optind != argc - 1)
		return push_usage_error(optind >= argc ? "missing DB" : "one DB expected", NULL);
	if (!*endpoint || !**endpoint)
		return push_usage_error("missing --endpoint", NULL);
	if (strncmp(*endpoint, "http://", 7) && strncmp(*endpoint, "https://", 8))
		return push_usage_error("--endpoint wants an http:// or https:// URL", *endpoint);
	if (o->from_ns > o->to_ns)
		return push_usage_error("--from is after --to", NULL);
	o->db_path = argv[optind];
	return 0;
}

static int push_setup_curl(struct push *p)
{
	struct curl_slist *l =
	    curl_slist_append(p->headers, "Content-Type: application/x-protobuf");
	if (!l || !(p->curl = curl_easy_init()))
		return -SP_ENOMEM;
	p->headers = l;
	curl_easy_setopt(p->curl, CURLOPT_URL, p->url);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, p->headers);
	char agent[64];
	snprintf(agent, sizeof agent, "spanprof/%d.%d.%d", SPANPROF_VERSION_MAJOR,
	         SPANPROF_VERSION_MINOR, SPANPROF_VERSION_PATCH);
	curl_easy_setopt(p->curl, CURLOPT_USERAGENT, agent); /* libcurl copies it */
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, push_collect);
	curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, &p->answer);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	return 0;
}

static int push_run(struct push *p, const struct mg_export_opts *o)
{
	struct mg_export x;
	int rc = mg_export_open(&x, o);
	rc = rc ? rc : push_setup_curl(p);
	if (rc == 0) {
		struct mg_otlp_sink sink = {p, push_process, push_chunk, push_process_end};
		rc = mg_otlp_scan(&x, MG_PUSH_CHUNK_BYTES, &sink);
		rc = rc ? rc : push_send(p);
	}
	mg_export_close(&x);
	mg_progress_done(&p->progress);
	if (rc == 0)
		fprintf(stderr, "spanprof push: %" PRId64 " spans in %" PRId64 " requests to %s\n",
		        p->sent_spans - p->rejected, p->requests, p->url);
	else if (p->sent_spans)
		fprintf(stderr, "spanprof push: %" PRId64 " spans were sent before the failure\n",
		        p->sent_spans);
	return rc;
}

int mg_cmd_push(int argc, char **argv)
{
	struct push p = {.retries = MG_PUSH_RETRIES};
	struct mg_export_opts o = {
	    .format = MG_EXPORT_OTLP, .from_ns = INT64_MIN, .to_ns = INT64_MAX};
	const char *endpoint = NULL;
	int help = 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "spanprof push: cannot start libcurl\n");
		return 1;
	}
	int rc = push_parse_args(argc, argv, &p, &o, &endpoint, &help);
	char *url = NULL;
	if (rc == 0 && help)
		fputs(push_usage, stdout);
	else if (rc == 0) {
		size_t n = strlen(endpoint);
		while (n > 0 && endpoint[n - 1] == '/')
			n--;
		if (asprintf(&url, "%.*s/v1/traces", (int)n, endpoint) < 0)
			url = NULL;
		p.url = url;
		mg_progress_init(&p.progress);
		rc = url && push_run(&p, &o) == 0 ? 0 : 1;
	}
	curl_easy_cleanup(p.curl);
	curl_slist_free_all(p.headers);
	mg_otlp_buf_free(&p.req);
	mg_otlp_buf_free(&p.resource);
	mg_otlp_buf_free(&p.rs);
	mg_otlp_buf_free(&p.answer);
	free(url);
	curl_global_cleanup();
	return rc;
}
