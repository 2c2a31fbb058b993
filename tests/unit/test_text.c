/*
 * test_text.c - text_sanitize (escapes, truncation, never past the
 * buffer), text_has_prefix_ci and text_parse_u64 (bounds and junk).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

#define CANARY 0x5a
#define GUARD 16

/*
 * Sanitize src into a buffer of exactly dstsize bytes followed by a
 * canary; checks the canary, NUL termination and that only printable
 * ASCII came out.  The result goes to out (which holds dstsize bytes).
 */
static void sanitize_checked(const char *src, size_t srclen, size_t dstsize,
			     char *out)
{
	char buf[512 + GUARD];
	assert_true(dstsize <= 512);
	memset(buf, CANARY, sizeof(buf));
	text_sanitize(buf, dstsize, src, srclen);
	for (size_t i = dstsize; i < dstsize + GUARD; i++)
		assert_int_equal((unsigned char)buf[i], CANARY);
	if (dstsize == 0)
		return;
	size_t len = strnlen(buf, dstsize);
	assert_true(len < dstsize);
	for (size_t i = 0; i < len; i++)
		assert_true(buf[i] >= 0x20 && buf[i] <= 0x7e);
	memcpy(out, buf, len + 1);
}

static void assert_sanitized(const char *src, size_t srclen, size_t dstsize,
			     const char *expect)
{
	char out[512];
	sanitize_checked(src, srclen, dstsize, out);
	assert_string_equal(out, expect);
}

#define SANITIZED(src, dstsize, expect) \
	assert_sanitized(src, sizeof(src) - 1, dstsize, expect)

static void test_sanitize_printable_kept(void **state)
{
	(void)state;
	SANITIZED("+OK Dovecot ready. ~{}[]", 64, "+OK Dovecot ready. ~{}[]");
	SANITIZED("", 64, "");
	SANITIZED(" ", 64, " ");
}

static void test_sanitize_escapes(void **state)
{
	(void)state;
	SANITIZED("a\x01\x7f\x80\xff\tb", 64, "a\\x01\\x7f\\x80\\xff\\x09b");
	SANITIZED("\r\n", 64, "\\x0d\\x0a");
	SANITIZED("\x1b[31mred", 64, "\\x1b[31mred");
	/* A NUL inside the length is data, not the end. */
	SANITIZED("a\0b", 64, "a\\x00b");
	/* srclen bounds the read: the rest is never looked at. */
	assert_sanitized("abcdef", 3, 64, "abc");
}

static void test_sanitize_exact_fit(void **state)
{
	(void)state;
	/* Seven bytes in eight: fits, no "...". */
	SANITIZED("abcdefg", 8, "abcdefg");
	/* One escape exactly filling the buffer. */
	SANITIZED("\x01", 5, "\\x01");
}

static void test_sanitize_truncation_small_sizes(void **state)
{
	(void)state;
	static const char *expect[] = {
		[1] = "", [2] = "a", [3] = "ab", [4] = "...", [5] = "a...",
		[6] = "ab...", [7] = "abc...", [8] = "abcd...",
	};
	for (size_t size = 1; size <= 8; size++)
		assert_sanitized("abcdefghij", 10, size, expect[size]);
}

static void test_sanitize_truncation_marks_cut(void **state)
{
	(void)state;
	static const char digits[] =
		"0123456789012345678901234567890123456789x";
	char out[512];
	for (size_t size = 4; size <= 40; size++) {
		sanitize_checked(digits, sizeof(digits) - 1, size, out);
		size_t len = strlen(out);
		assert_true(len >= 3);
		assert_string_equal(out + len - 3, "...");
		assert_memory_equal(out, digits, len - 3);
	}
	/* Escapes that do not fit are cut the same way. */
	SANITIZED("abcde\x01", 9, "abcde...");
	SANITIZED("\x01\x01\x01", 8, "\\x01...");
}

static void test_sanitize_never_overflows(void **state)
{
	(void)state;
	char src[256];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)i;
	char out[512];
	for (size_t size = 0; size <= 300; size++) {
		sanitize_checked(src, sizeof(src), size, out);
		sanitize_checked(src + 32, 95, size, out);
		sanitize_checked("\xff\xff\xff\xff\xff", 5, size, out);
	}
}

static void test_has_prefix_ci(void **state)
{
	(void)state;
	assert_true(text_has_prefix_ci("CAPA\r\n", 6, "capa"));
	assert_true(text_has_prefix_ci("capa", 4, "CAPA"));
	assert_true(text_has_prefix_ci("+ok done", 8, "+OK"));
	assert_true(text_has_prefix_ci("anything", 8, ""));
	assert_true(text_has_prefix_ci("", 0, ""));
	assert_false(text_has_prefix_ci("CAP", 3, "capa"));
	assert_false(text_has_prefix_ci("CAPX", 4, "capa"));
	assert_false(text_has_prefix_ci("-ERR", 4, "+OK"));
	/* len bounds the buffer: bytes past it do not count. */
	assert_false(text_has_prefix_ci("STLS", 3, "stls"));
	/* Only ASCII letters fold: '[' is not '{'. */
	assert_false(text_has_prefix_ci("[x", 2, "{x"));
	assert_false(text_has_prefix_ci("", 0, "a"));
}

static void assert_parses(const char *text, unsigned long long max,
			  unsigned long long expect)
{
	unsigned long long value = 12345;
	assert_true(text_parse_u64(text, strlen(text), max, &value));
	assert_true(value == expect);
}

static void assert_refused(const char *text, size_t len,
			   unsigned long long max)
{
	unsigned long long value = 12345;
	assert_false(text_parse_u64(text, len, max, &value));
	/* A refused number leaves the output alone. */
	assert_true(value == 12345);
}

static void test_parse_u64_values(void **state)
{
	(void)state;
	assert_parses("0", ULLONG_MAX, 0);
	assert_parses("7", ULLONG_MAX, 7);
	assert_parses("4294967296", ULLONG_MAX, 4294967296ULL);
	assert_parses("18446744073709551615", ULLONG_MAX, ULLONG_MAX);
	/* Leading zeros only cost digits. */
	assert_parses("000000000000000000000000001", ULLONG_MAX, 1);
	/* len bounds the read. */
	unsigned long long value = 0;
	assert_true(text_parse_u64("12345", 3, ULLONG_MAX, &value));
	assert_true(value == 123);
}

static void test_parse_u64_overflow(void **state)
{
	(void)state;
	assert_refused("18446744073709551616", 20, ULLONG_MAX);
	assert_refused("18446744073709551620", 20, ULLONG_MAX);
	assert_refused("99999999999999999999", 20, ULLONG_MAX);
	assert_refused("100000000000000000000", 21, ULLONG_MAX);
	assert_refused("123456789012345678901234567890", 30, ULLONG_MAX);
}

static void test_parse_u64_max(void **state)
{
	(void)state;
	assert_parses("100", 100, 100);
	assert_refused("101", 3, 100);
	assert_refused("1000", 4, 100);
	assert_parses("65535", 65535, 65535);
	assert_refused("65536", 5, 65535);
	assert_parses("0", 0, 0);
	assert_parses("5", 5, 5);
	assert_parses("15", 15, 15);
	assert_refused("19", 2, 15);
}

/* A digit larger than max itself (max < 9) must not wrap the bound. */
static void test_parse_u64_digit_above_small_max(void **state)
{
	(void)state;
	assert_refused("7", 1, 5);
	assert_refused("1", 1, 0);
	assert_refused("06", 2, 5);
}

/* A small deterministic generator (xorshift64*), so a failure repeats. */
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/*
 * Generated numbers of 1 to 24 digits (leading zeros too) against generated
 * limits agree with a 128-bit reference: parsed exactly when at most max.
 */
static void test_parse_u64_generated(void **state)
{
	(void)state;
	char digits[25];
	for (int round = 0; round < 20000; round++) {
		size_t len = 1 + (size_t)(rng_next() % 24);
		unsigned __int128 exact = 0;
		bool huge = false;
		for (size_t i = 0; i < len; i++) {
			int digit = (int)(rng_next() % 10);
			if (i == 0 && rng_next() % 4 == 0)
				digit = 0;
			digits[i] = (char)('0' + digit);
			exact = exact * 10 + (unsigned)digit;
			huge = huge || exact > ULLONG_MAX;
		}
		unsigned long long max = rng_next() >> (rng_next() % 64);
		unsigned long long value = 12345;
		bool fits = !huge && exact <= max;
		assert_int_equal(text_parse_u64(digits, len, max, &value), fits);
		assert_true(value == (fits ? (unsigned long long)exact : 12345));
	}
}

static void test_parse_u64_junk(void **state)
{
	(void)state;
	assert_refused("", 0, ULLONG_MAX);
	assert_refused("12a", 3, ULLONG_MAX);
	assert_refused("a12", 3, ULLONG_MAX);
	assert_refused("+1", 2, ULLONG_MAX);
	assert_refused("-1", 2, ULLONG_MAX);
	assert_refused(" 1", 2, ULLONG_MAX);
	assert_refused("1 ", 2, ULLONG_MAX);
	assert_refused("1.5", 3, ULLONG_MAX);
	assert_refused("0x10", 4, ULLONG_MAX);
	assert_refused("1\0002", 3, ULLONG_MAX);
	assert_refused("\xb9", 1, ULLONG_MAX); /* superscript one, Latin-1 */
}

static void test_hex_value(void **state)
{
	(void)state;
	assert_int_equal(text_hex_value('0'), 0);
	assert_int_equal(text_hex_value('9'), 9);
	assert_int_equal(text_hex_value('a'), 10);
	assert_int_equal(text_hex_value('F'), 15);
	assert_int_equal(text_hex_value('g'), -1);
	assert_int_equal(text_hex_value('\0'), -1);
	assert_int_equal(text_hex_value(':'), -1);
}

static void test_segment_name(void **state)
{
	(void)state;
	assert_true(text_is_segment_name("work", 4, 64));
	assert_true(text_is_segment_name("a.b_c-D9", 8, 64));
	assert_true(text_is_segment_name("...", 3, 64));
	assert_false(text_is_segment_name(".", 1, 64));
	assert_false(text_is_segment_name("..", 2, 64));
	assert_false(text_is_segment_name("", 0, 64));
	assert_false(text_is_segment_name("a/b", 3, 64));
	assert_false(text_is_segment_name("a b", 3, 64));
	assert_false(text_is_segment_name("abcde", 5, 4));
	assert_false(text_is_segment_name("caf\xc3\xa9", 5, 64));
}

static void test_format_says_whether_it_fit(void **state)
{
	(void)state;
	char out[8];
	assert_true(text_format(out, sizeof(out), "%s/%d", "ab", 1234));
	assert_string_equal(out, "ab/1234");          /* 7 bytes and the NUL */
	assert_false(text_format(out, sizeof(out), "%s/%d", "ab", 12345));
	assert_string_equal(out, "ab/1234");          /* cut, still a string */
	assert_true(text_format(out, sizeof(out), "%s", ""));
	assert_string_equal(out, "");
	assert_false(text_format(out, 1, "x"));
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_value),
		cmocka_unit_test(test_segment_name),
		cmocka_unit_test(test_sanitize_printable_kept),
		cmocka_unit_test(test_sanitize_escapes),
		cmocka_unit_test(test_sanitize_exact_fit),
		cmocka_unit_test(test_sanitize_truncation_small_sizes),
		cmocka_unit_test(test_sanitize_truncation_marks_cut),
		cmocka_unit_test(test_sanitize_never_overflows),
		cmocka_unit_test(test_has_prefix_ci),
		cmocka_unit_test(test_parse_u64_values),
		cmocka_unit_test(test_parse_u64_generated),
		cmocka_unit_test(test_parse_u64_overflow),
		cmocka_unit_test(test_parse_u64_max),
		cmocka_unit_test(test_parse_u64_digit_above_small_max),
		cmocka_unit_test(test_parse_u64_junk),
		cmocka_unit_test(test_format_says_whether_it_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
