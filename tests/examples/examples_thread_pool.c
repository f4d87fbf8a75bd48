/*
 * examples_thread_pool.c - runs examples/thread_pool under `spanprof
 * record` and checks that the workers' samples belong to the requests that
 * caused them: samples taken on worker threads see the request span's
 * attributes (client, route) through their "handle" span's parent, and
 * `top --span handle --by client` puts the heavy client, acme, first.
 *
 * Threading: single-threaded test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ex_util.h"
#include "tl.h"

static void test_thread_pool(void **state)
{
	(void)state;
	ex_scratch("thread_pool");
	const char *prog = ex_program("thread_pool");
	assert_int_equal(tl_sh(NULL, "$SP record -o out -- %s", prog), 0);
	assert_int_equal(tl_sh(NULL, "$SP merge -o tp.db out"), 0);

	char *by = NULL;
	assert_int_equal(tl_sh(&by, "$SP top tp.db --span handle --by client -n 3"), 0);
	const char *first = strstr(by, "client = \"");
	assert_non_null(first);
	assert_true(strncmp(first, "client = \"acme\"", 15) == 0);
	free(by);

	sqlite3 *db = tl_db_open("tp.db");
	/* Worker spans are children of request spans begun on the main thread. */
	int64_t handles = tl_sql_int(db, "SELECT count(*) FROM spans WHERE name = 'handle'");
	int64_t linked = tl_sql_int(db, "SELECT count(*) FROM spans h JOIN spans r"
	                                " ON r.span_id = h.parent_id AND r.name = 'request'"
	                                " AND r.tid <> h.tid WHERE h.name = 'handle'");
	/* A lost event (counted in table lost, possible on a slow ASan build)
	 * may cost a span or its link, never more than a few. */
	fprintf(stderr, "handle spans: %lld, with a request parent: %lld\n", (long long)handles,
	        (long long)linked);
	assert_true(handles >= 390 && handles <= 400);
	assert_true(linked * 100 >= handles * 98);
	/* Worker samples (tid != pid) inside "handle" carry the request's client. */
	int64_t worker = tl_sql_int(db, "SELECT count(*) FROM samples s JOIN spans h"
	                                " ON h.span_id = s.span_id AND h.name = 'handle'"
	                                " WHERE s.tid <> s.pid");
	int64_t with_client = tl_sql_int(db, "SELECT count(*) FROM sample_attrs a JOIN samples s"
	                                     " USING (sample_id) WHERE a.key = 'client'"
	                                     " AND s.tid <> s.pid");
	fprintf(stderr, "worker samples in handle: %lld, with a client: %lld\n", (long long)worker,
	        (long long)with_client);
	assert_true(worker >= 100);
	assert_true(with_client * 100 >= worker * 98);
	/* And the hot function belongs mostly to acme's requests. */
	int64_t report = tl_sql_int(db, "SELECT count(*) FROM sample_attrs a JOIN stack_funcs f"
	                                " USING (stack_id) WHERE a.key = 'client'"
	                                " AND f.func = 'render_report'");
	int64_t acme =
	    tl_sql_int(db, "SELECT count(*) FROM sample_attrs a JOIN stack_funcs f"
	                   " USING (stack_id) WHERE a.key = 'client' AND a.value = 'acme'"
	                   " AND f.func = 'render_report'");
	assert_true(report > 0 && acme * 2 > report);
	sqlite3_close(db);
	ex_scratch_remove();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_thread_pool)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
