/* assert_error.c - cmocka assertions on a status and its yb_error. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "assert_error.h"

#include <string.h>

void check_ok(int rc, const struct yb_error *err, const char *file,
	      int line)
{
	if (rc == YB_OK)
		return;
	print_error("unexpected failure %d: %s\n", rc, err->msg);
	_fail(file, line);
}

void check_fails(int rc, const struct yb_error *err, int status,
		 const char *text, const char *file, int line)
{
	if (rc == status && strstr(err->msg, text))
		return;
	/* A call that succeeded may have left the message unset. */
	print_error("got status %d \"%s\", wanted %d with \"%s\"\n", rc,
		    rc == YB_OK ? "" : err->msg, status, text);
	_fail(file, line);
}
