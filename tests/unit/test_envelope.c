/*
 * test_envelope.c - the sender, the From_ line, and the MDA's expansions
 * with their filter, over generated values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "xorshift.h"

#define ROUNDS 20000
#define VALUE_MAX 24

/* A fixed generator (xorshift64), so that a failure repeats. */
static uint64_t seed = 0x9e3779b97f4a7c15u;

static uint64_t next_random(void)
{
	return xorshift_next(&seed);
}

/* Bytes a value is drawn from: the allowed ones, and many that are not. */
static const char pool[] =
	"abcXYZ019@._+=-"
	" \t\n\r'\"`$;&|<>()*?[]{}~#!\\/%:,^"
	"\x01\x7f\x80\xff";

static void random_value(char *out, size_t max)
{
	size_t len = (size_t)(next_random() % (max + 1));
	for (size_t i = 0; i < len; i++)
		out[i] = pool[next_random() % (sizeof(pool) - 1)];
	out[len] = '\0';
}

/* The rule written out plainly: letters, digits, @._+=-, no leading '-'. */
static bool passes_rule(const char *value)
{
	if (value[0] == '-')
		return false;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		bool letter = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
		bool digit = *p >= '0' && *p <= '9';
		if (!letter && !digit && !strchr("@._+=-", *p))
			return false;
	}
	return true;
}

static void test_filter_matches_the_rule(void **unused)
{
	(void)unused;
	char value[VALUE_MAX + 1];
	for (int round = 0; round < ROUNDS; round++) {
		random_value(value, VALUE_MAX);
		assert_int_equal(mda_value_is_safe(value), passes_rule(value));
		const char *sender = mda_safe_sender(value);
		if (value[0] && passes_rule(value))
			assert_ptr_equal(sender, value);
		else
			assert_string_equal(sender, MDA_FALLBACK_SENDER);
		assert_true(passes_rule(sender) && sender[0]);
	}
	assert_true(mda_value_is_safe(NULL));
	assert_true(mda_value_is_safe(""));
	assert_string_equal(mda_safe_sender(NULL), MDA_FALLBACK_SENDER);
	assert_string_equal(mda_safe_sender(""), MDA_FALLBACK_SENDER);
	assert_false(mda_value_is_safe("-f"));
	assert_true(mda_value_is_safe("a-f"));
}

/* Append s to the string out (large enough). */
static void append(char *out, const char *s)
{
	size_t at = strlen(out), len = strlen(s);
	memcpy(out + at, s, len + 1);
}

/*
 * A random word of literal bytes (no '%') and %u %a %f %%, with what it
 * must expand to; the values are filtered ones, as the MDA sink gives.
 */
static void random_word(const struct mda_values *values, char *word,
			char *expected)
{
	size_t parts = (size_t)(next_random() % 8);
	word[0] = expected[0] = '\0';
	for (size_t i = 0; i < parts; i++) {
		static const char *const expansions[] = { "%u", "%a", "%f", "%%" };
		const char *stands_for[] = { values->user, values->account,
					     values->sender, "%" };
		size_t pick = (size_t)(next_random() % 5);
		if (pick < 4) {
			append(word, expansions[pick]);
			append(expected, stands_for[pick]);
			continue;
		}
		char literal[VALUE_MAX + 1];
		random_value(literal, 6);
		for (char *p = literal; *p; p++)
			if (*p == '%')
				*p = 'p';
		append(word, literal);
		append(expected, literal);
	}
}

static void test_expand_generated(void **unused)
{
	(void)unused;
	for (int round = 0; round < ROUNDS; round++) {
		char user[VALUE_MAX + 1], account[VALUE_MAX + 1];
		char sender[VALUE_MAX + 1];
		random_value(user, VALUE_MAX);
		random_value(account, VALUE_MAX);
		random_value(sender, VALUE_MAX);
		struct mda_values values = {
			.user = mda_value_is_safe(user) ? user : "",
			.account = mda_value_is_safe(account) ? account : "",
			.sender = mda_safe_sender(sender),
		};
		char word[8 * (VALUE_MAX + 2) + 1];
		char expected[8 * (VALUE_MAX + 2) + 1];
		random_word(&values, word, expected);
		char *got = mda_expand(word, &values);
		assert_non_null(got);
		assert_string_equal(got, expected);
		free(got);
	}
}

static void test_expand_edges(void **unused)
{
	(void)unused;
	struct mda_values values = { .user = NULL, .account = "acct",
				     .sender = "a@b.example" };
	char *got = mda_expand("-f%f-%u-%a%%", &values);
	assert_string_equal(got, "-fa@b.example--acct%");
	free(got);
	got = mda_expand("", &values);
	assert_string_equal(got, "");
	free(got);
	assert_true(mda_expansion_used("deliver -f %f", 'f'));
	assert_false(mda_expansion_used("echo 100%%f", 'f'));
	assert_false(mda_expansion_used("echo %", 'f'));
	assert_true(mda_expansion_known('%'));
	assert_false(mda_expansion_known('x'));
	assert_false(mda_expansion_known('\0'));
}

static const char *scan(struct mbox_envelope *envelope, const char *text,
			size_t step)
{
	mbox_envelope_init(envelope);
	size_t len = strlen(text);
	for (size_t at = 0; at < len; at += step)
		mbox_envelope_feed(envelope, text + at,
				   len - at < step ? len - at : step);
	return mbox_envelope_sender(envelope);
}

static void test_sender(void **unused)
{
	(void)unused;
	static const struct {
		const char *message, *sender;
	} cases[] = {
		{ "Return-Path: <a@b.example>\n\nbody", "a@b.example" },
		{ "return-path :  a@b.example \n\n", "a@b.example" },
		{ "Return-Path: <>\n\n", "MAILER-DAEMON" },
		{ "Subject: x\n\nReturn-Path: <late@x>\n", "MAILER-DAEMON" },
		{ "Return-Path:\n <folded@x>\n\n", "folded@x" },
		{ "Return-Path: <a b@x>\n\n", "MAILER-DAEMON" },
		{ "Return-Path: <first@x>\nReturn-Path: <second@x>\n\n",
		  "first@x" },
		{ "", "MAILER-DAEMON" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t step = 1; step <= 7; step++) {
			struct mbox_envelope envelope;
			assert_string_equal(scan(&envelope, cases[i].message, step),
					    cases[i].sender);
		}
	}
}

static void test_from_line(void **unused)
{
	(void)unused;
	char date[25];
	assert_true(mbox_envelope_date(1234567890, date));
	assert_string_equal(date, "Fri Feb 13 23:31:30 2009");
	assert_true(mbox_envelope_date(0, date));
	assert_string_equal(date, "Thu Jan  1 00:00:00 1970");
	assert_false(mbox_envelope_date(-1, date));
	char line[MBOX_FROM_LINE_MAX + 1];
	size_t len = mbox_envelope_from_line("a@b", date, line, sizeof(line));
	assert_string_equal(line, "From a@b Thu Jan  1 00:00:00 1970\n");
	assert_int_equal(len, strlen(line));
	char longest[MBOX_SENDER_MAX + 1];
	memset(longest, 'a', MBOX_SENDER_MAX);
	longest[MBOX_SENDER_MAX] = '\0';
	assert_true(mbox_envelope_from_line(longest, date, line, sizeof(line)) > 0);
	assert_int_equal(mbox_envelope_from_line("a@b", date, line, 10), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_matches_the_rule),
		cmocka_unit_test(test_expand_generated),
		cmocka_unit_test(test_expand_edges),
		cmocka_unit_test(test_sender),
		cmocka_unit_test(test_from_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
