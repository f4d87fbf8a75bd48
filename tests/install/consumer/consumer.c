/*
 * consumer.c - uses an installed spanprof: checks that the header and the
 * library loaded agree on the version, then records one span with an
 * attribute (the runtime starts from SPANPROF_OUT, set by the test).
 */
#include <spanprof.h>
#include <stdio.h>

int main(void)
{
	if (sp_version() != SPANPROF_VERSION_NUMBER) {
		fprintf(stderr, "consumer: header %d, library %u\n", SPANPROF_VERSION_NUMBER,
		        sp_version());
		return 1;
	}
	sp_span span = sp_begin("installed");
	sp_attr_int(span, "answer", 42);
	sp_end(span);
	return 0;
}
