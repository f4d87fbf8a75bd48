/*
 * tracer_config.c - sp_start's checked configuration (issue 11, item 5).
 * SPANPROF_BUFFER_KB and SPANPROF_ON_FULL: a malformed or out-of-range
 * value makes sp_start return -SP_EINVAL with exactly one stderr line that
 * names the variable, and the runtime stays off; a valid one reaches the
 * thread's ring ("16M" = a 16 MiB ring, a bare number = KiB) or the
 * resolved policy (trc_on_full_); a non-zero sp_config field wins over the
 * environment. Rings are observed on fresh threads: a thread keeps its
 * ring across stop/start.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tr_log.h"
#include "tracer_int.h"
#include "tl.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* The public struct keeps its size and layout: on_full took reserved0's place. */
_Static_assert(sizeof(void *) != 8 || sizeof(sp_config) == 56, "sp_config size changed");
_Static_assert(sizeof(void *) != 8 || offsetof(sp_config, on_full) == 20,
               "sp_config.on_full moved");

/* tr_teardown, and the variables the tests set are unset again. */
static int teardown(void **state)
{
	unsetenv("SPANPROF_BUFFER_KB");
	unsetenv("SPANPROF_ON_FULL");
	unsetenv("SPANPROF_FLUSH_MS");
	unsetenv("SPANPROF_FLUSH_ON_SIGNAL");
	return tr_teardown(state);
}

/* sp_start(cfg) with stderr captured into err (NUL-terminated). */
static int start_capturing(const sp_config *cfg, char *err, size_t cap)
{
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	int rc = sp_start(cfg);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	size_t n = fread(err, 1, cap - 1, tmp);
	err[n] = '\0';
	fclose(tmp);
	return rc;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* var=value is refused: -SP_EINVAL, one line naming it, runtime off. */
static void assert_env_refused(const char *var, const char *value)
{
	sp_config cfg = {.out_dir = tr_dir, .mode = SP_MODE_OFF};
	char err[1024], quoted[256];
	setenv(var, value, 1);
	int rc = start_capturing(&cfg, err, sizeof err);
	unsetenv(var);
	if (rc != -SP_EINVAL)
		fail_msg("%s=\"%s\": sp_start returned %d, stderr \"%s\"", var, value, rc, err);
	assert_int_equal(sp_active(), 0);
	assert_true(sp_begin("off").id_ == 0);
	snprintf(quoted, sizeof quoted, "spanprof: invalid %s=\"%s\"", var, value);
	if (strncmp(err, quoted, strlen(quoted)) != 0 || count_lines(err) != 1)
		fail_msg("%s=\"%s\": expected one line starting '%s', got \"%s\"", var, value,
		         quoted, err);
	assert_non_null(strstr(err, "tracing stays off"));
}

static void test_buffer_kb_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "abc",  "-5",    "16X", "99999999999G", "16M ", "1.5M",
	    "0x10", "12abc", "0",   "2G",           "512B", /* out of range: the ring takes 1K..1G
	                                                     */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_env_refused("SPANPROF_BUFFER_KB", bad[i]);
}

static void test_on_full_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {"abc", "WAIT", "drops", "1", " drop"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_env_refused("SPANPROF_ON_FULL", bad[i]);
	sp_config cfg = {.out_dir = tr_dir, .mode = SP_MODE_OFF, .on_full = 3};
	char err[1024];
	assert_int_equal(start_capturing(&cfg, err, sizeof err), -SP_EINVAL);
	assert_int_equal(count_lines(err), 1);
	assert_int_equal(sp_active(), 0);
}

static void test_flush_env_malformed(void **state)
{
	(void)state;
	static const char *const bad_ms[] = {"abc", "0", "-5", "3600001", "2h", "500us", "10 ms"};
	for (size_t i = 0; i < sizeof bad_ms / sizeof bad_ms[0]; i++)
		assert_env_refused("SPANPROF_FLUSH_MS", bad_ms[i]);
	static const char *const bad_sig[] = {"yes", "2", " 0", "off"};
	for (size_t i = 0; i < sizeof bad_sig / sizeof bad_sig[0]; i++)
		assert_env_refused("SPANPROF_FLUSH_ON_SIGNAL", bad_sig[i]);
	static const char *const good_ms[] = {"1", "250", "3600000", "2s", "50ms", "1h"};
	sp_config cfg = {.out_dir = tr_dir, .mode = SP_MODE_OFF};
	for (size_t i = 0; i < sizeof good_ms / sizeof good_ms[0]; i++) {
		setenv("SPANPROF_FLUSH_MS", good_ms[i], 1);
		int rc = sp_start(&cfg);
		if (rc != 0)
			fail_msg("SPANPROF_FLUSH_MS=\"%s\" refused: %d", good_ms[i], rc);
		sp_stop();
	}
	unsetenv("SPANPROF_FLUSH_MS");
}

static void *ring_bytes_of_new_thread(void *arg)
{
	uint64_t *bytes = arg;
	sp_span s = sp_begin("ring-probe");
	assert_true(s.id_ != 0);
	assert_non_null(trc_tls_);
	assert_non_null(trc_tls_->ring);
	*bytes = trc_tls_->ring->cap_words * 8u;
	sp_end(s);
	return NULL;
}

/* Starts with cfg (+ the environment), returns the size of the ring a new
 * thread gets, stops. */
static uint64_t ring_bytes_with(const sp_config *cfg)
{
	assert_int_equal(sp_start(cfg), 0);
	uint64_t bytes = 0;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, ring_bytes_of_new_thread, &bytes), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	sp_stop();
	return bytes;
}

static void test_buffer_kb_sizes(void **state)
{
	(void)state;
	sp_config cfg = {.out_dir = tr_dir, .mode = SP_MODE_OFF};
	assert_true(ring_bytes_with(&cfg) == 256u * KIB); /* the default */
	setenv("SPANPROF_BUFFER_KB", "16M", 1);
	assert_true(ring_bytes_with(&cfg) == 16u * MIB);
	assert_true(trc_ring_bytes_ == 16u * MIB);
	setenv("SPANPROF_BUFFER_KB", "64", 1); /* a bare number is KiB */
	assert_true(ring_bytes_with(&cfg) == 64u * KIB);
	setenv("SPANPROF_BUFFER_KB", "300k", 1); /* rounded up to a power of two */
	assert_true(ring_bytes_with(&cfg) == 512u * KIB);
	setenv("SPANPROF_BUFFER_KB", "", 1); /* empty = unset */
	assert_true(ring_bytes_with(&cfg) == 256u * KIB);
	setenv("SPANPROF_BUFFER_KB", "abc", 1); /* the field wins, env unread */
	cfg.ring_kib = 32;
	assert_true(ring_bytes_with(&cfg) == 32u * KIB);
}

static void test_on_full_policy(void **state)
{
	(void)state;
	sp_config cfg = {.out_dir = tr_dir, .mode = SP_MODE_OFF};
	setenv("SPANPROF_ON_FULL", "drop", 1);
	assert_int_equal(sp_start(&cfg), 0);
	assert_int_equal(trc_on_full_, SP_ON_FULL_DROP);
	sp_stop();
	setenv("SPANPROF_ON_FULL", "wait", 1);
	assert_int_equal(sp_start(&cfg), 0);
	assert_int_equal(trc_on_full_, SP_ON_FULL_WAIT);
	sp_stop();
	unsetenv("SPANPROF_ON_FULL");
	cfg.on_full = SP_ON_FULL_DROP;
	assert_int_equal(sp_start(&cfg), 0);
	assert_int_equal(trc_on_full_, SP_ON_FULL_DROP);
	sp_stop();
	cfg.on_full = SP_ON_FULL_DEFAULT; /* neither: wait */
	assert_int_equal(sp_start(&cfg), 0);
	assert_int_equal(trc_on_full_, SP_ON_FULL_WAIT);
	sp_stop();
	setenv("SPANPROF_ON_FULL", "bogus", 1); /* the field wins, env unread */
	cfg.on_full = SP_ON_FULL_WAIT;
	assert_int_equal(sp_start(&cfg), 0);
	assert_int_equal(trc_on_full_, SP_ON_FULL_WAIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_buffer_kb_malformed, tr_setup, teardown),
	    cmocka_unit_test_setup_teardown(test_on_full_malformed, tr_setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_env_malformed, tr_setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffer_kb_sizes, tr_setup, teardown),
	    cmocka_unit_test_setup_teardown(test_on_full_policy, tr_setup, teardown),
	};
	unsetenv("SPANPROF_OUT");
	unsetenv("SPANPROF_BUFFER_KB");
	unsetenv("SPANPROF_ON_FULL");
	unsetenv("SPANPROF_HZ");
	unsetenv("SPANPROF_MODE");
	unsetenv("TRACEPARENT");
	unsetenv("SPANPROF_TRACEPARENT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
