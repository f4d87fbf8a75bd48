/*
 * test_lossless.c - the default policy loses nothing when the writer falls
 * behind, and memory stays bounded.
 *
 * The writer thread is stalled on purpose (a test hook): it does not drain
 * at all. A thread then makes 1M nested spans with one int attribute each,
 * about 100 MB of records, in a 64 KiB ring. Every record must come back
 * from the log in order (the producer drained the log itself whenever its
 * ring was full), the log must count no loss, and the process's peak RSS
 * must grow by far less than the data made. Without the producer-side
 * drain the ring would drop ~99.9% of the records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log_int.h"
#include "log_reader.h"
#include "spanprof.h"
#include "tr_log.h"

#define SPANS 1000000L

static long peak_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

typedef struct counts {
	uint64_t begins, ends, attrs, lost;
	int64_t next_attr; /* attribute values come back in order */
	int in_order;
} counts;

static void count_log(const char *path, counts *c)
{
	sp_reader *r;
	assert_int_equal(sp_reader_open(path, &r), 0);
	sp_record rec;
	int rc;
	c->in_order = 1;
	while ((rc = sp_reader_next(r, &rec)) == 1) {
		if (rec.type == SP_REC_SPAN_BEGIN)
			c->begins++;
		else if (rec.type == SP_REC_SPAN_END)
			c->ends++;
		else if (rec.type == SP_REC_LOST)
			c->lost += rec.u.lost.count;
		else if (rec.type == SP_REC_ATTR) {
			c->attrs++;
			if (rec.u.attr.i != c->next_attr++)
				c->in_order = 0;
		}
	}
	assert_int_equal(rc, 0);
	sp_reader_close(r);
}

static void test_stalled_writer_loses_nothing(void **state)
{
	(void)state;
	char *dir = tr_tmpdir();
	setenv("SPANPROF_BUFFER_KB", "64", 1);
	tr_start(dir);
	sp_span warm = sp_begin("warm-up");
	sp_end(warm);
	long rss_before = peak_rss_kib();
	sp_log_stall_writer_(1);
	sp_span root = sp_begin("root");
	for (long i = 0; i < SPANS; i++) {
		sp_span s = sp_begin("child");
		sp_attr_int(s, "i", i);
		sp_end(s);
	}
	sp_end(root);
	long rss_growth_kib = peak_rss_kib() - rss_before;
	sp_log_stall_writer_(0);
	sp_stop();
	unsetenv("SPANPROF_BUFFER_KB");

	counts c = {0};
	char *path = tr_log_path(dir, getpid());
	assert_non_null(path);
	count_log(path, &c);
	free(path);
	assert_int_equal(c.begins, SPANS + 2);
	assert_int_equal(c.ends, SPANS + 2);
	assert_int_equal(c.attrs, SPANS);
	assert_true(c.in_order);
	assert_int_equal(c.lost, 0);
	/* ~100 MB of records went through a 64 KiB ring and a 1 MiB frame
	 * buffer: 16 MiB of growth is room for allocator noise, not for
	 * buffering the data. */
	assert_true(rss_growth_kib < 16 * 1024);
	tr_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stalled_writer_loses_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
