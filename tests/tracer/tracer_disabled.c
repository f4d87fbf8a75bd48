/*
 * tracer_disabled.c - the whole API compiled with SPANPROF_DISABLE. This
 * executable is linked without libspanprof (tests/tracer/CMakeLists.txt),
 * so building it proves that no call to the library remains; running it
 * checks that the no-ops behave (zero handles, no context, errors where a
 * caller could be misled).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "spanprof.h"

static int scoped(int early)
{
	SP_SCOPE("anonymous");
	SP_SCOPE(s, "named");
	sp_attr_int(s, "early", early);
	if (early)
		return 1;
	return 0;
}

static void test_everything_is_a_noop(void **state)
{
	(void)state;
	sp_config cfg = {0};
	assert_int_equal(sp_start(&cfg), 0);
	assert_int_equal(sp_active(), 0);
	sp_span s = sp_begin("x");
	assert_true(s.id_ == 0);
	sp_attr_int(s, "i", 1);
	sp_attr_double(s, "d", 1.0);
	sp_attr_str(s, "s", "v");
	sp_context ctx = sp_current_context();
	assert_true(ctx.span_id == 0);
	sp_span c = sp_begin_child_of("y", &ctx);
	assert_true(c.id_ == 0);
	sp_end(c);
	sp_end(s);
	char buf[SP_TRACEPARENT_LEN];
	assert_int_equal(sp_traceparent(buf, sizeof buf), -SP_ESTATE);
	assert_string_equal(buf, "");
	assert_int_equal(
	    sp_context_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &ctx),
	    -SP_EINVAL);
	assert_int_equal(sp_thread_name("t"), 0);
	assert_int_equal(scoped(1), 1);
	assert_int_equal(scoped(0), 0);
	assert_string_equal(sp_strerror(-SP_EINVAL), "invalid argument");
	assert_int_equal(sp_version(), SPANPROF_VERSION_NUMBER);
	sp_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_everything_is_a_noop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
