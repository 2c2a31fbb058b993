/*
 * test_held.c - copies held by a sink, claimed one message each.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "held.h"

static struct sink_digest *digests_of(const char *const *pairs, size_t count)
{
	/* pairs: digest tag (one byte, repeated), dest, ... */
	struct sink_digest *items = calloc(count ? count : 1, sizeof(*items));
	assert_non_null(items);
	for (size_t i = 0; i < count; i++) {
		memset(items[i].digest, pairs[2 * i][0], sizeof(items[i].digest));
		snprintf(items[i].dest, sizeof(items[i].dest), "%s", pairs[2 * i + 1]);
	}
	return items;
}

static void digest_tag(unsigned char digest[32], char tag)
{
	memset(digest, tag, 32);
}

static struct held *held_ok(const char *const *pairs, size_t count)
{
	struct held *held = NULL;
	struct yb_error err;
	assert_int_equal(held_new(digests_of(pairs, count), count, &held, &err), YB_OK);
	assert_non_null(held);
	return held;
}

/* Two equal copies stand for two messages, not three. */
static void test_one_message_per_copy(void **state)
{
	(void)state;
	const char *pairs[] = { "a", "new/1", "b", "new/2", "a", "cur/3" };
	struct held *held = held_ok(pairs, 3);
	unsigned char digest[32];
	digest_tag(digest, 'a');
	const char *first = held_match(held, digest);
	const char *second = held_match(held, digest);
	assert_non_null(first);
	assert_non_null(second);
	assert_string_not_equal(first, second);
	assert_null(held_match(held, digest));
	digest_tag(digest, 'c');
	assert_null(held_match(held, digest));
	held_free(held);
}

/* Two digests of one copy (an mbox's two readings) count once. */
static void test_digests_of_one_copy_claimed_together(void **state)
{
	(void)state;
	const char *pairs[] = { "a", "0+100", "b", "0+100", "a", "100+50" };
	struct held *held = held_ok(pairs, 3);
	assert_int_equal(held_copies(held), 2);
	unsigned char digest[32];
	digest_tag(digest, 'b');
	assert_string_equal(held_match(held, digest), "0+100");
	/* The copy at 0 is taken: an 'a' gets the other one only. */
	digest_tag(digest, 'a');
	assert_string_equal(held_match(held, digest), "100+50");
	assert_null(held_match(held, digest));
	held_free(held);
}

/* The same copy given twice (recorded under two keys) is one copy. */
static void test_repeats_count_once(void **state)
{
	(void)state;
	const char *pairs[] = { "a", "mda:1", "a", "mda:1" };
	struct held *held = held_ok(pairs, 2);
	assert_int_equal(held_copies(held), 1);
	unsigned char digest[32];
	digest_tag(digest, 'a');
	assert_non_null(held_match(held, digest));
	assert_null(held_match(held, digest));
	held_free(held);
}

/* A copy that already stands for a recorded key is not matched again. */
static void test_claimed_by_dest(void **state)
{
	(void)state;
	const char *pairs[] = { "a", "new/1", "a", "new/2" };
	struct held *held = held_ok(pairs, 2);
	held_claim_dest(held, "new/2");
	held_claim_dest(held, "new/unknown");
	unsigned char digest[32];
	digest_tag(digest, 'a');
	assert_string_equal(held_match(held, digest), "new/1");
	assert_null(held_match(held, digest));
	held_free(held);
}

/* Only the copies released stand for a message: a file of equal bytes
   that no vanished record names proves nothing. */
static void test_claim_all_then_release(void **state)
{
	(void)state;
	const char *pairs[] = { "a", "new/1", "a", "new/2", "b", "new/3" };
	struct held *held = held_ok(pairs, 3);
	held_claim_all(held);
	held_release_dest(held, "new/2");
	unsigned char digest[32];
	digest_tag(digest, 'b');
	assert_null(held_match(held, digest));
	digest_tag(digest, 'a');
	assert_string_equal(held_match(held, digest), "new/2");
	assert_null(held_match(held, digest));
	held_free(held);
}

static void test_empty(void **state)
{
	(void)state;
	struct held *held = NULL;
	struct yb_error err;
	assert_int_equal(held_new(NULL, 0, &held, &err), YB_OK);
	unsigned char digest[32];
	digest_tag(digest, 'a');
	assert_null(held_match(held, digest));
	assert_int_equal(held_copies(held), 0);
	held_free(held);
	held_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_message_per_copy),
		cmocka_unit_test(test_digests_of_one_copy_claimed_together),
		cmocka_unit_test(test_repeats_count_once),
		cmocka_unit_test(test_claimed_by_dest),
		cmocka_unit_test(test_claim_all_then_release),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
