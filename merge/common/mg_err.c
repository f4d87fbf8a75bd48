/*
 * mg_err.c - see mg_err.h.
 */
#include "mg_err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local struct {
	int code;
	char text[1024];
} mg_err_slot;

int mg_err_set(int code, const char *fmt, ...)
{
	if (mg_err_slot.code)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(mg_err_slot.text, sizeof mg_err_slot.text, fmt, ap);
	va_end(ap);
	mg_err_slot.code = code ? code : -1;
	return code;
}

int mg_err_code(void)
{
	return mg_err_slot.code;
}

const char *mg_err_text(void)
{
	return mg_err_slot.code ? mg_err_slot.text : "";
}

void mg_err_clear(void)
{
	mg_err_slot.code = 0;
	mg_err_slot.text[0] = '\0';
}

static mg_warn_fn mg_warn_handler;
static void *mg_warn_ctx;

void mg_warn_set_handler(mg_warn_fn fn, void *ctx)
{
	mg_warn_handler = fn;
	mg_warn_ctx = ctx;
}

void mg_warn(const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (mg_warn_handler)
		mg_warn_handler(mg_warn_ctx, text);
	else
		fprintf(stderr, "spanprof: warning: %s\n", text);
}

int mg_err_print(const char *cmd)
{
	if (!mg_err_slot.code)
		return 0;
	fprintf(stderr, "spanprof %s: %s\n", cmd, mg_err_slot.text);
	mg_err_clear();
	return 1;
}
