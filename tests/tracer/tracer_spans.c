/*
 * tracer_spans.c - the span API on one thread, read back through the log
 * reader: nesting and parent ids, trace ids, each attribute type and
 * truncation, SP_SCOPE on early return, names from literals and from reused
 * buffers, the runtime off, configuration errors, traceparent strings, and
 * every single-thread misuse case of docs/api.md.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "records.h"
#include "tr_log.h"
#include "tl.h"

typedef struct tr_fixture {
	char *dir;
	tr_log *log;
} tr_fixture;

static int setup(void **state)
{
	tr_fixture *f = calloc(1, sizeof *f);
	f->dir = tr_tmpdir();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	tr_fixture *f = *state;
	sp_stop();
	tr_log_free(f->log);
	tl_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static tr_log *stop_and_load(tr_fixture *f)
{
	sp_stop();
	assert_int_equal(sp_active(), 0);
	f->log = tr_log_load_pid(f->dir, getpid());
	return f->log;
}

static void test_nesting_and_ids(void **state)
{
	tr_fixture *f = *state;
	tr_start(f->dir);
	sp_span a = sp_begin("outer");
	sp_span b = sp_begin("middle");
	sp_span c = sp_begin("inner");
	sp_end(c);
	sp_span d = sp_begin("sibling");
	sp_end(d);
	sp_end(b);
	sp_end(a);
	sp_span e = sp_begin("second-root");
	sp_end(e);
	tr_log *log = stop_and_load(f);

	assert_int_equal(log->nspans, 5);
	tr_span *so = tr_span_by_name(log, "outer"), *sm = tr_span_by_name(log, "middle");
	tr_span *si = tr_span_by_name(log, "inner"), *ss = tr_span_by_name(log, "sibling");
	tr_span *sr = tr_span_by_name(log, "second-root");
	assert_true(so && sm && si && ss && sr);
	assert_int_equal(so->parent, 0);
	assert_int_equal(sm->parent, so->id);
	assert_int_equal(si->parent, sm->id);
	assert_int_equal(ss->parent, sm->id);
	assert_int_equal(sr->parent, 0);
	for (size_t i = 0; i < log->nspans; i++) {
		tr_span *s = &log->spans[i];
		assert_true(s->id > 0 && s->id < (UINT64_C(1) << 63));
		assert_int_equal(s->ends, 1);
		assert_int_equal(s->begin_flags | s->end_flags, 0);
		assert_true(s->begin_ns <= s->end_ns);
		assert_int_equal(s->tid, (uint32_t)gettid());
		assert_true(s->name_interned); /* literals: interned once */
		for (size_t j = 0; j < i; j++)
			assert_true(log->spans[j].id != s->id);
	}
	/* one trace for the tree, a new one for the next root; never zero */
	assert_true((so->trace_hi | so->trace_lo) != 0);
	assert_true(si->trace_hi == so->trace_hi && si->trace_lo == so->trace_lo);
	assert_true(ss->trace_hi == so->trace_hi && ss->trace_lo == so->trace_lo);
	assert_false(sr->trace_hi == so->trace_hi && sr->trace_lo == so->trace_lo);
	/* timestamps nest */
	assert_true(so->begin_ns <= sm->begin_ns && si->end_ns <= ss->begin_ns);
	assert_true(ss->end_ns <= sm->end_ns && sm->end_ns <= so->end_ns);
	assert_int_equal(a.id_, so->id);
}

static void test_attributes(void **state)
{
	tr_fixture *f = *state;
	tr_start(f->dir);
	char long_value[600];
	memset(long_value, 'x', sizeof long_value - 1);
	long_value[sizeof long_value - 1] = '\0';
	/* 'é' is two bytes: put one across the cap to check the UTF-8 cut */
	char utf8_value[300];
	memset(utf8_value, 'a', sizeof utf8_value);
	memcpy(utf8_value + SP_MAX_ATTR_STR - 1, "\xc3\xa9", 2);
	utf8_value[sizeof utf8_value - 1] = '\0';
	char key_buf[32];
	snprintf(key_buf, sizeof key_buf, "dyn-%d", 7);

	sp_span s = sp_begin("attrs");
	sp_attr_int(s, "bytes", INT64_C(-1234567890123));
	sp_attr_double(s, "ratio", 0.25);
	sp_attr_str(s, "kind", "json");
	sp_attr_str(s, "long", long_value);
	sp_attr_str(s, "utf8", utf8_value);
	sp_attr_str(s, "null", NULL);
	sp_attr_int(s, key_buf, 42);     /* key from a writable buffer */
	(sp_attr_int)(s, "plain-fn", 5); /* the function, not the macro */
	(sp_attr_str)(s, "plain-str", "v");
	sp_end(s);
	sp_span zero = {0, 0, 0};
	sp_attr_int(zero, "ignored", 1); /* zero handle: nothing */
	tr_log *log = stop_and_load(f);

	uint64_t id = tr_span_by_name(log, "attrs")->id;
	tr_attr *a = tr_attr_of(log, id, "bytes");
	assert_non_null(a);
	assert_int_equal(a->kind, LC_ATTR_INT);
	assert_true(a->i == INT64_C(-1234567890123));
	a = tr_attr_of(log, id, "ratio");
	assert_true(a && a->kind == LC_ATTR_DOUBLE && a->d == 0.25);
	a = tr_attr_of(log, id, "kind");
	assert_true(a && a->kind == LC_ATTR_STR && a->flags == 0);
	assert_string_equal(a->s, "json");
	a = tr_attr_of(log, id, "long");
	assert_true(a && a->kind == LC_ATTR_STR);
	assert_int_equal(a->s_len, SP_MAX_ATTR_STR);
	assert_int_equal(a->flags, LC_ATTR_TRUNCATED);
	assert_int_equal(strspn(a->s, "x"), SP_MAX_ATTR_STR);
	a = tr_attr_of(log, id, "utf8");
	assert_true(a && a->flags == LC_ATTR_TRUNCATED);
	assert_int_equal(a->s_len, SP_MAX_ATTR_STR - 1); /* not half a character */
	a = tr_attr_of(log, id, "null");
	assert_true(a && a->kind == LC_ATTR_STR && a->s_len == 0);
	a = tr_attr_of(log, id, "dyn-7");
	assert_true(a && a->i == 42);
	assert_non_null(tr_attr_of(log, id, "plain-fn"));
	assert_non_null(tr_attr_of(log, id, "plain-str"));
	assert_int_equal(log->nattrs, 9);
}

static int scoped_work(int stop_early)
{
	SP_SCOPE(s, "scoped");
	sp_attr_int(s, "early", stop_early);
	for (int i = 0; i < 3; i++) {
		SP_SCOPE("loop-body");
		if (stop_early && i == 1)
			return -1; /* leaves both scopes */
	}
	return 0;
}

/* A macro puts both scopes on one source line. */
#define TWO_SCOPES_ON_ONE_LINE                                                                     \
	SP_SCOPE("two-on-one-line");                                                               \
	SP_SCOPE("second-on-line")

static void test_scope_early_return(void **state)
{
	tr_fixture *f = *state;
	tr_start(f->dir);
	sp_span outer = sp_begin("outer");
	assert_int_equal(scoped_work(1), -1);
	assert_int_equal(scoped_work(0), 0);
	{
		TWO_SCOPES_ON_ONE_LINE;
		sp_span after = sp_begin("after");
		sp_end(after);
	}
	sp_end(outer);
	tr_log *log = stop_and_load(f);

	tr_span *so = tr_span_by_name(log, "outer");
	assert_int_equal(tr_count_named(log, "scoped"), 2);
	assert_int_equal(tr_count_named(log, "loop-body"), 2 + 3);
	for (size_t i = 0; i < log->nspans; i++) {
		tr_span *s = &log->spans[i];
		assert_int_equal(s->ends, 1);
		assert_int_equal(s->end_flags, 0);
		if (strcmp(s->name, "scoped") == 0)
			assert_int_equal(s->parent, so->id);
		if (strcmp(s->name, "loop-body") == 0)
			assert_string_equal(tr_span_by_id(log, s->parent)->name, "scoped");
	}
	/* the two scopes on one line nest; "after" nests in the second */
	tr_span *second = tr_span_by_name(log, "second-on-line");
	assert_int_equal(second->parent, tr_span_by_name(log, "two-on-one-line")->id);
	assert_int_equal(tr_span_by_name(log, "after")->parent, second->id);
}

static void test_names_from_buffers(void **state)
{
	tr_fixture *f = *state;
	static const char *const kinds[] = {"json", "csv", "xml"};
	tr_start(f->dir);
	char buf[32];
	errno = EDOM; /* every call preserves errno, slow paths included */
	for (int i = 0; i < 6; i++) {
		snprintf(buf, sizeof buf, "job-%d", i); /* same buffer, new name */
		sp_span s = sp_begin(buf);
		sp_end(s);
	}
	for (int i = 0; i < 6; i++) {
		sp_span s = sp_begin(kinds[i % 3]); /* one site, several literals */
		sp_end(s);
	}
	sp_span s = (sp_begin)("via-function");
	(sp_end)(s);
	assert_int_equal(errno, EDOM);
	tr_log *log = stop_and_load(f);

	for (int i = 0; i < 6; i++) {
		snprintf(buf, sizeof buf, "job-%d", i);
		tr_span *sp = tr_span_by_name(log, buf);
		assert_non_null(sp);
		assert_false(sp->name_interned);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tr_count_named(log, kinds[i]), 2);
		assert_true(tr_span_by_name(log, kinds[i])->name_interned);
	}
	assert_non_null(tr_span_by_name(log, "via-function"));
	assert_int_equal(log->nspans, 13);
}

static void test_runtime_off_records_nothing(void **state)
{
	tr_fixture *f = *state;
	assert_int_equal(sp_active(), 0);
	sp_span off = sp_begin("before-start");
	assert_true(off.id_ == 0);
	sp_attr_int(off, "k", 1);
	sp_end(off);
	sp_context none = sp_current_context();
	assert_true(none.span_id == 0);
	char tp[SP_TRACEPARENT_LEN];
	assert_int_equal(sp_traceparent(tp, sizeof tp), -SP_ESTATE);
	assert_int_equal(sp_thread_name("x"), -SP_ESTATE);

	tr_start(f->dir);
	sp_span on = sp_begin("while-on");
	sp_end(on);
	sp_span straddle = sp_begin("straddles-stop");
	sp_stop();
	sp_span after = sp_begin("after-stop");
	assert_true(after.id_ == 0);
	sp_end(after);
	sp_end(straddle); /* runtime off: ignored */
	sp_stop();        /* idempotent */
	tr_log *log = tr_log_load_pid(f->dir, getpid());
	f->log = log;
	assert_int_equal(log->nspans, 2);
	assert_non_null(tr_span_by_name(log, "while-on"));
	tr_span *s = tr_span_by_name(log, "straddles-stop");
	assert_int_equal(s->end_flags, LC_SPAN_UNCLOSED); /* closed by sp_stop */
	assert_int_equal(log->nattrs, 0);
}

static void test_restart(void **state)
{
	tr_fixture *f = *state;
	char *dir2 = tr_tmpdir();
	tr_start(f->dir);
	sp_span a = sp_begin("first-run");
	sp_attr_int(a, "run", 1);
	sp_end(a);
	sp_stop();
	tr_start(dir2);
	sp_span b = sp_begin("first-run"); /* the site's cached id is reused */
	sp_attr_int(b, "run", 2);
	sp_end(b);
	sp_stop();
	tr_log *log = tr_log_load_pid(dir2, getpid());
	assert_int_equal(log->nspans, 1);
	tr_span *s = tr_span_by_name(log, "first-run");
	assert_non_null(s);
	assert_int_equal(tr_attr_of(log, s->id, "run")->i, 2);
	assert_non_null(tr_thread_by_tid(log, (uint32_t)gettid()));
	tr_log_free(log);
	tl_rm_rf(dir2);
	free(dir2);
}

static void test_misuse_not_innermost(void **state)
{
	tr_fixture *f = *state;
	tr_start(f->dir);
	sp_span a = sp_begin("a");
	sp_span b = sp_begin("b");
	sp_span c = sp_begin("c");
	sp_end(a); /* ends c and b too */
	sp_span d = sp_begin("d");
	sp_end(d);
	sp_end(c); /* already ended by the runtime */
	sp_end(b);
	tr_log *log = stop_and_load(f);

	tr_span *sa = tr_span_by_name(log, "a"), *sb = tr_span_by_name(log, "b");
	tr_span *sc = tr_span_by_name(log, "c"), *sd = tr_span_by_name(log, "d");
	assert_int_equal(sa->end_flags, LC_SPAN_NOT_INNERMOST);
	assert_int_equal(sa->ends, 1);
	assert_int_equal(sb->ends, 2);
	assert_int_equal(sc->ends, 2);
	assert_int_equal(sb->end_flags, LC_SPAN_UNCLOSED | LC_SPAN_DOUBLE_END);
	assert_int_equal(sc->end_flags, LC_SPAN_UNCLOSED | LC_SPAN_DOUBLE_END);
	assert_true(sc->end_ns <= sb->end_ns && sb->end_ns <= sa->end_ns);
	assert_int_equal(sd->parent, 0); /* the tree is not corrupted */
	assert_int_equal(sd->end_flags, 0);
}

static void test_misuse_double_and_invalid(void **state)
{
	tr_fixture *f = *state;
	tr_start(f->dir);
	sp_span a = sp_begin("twice");
	sp_end(a);
	sp_end(a);
	sp_end((sp_span){0, 0, 0}); /* zero handle: ignored */
	sp_span bogus = {UINT64_C(0x1234567), (uint32_t)gettid(), 3};
	sp_end(bogus);
	sp_attr_int(bogus, "on-bogus", 1);
	sp_span next = sp_begin("next");
	sp_end(next);
	tr_log *log = stop_and_load(f);

	tr_span *s = tr_span_by_name(log, "twice");
	assert_int_equal(s->ends, 2);
	assert_int_equal(s->end_flags, LC_SPAN_DOUBLE_END);
	assert_int_equal(log->end_orphans, 1); /* the bogus id, flagged */
	assert_int_equal(tr_span_by_name(log, "next")->parent, 0);
	assert_int_equal(tr_span_by_name(log, "next")->end_flags, 0);
}

static void test_misuse_too_deep(void **state)
{
	tr_fixture *f = *state;
	enum { N = SP_MAX_DEPTH + 40 };
	static sp_span spans[N];
	tr_start(f->dir);
	for (int i = 0; i < N; i++)
		spans[i] = sp_begin(i < SP_MAX_DEPTH ? "level" : "too-deep");
	sp_span after = sp_begin("child-of-deep");
	sp_end(after);
	for (int i = N - 1; i >= 0; i--)
		sp_end(spans[i]);
	sp_span root = sp_begin("root-again");
	sp_end(root);
	tr_log *log = stop_and_load(f);

	assert_int_equal(tr_count_named(log, "too-deep"), N - SP_MAX_DEPTH);
	uint64_t deepest = spans[SP_MAX_DEPTH - 1].id_;
	for (size_t i = 0; i < log->nspans; i++) {
		tr_span *s = &log->spans[i];
		assert_int_equal(s->ends, 1);
		if (strcmp(s->name, "too-deep") == 0 || strcmp(s->name, "child-of-deep") == 0) {
			assert_int_equal(s->begin_flags, LC_SPAN_TOO_DEEP);
			assert_int_equal(s->end_flags, LC_SPAN_TOO_DEEP);
			assert_int_equal(s->parent, deepest);
		} else {
			assert_int_equal(s->begin_flags | s->end_flags, 0);
		}
	}
	assert_int_equal(tr_span_by_name(log, "root-again")->parent, 0);
}

static void test_stop_with_open_spans(void **state)
{
	tr_fixture *f = *state;
	tr_start(f->dir);
	sp_span a = sp_begin("open-outer");
	sp_span b = sp_begin("open-inner");
	(void)a, (void)b;
	tr_log *log = stop_and_load(f);
	tr_span *sa = tr_span_by_name(log, "open-outer"), *sb = tr_span_by_name(log, "open-inner");
	assert_int_equal(sa->ends, 1);
	assert_int_equal(sb->ends, 1);
	assert_int_equal(sa->end_flags, LC_SPAN_UNCLOSED);
	assert_int_equal(sb->end_flags, LC_SPAN_UNCLOSED);
	assert_true(sb->end_ns <= sa->end_ns);
}

static void test_traceparent_strings(void **state)
{
	tr_fixture *f = *state;
	sp_context c = {UINT64_C(0x0af7651916cd43dd), UINT64_C(0x8448eb211c80319c),
	                UINT64_C(0xb7ad6b7169203331), 1, 0};
	char buf[SP_TRACEPARENT_LEN];
	assert_int_equal(sp_context_format(&c, buf, sizeof buf), 55);
	assert_string_equal(buf, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	sp_context back;
	assert_int_equal(sp_context_parse(buf, &back), 0);
	assert_memory_equal(&back, &c, sizeof c);
	assert_int_equal(sp_context_format(&c, buf, 10), -SP_EINVAL);
	/* a later version with extra fields is read as version 00 */
	assert_int_equal(
	    sp_context_parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-xyz", &back),
	    0);
	static const char *const bad[] = {
	    "",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
	    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
	    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
	    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
	    "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(sp_context_parse(bad[i], &back), -SP_EINVAL);
		assert_true(back.span_id == 0);
	}
	assert_int_equal(sp_context_parse(NULL, &back), -SP_EINVAL);

	tr_start(f->dir);
	sp_span s = sp_begin("current");
	assert_int_equal(sp_traceparent(buf, sizeof buf), 55);
	assert_int_equal(sp_context_parse(buf, &back), 0);
	assert_true(back.span_id == s.id_);
	sp_end(s);
	tr_log *log = stop_and_load(f);
	tr_span *sc = tr_span_by_name(log, "current");
	assert_true(back.trace_hi == sc->trace_hi && back.trace_lo == sc->trace_lo);
}

static void test_config_errors(void **state)
{
	tr_fixture *f = *state;
	sp_config cfg = {.out_dir = f->dir, .mode = SP_MODE_OFF};
	cfg.reserved[2] = 1;
	assert_int_equal(sp_start(&cfg), -SP_EINVAL);
	cfg.reserved[2] = 0;
	cfg.mode = 9;
	assert_int_equal(sp_start(&cfg), -SP_EINVAL);
	cfg.mode = SP_MODE_DEFAULT;
	setenv("SPANPROF_MODE", "fast", 1);
	assert_int_equal(sp_start(&cfg), -SP_EINVAL);
	unsetenv("SPANPROF_MODE");
	setenv("SPANPROF_HZ", "12abc", 1);
	assert_int_equal(sp_start(&cfg), -SP_EINVAL);
	setenv("SPANPROF_HZ", "0", 1);
	assert_int_equal(sp_start(&cfg), -SP_EINVAL);
	unsetenv("SPANPROF_HZ");
	setenv("SPANPROF_TRACEPARENT", "nonsense", 1);
	assert_int_equal(sp_start(&cfg), -SP_EINVAL);
	unsetenv("SPANPROF_TRACEPARENT");
	assert_int_equal(sp_active(), 0);
	assert_true(sp_begin("still-off").id_ == 0);
	cfg.mode = SP_MODE_OFF;
	assert_int_equal(sp_start(&cfg), 0);
	assert_int_equal(sp_start(&cfg), -SP_ESTATE);
	assert_int_equal(sp_version(), SPANPROF_VERSION_NUMBER);
	assert_string_equal(sp_strerror(-SP_ESTATE),
	                    "wrong state (already started, or not started)");
	sp_stop();
}

static void test_thread_name_main(void **state)
{
	tr_fixture *f = *state;
	tr_start(f->dir);
	assert_int_equal(sp_thread_name("main-renamed"), 0);
	assert_int_equal(sp_thread_name(NULL), -SP_EINVAL);
	tr_log *log = stop_and_load(f);
	const tr_thread *t = tr_thread_by_tid(log, (uint32_t)gettid());
	assert_non_null(t);
	assert_string_equal(t->name, "main-renamed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_nesting_and_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attributes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scope_early_return, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_names_from_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_runtime_off_records_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_misuse_not_innermost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_misuse_double_and_invalid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_misuse_too_deep, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_with_open_spans, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_traceparent_strings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thread_name_main, setup, teardown),
	};
	unsetenv("SPANPROF_OUT");
	unsetenv("TRACEPARENT");
	unsetenv("SPANPROF_TRACEPARENT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
