/*
 * test_state_dest_store.c - the dests a mailbox holds in memory, each at
 * a number (dest_store.h), and how a key's 32-bit entry holds where its
 * dest is (state_key.h): in itself while it fits, in its extra past that.
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

#include "dest_store.h"
#include "name_set.h"
#include "state_key.h"

enum { DESTS = 3000 };

/* Dest i: "new/" then a length that varies from 1 to 300 bytes more. */
static size_t make_dest(char *buf, size_t size, int i)
{
	size_t len = (size_t)snprintf(buf, size, "new/%d.M%dP7.host,S=%d", i,
				      i * 7, i * 13);
	size_t want = len + (size_t)(i * 37 % 300);
	assert_true(want < size);
	for (size_t at = len; at < want; at++)
		buf[at] = (char)('a' + (i + at) % 26);
	buf[want] = '\0';
	return want;
}

static void test_round_trip_across_chunks(void **unused)
{
	(void)unused;
	struct dest_store store;
	dest_store_init(&store);
	static uint64_t numbers[DESTS];
	static const char *kept[DESTS];
	char dest[512];
	for (int i = 0; i < DESTS; i++) {
		size_t len = make_dest(dest, sizeof(dest), i);
		assert_int_equal(dest_store_add(&store, dest, len, &numbers[i]), 0);
		kept[i] = dest_store_get(&store, numbers[i]);
		assert_non_null(kept[i]);
		assert_string_equal(kept[i], dest);
	}
	/* ~500 KB of dests: many chunks, and none moved as more came. */
	assert_true(store.count > 8);
	for (int i = 0; i < DESTS; i++) {
		make_dest(dest, sizeof(dest), i);
		assert_ptr_equal(dest_store_get(&store, numbers[i]), kept[i]);
		assert_string_equal(kept[i], dest);
		if (i > 0)
			assert_true(numbers[i] > numbers[i - 1]);
	}
	/* A number names one dest: no two alike. */
	for (int i = 1; i < DESTS; i++)
		assert_true(numbers[i] != numbers[i - 1]);
	dest_store_free(&store);
	assert_int_equal(store.count, 0);
	assert_null(store.chunks);
}

static void test_longest_and_empty(void **unused)
{
	(void)unused;
	struct dest_store store;
	dest_store_init(&store);
	char *longest = malloc(DEST_STORE_LEN_MAX + 2);
	assert_non_null(longest);
	memset(longest, 'x', DEST_STORE_LEN_MAX + 1);
	longest[DEST_STORE_LEN_MAX + 1] = '\0';
	uint64_t number = 77;
	/* One byte too long: refused, nothing kept. */
	assert_int_equal(dest_store_add(&store, longest, DEST_STORE_LEN_MAX + 1,
					&number), -1);
	assert_int_equal(number, 77);
	assert_int_equal(store.count, 0);
	uint64_t small, big, empty;
	assert_int_equal(dest_store_add(&store, "new/a", 5, &small), 0);
	assert_int_equal(dest_store_add(&store, longest, DEST_STORE_LEN_MAX,
					&big), 0);
	assert_int_equal(dest_store_add(&store, "", 0, &empty), 0);
	assert_string_equal(dest_store_get(&store, small), "new/a");
	const char *got = dest_store_get(&store, big);
	assert_non_null(got);
	assert_int_equal(strlen(got), DEST_STORE_LEN_MAX);
	assert_memory_equal(got, longest, DEST_STORE_LEN_MAX);
	assert_string_equal(dest_store_get(&store, empty), "");
	free(longest);
	dest_store_free(&store);
}

static void test_unknown_numbers_read_nothing(void **unused)
{
	(void)unused;
	struct dest_store store;
	dest_store_init(&store);
	assert_null(dest_store_get(&store, 0));
	assert_null(dest_store_get(&store, UINT64_MAX));
	uint64_t first, second;
	assert_int_equal(dest_store_add(&store, "new/one", 7, &first), 0);
	assert_int_equal(dest_store_add(&store, "cur/two:2,S", 11, &second), 0);
	assert_int_equal(second, first + 8);
	/* Inside a dest, past the last, in a chunk not made, far out. */
	for (uint64_t at = first + 1; at < second; at++)
		assert_null(dest_store_get(&store, at));
	for (uint64_t at = second + 1; at < second + 64; at++)
		assert_null(dest_store_get(&store, at));
	assert_null(dest_store_get(&store, first + (1u << 16)));
	assert_null(dest_store_get(&store, (uint64_t)1 << 40));
	assert_null(dest_store_get(&store, UINT64_MAX));
	assert_string_equal(dest_store_get(&store, first), "new/one");
	assert_string_equal(dest_store_get(&store, second), "cur/two:2,S");
	dest_store_free(&store);
	/* Freed: what it held is unknown, and it takes dests again. */
	assert_null(dest_store_get(&store, first));
	assert_int_equal(dest_store_add(&store, "new/again", 9, &first), 0);
	assert_string_equal(dest_store_get(&store, first), "new/again");
	dest_store_free(&store);
}

/* A key's entry in its own set, with the side set beside it. */
struct key_fixture {
	struct name_set keys;
	struct name_set extras;
	struct key_entry *entry;
};

static void key_fixture_init(struct key_fixture *fx)
{
	name_set_init_entries(&fx->keys, sizeof(struct key_entry));
	key_extras_init(&fx->extras);
	struct name_entry *head;
	assert_int_equal(name_set_insert(&fx->keys, "uidl-1", 6, &head), 1);
	fx->entry = (struct key_entry *)head;
}

/* dest_ref set and read back, with or without an extra. */
static void check_dest_ref(struct key_fixture *fx, uint64_t dest_ref,
			   bool in_extra)
{
	assert_int_equal(key_set_dest_ref(&fx->extras, fx->entry, dest_ref), 0);
	assert_int_equal(key_dest_ref(&fx->extras, fx->entry), dest_ref);
	if (in_extra)
		assert_int_equal(fx->extras.count, 1);
	/* The other values are untouched by where the dest is. */
	assert_int_equal(key_fetched_at(&fx->extras, fx->entry), 1234);
	assert_int_equal(key_flag_base(fx->entry), KEY_FLAG_KNOWN | 5);
}

/* Odd: a snapshot line at (ref - 1) / 2; even: store number ref / 2 - 1. */
static uint64_t line_ref(uint64_t offset)
{
	return offset * 2 + 1;
}

static uint64_t number_ref(uint64_t number)
{
	return (number + 1) * 2;
}

static void test_key_entry_holds_what_fits(void **unused)
{
	(void)unused;
	struct key_fixture fx;
	key_fixture_init(&fx);
	assert_int_equal(key_set_fetched_at(&fx.extras, fx.entry, 1234), 0);
	key_set_flag_base(fx.entry, KEY_FLAG_KNOWN | 5);
	assert_int_equal(key_dest_ref(&fx.extras, fx.entry), KEY_DEST_NONE);
	/* What the 32 bits hold: no extra. */
	const uint64_t fits[] = {
		line_ref(1), line_ref(17), line_ref(0x7fffffff),
		number_ref(0), number_ref(1), number_ref(65536),
		number_ref(0x7ffffffe), KEY_DEST_NONE,
	};
	for (size_t i = 0; i < sizeof(fits) / sizeof(fits[0]); i++) {
		check_dest_ref(&fx, fits[i], false);
		assert_int_equal(fx.extras.count, 0);
	}
	/* Past them: in the extra, and back in the entry again. */
	const uint64_t beyond[] = {
		line_ref(0), line_ref(0x80000000), line_ref((uint64_t)1 << 40),
		number_ref(0x7fffffff), number_ref((uint64_t)1 << 47),
		UINT64_MAX, UINT64_MAX - 1,
	};
	for (size_t i = 0; i < sizeof(beyond) / sizeof(beyond[0]); i++) {
		check_dest_ref(&fx, beyond[i], true);
		check_dest_ref(&fx, fits[i], false);
		assert_int_equal(key_dest_ref(&fx.extras, fx.entry), fits[i]);
	}
	key_drop_extra(&fx.extras, fx.entry);
	assert_int_equal(fx.extras.count, 0);
	name_set_free(&fx.extras);
	name_set_free(&fx.keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_across_chunks),
		cmocka_unit_test(test_longest_and_empty),
		cmocka_unit_test(test_unknown_numbers_read_nothing),
		cmocka_unit_test(test_key_entry_holds_what_fits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
