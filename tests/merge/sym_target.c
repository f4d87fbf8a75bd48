/*
 * sym_target.c - code with a known shape for the symbolization test,
 * compiled with -O2 -g: sym_outer() calls the always_inline
 * sym_inlined_work(), which calls sym_capture(), which records its return
 * address (a pc inside the inlined code).
 */
#include <stdint.h>

volatile uintptr_t sym_captured_pc;
volatile int sym_inner_line, sym_call_line;

__attribute__((noinline)) void sym_capture(void)
{
	sym_captured_pc = (uintptr_t)__builtin_return_address(0);
	__asm__ volatile("" ::: "memory");
}

static inline __attribute__((always_inline)) void sym_inlined_work(void)
{
	sym_capture();
	sym_inner_line = __LINE__ - 1; /* the line of the call above */
}

__attribute__((noinline)) void sym_outer(void)
{
	sym_inlined_work();
	sym_call_line = __LINE__ - 1;
	__asm__ volatile("" ::: "memory");
}
