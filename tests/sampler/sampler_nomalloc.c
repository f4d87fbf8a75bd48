/*
 * sampler_nomalloc.c - proves the signal path never allocates: this
 * binary replaces malloc and friends, and each replacement counts calls made
 * while the calling thread is inside the sampling handler. A deep (30-frame)
 * CPU-bound workload on two threads is sampled at ~5 kHz; every sample
 * unwinds through libunwind, clock and ring code.
 *
 * Not built with the sanitizers (AddressSanitizer owns malloc there): the
 * test then skips with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log_writer.h"
#include "sampler.h"
#include "smp_util.h"
#include "tl.h"

int smp_in_handler(void);

#ifndef SU_TEST_SANITIZED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static atomic_ulong g_alloc_in_handler;
static atomic_ulong g_alloc_total;

static void note_call(void)
{
	atomic_fetch_add_explicit(&g_alloc_total, 1, memory_order_relaxed);
	if (smp_in_handler())
		atomic_fetch_add_explicit(&g_alloc_in_handler, 1, memory_order_relaxed);
}

void *malloc(size_t n)
{
	note_call();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	note_call();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	note_call();
	return __libc_realloc(p, n);
}

void free(void *p)
{
	if (p)
		note_call();
	__libc_free(p);
}

void *memalign(size_t align, size_t n)
{
	note_call();
	return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	note_call();
	return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	note_call();
	*out = __libc_memalign(align, n);
	return *out ? 0 : 12;
}
#endif

__attribute__((noinline, unused)) static uint64_t deep(int depth, double cpu_s)
{
	volatile uint64_t keep = (uint64_t)depth;
	if (depth > 0)
		keep += deep(depth - 1, cpu_s);
	else
		spin(cpu_s);
	return keep;
}

__attribute__((unused)) static void *deep_thread(void *arg)
{
	(void)arg;
	deep(30, 0.4);
	return NULL;
}

static void test_handler_never_allocates(void **state)
{
	(void)state;
#ifdef SU_TEST_SANITIZED
	skip(); /* AddressSanitizer replaces malloc: this proof runs in the normal build */
#else
	char dir[64];
	tl_tmpdir(dir, sizeof dir, "nomalloc");
	lc_clock_init();
	lc_log_opts lo = {.dir = dir, .program = "nomalloc"};
	lc_rec_process proc;
	memset(&proc, 0, sizeof proc);
	proc.exe = "nomalloc";
	proc.cmdline = "nomalloc";
	proc.host = "";
	proc.traceparent = "";
	assert_int_equal(lc_log_open(&lo, &proc), 0);
	smp_opts so = {.mode = SMP_SAMPLE_CPU, .hz = 4999};
	assert_int_equal(smp_start(&so), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, deep_thread, NULL), 0);
	deep(30, 0.4);
	pthread_join(t, NULL);
	smp_stop();
	lc_log_close();
	char logs[2][512];
	assert_int_equal(tl_find_logs(dir, logs, 2), 1);
	su_log log;
	assert_int_equal(su_read_log(logs[0], &log), 0);
	size_t deep_samples = 0;
	for (size_t i = 0; i < log.nsamples; i++)
		deep_samples += log.samples[i].nframes >= 30;
	print_message("# %zu samples (%zu with >= 30 frames); allocations: %lu in handler, %lu "
	              "in all\n",
	              log.nsamples, deep_samples, atomic_load(&g_alloc_in_handler),
	              atomic_load(&g_alloc_total));
	assert_true(deep_samples > 1000);
	assert_true(atomic_load(&g_alloc_total) > 0); /* the hook is live */
	assert_int_equal(atomic_load(&g_alloc_in_handler), 0);
	su_free_log(&log);
	tl_rm_rf(dir);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handler_never_allocates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
