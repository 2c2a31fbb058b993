/*
 * test_imap_utf7.c - modified UTF-7 (RFC 3501 5.1.3) to and from UTF-8:
 * the RFC's examples, strictness in both directions, and round trips
 * (every BMP character, random names, and random modified UTF-7).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_utf7.h"

#define S(literal) literal, sizeof(literal) - 1

static void check_to_utf8(const char *utf7, size_t len, const char *utf8,
			  size_t utf8_len)
{
	struct yb_error err;
	char *out = NULL;
	size_t out_len = 0;
	int rc = imap_utf7_to_utf8(utf7, len, &out, &out_len, &err);
	if (rc != YB_OK)
		fail_msg("\"%s\" refused: %s", utf7, err.msg);
	assert_int_equal(out_len, utf8_len);
	assert_memory_equal(out, utf8, utf8_len);
	assert_int_equal(out[out_len], '\0');
	free(out);
}

static void check_to_utf7(const char *utf8, size_t len, const char *utf7,
			  size_t utf7_len)
{
	struct yb_error err;
	char *out = NULL;
	size_t out_len = 0;
	int rc = imap_utf8_to_utf7(utf8, len, &out, &out_len, &err);
	if (rc != YB_OK)
		fail_msg("UTF-8 refused: %s", err.msg);
	assert_int_equal(out_len, utf7_len);
	assert_memory_equal(out, utf7, utf7_len);
	assert_int_equal(out[out_len], '\0');
	free(out);
}

/* Both directions. */
static void check_pair(const char *utf7, size_t utf7_len, const char *utf8,
		       size_t utf8_len)
{
	check_to_utf8(utf7, utf7_len, utf8, utf8_len);
	check_to_utf7(utf8, utf8_len, utf7, utf7_len);
}

#define PAIR(a, b) check_pair(S(a), S(b))

static void bad_utf7(const char *in, size_t len, const char *problem)
{
	struct yb_error err;
	char *out = (char *)&err;
	size_t out_len = 9;
	yb_error_clear(&err);
	if (imap_utf7_to_utf8(in, len, &out, &out_len, &err) != YB_ERR_PROTOCOL)
		fail_msg("\"%s\" accepted", in);
	assert_null(out);
	assert_int_equal(out_len, 0);
	assert_int_equal(err.status, YB_ERR_PROTOCOL);
	if (!strstr(err.msg, problem))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, problem);
}

static void bad_utf8(const char *in, size_t len, const char *problem)
{
	struct yb_error err;
	char *out = (char *)&err;
	size_t out_len = 9;
	yb_error_clear(&err);
	if (imap_utf8_to_utf7(in, len, &out, &out_len, &err) != YB_ERR_PROTOCOL)
		fail_msg("UTF-8 input of %zu bytes accepted", len);
	assert_null(out);
	assert_int_equal(out_len, 0);
	if (!strstr(err.msg, problem))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, problem);
}

static void test_rfc3501_example(void **state)
{
	(void)state;
	PAIR("~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	     "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
}

static void test_ampersand(void **state)
{
	(void)state;
	PAIR("&-", "&");
	PAIR("a&-b&-&-", "a&b&&");
	PAIR("&ZeVnLIqe-&-x", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e&x");
}

static void test_plain_ascii_and_empty(void **state)
{
	(void)state;
	PAIR("", "");
	PAIR("INBOX", "INBOX");
	PAIR("Archive/2024 Q1~!@#$%^*()_+-=[]{}|;':\",./<>?`",
	     "Archive/2024 Q1~!@#$%^*()_+-=[]{}|;':\",./<>?`");
}

static void test_common_names(void **state)
{
	(void)state;
	PAIR("Entw&APw-rfe", "Entw\xc3\xbcrfe");
	PAIR("Hi Mom -&Jjo--!", "Hi Mom -\xe2\x98\xba-!");
	PAIR("&AMQ-/&ANY-", "\xc3\x84/\xc3\x96");
	PAIR("&AOk-", "\xc3\xa9");
}

static void test_surrogate_pairs(void **state)
{
	(void)state;
	PAIR("&2D3eAA-", "\xf0\x9f\x98\x80");     /* U+1F600 */
	PAIR("&2,,f,w-", "\xf4\x8f\xbf\xbf");     /* U+10FFFF */
	PAIR("a&2D3eAA-b", "a\xf0\x9f\x98\x80" "b");
}

static void test_controls_are_encoded(void **state)
{
	(void)state;
	PAIR("a&AAE-b", "a\x01" "b");
	PAIR("&AH8-", "\x7f");
	PAIR("&AIU-", "\xc2\x85");
}

static void test_utf7_strict_bytes(void **state)
{
	(void)state;
	bad_utf7(S("caf\xc3\xa9"), "byte not allowed in modified UTF-7 at byte 3");
	bad_utf7(S("a\tb"), "byte not allowed");
	bad_utf7(S("a\x7f"), "byte not allowed");
	bad_utf7(S("a\0b"), "byte not allowed");
}

static void test_utf7_strict_runs(void **state)
{
	(void)state;
	bad_utf7(S("&AOk"), "base64 run not ended by \"-\"");
	bad_utf7(S("x&"), "base64 run not ended by \"-\"");
	bad_utf7(S("&A*k-"), "bad character in a base64 run");
	bad_utf7(S("&AO/-"), "bad character in a base64 run"); /* "/" is "," here */
	bad_utf7(S("&AOk-&AOk-"), "a base64 run right after another");
	bad_utf7(S("&AOl-"), "bad padding");
	bad_utf7(S("&AOkA-"), "bad padding");
	bad_utf7(S("&AA-"), "bad padding");
	bad_utf7(S("&A-"), "bad padding");
	bad_utf7(S("&AOk=-"), "bad character");
}

static void test_utf7_non_shortest(void **state)
{
	(void)state;
	bad_utf7(S("&AGE-"), "printable ASCII encoded in base64");
	bad_utf7(S("&ACY-"), "printable ASCII encoded in base64"); /* "&" */
	bad_utf7(S("&ACA-"), "printable ASCII encoded in base64"); /* " " */
	bad_utf7(S("&AOkAYQ-"), "printable ASCII encoded in base64");
	bad_utf7(S("&AAA-"), "U+0000 encoded");
}

static void test_utf7_surrogate_errors(void **state)
{
	(void)state;
	bad_utf7(S("&2D0-"), "unpaired high surrogate");
	bad_utf7(S("&2D0AQQ-"), "unpaired high surrogate");
	bad_utf7(S("&3gA-"), "unpaired low surrogate");
	bad_utf7(S("&2D3YPQ-"), "unpaired high surrogate"); /* high, high */
}

static void test_utf7_error_names_input_sanitized(void **state)
{
	(void)state;
	bad_utf7(S("\x1b[2J&AOk"), "mailbox name \"\\x1b[2J&AOk\"");
}

static void test_utf8_strict(void **state)
{
	(void)state;
	bad_utf8(S("\xc0\xaf"), "invalid UTF-8 at byte 0");     /* overlong "/" */
	bad_utf8(S("a\xc1\xbf"), "invalid UTF-8 at byte 1");
	bad_utf8(S("\xe0\x80\xaf"), "invalid UTF-8");            /* overlong */
	bad_utf8(S("\xf0\x80\x80\xaf"), "invalid UTF-8");        /* overlong */
	bad_utf8(S("\xed\xa0\x80"), "invalid UTF-8");            /* surrogate */
	bad_utf8(S("\xed\xbf\xbf"), "invalid UTF-8");            /* surrogate */
	bad_utf8(S("\xf4\x90\x80\x80"), "invalid UTF-8");        /* > U+10FFFF */
	bad_utf8(S("\xf5\x80\x80\x80"), "invalid UTF-8");
	bad_utf8(S("\xff"), "invalid UTF-8");
	bad_utf8(S("\x80"), "invalid UTF-8");                    /* continuation */
	bad_utf8(S("ab\xe6\x97"), "invalid UTF-8 at byte 2");    /* truncated */
	bad_utf8(S("\xe6\x97x"), "invalid UTF-8");
	bad_utf8(S("\xc3"), "invalid UTF-8");
	bad_utf8(S("a\0b"), "NUL byte at byte 1");
	/* the edges that are valid */
	check_to_utf7(S("\xed\x9f\xbf"), S("&1,8-"));             /* U+D7FF */
	check_to_utf7(S("\xee\x80\x80"), S("&4AA-"));             /* U+E000 */
	check_to_utf7(S("\xc2\x80"), S("&AIA-"));                 /* U+0080 */
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* UTF-8 -> UTF-7 -> UTF-8 gives the input back. */
static void round_trip(const char *utf8, size_t len)
{
	struct yb_error err;
	char *utf7, *back;
	size_t utf7_len, back_len;
	assert_int_equal(imap_utf8_to_utf7(utf8, len, &utf7, &utf7_len, &err), YB_OK);
	int rc = imap_utf7_to_utf8(utf7, utf7_len, &back, &back_len, &err);
	if (rc != YB_OK)
		fail_msg("own output \"%s\" refused: %s", utf7, err.msg);
	assert_int_equal(back_len, len);
	assert_memory_equal(back, utf8, len);
	free(utf7);
	free(back);
}

static void test_round_trip_every_bmp_character(void **state)
{
	(void)state;
	for (uint32_t cp = 1; cp < 0x10000; cp++) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		char buf[16];
		size_t n = 0;
		n += put_utf8(buf + n, cp);
		buf[n++] = 'x';
		n += put_utf8(buf + n, cp);
		n += put_utf8(buf + n, cp);
		round_trip(buf, n);
	}
}

static void test_round_trip_astral_samples(void **state)
{
	(void)state;
	for (uint32_t cp = 0x10000; cp <= 0x10ffff; cp += 0x1fff) {
		char buf[16];
		size_t n = put_utf8(buf, cp);
		buf[n++] = '&';
		n += put_utf8(buf + n, cp);
		round_trip(buf, n);
	}
}

static uint32_t random_code_point(void)
{
	switch (rand() % 5) {
	case 0:
		return (uint32_t)(0x20 + rand() % 0x5f); /* printable ASCII */
	case 1:
		return '&';
	case 2:
		return (uint32_t)(1 + rand() % 0x7f);    /* any ASCII */
	case 3: {
		uint32_t cp = (uint32_t)(0x80 + rand() % 0xff80);
		return cp >= 0xd800 && cp <= 0xdfff ? 0xe9 : cp;
	}
	default:
		return (uint32_t)(0x10000 + rand() % 0x100000);
	}
}

static void test_round_trip_random_names(void **state)
{
	(void)state;
	srand(3501);
	for (int round = 0; round < 5000; round++) {
		char buf[200];
		size_t n = 0;
		int count = rand() % 40;
		for (int i = 0; i < count; i++)
			n += put_utf8(buf + n, random_code_point());
		round_trip(buf, n);
	}
}

/* Whatever the decoder accepts, the encoder gives back exactly: one
   spelling per name. */
static void test_decoder_accepts_only_canonical(void **state)
{
	(void)state;
	static const char alphabet[] = "&-AaOkZz09+,/ x";
	srand(152);
	size_t accepted = 0;
	for (int round = 0; round < 200000; round++) {
		char in[16];
		size_t n = (size_t)(rand() % 12);
		for (size_t i = 0; i < n; i++)
			in[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		struct yb_error err;
		char *utf8, *again;
		size_t utf8_len, again_len;
		if (imap_utf7_to_utf8(in, n, &utf8, &utf8_len, &err) != YB_OK)
			continue;
		accepted++;
		assert_int_equal(imap_utf8_to_utf7(utf8, utf8_len, &again, &again_len,
						   &err),
				 YB_OK);
		if (again_len != n || memcmp(again, in, n) != 0)
			fail_msg("\"%.*s\" decodes but re-encodes as \"%s\"", (int)n,
				 in, again);
		free(utf8);
		free(again);
	}
	/* the sample must have exercised the decoder, runs included */
	assert_true(accepted > 1000);
}

static void test_worst_case_expansion(void **state)
{
	(void)state;
	/* isolated control characters: 1 byte -> 5 */
	char in[300];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (i % 2) ? 'a' : '\x01';
	struct yb_error err;
	char *out;
	size_t out_len;
	assert_int_equal(imap_utf8_to_utf7(in, sizeof(in), &out, &out_len, &err),
			 YB_OK);
	assert_int_equal(out_len, 150 * 5 + 150);
	free(out);
	round_trip(in, sizeof(in));
	in[0] = '\x01';
	assert_int_equal(imap_utf8_to_utf7(in, 1, &out, &out_len, &err), YB_OK);
	assert_string_equal(out, "&AAE-");
	free(out);
}

/* One folder, one UTF-8 name: from modified UTF-7, or from UTF-8 with
   UTF8=ACCEPT, where the name is checked, not converted. */
static void test_mailbox_either_form(void **state)
{
	(void)state;
	static const struct {
		const char *wire;
		bool utf8_accept;
	} spellings[] = {
		{ "Entw&APw-rfe &- Co", false },
		{ "Entw\xc3\xbcrfe & Co", true },
	};
	for (size_t i = 0; i < 2; i++) {
		char *utf8 = NULL;
		size_t len = 0;
		const char *wire = spellings[i].wire;
		assert_int_equal(imap_mailbox_to_utf8(wire, strlen(wire),
						      spellings[i].utf8_accept,
						      &utf8, &len, NULL), YB_OK);
		assert_string_equal(utf8, "Entw\xc3\xbcrfe & Co");
		char *back = NULL;
		size_t back_len = 0;
		assert_int_equal(imap_mailbox_from_utf8(utf8, len,
							spellings[i].utf8_accept,
							&back, &back_len, NULL), YB_OK);
		assert_string_equal(back, wire);
		free(back);
		free(utf8);
	}
	char *out = (char *)1;
	size_t out_len = 0;
	struct yb_error err;
	/* Invalid UTF-8 and NUL are refused as UTF-8 too. */
	assert_int_equal(imap_mailbox_to_utf8("a\xc3", 2, true, &out, &out_len, &err),
			 YB_ERR_PROTOCOL);
	assert_null(out);
	assert_int_equal(imap_mailbox_to_utf8("a\0b", 3, true, &out, &out_len, &err),
			 YB_ERR_PROTOCOL);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3501_example),
		cmocka_unit_test(test_ampersand),
		cmocka_unit_test(test_plain_ascii_and_empty),
		cmocka_unit_test(test_common_names),
		cmocka_unit_test(test_surrogate_pairs),
		cmocka_unit_test(test_controls_are_encoded),
		cmocka_unit_test(test_utf7_strict_bytes),
		cmocka_unit_test(test_utf7_strict_runs),
		cmocka_unit_test(test_utf7_non_shortest),
		cmocka_unit_test(test_utf7_surrogate_errors),
		cmocka_unit_test(test_utf7_error_names_input_sanitized),
		cmocka_unit_test(test_utf8_strict),
		cmocka_unit_test(test_round_trip_every_bmp_character),
		cmocka_unit_test(test_round_trip_astral_samples),
		cmocka_unit_test(test_round_trip_random_names),
		cmocka_unit_test(test_decoder_accepts_only_canonical),
		cmocka_unit_test(test_worst_case_expansion),
		cmocka_unit_test(test_mailbox_either_form),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
