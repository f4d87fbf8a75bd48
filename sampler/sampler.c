/* sampler.c - placeholder until the sampler lands: sampling is off. */
#include "sampler.h"

int sp_sampler_start(const sp_sampler_opts *opts)
{
	(void)opts;
	return 0;
}
void sp_sampler_stop(void) {}
void sp_sampler_atfork_child(void) {}
