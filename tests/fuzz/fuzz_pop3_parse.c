/*
 * fuzz_pop3_parse.c - POP3 reply lines and the dot-stuffed body decoder.
 *
 * Input: two parameter bytes, then what a server sends.
 *   byte 0  chunking for the body decoder: 0 feeds the rest at once, N
 *           pieces of 1..N bytes
 *   byte 1  room for the APOP timestamp: even gives 513 bytes (what
 *           pop3.c gives), odd gives 1 + byte / 2
 * Printable seeds: "00" feeds at once with the usual room; " 0" pieces
 * of up to 32 bytes.
 *
 * Every line of the rest (split at LF, a CR before it dropped as the
 * connection's line reader does) goes through every line parser, and the
 * whole rest goes through pop3_dot_decode twice: in pieces and at once.
 * Checked: results point inside the line and keep the header's bounds;
 * UIDL and LIST lines give what a model gives that reads each number as
 * the word up to a space or tab through text_parse_u64 (the line parsers
 * read digits in a single pass of their own);
 * each decode call uses at most its input and writes at most as many
 * bytes as it was given (the output buffer has exactly that room, so
 * the sanitizers see one byte more); and both runs give what a byte at a
 * time model of the header's rule gives: the same body, the same end.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pop3_parse.h"
#include "text.h"

#define POP3_APOP_ROOM 513

static bool inside(const char *part, size_t part_len, const char *line,
		   size_t len)
{
	return part >= line && part <= line + len &&
	       part_len <= (size_t)(line + len - part);
}

static void check_status(const char *line, size_t len)
{
	const char *text = NULL;
	size_t text_len = SIZE_MAX;
	enum pop3_status st = pop3_parse_status(line, len, &text, &text_len);
	FUZZ_CHECK(st == POP3_STATUS_OK || st == POP3_STATUS_ERR ||
		   st == POP3_STATUS_BAD);
	if (st == POP3_STATUS_BAD)
		return;
	FUZZ_CHECK(text != NULL && inside(text, text_len, line, len));
	FUZZ_CHECK(line[0] == (st == POP3_STATUS_OK ? '+' : '-'));
	enum pop3_resp_code code = pop3_parse_resp_code(text, text_len);
	FUZZ_CHECK(code >= POP3_CODE_NONE && code <= POP3_CODE_OTHER);
	FUZZ_CHECK(code == POP3_CODE_NONE || (text_len > 0 && text[0] == '['));
}

/*
 * The oracle for numbers: the word up to the first space or tab, as
 * text_parse_u64 reads it.  The line parsers read digits in one pass of
 * their own; both must agree on every word.
 */
static bool model_number(const char *line, size_t len, size_t *i,
			 unsigned long long max, unsigned long long *out)
{
	size_t end = *i;
	while (end < len && line[end] != ' ' && line[end] != '\t')
		end++;
	if (!text_parse_u64(line + *i, end - *i, max, out))
		return false;
	*i = end;
	return true;
}

/* "MSGNO " and any more spaces, both listings' start, by the model;
   *i is then where the second word begins. */
static bool model_msgno(const char *line, size_t len, size_t *i,
			unsigned long long *msgno)
{
	if (!model_number(line, len, i, UINT32_MAX, msgno) || *msgno == 0)
		return false;
	if (*i >= len || line[*i] != ' ')
		return false;
	while (*i < len && line[*i] == ' ')
		(*i)++;
	return true;
}

/* "MSGNO SIZE [...]" by the model: what pop3_parse_list_line must give. */
static bool model_list(const char *line, size_t len, unsigned long long *msgno,
		       unsigned long long *size)
{
	size_t i = 0;
	return model_msgno(line, len, &i, msgno) &&
	       model_number(line, len, &i, UINT64_MAX, size);
}

static void check_list(const char *line, size_t len)
{
	unsigned long msgno = 0;
	uint64_t size = 0;
	bool parsed = pop3_parse_list_line(line, len, &msgno, &size);
	unsigned long long model_msgno = 0, model_size = 0;
	FUZZ_CHECK(parsed == model_list(line, len, &model_msgno, &model_size));
	if (parsed)
		FUZZ_CHECK(msgno == model_msgno && size == model_size);
}

/* "MSGNO UIDL" by the model: a run of 0x21..0x7e, then spaces only. */
static bool model_uidl(const char *line, size_t len, unsigned long long *msgno,
		       size_t *start, size_t *found)
{
	size_t i = 0;
	if (!model_msgno(line, len, &i, msgno))
		return false;
	*start = i;
	while (i < len && line[i] >= 0x21 && line[i] <= 0x7e)
		i++;
	*found = i - *start;
	while (i < len && line[i] == ' ')
		i++;
	return i == len && *found >= 1 && *found <= POP3_UIDL_MAX;
}

static void check_uidl(const char *line, size_t len)
{
	unsigned long msgno = 0;
	const char *uidl = NULL;
	size_t uidl_len = 0;
	bool parsed = pop3_parse_uidl_line(line, len, &msgno, &uidl, &uidl_len);
	unsigned long long model_msgno = 0;
	size_t model_start = 0, model_len = 0;
	FUZZ_CHECK(parsed == model_uidl(line, len, &model_msgno, &model_start,
					&model_len));
	if (!parsed)
		return;
	FUZZ_CHECK(msgno == model_msgno);
	FUZZ_CHECK(uidl == line + model_start && uidl_len == model_len);
	FUZZ_CHECK(msgno >= 1 && msgno <= UINT32_MAX);
	FUZZ_CHECK(uidl != NULL && inside(uidl, uidl_len, line, len));
	FUZZ_CHECK(uidl_len >= 1 && uidl_len <= POP3_UIDL_MAX);
	for (size_t i = 0; i < uidl_len; i++)
		FUZZ_CHECK(uidl[i] >= 0x21 && uidl[i] <= 0x7e);
}

static void check_apop(const char *line, size_t len, size_t room)
{
	char out[POP3_APOP_ROOM + 64];
	memset(out, 'x', sizeof(out));
	if (!pop3_parse_apop_timestamp(line, len, out, room))
		return;
	size_t found = strnlen(out, room);
	FUZZ_CHECK(found < room);
	FUZZ_CHECK(found >= 2 && out[0] == '<' && out[found - 1] == '>');
	FUZZ_CHECK(memmem(line, len, out, found) != NULL);
}

static void check_line(const char *line, size_t len, size_t apop_room)
{
	check_status(line, len);
	struct pop3_capa capa;
	memset(&capa, 0, sizeof(capa));
	pop3_parse_capa_line(line, len, &capa);
	check_uidl(line, len);
	check_list(line, len);
	check_apop(line, len, apop_room);
}

/* Each line in a buffer of exactly its size, so over-reads are caught. */
static void check_lines(const char *data, size_t len, size_t apop_room)
{
	const char *at = data;
	const char *end = data + len;
	while (at < end) {
		const char *lf = memchr(at, '\n', (size_t)(end - at));
		const char *stop = lf ? lf : end;
		size_t line_len = (size_t)(stop - at);
		if (lf && line_len > 0 && stop[-1] == '\r')
			line_len--;
		char *line = malloc(line_len ? line_len : 1);
		if (!line)
			fuzz_fail("out of memory");
		memcpy(line, at, line_len);
		check_line(line, line_len, apop_room);
		free(line);
		at = lf ? lf + 1 : end;
	}
}

/* --- the body --- */

struct body {
	char *bytes;      /* owned; room for the whole input */
	size_t len;
	size_t consumed;  /* input bytes used, the terminator included */
	bool done;
};

/* The header's rule, one byte at a time: the oracle. */
enum model_state { M_LINE_START, M_MID, M_AFTER_DOT, M_AFTER_DOT_CR };

static void model_decode(const char *in, size_t len, struct body *body)
{
	enum model_state st = M_LINE_START;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (st == M_AFTER_DOT || st == M_AFTER_DOT_CR) {
			if (c == '\n') {
				body->done = true;
				body->consumed = i + 1;
				return;
			}
			if (st == M_AFTER_DOT && c == '\r') {
				st = M_AFTER_DOT_CR;
				continue;
			}
			/* A stuffed line: its dot is dropped; a CR held after
			   the dot was the line's first byte. */
			if (st == M_AFTER_DOT_CR)
				body->bytes[body->len++] = '\r';
			st = M_MID;
		} else if (st == M_LINE_START && c == '.') {
			st = M_AFTER_DOT;
			continue;
		}
		body->bytes[body->len++] = c;
		st = c == '\n' ? M_LINE_START : M_MID;
	}
	body->consumed = len;
}

static void real_decode(const char *in, size_t len, uint8_t chunking,
			struct body *body)
{
	struct pop3_dot_decoder dec;
	pop3_dot_init(&dec);
	FUZZ_CHECK(!dec.done);
	struct fuzz_chunker chunker;
	fuzz_chunker_init(&chunker, chunking, chunking);
	size_t pos = 0;
	while (pos < len && !dec.done) {
		size_t piece = fuzz_chunker_next(&chunker, len - pos);
		/* Exactly the room promised: len bytes for len bytes in. */
		char *out = malloc(piece);
		if (!out)
			fuzz_fail("out of memory");
		size_t out_len = SIZE_MAX;
		size_t used = pop3_dot_decode(&dec, in + pos, piece, out,
					      &out_len);
		FUZZ_CHECK(used <= piece && out_len <= piece);
		FUZZ_CHECK(dec.done || used == piece);
		FUZZ_CHECK(!dec.done || (used >= 1 && in[pos + used - 1] == '\n'));
		memcpy(body->bytes + body->len, out, out_len);
		body->len += out_len;
		free(out);
		pos += used;
	}
	/* Once done, the decoder takes nothing more. */
	if (dec.done) {
		char out[4];
		size_t out_len = SIZE_MAX;
		FUZZ_CHECK(pop3_dot_decode(&dec, "x\r\n", 3, out, &out_len) == 0);
		FUZZ_CHECK(out_len == 0);
	}
	body->done = dec.done;
	body->consumed = pos;
}

/*
 * got must be want, except that a body cut off before its terminator
 * may still owe the one byte the decoder carries to its next call.
 */
static void compare_bodies(const char *what, const struct body *got,
			   const struct body *want, bool may_owe)
{
	if (got->done != want->done || got->consumed != want->consumed)
		fuzz_fail("pop3_dot_decode %s: done %d after %zu bytes, the "
			  "rule says done %d after %zu", what, got->done,
			  got->consumed, want->done, want->consumed);
	bool owed_ok = may_owe && !got->done && got->len + 1 == want->len;
	if ((got->len != want->len && !owed_ok) ||
	    memcmp(got->bytes, want->bytes, got->len) != 0)
		fuzz_fail("pop3_dot_decode %s: %zu body bytes, the rule says "
			  "%zu (or the bytes differ)", what, got->len,
			  want->len);
}

static void check_body(const char *in, size_t len, uint8_t chunking)
{
	/* One spare byte: an overlong result shows up as a mismatch. */
	struct body model = { malloc(len + 1), 0, 0, false };
	struct body pieces = { malloc(len + 1), 0, 0, false };
	struct body whole = { malloc(len + 1), 0, 0, false };
	if (!model.bytes || !pieces.bytes || !whole.bytes)
		fuzz_fail("out of memory");
	model_decode(in, len, &model);
	real_decode(in, len, chunking, &pieces);
	real_decode(in, len, 0, &whole);
	compare_bodies("in pieces", &pieces, &model, true);
	/* One call from a fresh decoder never needs more room than len. */
	compare_bodies("at once", &whole, &model, false);
	free(model.bytes);
	free(pieces.bytes);
	free(whole.bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t chunking = fuzz_take_byte(&in);
	uint8_t room = fuzz_take_byte(&in);
	size_t apop_room = (room & 1) ? 1 + (size_t)(room >> 1) : POP3_APOP_ROOM;
	check_lines((const char *)in.data, in.len, apop_room);
	check_body((const char *)in.data, in.len, chunking);
	return 0;
}
