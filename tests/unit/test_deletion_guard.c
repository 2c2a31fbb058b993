/*
 * test_deletion_guard.c - push_deletions' guard (deletion_guard.h): its
 * examples at the edges of the rule, then generated counts (seeded:
 * YUBIN_TEST_SEED) checked against the rule as yubin.yaml(5) words it,
 * computed another way: a wiped Maildir deletes only with --force, and more than 10
 * messages that are more than a quarter of those known need --force.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "deletion_guard.h"

static enum deletion_verdict verdict(size_t known, size_t present, size_t deleting,
				     bool force)
{
	struct deletion_counts counts = { .known = known, .present = present,
					  .deleting = deleting };
	return deletion_guard(&counts, force);
}

static void test_examples(void **unused)
{
	(void)unused;
	/* Nothing to delete: always fine, even from an empty Maildir. */
	assert_int_equal(verdict(0, 0, 0, false), DELETIONS_GO);
	assert_int_equal(verdict(100, 0, 0, false), DELETIONS_GO);
	/* Every file gone: only with --force. */
	assert_int_equal(verdict(5, 0, 5, false), DELETIONS_WIPED);
	assert_int_equal(verdict(1000, 0, 3, false), DELETIONS_WIPED);
	assert_int_equal(verdict(5, 0, 5, true), DELETIONS_GO);
	assert_int_equal(verdict(1000, 0, 1000, true), DELETIONS_GO);
	/* Ten is never too many; eleven is when it is over a quarter. */
	assert_int_equal(verdict(12, 2, 10, false), DELETIONS_GO);
	assert_int_equal(verdict(40, 30, 11, false), DELETIONS_TOO_MANY);
	assert_int_equal(verdict(44, 33, 11, false), DELETIONS_GO); /* exactly 1/4 */
	assert_int_equal(verdict(43, 32, 11, false), DELETIONS_TOO_MANY);
	assert_int_equal(verdict(1000, 900, 100, false), DELETIONS_GO);
	assert_int_equal(verdict(1000, 700, 251, false), DELETIONS_TOO_MANY);
	assert_int_equal(verdict(1000, 700, 250, false), DELETIONS_GO);
	/* --force lets the share through. */
	assert_int_equal(verdict(40, 1, 39, true), DELETIONS_GO);
	/* Counts no listing can hold do not wrap around. */
	assert_int_equal(verdict(SIZE_MAX, 1, SIZE_MAX / 2, false), DELETIONS_TOO_MANY);
	assert_int_equal(verdict(SIZE_MAX, 1, SIZE_MAX / 4, false), DELETIONS_GO);
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* The rule of yubin.yaml(5), by division rather than multiplication. */
static enum deletion_verdict expected(size_t known, size_t present, size_t deleting,
				      bool force)
{
	if (deleting == 0)
		return DELETIONS_GO;
	if (known > 0 && present == 0)
		return force ? DELETIONS_GO : DELETIONS_WIPED;
	/* "more than a quarter": 4d > k, which for whole numbers is
	   d > floor(k / 4). */
	bool over_quarter = deleting > known / 4;
	if (deleting > 10 && over_quarter && !force)
		return DELETIONS_TOO_MANY;
	return DELETIONS_GO;
}

static void test_generated(void **unused)
{
	(void)unused;
	const char *seed_text = getenv("YUBIN_TEST_SEED");
	rng_state = seed_text ? strtoull(seed_text, NULL, 0) : 0x2545f4914f6cdd1dULL;
	if (rng_state == 0)
		rng_state = 1;
	size_t wiped = 0, too_many = 0, go = 0;
	for (int i = 0; i < 200000; i++) {
		/* Small folders often, where the edges are; large ones too. */
		size_t scale = (rng_next() & 1) ? 64 : 2000000;
		size_t known = (size_t)(rng_next() % scale);
		/* Files present may be more than known: those of messages
		   already agreed deleted count as present, not as known. */
		size_t present = (size_t)(rng_next() % (known + 8));
		if ((rng_next() & 7) == 0)
			present = 0;
		size_t deleting = known ? (size_t)(rng_next() % (known + 1)) : 0;
		bool force = (rng_next() & 3) == 0;
		enum deletion_verdict got = verdict(known, present, deleting, force);
		enum deletion_verdict want = expected(known, present, deleting, force);
		if (got != want)
			fail_msg("seed %s: known %zu present %zu deleting %zu force %d: "
				 "got %d, want %d", seed_text ? seed_text : "default",
				 known, present, deleting, force, got, want);
		wiped += got == DELETIONS_WIPED;
		too_many += got == DELETIONS_TOO_MANY;
		go += got == DELETIONS_GO;
	}
	/* The generator reached every verdict. */
	assert_true(wiped > 1000);
	assert_true(too_many > 1000);
	assert_true(go > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_generated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
