/*
 * test_wipe.c - blocks that may hold a secret grow by copying.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "wipe.h"

static void test_grows_by_doubling_and_keeps_bytes(void **unused)
{
	(void)unused;
	char *data = NULL;
	size_t cap = 0;
	assert_true(wipe_grow(&data, 0, &cap, 1, 16, 1000));
	assert_int_equal(cap, 16);
	memcpy(data, "secret", 6);
	char *before = data;
	assert_true(wipe_grow(&data, 6, &cap, 16, 16, 1000));
	assert_ptr_equal(data, before); /* room enough: nothing moves */
	assert_true(wipe_grow(&data, 6, &cap, 17, 16, 1000));
	assert_int_equal(cap, 32);
	assert_memory_equal(data, "secret", 6);
	for (size_t i = 6; i < cap; i++)
		assert_int_equal(data[i], 0);
	assert_true(wipe_grow(&data, 6, &cap, 100, 16, 1000));
	assert_int_equal(cap, 128);
	assert_memory_equal(data, "secret", 6);
	wipe_free(data, cap);
}

static void test_limit(void **unused)
{
	(void)unused;
	char *data = NULL;
	size_t cap = 0;
	assert_true(wipe_grow(&data, 0, &cap, 700, 256, 1000));
	assert_int_equal(cap, 1000); /* 1024 would pass the limit */
	char *kept = data;
	assert_false(wipe_grow(&data, 0, &cap, 1001, 256, 1000));
	assert_ptr_equal(data, kept);
	assert_int_equal(cap, 1000);
	wipe_free(data, cap);

	data = NULL;
	cap = 0;
	assert_true(wipe_grow(&data, 0, &cap, 5, 4, SIZE_MAX));
	assert_int_equal(cap, 8);
	assert_false(wipe_grow(&data, 0, &cap, SIZE_MAX - 1, 4, SIZE_MAX / 4));
	wipe_free(data, cap);
	wipe_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_by_doubling_and_keeps_bytes),
		cmocka_unit_test(test_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
