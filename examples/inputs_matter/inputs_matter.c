/*
 * inputs_matter.c - a batch job whose cost depends on a few input values.
 *
 * `inputs_matter generate FILE [RECORDS]` writes a text file of records
 * "user<TAB>text"; `inputs_matter process FILE` reads it back and runs every
 * record through the same function, match_rule(), a naive backtracking
 * matcher. A handful of records (two users, 0.2% of the data, placed in the
 * second half of the file) carry long runs of one character, which send
 * match_rule() into its quadratic slow path. A flat profile says only
 * "match_rule is hot" (it runs for every record); each record is a span
 * "process" with the attributes user and bytes, so
 * `spanprof top DB --span process --by user` names the users that cost the
 * time.
 *
 * Threading: single-threaded. Signal safety: n/a.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spanprof.h>

enum { USERS = 200, TEXT_BYTES = 400, SLOW_TEXT_BYTES = 6000, SLOW_EVERY = 500 };
static const char *const slow_users[] = {"user-0417", "user-1893"};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* An ordinary record: varied text, so the matcher fails fast. */
static void write_plain_record(FILE *f, unsigned user_no)
{
	fprintf(f, "user-%04u\t", 1000 + user_no * 7 % 1000);
	for (int i = 0; i < TEXT_BYTES; i++)
		fputc("abcdefghijklmnopqrstuvwxyz "[rng_next() % 27], f);
	fputc('\n', f);
}

/* A record that is one long run of 'a': the pattern "a*b" backtracks
 * over it quadratically. */
static void write_slow_record(FILE *f, const char *user)
{
	fprintf(f, "%s\t", user);
	for (int i = 0; i < SLOW_TEXT_BYTES; i++)
		fputc('a', f);
	fputc('\n', f);
}

static int generate(const char *path, long records)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return 1;
	}
	for (long i = 0; i < records; i++) {
		if (i > records / 2 && i % SLOW_EVERY == 0)
			write_slow_record(f, slow_users[(i / SLOW_EVERY) % 2]);
		else
			write_plain_record(f, (unsigned)(rng_next() % USERS));
	}
	return fclose(f) == 0 ? 0 : 1;
}

/* Does text contain a match of pat, where pat is letters and 'x*'? Naive
 * backtracking: linear on varied text, quadratic on long runs. */
static int match_here(const char *pat, const char *text);

static int match_star(char c, const char *pat, const char *text)
{
	do {
		if (match_here(pat, text))
			return 1;
	} while (*text != '\0' && *text++ == c);
	return 0;
}

static int match_here(const char *pat, const char *text)
{
	if (pat[0] == '\0')
		return 1;
	if (pat[1] == '*')
		return match_star(pat[0], pat + 2, text);
	if (*text != '\0' && pat[0] == *text)
		return match_here(pat + 1, text + 1);
	return 0;
}

static __attribute__((noinline)) int match_rule(const char *pat, const char *text)
{
	for (const char *t = text;; t++) {
		if (match_here(pat, t))
			return 1;
		if (*t == '\0')
			return 0;
	}
}

/* The rules every record is checked against. */
static const char *const rules[] = {"qu*x", "zz*y", "jk*q", "xv*w", "a*b", "wq*z", "vx*j", "kq*z"};

static int process_record(char *line)
{
	char *tab = strchr(line, '\t');
	if (!tab)
		return 0;
	*tab = '\0';
	const char *user = line, *text = tab + 1;
	SP_SCOPE(span, "process");
	sp_attr_str(span, "user", user);
	sp_attr_int(span, "bytes", (int64_t)strlen(text));
	/* Every record runs the same rules; only the data decides the cost. */
	int hits = 0;
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
		hits += match_rule(rules[i], text);
	return hits;
}

static int process(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return 1;
	}
	char *line = NULL;
	size_t cap = 0;
	long records = 0, hits = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		hits += process_record(line);
		records++;
	}
	free(line);
	fclose(f);
	printf("inputs_matter: %ld records, %ld rule hits\n", records, hits);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "generate") == 0)
		return generate(argv[2], argc > 3 ? atol(argv[3]) : 20000);
	if (argc == 3 && strcmp(argv[1], "process") == 0)
		return process(argv[2]);
	fprintf(stderr, "usage: inputs_matter generate FILE [RECORDS] | process FILE\n");
	return 2;
}
