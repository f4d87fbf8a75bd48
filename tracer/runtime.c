/* runtime.c - placeholder until the tracer lands. */
#include "spanprof.h"
