/*
 * multi_process.c - a parent that fans work out to child processes and
 * passes its trace context to them in the environment, so that one merged
 * database holds one trace and one timeline for all of them.
 *
 * The parent opens the span "job", and for each shard a span "spawn"
 * (attribute shard); inside it, it formats the current context as a W3C
 * traceparent (sp_traceparent) into SPANPROF_TRACEPARENT and runs
 * `multi_process --child SHARD` with fork + exec. The child is a new
 * program image: its runtime starts from the inherited environment
 * (SPANPROF_OUT, set by `spanprof record` or by hand) and reads the
 * traceparent, so its first span "shard_work" has the parent's trace id
 * and the "spawn" span as its parent. Shard 2 gets four times the work:
 * the merged trace shows which child, and which code in it, made the job
 * slow.
 *
 * Usage: multi_process [-c CHILDREN]   (children run concurrently)
 * Threading: single-threaded processes. Signal safety: n/a.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spanprof.h>

static __attribute__((noinline)) uint64_t crunch_shard(long rounds)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (long i = 0; i < rounds; i++)
		h = (h ^ (uint64_t)i) * 0x100000001b3ULL;
	return h;
}

static int child_main(const char *self, int shard)
{
	(void)self;
	SP_SCOPE(span, "shard_work");
	sp_attr_int(span, "shard", shard);
	long rounds = (shard == 2 ? 4 : 1) * 60000000L;
	uint64_t h = crunch_shard(rounds);
	printf("multi_process: child %d (pid %d) done, %016llx\n", shard, (int)getpid(),
	       (unsigned long long)h);
	return 0;
}

/* Starts one child with the current span context in its environment. */
static pid_t spawn_child(const char *self, int shard)
{
	SP_SCOPE(span, "spawn");
	sp_attr_int(span, "shard", shard);
	char traceparent[SP_TRACEPARENT_LEN], shard_arg[16];
	if (sp_traceparent(traceparent, sizeof traceparent) > 0)
		setenv("SPANPROF_TRACEPARENT", traceparent, 1);
	snprintf(shard_arg, sizeof shard_arg, "%d", shard);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		execl(self, self, "--child", shard_arg, (char *)NULL);
		perror(self);
		_exit(127);
	}
	unsetenv("SPANPROF_TRACEPARENT");
	return pid;
}

static int parent_main(const char *self, int children)
{
	pid_t pids[16];
	int failed = 0;
	SP_SCOPE(job, "job");
	sp_attr_int(job, "children", children);
	for (int i = 0; i < children; i++)
		pids[i] = spawn_child(self, i);
	for (int i = 0; i < children; i++) {
		int status = 0;
		if (pids[i] < 0 || waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed++;
	}
	printf("multi_process: %d children, %d failed\n", children, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	/* /proc/self/exe: the child runs this very program, wherever it is. */
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_main(self, atoi(argv[2]));
	int children = 3;
	if (argc == 3 && strcmp(argv[1], "-c") == 0)
		children = atoi(argv[2]);
	if (argc != 1 && argc != 3)
		children = 0;
	if (children < 1 || children > 16) {
		fprintf(stderr, "usage: multi_process [-c CHILDREN (1-16)]\n");
		return 2;
	}
	return parent_main(self, children);
}
