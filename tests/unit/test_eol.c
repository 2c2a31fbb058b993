/*
 * test_eol.c - the streaming CRLF -> LF filter: each rule alone, a CR
 * held across chunks, and the same output for every way of cutting the
 * input into chunks.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "eol.h"

#define CANARY 0x5a

/*
 * The rule, written the obvious way over the whole text: a CR directly
 * followed by LF is dropped, every other byte is kept.
 */
static size_t reference(const char *in, size_t len, char *out)
{
	size_t used = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			continue;
		out[used++] = in[i];
	}
	return used;
}

/*
 * Feed one chunk; checks the filter stays within len + 1 bytes of out
 * (a canary past that must survive).  Returns the bytes written.
 */
static size_t feed(struct eol_filter *filter, const char *in, size_t len,
		   char *out)
{
	char *scratch = malloc(len + 1 + 8);
	assert_non_null(scratch);
	memset(scratch, CANARY, len + 1 + 8);
	size_t produced = eol_convert(filter, in, len, scratch);
	assert_true(produced <= len + 1);
	for (size_t i = len + 1; i < len + 1 + 8; i++)
		assert_int_equal((unsigned char)scratch[i], CANARY);
	memcpy(out, scratch, produced);
	free(scratch);
	return produced;
}

static size_t finish(struct eol_filter *filter, char *out)
{
	char scratch[1 + 8];
	memset(scratch, CANARY, sizeof(scratch));
	size_t produced = eol_finish(filter, scratch);
	assert_true(produced <= 1);
	for (size_t i = 1; i < sizeof(scratch); i++)
		assert_int_equal((unsigned char)scratch[i], CANARY);
	memcpy(out, scratch, produced);
	return produced;
}

/* Convert in as one chunk plus finish; compare with expect. */
static void assert_whole(const char *in, size_t len, const char *expect,
			 size_t expect_len)
{
	struct eol_filter filter;
	eol_init(&filter);
	char *out = malloc(len + 2);
	assert_non_null(out);
	size_t used = feed(&filter, in, len, out);
	used += finish(&filter, out + used);
	assert_int_equal(used, expect_len);
	assert_memory_equal(out, expect, used);
	free(out);
}

#define WHOLE(in, expect) \
	assert_whole(in, sizeof(in) - 1, expect, sizeof(expect) - 1)

static void test_crlf_becomes_lf(void **state)
{
	(void)state;
	WHOLE("a\r\nb\r\n", "a\nb\n");
	WHOLE("\r\n", "\n");
	WHOLE("\r\n\r\n\r\n", "\n\n\n");
}

static void test_bare_cr_kept(void **state)
{
	(void)state;
	WHOLE("a\rb", "a\rb");
	WHOLE("\r", "\r");
	WHOLE("a\r\rb", "a\r\rb");
}

static void test_bare_lf_kept(void **state)
{
	(void)state;
	WHOLE("a\nb\n", "a\nb\n");
	WHOLE("\n\n", "\n\n");
	WHOLE("\n\r", "\n\r");
}

static void test_cr_cr_lf(void **state)
{
	(void)state;
	WHOLE("\r\r\n", "\r\n");
	WHOLE("x\r\r\r\ny", "x\r\r\ny");
}

static void test_other_bytes_untouched(void **state)
{
	(void)state;
	WHOLE("", "");
	WHOLE("\0\x01\xff\x7f", "\0\x01\xff\x7f");
	WHOLE("\0\r\n\0", "\0\n\0");
}

static void test_cr_at_chunk_end_then_lf(void **state)
{
	(void)state;
	struct eol_filter filter;
	eol_init(&filter);
	char out[16];
	/* The CR is held: it may be half of a CRLF. */
	assert_int_equal(feed(&filter, "a\r", 2, out), 1);
	assert_memory_equal(out, "a", 1);
	assert_int_equal(feed(&filter, "\nb", 2, out), 2);
	assert_memory_equal(out, "\nb", 2);
	assert_int_equal(finish(&filter, out), 0);
}

static void test_cr_at_chunk_end_then_other(void **state)
{
	(void)state;
	struct eol_filter filter;
	eol_init(&filter);
	char out[16];
	assert_int_equal(feed(&filter, "a\r", 2, out), 1);
	/* The held CR comes out first, ahead of the new chunk's bytes. */
	assert_int_equal(feed(&filter, "bc", 2, out), 3);
	assert_memory_equal(out, "\rbc", 3);
	assert_int_equal(finish(&filter, out), 0);

	/* A held CR followed by another CR that ends that chunk too. */
	eol_init(&filter);
	assert_int_equal(feed(&filter, "\r", 1, out), 0);
	assert_int_equal(feed(&filter, "\r", 1, out), 1);
	assert_memory_equal(out, "\r", 1);
	assert_int_equal(feed(&filter, "\n", 1, out), 1);
	assert_memory_equal(out, "\n", 1);
	assert_int_equal(finish(&filter, out), 0);
}

static void test_cr_at_very_end_flushed(void **state)
{
	(void)state;
	struct eol_filter filter;
	eol_init(&filter);
	char out[16];
	assert_int_equal(feed(&filter, "end\r", 4, out), 3);
	assert_memory_equal(out, "end", 3);
	assert_int_equal(finish(&filter, out), 1);
	assert_int_equal(out[0], '\r');
	/* Flushed once only. */
	assert_int_equal(finish(&filter, out), 0);
	/* Nothing held: finish writes nothing. */
	eol_init(&filter);
	assert_int_equal(feed(&filter, "end\n", 4, out), 4);
	assert_int_equal(finish(&filter, out), 0);
}

static void test_empty_chunk_keeps_held_cr(void **state)
{
	(void)state;
	struct eol_filter filter;
	eol_init(&filter);
	char out[16];
	assert_int_equal(feed(&filter, "a\r", 2, out), 1);
	assert_int_equal(feed(&filter, "", 0, out), 0);
	assert_int_equal(feed(&filter, "\n", 1, out), 1);
	assert_memory_equal(out, "\n", 1);
	assert_int_equal(finish(&filter, out), 0);
}

static void test_init_resets_held_cr(void **state)
{
	(void)state;
	struct eol_filter filter;
	eol_init(&filter);
	char out[16];
	assert_int_equal(feed(&filter, "\r", 1, out), 0);
	/* A new message: the last one's CR must not leak into it. */
	eol_init(&filter);
	assert_int_equal(feed(&filter, "x", 1, out), 1);
	assert_memory_equal(out, "x", 1);
	assert_int_equal(finish(&filter, out), 0);
}

static const char sample[] =
	"Received: from x\r\n\tby y\r\n"
	"Subject: a\rb\n\r\r\n"
	"\r\n"
	"body\r\r\n\n\r\rtail\r\n.\r\n"
	"\r";

/* Convert in through the chunk boundaries cuts[0..ncuts) (ascending). */
static size_t convert_cut(const char *in, size_t len, const size_t *cuts,
			  size_t ncuts, char *out)
{
	struct eol_filter filter;
	eol_init(&filter);
	size_t used = 0, start = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		used += feed(&filter, in + start, end - start, out + used);
		start = end;
	}
	used += finish(&filter, out + used);
	return used;
}

static void test_every_split_point(void **state)
{
	(void)state;
	size_t len = sizeof(sample) - 1;
	char expect[sizeof(sample)];
	size_t expect_len = reference(sample, len, expect);
	char out[sizeof(sample) + 1];
	assert_int_equal(convert_cut(sample, len, NULL, 0, out), expect_len);
	assert_memory_equal(out, expect, expect_len);
	for (size_t at = 0; at <= len; at++) {
		size_t got = convert_cut(sample, len, &at, 1, out);
		assert_int_equal(got, expect_len);
		assert_memory_equal(out, expect, expect_len);
	}
	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			size_t cuts[2] = { a, b };
			size_t got = convert_cut(sample, len, cuts, 2, out);
			assert_int_equal(got, expect_len);
			assert_memory_equal(out, expect, expect_len);
		}
	}
}

static void test_one_byte_at_a_time(void **state)
{
	(void)state;
	size_t len = sizeof(sample) - 1;
	char expect[sizeof(sample)];
	size_t expect_len = reference(sample, len, expect);
	size_t cuts[sizeof(sample)];
	for (size_t i = 0; i < len; i++)
		cuts[i] = i;
	char out[sizeof(sample) + 1];
	size_t got = convert_cut(sample, len, cuts, len, out);
	assert_int_equal(got, expect_len);
	assert_memory_equal(out, expect, expect_len);
}

static uint32_t next_random(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Random text of CR, LF and letters in random chunks, against reference. */
static void test_random_chunks(void **state)
{
	(void)state;
	enum { LEN = 4096 };
	static char in[LEN], expect[LEN], out[LEN + 1];
	static size_t cuts[LEN];
	static const char alphabet[] = "\r\n\r\nab";
	uint32_t x = 2463534242u;
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < LEN; i++) {
			in[i] = alphabet[next_random(&x) %
					 (sizeof(alphabet) - 1)];
		}
		size_t ncuts = 0;
		for (size_t at = 0; at < LEN; ) {
			at += 1 + next_random(&x) % 9;
			if (at < LEN)
				cuts[ncuts++] = at;
		}
		size_t expect_len = reference(in, LEN, expect);
		size_t got = convert_cut(in, LEN, cuts, ncuts, out);
		assert_int_equal(got, expect_len);
		assert_memory_equal(out, expect, expect_len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crlf_becomes_lf),
		cmocka_unit_test(test_bare_cr_kept),
		cmocka_unit_test(test_bare_lf_kept),
		cmocka_unit_test(test_cr_cr_lf),
		cmocka_unit_test(test_other_bytes_untouched),
		cmocka_unit_test(test_cr_at_chunk_end_then_lf),
		cmocka_unit_test(test_cr_at_chunk_end_then_other),
		cmocka_unit_test(test_cr_at_very_end_flushed),
		cmocka_unit_test(test_empty_chunk_keeps_held_cr),
		cmocka_unit_test(test_init_resets_held_cr),
		cmocka_unit_test(test_every_split_point),
		cmocka_unit_test(test_one_byte_at_a_time),
		cmocka_unit_test(test_random_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
