/*
 * assert_error.h - cmocka assertions on a function's status and its
 * struct yb_error (cmocka must be included first).  A failure prints
 * the status and message that came instead and fails the test at the
 * caller's line.
 */
#ifndef YUBIN_ASSERT_ERROR_H
#define YUBIN_ASSERT_ERROR_H

#include "error.h"

/* rc is YB_OK. */
#define assert_ok(rc, err) check_ok((rc), (err), __FILE__, __LINE__)
/* rc is status and err's message holds text. */
#define assert_fails(rc, err, status, text) \
	check_fails((rc), (err), (status), (text), __FILE__, __LINE__)

void check_ok(int rc, const struct yb_error *err, const char *file,
	      int line);
void check_fails(int rc, const struct yb_error *err, int status,
		 const char *text, const char *file, int line);

#endif
