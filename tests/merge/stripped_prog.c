/*
 * stripped_prog.c - a program that is stripped after linking (no .symtab,
 * no DWARF; -rdynamic keeps stripped_exported in .dynsym). It prints the
 * mappings of its own file and the addresses of two functions, so the
 * symbolization test can write a log that samples them.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) int stripped_exported(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

__attribute__((noinline)) static int stripped_static(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 5 + 2;
}

int main(void)
{
	char exe[4096], line[8192];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return 1;
	exe[n] = 0;
	FILE *maps = fopen("/proc/self/maps", "r");
	if (!maps)
		return 1;
	while (fgets(line, sizeof line, maps)) {
		unsigned long long start, end, off;
		char perms[8], path[4096] = "";
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095s", &start, &end, perms, &off,
		           path) == 5 &&
		    !strcmp(path, exe))
			printf("map %llx %llx %llx %s\n", start, end, off, path);
	}
	fclose(maps);
	printf("exported %llx\n", (unsigned long long)(uintptr_t)&stripped_exported);
	printf("static %llx\n", (unsigned long long)(uintptr_t)&stripped_static);
	return stripped_exported(1) + stripped_static(2) == 0;
}
