/*
 * test_error.c - error messages too long for their buffer lose the
 * middle (the long name), never the reason at their end; cuts fall
 * between UTF-8 characters; short messages are kept as they are.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static bool ends_with(const char *text, const char *suffix)
{
	size_t len = strlen(text), slen = strlen(suffix);
	return len >= slen && strcmp(text + len - slen, suffix) == 0;
}

static bool starts_with(const char *text, const char *prefix)
{
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* A path of n bytes: "/home/u/Mail/" then 'a's. */
static void long_path(char *out, size_t n)
{
	memset(out, 'a', n);
	memcpy(out, "/home/u/Mail/", 13);
	out[n] = '\0';
}

static void test_short_message_kept(void **state)
{
	(void)state;
	struct yb_error err;
	yb_error_clear(&err);
	assert_int_equal(yb_fail(&err, YB_ERR_IO, "cannot open %s", "x"), YB_ERR_IO);
	assert_string_equal(err.msg, "cannot open x");
	yb_fail_errno(&err, YB_ERR_IO, ENOENT, "cannot open %s", "x");
	assert_string_equal(err.msg, "cannot open x: No such file or directory");
	yb_error_prefix(&err, "account %s: ", "work");
	assert_string_equal(err.msg, "account work: cannot open x: No such file or directory");
	yb_error_suffix(&err, " (%d)", 7);
	assert_string_equal(err.msg,
			    "account work: cannot open x: No such file or directory (7)");
}

static void test_errno_reason_survives_a_long_name(void **state)
{
	(void)state;
	static char path[5000];
	long_path(path, 4500);
	struct yb_error err;
	yb_fail_errno(&err, YB_ERR_IO, ENAMETOOLONG, "cannot create %s", path);
	assert_true(strlen(err.msg) < YB_ERROR_MSG_MAX);
	assert_true(starts_with(err.msg, "cannot create /home/u/Mail/aaa"));
	char reason[128];
	snprintf(reason, sizeof(reason), "aaa: %s", strerror(ENAMETOOLONG));
	assert_true(ends_with(err.msg, reason));
	assert_non_null(strstr(err.msg, "a...a"));
	assert_int_equal(strlen(err.msg), YB_ERROR_MSG_MAX - 1);
}

static void test_server_text_survives_a_long_name(void **state)
{
	(void)state;
	static char name[3000];
	long_path(name, 2999);
	struct yb_error err;
	yb_fail(&err, YB_ERR_PROTOCOL, "127.0.0.1: EXAMINE \"%s\" failed: %s", name,
		"[NOPERM] no read right");
	assert_true(starts_with(err.msg, "127.0.0.1: EXAMINE \"/home"));
	assert_true(ends_with(err.msg, "\" failed: [NOPERM] no read right"));
}

static void test_prefix_keeps_the_reason(void **state)
{
	(void)state;
	static char path[2000];
	long_path(path, 1010);
	struct yb_error err;
	yb_fail_errno(&err, YB_ERR_IO, ENOSPC, "cannot write %s", path);
	char reason[128];
	snprintf(reason, sizeof(reason), ": %s", strerror(ENOSPC));
	assert_true(ends_with(err.msg, reason));
	yb_error_prefix(&err, "account %s: ", "work");
	assert_true(starts_with(err.msg, "account work: cannot write /home/u/Mail/"));
	assert_true(ends_with(err.msg, reason));
	assert_true(strlen(err.msg) < YB_ERROR_MSG_MAX);
}

static void test_suffix_is_kept(void **state)
{
	(void)state;
	static char path[2000];
	long_path(path, 1020);
	struct yb_error err;
	yb_fail(&err, YB_ERR_IO, "cannot write %s", path);
	yb_error_suffix(&err, "; %s", "the disk is full");
	assert_true(starts_with(err.msg, "cannot write /home/u/Mail/"));
	assert_true(ends_with(err.msg, "aaa; the disk is full"));
}

/* Every byte sequence left is whole UTF-8: no character cut in two. */
static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2
			   : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
		if (n == 0)
			return false;
		for (size_t i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

static void test_cuts_fall_between_characters(void **state)
{
	(void)state;
	/* "ü" is two bytes, "€" three: try every alignment of the cuts. */
	for (size_t shift = 0; shift < 6; shift++) {
		static char name[4000];
		size_t at = 0;
		for (; at < shift; at++)
			name[at] = 'x';
		while (at + 5 < sizeof(name) - 1) {
			memcpy(name + at, "\xc3\xbc\xe2\x82\xac", 5);
			at += 5;
		}
		name[at] = '\0';
		struct yb_error err;
		yb_fail_errno(&err, YB_ERR_IO, EACCES, "folder %s", name);
		assert_true(valid_utf8(err.msg));
		char reason[128];
		snprintf(reason, sizeof(reason), ": %s", strerror(EACCES));
		assert_true(ends_with(err.msg, reason));
		assert_non_null(strstr(err.msg, "..."));
	}
}

static void test_null_error_record(void **state)
{
	(void)state;
	assert_int_equal(yb_fail(NULL, YB_ERR_TEMP, "x"), YB_ERR_TEMP);
	assert_int_equal(yb_fail_errno(NULL, YB_ERR_IO, EIO, "x"), YB_ERR_IO);
	yb_error_prefix(NULL, "x");
	yb_error_suffix(NULL, "x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_message_kept),
		cmocka_unit_test(test_errno_reason_survives_a_long_name),
		cmocka_unit_test(test_server_text_survives_a_long_name),
		cmocka_unit_test(test_prefix_keeps_the_reason),
		cmocka_unit_test(test_suffix_is_kept),
		cmocka_unit_test(test_cuts_fall_between_characters),
		cmocka_unit_test(test_null_error_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
