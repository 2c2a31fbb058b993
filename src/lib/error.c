/* error.c - error records and the one place statuses become exit codes. */
#include "config.h"

#include "error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

/* Of a message too long for its buffer, this share of the room is kept
   from its start (account, host, what failed); the rest from its end. */
#define HEAD_SHARE 3
#define ELISION "..."

void yb_error_clear(struct yb_error *err)
{
	if (!err)
		return;
	err->status = YB_OK;
	err->msg[0] = '\0';
}

static bool utf8_continuation(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/*
 * Store text[0..len) in msg.  A text too long loses its middle, not its
 * end: messages end in their reason (strerror, the server's words), and
 * what makes them long is a name in the middle (a folder, a path).  The
 * cuts fall between UTF-8 characters.
 */
static void store_elided(char msg[YB_ERROR_MSG_MAX], const char *text, size_t len)
{
	if (len < YB_ERROR_MSG_MAX) {
		memcpy(msg, text, len);
		msg[len] = '\0';
		return;
	}
	size_t room = YB_ERROR_MSG_MAX - 1 - strlen(ELISION);
	size_t head = room / HEAD_SHARE;
	size_t tail_start = len - (room - head);
	while (head > 0 && utf8_continuation(text[head]))
		head--;
	while (tail_start < len && utf8_continuation(text[tail_start]))
		tail_start++;
	size_t at = 0;
	memcpy(msg, text, head);
	at += head;
	memcpy(msg + at, ELISION, strlen(ELISION));
	at += strlen(ELISION);
	memcpy(msg + at, text + tail_start, len - tail_start);
	at += len - tail_start;
	msg[at] = '\0';
}

/* Where the heap fails us: the old way, cut the end and say so.  Either
   piece may be msg itself, so the second is moved into place first. */
static void store_cut(char msg[YB_ERROR_MSG_MAX], const char *first, const char *second)
{
	size_t room = YB_ERROR_MSG_MAX - 1;
	size_t first_len = strlen(first), second_len = strlen(second);
	size_t first_kept = first_len < room ? first_len : room;
	size_t second_kept = second_len < room - first_kept ? second_len : room - first_kept;
	memmove(msg + first_kept, second, second_kept);
	memmove(msg, first, first_kept);
	msg[first_kept + second_kept] = '\0';
	if (first_kept + second_kept < first_len + second_len)
		memcpy(msg + room - strlen(ELISION), ELISION, strlen(ELISION) + 1);
}

/* msg = first + second, elided to fit. */
static void store_joined(char msg[YB_ERROR_MSG_MAX], const char *first, const char *second)
{
	size_t first_len = strlen(first), second_len = strlen(second);
	if (first_len + second_len < YB_ERROR_MSG_MAX) {
		memmove(msg + first_len, second, second_len + 1);
		memmove(msg, first, first_len);
		return;
	}
	char *joined = malloc(first_len + second_len + 1);
	if (!joined) {
		store_cut(msg, first, second);
		return;
	}
	memcpy(joined, first, first_len);
	memcpy(joined + first_len, second, second_len + 1);
	store_elided(msg, joined, first_len + second_len);
	free(joined);
}

/* A malloc'd formatted string, or NULL (out of memory, bad format). */
__attribute__((format(printf, 1, 0)))
static char *format_alloc(const char *fmt, va_list ap)
{
	va_list measure;
	va_copy(measure, ap);
	int len = vsnprintf(NULL, 0, fmt, measure);
	va_end(measure);
	if (len < 0)
		return NULL;
	char *text = malloc((size_t)len + 1);
	if (text && vsnprintf(text, (size_t)len + 1, fmt, ap) != len) {
		free(text);
		return NULL;
	}
	return text;
}

/* msg = fmt + suffix, elided to fit. */
__attribute__((format(printf, 2, 0)))
static void store_formatted(char msg[YB_ERROR_MSG_MAX], const char *fmt, va_list ap,
			    const char *suffix)
{
	char *text = format_alloc(fmt, ap);
	store_joined(msg, text ? text : "(unformattable message)", suffix);
	free(text);
}

int yb_fail(struct yb_error *err, enum yb_status status, const char *fmt, ...)
{
	if (!err)
		return status;
	err->status = status;
	va_list ap;
	va_start(ap, fmt);
	store_formatted(err->msg, fmt, ap, "");
	va_end(ap);
	return status;
}

int yb_fail_errno(struct yb_error *err, enum yb_status status, int errnum,
		  const char *fmt, ...)
{
	if (!err)
		return status;
	err->status = status;
	char reason[256];
	snprintf(reason, sizeof(reason), ": %s", strerror(errnum));
	va_list ap;
	va_start(ap, fmt);
	store_formatted(err->msg, fmt, ap, reason);
	va_end(ap);
	return status;
}

void yb_error_prefix(struct yb_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *prefix = format_alloc(fmt, ap);
	va_end(ap);
	if (!prefix)
		return;
	store_joined(err->msg, prefix, err->msg);
	free(prefix);
}

void yb_error_suffix(struct yb_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *suffix = format_alloc(fmt, ap);
	va_end(ap);
	if (!suffix)
		return;
	store_joined(err->msg, err->msg, suffix);
	free(suffix);
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
