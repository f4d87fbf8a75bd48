/*
 * tracer_lossless.c - the default policy loses nothing when the writer falls
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log_int.h"
#include "log_reader.h"
#include "spanprof.h"
#include "tr_log.h"
#include "tl.h"

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
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int rc;
	c->in_order = 1;
	while ((rc = lc_reader_next(r, &rec)) == 1) {
		if (rec.type == LC_REC_SPAN_BEGIN)
			c->begins++;
		else if (rec.type == LC_REC_SPAN_END)
			c->ends++;
		else if (rec.type == LC_REC_LOST)
			c->lost += rec.u.lost.count;
		else if (rec.type == LC_REC_ATTR) {
			c->attrs++;
			if (rec.u.attr.i != c->next_attr++)
				c->in_order = 0;
		}
	}
	assert_int_equal(rc, 0);
	lc_reader_close(r);
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
	lc_log_stall_writer_(1);
	sp_span root = sp_begin("root");
	for (long i = 0; i < SPANS; i++) {
		sp_span s = sp_begin("child");
		sp_attr_int(s, "i", i);
		sp_end(s);
	}
	sp_end(root);
	long rss_growth_kib = peak_rss_kib() - rss_before;
	lc_log_stall_writer_(0);
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
	tl_rm_rf(dir);
	free(dir);
}

/* What a drop-policy log holds: spans by id (begun, ended, attribute seen,
 * parent recorded) and the DROPPED counts by name. */
typedef struct tree {
	uint64_t *ids, *parents;
	unsigned char *ended, *has_attr, *is_grandchild;
	size_t n;
	char names[8][32];
	uint32_t name_ids[8];
	size_t nnames;
	uint64_t dropped_child, dropped_grandchild, dropped_other;
} tree;

static size_t tree_find(const tree *t, uint64_t id)
{
	for (size_t i = t->n; i-- > 0;)
		if (t->ids[i] == id)
			return i;
	return SIZE_MAX;
}

static const char *tree_name(const tree *t, uint32_t id)
{
	for (size_t i = 0; i < t->nnames; i++)
		if (t->name_ids[i] == id)
			return t->names[i];
	return "";
}

static void tree_record(tree *t, const lc_record *rec)
{
	if (rec->type == LC_REC_STRING && t->nnames < 8) {
		snprintf(t->names[t->nnames], sizeof t->names[0], "%.*s", (int)rec->u.string.len,
		         rec->u.string.bytes);
		t->name_ids[t->nnames++] = rec->u.string.id;
	} else if (rec->type == LC_REC_SPAN_BEGIN) {
		const char *name = tree_name(t, rec->u.span_begin.name_id);
		t->ids[t->n] = rec->u.span_begin.span_id;
		t->parents[t->n] = rec->u.span_begin.parent_id;
		t->is_grandchild[t->n] = strcmp(name, "grandchild") == 0;
		t->n++;
	} else if (rec->type == LC_REC_SPAN_END) {
		size_t i = tree_find(t, rec->u.span_end.span_id);
		assert_true(i != SIZE_MAX); /* no END without its BEGIN */
		t->ended[i]++;
	} else if (rec->type == LC_REC_ATTR) {
		size_t i = tree_find(t, rec->u.attr.span_id);
		assert_true(i != SIZE_MAX); /* no attribute without its span */
		t->has_attr[i]++;
	} else if (rec->type == LC_REC_DROPPED) {
		const char *name = tree_name(t, rec->u.dropped.name_id);
		uint64_t *slot = strcmp(name, "child") == 0        ? &t->dropped_child
		                 : strcmp(name, "grandchild") == 0 ? &t->dropped_grandchild
		                                                   : &t->dropped_other;
		*slot = rec->u.dropped.count; /* cumulative: the last one counts */
	}
}

static void tree_load(const char *path, tree *t, size_t cap)
{
	t->ids = calloc(cap, sizeof *t->ids);
	t->parents = calloc(cap, sizeof *t->parents);
	t->ended = calloc(cap, 1);
	t->has_attr = calloc(cap, 1);
	t->is_grandchild = calloc(cap, 1);
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int rc;
	while ((rc = lc_reader_next(r, &rec)) == 1) {
		assert_true(t->n < cap);
		tree_record(t, &rec);
	}
	assert_int_equal(rc, 0);
	lc_reader_close(r);
}

static void tree_free(tree *t)
{
	free(t->ids);
	free(t->parents);
	free(t->ended);
	free(t->has_attr);
	free(t->is_grandchild);
}

#define DROP_SPANS 200000L

/* SPANPROF_ON_FULL=drop with the writer stalled: the ring fills and later
 * spans are dropped whole. The log is still a consistent tree (every
 * recorded span has its end and its attribute, every recorded grandchild
 * its parent), and the DROPPED counts per name add up with the recorded
 * spans to exactly what the program made. */
static void test_drop_policy_drops_whole_spans(void **state)
{
	(void)state;
	char *dir = tr_tmpdir();
	setenv("SPANPROF_BUFFER_KB", "64", 1);
	setenv("SPANPROF_ON_FULL", "drop", 1);
	tr_start(dir);
	lc_log_stall_writer_(1);
	sp_span root = sp_begin("root");
	for (long i = 0; i < DROP_SPANS; i++) {
		sp_span s = sp_begin("child");
		sp_span g = sp_begin("grandchild");
		sp_end(g);
		sp_attr_int(s, "i", i); /* after the subtree: still the child's */
		sp_end(s);
	}
	sp_end(root);
	lc_log_stall_writer_(0);
	sp_stop();
	unsetenv("SPANPROF_BUFFER_KB");
	unsetenv("SPANPROF_ON_FULL");

	tree t = {0};
	char *path = tr_log_path(dir, getpid());
	assert_non_null(path);
	tree_load(path, &t, 2 * DROP_SPANS + 4);
	free(path);
	uint64_t children = 0, grandchildren = 0;
	for (size_t i = 0; i < t.n; i++) {
		assert_int_equal(t.ended[i], 1);
		if (t.is_grandchild[i]) {
			grandchildren++;
			assert_true(tree_find(&t, t.parents[i]) != SIZE_MAX);
		} else if (t.parents[i] != 0 && tree_find(&t, t.parents[i]) != SIZE_MAX) {
			children++;
			assert_int_equal(t.has_attr[i], 1);
		}
	}
	assert_true(t.dropped_child > 0); /* the stalled writer made it drop */
	assert_int_equal(children + t.dropped_child, DROP_SPANS);
	assert_int_equal(grandchildren + t.dropped_grandchild, DROP_SPANS);
	assert_int_equal(t.dropped_other, 0);
	tree_free(&t);
	tl_rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stalled_writer_loses_nothing),
	    cmocka_unit_test(test_drop_policy_drops_whole_spans),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
