/*
 * core_fork.c - fork while a log is open. The child writes its own log
 * (<program>.<childpid>.splog, ppid = parent) that holds the sticky meta
 * records (re-emitted; names of threads that ended are dropped) but not the
 * non-sticky ones, not the parent's unflushed ring content and nothing of
 * the parent's other threads; the forking thread's ring stays usable in the
 * child. The parent's log still
 * gets its own unflushed records.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "core_util.h"
#include "spanprof.h"
#include "tl.h"

static pthread_barrier_t started, finish;
static lc_ring *other_ring;

static void *other_thread(void *arg)
{
	(void)arg;
	other_ring = lc_ring_create((uint32_t)gettid(), 0);
	lc_rec_span_begin b = {.ts = lc_clock_ticks(), .span_id = 900, .name_id = 5};
	lc_ring_span_begin(other_ring, &b);
	pthread_barrier_wait(&started);
	pthread_barrier_wait(&finish);
	lc_ring_retire(other_ring);
	return NULL;
}

static void put_thread(uint32_t tid, int ended)
{
	lc_record rec = {.type = LC_REC_THREAD};
	rec.u.thread = (lc_rec_thread){.ts = lc_clock_ticks(), .tid = tid, .name = "t"};
	assert_int_equal(lc_log_meta(&rec, 1), 0);
	if (!ended)
		return;
	rec = (lc_record){.type = LC_REC_THREAD_END};
	rec.u.thread_end = (lc_rec_thread_end){.ts = lc_clock_ticks(), .tid = tid};
	assert_int_equal(lc_log_meta(&rec, 0), 0);
}

static void put_string(uint32_t id, const char *s, int sticky)
{
	lc_record rec = {.type = LC_REC_STRING};
	rec.u.string = (lc_rec_string){.id = id, .len = (uint32_t)strlen(s), .bytes = s};
	assert_int_equal(lc_log_meta(&rec, sticky), 0);
}

/* Child side: no cmocka here, the exit status says what went wrong. */
static int child_main(lc_ring *ring)
{
	if (lc_log_atfork_child() != 0)
		return 10;
	if (!lc_log_is_open() || !strstr(lc_log_path(), "fork."))
		return 11;
	lc_rec_span_begin b = {.ts = lc_clock_ticks(), .span_id = 700, .name_id = 5};
	if (lc_ring_span_begin(ring, &b) != 0)
		return 12;
	lc_log_close();
	return 0;
}

typedef struct found {
	int sticky, nonsticky, span_700, span_100, span_900, thread_555, thread_556;
	uint32_t pid, ppid, span_700_tid;
} found;

static void scan(const char *path, found *f)
{
	lc_reader *r;
	assert_int_equal(lc_reader_open(path, &r), 0);
	lc_record rec;
	int rc;
	while ((rc = lc_reader_next(r, &rec)) == 1) {
		if (rec.type == LC_REC_STRING) {
			f->sticky += rec.u.string.id == 5;
			f->nonsticky += rec.u.string.id == 6;
		} else if (rec.type == LC_REC_THREAD) {
			f->thread_555 += rec.u.thread.tid == 555;
			f->thread_556 += rec.u.thread.tid == 556;
		} else if (rec.type == LC_REC_SPAN_BEGIN) {
			uint64_t id = rec.u.span_begin.span_id;
			f->span_700 += id == 700;
			f->span_100 += id == 100;
			f->span_900 += id == 900;
			if (id == 700)
				f->span_700_tid = rec.u.span_begin.tid;
		}
	}
	assert_int_equal(rc, 0);
	f->pid = lc_reader_process(r)->pid;
	f->ppid = lc_reader_process(r)->ppid;
	lc_reader_close(r);
}

static void test_fork_child_log(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "core");
	char path[512], child_path[600];
	lc_ring *ring = lc_ring_create((uint32_t)gettid(), 0);
	assert_int_equal(core_open_log(dir, "fork", path, sizeof path), 0);
	put_string(5, "sticky", 1);
	put_string(6, "plain", 0);
	put_thread(555, 1); /* ended: not re-emitted in the child */
	put_thread(556, 0); /* alive at fork: re-emitted */
	lc_log_flush();
	pthread_barrier_init(&started, NULL, 2);
	pthread_barrier_init(&finish, NULL, 2);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
	pthread_barrier_wait(&started);
	lc_rec_span_begin b = {.ts = lc_clock_ticks(), .span_id = 100, .name_id = 5};
	assert_int_equal(lc_ring_span_begin(ring, &b), 0); /* unflushed at fork */

	lc_log_atfork_prepare();
	pid_t pid = fork();
	if (pid == 0)
		_exit(child_main(ring));
	lc_log_atfork_parent();
	assert_true(pid > 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	pthread_barrier_wait(&finish);
	pthread_join(th, NULL);
	lc_ring_retire(ring);
	lc_log_close();

	snprintf(child_path, sizeof child_path, "%s/fork.%d.splog", dir, (int)pid);
	found c = {0}, p = {0};
	scan(child_path, &c);
	assert_int_equal(c.pid, (uint32_t)pid);
	assert_int_equal(c.ppid, (uint32_t)getpid());
	assert_int_equal(c.sticky, 1);
	assert_int_equal(c.nonsticky, 0);
	assert_int_equal(c.thread_555, 0);
	assert_int_equal(c.thread_556, 1);
	assert_int_equal(c.span_700, 1);
	assert_int_equal(c.span_700_tid, (uint32_t)pid); /* the child's only thread */
	assert_int_equal(c.span_100, 0);
	assert_int_equal(c.span_900, 0);
	scan(path, &p);
	assert_int_equal(p.span_100, 1);
	assert_int_equal(p.span_900, 1);
	assert_int_equal(p.span_700, 0);
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fork_child_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
