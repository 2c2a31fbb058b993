/*
 * imap_parse.h - an IMAP response parser that does no I/O.
 *
 * Bytes go in; out comes "need more", "one whole response is ready",
 * "a literal is to be streamed by the caller", or "error".  The parser
 * never reads a socket, never blocks and never buffers a streamed literal:
 * a message body goes from the connection to the sink without passing
 * through here.  Everything it keeps in memory is bounded by the limits
 * chosen when it is created, and every limit is checked before the memory
 * is allocated.  The result does not depend on how the input is split
 * into feeds (down to one byte at a time).
 *
 * What a response looks like after parsing:
 *
 *   A1 OK [UIDVALIDITY 3857529045] done     kind TAGGED, tag "A1",
 *                                           status OK, name "OK",
 *                                           code "UIDVALIDITY" with args
 *                                           (NUMBER 3857529045), text "done"
 *   * OK [ALERT] hello                      kind UNTAGGED, status OK, ...
 *   * 23 EXISTS                             kind UNTAGGED, number 23,
 *                                           name "EXISTS", no values
 *   * 12 FETCH (UID 5 BODY[] {42}...)       number 12, name "FETCH",
 *                                           values: one LIST
 *   * CAPABILITY IMAP4rev1 IDLE             name "CAPABILITY", values:
 *                                           ATOM IMAP4rev1, ATOM IDLE
 *   + go ahead                              kind CONTINUATION, text
 *                                           "go ahead"
 *
 * Status responses (tagged, and untagged OK/NO/BAD/BYE/PREAUTH) carry no
 * values: their resp-text is kept as an optional [CODE args] part and the
 * raw human text.  Every other untagged response is parsed generically as
 * a sequence of values after its name; interpreting them is imap_resp.h's
 * job.  A continuation's text is kept raw and is not searched for a code.
 *
 * Value syntax accepted:
 *   atom      bytes 0x21..0xff except ( ) { " and DEL; a "[" inside an atom
 *             opens a section that runs to the next "]" and may hold
 *             spaces and parentheses, so "BODY[HEADER.FIELDS (MESSAGE-ID)]"
 *             and "BODY[]<0>" are single atoms (their text as sent).
 *             A literal inside a section is not supported (an error).
 *   number    an atom of ASCII digits whose value fits uint64_t; an
 *             all-digit atom too large for that stays an ATOM (it may be a
 *             mailbox name), so range checks belong to the interpreter.
 *   NIL       the atom NIL, any case.
 *   quoted    "..." with \" and \\ as the only escapes; any other
 *             backslash, a NUL, CR or LF inside is an error.  8-bit bytes
 *             are kept (UTF8=ACCEPT servers send UTF-8 there).
 *   literal   {N} or {N+} then CRLF then exactly N bytes, binary-safe.
 *   list      ( values separated by spaces ), nested up to max_depth.
 *   streamed  a literal the caller chose to stream: only its size is kept.
 *
 * Line ends: IMAP requires CRLF.  A bare LF is accepted where a line may
 * end (after a response, after a literal's {N}), because the connection
 * layer's line reader accepts it too and nothing can hide behind it; a
 * CR not followed by LF is an error.  Extra spaces between values, after
 * "(" and before ")" or the line end are tolerated.  A NUL byte anywhere
 * outside a literal is an error.
 *
 * Errors: a parse error means the server broke the protocol (or attacked
 * us); the parser then refuses further input until imap_parser_reset(),
 * and the connection should be dropped.  imap_parser_error() gives a
 * struct yb_error with YB_ERR_PROTOCOL (hostile or broken input) or
 * YB_ERR_INTERNAL (out of memory, or the API used out of order); its
 * message says what was wrong but not where the bytes came from, so the
 * caller adds the host: yb_fail(err, e->status, "%s: %s", host, e->msg).
 *
 * Ownership: the parser owns everything it returns.  A response, and
 * every string and value reachable from it, stays valid until the next
 * imap_parser_feed(), imap_parser_reset() or imap_parser_free() on the
 * same parser; copy what must live longer.  A parser is not thread-safe;
 * one parser per connection.
 */
#ifndef YUBIN_IMAP_PARSE_H
#define YUBIN_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Longest tag accepted (our own tags are short; a server echoes them). */
#define IMAP_TAG_MAX 128
/* Longest response name, status word or resp-text-code name. */
#define IMAP_NAME_MAX 64

/*
 * Hard limits, fixed at creation.  imap_parser_limits_default() fills the
 * defaults shown; a caller may lower or raise any of them.
 */
struct imap_parser_limits {
	/* Bytes of one response outside literal data, all of its lines
	   together (a response continues across literals): 4 MiB.  Long
	   lines do occur: VANISHED (EARLIER) sets, big FLAGS lists. */
	size_t max_line_len;
	/* One atom, a [section] included; also a resp-text-code's argument
	   text: 1 MiB (a sequence set can be long). */
	size_t max_atom_len;
	/* One quoted string: 64 KiB. */
	size_t max_quoted_len;
	/* One literal kept in memory (not streamed): 1 MiB. */
	size_t max_literal_len;
	/* All literals kept in memory for one response together: 16 MiB. */
	size_t max_literal_total;
	/* One streamed literal (a message body): 2^40 bytes. */
	uint64_t max_stream_len;
	/* Nesting of parenthesized lists: 16. */
	unsigned max_depth;
	/* Direct items of one list, or values at the top of a response:
	   100,000. */
	size_t max_list_items;
	/* Values (lists and streamed literals included) in one response:
	   200,000. */
	size_t max_values;
};

void imap_parser_limits_default(struct imap_parser_limits *limits);

enum imap_value_type {
	IMAP_VALUE_ATOM,
	IMAP_VALUE_NUMBER,
	IMAP_VALUE_NIL,
	IMAP_VALUE_QUOTED,
	IMAP_VALUE_LITERAL,
	IMAP_VALUE_LIST,
	IMAP_VALUE_STREAMED,
};

/*
 * One parsed value.  Which fields mean something depends on type:
 *
 *   ATOM, NUMBER, NIL   str/len: the atom as sent (so a NUMBER or NIL can
 *                       still be read as an astring, e.g. a mailbox named
 *                       "2024" or "NIL"); NUMBER also has number.
 *   QUOTED              str/len: the content, unescaped.
 *   LITERAL             str/len: the content; may hold NUL bytes.
 *   LIST                items[0..count); items is NULL when count is 0.
 *   STREAMED            number: the literal's size; str is NULL.
 *
 * str is always NUL-terminated after len bytes (for convenience with
 * text of known-clean content; len is what counts).  All bytes are raw
 * server data: sanitize (text_sanitize) before printing.
 */
struct imap_value {
	enum imap_value_type type;
	const char *str;
	size_t len;
	uint64_t number;
	const struct imap_value *items;
	size_t count;
};

enum imap_response_kind {
	IMAP_RESP_TAGGED,
	IMAP_RESP_UNTAGGED,
	IMAP_RESP_CONTINUATION,
};

enum imap_status {
	IMAP_STATUS_NONE, /* a data response, a continuation */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_BYE,     /* untagged only */
	IMAP_STATUS_PREAUTH, /* untagged only */
};

/*
 * One response.  Strings point into the parser (see Ownership above) and
 * are NUL-terminated after their length.
 */
struct imap_response {
	enum imap_response_kind kind;

	/* TAGGED: the tag; otherwise NULL and 0. */
	const char *tag;
	size_t tag_len;

	/* Tagged responses always have OK/NO/BAD; untagged ones have a
	   status when their first word is OK/NO/BAD/BYE/PREAUTH. */
	enum imap_status status;

	/* "* 23 EXISTS": has_number and number 23.  The number is only
	   known to fit uint64_t; imap_resp.h range-checks it. */
	bool has_number;
	uint64_t number;

	/* The response's word as sent: "OK", "EXISTS", "FETCH", "LIST",
	   "CAPABILITY"...; NULL for a continuation.  Compare it without
	   regard to case (imap_response_is). */
	const char *name;
	size_t name_len;

	/* Values after the name (data responses only). */
	const struct imap_value *values;
	size_t value_count;

	/* Status responses: the optional "[CODE args]" at the start of the
	   text.  code is the code's name as sent; code_text the raw bytes
	   between the name's space and "]" ("" when there are none).
	   code_args holds those bytes tokenized as values when that worked
	   (code_args_valid); an unknown code with free text that is not
	   valid value syntax leaves code_args_valid false rather than
	   failing the response.  The first "]" ends the code. */
	bool has_code;
	const char *code;
	size_t code_len;
	const char *code_text;
	size_t code_text_len;
	bool code_args_valid;
	const struct imap_value *code_args;
	size_t code_arg_count;

	/* Status responses: the human text after the code; continuations:
	   everything after "+ ".  Raw bytes, possibly empty, never NULL
	   for those kinds; no CR, LF or NUL inside. */
	const char *text;
	size_t text_len;
};

enum imap_parse_status {
	IMAP_PARSE_NEED_MORE,     /* all input used; feed more */
	IMAP_PARSE_COMPLETE,      /* one response ready: imap_parser_response */
	IMAP_PARSE_STREAM_LITERAL, /* the caller must now stream a literal */
	IMAP_PARSE_ERROR,         /* imap_parser_error; connection unusable */
};

/*
 * Asked for every literal the parser meets inside a data response, once
 * its "{N}CRLF" has been read and N is known to be within max_stream_len:
 * return true to have it streamed (the caller then takes the N bytes
 * itself), false to have it buffered in the parser (allowed only up to
 * max_literal_len, else the response is an error).
 *
 * partial shows the response so far: kind, tag, number, name, and the
 * values read before the literal.  Lists still open are shown with the
 * items read so far, so for "* 3 FETCH (UID 9 BODY[] {120}" the hook sees
 * number 3, name "FETCH" and values[0] a LIST whose items are UID, 9 and
 * the atom "BODY[]" (the last one names the literal).  partial and
 * everything in it are valid only during the call; the hook must not
 * call any imap_parser_* function on the same parser.
 */
typedef bool imap_want_stream_fn(void *ctx, const struct imap_response *partial,
				 uint64_t literal_size);

struct imap_parser;

/*
 * A new parser.  limits NULL means the defaults; want_stream NULL means
 * every literal is buffered (within the limits).  ctx is passed to
 * want_stream untouched and is not owned.  Returns NULL when out of
 * memory.  Free with imap_parser_free().
 */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits,
				    imap_want_stream_fn *want_stream, void *ctx);

void imap_parser_free(struct imap_parser *parser); /* NULL is fine */

/*
 * Parse data[0..len).  *consumed says how many bytes were used; bytes
 * after them were not looked at and belong to what comes next:
 *
 *   NEED_MORE       *consumed == len.
 *   COMPLETE        the response ended at data[*consumed - 1] (its LF);
 *                   imap_parser_response() returns it.  Feed the rest
 *                   (pipelined responses) to parse the next one.
 *   STREAM_LITERAL  the literal's "{N}CRLF" ended at data[*consumed - 1];
 *                   the next imap_parser_stream_size() bytes of the
 *                   connection are the literal: the caller takes them
 *                   itself (starting with data[*consumed..]), then calls
 *                   imap_parser_literal_done() and goes on feeding what
 *                   follows them.  The response gets a STREAMED value.
 *   ERROR           imap_parser_error() says why; every later call
 *                   returns ERROR until imap_parser_reset().
 *
 * A feed after COMPLETE starts the next response and ends the life of the
 * previous one.  Feeding while a streamed literal is pending is an error
 * (YB_ERR_INTERNAL).  len 0 is allowed.
 */
enum imap_parse_status imap_parser_feed(struct imap_parser *parser,
					const char *data, size_t len,
					size_t *consumed);

/* The response after COMPLETE; NULL at any other time. */
const struct imap_response *imap_parser_response(const struct imap_parser *parser);

/* After STREAM_LITERAL: how many bytes the caller must take. */
uint64_t imap_parser_stream_size(const struct imap_parser *parser);

/* After STREAM_LITERAL, once the caller has taken all the bytes. */
void imap_parser_literal_done(struct imap_parser *parser);

/* Why the last feed returned ERROR; status YB_OK when there was none. */
const struct yb_error *imap_parser_error(const struct imap_parser *parser);

/*
 * Forget any partial response and any error, and start afresh at a
 * response boundary (e.g. on a new connection).  Limits and hook stay.
 */
void imap_parser_reset(struct imap_parser *parser);

/* --- small helpers over parsed data (pure, no allocation) --- */

/* Does s[0..len) equal word, ignoring ASCII case? */
bool imap_word_equals(const char *s, size_t len, const char *word);

/* Is the response's name word (ignoring case)?  False for a
   continuation. */
bool imap_response_is(const struct imap_response *resp, const char *word);

/* Is v an ATOM equal to word, ignoring case? */
bool imap_value_is_atom(const struct imap_value *v, const char *word);

/*
 * v as an astring: ATOM, NUMBER, NIL (the text "NIL" as sent), QUOTED or
 * LITERAL; sets *s and *len.  False for LIST and STREAMED.
 */
bool imap_value_astring(const struct imap_value *v, const char **s, size_t *len);

#endif
