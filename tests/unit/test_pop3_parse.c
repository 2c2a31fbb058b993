/* test_pop3_parse.c - status lines, codes, listings, APOP, dot decoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pop3_parse.h"
#include "xorshift.h"

#define S(literal) literal, sizeof(literal) - 1

/* --- status lines --- */

static void test_status_ok_with_text(void **state)
{
	(void)state;
	const char *text = NULL;
	size_t text_len = 99;
	assert_int_equal(pop3_parse_status(S("+OK 2 messages"), &text, &text_len),
			 POP3_STATUS_OK);
	assert_int_equal(text_len, 10);
	assert_memory_equal(text, "2 messages", 10);
}

static void test_status_err_with_text(void **state)
{
	(void)state;
	const char *text = NULL;
	size_t text_len = 0;
	assert_int_equal(pop3_parse_status(S("-ERR [IN-USE] locked"), &text,
					   &text_len),
			 POP3_STATUS_ERR);
	assert_int_equal(text_len, 15);
	assert_memory_equal(text, "[IN-USE] locked", 15);
}

static void test_status_case_insensitive(void **state)
{
	(void)state;
	const char *text;
	size_t text_len;
	assert_int_equal(pop3_parse_status(S("+ok fine"), &text, &text_len),
			 POP3_STATUS_OK);
	assert_int_equal(pop3_parse_status(S("+Ok"), &text, &text_len),
			 POP3_STATUS_OK);
	assert_int_equal(pop3_parse_status(S("-err no"), &text, &text_len),
			 POP3_STATUS_ERR);
	assert_int_equal(pop3_parse_status(S("-ErR"), &text, &text_len),
			 POP3_STATUS_ERR);
}

static void test_status_without_text(void **state)
{
	(void)state;
	const char *text = NULL;
	size_t text_len = 99;
	assert_int_equal(pop3_parse_status(S("+OK"), &text, &text_len),
			 POP3_STATUS_OK);
	assert_int_equal(text_len, 0);
	assert_non_null(text);
	text_len = 99;
	assert_int_equal(pop3_parse_status(S("-ERR"), &text, &text_len),
			 POP3_STATUS_ERR);
	assert_int_equal(text_len, 0);
	/* One space, then nothing. */
	text_len = 99;
	assert_int_equal(pop3_parse_status(S("+OK "), &text, &text_len),
			 POP3_STATUS_OK);
	assert_int_equal(text_len, 0);
}

static void test_status_bad(void **state)
{
	(void)state;
	const char *text;
	size_t text_len;
	const char *bad[] = { "", "+", "+O", "-ER", "+OKAY", "-ERROR x",
			      "+OK\tx", "OK", "* OK ready", "+ go ahead",
			      " +OK", "+OK\r" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pop3_parse_status(bad[i], strlen(bad[i]),
						   &text, &text_len),
				 POP3_STATUS_BAD);
}

static void test_status_respects_length(void **state)
{
	(void)state;
	const char *text;
	size_t text_len;
	/* "+OK" cut to two bytes is not a status, whatever follows. */
	assert_int_equal(pop3_parse_status("+OK", 2, &text, &text_len),
			 POP3_STATUS_BAD);
	assert_int_equal(pop3_parse_status("+OK extra", 3, &text, &text_len),
			 POP3_STATUS_OK);
	assert_int_equal(text_len, 0);
}

/* --- response codes --- */

static void test_resp_codes_known(void **state)
{
	(void)state;
	assert_int_equal(pop3_parse_resp_code(S("[IN-USE] maildrop locked")),
			 POP3_CODE_IN_USE);
	assert_int_equal(pop3_parse_resp_code(S("[LOGIN-DELAY] wait")),
			 POP3_CODE_LOGIN_DELAY);
	assert_int_equal(pop3_parse_resp_code(S("[SYS/TEMP] try later")),
			 POP3_CODE_SYS_TEMP);
	assert_int_equal(pop3_parse_resp_code(S("[SYS/PERM] gone")),
			 POP3_CODE_SYS_PERM);
	assert_int_equal(pop3_parse_resp_code(S("[AUTH] bad password")),
			 POP3_CODE_AUTH);
	assert_int_equal(pop3_parse_resp_code(S("[AUTH]")), POP3_CODE_AUTH);
}

static void test_resp_codes_case_and_hierarchy(void **state)
{
	(void)state;
	assert_int_equal(pop3_parse_resp_code(S("[in-use] x")), POP3_CODE_IN_USE);
	assert_int_equal(pop3_parse_resp_code(S("[Sys/Temp] x")),
			 POP3_CODE_SYS_TEMP);
	/* A sub-level is still the parent code. */
	assert_int_equal(pop3_parse_resp_code(S("[SYS/TEMP/QUOTA] x")),
			 POP3_CODE_SYS_TEMP);
	/* A longer word is another code, not a sub-level. */
	assert_int_equal(pop3_parse_resp_code(S("[IN-USER] x")), POP3_CODE_OTHER);
	assert_int_equal(pop3_parse_resp_code(S("[SYS] x")), POP3_CODE_OTHER);
	assert_int_equal(pop3_parse_resp_code(S("[UTF8] x")), POP3_CODE_OTHER);
}

static void test_resp_codes_none(void **state)
{
	(void)state;
	const char *none[] = { "", "no code here", "[IN-USE", "[]", "[IN USE] x",
			       " [IN-USE] x", "[SYS//TEMP] x", "[/SYS] x",
			       "[SYS/] x", "[IN-\x01USE] x" };
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		assert_int_equal(pop3_parse_resp_code(none[i], strlen(none[i])),
				 POP3_CODE_NONE);
	/* The ']' must be inside the given length. */
	assert_int_equal(pop3_parse_resp_code("[IN-USE]", 7), POP3_CODE_NONE);
}

/* --- CAPA --- */

static void fold_capa(struct pop3_capa *capa, const char *const *lines,
		      size_t count)
{
	memset(capa, 0, sizeof(*capa));
	for (size_t i = 0; i < count; i++)
		pop3_parse_capa_line(lines[i], strlen(lines[i]), capa);
}

static void test_capa_dovecot_listing(void **state)
{
	(void)state;
	const char *lines[] = { "CAPA", "TOP", "UIDL", "RESP-CODES",
				"PIPELINING", "AUTH-RESP-CODE", "STLS", "USER",
				"SASL PLAIN LOGIN" };
	struct pop3_capa capa;
	fold_capa(&capa, lines, sizeof(lines) / sizeof(lines[0]));
	assert_true(capa.top && capa.uidl && capa.resp_codes);
	assert_true(capa.pipelining && capa.stls && capa.user);
	assert_true(capa.sasl_plain && capa.sasl_login);
	assert_false(capa.sasl_cram_md5 || capa.sasl_xoauth2 ||
		     capa.sasl_oauthbearer || capa.sasl_external);
}

static void test_capa_case_and_spaces(void **state)
{
	(void)state;
	const char *lines[] = { "uidl", "Pipelining ", "sasl  cram-md5\tXOAUTH2",
				"SASL OAUTHBEARER external" };
	struct pop3_capa capa;
	fold_capa(&capa, lines, sizeof(lines) / sizeof(lines[0]));
	assert_true(capa.uidl && capa.pipelining);
	assert_true(capa.sasl_cram_md5 && capa.sasl_xoauth2);
	assert_true(capa.sasl_oauthbearer && capa.sasl_external);
	assert_false(capa.sasl_plain || capa.stls || capa.user);
}

static void test_capa_lookalikes_ignored(void **state)
{
	(void)state;
	const char *lines[] = { "UIDLX", "STLS2", "USERS", "X-PIPELINING",
				"IMPLEMENTATION STLS UIDL", "LOGIN-DELAY 900",
				"SASL PLAINX LOGINS", "SASLPLAIN", "", "EXPIRE 30" };
	struct pop3_capa capa;
	fold_capa(&capa, lines, sizeof(lines) / sizeof(lines[0]));
	struct pop3_capa none;
	memset(&none, 0, sizeof(none));
	assert_memory_equal(&capa, &none, sizeof(capa));
}

/* --- UIDL lines --- */

static void test_uidl_valid(void **state)
{
	(void)state;
	unsigned long msgno = 0;
	const char *uidl = NULL;
	size_t uidl_len = 0;
	assert_true(pop3_parse_uidl_line(S("1 whqtswO00WBw418f9t5JxYwZ"), &msgno,
					 &uidl, &uidl_len));
	assert_int_equal(msgno, 1);
	assert_int_equal(uidl_len, 24);
	assert_memory_equal(uidl, "whqtswO00WBw418f9t5JxYwZ", 24);
	/* Every byte from 0x21 to 0x7e is allowed. */
	assert_true(pop3_parse_uidl_line(S("4294967295 !~<>#\"'"), &msgno,
					 &uidl, &uidl_len));
	assert_int_equal(msgno, 4294967295UL);
	assert_int_equal(uidl_len, 7);
}

static void test_uidl_extra_spaces_tolerated(void **state)
{
	(void)state;
	unsigned long msgno;
	const char *uidl;
	size_t uidl_len;
	assert_true(pop3_parse_uidl_line(S("12   abc  "), &msgno, &uidl,
					 &uidl_len));
	assert_int_equal(msgno, 12);
	assert_int_equal(uidl_len, 3);
	assert_memory_equal(uidl, "abc", 3);
}

static void test_uidl_length_limit(void **state)
{
	(void)state;
	char line[3 + POP3_UIDL_MAX + 2];
	unsigned long msgno;
	const char *uidl;
	size_t uidl_len;
	memcpy(line, "7 ", 2);
	memset(line + 2, 'u', POP3_UIDL_MAX + 1);
	assert_true(pop3_parse_uidl_line(line, 2 + POP3_UIDL_MAX, &msgno, &uidl,
					 &uidl_len));
	assert_int_equal(uidl_len, 70);
	assert_false(pop3_parse_uidl_line(line, 2 + POP3_UIDL_MAX + 1, &msgno,
					  &uidl, &uidl_len));
}

static void test_uidl_bad_bytes(void **state)
{
	(void)state;
	unsigned long msgno;
	const char *uidl;
	size_t uidl_len;
	const char *bad[] = { "1 ab\001cd", "1 ab\x7f", "1 ab\x80", "1 a\tb",
			      "1 ab\r", "1 abc def", "1 abc\t" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(pop3_parse_uidl_line(bad[i], strlen(bad[i]), &msgno,
						  &uidl, &uidl_len));
	/* A NUL inside the line is a control byte too. */
	assert_false(pop3_parse_uidl_line("1 ab\0cd", 7, &msgno, &uidl,
					  &uidl_len));
}

static void test_uidl_bad_msgno_or_fields(void **state)
{
	(void)state;
	unsigned long msgno;
	const char *uidl;
	size_t uidl_len;
	const char *bad[] = { "0 abc", "4294967296 abc", "99999999999999999999 x",
			      "-1 abc", "+1 abc", "1", "1 ", "abc", " 1 abc",
			      "1x abc", "", "1abc" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(pop3_parse_uidl_line(bad[i], strlen(bad[i]), &msgno,
						  &uidl, &uidl_len));
}

/* --- LIST lines --- */

static void test_list_valid(void **state)
{
	(void)state;
	unsigned long msgno = 0;
	uint64_t size = 0;
	assert_true(pop3_parse_list_line(S("1 120"), &msgno, &size));
	assert_int_equal(msgno, 1);
	assert_int_equal(size, 120);
	assert_true(pop3_parse_list_line(S("2  3456 extra words"), &msgno, &size));
	assert_int_equal(msgno, 2);
	assert_int_equal(size, 3456);
	assert_true(pop3_parse_list_line(S("3 0"), &msgno, &size));
	assert_int_equal(size, 0);
	assert_true(pop3_parse_list_line(S("4 18446744073709551615"), &msgno,
					 &size));
	assert_true(size == UINT64_MAX);
}

static void test_list_bad(void **state)
{
	(void)state;
	unsigned long msgno;
	uint64_t size;
	const char *bad[] = { "", "1", "1 ", "0 12", "4294967296 12", "1 x",
			      "1 -5", "1 12x", "1 18446744073709551616",
			      "x 12", "1\t12", " 1 12" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(pop3_parse_list_line(bad[i], strlen(bad[i]), &msgno,
						  &size));
}

/* Numbers are read in one pass: leading zeros, the largest values, one
   past them, and what may end a number. */
static void test_numbers_edges(void **state)
{
	(void)state;
	unsigned long msgno = 0;
	uint64_t size = 0;
	const char *uidl = NULL;
	size_t uidl_len = 0;
	assert_true(pop3_parse_list_line(S("0000000000000000000000007 "
					   "000000000000000000000018446744073709551615"),
					 &msgno, &size));
	assert_int_equal(msgno, 7);
	assert_true(size == UINT64_MAX);
	assert_true(pop3_parse_list_line(S("4294967295 12\tmore"), &msgno,
					 &size));
	assert_true(msgno == 4294967295UL && size == 12);
	assert_true(pop3_parse_list_line(S("9 12 "), &msgno, &size));
	assert_int_equal(size, 12);
	assert_false(pop3_parse_list_line(S("42949672950 1"), &msgno, &size));
	assert_false(pop3_parse_list_line(S("1 99999999999999999999"), &msgno,
					  &size));
	assert_false(pop3_parse_list_line(S("1 18446744073709551620"), &msgno,
					  &size));
	assert_false(pop3_parse_list_line(S("00 1"), &msgno, &size));
	assert_true(pop3_parse_uidl_line(S("0010 a"), &msgno, &uidl,
					 &uidl_len));
	assert_int_equal(msgno, 10);
	assert_false(pop3_parse_uidl_line(S("4294967296 a"), &msgno, &uidl,
					  &uidl_len));
	assert_false(pop3_parse_uidl_line(S("1x a"), &msgno, &uidl, &uidl_len));
	assert_false(pop3_parse_uidl_line(S("1 a b"), &msgno, &uidl,
					  &uidl_len));
	assert_false(pop3_parse_uidl_line(S("1 ab\x7f"), &msgno, &uidl,
					  &uidl_len));
	assert_false(pop3_parse_uidl_line(S("1    "), &msgno, &uidl,
					  &uidl_len));
}

/* Every byte value at every place of a UIDL long enough to be checked
   eight bytes at a time and then one by one. */
static void test_uidl_every_byte_everywhere(void **state)
{
	(void)state;
	enum { UIDL_LEN = 27 };
	char line[2 + UIDL_LEN];
	memcpy(line, "7 ", 2);
	for (size_t at = 0; at < UIDL_LEN; at++) {
		for (int byte = 0; byte < 256; byte++) {
			memset(line + 2, 'a', UIDL_LEN);
			line[2 + at] = (char)byte;
			bool visible = byte >= 0x21 && byte <= 0x7e;
			/* A space first or last is one more between the words,
			   or trailing: both allowed. */
			bool good = visible ||
				    (byte == ' ' && (at == 0 || at == UIDL_LEN - 1));
			unsigned long msgno = 0;
			const char *uidl = NULL;
			size_t uidl_len = 0;
			bool parsed = pop3_parse_uidl_line(line, sizeof(line),
							   &msgno, &uidl,
							   &uidl_len);
			if (parsed != good)
				fail_msg("byte 0x%02x at %zu: parsed %d", byte,
					 at, (int)parsed);
			if (parsed)
				assert_int_equal(uidl_len, visible ? UIDL_LEN
								   : UIDL_LEN - 1);
		}
	}
}

/* --- APOP timestamp --- */

static void test_apop_timestamp_present(void **state)
{
	(void)state;
	char out[128];
	assert_true(pop3_parse_apop_timestamp(
		S("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"), out,
		sizeof(out)));
	assert_string_equal(out, "<1896.697170952@dbc.mtview.ca.us>");
	/* A bracketed word without '@' is skipped for the real one. */
	assert_true(pop3_parse_apop_timestamp(S("+OK <ready> <a.b@c> now"), out,
					      sizeof(out)));
	assert_string_equal(out, "<a.b@c>");
}

static void test_apop_timestamp_absent(void **state)
{
	(void)state;
	char out[128];
	const char *none[] = { "+OK Dovecot ready.", "+OK <no-at-sign>",
			       "+OK <a b@c>", "+OK <>", "+OK <a@b c>", "+OK @",
			       "+OK <a\x01@b>" };
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		memset(out, 'x', sizeof(out));
		assert_false(pop3_parse_apop_timestamp(none[i], strlen(none[i]),
						       out, sizeof(out)));
	}
}

static void test_apop_timestamp_unterminated(void **state)
{
	(void)state;
	char out[128];
	assert_false(pop3_parse_apop_timestamp(S("+OK <1896.697@host"), out,
					       sizeof(out)));
	/* The '>' outside the given length does not count. */
	const char greeting[] = "+OK <a@b>";
	assert_false(pop3_parse_apop_timestamp(greeting, sizeof(greeting) - 2,
					       out, sizeof(out)));
}

static void test_apop_timestamp_overlong(void **state)
{
	(void)state;
	/* Too long for the caller's buffer. */
	char small[8];
	assert_false(pop3_parse_apop_timestamp(S("+OK <1234@host>"), small,
					       sizeof(small)));
	char exact[10];
	assert_true(pop3_parse_apop_timestamp(S("+OK <12@host>"), exact,
					      sizeof(exact)));
	assert_string_equal(exact, "<12@host>");
	/* Too long for any buffer: over the parser's own bound. */
	const size_t len = 5 + 2000 + 5; /* "+OK <", 2000 'a', "@b.c>" */
	char *greeting = malloc(len);
	assert_non_null(greeting);
	memcpy(greeting, "+OK <", 5);
	memset(greeting + 5, 'a', 2000);
	memcpy(greeting + 5 + 2000, "@b.c>", 5);
	char *big = malloc(4096);
	assert_non_null(big);
	assert_false(pop3_parse_apop_timestamp(greeting, len, big, 4096));
	free(big);
	free(greeting);
}

/* --- the dot decoder --- */

struct buffer {
	char *data;
	size_t len, cap;
};

static void buffer_append(struct buffer *buf, const char *data, size_t len)
{
	if (buf->len + len > buf->cap) {
		size_t cap = buf->cap ? buf->cap : 256;
		while (cap < buf->len + len)
			cap *= 2;
		buf->data = realloc(buf->data, cap);
		assert_non_null(buf->data);
		buf->cap = cap;
	}
	if (len > 0)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
}

/*
 * Feed one chunk through a copy of exactly its size, into an output buffer
 * of exactly its size (as the header allows), so a byte out of bounds on
 * either side is caught by the sanitizers.
 */
static size_t feed(struct pop3_dot_decoder *dec, const char *chunk, size_t len,
		   struct buffer *output)
{
	char *in = malloc(len ? len : 1);
	char *out = malloc(len ? len : 1);
	assert_non_null(in);
	assert_non_null(out);
	if (len > 0)
		memcpy(in, chunk, len);
	size_t out_len = 12345;
	size_t used = pop3_dot_decode(dec, in, len, out, &out_len);
	assert_true(used <= len);
	assert_true(out_len <= len);
	if (!dec->done)
		assert_int_equal(used, len);
	buffer_append(output, out, out_len);
	free(in);
	free(out);
	return used;
}

/* Decode input in chunks whose sizes come from next_size(); stop when done. */
static size_t decode_chunked(const char *input, size_t len,
			     size_t (*next_size)(void *), void *size_ctx,
			     struct buffer *output, bool *done)
{
	struct pop3_dot_decoder dec;
	pop3_dot_init(&dec);
	size_t pos = 0;
	while (pos < len && !dec.done) {
		size_t chunk = next_size(size_ctx);
		if (chunk > len - pos)
			chunk = len - pos;
		pos += feed(&dec, input + pos, chunk, output);
	}
	*done = dec.done;
	/* Once done, more input is not touched. */
	if (dec.done) {
		size_t out_len = 7;
		char scratch[8];
		assert_int_equal(pop3_dot_decode(&dec, "abc", 3, scratch, &out_len),
				 0);
		assert_int_equal(out_len, 0);
	}
	return pos;
}

struct dot_sample {
	const char *wire;      /* the body as sent, terminator included */
	const char *expected;  /* the unstuffed body */
};

static const struct dot_sample dot_samples[] = {
	{ ".\r\n", "" },
	{ ".\n", "" },
	{ "Subject: x\r\n\r\nhello\r\n.\r\n", "Subject: x\r\n\r\nhello\r\n" },
	{ "..\r\n.\r\n", ".\r\n" },
	{ "...\r\n.\r\n", "..\r\n" },
	{ ".x\r\n.\r\n", "x\r\n" },
	{ "a\n..b\nc\n.\n", "a\n.b\nc\n" },
	{ "a\r\n.\n", "a\r\n" },
	{ "\r\n.\r\n", "\r\n" },
	{ "a.b\r\nx.\r\n. y\r\n.\r\n", "a.b\r\nx.\r\n y\r\n" },
	{ "a\rb\r\n\r.\r\n.\r\n", "a\rb\r\n\r.\r\n" },
	{ ".\rX\r\n.\r\n", "\rX\r\n" },
	{ ".\r\r\n.\r\n", "\r\r\n" },
	{ ".\r.\r\n.\r\n", "\r.\r\n" },
	{ ".\rA\n.\rB\n.\rC\n.\n", "\rA\n\rB\n\rC\n" },
	{ "..\r\n..\r\n...\r\n.\r\n", ".\r\n.\r\n..\r\n" },
	{ "last line\r\n.\r\n", "last line\r\n" },
};
#define DOT_SAMPLE_COUNT (sizeof(dot_samples) / sizeof(dot_samples[0]))
#define NEXT_REPLY "+OK next reply\r\n"

/* wire + NEXT_REPLY, in a malloc'd buffer. */
static char *with_next_reply(const char *wire, size_t *len)
{
	size_t wire_len = strlen(wire);
	*len = wire_len + strlen(NEXT_REPLY);
	char *input = malloc(*len);
	assert_non_null(input);
	memcpy(input, wire, wire_len);
	memcpy(input + wire_len, NEXT_REPLY, strlen(NEXT_REPLY));
	return input;
}

static void check_decoded(const struct dot_sample *sample, size_t used,
			  bool done, const struct buffer *output)
{
	assert_true(done);
	assert_int_equal(used, strlen(sample->wire));
	assert_int_equal(output->len, strlen(sample->expected));
	if (output->len > 0)
		assert_memory_equal(output->data, sample->expected, output->len);
}

static size_t size_all(void *ctx)
{
	(void)ctx;
	return SIZE_MAX;
}

static size_t size_one(void *ctx)
{
	(void)ctx;
	return 1;
}

/* First chunk *ctx bytes, then the rest. */
static size_t size_split(void *ctx)
{
	size_t *first = ctx;
	size_t size = *first;
	*first = SIZE_MAX;
	return size;
}

static void test_dot_whole(void **state)
{
	(void)state;
	for (size_t i = 0; i < DOT_SAMPLE_COUNT; i++) {
		size_t len;
		char *input = with_next_reply(dot_samples[i].wire, &len);
		struct buffer output = { 0 };
		bool done;
		size_t used = decode_chunked(input, len, size_all, NULL, &output,
					     &done);
		check_decoded(&dot_samples[i], used, done, &output);
		free(output.data);
		free(input);
	}
}

static void test_dot_every_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < DOT_SAMPLE_COUNT; i++) {
		size_t len;
		char *input = with_next_reply(dot_samples[i].wire, &len);
		for (size_t split = 0; split <= len; split++) {
			struct buffer output = { 0 };
			bool done;
			size_t first = split;
			size_t used = decode_chunked(input, len, size_split,
						     &first, &output, &done);
			check_decoded(&dot_samples[i], used, done, &output);
			free(output.data);
		}
		free(input);
	}
}

static void test_dot_byte_at_a_time(void **state)
{
	(void)state;
	for (size_t i = 0; i < DOT_SAMPLE_COUNT; i++) {
		size_t len;
		char *input = with_next_reply(dot_samples[i].wire, &len);
		struct buffer output = { 0 };
		bool done;
		size_t used = decode_chunked(input, len, size_one, NULL, &output,
					     &done);
		check_decoded(&dot_samples[i], used, done, &output);
		free(output.data);
		free(input);
	}
}

static void test_dot_needs_terminator(void **state)
{
	(void)state;
	/* Without the final ".", every byte is used and nothing ends. */
	const char *unfinished[] = { "abc\r\n", "abc\r\n.", "abc\r\n.\r",
				     "abc\r\n..\r\n", "abc\r\n.x" };
	for (size_t i = 0; i < sizeof(unfinished) / sizeof(unfinished[0]); i++) {
		struct buffer output = { 0 };
		bool done = true;
		size_t len = strlen(unfinished[i]);
		size_t used = decode_chunked(unfinished[i], len, size_all, NULL,
					     &output, &done);
		assert_false(done);
		assert_int_equal(used, len);
		free(output.data);
	}
	/* A zero-length call changes nothing. */
	struct pop3_dot_decoder dec;
	pop3_dot_init(&dec);
	char out[1];
	size_t out_len = 5;
	assert_int_equal(pop3_dot_decode(&dec, "", 0, out, &out_len), 0);
	assert_int_equal(out_len, 0);
	assert_false(dec.done);
}

/* xorshift64: reproducible pseudo-random numbers for the tests. */
static uint64_t next_random(uint64_t *seed)
{
	return xorshift_next(seed);
}

/* Plain reference decoder over the whole input; returns bytes used. */
static size_t reference_decode(const char *in, size_t len, struct buffer *out)
{
	bool line_start = true;
	size_t i = 0;
	while (i < len) {
		if (line_start && in[i] == '.') {
			if (i + 1 < len && in[i + 1] == '\n')
				return i + 2;
			if (i + 2 < len && in[i + 1] == '\r' && in[i + 2] == '\n')
				return i + 3;
			i++;
			line_start = false;
			continue;
		}
		buffer_append(out, &in[i], 1);
		line_start = in[i] == '\n';
		i++;
	}
	fail_msg("reference decoder found no terminator");
	return 0;
}

static size_t size_random(void *ctx)
{
	uint64_t *seed = ctx;
	uint64_t r = next_random(seed);
	/* Mostly tiny chunks (where the states split), sometimes big. */
	return (r & 1) ? 1 + (r >> 8) % 4 : 1 + (r >> 8) % 300;
}

static void test_dot_random_against_reference(void **state)
{
	(void)state;
	static const char alphabet[] = ".\r\n.a.\r\nb";
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	for (int round = 0; round < 400; round++) {
		size_t body_len = next_random(&seed) % 200;
		size_t len = body_len + 5 + strlen(NEXT_REPLY);
		char *input = malloc(len);
		assert_non_null(input);
		for (size_t i = 0; i < body_len; i++)
			input[i] = alphabet[next_random(&seed) % (sizeof(alphabet) - 1)];
		/* Make sure a terminator exists (an earlier one may too). */
		memcpy(input + body_len, "\r\n.\r\n", 5);
		memcpy(input + body_len + 5, NEXT_REPLY, strlen(NEXT_REPLY));

		struct buffer expected = { 0 };
		size_t expected_used = reference_decode(input, len, &expected);
		for (int chunking = 0; chunking < 8; chunking++) {
			struct buffer output = { 0 };
			bool done;
			size_t used = decode_chunked(input, len, size_random,
						     &seed, &output, &done);
			assert_true(done);
			assert_int_equal(used, expected_used);
			assert_int_equal(output.len, expected.len);
			if (output.len > 0)
				assert_memory_equal(output.data, expected.data,
						    output.len);
			free(output.data);
		}
		free(expected.data);
		free(input);
	}
}

static size_t size_64k(void *ctx)
{
	(void)ctx;
	return 64 * 1024;
}

/* A 10 MB body with varied lines, some dot-stuffed, in 64 KiB chunks. */
static void test_dot_large_body(void **state)
{
	(void)state;
	const size_t target = 10 * 1024 * 1024;
	struct buffer wire = { 0 }, expected = { 0 };
	uint64_t seed = 42;
	char line[200];
	while (wire.len < target) {
		size_t line_len = next_random(&seed) % 120;
		for (size_t i = 0; i < line_len; i++)
			line[i] = (char)(' ' + next_random(&seed) % 95);
		/* A line that starts with '.' must be stuffed on the wire;
		   one in ten more gets a leading dot (stuffed too). */
		bool dotted = (line_len > 0 && line[0] == '.') ||
			      next_random(&seed) % 10 == 0;
		if (dotted) {
			buffer_append(&wire, "..", 2);
			buffer_append(&expected, ".", 1);
		}
		buffer_append(&wire, line, line_len);
		buffer_append(&expected, line, line_len);
		buffer_append(&wire, "\r\n", 2);
		buffer_append(&expected, "\r\n", 2);
	}
	size_t body_len = wire.len + 3;
	buffer_append(&wire, ".\r\n" NEXT_REPLY, 3 + strlen(NEXT_REPLY));

	struct buffer output = { 0 };
	bool done;
	size_t used = decode_chunked(wire.data, wire.len, size_64k, NULL,
				     &output, &done);
	assert_true(done);
	assert_int_equal(used, body_len);
	assert_int_equal(output.len, expected.len);
	assert_memory_equal(output.data, expected.data, expected.len);
	free(output.data);
	free(expected.data);
	free(wire.data);
}

/* --- the body against LIST's size --- */

static struct pop3_body_tally tally_of(const char *body, size_t len,
				       size_t piece, uint64_t wire_extra)
{
	struct pop3_body_tally tally;
	pop3_tally_init(&tally);
	for (size_t at = 0; at < len; at += piece)
		pop3_tally_add(&tally, body + at,
			       len - at < piece ? len - at : piece);
	tally.wire_extra = wire_extra;
	return tally;
}

/* Line endings are counted alike in any split, a CRLF split included. */
static void test_tally_counts_line_endings(void **state)
{
	(void)state;
	static const char body[] = "a\r\nb\nc\r\r\n\n\r\rd\r";
	size_t len = sizeof(body) - 1;
	for (size_t piece = 1; piece <= len; piece++) {
		struct pop3_body_tally tally = tally_of(body, len, piece, 3);
		assert_int_equal(tally.bytes, len);
		assert_int_equal(tally.crlf, 2);
		assert_int_equal(tally.bare_lf, 2);
	}
}

/* A line ending in "." and then a status line: the next reply read as
   body.  Anything else is not, in any split. */
static void test_tally_ran_on(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		bool ran_on;
	} cases[] = {
		{ "Subject: a\r\n\r\ntext.\r\n+OK 120 octets\r\nx\r\n", true },
		{ "text.\r\n-err no such message\r\n", true },
		{ "text.\r\n+ok\r\n", true },
		{ "text\r\n+OK fine\r\n", false },       /* no "." before */
		{ "text.\n+OK fine\r\n", false },         /* a bare LF */
		{ "text.\r\nx+OK\r\n", false },          /* not at the start */
		{ "text.\r\n+O\r\nK\r\n", false },
		{ "text.\r\n-ER\r\n", false },
		{ "Subject: a\r\n\r\nHallo\r\n", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].body);
		for (size_t piece = 1; piece <= len; piece++) {
			struct pop3_body_tally tally = tally_of(cases[i].body, len, piece, 3);
			assert_int_equal(pop3_tally_ran_on(&tally), cases[i].ran_on);
			assert_int_equal(tally.bytes, len);
		}
	}
}

/*
 * The run-on mark against a reference that looks at every byte: a line
 * that ends in ".\r\n" followed by one whose start is +OK or -ERR (any
 * case).  Generated bodies (seeded: YUBIN_TEST_SEED) made of the pieces
 * that matter, added in random splits; the verdict must agree after
 * every piece.
 */
static bool reference_ran_on(const unsigned char *body, size_t len)
{
	for (size_t i = 2; i < len; i++) {
		if (body[i] != '\n' || body[i - 1] != '\r' || body[i - 2] != '.')
			continue;
		const unsigned char *head = body + i + 1;
		size_t left = len - i - 1;
		size_t line = 0;
		while (line < left && line < 4 && head[line] != '\n')
			line++;
		if ((line >= 3 && strncasecmp((const char *)head, "+OK", 3) == 0) ||
		    (line >= 4 && strncasecmp((const char *)head, "-ERR", 4) == 0))
			return true;
	}
	return false;
}

static void test_tally_ran_on_generated(void **state)
{
	(void)state;
	static const char *const pieces[] = {
		".\r\n", "+OK", "+ok 3", "-ERR", "-eRr x", "-ER", "+O", "\r\n",
		"\n", "\r", ".", "text", "x", ".\r", "\n+OK", "K", "R",
	};
	const char *seed_text = getenv("YUBIN_TEST_SEED");
	uint64_t rng = seed_text ? strtoull(seed_text, NULL, 0) : 0x5eedULL;
	rng = rng ? rng : 1;
	size_t ran_on = 0;
	for (int round = 0; round < 20000; round++) {
		unsigned char body[256];
		size_t len = 0;
		for (;;) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			const char *piece = pieces[rng % (sizeof(pieces) / sizeof(pieces[0]))];
			size_t n = strlen(piece);
			if (len + n > sizeof(body) || (rng >> 40) % 12 == 0)
				break;
			memcpy(body + len, piece, n);
			len += n;
		}
		struct pop3_body_tally tally;
		pop3_tally_init(&tally);
		size_t at = 0;
		while (at < len) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			size_t piece = 1 + (size_t)(rng % 9);
			if (piece > len - at)
				piece = len - at;
			pop3_tally_add(&tally, (const char *)body + at, piece);
			at += piece;
			if (pop3_tally_ran_on(&tally) != reference_ran_on(body, at))
				fail_msg("round %d: %zu of %zu bytes: ran_on %d, the "
					 "reference says %d", round, at, len,
					 pop3_tally_ran_on(&tally), !pop3_tally_ran_on(&tally));
		}
		ran_on += pop3_tally_ran_on(&tally);
	}
	/* Both verdicts were reached often. */
	assert_true(ran_on > 1000);
	assert_true(ran_on < 19000);
}

/* Only a body longer than any agreeing size, and not run on, is taken
   as rewritten while sent. */
static void test_size_rewritten(void **state)
{
	(void)state;
	static const char body[] = "X-UID: 7\r\nSubject: a\r\n\r\nHallo\r\n";
	size_t len = sizeof(body) - 1; /* 31 bytes, 4 CRLF */
	struct pop3_body_tally tally = tally_of(body, len, len, 3);
	assert_true(pop3_size_rewritten(&tally, 0));
	assert_true(pop3_size_rewritten(&tally, len - 6));
	assert_false(pop3_size_rewritten(&tally, len - 5)); /* agrees */
	assert_false(pop3_size_rewritten(&tally, len));
	assert_false(pop3_size_rewritten(&tally, len + 100)); /* shorter */
	static const char run_on[] = "text.\r\n+OK 9 octets\r\nmore\r\n";
	tally = tally_of(run_on, sizeof(run_on) - 1, 4, 3);
	assert_false(pop3_size_rewritten(&tally, 0));
}

/*
 * The size agrees from the bytes with every CRLF counted as one byte to
 * the bytes with every bare LF counted as two plus the stuffing dots and
 * the terminator; not a byte outside.
 */
static void test_size_agrees_within_line_endings_and_stuffing(void **state)
{
	(void)state;
	static const char body[] = "S: x\r\n\r\none\r\ntwo\nthree\r\n";
	size_t len = sizeof(body) - 1; /* 4 CRLF, 1 bare LF */
	struct pop3_body_tally tally = tally_of(body, len, len, 5);
	assert_true(pop3_size_agrees(&tally, len));
	assert_true(pop3_size_agrees(&tally, len - 4));
	assert_true(pop3_size_agrees(&tally, len - 5));
	assert_false(pop3_size_agrees(&tally, len - 6));
	assert_true(pop3_size_agrees(&tally, len + 1 + 5));
	assert_false(pop3_size_agrees(&tally, len + 1 + 5 + 1));
	assert_false(pop3_size_agrees(&tally, 0));
	struct pop3_body_tally empty = tally_of("", 0, 1, 3);
	assert_true(pop3_size_agrees(&empty, 0));
	assert_true(pop3_size_agrees(&empty, 3));
	assert_false(pop3_size_agrees(&empty, 4));
}

/* The server ends a message without a final line end with a CRLF that
   LIST did not count: "abc" comes as "abc\r\n", "" as "\r\n". */
static void test_size_agrees_with_added_final_crlf(void **state)
{
	(void)state;
	struct pop3_body_tally one_line = tally_of("abc\r\n", 5, 5, 3);
	assert_true(pop3_size_agrees(&one_line, 3));
	assert_false(pop3_size_agrees(&one_line, 2));
	struct pop3_body_tally empty_line = tally_of("\r\n", 2, 2, 3);
	assert_true(pop3_size_agrees(&empty_line, 0));
}

/*
 * A last line without its CRLF: "text.\r\n" is no terminator, so the
 * body runs on through the next reply to the next terminator.  What it
 * then holds disagrees with the first message's size.
 */
static void test_run_on_body_disagrees(void **state)
{
	(void)state;
	static const char first[] = "Subject: one\r\n\r\nline\r\ntext\r\n";
	static const char wire[] =
		"Subject: one\r\n\r\nline\r\ntext.\r\n"
		"+OK 20 octets\r\nSubject: 2\r\n\r\nx\r\n.\r\n";
	struct pop3_dot_decoder dec;
	pop3_dot_init(&dec);
	char out[sizeof(wire)];
	size_t out_len;
	size_t used = pop3_dot_decode(&dec, wire, sizeof(wire) - 1, out,
				      &out_len);
	assert_true(dec.done);
	struct pop3_body_tally tally = tally_of(out, out_len, out_len,
						used - out_len);
	assert_false(pop3_size_agrees(&tally, sizeof(first) - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_ok_with_text),
		cmocka_unit_test(test_status_err_with_text),
		cmocka_unit_test(test_status_case_insensitive),
		cmocka_unit_test(test_status_without_text),
		cmocka_unit_test(test_status_bad),
		cmocka_unit_test(test_status_respects_length),
		cmocka_unit_test(test_resp_codes_known),
		cmocka_unit_test(test_resp_codes_case_and_hierarchy),
		cmocka_unit_test(test_resp_codes_none),
		cmocka_unit_test(test_capa_dovecot_listing),
		cmocka_unit_test(test_capa_case_and_spaces),
		cmocka_unit_test(test_capa_lookalikes_ignored),
		cmocka_unit_test(test_uidl_valid),
		cmocka_unit_test(test_uidl_extra_spaces_tolerated),
		cmocka_unit_test(test_uidl_length_limit),
		cmocka_unit_test(test_uidl_bad_bytes),
		cmocka_unit_test(test_uidl_bad_msgno_or_fields),
		cmocka_unit_test(test_list_valid),
		cmocka_unit_test(test_list_bad),
		cmocka_unit_test(test_numbers_edges),
		cmocka_unit_test(test_uidl_every_byte_everywhere),
		cmocka_unit_test(test_apop_timestamp_present),
		cmocka_unit_test(test_apop_timestamp_absent),
		cmocka_unit_test(test_apop_timestamp_unterminated),
		cmocka_unit_test(test_apop_timestamp_overlong),
		cmocka_unit_test(test_dot_whole),
		cmocka_unit_test(test_dot_every_split),
		cmocka_unit_test(test_dot_byte_at_a_time),
		cmocka_unit_test(test_dot_needs_terminator),
		cmocka_unit_test(test_dot_random_against_reference),
		cmocka_unit_test(test_dot_large_body),
		cmocka_unit_test(test_tally_counts_line_endings),
		cmocka_unit_test(test_tally_ran_on),
		cmocka_unit_test(test_tally_ran_on_generated),
		cmocka_unit_test(test_size_rewritten),
		cmocka_unit_test(test_size_agrees_within_line_endings_and_stuffing),
		cmocka_unit_test(test_size_agrees_with_added_final_crlf),
		cmocka_unit_test(test_run_on_body_disagrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
