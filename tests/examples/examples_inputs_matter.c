/*
 * examples_inputs_matter.c - runs examples/inputs_matter as its README
 * does and checks the insight it exists for: the flat profile names only the
 * common function (match_rule and its helpers, hot for records of many
 * users), while `top --span process --by user` puts the two users whose few
 * records cost most of the time first.
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

#define SLOW_USERS "('user-0417','user-1893')"

/* The first n group headers "user = ..." of top --by output, in order. */
static void first_groups(const char *out, char names[][32], int n)
{
	const char *p = out;
	for (int i = 0; i < n; i++) {
		p = strstr(p, "user = \"");
		assert_non_null(p);
		p += strlen("user = \"");
		size_t len = strcspn(p, "\"");
		assert_true(len < 32);
		memcpy(names[i], p, len);
		names[i][len] = '\0';
	}
}

static void test_inputs_matter(void **state)
{
	(void)state;
	ex_scratch("inputs_matter");
	const char *prog = ex_program("inputs_matter");
	assert_int_equal(tl_sh(NULL, "%s generate records.txt", prog), 0);
	assert_int_equal(tl_sh(NULL, "$SP record -o out -- %s process records.txt", prog), 0);
	assert_int_equal(tl_sh(NULL, "$SP merge -o im.db out"), 0);

	/* Flat profile: the matcher on top, and nothing about users. */
	char *flat = NULL;
	assert_int_equal(tl_sh(&flat, "$SP top im.db -n 3"), 0);
	assert_non_null(strstr(flat, "match_"));
	assert_null(strstr(flat, "user-"));
	free(flat);

	/* By input: the two slow users come first. */
	char *by = NULL, names[2][32];
	assert_int_equal(tl_sh(&by, "$SP top im.db --span process --by user -n 2"), 0);
	first_groups(by, names, 2);
	free(by);
	assert_true(strcmp(names[0], names[1]) != 0);
	for (int i = 0; i < 2; i++)
		assert_true(strcmp(names[i], "user-0417") == 0 ||
		            strcmp(names[i], "user-1893") == 0);

	sqlite3 *db = tl_db_open("im.db");
	/* The matcher is hot for the records of many users: its samples alone
	 * cannot point at the two. */
	int64_t users = tl_sql_int(db, "SELECT count(DISTINCT a.value) FROM sample_attrs a"
	                               " JOIN stack_funcs f ON f.stack_id = a.stack_id"
	                               " WHERE a.key = 'user' AND f.func = 'match_rule'");
	assert_true(users >= 20);
	/* Under 1% of the records, over half of the time inside "process". */
	int64_t records = tl_sql_int(db, "SELECT count(*) FROM spans WHERE name = 'process'");
	int64_t slow_records = tl_sql_int(db, "SELECT count(*) FROM span_attrs WHERE key = 'user'"
	                                      " AND value IN " SLOW_USERS);
	/* ">= 19000": the runtime may count a few lost events under ASan. */
	assert_true(records >= 19000 && slow_records * 100 < records);
	int64_t all_ns =
	    tl_sql_int(db, "SELECT sum(weight_ns) FROM sample_attrs WHERE key = 'user'");
	int64_t slow_ns =
	    tl_sql_int(db, "SELECT sum(weight_ns) FROM sample_attrs WHERE key = 'user'"
	                   " AND value IN " SLOW_USERS);
	fprintf(stderr, "users with match_rule samples: %lld; slow share %.1f%%\n",
	        (long long)users, all_ns ? 100.0 * (double)slow_ns / (double)all_ns : 0.0);
	assert_true(all_ns > 0 && slow_ns * 2 > all_ns);
	sqlite3_close(db);
	ex_scratch_remove();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_inputs_matter)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
