/*
 * test_progress.c - the progress line's text: the rate, the time left
 * and how sizes read, from figures given (no clock, no terminal).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>

#include "progress.h"

static void test_sizes_read_as_people_read_them(void **unused)
{
	(void)unused;
	char out[32];
	progress_format_bytes(0, out, sizeof(out));
	assert_string_equal(out, "0 bytes");
	progress_format_bytes(10239, out, sizeof(out));
	assert_string_equal(out, "10239 bytes");
	progress_format_bytes(10240, out, sizeof(out));
	assert_string_equal(out, "10 kB");
	progress_format_bytes(10u * 1024 * 1024, out, sizeof(out));
	assert_string_equal(out, "10 MB");
}

static void test_rate_waits_for_half_a_second(void **unused)
{
	(void)unused;
	struct progress_figures f = { .bytes = 5000, .elapsed_ms = PROGRESS_RATE_MIN_MS - 1 };
	assert_int_equal(progress_rate(&f), 0);
	f.elapsed_ms = 2000;
	assert_int_equal(progress_rate(&f), 2500);
}

static void test_eta_from_the_rate_so_far(void **unused)
{
	(void)unused;
	/* 1 MB of 4 MB in 2 s: 3 MB left at 512 kB/s is 6 s. */
	struct progress_figures f = {
		.done = 1, .total = 4, .bytes = 1024 * 1024,
		.total_bytes = 4 * 1024 * 1024, .elapsed_ms = 2000,
	};
	assert_int_equal(progress_eta_seconds(&f), 6);
	/* A part of a second left is a second, not none. */
	f.total_bytes = f.bytes + 1;
	assert_int_equal(progress_eta_seconds(&f), 1);
	/* All in (or more than LIST said): nothing left. */
	f.bytes = f.total_bytes + 10;
	assert_int_equal(progress_eta_seconds(&f), 0);
}

static void test_eta_unknown_without_total_or_rate(void **unused)
{
	(void)unused;
	struct progress_figures f = { .bytes = 1000, .elapsed_ms = 5000 };
	assert_int_equal(progress_eta_seconds(&f), -1);
	f.total_bytes = 2000;
	f.elapsed_ms = 10;
	assert_int_equal(progress_eta_seconds(&f), -1);
	f.bytes = 0;
	f.elapsed_ms = 5000;
	assert_int_equal(progress_eta_seconds(&f), -1);
}

static void test_line_with_a_total(void **unused)
{
	(void)unused;
	char out[160];
	struct progress_figures f = {
		.done = 3, .total = 7, .bytes = 12 * 1024,
		.total_bytes = 40 * 1024, .elapsed_ms = 1500,
	};
	progress_format(out, sizeof(out), &f);
	/* 8 kB/s, 28 kB left: 3.5 s, shown as 4. */
	assert_string_equal(out, "3/7 messages, 12 kB of 40 kB, 8192 bytes/s, ETA 0:04");
}

static void test_line_without_a_total(void **unused)
{
	(void)unused;
	char out[160];
	struct progress_figures f = { .done = 2, .total = 5, .bytes = 300, .elapsed_ms = 100 };
	progress_format(out, sizeof(out), &f);
	assert_string_equal(out, "2/5 messages, 300 bytes");
	f.bytes = 30 * 1024 * 1024;
	f.elapsed_ms = 3000;
	progress_format(out, sizeof(out), &f);
	assert_string_equal(out, "2/5 messages, 30 MB, 10 MB/s");
}

static void test_long_eta_has_hours_and_none_when_done(void **unused)
{
	(void)unused;
	char out[160];
	/* 1000 bytes/s, 3723000 bytes left: 1:02:03. */
	struct progress_figures f = {
		.done = 1, .total = 2, .bytes = 1000,
		.total_bytes = 1000 + 3723000, .elapsed_ms = 1000,
	};
	progress_format(out, sizeof(out), &f);
	assert_string_equal(out, "1/2 messages, 1000 bytes of 3636 kB, 1000 bytes/s, ETA 1:02:03");
	f.done = 2;
	progress_format(out, sizeof(out), &f);
	assert_string_equal(out, "2/2 messages, 1000 bytes of 3636 kB, 1000 bytes/s");
}

static void test_line_is_cut_not_overrun(void **unused)
{
	(void)unused;
	char out[8];
	struct progress_figures f = { .done = 123456, .total = 999999 };
	progress_format(out, sizeof(out), &f);
	assert_string_equal(out, "123456/");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_read_as_people_read_them),
		cmocka_unit_test(test_rate_waits_for_half_a_second),
		cmocka_unit_test(test_eta_from_the_rate_so_far),
		cmocka_unit_test(test_eta_unknown_without_total_or_rate),
		cmocka_unit_test(test_line_with_a_total),
		cmocka_unit_test(test_line_without_a_total),
		cmocka_unit_test(test_long_eta_has_hours_and_none_when_done),
		cmocka_unit_test(test_line_is_cut_not_overrun),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
