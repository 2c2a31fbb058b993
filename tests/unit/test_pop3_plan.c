/*
 * test_pop3_plan.c - the POP3 engine's decisions over a listing: the
 * grace before a missing key is forgotten, and the renumbering rule.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <time.h>

#include "pop3_plan.h"

#define DAY 86400

/* Missing from one listing a day: forgotten only at the 7th day's. */
static void test_grace_needs_listings_and_days(void **state)
{
	(void)state;
	const time_t start = 1700000000;
	time_t since = 0;
	unsigned long runs = 0;
	bool missing = false;
	for (int day = 0; day <= 7; day++) {
		time_t now = start + (time_t)day * DAY;
		pop3_missing_once_more(missing, since, runs, now, &since, &runs);
		missing = true;
		assert_int_equal(since, start);
		assert_int_equal(runs, (unsigned long)day + 1);
		assert_int_equal(pop3_grace_is_over(runs, since, now), day >= 7);
	}
}

/* A hundred listings in an hour (cron every minute) forget nothing. */
static void test_grace_listings_alone_are_not_enough(void **state)
{
	(void)state;
	const time_t start = 1700000000;
	time_t since = 0;
	unsigned long runs = 0;
	for (int i = 0; i < 100; i++) {
		time_t now = start + i * 36;
		pop3_missing_once_more(i > 0, since, runs, now, &since, &runs);
		assert_false(pop3_grace_is_over(runs, since, now));
	}
	assert_int_equal(runs, 100);
}

/* One or two listings a year apart forget nothing either. */
static void test_grace_days_alone_are_not_enough(void **state)
{
	(void)state;
	const time_t start = 1700000000;
	assert_false(pop3_grace_is_over(1, start, start + 365 * DAY));
	assert_false(pop3_grace_is_over(2, start, start + 365 * DAY));
	assert_true(pop3_grace_is_over(3, start, start + 7 * DAY));
	assert_false(pop3_grace_is_over(3, start, start + 7 * DAY - 1));
	/* A clock set back is no time passed. */
	assert_false(pop3_grace_is_over(1000, start, start - 30 * DAY));
}

/* A key listed again starts over; the count saturates. */
static void test_missing_once_more_edges(void **state)
{
	(void)state;
	time_t since;
	unsigned long runs;
	pop3_missing_once_more(false, 5, 9, 100, &since, &runs);
	assert_int_equal(since, 100);
	assert_int_equal(runs, 1);
	pop3_missing_once_more(true, 5, 0xffffffffUL, 100, &since, &runs);
	assert_int_equal(since, 5);
	assert_int_equal(runs, 0xffffffffUL);
}

static void test_size_matches_use_each_once(void **state)
{
	(void)state;
	const uint64_t gone[] = { 10, 20, 20, 30 };
	const uint64_t fresh[] = { 5, 20, 30, 30, 40 };
	assert_int_equal(pop3_count_size_matches(gone, 4, fresh, 5), 2);
	assert_int_equal(pop3_count_size_matches(gone, 0, fresh, 5), 0);
	assert_int_equal(pop3_count_size_matches(gone, 4, fresh, 0), 0);
}

static bool suspected(size_t present, size_t gone_now, size_t sized,
		      size_t fresh, size_t matched)
{
	struct pop3_listing_counts counts = { present, gone_now, sized, fresh,
					      matched };
	return pop3_renumbering_suspected(&counts);
}

static void test_renumbering_rule(void **state)
{
	(void)state;
	/* An index rebuild: every key new, every size there again. */
	assert_true(suspected(100, 100, 100, 100, 100));
	/* ...with a few arrivals and deletions since the last run. */
	assert_true(suspected(100, 100, 100, 103, 97));
	/* An empty or partial listing: nothing stands in their place. */
	assert_false(suspected(100, 100, 100, 0, 0));
	assert_false(suspected(100, 90, 90, 0, 0));
	/* Most mail deleted with another client, a little new mail. */
	assert_false(suspected(100, 90, 90, 3, 1));
	/* Deleted all, much new mail of other sizes. */
	assert_false(suspected(100, 100, 100, 150, 20));
	/* Half or fewer of the known keys gone: not a renumbering. */
	assert_false(suspected(100, 50, 50, 50, 50));
	assert_true(suspected(100, 51, 51, 51, 51));
	/* Too few keys to tell. */
	assert_false(suspected(2, 2, 2, 2, 2));
	assert_true(suspected(3, 3, 3, 3, 3));
	/* Exactly half of the sized ones matched is not more than half. */
	assert_false(suspected(10, 10, 10, 10, 5));
	assert_true(suspected(10, 10, 10, 10, 6));
	/* A state from before sizes were kept: counts alone. */
	assert_true(suspected(10, 10, 0, 10, 0));
	assert_true(suspected(10, 10, 4, 12, 0));
	assert_false(suspected(10, 10, 0, 9, 0));
	/* Keys missing from earlier listings are not in present. */
	assert_false(suspected(0, 0, 0, 50, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grace_needs_listings_and_days),
		cmocka_unit_test(test_grace_listings_alone_are_not_enough),
		cmocka_unit_test(test_grace_days_alone_are_not_enough),
		cmocka_unit_test(test_missing_once_more_edges),
		cmocka_unit_test(test_size_matches_use_each_once),
		cmocka_unit_test(test_renumbering_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
