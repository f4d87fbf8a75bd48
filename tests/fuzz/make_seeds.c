/*
 * make_seeds.c - writes the fuzzers' seed corpus (tests/fuzz/corpus) with
 * libcore's real log writer, through merge's synthetic-log helpers:
 *   corpus/fuzz_log_reader/NAME.splog   small whole logs (< 4 KiB each)
 *   corpus/fuzz_codec/NAME.frameN       the content of each LZ4 frame
 * Run by hand after a change of the log format:
 *   build/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
 * (it is built with the tests so that it keeps compiling).
 *
 * Threading: single-threaded.
 */
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "synth.h"

static void spans_log(const char *dir)
{
	synth s;
	if (synth_open(&s, dir, "spans", 100, 1))
		abort();
	synth_span_begin(&s, 100, 1000, 1, 0, "request");
	synth_attr_int(&s, 100, 1, "bytes", 123456);
	synth_attr_str(&s, 100, 1, "path", "/tmp/in.json");
	synth_span_begin(&s, 100, 2000, 2, 1, "parse");
	synth_span_end(&s, 100, 5000, 2);
	synth_span_end(&s, 100, 9000, 1);
	synth_close(&s);
}

static void samples_log(const char *dir)
{
	static const uint8_t build_id[20] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
	static const uint64_t pcs[3] = {0x401010, 0x401200, 0x401300};
	synth s;
	if (synth_open(&s, dir, "samples", 200, 1))
		abort();
	synth_sampler(&s, 1000);
	synth_module(&s, "/usr/bin/prog", 0x400000, 0x410000, 0, build_id, sizeof build_id);
	synth_thread(&s, 200, "main");
	synth_span_begin(&s, 200, 100, 7, 0, "work");
	for (uint32_t i = 0; i < 6; i++)
		synth_sample(&s, 200, 1000 + 1000 * i, pcs, 1 + i % 3);
	synth_span_end(&s, 200, 9000, 7);
	synth_close(&s);
}

static void threads_log(const char *dir)
{
	synth s;
	if (synth_open(&s, dir, "threads", 300, 1))
		abort();
	synth_thread(&s, 300, "main");
	synth_thread(&s, 301, "worker");
	synth_span_begin(&s, 300, 100, 1, 0, "submit");
	synth_span_begin(&s, 301, 200, 2, 1, "job");
	synth_span_end_flags(&s, 300, 300, 2, LC_SPAN_CROSS_THREAD);
	synth_span_end(&s, 300, 400, 1);
	synth_close(&s);
}

/* Splits a log into its LZ4 frames and writes each frame's content. */
static void write_frames(const char *log, const char *out_dir, const char *name)
{
	FILE *f = fopen(log, "rb");
	if (!f)
		abort();
	static uint8_t in[1 << 16], content[1 << 20];
	size_t in_len = fread(in, 1, sizeof in, f), pos = 0;
	fclose(f);
	LZ4F_dctx *d = NULL;
	if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
		abort();
	for (int frame = 0; pos < in_len; frame++) {
		size_t out_len = 0, hint = 1;
		while (hint != 0 && pos < in_len) {
			size_t src = in_len - pos, dst = sizeof content - out_len;
			hint = LZ4F_decompress(d, content + out_len, &dst, in + pos, &src, NULL);
			if (LZ4F_isError(hint))
				abort();
			pos += src;
			out_len += dst;
		}
		char path[1100];
		snprintf(path, sizeof path, "%.512s/%.64s.frame%d", out_dir, name, frame);
		FILE *o = fopen(path, "wb");
		if (!o || fwrite(content, 1, out_len, o) != out_len || fclose(o))
			abort();
	}
	LZ4F_freeDecompressionContext(d);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
		return 2;
	}
	char logs[512], codec[512];
	snprintf(logs, sizeof logs, "%s/fuzz_log_reader", argv[1]);
	snprintf(codec, sizeof codec, "%s/fuzz_codec", argv[1]);
	mkdir(argv[1], 0755);
	mkdir(logs, 0755);
	mkdir(codec, 0755);
	spans_log(logs);
	samples_log(logs);
	threads_log(logs);
	static const char *const names[][2] = {{"spans.100.splog", "spans"},
	                                       {"samples.200.splog", "samples"},
	                                       {"threads.300.splog", "threads"}};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char log[1024];
		snprintf(log, sizeof log, "%s/%s", logs, names[i][0]);
		write_frames(log, codec, names[i][1]);
	}
	return 0;
}
