/*
 * test_check_report.c - --check's steps as text and as JSON: the mark,
 * the name, the detail and the time on one line, the hint on its own,
 * further lines indented; JSON escapes what a server sent, and a step
 * without a hint has "hint":null; check_fs_name names what it knows.
 */
#define _GNU_SOURCE /* open_memstream */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_report.h"

/* What fn wrote for step, malloc'd. */
static char *written(void (*fn)(FILE *, const struct check_step *),
		     const struct check_step *step)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	assert_non_null(out);
	fn(out, step);
	assert_int_equal(fclose(out), 0);
	return text;
}

static void test_text_ok_line(void **state)
{
	(void)state;
	struct check_step step = { .account = "work", .name = "resolve",
				   .mark = CHECK_OK, .detail = "mail.example: 192.0.2.1",
				   .ms = 12 };
	char *text = written(check_report_text, &step);
	assert_string_equal(text, "  ok    resolve       mail.example: 192.0.2.1 (12 ms)\n");
	free(text);
}

static void test_text_failure_hint_and_more(void **state)
{
	(void)state;
	struct check_step step = { .account = "work", .name = "tls",
				   .mark = CHECK_FAIL, .status = YB_ERR_UNAVAILABLE,
				   .detail = "not trusted", .hint = "tls_ca_file",
				   .more = "certificate 0\n  subject /CN=x\n", .ms = 3 };
	char *text = written(check_report_text, &step);
	assert_string_equal(text,
			    "  FAIL  tls           not trusted (3 ms)\n"
			    "        change: tls_ca_file\n"
			    "        certificate 0\n"
			    "          subject /CN=x\n");
	free(text);
}

static void test_json_escapes_and_null_hint(void **state)
{
	(void)state;
	struct check_step step = { .account = "work", .name = "greeting",
				   .mark = CHECK_WARN, .detail = "say \"hi\"\\\x01",
				   .ms = 0 };
	char *text = written(check_report_json, &step);
	assert_string_equal(text,
			    "{\"account\":\"work\",\"step\":\"greeting\",\"status\":\"warn\","
			    "\"detail\":\"say \\\"hi\\\"\\\\\\u0001\",\"hint\":null,"
			    "\"exit_code\":0,\"ms\":0}");
	free(text);
}

static void test_json_failure_exit_code(void **state)
{
	(void)state;
	struct check_step step = { .account = "a", .name = "login",
				   .mark = CHECK_FAIL, .status = YB_ERR_AUTH,
				   .detail = "refused", .hint = "user", .ms = 5 };
	char *text = written(check_report_json, &step);
	assert_non_null(strstr(text, "\"status\":\"FAIL\""));
	assert_non_null(strstr(text, "\"hint\":\"user\""));
	assert_non_null(strstr(text, "\"exit_code\":77,\"ms\":5}"));
	free(text);
}

static void test_fs_names(void **state)
{
	(void)state;
	assert_string_equal(check_fs_name(0xEF53), "ext2/3/4");
	assert_string_equal(check_fs_name(0x01021994), "tmpfs");
	assert_string_equal(check_fs_name(0x6969), "nfs");
	assert_null(check_fs_name(0x12345678));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_ok_line),
		cmocka_unit_test(test_text_failure_hint_and_more),
		cmocka_unit_test(test_json_escapes_and_null_hint),
		cmocka_unit_test(test_json_failure_exit_code),
		cmocka_unit_test(test_fs_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
