/* error.c - error records and the one place statuses become exit codes. */
#include "config.h"

#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

void yb_error_clear(struct yb_error *err)
{
	if (!err)
		return;
	err->status = YB_OK;
	err->msg[0] = '\0';
}

static void mark_truncated(char *msg, size_t size, int written)
{
	if (written >= 0 && (size_t)written < size)
		return;
	if (size >= 4)
		memcpy(msg + size - 4, "...", 4);
}

__attribute__((format(printf, 3, 0)))
static int vfail(struct yb_error *err, enum yb_status status, const char *fmt,
		 va_list ap)
{
	if (!err)
		return status;
	err->status = status;
	int written = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (written < 0)
		err->msg[0] = '\0';
	mark_truncated(err->msg, sizeof(err->msg), written);
	return status;
}

int yb_fail(struct yb_error *err, enum yb_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(err, status, fmt, ap);
	va_end(ap);
	return status;
}

int yb_fail_errno(struct yb_error *err, enum yb_status status, int errnum,
		  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(err, status, fmt, ap);
	va_end(ap);
	if (err) {
		size_t used = strlen(err->msg);
		int written = snprintf(err->msg + used, sizeof(err->msg) - used,
				       ": %s", strerror(errnum));
		mark_truncated(err->msg + used, sizeof(err->msg) - used, written);
	}
	return status;
}

void yb_error_prefix(struct yb_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	char prefix[256];
	va_list ap;
	va_start(ap, fmt);
	int plen = vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (plen < 0)
		return;
	char joined[YB_ERROR_MSG_MAX];
	int written = snprintf(joined, sizeof(joined), "%s%s", prefix, err->msg);
	mark_truncated(joined, sizeof(joined), written);
	memcpy(err->msg, joined, sizeof(err->msg));
}

void yb_error_suffix(struct yb_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	size_t used = strlen(err->msg);
	va_list ap;
	va_start(ap, fmt);
	int written = vsnprintf(err->msg + used, sizeof(err->msg) - used, fmt,
				ap);
	va_end(ap);
	if (written >= 0)
		mark_truncated(err->msg + used, sizeof(err->msg) - used, written);
}

int yb_exit_code(enum yb_status status)
{
	switch (status) {
	case YB_OK:              return EX_OK;
	case YB_ERR_USAGE:       return EX_USAGE;
	case YB_ERR_CONFIG:      return EX_CONFIG;
	case YB_ERR_AUTH:        return EX_NOPERM;
	case YB_ERR_UNAVAILABLE: return EX_UNAVAILABLE;
	case YB_ERR_TEMP:        return EX_TEMPFAIL;
	case YB_ERR_PROTOCOL:    return EX_PROTOCOL;
	case YB_ERR_IO:          return EX_IOERR;
	case YB_ERR_INTERNAL:    return EX_SOFTWARE;
	}
	return EX_SOFTWARE;
}

/*
 * Severity order for "the worst account wins": a bug or a local disk
 * problem needs a person more urgently than a server that was away.
 */
static int severity(enum yb_status status)
{
	switch (status) {
	case YB_OK:              return 0;
	case YB_ERR_TEMP:        return 1;
	case YB_ERR_UNAVAILABLE: return 2;
	case YB_ERR_PROTOCOL:    return 3;
	case YB_ERR_AUTH:        return 4;
	case YB_ERR_IO:          return 5;
	case YB_ERR_CONFIG:      return 6;
	case YB_ERR_USAGE:       return 7;
	case YB_ERR_INTERNAL:    return 8;
	}
	return 8;
}

enum yb_status yb_status_worse(enum yb_status a, enum yb_status b)
{
	return severity(b) > severity(a) ? b : a;
}

const char *yb_status_name(enum yb_status status)
{
	switch (status) {
	case YB_OK:              return "ok";
	case YB_ERR_USAGE:       return "usage";
	case YB_ERR_CONFIG:      return "config";
	case YB_ERR_AUTH:        return "auth";
	case YB_ERR_UNAVAILABLE: return "unavailable";
	case YB_ERR_TEMP:        return "temporary";
	case YB_ERR_PROTOCOL:    return "protocol";
	case YB_ERR_IO:          return "io";
	case YB_ERR_INTERNAL:    return "internal";
	}
	return "internal";
}
