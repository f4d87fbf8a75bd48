/*
 * unmodified.c - a program that knows nothing about spanprof: no header,
 * not linked with the library. `spanprof record` preloads the runtime,
 * which samples it; merge names its functions from its debug info.
 *
 * It counts the words of a generated text in an open-addressing hash
 * table whose hash function is poor (it only looks at the first two
 * letters), so lookups probe long chains: find_slot is the hot function,
 * which the profile must name.
 *
 * Usage: unmodified [WORDS]   (default 200000)
 * Threading: single-threaded. Signal safety: n/a.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TABLE_SLOTS = 1 << 16, WORD_MAX = 16, VOCABULARY = 2000 };

typedef struct slot {
	char word[WORD_MAX];
	long count;
} slot;

static slot table[TABLE_SLOTS];

/* Deliberately poor: words sharing their first two letters collide. */
static uint32_t weak_hash(const char *w)
{
	return ((uint32_t)(unsigned char)w[0] * 31u + (unsigned char)w[1]) % TABLE_SLOTS;
}

static __attribute__((noinline)) slot *find_slot(const char *w)
{
	uint32_t i = weak_hash(w);
	while (table[i].word[0] != '\0' && strcmp(table[i].word, w) != 0)
		i = (i + 1) % TABLE_SLOTS;
	return &table[i];
}

static uint64_t rng_state = 0x853c49e6748fea9bULL;

/* A random word of a 2000-word vocabulary; word k is spelt from k's digits
 * in base 26, behind one of three first letters. */
static void next_word(char *w)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	uint32_t k = (uint32_t)(rng_state % VOCABULARY);
	int len = 0;
	w[len++] = (char)('a' + k % 3);
	for (uint32_t r = k; len < 4 || r > 0; r /= 26)
		w[len++] = (char)('a' + r % 26);
	w[len] = '\0';
}

int main(int argc, char **argv)
{
	long words = argc > 1 ? atol(argv[1]) : 200000;
	long distinct = 0;
	char w[WORD_MAX];
	for (long n = 0; n < words; n++) {
		next_word(w);
		slot *s = find_slot(w);
		if (s->word[0] == '\0') {
			if (distinct + 1 >= TABLE_SLOTS)
				break;
			strcpy(s->word, w);
			distinct++;
		}
		s->count++;
	}
	printf("unmodified: %ld words, %ld distinct\n", words, distinct);
	return 0;
}
