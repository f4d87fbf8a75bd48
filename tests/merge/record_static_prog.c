/*
 * record_static_prog.c - a statically linked program for merge_record_refuse:
 * `spanprof record` must refuse it (no dynamic loader, so no LD_PRELOAD).
 * Built with -static where libc.a is installed, else with -nostdlib and
 * its own _start (RECORD_NOSTDLIB), which is static all the same.
 */
#ifdef RECORD_NOSTDLIB
void _start(void)
{
	__asm__ volatile("mov $60, %eax\n\txor %edi, %edi\n\tsyscall");
	for (;;)
		;
}
#else
#include <stdio.h>

int main(void)
{
	puts("static program ran");
	return 0;
}
#endif
