/*
 * thread_pool.c - requests handed to worker threads, with the span context
 * carried along, so that the workers' samples belong to the request that
 * caused them and to its attributes.
 *
 * The main thread "accepts" REQUESTS requests: each is a span "request"
 * with the attributes client and route. It captures the span's context
 * (sp_current_context), puts it in the job with the request, and ends the
 * span. A worker takes the job and opens "handle" with
 * sp_begin_child_of(&job->ctx): the worker's span, and every sample taken
 * inside it, gets the request as its parent. Route "/report" renders a
 * large report (render_report is hot); "/search" and "/ping" are cheaper.
 * One client, "acme", asks for most reports. A profiler alone sees the
 * workers busy in render_report; a tracer alone sees slow "handle" spans
 * on anonymous workers; spanprof shows the time per client and route.
 *
 * Usage: thread_pool [-n REQUESTS] [-w WORKERS]
 * Threading: one producer (main) and WORKERS consumer threads around a
 * mutex/condvar queue. Signal safety: n/a.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spanprof.h>

typedef struct job {
	int route;          /* index in route_names */
	const char *client; /* static string */
	sp_context ctx;     /* the request span, parent of the worker's span */
	struct job *next;
} job;

enum { ROUTE_REPORT, ROUTE_SEARCH, ROUTE_PING, ROUTE_COUNT };
static const char *const route_names[ROUTE_COUNT] = {"/report", "/search", "/ping"};
static const char *const clients[] = {"acme", "globex", "initech", "umbrella"};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	job *head, *tail;
	int closed;
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0};

static volatile uint64_t sink;

static void queue_push(job *j)
{
	pthread_mutex_lock(&queue.lock);
	if (queue.tail)
		queue.tail->next = j;
	else
		queue.head = j;
	queue.tail = j;
	pthread_cond_signal(&queue.ready);
	pthread_mutex_unlock(&queue.lock);
}

/* NULL once the queue is closed and empty. */
static job *queue_pop(void)
{
	pthread_mutex_lock(&queue.lock);
	while (!queue.head && !queue.closed)
		pthread_cond_wait(&queue.ready, &queue.lock);
	job *j = queue.head;
	if (j) {
		queue.head = j->next;
		if (!queue.head)
			queue.tail = NULL;
	}
	pthread_mutex_unlock(&queue.lock);
	return j;
}

/* The three handlers each burn CPU in their own loop (nothing shared and
 * nothing inlined across them), so each is its own line in a profile. */
static __attribute__((noinline)) uint64_t render_report(void)
{
	uint64_t h = 1;
	for (uint64_t i = 0; i < 8000000; i++)
		h = (h ^ i) * 0x100000001b3ULL;
	return h;
}

static __attribute__((noinline)) uint64_t run_search(void)
{
	uint64_t h = 2;
	for (uint64_t i = 0; i < 600000; i++)
		h = (h + i) * 0x9e3779b97f4a7c15ULL;
	return h;
}

static __attribute__((noinline)) uint64_t answer_ping(void)
{
	uint64_t h = 3;
	for (uint64_t i = 0; i < 20000; i++)
		h = (h ^ (h >> 7)) + i;
	return h;
}

static void handle(const job *j)
{
	sp_span span = sp_begin_child_of("handle", &j->ctx);
	if (j->route == ROUTE_REPORT)
		sink += render_report();
	else if (j->route == ROUTE_SEARCH)
		sink += run_search();
	else
		sink += answer_ping();
	sp_end(span);
}

static void *worker_main(void *arg)
{
	char name[16];
	snprintf(name, sizeof name, "worker-%d", (int)(intptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	job *j;
	while ((j = queue_pop()) != NULL) {
		handle(j);
		free(j);
	}
	return NULL;
}

/* Request i: acme (every 4th) asks for reports and searches; the others
 * search and ping, and now and then ask for a report. */
static job *accept_request(int i)
{
	job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	j->client = clients[i % 4];
	if (i % 4 == 0)
		j->route = i % 8 == 0 ? ROUTE_REPORT : ROUTE_SEARCH;
	else
		j->route = i % 3 == 0 ? ROUTE_SEARCH : ROUTE_PING;
	if (i % 50 == 1 || i % 50 == 3)
		j->route = ROUTE_REPORT;
	sp_span span = sp_begin("request");
	sp_attr_str(span, "client", j->client);
	sp_attr_str(span, "route", route_names[j->route]);
	j->ctx = sp_current_context(); /* the request span is the innermost */
	sp_end(span);
	return j;
}

int main(int argc, char **argv)
{
	int requests = 400, workers = 2, opt;
	while ((opt = getopt(argc, argv, "n:w:")) != -1) {
		if (opt == 'n' && atoi(optarg) > 0)
			requests = atoi(optarg);
		else if (opt == 'w' && atoi(optarg) > 0 && atoi(optarg) <= 64)
			workers = atoi(optarg);
		else {
			fprintf(stderr, "usage: thread_pool [-n REQUESTS] [-w WORKERS]\n");
			return 2;
		}
	}
	pthread_t tids[64];
	for (int w = 0; w < workers; w++)
		pthread_create(&tids[w], NULL, worker_main, (void *)(intptr_t)w);
	for (int i = 0; i < requests; i++)
		queue_push(accept_request(i));
	pthread_mutex_lock(&queue.lock);
	queue.closed = 1;
	pthread_cond_broadcast(&queue.ready);
	pthread_mutex_unlock(&queue.lock);
	for (int w = 0; w < workers; w++)
		pthread_join(tids[w], NULL);
	printf("thread_pool: %d requests on %d workers\n", requests, workers);
	return 0;
}
