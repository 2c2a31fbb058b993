/*
 * test_clock.c - deadlines on the monotonic clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdint.h>

#include "clock.h"

static void test_zero_is_never_only_when_asked(void **unused)
{
	(void)unused;
	assert_true(clock_deadline_in_ms(0, true) == CLOCK_NEVER);
	int64_t now = clock_deadline_in_ms(0, false);
	assert_true(now != CLOCK_NEVER);
	assert_true(clock_passed(now));
	assert_int_equal(clock_left_ms(now), 0);
	assert_int_equal(clock_poll_timeout(now, INT_MAX), 0);
}

static void test_never(void **unused)
{
	(void)unused;
	assert_false(clock_passed(CLOCK_NEVER));
	assert_int_equal(clock_poll_timeout(CLOCK_NEVER, 1000), -1);
	assert_true(clock_left_ms(CLOCK_NEVER) == CLOCK_NEVER);
	/* A sum past the clock's range is no deadline, not a wrapped one. */
	assert_true(clock_deadline_in_ms(UINT64_MAX, false) == CLOCK_NEVER);
	assert_true(clock_deadline_in_ms((uint64_t)INT64_MAX, true) == CLOCK_NEVER);
	clock_sleep_until(CLOCK_NEVER); /* returns at once */
}

static void test_left_is_capped_and_counts_down(void **unused)
{
	(void)unused;
	int64_t deadline = clock_deadline_in_ms(60000, true);
	assert_false(clock_passed(deadline));
	int64_t left = clock_left_ms(deadline);
	assert_true(left > 0 && left <= 60000);
	assert_int_equal(clock_poll_timeout(deadline, 250), 250);
	int timeout = clock_poll_timeout(deadline, INT_MAX);
	assert_true(timeout > 0 && timeout <= 60000);
}

static void test_sleep_lasts(void **unused)
{
	(void)unused;
	int64_t before = clock_now_ms();
	clock_sleep_ms(30);
	assert_true(clock_now_ms() - before >= 30);
	int64_t deadline = clock_deadline_in_ms(20, false);
	clock_sleep_until(deadline);
	assert_true(clock_passed(deadline));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_is_never_only_when_asked),
		cmocka_unit_test(test_never),
		cmocka_unit_test(test_left_is_capped_and_counts_down),
		cmocka_unit_test(test_sleep_lasts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
