/*
 * test_imap_parse.c - the IMAP response parser: every sample is parsed
 * whole, one byte at a time, and split in two at every byte, and all of
 * these must give the same transcript (responses, streamed literals,
 * hook calls, errors).
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

#include "imap_parse.h"

#define S(literal) literal, sizeof(literal) - 1

/* --- a growable string for transcripts --- */

struct out {
	char *data;
	size_t len, cap;
};

static void out_add(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap < o->len + n + 1)
			cap *= 2;
		o->data = realloc(o->data, cap);
		assert_non_null(o->data);
		o->cap = cap;
	}
	memcpy(o->data + o->len, s, n);
	o->len += n;
	o->data[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
	out_add(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void out_fmt(struct out *o, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(buf));
	out_add(o, buf, (size_t)n);
}

/* Bytes with anything unusual shown as \xHH. */
static void out_bytes(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			out_add(o, (const char *)&c, 1);
		else
			out_fmt(o, "\\x%02x", c);
	}
}

static void dump_value(struct out *o, const struct imap_value *v);

static void dump_values(struct out *o, const struct imap_value *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			out_str(o, " ");
		dump_value(o, &v[i]);
	}
}

static void dump_value(struct out *o, const struct imap_value *v)
{
	switch (v->type) {
	case IMAP_VALUE_ATOM:
		out_bytes(o, v->str, v->len);
		assert_int_equal(v->str[v->len], '\0');
		break;
	case IMAP_VALUE_NUMBER:
		out_fmt(o, "#%llu", (unsigned long long)v->number);
		break;
	case IMAP_VALUE_NIL:
		out_str(o, "NIL");
		break;
	case IMAP_VALUE_QUOTED:
		out_str(o, "\"");
		out_bytes(o, v->str, v->len);
		out_str(o, "\"");
		assert_int_equal(v->str[v->len], '\0');
		break;
	case IMAP_VALUE_LITERAL:
		out_fmt(o, "{%zu}\"", v->len);
		out_bytes(o, v->str, v->len);
		out_str(o, "\"");
		assert_int_equal(v->str[v->len], '\0');
		break;
	case IMAP_VALUE_LIST:
		out_str(o, "(");
		if (v->count == 0)
			assert_null(v->items);
		dump_values(o, v->items, v->count);
		out_str(o, ")");
		break;
	case IMAP_VALUE_STREAMED:
		out_fmt(o, "<stream %llu>", (unsigned long long)v->number);
		break;
	}
}

static void dump_response(struct out *o, const struct imap_response *r)
{
	switch (r->kind) {
	case IMAP_RESP_TAGGED:
		out_str(o, "TAG ");
		out_bytes(o, r->tag, r->tag_len);
		break;
	case IMAP_RESP_UNTAGGED:
		out_str(o, "*");
		break;
	case IMAP_RESP_CONTINUATION:
		assert_null(r->name);
		out_str(o, "+ text=");
		out_bytes(o, r->text, r->text_len);
		out_str(o, "\n");
		return;
	}
	if (r->has_number)
		out_fmt(o, " %llu", (unsigned long long)r->number);
	out_str(o, " ");
	out_bytes(o, r->name, r->name_len);
	if (r->status == IMAP_STATUS_NONE) {
		assert_false(r->has_code);
		assert_null(r->text);
		if (r->value_count) {
			out_str(o, " ");
			dump_values(o, r->values, r->value_count);
		}
		out_str(o, "\n");
		return;
	}
	assert_int_equal(r->value_count, 0);
	if (r->has_code) {
		out_str(o, " [");
		out_bytes(o, r->code, r->code_len);
		out_str(o, " raw=");
		out_bytes(o, r->code_text, r->code_text_len);
		if (r->code_args_valid) {
			out_str(o, " args=(");
			dump_values(o, r->code_args, r->code_arg_count);
			out_str(o, ")");
		} else {
			out_str(o, " args=invalid");
		}
		out_str(o, "]");
	}
	out_str(o, " text=");
	out_bytes(o, r->text, r->text_len);
	out_str(o, "\n");
}

/* --- the stream hook: bodies of FETCH BODY[...] are streamed --- */

struct hook_log {
	struct out *out;
	bool stream_everything;
};

static bool test_want_stream(void *ctx, const struct imap_response *partial,
			     uint64_t size)
{
	struct hook_log *log = ctx;
	out_fmt(log->out, "HOOK size=%llu", (unsigned long long)size);
	if (partial->has_number)
		out_fmt(log->out, " seq=%llu", (unsigned long long)partial->number);
	const struct imap_value *list = NULL;
	if (partial->value_count &&
	    partial->values[partial->value_count - 1].type == IMAP_VALUE_LIST)
		list = &partial->values[partial->value_count - 1];
	bool stream = log->stream_everything;
	if (list && list->count) {
		const struct imap_value *last = &list->items[list->count - 1];
		out_str(log->out, " last=");
		dump_value(log->out, last);
		if (imap_response_is(partial, "FETCH") &&
		    last->type == IMAP_VALUE_ATOM && last->len >= 5 &&
		    strncmp(last->str, "BODY[", 5) == 0)
			stream = true;
	}
	out_str(log->out, stream ? " -> stream\n" : " -> buffer\n");
	return stream;
}

/* --- the driver: a fake connection under a given chunking --- */

/*
 * Parse all of in[0..len) the way a session would: the "connection"
 * hands over bytes up to the next split point (split_every 0: no regular
 * splits; extra_split: one more split point, 0 for none).  Streamed
 * literals are taken straight from the input, as a session takes them
 * from its connection.  Returns the transcript (caller frees).
 */
static char *run_parser(const char *in, size_t len, size_t split_every,
			size_t extra_split, const struct imap_parser_limits *limits,
			bool stream_everything)
{
	struct out o = { 0 };
	struct hook_log log = { &o, stream_everything };
	struct imap_parser *p = imap_parser_new(limits, test_want_stream, &log);
	assert_non_null(p);
	size_t pos = 0;
	while (pos < len) {
		size_t end = len;
		if (split_every)
			end = (pos / split_every + 1) * split_every;
		if (extra_split > pos && extra_split < end)
			end = extra_split;
		if (end > len)
			end = len;
		size_t consumed = 99999;
		enum imap_parse_status st =
			imap_parser_feed(p, in + pos, end - pos, &consumed);
		assert_true(consumed <= end - pos);
		pos += consumed;
		if (st == IMAP_PARSE_NEED_MORE) {
			assert_int_equal(pos, end);
			assert_null(imap_parser_response(p));
		} else if (st == IMAP_PARSE_COMPLETE) {
			dump_response(&o, imap_parser_response(p));
		} else if (st == IMAP_PARSE_STREAM_LITERAL) {
			uint64_t size = imap_parser_stream_size(p);
			out_fmt(&o, "STREAM %llu \"", (unsigned long long)size);
			size_t avail = len - pos;
			size_t take = size < avail ? (size_t)size : avail;
			out_bytes(&o, in + pos, take);
			out_str(&o, "\"\n");
			pos += take;
			if (take < size) {
				out_str(&o, "EOF in streamed literal\n");
				break;
			}
			imap_parser_literal_done(p);
		} else {
			const struct yb_error *e = imap_parser_error(p);
			assert_int_not_equal(e->status, YB_OK);
			out_fmt(&o, "ERROR %d ", (int)e->status);
			out_str(&o, e->msg);
			out_str(&o, "\n");
			/* An error is final. */
			size_t again = 5;
			assert_int_equal(imap_parser_feed(p, "x", 1, &again),
					 IMAP_PARSE_ERROR);
			assert_int_equal(again, 0);
			break;
		}
	}
	imap_parser_free(p);
	if (!o.data)
		out_str(&o, "");
	return o.data;
}

/*
 * Parse whole, one byte at a time, in 7-byte chunks, and split once at
 * every position: every transcript must equal expected.
 */
static void check_all_splits_limits(const char *in, size_t len,
				    const char *expected,
				    const struct imap_parser_limits *limits,
				    bool stream_everything)
{
	char *whole = run_parser(in, len, 0, 0, limits, stream_everything);
	assert_string_equal(whole, expected);
	free(whole);
	char *bytewise = run_parser(in, len, 1, 0, limits, stream_everything);
	assert_string_equal(bytewise, expected);
	free(bytewise);
	char *sevens = run_parser(in, len, 7, 0, limits, stream_everything);
	assert_string_equal(sevens, expected);
	free(sevens);
	for (size_t k = 1; k < len; k++) {
		char *split = run_parser(in, len, 0, k, limits, stream_everything);
		if (strcmp(split, expected) != 0)
			fail_msg("split at %zu gives:\n%s\nexpected:\n%s", k,
				 split, expected);
		free(split);
	}
}

static void check_all_splits(const char *in, size_t len, const char *expected)
{
	check_all_splits_limits(in, len, expected, NULL, false);
}

static struct imap_parser_limits small_limits(void)
{
	struct imap_parser_limits limits;
	imap_parser_limits_default(&limits);
	return limits;
}

/* --- well-formed responses --- */

static void test_greeting_with_capability_code(void **state)
{
	(void)state;
	check_all_splits(
		S("* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] "
		  "Dovecot ready.\r\n"),
		"* OK [CAPABILITY raw=IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN "
		"args=(IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN)] text=Dovecot "
		"ready.\n");
}

static void test_greeting_preauth_and_bye(void **state)
{
	(void)state;
	check_all_splits(S("* PREAUTH logged in as alice\r\n"
			   "* BYE shutting down\r\n"),
			 "* PREAUTH text=logged in as alice\n"
			 "* BYE text=shutting down\n");
}

static void test_capability_response(void **state)
{
	(void)state;
	check_all_splits(
		S("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED UIDPLUS "
		  "CONDSTORE QRESYNC\r\n"),
		"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED UIDPLUS "
		"CONDSTORE QRESYNC\n");
}

static void test_tagged_ok_uidvalidity(void **state)
{
	(void)state;
	check_all_splits(S("A1 OK [UIDVALIDITY 3857529045] UIDs valid\r\n"),
			 "TAG A1 OK [UIDVALIDITY raw=3857529045 "
			 "args=(#3857529045)] text=UIDs valid\n");
}

static void test_tagged_no_and_bad(void **state)
{
	(void)state;
	check_all_splits(S("a2 NO [AUTHENTICATIONFAILED] Authentication "
			   "failed.\r\nA3 bad Error in IMAP command\r\n"),
			 "TAG a2 NO [AUTHENTICATIONFAILED raw= args=()] "
			 "text=Authentication failed.\n"
			 "TAG A3 bad text=Error in IMAP command\n");
}

static void test_status_without_text(void **state)
{
	(void)state;
	check_all_splits(S("A1 OK\r\n* OK [ALERT]\r\nA2 NO \r\n"),
			 "TAG A1 OK text=\n"
			 "* OK [ALERT raw= args=()] text=\n"
			 "TAG A2 NO text=\n");
}

static void test_permanentflags_code(void **state)
{
	(void)state;
	check_all_splits(
		S("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		  "\\Draft $Junk \\*)] Flags permitted.\r\n"),
		"* OK [PERMANENTFLAGS raw=(\\x5cAnswered \\x5cFlagged "
		"\\x5cDeleted \\x5cSeen \\x5cDraft $Junk \\x5c*) "
		"args=((\\x5cAnswered \\x5cFlagged \\x5cDeleted \\x5cSeen "
		"\\x5cDraft $Junk \\x5c*))] text=Flags permitted.\n");
}

static void test_code_with_free_text_is_kept_raw(void **state)
{
	(void)state;
	/* An unknown code whose text is not value syntax must not fail the
	   response. */
	check_all_splits(S("* NO [XPROBLEM it (broke] oh no\r\n"),
			 "* NO [XPROBLEM raw=it (broke args=invalid] "
			 "text=oh no\n");
}

static void test_code_with_quoted_args(void **state)
{
	(void)state;
	check_all_splits(S("A5 NO [BADCHARSET (UTF-8 \"X \\\"Y\\\"\")] no\r\n"),
			 "TAG A5 NO [BADCHARSET raw=(UTF-8 \"X \\x5c\"Y\\x5c\"\") "
			 "args=((UTF-8 \"X \"Y\"\"))] text=no\n");
}

static void test_continuation(void **state)
{
	(void)state;
	check_all_splits(S("+ Ready for literal data\r\n+ \r\n+\r\n+ YWJj\r\n"),
			 "+ text=Ready for literal data\n"
			 "+ text=\n"
			 "+ text=\n"
			 "+ text=YWJj\n");
}

static void test_exists_expunge_recent(void **state)
{
	(void)state;
	check_all_splits(S("* 172 EXISTS\r\n* 1 RECENT\r\n* 44 EXPUNGE\r\n"),
			 "* 172 EXISTS\n* 1 RECENT\n* 44 EXPUNGE\n");
}

static void test_list_quoted_and_literal_names(void **state)
{
	(void)state;
	check_all_splits(
		S("* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		  "* LIST (\\Noselect \\HasChildren) \"/\" \"Archive\"\r\n"
		  "* LIST () \".\" {11}\r\nArch\"ive 24\r\n"
		  "* LIST (\\NonExistent) NIL \"&AOk-t&AOk-\"\r\n"),
		"* LIST (\\x5cHasNoChildren) \"/\" INBOX\n"
		"* LIST (\\x5cNoselect \\x5cHasChildren) \"/\" \"Archive\"\n"
		"HOOK size=11 -> buffer\n"
		"* LIST () \".\" {11}\"Arch\"ive 24\"\n"
		"* LIST (\\x5cNonExistent) NIL \"&AOk-t&AOk-\"\n");
}

static void test_fetch_streamed_body(void **state)
{
	(void)state;
	check_all_splits(
		S("* 12 FETCH (UID 4827313 FLAGS (\\Seen $Forwarded) "
		  "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
		  "RFC822.SIZE 44827 MODSEQ (12121231000) BODY[] {23}\r\n"
		  "Subject: hi\r\n\r\nbody\r\n\r\n"
		  " X-EXTRA NIL)\r\n"
		  "A7 OK Fetch completed.\r\n"),
		"HOOK size=23 seq=12 last=BODY[] -> stream\n"
		"STREAM 23 \"Subject: hi\\x0d\\x0a\\x0d\\x0abody\\x0d\\x0a\\x0d\\x0a\"\n"
		"* 12 FETCH (UID #4827313 FLAGS (\\x5cSeen $Forwarded) "
		"INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE #44827 "
		"MODSEQ (#12121231000) BODY[] <stream 23> X-EXTRA NIL)\n"
		"TAG A7 OK text=Fetch completed.\n");
}

static void test_fetch_two_streamed_parts(void **state)
{
	(void)state;
	check_all_splits(
		S("* 3 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID)] {20}\r\n"
		  "Message-ID: <a@b>\r\n\r BODY[]<0> {3}\r\nabc UID 9)\r\n"),
		"HOOK size=20 seq=3 last=BODY[HEADER.FIELDS (MESSAGE-ID)] -> "
		"stream\n"
		"STREAM 20 \"Message-ID: <a@b>\\x0d\\x0a\\x0d\"\n"
		"HOOK size=3 seq=3 last=BODY[]<0> -> stream\n"
		"STREAM 3 \"abc\"\n"
		"* 3 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID)] <stream 20> "
		"BODY[]<0> <stream 3> UID #9)\n");
}

static void test_literal_with_fake_tagged_line_is_data(void **state)
{
	(void)state;
	/* The body holds what looks like our tagged completion: it must be
	   body bytes, and the real completion must come after. */
	check_all_splits(
		S("* 1 FETCH (BODY[] {30}\r\nA1 OK done\r\n* 2 EXPUNGE\r\n)\r\n\r\n)\r\n"
		  "A1 OK real\r\n"),
		"HOOK size=30 seq=1 last=BODY[] -> stream\n"
		"STREAM 30 \"A1 OK done\\x0d\\x0a* 2 EXPUNGE\\x0d\\x0a)\\x0d\\x0a\\x0d\\x0a\"\n"
		"* 1 FETCH (BODY[] <stream 30>)\n"
		"TAG A1 OK text=real\n");
}

static void test_buffered_literal_with_fake_tagged_line(void **state)
{
	(void)state;
	check_all_splits(S("* 1 FETCH (X {12}\r\nA1 OK done\r\n)\r\nA1 OK\r\n"),
			 "HOOK size=12 seq=1 last=X -> buffer\n"
			 "* 1 FETCH (X {12}\"A1 OK done\\x0d\\x0a\")\n"
			 "TAG A1 OK text=\n");
}

static void test_empty_literal(void **state)
{
	(void)state;
	check_all_splits(S("* 1 FETCH (BODY[] {0}\r\n X {0}\r\n)\r\n"),
			 "HOOK size=0 seq=1 last=BODY[] -> stream\n"
			 "STREAM 0 \"\"\n"
			 "HOOK size=0 seq=1 last=X -> buffer\n"
			 "* 1 FETCH (BODY[] <stream 0> X {0}\"\")\n");
}

static void test_nonsync_literal_and_leading_zeros(void **state)
{
	(void)state;
	check_all_splits(S("* LIST () \"/\" {3+}\r\nabc\r\n* X {003}\r\nxyz\r\n"),
			 "HOOK size=3 -> buffer\n"
			 "* LIST () \"/\" {3}\"abc\"\n"
			 "HOOK size=3 -> buffer\n"
			 "* X {3}\"xyz\"\n");
}

static void test_binary_literal(void **state)
{
	(void)state;
	check_all_splits(S("* X {4}\r\n\0\r\n\xff\r\n"),
			 "HOOK size=4 -> buffer\n"
			 "* X {4}\"\\x00\\x0d\\x0a\\xff\"\n");
}

static void test_nested_lists_and_nil(void **state)
{
	(void)state;
	check_all_splits(
		S("* NAMESPACE ((\"\" \"/\")) NIL ((\"#shared/\" \"/\" "
		  "\"X-PARAM\" (\"a\" nil))(\"#public/\" \"/\"))\r\n"),
		"* NAMESPACE ((\"\" \"/\")) NIL ((\"#shared/\" \"/\" \"X-PARAM\" "
		"(\"a\" NIL)) (\"#public/\" \"/\"))\n");
}

static void test_empty_lists(void **state)
{
	(void)state;
	check_all_splits(S("* FLAGS ()\r\n* X (() ( ) (()))\r\n"),
			 "* FLAGS ()\n* X (() () (()))\n");
}

static void test_quoted_escapes(void **state)
{
	(void)state;
	check_all_splits(S("* X \"a\\\"b\\\\c\" \"\" \"\xc3\xa9t\xc3\xa9\"\r\n"),
			 "* X \"a\"b\\x5cc\" \"\" \"\\xc3\\xa9t\\xc3\\xa9\"\n");
}

static void test_numbers_and_big_digit_atoms(void **state)
{
	(void)state;
	check_all_splits(
		S("* X 0 18446744073709551615 18446744073709551616 007 1:5,7\r\n"),
		"* X #0 #18446744073709551615 18446744073709551616 #7 1:5,7\n");
}

static void test_vanished_and_esearch(void **state)
{
	(void)state;
	check_all_splits(S("* VANISHED (EARLIER) 41,43:116,118\r\n"
			   "* ESEARCH (TAG \"A282\") UID MIN 2 COUNT 3\r\n"
			   "* ENABLED CONDSTORE QRESYNC\r\n"),
			 "* VANISHED (EARLIER) 41,43:116,118\n"
			 "* ESEARCH (TAG \"A282\") UID MIN #2 COUNT #3\n"
			 "* ENABLED CONDSTORE QRESYNC\n");
}

static void test_bare_lf_line_ends(void **state)
{
	(void)state;
	check_all_splits(S("* 3 EXISTS\nA1 OK [READ-WRITE] yes\n* X {2}\nab\n"),
			 "* 3 EXISTS\n"
			 "TAG A1 OK [READ-WRITE raw= args=()] text=yes\n"
			 "HOOK size=2 -> buffer\n"
			 "* X {2}\"ab\"\n");
}

static void test_extra_spaces_tolerated(void **state)
{
	(void)state;
	check_all_splits(S("* SEARCH 2 3  6 \r\n* X ( a b )\r\n* SEARCH\r\n"),
			 "* SEARCH #2 #3 #6\n* X (a b)\n* SEARCH\n");
}

static void test_text_keeps_control_bytes_raw(void **state)
{
	(void)state;
	check_all_splits(S("* OK \x1b[31mred\x1b[0m \xe2\x9c\x93\r\n"),
			 "* OK text=\\x1b[31mred\\x1b[0m \\xe2\\x9c\\x93\n");
}

static void test_section_with_spaces_and_origin(void **state)
{
	(void)state;
	check_all_splits(
		S("* 1 FETCH (BODY[HEADER.FIELDS (FROM TO)]<10> \"x\" "
		  "BINARY.SIZE[1] 5)\r\n"),
		"* 1 FETCH (BODY[HEADER.FIELDS (FROM TO)]<10> \"x\" "
		"BINARY.SIZE[1] #5)\n");
}

/* --- pipelining and the consumed count --- */

static void test_pipelined_responses_stop_at_boundary(void **state)
{
	(void)state;
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	assert_non_null(p);
	const char in[] = "* 2 EXISTS\r\n* 1 RECENT\r\nA1 OK";
	size_t consumed = 0;
	assert_int_equal(imap_parser_feed(p, in, sizeof(in) - 1, &consumed),
			 IMAP_PARSE_COMPLETE);
	assert_int_equal(consumed, 12);
	const struct imap_response *r = imap_parser_response(p);
	assert_non_null(r);
	assert_true(imap_response_is(r, "exists"));
	assert_int_equal(r->number, 2);
	size_t pos = consumed;
	assert_int_equal(imap_parser_feed(p, in + pos, sizeof(in) - 1 - pos,
					  &consumed),
			 IMAP_PARSE_COMPLETE);
	assert_int_equal(consumed, 12);
	pos += consumed;
	assert_int_equal(imap_parser_feed(p, in + pos, sizeof(in) - 1 - pos,
					  &consumed),
			 IMAP_PARSE_NEED_MORE);
	assert_int_equal(consumed, sizeof(in) - 1 - pos);
	assert_null(imap_parser_response(p));
	assert_int_equal(imap_parser_feed(p, "\r\n", 2, &consumed),
			 IMAP_PARSE_COMPLETE);
	r = imap_parser_response(p);
	assert_int_equal(r->kind, IMAP_RESP_TAGGED);
	assert_int_equal(r->status, IMAP_STATUS_OK);
	assert_memory_equal(r->tag, "A1", 2);
	imap_parser_free(p);
}

static void test_stream_handoff_sizes(void **state)
{
	(void)state;
	struct out o = { 0 };
	struct hook_log log = { &o, false };
	struct imap_parser *p = imap_parser_new(NULL, test_want_stream, &log);
	const char in[] = "* 9 FETCH (UID 77 BODY[] {5}\r\nhello FLAGS";
	size_t consumed = 0;
	assert_int_equal(imap_parser_feed(p, in, sizeof(in) - 1, &consumed),
			 IMAP_PARSE_STREAM_LITERAL);
	/* consumed ends right after the literal's CRLF */
	assert_int_equal(consumed, strlen("* 9 FETCH (UID 77 BODY[] {5}\r\n"));
	assert_int_equal(imap_parser_stream_size(p), 5);
	assert_null(imap_parser_response(p));
	/* feeding before literal_done is a misuse */
	size_t c2;
	struct imap_parser *q = imap_parser_new(NULL, test_want_stream, &log);
	assert_int_equal(imap_parser_feed(q, in, sizeof(in) - 1, &c2),
			 IMAP_PARSE_STREAM_LITERAL);
	assert_int_equal(imap_parser_feed(q, "x", 1, &c2), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(q)->status, YB_ERR_INTERNAL);
	imap_parser_free(q);

	imap_parser_literal_done(p);
	size_t pos = consumed + 5;
	assert_int_equal(imap_parser_feed(p, in + pos, sizeof(in) - 1 - pos,
					  &consumed),
			 IMAP_PARSE_NEED_MORE);
	assert_int_equal(imap_parser_feed(p, S(" (\\Seen))\r\n"), &consumed),
			 IMAP_PARSE_COMPLETE);
	const struct imap_response *r = imap_parser_response(p);
	assert_int_equal(r->value_count, 1);
	const struct imap_value *list = &r->values[0];
	assert_int_equal(list->type, IMAP_VALUE_LIST);
	assert_int_equal(list->count, 6);
	assert_int_equal(list->items[3].type, IMAP_VALUE_STREAMED);
	assert_int_equal(list->items[3].number, 5);
	assert_true(imap_value_is_atom(&list->items[4], "flags"));
	assert_int_equal(list->items[5].type, IMAP_VALUE_LIST);
	imap_parser_free(p);
	free(o.data);
}

static void test_literal_done_without_stream_is_error(void **state)
{
	(void)state;
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	imap_parser_literal_done(p);
	size_t consumed;
	assert_int_equal(imap_parser_feed(p, S("* OK\r\n"), &consumed),
			 IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->status, YB_ERR_INTERNAL);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_error(p)->status, YB_OK);
	assert_int_equal(imap_parser_feed(p, S("* OK\r\n"), &consumed),
			 IMAP_PARSE_COMPLETE);
	imap_parser_free(p);
}

static void test_reset_discards_partial_response(void **state)
{
	(void)state;
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	size_t consumed;
	assert_int_equal(imap_parser_feed(p, S("* 1 FETCH (UID 5"), &consumed),
			 IMAP_PARSE_NEED_MORE);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed(p, S("A1 OK hi\r\n"), &consumed),
			 IMAP_PARSE_COMPLETE);
	const struct imap_response *r = imap_parser_response(p);
	assert_int_equal(r->kind, IMAP_RESP_TAGGED);
	assert_int_equal(r->text_len, 2);
	imap_parser_free(p);
}

static void test_no_hook_buffers_everything(void **state)
{
	(void)state;
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	size_t consumed;
	assert_int_equal(imap_parser_feed(p, S("* 1 FETCH (BODY[] {3}\r\nabc)\r\n"),
					  &consumed),
			 IMAP_PARSE_COMPLETE);
	const struct imap_response *r = imap_parser_response(p);
	const struct imap_value *body = &r->values[0].items[1];
	assert_int_equal(body->type, IMAP_VALUE_LITERAL);
	assert_int_equal(body->len, 3);
	assert_memory_equal(body->str, "abc", 3);
	imap_parser_free(p);
}

static void test_zero_length_feed(void **state)
{
	(void)state;
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	size_t consumed = 7;
	assert_int_equal(imap_parser_feed(p, "", 0, &consumed),
			 IMAP_PARSE_NEED_MORE);
	assert_int_equal(consumed, 0);
	imap_parser_free(p);
}

/* --- errors --- */

/* The error message, the same for every split. */
static void check_error(const char *in, size_t len,
			const struct imap_parser_limits *limits,
			const char *expected_msg)
{
	char expected[1200];
	snprintf(expected, sizeof(expected), "ERROR %d %s\n", YB_ERR_PROTOCOL,
		 expected_msg);
	char *whole = run_parser(in, len, 0, 0, limits, false);
	/* Compare only the final line: earlier responses may precede it. */
	const char *last = strstr(whole, "ERROR ");
	if (!last)
		fail_msg("no error for input; got:\n%s", whole);
	assert_string_equal(last, expected);
	free(whole);
	char *bytewise = run_parser(in, len, 1, 0, limits, false);
	last = strstr(bytewise, "ERROR ");
	assert_non_null(last);
	assert_string_equal(last, expected);
	free(bytewise);
	for (size_t k = 1; k < len; k++) {
		char *split = run_parser(in, len, 0, k, limits, false);
		last = strstr(split, "ERROR ");
		assert_non_null(last);
		assert_string_equal(last, expected);
		free(split);
	}
}

static void test_error_literal_size_huge(void **state)
{
	(void)state;
	check_error(S("* 1 FETCH (BODY[] {1099511627777}\r\n"), NULL,
		    "IMAP FETCH response: literal of more than 1099511627776 "
		    "bytes");
}

static void test_error_literal_size_overflow_digits(void **state)
{
	(void)state;
	struct imap_parser_limits limits = small_limits();
	limits.max_stream_len = UINT64_MAX;
	check_error(S("* X {99999999999999999999}\r\n"), &limits,
		    "IMAP X response: literal size is too large");
	check_error(S("* X {000000000000000000001}\r\n"), &limits,
		    "IMAP X response: literal size has more than 20 digits");
}

static void test_error_literal_size_thousand_digits(void **state)
{
	(void)state;
	char in[1100];
	size_t n = 0;
	memcpy(in, "* X {", 5);
	n = 5;
	for (int i = 0; i < 1000; i++)
		in[n++] = '1';
	memcpy(in + n, "}\r\n", 3);
	n += 3;
	char *got = run_parser(in, n, 0, 0, NULL, false);
	assert_non_null(strstr(got, "ERROR"));
	assert_non_null(strstr(got, "literal of more than"));
	free(got);
	got = run_parser(in, n, 1, 0, NULL, false);
	assert_non_null(strstr(got, "literal of more than"));
	free(got);
}

static void test_error_literal_size_negative_or_garbage(void **state)
{
	(void)state;
	check_error(S("* X {-5}\r\n"), NULL,
		    "IMAP X response: unexpected byte '-' in a literal's size "
		    "\"{N}\"");
	check_error(S("* X {}\r\n"), NULL,
		    "IMAP X response: unexpected byte '}' in a literal's size "
		    "\"{N}\"");
	check_error(S("* X {5a}\r\n"), NULL,
		    "IMAP X response: unexpected byte 'a' in a literal's size "
		    "\"{N}\"");
	check_error(S("* X {+5}\r\n"), NULL,
		    "IMAP X response: unexpected byte '+' in a literal's size "
		    "\"{N}\"");
	check_error(S("* X {5++}\r\n"), NULL,
		    "IMAP X response: unexpected byte '+' in a literal's size "
		    "\"{N}\"");
	check_error(S("* X {5+1}\r\n"), NULL,
		    "IMAP X response: unexpected byte '1' in a literal's size "
		    "\"{N}\"");
	check_error(S("* X {5} \r\n"), NULL,
		    "IMAP X response: unexpected byte 0x20 after a literal's "
		    "\"{N}\" (expected CRLF)");
}

static void test_error_literal_over_buffer_limit(void **state)
{
	(void)state;
	struct imap_parser_limits limits = small_limits();
	limits.max_literal_len = 10;
	check_error(S("* X {11}\r\n01234567890)\r\n"), &limits,
		    "IMAP X response: literal of 11 bytes is over the 10-byte "
		    "limit for literals kept in memory");
	limits.max_literal_len = 10;
	limits.max_literal_total = 15;
	check_error(S("* X {8}\r\n01234567 {8}\r\n01234567\r\n"), &limits,
		    "IMAP X response: literals kept in memory add up to more "
		    "than 15 bytes");
}

static void test_error_nesting_too_deep(void **state)
{
	(void)state;
	struct imap_parser_limits limits = small_limits();
	limits.max_depth = 3;
	check_all_splits_limits(S("* X (((a)))\r\n"), "* X (((a)))\n", &limits,
				false);
	check_error(S("* X ((((a))))\r\n"), &limits,
		    "IMAP X response: lists nested deeper than 3");
	/* The default: 16 */
	char in[64] = "* X ";
	size_t n = 4;
	for (int i = 0; i < 17; i++)
		in[n++] = '(';
	check_error(in, n, NULL, "IMAP X response: lists nested deeper than 16");
}

static void test_error_list_too_long(void **state)
{
	(void)state;
	struct imap_parser_limits limits = small_limits();
	limits.max_list_items = 4;
	check_all_splits_limits(S("* X (1 2 3 4) 5 6 7\r\n"),
				"* X (#1 #2 #3 #4) #5 #6 #7\n", &limits, false);
	check_error(S("* X (1 2 3 4 5)\r\n"), &limits,
		    "IMAP X response: more than 4 items in one list");
	check_error(S("* X 1 2 3 4 5\r\n"), &limits,
		    "IMAP X response: more than 4 items in one list");
}

static void test_error_too_many_values(void **state)
{
	(void)state;
	struct imap_parser_limits limits = small_limits();
	limits.max_values = 5;
	check_error(S("* X (1 2) (3 4)\r\n"), &limits,
		    "IMAP X response: more than 5 values in one response");
}

static void test_error_line_too_long(void **state)
{
	(void)state;
	struct imap_parser_limits limits = small_limits();
	limits.max_line_len = 20;
	/* 20 bytes exactly is fine */
	check_all_splits_limits(S("* OK 0123456789abc\r\n"),
				"* OK text=0123456789abc\n", &limits, false);
	check_error(S("* OK 0123456789abcd\r\n"), &limits,
		    "IMAP OK response: longer than 20 bytes outside literals");
	/* literal data does not count, the lines around it do */
	limits.max_line_len = 40;
	check_all_splits_limits(S("* X {30}\r\n012345678901234567890123456789\r\n"),
				"HOOK size=30 -> buffer\n"
				"* X {30}\"012345678901234567890123456789\"\n",
				&limits, false);
	check_error(S("* X {2}\r\nab {2}\r\ncd {2}\r\nef {2}\r\ngh {2}\r\nij {2}\r\nkl {2}\r\nmn\r\n"),
		    &limits, "IMAP X response: longer than 40 bytes outside "
			     "literals");
}

static void test_error_atom_and_quoted_too_long(void **state)
{
	(void)state;
	struct imap_parser_limits limits = small_limits();
	limits.max_atom_len = 8;
	limits.max_quoted_len = 4;
	check_error(S("* X 123456789\r\n"), &limits,
		    "IMAP X response: atom longer than 8 bytes");
	check_error(S("* X \"12345\"\r\n"), &limits,
		    "IMAP X response: quoted string longer than 4 bytes");
	check_error(S("* X BODY[1234]\r\n"), &limits,
		    "IMAP X response: atom longer than 8 bytes");
}

static void test_error_tag_and_name_too_long(void **state)
{
	(void)state;
	char in[400];
	memset(in, 'a', 200);
	memcpy(in + 200, " OK\r\n", 5);
	check_error(in, 205, NULL, "IMAP response: tag longer than 128 bytes");
	memcpy(in, "* ", 2);
	memset(in + 2, 'N', 70);
	memcpy(in + 72, "\r\n", 2);
	check_error(in, 74, NULL,
		    "IMAP response: untagged response word longer than 64 bytes");
}

static void test_error_garbage_bytes(void **state)
{
	(void)state;
	check_error(S("\x16\x03\x01\x02\x00"), NULL,
		    "IMAP response: unexpected byte 0x16 at the start of a "
		    "response");
	check_error(S("*OK\r\n"), NULL,
		    "IMAP response: unexpected byte 'O' after \"*\" (expected a "
		    "space)");
	check_error(S("A1 YES\r\n"), NULL,
		    "IMAP response: tagged status \"YES\" is not OK, NO or BAD");
	check_error(S("A1 BYE\r\n"), NULL,
		    "IMAP response: tagged status \"BYE\" is not OK, NO or BAD");
	check_error(S("* X a\x01\r\n"), NULL,
		    "IMAP X response: unexpected byte 0x01 after a value "
		    "(expected a space, \")\" or the end of the line)");
	check_error(S("* X a\0\r\n"), NULL,
		    "IMAP X response: unexpected byte 0x00 after a value "
		    "(expected a space, \")\" or the end of the line)");
	check_error(S("* OK a\0b\r\n"), NULL,
		    "IMAP OK response: NUL byte in response text");
	check_error(S("* 5\r\n"), NULL,
		    "IMAP response: \"* N\" without a response name");
	check_error(S("* 5x EXISTS\r\n"), NULL,
		    "IMAP response: \"* N\" number is not a valid number");
	check_error(S("* 99999999999999999999 EXISTS\r\n"), NULL,
		    "IMAP response: \"* N\" number is not a valid number");
	check_error(S("* (a)\r\n"), NULL,
		    "IMAP response: unexpected byte '(' after \"* \"");
	check_error(S("* \r\n"), NULL,
		    "IMAP response: empty word after \"* \"");
	check_error(S("A1 OK\rX"), NULL,
		    "IMAP OK response: CR not followed by LF");
	check_error(S("* X \"a\" \"b\"c\r\n"), NULL,
		    "IMAP X response: unexpected byte 'c' after a value "
		    "(expected a space, \")\" or the end of the line)");
	check_error(S("* X ~{3}\r\nabc\r\n"), NULL,
		    "IMAP X response: unexpected byte '{' after a value "
		    "(expected a space, \")\" or the end of the line)");
}

static void test_error_quoted_strings(void **state)
{
	(void)state;
	check_error(S("* X \"abc\r\n"), NULL,
		    "IMAP X response: quoted string not closed before the end "
		    "of the line");
	check_error(S("* X \"abc\ndef\"\r\n"), NULL,
		    "IMAP X response: quoted string not closed before the end "
		    "of the line");
	check_error(S("* X \"a\\nb\"\r\n"), NULL,
		    "IMAP X response: unexpected byte 'n' after \"\\\" in a "
		    "quoted string (only \\\" and \\\\ are escapes)");
	check_error(S("* X \"a\0b\"\r\n"), NULL,
		    "IMAP X response: NUL byte in a quoted string");
}

static void test_error_unbalanced_parens(void **state)
{
	(void)state;
	check_error(S("* X (a (b)\r\n"), NULL,
		    "IMAP X response: line ended inside a parenthesized list");
	check_error(S("* X a)\r\n"), NULL, "IMAP X response: unbalanced \")\"");
	check_error(S("* X )\r\n"), NULL, "IMAP X response: unbalanced \")\"");
	check_error(S("* 1 FETCH (BODY[] {2}\r\nab\r\n"), NULL,
		    "IMAP FETCH response: line ended inside a parenthesized "
		    "list");
}

static void test_error_codes_and_sections(void **state)
{
	(void)state;
	check_error(S("* OK [UIDVALIDITY 5\r\n"), NULL,
		    "IMAP OK response: response code not closed by \"]\"");
	check_error(S("* OK []\r\n"), NULL,
		    "IMAP OK response: empty response code \"[]\"");
	check_error(S("* OK [A(B] x\r\n"), NULL,
		    "IMAP OK response: unexpected byte '(' in a response code "
		    "name");
	check_error(S("* 1 FETCH (BODY[HEADER\r\n"), NULL,
		    "IMAP FETCH response: \"[\" section not closed before the "
		    "end of the line");
	check_error(S("* 1 FETCH (BODY[a[b]]\r\n"), NULL,
		    "IMAP FETCH response: unexpected byte '[' inside a \"[...]\" "
		    "section");
}

static void test_error_literal_outside_values(void **state)
{
	(void)state;
	check_error(S("* {5}\r\nhello\r\n"), NULL,
		    "IMAP response: unexpected byte '{' after \"* \"");
	check_error(S("A1 OK [X {3}\r\nabc]\r\n"), NULL,
		    "IMAP OK response: response code not closed by \"]\"");
}

static void test_code_with_literal_is_invalid_args(void **state)
{
	(void)state;
	check_all_splits(S("A1 OK [X {3}] hi\r\n"),
			 "TAG A1 OK [X raw={3} args=invalid] text=hi\n");
}

/* --- larger inputs --- */

static void test_many_fetch_responses(void **state)
{
	(void)state;
	size_t count = 10000;
	size_t cap = count * 160;
	char *in = malloc(cap);
	assert_non_null(in);
	size_t n = 0;
	for (size_t i = 1; i <= count; i++) {
		int w = snprintf(in + n, cap - n,
				 "* %zu FETCH (UID %zu FLAGS (\\Seen \\Answered "
				 "$Label1) INTERNALDATE \"01-Jan-2024 10:00:00 "
				 "+0000\" RFC822.SIZE %zu MODSEQ (%zu))\r\n",
				 i, i + 100, i * 3, i * 7);
		assert_true(w > 0 && (size_t)w < cap - n);
		n += (size_t)w;
	}
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	size_t pos = 0, seen = 0;
	while (pos < n) {
		size_t consumed;
		enum imap_parse_status st =
			imap_parser_feed(p, in + pos, n - pos, &consumed);
		assert_int_equal(st, IMAP_PARSE_COMPLETE);
		pos += consumed;
		seen++;
		const struct imap_response *r = imap_parser_response(p);
		assert_int_equal(r->number, seen);
		const struct imap_value *items = r->values[0].items;
		assert_int_equal(r->values[0].count, 10);
		assert_int_equal(items[1].number, seen + 100);
		assert_int_equal(items[7].number, seen * 3);
		assert_int_equal(items[9].items[0].number, seen * 7);
	}
	assert_int_equal(seen, count);
	imap_parser_free(p);
	free(in);
}

static void test_big_list_response(void **state)
{
	(void)state;
	size_t count = 100000;
	size_t cap = count * 12 + 64;
	char *in = malloc(cap);
	assert_non_null(in);
	size_t n = (size_t)snprintf(in, cap, "* X (");
	for (size_t i = 0; i < count; i++)
		n += (size_t)snprintf(in + n, cap - n, i ? " %zu" : "%zu", i + 1);
	n += (size_t)snprintf(in + n, cap - n, ")\r\n");
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	size_t consumed;
	/* in 4 KiB reads, as from a socket */
	size_t pos = 0;
	enum imap_parse_status st = IMAP_PARSE_NEED_MORE;
	while (pos < n) {
		size_t chunk = n - pos < 4096 ? n - pos : 4096;
		st = imap_parser_feed(p, in + pos, chunk, &consumed);
		pos += consumed;
		if (st != IMAP_PARSE_NEED_MORE)
			break;
	}
	assert_int_equal(st, IMAP_PARSE_COMPLETE);
	assert_int_equal(pos, n);
	const struct imap_response *r = imap_parser_response(p);
	assert_int_equal(r->values[0].count, count);
	assert_int_equal(r->values[0].items[count - 1].number, count);
	/* one more item than the default list limit is refused */
	imap_parser_reset(p);
	n -= 3;
	n += (size_t)snprintf(in + n, cap - n, " 1)\r\n");
	assert_int_equal(imap_parser_feed(p, in, n, &consumed), IMAP_PARSE_ERROR);
	assert_non_null(strstr(imap_parser_error(p)->msg,
			       "more than 100000 items in one list"));
	imap_parser_free(p);
	free(in);
}

static void test_big_streamed_literal_never_buffered(void **state)
{
	(void)state;
	/* A 1 TiB body announced: the parser hands it over without
	   allocating anything for it. */
	struct out o = { 0 };
	struct hook_log log = { &o, false };
	struct imap_parser *p = imap_parser_new(NULL, test_want_stream, &log);
	size_t consumed;
	assert_int_equal(imap_parser_feed(p, S("* 1 FETCH (BODY[] {1099511627776}\r\n"),
					  &consumed),
			 IMAP_PARSE_STREAM_LITERAL);
	assert_int_equal(imap_parser_stream_size(p), 1099511627776ull);
	imap_parser_literal_done(p);
	assert_int_equal(imap_parser_feed(p, S(")\r\n"), &consumed),
			 IMAP_PARSE_COMPLETE);
	imap_parser_free(p);
	free(o.data);
}

static void test_hook_sees_partial_nested_lists(void **state)
{
	(void)state;
	check_all_splits_limits(
		S("* 4 FETCH (A (B (C {1}\r\nx D) {2}\r\nyz) E)\r\n"),
		"HOOK size=1 seq=4 last=(B (C)) -> stream\n"
		"STREAM 1 \"x\"\n"
		"HOOK size=2 seq=4 last=(B (C <stream 1> D)) -> stream\n"
		"STREAM 2 \"yz\"\n"
		"* 4 FETCH (A (B (C <stream 1> D) <stream 2>) E)\n",
		NULL, true);
}

static void test_helpers(void **state)
{
	(void)state;
	assert_true(imap_word_equals("fetch", 5, "FETCH"));
	assert_false(imap_word_equals("fetc", 4, "FETCH"));
	assert_false(imap_word_equals("fetchx", 6, "FETCH"));
	struct imap_value atom = { .type = IMAP_VALUE_ATOM, .str = "Seen", .len = 4 };
	struct imap_value quoted = { .type = IMAP_VALUE_QUOTED, .str = "Seen", .len = 4 };
	struct imap_value list = { .type = IMAP_VALUE_LIST };
	assert_true(imap_value_is_atom(&atom, "SEEN"));
	assert_false(imap_value_is_atom(&quoted, "SEEN"));
	const char *s;
	size_t len;
	assert_true(imap_value_astring(&quoted, &s, &len));
	assert_int_equal(len, 4);
	assert_false(imap_value_astring(&list, &s, &len));
	struct imap_response cont = { .kind = IMAP_RESP_CONTINUATION };
	assert_false(imap_response_is(&cont, "OK"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_with_capability_code),
		cmocka_unit_test(test_greeting_preauth_and_bye),
		cmocka_unit_test(test_capability_response),
		cmocka_unit_test(test_tagged_ok_uidvalidity),
		cmocka_unit_test(test_tagged_no_and_bad),
		cmocka_unit_test(test_status_without_text),
		cmocka_unit_test(test_permanentflags_code),
		cmocka_unit_test(test_code_with_free_text_is_kept_raw),
		cmocka_unit_test(test_code_with_quoted_args),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_exists_expunge_recent),
		cmocka_unit_test(test_list_quoted_and_literal_names),
		cmocka_unit_test(test_fetch_streamed_body),
		cmocka_unit_test(test_fetch_two_streamed_parts),
		cmocka_unit_test(test_literal_with_fake_tagged_line_is_data),
		cmocka_unit_test(test_buffered_literal_with_fake_tagged_line),
		cmocka_unit_test(test_empty_literal),
		cmocka_unit_test(test_nonsync_literal_and_leading_zeros),
		cmocka_unit_test(test_binary_literal),
		cmocka_unit_test(test_nested_lists_and_nil),
		cmocka_unit_test(test_empty_lists),
		cmocka_unit_test(test_quoted_escapes),
		cmocka_unit_test(test_numbers_and_big_digit_atoms),
		cmocka_unit_test(test_vanished_and_esearch),
		cmocka_unit_test(test_bare_lf_line_ends),
		cmocka_unit_test(test_extra_spaces_tolerated),
		cmocka_unit_test(test_text_keeps_control_bytes_raw),
		cmocka_unit_test(test_section_with_spaces_and_origin),
		cmocka_unit_test(test_pipelined_responses_stop_at_boundary),
		cmocka_unit_test(test_stream_handoff_sizes),
		cmocka_unit_test(test_literal_done_without_stream_is_error),
		cmocka_unit_test(test_reset_discards_partial_response),
		cmocka_unit_test(test_no_hook_buffers_everything),
		cmocka_unit_test(test_zero_length_feed),
		cmocka_unit_test(test_error_literal_size_huge),
		cmocka_unit_test(test_error_literal_size_overflow_digits),
		cmocka_unit_test(test_error_literal_size_thousand_digits),
		cmocka_unit_test(test_error_literal_size_negative_or_garbage),
		cmocka_unit_test(test_error_literal_over_buffer_limit),
		cmocka_unit_test(test_error_nesting_too_deep),
		cmocka_unit_test(test_error_list_too_long),
		cmocka_unit_test(test_error_too_many_values),
		cmocka_unit_test(test_error_line_too_long),
		cmocka_unit_test(test_error_atom_and_quoted_too_long),
		cmocka_unit_test(test_error_tag_and_name_too_long),
		cmocka_unit_test(test_error_garbage_bytes),
		cmocka_unit_test(test_error_quoted_strings),
		cmocka_unit_test(test_error_unbalanced_parens),
		cmocka_unit_test(test_error_codes_and_sections),
		cmocka_unit_test(test_error_literal_outside_values),
		cmocka_unit_test(test_code_with_literal_is_invalid_args),
		cmocka_unit_test(test_many_fetch_responses),
		cmocka_unit_test(test_big_list_response),
		cmocka_unit_test(test_big_streamed_literal_never_buffered),
		cmocka_unit_test(test_hook_sees_partial_nested_lists),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
