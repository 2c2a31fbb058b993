/*
 * test_grow.c - room for one more, with the size checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>

#include "grow.h"

static void test_doubles_from_first(void **unused)
{
	(void)unused;
	int *items = NULL;
	size_t cap = 0;
	for (size_t count = 0; count < 1000; count++) {
		int *grown = grow_array(items, &cap, count + 1, sizeof(*items), 8);
		assert_non_null(grown);
		items = grown;
		items[count] = (int)count;
		assert_true(cap >= count + 1);
		/* 8, 16, 32, ...: a power of two times first */
		assert_int_equal(cap % 8, 0);
		assert_int_equal((cap / 8) & (cap / 8 - 1), 0);
	}
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(items[i], (int)i);
	assert_int_equal(cap, 1024);
	free(items);
}

static void test_room_enough_is_the_same_block(void **unused)
{
	(void)unused;
	size_t cap = 0;
	char *bytes = grow_array(NULL, &cap, 100, 1, 256);
	assert_non_null(bytes);
	assert_int_equal(cap, 256);
	assert_ptr_equal(grow_array(bytes, &cap, 256, 1, 256), bytes);
	bytes = grow_array(bytes, &cap, 257, 1, 256);
	assert_non_null(bytes);
	assert_int_equal(cap, 512);
	free(bytes);
}

static void test_overflow_refused(void **unused)
{
	(void)unused;
	size_t cap = 4;
	long *items = malloc(4 * sizeof(*items));
	assert_non_null(items);
	assert_null(grow_array(items, &cap, SIZE_MAX / 2, sizeof(*items), 4));
	assert_int_equal(cap, 4); /* untouched: items is still the caller's */
	assert_null(grow_array(items, &cap, 5, 0, 4));
	free(items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubles_from_first),
		cmocka_unit_test(test_room_enough_is_the_same_block),
		cmocka_unit_test(test_overflow_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
