/*
 * slow_requests.c - a server-like program whose slowest requests have one
 * cause in their input and one in the code: the example for
 * 'spanprof explain' (README.md).
 *
 * WORKERS threads serve REQUESTS requests between them, each taking the
 * next request number from a shared counter. A request is a span
 * "request" with the attributes route, user, charset and bytes (drawn
 * from the request number, so every run serves the same requests), and
 * two child spans, "parse" and "respond". Every request parses, looks up
 * (a "/search" costs three times an "/item") and renders; the 4% whose
 * charset is "shift_jis" also run transcode_shift_jis, which costs more
 * than all the rest of a request together. Nothing else separates them:
 * the other attributes and the other functions are spread alike over
 * fast and slow requests.
 *
 * Usage: slow_requests [-n REQUESTS] [-w WORKERS]   (default 3000 on 3)
 * Threading: WORKERS identical threads and an atomic counter; no locks.
 * Signal safety: n/a.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <spanprof.h>

static atomic_int next_request;
static int n_requests = 3000;
static volatile uint64_t sink;

static const char *const routes[] = {"/item", "/item", "/search", "/cart"};

/* Each step burns CPU in its own loop (nothing shared, nothing inlined
 * across them), so each is its own line in a profile. */
static __attribute__((noinline)) uint64_t parse_request(uint64_t seed)
{
	uint64_t h = seed;
	for (uint64_t i = 0; i < 40000; i++)
		h = (h ^ i) * 0x100000001b3ULL;
	return h;
}

static __attribute__((noinline)) uint64_t lookup_items(uint64_t seed, int search)
{
	uint64_t h = seed;
	for (uint64_t i = 0; i < (search ? 240000u : 80000u); i++)
		h = (h + i) * 0x9e3779b97f4a7c15ULL;
	return h;
}

static __attribute__((noinline)) uint64_t render_response(uint64_t seed, int64_t bytes)
{
	uint64_t h = seed;
	for (int64_t i = 0; i < 60000 + bytes * 4; i++)
		h = (h ^ (h >> 7)) + (uint64_t)i;
	return h;
}

static __attribute__((noinline)) uint64_t transcode_shift_jis(uint64_t seed, int64_t bytes)
{
	uint64_t h = seed;
	for (int64_t i = 0; i < 5000000 + bytes * 200; i++)
		h = (h * 31 + (uint64_t)i) ^ (h >> 11);
	return h;
}

/* A well-mixed number from the request number (splitmix64). */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void serve(int i)
{
	uint64_t r = mix((uint64_t)i);
	const char *route = routes[r % 4];
	unsigned pct = (unsigned)(r >> 8) % 100;
	const char *charset = pct < 4 ? "shift_jis" : pct < 10 ? "iso-8859-1" : "utf-8";
	int64_t bytes = 200 + (int64_t)((r >> 16) % 4800);
	char user[16];
	snprintf(user, sizeof user, "user-%02u", (unsigned)(r >> 32) % 40);

	sp_span req = sp_begin("request");
	sp_attr_str(req, "route", route);
	sp_attr_str(req, "user", user);
	sp_attr_str(req, "charset", charset);
	sp_attr_int(req, "bytes", bytes);
	sp_span parse = sp_begin("parse");
	uint64_t h = parse_request(r);
	sp_end(parse);
	h += lookup_items(h, route[1] == 's');
	sp_span respond = sp_begin("respond");
	if (charset[0] == 's')
		h += transcode_shift_jis(h, bytes);
	h += render_response(h, bytes);
	sp_end(respond);
	sp_end(req);
	sink += h;
}

static void *worker_main(void *arg)
{
	char name[16];
	snprintf(name, sizeof name, "worker-%d", (int)(intptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	for (int i; (i = atomic_fetch_add(&next_request, 1)) < n_requests;)
		serve(i);
	return NULL;
}

int main(int argc, char **argv)
{
	int workers = 3, opt;
	while ((opt = getopt(argc, argv, "n:w:")) != -1) {
		if (opt == 'n' && atoi(optarg) > 0)
			n_requests = atoi(optarg);
		else if (opt == 'w' && atoi(optarg) > 0 && atoi(optarg) <= 64)
			workers = atoi(optarg);
		else {
			fprintf(stderr, "usage: slow_requests [-n REQUESTS] [-w WORKERS]\n");
			return 2;
		}
	}
	pthread_t tids[64];
	for (int w = 0; w < workers; w++)
		pthread_create(&tids[w], NULL, worker_main, (void *)(intptr_t)w);
	for (int w = 0; w < workers; w++)
		pthread_join(tids[w], NULL);
	printf("slow_requests: %d requests on %d threads\n", n_requests, workers);
	return 0;
}
