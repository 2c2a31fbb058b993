/*
 * test_pop3_vanished.c - which vanished UIDLs left which copy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_vanished.h"

struct collected {
	char keys[8][32];
	size_t count;
	size_t stop_after;      /* 0: never stop */
};

static int collect(void *ctx, const char *key)
{
	struct collected *got = ctx;
	assert_true(got->count < 8);
	snprintf(got->keys[got->count++], sizeof(got->keys[0]), "%s", key);
	return got->stop_after && got->count == got->stop_after ? 7 : 0;
}

static bool has_key(const struct collected *got, const char *key)
{
	for (size_t i = 0; i < got->count; i++)
		if (strcmp(got->keys[i], key) == 0)
			return true;
	return false;
}

static struct pop3_vanished *table_of(const char *const *pairs, size_t count)
{
	/* pairs: key, dest, ... */
	struct pop3_vanished *table = NULL;
	struct yb_error err;
	assert_int_equal(pop3_vanished_new(&table, &err), YB_OK);
	for (size_t i = 0; i < count; i++)
		assert_int_equal(pop3_vanished_add(table, pairs[2 * i],
						   pairs[2 * i + 1], &err), YB_OK);
	pop3_vanished_seal(table);
	return table;
}

static void test_keys_of_one_copy(void **unused)
{
	(void)unused;
	static const char *const pairs[] = {
		"u3", "new/c", "u1", "new/a", "u2", "new/b", "u9", "new/a",
		"u4", "new/d",
	};
	struct pop3_vanished *table = table_of(pairs, 5);
	struct collected got = {0};
	assert_int_equal(pop3_vanished_each_key(table, "new/a", collect, &got), 0);
	assert_int_equal(got.count, 2);
	assert_true(has_key(&got, "u1"));
	assert_true(has_key(&got, "u9"));

	memset(&got, 0, sizeof(got));
	assert_int_equal(pop3_vanished_each_key(table, "new/d", collect, &got), 0);
	assert_int_equal(got.count, 1);
	assert_string_equal(got.keys[0], "u4");

	memset(&got, 0, sizeof(got));
	assert_int_equal(pop3_vanished_each_key(table, "new/zz", collect, &got), 0);
	assert_int_equal(got.count, 0);
	pop3_vanished_free(table);
}

static void test_stops_at_nonzero(void **unused)
{
	(void)unused;
	static const char *const pairs[] = {
		"u1", "cur/x", "u2", "cur/x", "u3", "cur/x",
	};
	struct pop3_vanished *table = table_of(pairs, 3);
	struct collected got = {.stop_after = 2};
	assert_int_equal(pop3_vanished_each_key(table, "cur/x", collect, &got), 7);
	assert_int_equal(got.count, 2);
	pop3_vanished_free(table);
}

static void test_empty(void **unused)
{
	(void)unused;
	struct pop3_vanished *table = table_of(NULL, 0);
	struct collected got = {0};
	assert_int_equal(pop3_vanished_each_key(table, "new/a", collect, &got), 0);
	assert_int_equal(got.count, 0);
	pop3_vanished_free(table);
	pop3_vanished_free(NULL);
}

/* Many pairs, dests shared in runs: every key comes back under its dest
   and under no other. */
static void test_many(void **unused)
{
	(void)unused;
	struct pop3_vanished *table = NULL;
	struct yb_error err;
	assert_int_equal(pop3_vanished_new(&table, &err), YB_OK);
	char key[32], dest[32];
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		snprintf(dest, sizeof(dest), "d%u", (i * 7919u) % 1700u);
		assert_int_equal(pop3_vanished_add(table, key, dest, &err), YB_OK);
	}
	pop3_vanished_seal(table);
	for (unsigned d = 0; d < 1700; d += 97) {
		snprintf(dest, sizeof(dest), "d%u", d);
		struct collected got = {0};
		pop3_vanished_each_key(table, dest, collect, &got);
		size_t expected = 0;
		for (unsigned i = 0; i < 5000; i++)
			if ((i * 7919u) % 1700u == d) {
				snprintf(key, sizeof(key), "k%u", i);
				assert_true(has_key(&got, key));
				expected++;
			}
		assert_int_equal(got.count, expected);
	}
	pop3_vanished_free(table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_of_one_copy),
		cmocka_unit_test(test_stops_at_nonzero),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
