/*
 * examples_wall_clock.c - records examples/wall_clock in wall mode and in
 * cpu mode and checks what each shows for the main thread: in wall mode
 * most of its time is at the blocking call sites (wait_for_input's read,
 * take_lock's mutex), in cpu mode almost none is, and compute dominates.
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

/* Percent of the main thread's sampled time with func on the stack. */
static double main_share(sqlite3 *db, const char *funcs)
{
	int64_t all = tl_sql_int(db, "SELECT sum(weight_ns) FROM samples WHERE tid = pid");
	int64_t with = tl_sql_int(db,
	                          "SELECT sum(weight_ns) FROM samples s WHERE tid = pid"
	                          " AND EXISTS (SELECT 1 FROM stack_funcs f"
	                          " WHERE f.stack_id = s.stack_id AND f.func IN (%s))",
	                          funcs);
	return all > 0 ? 100.0 * (double)with / (double)all : 0.0;
}

#define WAITS "'wait_for_input','take_lock'"

static void test_wall_vs_cpu(void **state)
{
	(void)state;
	ex_scratch("wall_clock");
	const char *prog = ex_program("wall_clock");
	assert_int_equal(tl_sh(NULL, "$SP record --wall -o wall -- %s", prog), 0);
	assert_int_equal(tl_sh(NULL, "$SP record -o cpu -- %s", prog), 0);
	assert_int_equal(tl_sh(NULL, "$SP merge -o wall.db wall"), 0);
	assert_int_equal(tl_sh(NULL, "$SP merge -o cpu.db cpu"), 0);

	sqlite3 *wall = tl_db_open("wall.db"), *cpu = tl_db_open("cpu.db");
	char *mode = tl_sql_text(wall, "SELECT mode FROM sampler");
	assert_non_null(mode);
	assert_string_equal(mode, "wall");
	free(mode);
	int64_t wall_n = tl_sql_int(wall, "SELECT count(*) FROM samples WHERE tid = pid");
	int64_t cpu_n = tl_sql_int(cpu, "SELECT count(*) FROM samples WHERE tid = pid");
	double wall_waits = main_share(wall, WAITS), cpu_waits = main_share(cpu, WAITS);
	double wall_read = main_share(wall, "'wait_for_input'");
	double wall_lock = main_share(wall, "'take_lock'");
	double cpu_compute = main_share(cpu, "'compute'");
	fprintf(stderr,
	        "main thread: wall %lld samples, %.1f%% waiting (read %.1f%%, lock %.1f%%);"
	        " cpu %lld samples, %.1f%% waiting, %.1f%% compute\n",
	        (long long)wall_n, wall_waits, wall_read, wall_lock, (long long)cpu_n, cpu_waits,
	        cpu_compute);
	assert_true(wall_n >= 100 && cpu_n >= 20);
	assert_true(wall_waits >= 50.0);
	assert_true(wall_read >= 3.0 && wall_lock >= 3.0); /* both call sites */
	assert_true(cpu_waits <= 20.0);
	assert_true(cpu_compute >= 60.0);
	sqlite3_close(wall);
	sqlite3_close(cpu);
	ex_scratch_remove();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_wall_vs_cpu)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
