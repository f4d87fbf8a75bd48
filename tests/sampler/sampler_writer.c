/*
 * sampler_writer.c - spanprof's own threads are never sampled. The log
 * writer thread is created through the real pthread_create that the runtime
 * hands to libcore (lc_log_set_thread_create), past the sampler's
 * interposer: it gets no THREAD registration and no SAMPLE, in the process
 * and in a fork child, whose writer restarts in the child's fork handler.
 * Controls: a thread the program creates with pthread_create is registered
 * and sampled; one created with smp_real_pthread_create is not.
 *
 * Wall-clock sampling samples every registered thread, idle or busy, so a
 * registered writer (it sleeps between drains) would show up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sampler.h"
#include "smp_util.h"
#include "spanprof.h"
#include "tl.h"

#define IDLE_MS 300

/* The tid of this process's thread named name, 0 if none. */
static uint32_t find_thread(const char *name)
{
	uint32_t found = 0;
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && !found) {
		char path[300], comm[64] = "";
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof comm, f) && strncmp(comm, name, strlen(name)) == 0)
			found = (uint32_t)strtoul(e->d_name, NULL, 10);
		fclose(f);
	}
	closedir(d);
	return found;
}

static void idle_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void *idle_thread(void *tid_out)
{
	*(uint32_t *)tid_out = (uint32_t)gettid();
	idle_ms(IDLE_MS);
	return NULL;
}

static int registered(const su_log *log, uint32_t tid)
{
	for (size_t i = 0; i < log->nthreads; i++)
		if (log->threads[i] == tid)
			return 1;
	return 0;
}

/* Child: its writer restarted in the fork handler; report its tid. */
static void child_main(int report_fd)
{
	uint32_t writer = find_thread("spanprof-writer");
	idle_ms(IDLE_MS);
	if (write(report_fd, &writer, sizeof writer) != sizeof writer)
		_exit(2);
	sp_stop();
	_exit(writer ? 0 : 1);
}

static void check_log(const char *path, uint32_t pid, uint32_t writer)
{
	su_log log;
	assert_int_equal(su_read_log(path, &log), 0);
	assert_int_equal(log.pid, pid);
	assert_true(log.sampler_seen);
	assert_false(registered(&log, writer));
	assert_int_equal(su_samples_of(&log, writer), 0);
	assert_true(su_samples_of(&log, pid) > 0); /* the main thread was */
	su_free_log(&log);
}

static void test_writer_never_sampled(void **state)
{
	(void)state;
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "writer");
	sp_config cfg = {.out_dir = dir, .hz = 997, .mode = SP_MODE_WALL};
	assert_int_equal(sp_start(&cfg), 0);
	uint32_t writer = find_thread("spanprof-writer");
	assert_true(writer != 0);

	pthread_t t_user, t_raw;
	uint32_t user_tid = 0, raw_tid = 0;
	assert_int_equal(pthread_create(&t_user, NULL, idle_thread, &user_tid), 0);
	assert_int_equal(smp_real_pthread_create(&t_raw, NULL, idle_thread, &raw_tid), 0);
	pthread_join(t_user, NULL);
	pthread_join(t_raw, NULL);

	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(fds[0]);
		child_main(fds[1]);
	}
	close(fds[1]);
	uint32_t child_writer = 0;
	assert_int_equal(read(fds[0], &child_writer, sizeof child_writer), sizeof child_writer);
	close(fds[0]);
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	sp_stop();

	char logs[4][512];
	assert_int_equal(tl_find_logs(dir, logs, 4), 2);
	su_log log;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(su_read_log(logs[i], &log), 0);
		uint32_t pid = log.pid;
		su_free_log(&log);
		if (pid == (uint32_t)getpid()) {
			check_log(logs[i], pid, writer);
			assert_int_equal(su_read_log(logs[i], &log), 0);
			assert_true(registered(&log, user_tid));
			assert_true(su_samples_of(&log, user_tid) > 0);
			assert_false(registered(&log, raw_tid));
			assert_int_equal(su_samples_of(&log, raw_tid), 0);
			su_free_log(&log);
		} else {
			assert_int_equal(pid, (uint32_t)child);
			check_log(logs[i], pid, child_writer);
		}
	}
	tl_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_writer_never_sampled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
