/*
 * test_imap_resp.c - interpreting IMAP responses: capabilities, codes,
 * flags, FETCH, LIST, NAMESPACE, VANISHED, INTERNALDATE, sequence sets,
 * and sequence numbers kept current under EXPUNGE.
 * Responses are produced by the real parser from wire text.
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
#include "imap_resp.h"
#include "maildir_flags.h"

#define S(literal) literal, sizeof(literal) - 1

/* --- parsing a sample --- */

static bool stream_bodies(void *ctx, const struct imap_response *partial,
			  uint64_t size)
{
	(void)ctx;
	(void)size;
	if (!partial->value_count)
		return false;
	const struct imap_value *list = &partial->values[0];
	if (list->type != IMAP_VALUE_LIST || !list->count)
		return false;
	const struct imap_value *last = &list->items[list->count - 1];
	return last->type == IMAP_VALUE_ATOM && strncmp(last->str, "BODY[", 5) == 0;
}

static struct imap_parser *parser;

static int setup(void **state)
{
	(void)state;
	parser = imap_parser_new(NULL, stream_bodies, NULL);
	return parser ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	imap_parser_free(parser);
	parser = NULL;
	return 0;
}

/* Parse exactly one response from wire text; streamed literals are
   skipped as a session would stream them away. */
static const struct imap_response *parse1(const char *in, size_t len)
{
	imap_parser_reset(parser);
	size_t pos = 0;
	while (true) {
		size_t consumed;
		enum imap_parse_status st =
			imap_parser_feed(parser, in + pos, len - pos, &consumed);
		pos += consumed;
		if (st == IMAP_PARSE_COMPLETE)
			break;
		if (st == IMAP_PARSE_STREAM_LITERAL) {
			pos += (size_t)imap_parser_stream_size(parser);
			assert_true(pos <= len);
			imap_parser_literal_done(parser);
			continue;
		}
		fail_msg("parse failed (%d): %s", (int)st,
			 imap_parser_error(parser)->msg);
	}
	assert_int_equal(pos, len);
	return imap_parser_response(parser);
}

#define P(literal) parse1(S(literal))

/* err holds PROTOCOL and a message containing part. */
static void assert_protocol_error(int rc, const struct yb_error *err,
				  const char *part)
{
	assert_int_equal(rc, YB_ERR_PROTOCOL);
	assert_int_equal(err->status, YB_ERR_PROTOCOL);
	if (!strstr(err->msg, part))
		fail_msg("message \"%s\" lacks \"%s\"", err->msg, part);
}

/* --- capabilities --- */

static void test_capa_from_capability_response(void **state)
{
	(void)state;
	struct yb_error err;
	uint64_t capa = 0;
	const struct imap_response *r = P(
		"* CAPABILITY IMAP4rev1 starttls LOGINDISABLED Sasl-IR "
		"auth=plain AUTH=LOGIN UIDPLUS CONDSTORE QRESYNC ENABLE "
		"LITERAL+ NAMESPACE IDLE X-UNKNOWN\r\n");
	assert_int_equal(imap_capa_parse(r, &capa, &err), YB_OK);
	assert_int_equal(capa, IMAP_CAPA_IMAP4REV1 | IMAP_CAPA_STARTTLS |
				       IMAP_CAPA_LOGINDISABLED | IMAP_CAPA_SASL_IR |
				       IMAP_CAPA_AUTH_PLAIN | IMAP_CAPA_AUTH_LOGIN |
				       IMAP_CAPA_UIDPLUS | IMAP_CAPA_CONDSTORE |
				       IMAP_CAPA_QRESYNC | IMAP_CAPA_ENABLE |
				       IMAP_CAPA_LITERAL_PLUS | IMAP_CAPA_NAMESPACE |
				       IMAP_CAPA_IDLE);
	assert_true(imap_capa_list_has(r->values, r->value_count, "x-unknown"));
	assert_false(imap_capa_list_has(r->values, r->value_count, "X-UNKNOW"));
	assert_false(imap_capa_list_has(r->values, r->value_count, "MOVE"));
}

static void test_capa_from_greeting_code(void **state)
{
	(void)state;
	struct yb_error err;
	uint64_t capa = 0;
	const struct imap_response *r =
		P("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2 AUTH=OAUTHBEARER "
		  "LITERAL- UTF8=ACCEPT] ready\r\n");
	assert_int_equal(imap_capa_parse(r, &capa, &err), YB_OK);
	assert_int_equal(capa, IMAP_CAPA_IMAP4REV1 | IMAP_CAPA_AUTH_XOAUTH2 |
				       IMAP_CAPA_AUTH_OAUTHBEARER |
				       IMAP_CAPA_LITERAL_MINUS |
				       IMAP_CAPA_UTF8_ACCEPT);
	/* also through imap_code_decode */
	struct imap_code_info info;
	assert_int_equal(imap_code_decode(r, &info, &err), YB_OK);
	assert_int_equal(info.code, IMAP_CODE_CAPABILITY);
	assert_int_equal(info.capa, capa);
}

static void test_capa_errors(void **state)
{
	(void)state;
	struct yb_error err;
	uint64_t capa;
	/* What is not an atom names no capability, and stops nothing. */
	assert_int_equal(imap_capa_parse(P("* CAPABILITY IMAP4rev1 \"X\" 7 (Y) "
					   "UIDPLUS\r\n"), &capa, &err), YB_OK);
	assert_int_equal(capa, IMAP_CAPA_IMAP4REV1 | IMAP_CAPA_UIDPLUS);
	assert_protocol_error(imap_capa_parse(P("* OK ready\r\n"), &capa, &err),
			      &err, "no capability list");
	assert_protocol_error(imap_capa_parse(P("* OK [CAPABILITY (] x\r\n"),
					      &capa, &err),
			      &err, "not a list of atoms");
	assert_protocol_error(imap_capa_parse(P("* FLAGS (\\Seen)\r\n"), &capa, &err),
			      &err, "no capability list");
}

/* --- resp-text codes --- */

/* [MODIFIED set] (RFC 7162): the set as sent, or "the whole command"
   when it cannot be read; never an error. */
static void test_code_modified(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_code_info info;
	assert_int_equal(imap_code_decode(P("a1 OK [MODIFIED 7,9:11] done\r\n"),
					  &info, &err), YB_OK);
	assert_int_equal(info.code, IMAP_CODE_MODIFIED);
	assert_string_equal(info.modified_set, "7,9:11");
	assert_false(info.modified_whole);
	assert_int_equal(imap_code_decode(P("a1 OK [MODIFIED 12] done\r\n"),
					  &info, &err), YB_OK);
	assert_string_equal(info.modified_set, "12");
	assert_false(info.modified_whole);
	assert_int_equal(imap_code_decode(P("a1 OK [MODIFIED] done\r\n"), &info,
					  &err), YB_OK);
	assert_true(info.modified_whole);
	assert_int_equal(imap_code_decode(P("a1 OK [MODIFIED 1 2] done\r\n"), &info,
					  &err), YB_OK);
	assert_true(info.modified_whole);
	char line[IMAP_MODIFIED_SET_MAX + 64];
	size_t used = (size_t)snprintf(line, sizeof(line), "a1 OK [MODIFIED ");
	while (used < IMAP_MODIFIED_SET_MAX + 40)
		used += (size_t)snprintf(line + used, sizeof(line) - used, "1,");
	snprintf(line + used, sizeof(line) - used, "1] too long\r\n");
	assert_int_equal(imap_code_decode(parse1(line, strlen(line)), &info, &err), YB_OK);
	assert_true(info.modified_whole);
}

static void test_code_uidvalidity_range(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_code_info info;
	assert_int_equal(imap_code_decode(P("* OK [UIDVALIDITY 3857529045] x\r\n"),
					  &info, &err),
			 YB_OK);
	assert_int_equal(info.code, IMAP_CODE_UIDVALIDITY);
	assert_int_equal(info.number, 3857529045u);
	assert_int_equal(imap_code_decode(P("* OK [UIDVALIDITY 4294967295] x\r\n"),
					  &info, &err),
			 YB_OK);
	assert_int_equal(info.number, 4294967295u);
	assert_protocol_error(imap_code_decode(P("* OK [UIDVALIDITY 0] x\r\n"),
					       &info, &err),
			      &err, "[UIDVALIDITY] 0 is out of range");
	assert_protocol_error(imap_code_decode(P("* OK [UIDVALIDITY 4294967296] x\r\n"),
					       &info, &err),
			      &err, "[UIDVALIDITY] 4294967296 is out of range");
	assert_protocol_error(imap_code_decode(P("* OK [UIDVALIDITY] x\r\n"), &info,
					       &err),
			      &err, "[UIDVALIDITY] code needs one argument");
	assert_protocol_error(imap_code_decode(P("* OK [UIDVALIDITY 1 2] x\r\n"),
					       &info, &err),
			      &err, "needs one argument, got \"1 2\"");
	assert_protocol_error(imap_code_decode(P("* OK [UIDVALIDITY abc] x\r\n"),
					       &info, &err),
			      &err, "[UIDVALIDITY] is abc, not a number");
	assert_protocol_error(
		imap_code_decode(P("* OK [UIDVALIDITY 99999999999999999999999] x\r\n"),
				 &info, &err),
		&err, "not a number");
}

static void test_code_uidnext_unseen(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_code_info info;
	assert_int_equal(imap_code_decode(P("* OK [UIDNEXT 4392] next\r\n"), &info,
					  &err),
			 YB_OK);
	assert_int_equal(info.code, IMAP_CODE_UIDNEXT);
	assert_int_equal(info.number, 4392);
	assert_int_equal(imap_code_decode(P("* OK [unseen 12] x\r\n"), &info, &err),
			 YB_OK);
	assert_int_equal(info.code, IMAP_CODE_UNSEEN);
	assert_int_equal(info.number, 12);
	assert_protocol_error(imap_code_decode(P("* OK [UIDNEXT 0] x\r\n"), &info,
					       &err),
			      &err, "[UIDNEXT] 0 is out of range");
}

static void test_code_highestmodseq_range(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_code_info info;
	assert_int_equal(imap_code_decode(
				 P("* OK [HIGHESTMODSEQ 9223372036854775807] x\r\n"),
				 &info, &err),
			 YB_OK);
	assert_int_equal(info.code, IMAP_CODE_HIGHESTMODSEQ);
	assert_true(info.number == 9223372036854775807ull);
	assert_protocol_error(imap_code_decode(
				      P("* OK [HIGHESTMODSEQ 9223372036854775808] x\r\n"),
				      &info, &err),
			      &err, "out of range");
	assert_protocol_error(imap_code_decode(P("* OK [HIGHESTMODSEQ 0] x\r\n"),
					       &info, &err),
			      &err, "out of range");
}

static void test_code_names_without_args(void **state)
{
	(void)state;
	static const struct {
		const char *wire;
		size_t len;
		enum imap_code code;
	} cases[] = {
		{ S("* OK [NOMODSEQ] x\r\n"), IMAP_CODE_NOMODSEQ },
		{ S("A1 OK [READ-ONLY] x\r\n"), IMAP_CODE_READ_ONLY },
		{ S("A1 OK [read-write] x\r\n"), IMAP_CODE_READ_WRITE },
		{ S("* OK [CLOSED] x\r\n"), IMAP_CODE_CLOSED },
		{ S("* OK [ALERT] x\r\n"), IMAP_CODE_ALERT },
		{ S("A1 NO [AUTHENTICATIONFAILED] x\r\n"),
		  IMAP_CODE_AUTHENTICATIONFAILED },
		{ S("A1 NO [UNAVAILABLE] x\r\n"), IMAP_CODE_UNAVAILABLE },
		{ S("A1 NO [TRYCREATE] x\r\n"), IMAP_CODE_TRYCREATE },
		{ S("A1 NO [OVERQUOTA] x\r\n"), IMAP_CODE_OVERQUOTA },
		{ S("A1 NO [SERVERBUG] x\r\n"), IMAP_CODE_SERVERBUG },
		{ S("A1 OK [APPENDUID 38505 3955] x\r\n"), IMAP_CODE_APPENDUID },
		{ S("A1 NO [X-SOMETHING free text (] x\r\n"), IMAP_CODE_OTHER },
		{ S("A1 OK done\r\n"), IMAP_CODE_NONE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct yb_error err;
		struct imap_code_info info;
		assert_int_equal(imap_code_decode(parse1(cases[i].wire, cases[i].len),
						  &info, &err),
				 YB_OK);
		assert_int_equal(info.code, cases[i].code);
		assert_int_equal(info.number, 0);
	}
}

static void test_code_permanentflags(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_code_info info;
	assert_int_equal(imap_code_decode(P("* OK [PERMANENTFLAGS (\\Deleted \\Seen "
					    "\\*)] Limited\r\n"),
					  &info, &err),
			 YB_OK);
	assert_int_equal(info.code, IMAP_CODE_PERMANENTFLAGS);
	assert_int_equal(info.permanent_flags, IMAP_FLAG_DELETED | IMAP_FLAG_SEEN);
	assert_true(info.permanent_keywords);
	assert_int_equal(imap_code_decode(P("* OK [PERMANENTFLAGS ()] none\r\n"),
					  &info, &err),
			 YB_OK);
	assert_int_equal(info.permanent_flags, 0);
	assert_false(info.permanent_keywords);
	assert_protocol_error(imap_code_decode(P("* OK [PERMANENTFLAGS \\Seen] x\r\n"),
					       &info, &err),
			      &err, "not a parenthesized list");
}

/* --- flags --- */

static void test_flags_decode(void **state)
{
	(void)state;
	struct yb_error err;
	const struct imap_response *r = P(
		"* FLAGS (\\Answered \\flagged \\DELETED \\Seen \\Draft \\Recent "
		"$Forwarded Junk \\XCustom)\r\n");
	uint32_t flags;
	size_t keywords;
	assert_int_equal(imap_flags_decode(&r->values[0], false, &flags, &keywords,
					   NULL, &err),
			 YB_OK);
	assert_int_equal(flags, IMAP_FLAG_ANSWERED | IMAP_FLAG_FLAGGED |
					IMAP_FLAG_DELETED | IMAP_FLAG_SEEN |
					IMAP_FLAG_DRAFT | IMAP_FLAG_RECENT);
	assert_int_equal(keywords, 3);
}

static void test_flags_star_outside_permanentflags(void **state)
{
	(void)state;
	struct yb_error err;
	const struct imap_response *r = P("* FLAGS (\\Seen \\*)\r\n");
	uint32_t flags;
	size_t keywords;
	assert_int_equal(imap_flags_decode(&r->values[0], false, &flags, &keywords,
					   NULL, &err),
			 YB_OK);
	assert_int_equal(flags, IMAP_FLAG_SEEN);
	assert_int_equal(keywords, 1);
	bool star = false;
	assert_int_equal(imap_flags_decode(&r->values[0], true, &flags, &keywords,
					   &star, &err),
			 YB_OK);
	assert_true(star);
	assert_int_equal(keywords, 0);
}

static void test_flags_errors(void **state)
{
	(void)state;
	struct yb_error err;
	uint32_t flags;
	size_t keywords;
	const struct imap_response *r = P("* FLAGS (\\Seen \"quoted\")\r\n");
	assert_protocol_error(imap_flags_decode(&r->values[0], false, &flags,
						&keywords, NULL, &err),
			      &err, "flag \"quoted\" is not an atom");
	r = P("* FLAGS \\Seen\r\n");
	assert_protocol_error(imap_flags_decode(&r->values[0], false, &flags,
						&keywords, NULL, &err),
			      &err, "flag list is \\Seen, not a parenthesized list");
	r = P("* FLAGS (\\Seen (x))\r\n");
	assert_protocol_error(imap_flags_decode(&r->values[0], false, &flags,
						&keywords, NULL, &err),
			      &err, "flag a list is not an atom");
}

/* The letters a Maildir gives IMAP flags, through the neutral flags. */
static size_t letters_of(uint32_t imap_flags, char out[MAILDIR_LETTERS_SIZE])
{
	assert_true(maildir_letters(imap_flags_neutral(imap_flags), out));
	return strlen(out);
}

static void test_maildir_letters(void **state)
{
	(void)state;
	char out[MAILDIR_LETTERS_SIZE];
	assert_int_equal(letters_of(0, out), 0);
	assert_string_equal(out, "");
	assert_int_equal(letters_of(IMAP_FLAG_SEEN, out), 1);
	assert_string_equal(out, "S");
	assert_int_equal(letters_of(IMAP_FLAG_SEEN | IMAP_FLAG_ANSWERED |
					    IMAP_FLAG_FLAGGED |
					    IMAP_FLAG_DELETED |
					    IMAP_FLAG_DRAFT |
					    IMAP_FLAG_RECENT,
				    out),
			 5);
	assert_string_equal(out, "DFRST");
	assert_int_equal(letters_of(IMAP_FLAG_RECENT, out), 0);
	letters_of(IMAP_FLAG_DELETED | IMAP_FLAG_DRAFT, out);
	assert_string_equal(out, "DT");
	letters_of(IMAP_FLAG_ANSWERED | IMAP_FLAG_FLAGGED, out);
	assert_string_equal(out, "FR");
	/* every combination: letters strictly ascending, one per flag */
	for (uint32_t f = 0; f < 64; f++) {
		size_t n = letters_of(f, out);
		assert_int_equal(n, strlen(out));
		for (size_t i = 1; i < n; i++)
			assert_true(out[i - 1] < out[i]);
		assert_int_equal(strchr(out, 'S') != NULL, (f & IMAP_FLAG_SEEN) != 0);
		assert_int_equal(strchr(out, 'R') != NULL,
				 (f & IMAP_FLAG_ANSWERED) != 0);
		assert_int_equal(strchr(out, 'F') != NULL,
				 (f & IMAP_FLAG_FLAGGED) != 0);
		assert_int_equal(strchr(out, 'T') != NULL,
				 (f & IMAP_FLAG_DELETED) != 0);
		assert_int_equal(strchr(out, 'D') != NULL, (f & IMAP_FLAG_DRAFT) != 0);
	}
}

/* --- FETCH --- */

static void test_fetch_full(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_fetch f;
	const struct imap_response *r = P(
		"* 12 FETCH (UID 4827313 FLAGS (\\Seen $Forwarded) "
		"INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 44827 "
		"MODSEQ (12121231000) BODY[] {5}\r\nhello)\r\n");
	assert_int_equal(imap_fetch_decode(r, &f, &err), YB_OK);
	assert_int_equal(f.seq, 12);
	assert_true(f.has_uid);
	assert_int_equal(f.uid, 4827313);
	assert_true(f.has_flags);
	assert_int_equal(f.flags, IMAP_FLAG_SEEN);
	assert_int_equal(f.keyword_count, 1);
	assert_true(f.has_internaldate);
	assert_int_equal(f.internaldate, 837596665); /* 1996-07-17 09:44:25 UTC */
	assert_true(f.has_rfc822_size);
	assert_int_equal(f.rfc822_size, 44827);
	assert_true(f.has_modseq);
	assert_true(f.modseq == 12121231000ull);
	assert_int_equal(f.body.kind, IMAP_PART_STREAMED);
	assert_int_equal(f.body.size, 5);
	assert_false(f.body.has_origin);
	assert_int_equal(f.header.kind, IMAP_PART_NONE);
}

static void test_fetch_flags_only(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_fetch f;
	assert_int_equal(imap_fetch_decode(P("* 3 FETCH (FLAGS () UID 7)\r\n"), &f,
					   &err),
			 YB_OK);
	assert_true(f.has_flags);
	assert_int_equal(f.flags, 0);
	assert_true(f.has_uid);
	assert_false(f.has_modseq);
	assert_false(f.has_internaldate);
	assert_false(f.has_rfc822_size);
	assert_int_equal(f.body.kind, IMAP_PART_NONE);
}

static void test_fetch_header_fields_buffered(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_fetch f;
	/* RFC822.HEADER and a header fetch buffered as a literal (the hook
	   only streams BODY[...]) */
	const struct imap_response *r =
		P("* 2 FETCH (UID 9 RFC822.HEADER {19}\r\nMessage-ID: <a@b>\r\n)\r\n");
	assert_int_equal(imap_fetch_decode(r, &f, &err), YB_OK);
	assert_int_equal(f.header.kind, IMAP_PART_DATA);
	assert_int_equal(f.header.size, 19);
	assert_memory_equal(f.header.data, "Message-ID: <a@b>\r\n", 19);
	r = P("* 2 FETCH (UID 9 BODY[HEADER.FIELDS (MESSAGE-ID)] \"x\")\r\n");
	assert_int_equal(imap_fetch_decode(r, &f, &err), YB_OK);
	assert_int_equal(f.header.kind, IMAP_PART_DATA);
	assert_int_equal(f.header.size, 1);
	r = P("* 2 FETCH (body[header.fields.not (X)] NIL)\r\n");
	assert_int_equal(imap_fetch_decode(r, &f, &err), YB_OK);
	assert_int_equal(f.header.kind, IMAP_PART_NIL);
	r = P("* 2 FETCH (BODY[HEADER] {2}\r\nab)\r\n");
	assert_int_equal(imap_fetch_decode(r, &f, &err), YB_OK);
	assert_int_equal(f.header.kind, IMAP_PART_STREAMED);
	assert_int_equal(f.header.size, 2);
}

static void test_fetch_body_origin_nil_and_rfc822(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_fetch f;
	assert_int_equal(imap_fetch_decode(P("* 1 FETCH (BODY[]<100> {3}\r\nabc)\r\n"),
					   &f, &err),
			 YB_OK);
	assert_int_equal(f.body.kind, IMAP_PART_STREAMED);
	assert_true(f.body.has_origin);
	assert_int_equal(f.body.origin, 100);
	assert_int_equal(imap_fetch_decode(P("* 1 FETCH (BODY[] NIL UID 4)\r\n"), &f,
					   &err),
			 YB_OK);
	assert_int_equal(f.body.kind, IMAP_PART_NIL);
	assert_int_equal(f.uid, 4);
	assert_int_equal(imap_fetch_decode(P("* 1 FETCH (RFC822 {4}\r\nabcd)\r\n"), &f,
					   &err),
			 YB_OK);
	assert_int_equal(f.body.kind, IMAP_PART_DATA);
	assert_memory_equal(f.body.data, "abcd", 4);
}

static void test_fetch_unknown_items_skipped(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_fetch f;
	assert_int_equal(
		imap_fetch_decode(
			P("* 5 FETCH (X-GM-MSGID 1278455344230334865 ENVELOPE "
			  "(\"date\" \"subj\" NIL NIL NIL NIL NIL NIL NIL \"<id>\") "
			  "BODYSTRUCTURE (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 3 1) "
			  "BODY[TEXT] \"t\" BODY[1.MIME] NIL BINARY[1] \"b\" "
			  "BODY (\"TEXT\" \"PLAIN\") UID 8)\r\n"),
			&f, &err),
		YB_OK);
	assert_true(f.has_uid);
	assert_int_equal(f.uid, 8);
	assert_int_equal(f.body.kind, IMAP_PART_NONE);
	assert_int_equal(f.header.kind, IMAP_PART_NONE);
}

static void test_fetch_duplicates(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_fetch f;
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (UID 5 uid 5)\r\n"), &f,
						&err),
			      &err, "FETCH item uid appears twice");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (FLAGS () FLAGS ())\r\n"),
						&f, &err),
			      &err, "appears twice");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (BODY[] NIL RFC822 "
						  "NIL)\r\n"),
						&f, &err),
			      &err, "FETCH item RFC822 appears twice");
	assert_protocol_error(
		imap_fetch_decode(P("* 1 FETCH (MODSEQ (1) MODSEQ (2))\r\n"), &f,
				  &err),
		&err, "appears twice");
	assert_protocol_error(
		imap_fetch_decode(P("* 1 FETCH (RFC822.SIZE 1 RFC822.SIZE 1)\r\n"),
				  &f, &err),
		&err, "appears twice");
	assert_protocol_error(
		imap_fetch_decode(P("* 1 FETCH (BODY[HEADER] NIL RFC822.HEADER NIL)\r\n"),
				  &f, &err),
		&err, "appears twice");
	assert_protocol_error(
		imap_fetch_decode(P("* 1 FETCH (INTERNALDATE \"01-Jan-2000 00:00:00 "
				    "+0000\" INTERNALDATE \"01-Jan-2000 00:00:00 "
				    "+0000\")\r\n"),
				  &f, &err),
		&err, "appears twice");
}

static void test_fetch_wrong_types(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_fetch f;
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (UID \"5\")\r\n"), &f,
						&err),
			      &err, "FETCH UID is \"5\", not a number");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (FLAGS \\Seen)\r\n"), &f,
						&err),
			      &err, "not a parenthesized list");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (INTERNALDATE X)\r\n"),
						&f, &err),
			      &err, "FETCH item INTERNALDATE has a value of the "
				    "wrong type: X");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (RFC822.SIZE (1))\r\n"),
						&f, &err),
			      &err, "FETCH RFC822.SIZE is a list, not a number");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (MODSEQ 5)\r\n"), &f,
						&err),
			      &err, "MODSEQ is not a list of one mod-sequence");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (MODSEQ (1 2))\r\n"), &f,
						&err),
			      &err, "not a list of one mod-sequence");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (MODSEQ (0))\r\n"), &f,
						&err),
			      &err, "FETCH MODSEQ 0 is out of range");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (BODY[] (a))\r\n"), &f,
						&err),
			      &err, "FETCH item BODY[] has a value of the wrong "
				    "type: a list");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (BODY[] 5)\r\n"), &f,
						&err),
			      &err, "wrong type: 5");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (INTERNALDATE \"yesterday\")\r\n"),
						&f, &err),
			      &err, "bad INTERNALDATE \"yesterday\"");
}

static void test_fetch_number_ranges(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_fetch f;
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (UID 0)\r\n"), &f, &err),
			      &err, "FETCH UID 0 is out of range (1..4294967295)");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (UID 4294967296)\r\n"),
						&f, &err),
			      &err, "FETCH UID 4294967296 is out of range");
	assert_int_equal(imap_fetch_decode(P("* 4294967295 FETCH (UID 4294967295)\r\n"),
					   &f, &err),
			 YB_OK);
	assert_int_equal(f.seq, 4294967295u);
	assert_int_equal(f.uid, 4294967295u);
	assert_protocol_error(imap_fetch_decode(P("* 0 FETCH (UID 1)\r\n"), &f, &err),
			      &err, "FETCH message number 0 is out of range");
	assert_protocol_error(imap_fetch_decode(P("* 4294967296 FETCH (UID 1)\r\n"),
						&f, &err),
			      &err, "out of range");
	assert_int_equal(imap_fetch_decode(P("* 1 FETCH (RFC822.SIZE 0)\r\n"), &f,
					   &err),
			 YB_OK);
	assert_int_equal(imap_fetch_decode(
				 P("* 1 FETCH (RFC822.SIZE 9223372036854775807)\r\n"),
				 &f, &err),
			 YB_OK);
	assert_protocol_error(imap_fetch_decode(
				      P("* 1 FETCH (RFC822.SIZE 9223372036854775808)\r\n"),
				      &f, &err),
			      &err, "out of range");
}

static void test_fetch_shape_errors(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_fetch f;
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (UID 5 FLAGS)\r\n"), &f,
						&err),
			      &err, "FETCH item FLAGS has no value");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (\"UID\" 5)\r\n"), &f,
						&err),
			      &err, "FETCH item name \"UID\" is not an atom");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH UID 5\r\n"), &f, &err),
			      &err, "not followed by one parenthesized list");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (UID 5) (X)\r\n"), &f,
						&err),
			      &err, "not followed by one parenthesized list");
	assert_protocol_error(imap_fetch_decode(P("* 1 EXISTS\r\n"), &f, &err), &err,
			      "not a \"* N FETCH\" response");
	assert_protocol_error(imap_fetch_decode(P("* FETCH (UID 1)\r\n"), &f, &err),
			      &err, "not a \"* N FETCH\" response");
	assert_protocol_error(imap_fetch_decode(P("A1 OK FETCH done\r\n"), &f, &err),
			      &err, "not a \"* N FETCH\" response");
	assert_protocol_error(imap_fetch_decode(P("* 1 FETCH (BODY[]x NIL)\r\n"), &f,
						&err),
			      &err, "has bad bytes after its section");
	assert_int_equal(imap_fetch_decode(P("* 1 FETCH ()\r\n"), &f, &err), YB_OK);
}

/* --- sections --- */

static void test_section_split(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_section s;
	assert_int_equal(imap_section_split(S("BODY[]"), &s, &err), YB_OK);
	assert_int_equal(s.name_len, 4);
	assert_true(s.has_section);
	assert_int_equal(s.section_len, 0);
	assert_false(s.has_origin);
	assert_int_equal(imap_section_split(S("BODY[HEADER.FIELDS (A B)]<12>"), &s,
					    &err),
			 YB_OK);
	assert_memory_equal(s.section, "HEADER.FIELDS (A B)", s.section_len);
	assert_int_equal(s.section_len, 19);
	assert_true(s.has_origin);
	assert_int_equal(s.origin, 12);
	assert_int_equal(imap_section_split(S("RFC822.SIZE"), &s, &err), YB_OK);
	assert_false(s.has_section);
	assert_int_equal(s.name_len, 11);
	static const char *bad[] = { "BODY[", "BODY[]x", "BODY[]<>", "BODY[]<1",
				     "BODY[]<1a>", "BODY[]<99999999999999999999>",
				     "BODY[]<-1>" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		yb_error_clear(&err);
		assert_int_equal(imap_section_split(bad[i], strlen(bad[i]), &s, &err),
				 YB_ERR_PROTOCOL);
		assert_non_null(strstr(err.msg, "FETCH item"));
	}
}

/* --- INTERNALDATE --- */

static time_t date_ok(const char *text)
{
	struct yb_error err;
	time_t t = 12345;
	int rc = imap_internaldate_parse(text, strlen(text), &t, &err);
	if (rc != YB_OK)
		fail_msg("\"%s\" refused: %s", text, err.msg);
	return t;
}

static void date_bad(const char *text)
{
	struct yb_error err;
	time_t t;
	yb_error_clear(&err);
	if (imap_internaldate_parse(text, strlen(text), &t, &err) == YB_OK)
		fail_msg("\"%s\" accepted", text);
	assert_int_equal(err.status, YB_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "bad INTERNALDATE"));
}

static void test_internaldate_values(void **state)
{
	(void)state;
	assert_int_equal(date_ok("01-Jan-1970 00:00:00 +0000"), 0);
	assert_int_equal(date_ok("01-Jan-1970 01:00:00 +0100"), 0);
	assert_int_equal(date_ok("31-Dec-1969 23:00:00 -0100"), 0);
	assert_int_equal(date_ok("17-Jul-1996 02:44:25 -0700"), 837596665);
	assert_int_equal(date_ok(" 7-Jul-1996 02:44:25 -0700"), 836732665);
	assert_int_equal(date_ok("07-jul-1996 02:44:25 -0700"), 836732665);
	assert_int_equal(date_ok("29-Feb-2024 12:00:00 +0000"), 1709208000);
	assert_int_equal(date_ok("29-Feb-2000 00:00:00 +0000"), 951782400);
	assert_int_equal(date_ok("19-Jan-2038 03:14:08 +0000"), 2147483648LL);
	assert_int_equal(date_ok("01-Mar-2024 05:30:00 +0530"), 1709251200);
	assert_int_equal(date_ok("31-Dec-1999 23:59:60 +0000"), 946684800);
	assert_true(date_ok("01-Jan-1900 00:00:00 +0000") < 0);
}

static void test_internaldate_strict(void **state)
{
	(void)state;
	date_bad("");
	date_bad("7-Jul-1996 02:44:25 -0700");   /* day not padded */
	date_bad("17-Jul-1996 02:44:25 -0700 "); /* trailing space */
	date_bad("17-Jul-96 02:44:25 -0700");
	date_bad("17-Jux-1996 02:44:25 -0700");
	date_bad("17 Jul 1996 02:44:25 -0700");
	date_bad("17-Jul-1996T02:44:25 -0700");
	date_bad("17-Jul-1996 24:00:00 +0000");
	date_bad("17-Jul-1996 23:60:00 +0000");
	date_bad("17-Jul-1996 23:59:61 +0000");
	date_bad("17-Jul-1996 02:44:25 +2400");
	date_bad("17-Jul-1996 02:44:25 +0060");
	date_bad("17-Jul-1996 02:44:25 0700 ");
	date_bad("17-Jul-1996 02:44:25 *0700");
	date_bad("29-Feb-2023 00:00:00 +0000");
	date_bad("29-Feb-1900 00:00:00 +0000");
	date_bad("31-Apr-2024 00:00:00 +0000");
	date_bad("00-Jan-2024 00:00:00 +0000");
	date_bad("32-Jan-2024 00:00:00 +0000");
	date_bad("01-Jan-1899 00:00:00 +0000");
	date_bad("1a-Jan-2024 00:00:00 +0000");
	date_bad("01-Jan-2024 0a:00:00 +0000");
	date_bad(" a-Jan-2024 00:00:00 +0000");
	date_bad("01-Jan-2024 00:00:00 +00\x1b[");
}

/* --- LIST --- */

static void test_list_decode(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_list_entry e;
	assert_int_equal(imap_list_decode(P("* LIST (\\HasNoChildren \\Sent "
					    "\\X-Other) \"/\" \"Sent Items\"\r\n"),
					  &e, &err),
			 YB_OK);
	assert_int_equal(e.attrs, IMAP_MBOX_HASNOCHILDREN | IMAP_MBOX_SENT);
	assert_int_equal(e.delimiter, '/');
	assert_int_equal(e.name_len, 10);
	assert_memory_equal(e.name, "Sent Items", 10);
	assert_int_equal(imap_list_decode(P("* LIST (\\Noselect \\HasChildren) "
					    "\".\" Archive\r\n"),
					  &e, &err),
			 YB_OK);
	assert_int_equal(e.attrs, IMAP_MBOX_NOSELECT | IMAP_MBOX_HASCHILDREN);
	assert_int_equal(e.delimiter, '.');
	assert_memory_equal(e.name, "Archive", 7);
}

static void test_list_variants(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_list_entry e;
	assert_int_equal(imap_list_decode(P("* LSUB () NIL {6}\r\nfolder\r\n"), &e,
					  &err),
			 YB_OK);
	assert_int_equal(e.delimiter, '\0');
	assert_memory_equal(e.name, "folder", 6);
	assert_int_equal(imap_list_decode(P("* LIST (\\NonExistent) \"\\\\\" 2024 "
					    "(\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"),
					  &e, &err),
			 YB_OK);
	assert_int_equal(e.attrs, IMAP_MBOX_NONEXISTENT);
	assert_int_equal(e.delimiter, '\\');
	assert_memory_equal(e.name, "2024", 4);
	assert_int_equal(imap_list_decode(P("* LIST () \"/\" NIL\r\n"), &e, &err),
			 YB_OK);
	assert_memory_equal(e.name, "NIL", 3);
	assert_int_equal(imap_list_decode(P("* LIST (\\Noselect) \"/\" \"\"\r\n"),
					  &e, &err),
			 YB_OK);
	assert_int_equal(e.name_len, 0);
}

static void test_list_errors(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_list_entry e;
	assert_protocol_error(imap_list_decode(P("* LIST () \"//\" INBOX\r\n"), &e,
					       &err),
			      &err, "delimiter \"//\" is not one printable");
	assert_protocol_error(imap_list_decode(P("* LIST () \"\x01\" INBOX\r\n"), &e,
					       &err),
			      &err, "delimiter \"\\x01\"");
	assert_protocol_error(imap_list_decode(P("* LIST () / INBOX\r\n"), &e, &err),
			      &err, "delimiter / is not");
	assert_protocol_error(imap_list_decode(P("* LIST \\Noselect \"/\" x\r\n"),
					       &e, &err),
			      &err, "attributes are not a parenthesized list");
	assert_protocol_error(imap_list_decode(P("* LIST (\"x\") \"/\" x\r\n"), &e,
					       &err),
			      &err, "LIST attribute \"x\" is not an atom");
	assert_protocol_error(imap_list_decode(P("* LIST () \"/\" (x)\r\n"), &e,
					       &err),
			      &err, "LIST mailbox name is a list, not a string");
	assert_protocol_error(imap_list_decode(P("* LIST () \"/\" {3}\r\na\0b\r\n"),
					       &e, &err),
			      &err, "LIST mailbox name holds a NUL byte");
	assert_protocol_error(imap_list_decode(P("* LIST () \"/\"\r\n"), &e, &err),
			      &err, "LIST response has 2 parts");
	assert_protocol_error(imap_list_decode(P("* LIST () \"/\" a b\r\n"), &e,
					       &err),
			      &err, "LIST response has 4 parts");
	assert_protocol_error(imap_list_decode(P("* STATUS x (MESSAGES 1)\r\n"), &e,
					       &err),
			      &err, "not a \"* LIST\"");
}

static void test_mailbox_is_inbox(void **state)
{
	(void)state;
	assert_true(imap_mailbox_is_inbox(S("INBOX")));
	assert_true(imap_mailbox_is_inbox(S("inBox")));
	assert_false(imap_mailbox_is_inbox(S("INBOX/x")));
	assert_false(imap_mailbox_is_inbox(S("INBO")));
	assert_false(imap_mailbox_is_inbox(S("")));
}

/* Does name match pattern under delimiter?  Asserts no error. */
static bool list_matches(const char *pattern, const char *name, char delimiter)
{
	struct yb_error err;
	yb_error_clear(&err);
	bool matches = true;
	assert_int_equal(imap_list_match(pattern, strlen(pattern), name, strlen(name),
					 delimiter, &matches, &err), YB_OK);
	return matches;
}

static void test_list_match_literal_and_inbox(void **state)
{
	(void)state;
	assert_true(list_matches("INBOX", "INBOX", '/'));
	assert_true(list_matches("INBOX", "Inbox", '/'));
	assert_true(list_matches("inbox", "INBOX", '/'));
	assert_true(list_matches("inbox", "inBOX", '\0'));
	/* What a server added to the reply to a one-name LIST. */
	assert_false(list_matches("INBOX", "Spam", '/'));
	assert_false(list_matches("INBOX", "..", '/'));
	assert_false(list_matches("INBOX", "INBOX/..", '/'));
	assert_false(list_matches("INBOX", "INBOXX", '/'));
	assert_false(list_matches("INBOX", "", '/'));
	/* Only INBOX is case-insensitive: other names are exact. */
	assert_true(list_matches("Archive", "Archive", '/'));
	assert_false(list_matches("Archive", "archive", '/'));
	/* INBOX as the first level, under a Courier-style namespace. */
	assert_true(list_matches("INBOX.Archive", "inbox.Archive", '.'));
	assert_false(list_matches("INBOX.Archive", "inbox.archive", '.'));
	assert_false(list_matches("INBOXArchive", "inboxArchive", '.'));
}

static void test_list_match_wildcards(void **state)
{
	(void)state;
	assert_true(list_matches("*", "INBOX", '/'));
	assert_true(list_matches("*", "a/b/c", '/'));
	assert_true(list_matches("*", "", '/'));
	assert_true(list_matches("Archive/*", "Archive/2024", '/'));
	assert_true(list_matches("Archive/*", "Archive/2024/01", '/'));
	assert_true(list_matches("Archive/*", "Archive/", '/'));
	assert_false(list_matches("Archive/*", "Archive", '/'));
	assert_false(list_matches("Archive/*", "Spam", '/'));
	assert_false(list_matches("Archive/*", "Archived/x", '/'));
	/* "%" stops at the delimiter. */
	assert_true(list_matches("Archive/%", "Archive/2024", '/'));
	assert_false(list_matches("Archive/%", "Archive/2024/01", '/'));
	assert_true(list_matches("%", "Spam", '/'));
	assert_false(list_matches("%", "a/b", '/'));
	assert_true(list_matches("%", "a/b", '\0'));   /* flat: no delimiter */
	assert_true(list_matches("%/%", "a/b", '/'));
	assert_true(list_matches("INBOX.%", "INBOX.Sent", '.'));
	assert_false(list_matches("INBOX.%", "INBOX.Sent.2024", '.'));
	assert_true(list_matches("inbox*", "INBOX", '/'));
	assert_true(list_matches("a*b%c", "a/x/bq/c", '/') == false);
	assert_true(list_matches("a*b%c", "a/x/bqc", '/'));
	assert_true(list_matches("**%%", "anything/at/all", '/'));
}

/* Many wildcards against a long name that does not match: no blow-up. */
static void test_list_match_cost_bounded(void **state)
{
	(void)state;
	static char name[20001];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_false(list_matches("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", name, '/'));
	assert_false(list_matches("%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b", name, '/'));
	assert_true(list_matches("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", name, '/'));
}

/* --- NAMESPACE --- */

static void test_namespace_dovecot_and_courier(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_namespaces ns;
	assert_int_equal(imap_namespace_decode(P("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"),
					       &ns, &err),
			 YB_OK);
	assert_int_equal(ns.personal_count, 1);
	assert_int_equal(ns.personal[0].prefix_len, 0);
	assert_int_equal(ns.personal[0].delimiter, '/');
	assert_int_equal(ns.other_count, 0);
	assert_int_equal(ns.shared_count, 0);
	assert_int_equal(imap_namespace_decode(
				 P("* NAMESPACE ((\"INBOX.\" \".\")) NIL "
				   "((\"#shared.\" \".\")(\"shared.\" \".\" "
				   "\"X-EXT\" (\"a\")))\r\n"),
				 &ns, &err),
			 YB_OK);
	assert_int_equal(ns.personal_count, 1);
	assert_memory_equal(ns.personal[0].prefix, "INBOX.", 6);
	assert_int_equal(ns.personal[0].delimiter, '.');
	assert_int_equal(ns.shared_count, 2);
	assert_memory_equal(ns.shared[1].prefix, "shared.", 7);
	assert_int_equal(ns.ignored_count, 0);
}

static void test_namespace_many_and_nil_delimiter(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_namespaces ns;
	assert_int_equal(imap_namespace_decode(
				 P("* NAMESPACE ((\"a\" NIL)(\"b\" NIL)(\"c\" NIL)"
				   "(\"d\" NIL)(\"e\" NIL)(\"f\" NIL)(\"g\" NIL)"
				   "(\"h\" NIL)(\"i\" NIL)(\"j\" NIL)) NIL NIL\r\n"),
				 &ns, &err),
			 YB_OK);
	assert_int_equal(ns.personal_count, IMAP_NAMESPACE_MAX);
	assert_int_equal(ns.ignored_count, 2);
	assert_int_equal(ns.personal[7].delimiter, '\0');
	assert_memory_equal(ns.personal[7].prefix, "h", 1);
}

static void test_namespace_errors(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_namespaces ns;
	assert_protocol_error(imap_namespace_decode(P("* NAMESPACE NIL NIL\r\n"),
						    &ns, &err),
			      &err, "has 2 parts, not 3");
	assert_protocol_error(imap_namespace_decode(P("* NAMESPACE () NIL NIL\r\n"),
						    &ns, &err),
			      &err, "neither NIL nor a list");
	assert_protocol_error(imap_namespace_decode(P("* NAMESPACE ((\"\")) NIL "
						      "NIL\r\n"),
						    &ns, &err),
			      &err, "not a list of prefix and delimiter");
	assert_protocol_error(imap_namespace_decode(P("* NAMESPACE ((\"\" \"ab\")) "
						      "NIL NIL\r\n"),
						    &ns, &err),
			      &err, "NAMESPACE hierarchy delimiter \"ab\"");
	assert_protocol_error(imap_namespace_decode(P("* NAMESPACE x NIL NIL\r\n"),
						    &ns, &err),
			      &err, "neither NIL nor a list");
	assert_protocol_error(imap_namespace_decode(P("* LIST () NIL x\r\n"), &ns,
						    &err),
			      &err, "not a \"* NAMESPACE\"");
}

/* --- VANISHED --- */

static void test_vanished(void **state)
{
	(void)state;
	struct yb_error err;
	bool earlier = false;
	const char *set;
	size_t len;
	assert_int_equal(imap_vanished_decode(P("* VANISHED (EARLIER) 41,43:116\r\n"),
					      &earlier, &set, &len, &err),
			 YB_OK);
	assert_true(earlier);
	assert_int_equal(len, 9);
	assert_memory_equal(set, "41,43:116", 9);
	assert_int_equal(imap_vanished_decode(P("* VANISHED 405\r\n"), &earlier,
					      &set, &len, &err),
			 YB_OK);
	assert_false(earlier);
	assert_memory_equal(set, "405", 3);
	assert_protocol_error(imap_vanished_decode(P("* VANISHED (LATER) 1\r\n"),
						   &earlier, &set, &len, &err),
			      &err, "not [(EARLIER)] and a UID set");
	assert_protocol_error(imap_vanished_decode(P("* VANISHED (EARLIER)\r\n"),
						   &earlier, &set, &len, &err),
			      &err, "not [(EARLIER)] and a UID set");
	assert_protocol_error(imap_vanished_decode(P("* VANISHED \"1\"\r\n"),
						   &earlier, &set, &len, &err),
			      &err, "UID set");
	assert_protocol_error(imap_vanished_decode(P("* EXPUNGE 1\r\n"), &earlier,
						   &set, &len, &err),
			      &err, "not a \"* VANISHED\"");
}

/* --- sequence sets --- */

static void test_seqset_parse(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_range *r;
	size_t n;
	assert_int_equal(imap_seqset_parse(S("1:5,7,12:9"), 0, 100, &r, &n, &err),
			 YB_OK);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].first, 1);
	assert_int_equal(r[0].last, 5);
	assert_int_equal(r[1].first, 7);
	assert_int_equal(r[1].last, 7);
	assert_int_equal(r[2].first, 9);
	assert_int_equal(r[2].last, 12);
	free(r);
	assert_int_equal(imap_seqset_parse(S("4:*,*"), 50, 100, &r, &n, &err), YB_OK);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].first, 4);
	assert_int_equal(r[0].last, 50);
	assert_int_equal(r[1].first, 50);
	free(r);
	assert_int_equal(imap_seqset_parse(S("*:3"), 2, 100, &r, &n, &err), YB_OK);
	assert_int_equal(r[0].first, 2);
	assert_int_equal(r[0].last, 3);
	free(r);
	assert_int_equal(imap_seqset_parse(S("4294967295"), 0, 1, &r, &n, &err),
			 YB_OK);
	assert_int_equal(r[0].first, 4294967295u);
	free(r);
}

static void test_seqset_parse_errors(void **state)
{
	(void)state;
	static const char *bad[] = { "",  "0",   "01",  "1,",  ",1", "1::2",
				     "1:", "1:0", "4294967296", "*", "1 2",
				     "a", "1,,2", "1:2:3", "-1", "1:99999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct yb_error err;
		struct imap_range *r = (struct imap_range *)&err;
		size_t n = 7;
		yb_error_clear(&err);
		if (imap_seqset_parse(bad[i], strlen(bad[i]), 0, 100, &r, &n, &err) !=
		    YB_ERR_PROTOCOL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_null(r);
		assert_int_equal(n, 0);
		assert_non_null(strstr(err.msg, "bad sequence set"));
	}
}

static void test_seqset_parse_range_cap(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_range *r;
	size_t n;
	assert_int_equal(imap_seqset_parse(S("1,3,5"), 0, 3, &r, &n, &err), YB_OK);
	assert_int_equal(n, 3);
	free(r);
	assert_protocol_error(imap_seqset_parse(S("1,3,5,7"), 0, 3, &r, &n, &err),
			      &err, "more than 3 ranges");
	assert_null(r);
	/* many ranges grow the array */
	char big[8000];
	size_t len = 0;
	for (unsigned i = 1; i <= 1000; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len, "%s%u",
					i > 1 ? "," : "", i * 2);
	assert_int_equal(imap_seqset_parse(big, len, 0, 100000, &r, &n, &err), YB_OK);
	assert_int_equal(n, 1000);
	assert_int_equal(r[999].first, 2000);
	free(r);
}

static void test_seqset_build_compact(void **state)
{
	(void)state;
	struct yb_error err;
	char out[64];
	size_t consumed, len;
	const uint32_t uids[] = { 1, 2, 3, 4, 5, 7, 9, 10, 11, 12 };
	assert_int_equal(imap_seqset_build(uids, 10, out, sizeof(out), &consumed,
					   &len, &err),
			 YB_OK);
	assert_string_equal(out, "1:5,7,9:12");
	assert_int_equal(len, 10);
	assert_int_equal(consumed, 10);
	const uint32_t single[] = { 42 };
	assert_int_equal(imap_seqset_build(single, 1, out, sizeof(out), &consumed,
					   &len, &err),
			 YB_OK);
	assert_string_equal(out, "42");
	const uint32_t repeats[] = { 3, 3, 4, 4, 8, 8 };
	assert_int_equal(imap_seqset_build(repeats, 6, out, sizeof(out), &consumed,
					   &len, &err),
			 YB_OK);
	assert_string_equal(out, "3:4,8");
	assert_int_equal(consumed, 6);
	const uint32_t top[] = { 4294967294u, 4294967295u };
	assert_int_equal(imap_seqset_build(top, 2, out, IMAP_SEQSET_MIN_SIZE,
					   &consumed, &len, &err),
			 YB_OK);
	assert_string_equal(out, "4294967294:4294967295");
	assert_int_equal(consumed, 2);
	assert_int_equal(imap_seqset_build(uids, 0, out, sizeof(out), &consumed,
					   &len, &err),
			 YB_OK);
	assert_int_equal(consumed, 0);
	assert_string_equal(out, "");
}

static void test_seqset_build_splits(void **state)
{
	(void)state;
	struct yb_error err;
	char out[IMAP_SEQSET_MIN_SIZE + 8];
	size_t consumed, len;
	/* 1,3,5,...: each element its own; the buffer takes a few */
	uint32_t uids[200];
	for (size_t i = 0; i < 200; i++)
		uids[i] = (uint32_t)(i * 2 + 1);
	assert_int_equal(imap_seqset_build(uids, 200, out, sizeof(out), &consumed,
					   &len, &err),
			 YB_OK);
	assert_string_equal(out, "1,3,5,7,9,11,13,15,17,19,21");
	assert_int_equal(consumed, 11);
	assert_true(len < sizeof(out));
	/* all chunks together cover every UID exactly once */
	size_t done = 0, total = 0;
	while (done < 200) {
		assert_int_equal(imap_seqset_build(uids + done, 200 - done, out,
						   sizeof(out), &consumed, &len,
						   &err),
				 YB_OK);
		assert_true(consumed >= 1);
		struct imap_range *r;
		size_t n;
		assert_int_equal(imap_seqset_parse(out, len, 0, 1000, &r, &n, &err),
				 YB_OK);
		for (size_t k = 0; k < n; k++)
			for (uint64_t u = r[k].first; u <= r[k].last; u++) {
				assert_int_equal(u, uids[total]);
				total++;
			}
		free(r);
		done += consumed;
		assert_int_equal(total, done);
	}
}

static void test_seqset_build_errors(void **state)
{
	(void)state;
	struct yb_error err;
	char out[64];
	size_t consumed, len;
	const uint32_t down[] = { 5, 4 };
	assert_int_equal(imap_seqset_build(down, 2, out, sizeof(out), &consumed, &len,
					   &err),
			 YB_ERR_INTERNAL);
	const uint32_t down_later[] = { 1, 2, 9, 3 };
	assert_int_equal(imap_seqset_build(down_later, 4, out, sizeof(out), &consumed,
					   &len, &err),
			 YB_ERR_INTERNAL);
	const uint32_t zero[] = { 0, 1 };
	assert_int_equal(imap_seqset_build(zero, 2, out, sizeof(out), &consumed, &len,
					   &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(imap_seqset_build(down, 2, out, IMAP_SEQSET_MIN_SIZE - 1,
					   &consumed, &len, &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "too small"));
}

static void test_seqset_round_trip_random(void **state)
{
	(void)state;
	struct yb_error err;
	srand(7);
	for (int round = 0; round < 200; round++) {
		uint32_t uids[300];
		size_t n = (size_t)(rand() % 300) + 1;
		uint32_t u = (uint32_t)(rand() % 5) + 1;
		for (size_t i = 0; i < n; i++) {
			uids[i] = u;
			u += (uint32_t)(rand() % 3 == 0 ? rand() % 100 + 1 : 1);
		}
		size_t out_size = IMAP_SEQSET_MIN_SIZE + (size_t)(rand() % 200);
		char *out = malloc(out_size);
		size_t done = 0, check = 0;
		while (done < n) {
			size_t consumed, len;
			assert_int_equal(imap_seqset_build(uids + done, n - done, out,
							   out_size, &consumed, &len,
							   &err),
					 YB_OK);
			assert_int_equal(strlen(out), len);
			assert_true(len < out_size);
			struct imap_range *r;
			size_t count;
			assert_int_equal(imap_seqset_parse(out, len, 0, 1000, &r,
							   &count, &err),
					 YB_OK);
			for (size_t k = 0; k < count; k++) {
				if (k)
					assert_true(r[k].first > r[k - 1].last + 1);
				for (uint64_t v = r[k].first; v <= r[k].last; v++)
					assert_int_equal(v, uids[check++]);
			}
			free(r);
			done += consumed;
			assert_int_equal(check, done);
		}
		free(out);
	}
}

/* --- sequence numbers under EXPUNGE --- */

/* The obvious model: each entry's number, 0 once gone, every expunge a
   pass over all of them. */
struct seq_model {
	uint32_t seq[400];
	size_t count;
};

static size_t model_expunge(struct seq_model *model, uint32_t seq)
{
	size_t gone = model->count;
	for (size_t i = 0; i < model->count; i++) {
		if (model->seq[i] == seq) {
			model->seq[i] = 0;
			gone = i;
		} else if (model->seq[i] > seq) {
			model->seq[i]--;
		}
	}
	return gone;
}

static void assert_same_numbers(struct imap_seqmap *map,
				const struct seq_model *model)
{
	assert_int_equal(map->count, model->count);
	for (size_t i = 0; i < model->count; i++) {
		if (model->seq[i] == 0) {
			assert_int_not_equal(imap_seqmap_next_live(map, i), i);
			continue;
		}
		assert_int_equal(imap_seqmap_next_live(map, i), i);
		assert_int_equal(imap_seqmap_seq(map, i), model->seq[i]);
		assert_int_equal(imap_seqmap_find(map, model->seq[i]), i);
	}
}

static void test_seqmap_expunge_shifts(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_seqmap map;
	imap_seqmap_init(&map);
	/* Messages 3, 4, 7 and 8 of a mailbox are listed. */
	uint32_t listed[] = { 3, 4, 7, 8 };
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(imap_seqmap_append(&map, listed[i], &err), YB_OK);
	assert_int_equal(imap_seqmap_find(&map, 5), 4);  /* not listed */
	assert_int_equal(imap_seqmap_expunge(&map, 1), 4); /* before all */
	assert_int_equal(imap_seqmap_seq(&map, 0), 2);
	assert_int_equal(imap_seqmap_seq(&map, 3), 7);
	assert_int_equal(imap_seqmap_expunge(&map, 3), 1); /* the second */
	assert_int_equal(imap_seqmap_next_live(&map, 1), 2);
	assert_int_equal(imap_seqmap_seq(&map, 2), 5);
	assert_int_equal(imap_seqmap_expunge(&map, 4), 4); /* the gap */
	assert_int_equal(imap_seqmap_seq(&map, 2), 4);
	assert_int_equal(imap_seqmap_find(&map, 4), 2);
	assert_int_equal(imap_seqmap_expunge(&map, 9), 4); /* past all */
	assert_int_equal(imap_seqmap_expunge(&map, 0), 4);
	assert_int_equal(imap_seqmap_expunge(&map, 1ull << 32), 4);
	assert_int_equal(imap_seqmap_seq(&map, 3), 5);
	/* A message appended later comes numbered as things are now. */
	assert_int_equal(imap_seqmap_append(&map, 5, &err), YB_ERR_PROTOCOL);
	assert_int_equal(imap_seqmap_append(&map, 7, &err), YB_OK);
	assert_int_equal(imap_seqmap_find(&map, 7), 4);
	imap_seqmap_remove(&map, 3);
	assert_int_equal(imap_seqmap_find(&map, 6), 4);
	assert_int_equal(imap_seqmap_next_live(&map, 3), 4);
	imap_seqmap_free(&map);
}

static void test_seqmap_drop_front(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_seqmap map;
	imap_seqmap_init(&map);
	for (uint32_t seq = 10; seq < 20; seq++)
		assert_int_equal(imap_seqmap_append(&map, seq, &err), YB_OK);
	assert_int_equal(imap_seqmap_expunge(&map, 12), 2);
	assert_int_equal(imap_seqmap_expunge(&map, 12), 3); /* was 13 */
	assert_int_equal(imap_seqmap_drop_front(&map, 2, &err), YB_OK);
	assert_int_equal(map.count, 8);
	assert_int_not_equal(imap_seqmap_next_live(&map, 0), 0);
	assert_int_equal(imap_seqmap_next_live(&map, 0), 2);
	assert_int_equal(imap_seqmap_seq(&map, 2), 12);
	assert_int_equal(imap_seqmap_seq(&map, 7), 17);
	/* The dropped messages are still in the mailbox: expunging one
	   moves what is kept. */
	assert_int_equal(imap_seqmap_expunge(&map, 10), 8);
	assert_int_equal(imap_seqmap_find(&map, 11), 2);
	assert_int_equal(imap_seqmap_expunge(&map, 11), 2);
	assert_int_equal(imap_seqmap_find(&map, 11), 3);
	imap_seqmap_free(&map);
}

/* Random listings with gaps, expunges by number and removals by index,
   appends in between: the map agrees with the model at every step. */
static void test_seqmap_random_against_model(void **state)
{
	(void)state;
	struct yb_error err;
	srand(11);
	for (int round = 0; round < 300; round++) {
		struct imap_seqmap map;
		struct seq_model model = { .count = 0 };
		imap_seqmap_init(&map);
		uint32_t top = 0; /* the mailbox's highest number */
		for (int op = 0; op < 400; op++) {
			int what = rand() % 4;
			if (what == 0 && model.count < 400) {
				top += (uint32_t)(rand() % 3) + 1;
				assert_int_equal(imap_seqmap_append(&map, top, &err), YB_OK);
				model.seq[model.count++] = top;
			} else if (what == 1 && top > 0) {
				uint32_t seq = (uint32_t)(rand() % (top + 2));
				size_t want = seq ? model_expunge(&model, seq) : model.count;
				assert_int_equal(imap_seqmap_expunge(&map, seq), want);
				if (seq >= 1 && seq <= top)
					top--;
			} else if (what == 2 && model.count > 0) {
				size_t i = (size_t)rand() % model.count;
				if (model.seq[i]) {
					model_expunge(&model, model.seq[i]);
					top--;
				}
				imap_seqmap_remove(&map, i);
			} else if (what == 3 && rand() % 20 == 0 && model.count > 0) {
				size_t first = (size_t)rand() % (model.count + 1);
				assert_int_equal(imap_seqmap_drop_front(&map, first, &err), YB_OK);
				memmove(model.seq, model.seq + first,
					(model.count - first) * sizeof(model.seq[0]));
				model.count -= first;
			}
			assert_same_numbers(&map, &model);
		}
		imap_seqmap_free(&map);
	}
}

/* 4294967295 and a huge first step fit; a listing can end anywhere. */
static void test_seqmap_extremes(void **state)
{
	(void)state;
	struct yb_error err;
	struct imap_seqmap map;
	imap_seqmap_init(&map);
	assert_int_equal(imap_seqmap_append(&map, 0, &err), YB_ERR_PROTOCOL);
	assert_int_equal(imap_seqmap_append(&map, UINT32_MAX - 1, &err), YB_OK);
	assert_int_equal(imap_seqmap_append(&map, UINT32_MAX, &err), YB_OK);
	assert_int_equal(imap_seqmap_append(&map, UINT32_MAX, &err), YB_ERR_PROTOCOL);
	assert_int_equal(imap_seqmap_find(&map, UINT32_MAX), 1);
	assert_int_equal(imap_seqmap_expunge(&map, 1), 2);
	assert_int_equal(imap_seqmap_find(&map, UINT32_MAX - 1), 1);
	assert_int_equal(imap_seqmap_expunge(&map, UINT32_MAX - 2), 0);
	assert_int_equal(imap_seqmap_expunge(&map, UINT32_MAX - 2), 1);
	assert_int_equal(imap_seqmap_next_live(&map, 0), 2);
	assert_int_equal(imap_seqmap_append(&map, 5, &err), YB_OK);
	assert_int_equal(imap_seqmap_find(&map, 5), 2);
	imap_seqmap_free(&map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capa_from_capability_response),
		cmocka_unit_test(test_capa_from_greeting_code),
		cmocka_unit_test(test_capa_errors),
		cmocka_unit_test(test_code_modified),
		cmocka_unit_test(test_code_uidvalidity_range),
		cmocka_unit_test(test_code_uidnext_unseen),
		cmocka_unit_test(test_code_highestmodseq_range),
		cmocka_unit_test(test_code_names_without_args),
		cmocka_unit_test(test_code_permanentflags),
		cmocka_unit_test(test_flags_decode),
		cmocka_unit_test(test_flags_star_outside_permanentflags),
		cmocka_unit_test(test_flags_errors),
		cmocka_unit_test(test_maildir_letters),
		cmocka_unit_test(test_fetch_full),
		cmocka_unit_test(test_fetch_flags_only),
		cmocka_unit_test(test_fetch_header_fields_buffered),
		cmocka_unit_test(test_fetch_body_origin_nil_and_rfc822),
		cmocka_unit_test(test_fetch_unknown_items_skipped),
		cmocka_unit_test(test_fetch_duplicates),
		cmocka_unit_test(test_fetch_wrong_types),
		cmocka_unit_test(test_fetch_number_ranges),
		cmocka_unit_test(test_fetch_shape_errors),
		cmocka_unit_test(test_section_split),
		cmocka_unit_test(test_internaldate_values),
		cmocka_unit_test(test_internaldate_strict),
		cmocka_unit_test(test_list_decode),
		cmocka_unit_test(test_list_variants),
		cmocka_unit_test(test_list_errors),
		cmocka_unit_test(test_list_match_literal_and_inbox),
		cmocka_unit_test(test_list_match_wildcards),
		cmocka_unit_test(test_list_match_cost_bounded),
		cmocka_unit_test(test_mailbox_is_inbox),
		cmocka_unit_test(test_namespace_dovecot_and_courier),
		cmocka_unit_test(test_namespace_many_and_nil_delimiter),
		cmocka_unit_test(test_namespace_errors),
		cmocka_unit_test(test_vanished),
		cmocka_unit_test(test_seqset_parse),
		cmocka_unit_test(test_seqset_parse_errors),
		cmocka_unit_test(test_seqset_parse_range_cap),
		cmocka_unit_test(test_seqset_build_compact),
		cmocka_unit_test(test_seqset_build_splits),
		cmocka_unit_test(test_seqset_build_errors),
		cmocka_unit_test(test_seqset_round_trip_random),
		cmocka_unit_test(test_seqmap_expunge_shifts),
		cmocka_unit_test(test_seqmap_drop_front),
		cmocka_unit_test(test_seqmap_random_against_model),
		cmocka_unit_test(test_seqmap_extremes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
