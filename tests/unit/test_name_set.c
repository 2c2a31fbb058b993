/*
 * test_name_set.c - the set that deduplicates a LIST reply's folders:
 * adds and look-ups are right, and cost O(1) comparisons each, so that
 * N folders cost O(N), not O(N^2).  The cost is counted, not timed.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name_set.h"

#define MANY 50000

static void test_add_and_contains(void **state)
{
	(void)state;
	struct name_set set;
	name_set_init(&set);
	assert_false(name_set_contains(&set, "INBOX"));
	assert_int_equal(name_set_add(&set, "INBOX"), 1);
	assert_int_equal(name_set_add(&set, "Archive"), 1);
	char copy[] = "INBOX";
	assert_int_equal(name_set_add(&set, copy), 0);
	assert_true(name_set_contains(&set, "INBOX"));
	assert_true(name_set_contains(&set, "Archive"));
	assert_false(name_set_contains(&set, "Inbox"));
	assert_false(name_set_contains(&set, ""));
	assert_int_equal(name_set_add(&set, ""), 1);
	assert_true(name_set_contains(&set, ""));
	assert_int_equal(set.count, 3);
	name_set_free(&set);
	assert_int_equal(set.count, 0);
	assert_false(name_set_contains(&set, "INBOX"));
}

/* A hint before a look-up is only a hint: on an empty set (no slots to
   point at) and on a full one, the set and its answers stay the same. */
static void test_prefetch_changes_nothing(void **state)
{
	(void)state;
	struct name_set set;
	name_set_init(&set);
	name_set_prefetch(&set, "INBOX", 5);
	assert_int_equal(set.count, 0);
	assert_null(set.slots);
	assert_int_equal(name_set_add(&set, "INBOX"), 1);
	assert_int_equal(name_set_add(&set, "Sent"), 1);
	size_t capacity = set.capacity;
	name_set_prefetch(&set, "INBOX", 5);
	name_set_prefetch(&set, "absent", 6);
	assert_int_equal(set.count, 2);
	assert_int_equal(set.capacity, capacity);
	assert_true(name_set_contains(&set, "INBOX"));
	assert_true(name_set_contains(&set, "Sent"));
	assert_false(name_set_contains(&set, "absent"));
	name_set_free(&set);
}

/* Names as a big server lists them: long shared prefixes. */
static char **many_names(size_t count)
{
	char **names = calloc(count, sizeof(*names));
	assert_non_null(names);
	for (size_t i = 0; i < count; i++) {
		char name[64];
		int len = snprintf(name, sizeof(name), "Archive/Projects/%06zu", i);
		assert_true(len > 0 && (size_t)len < sizeof(name));
		names[i] = strdup(name);
		assert_non_null(names[i]);
	}
	return names;
}

static void free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

static void test_cost_is_linear(void **state)
{
	(void)state;
	char **names = many_names(MANY);
	struct name_set set;
	name_set_init(&set);
	for (size_t i = 0; i < MANY; i++)
		assert_int_equal(name_set_add(&set, names[i]), 1);
	/* Every name again, as a server that lists each twice. */
	for (size_t i = 0; i < MANY; i++)
		assert_int_equal(name_set_add(&set, names[i]), 0);
	assert_int_equal(set.count, MANY);
	/* A linear scan would make ~MANY^2/2 = 1.25e9 comparisons; a hash
	   set, at most half full, a few per add. */
	assert_true(set.comparisons <= 4 * 2 * (size_t)MANY);
	name_set_free(&set);
	free_names(names, MANY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_contains),
		cmocka_unit_test(test_cost_is_linear),
		cmocka_unit_test(test_prefetch_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
