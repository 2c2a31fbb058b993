/* test_backoff.c - the schedule of --watch's reconnects. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

static void test_steps_double_to_the_cap(void **state)
{
	(void)state;
	static const struct { unsigned failures; int64_t step_ms; } table[] = {
		{ 0, 0 }, { 1, 1000 }, { 2, 2000 }, { 3, 4000 }, { 4, 8000 },
		{ 5, 16000 }, { 6, 32000 }, { 7, 64000 }, { 8, 128000 },
		{ 9, 256000 }, { 10, 300000 }, { 11, 300000 }, { 64, 300000 },
		{ 4000000000u, 300000 },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		assert_int_equal(backoff_step_ms(table[i].failures), table[i].step_ms);
}

static void test_jitter_stays_within_half_to_whole(void **state)
{
	(void)state;
	for (unsigned failures = 1; failures < 14; failures++) {
		int64_t step = backoff_step_ms(failures);
		assert_int_equal(backoff_delay_ms(failures, 0), step / 2);
		assert_int_equal(backoff_delay_ms(failures, (uint32_t)(step - step / 2)), step);
		int64_t low = step, high = 0;
		uint32_t x = 2463534242u;
		for (int i = 0; i < 2000; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			int64_t delay = backoff_delay_ms(failures, x);
			assert_true(delay >= step / 2 && delay <= step);
			low = delay < low ? delay : low;
			high = delay > high ? delay : high;
		}
		/* Spread: not a constant in disguise. */
		assert_true(high - low > (step - step / 2) / 2);
	}
	assert_int_equal(backoff_delay_ms(0, 12345), 0);
	assert_true(backoff_delay_ms(100, UINT32_MAX) <= BACKOFF_MAX_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps_double_to_the_cap),
		cmocka_unit_test(test_jitter_stays_within_half_to_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
