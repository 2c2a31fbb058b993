/*
 * pop3_parse.c - pure POP3 decoding (see pop3_parse.h).
 *
 * Every function here takes bytes that came from a server and trusts none
 * of them: lengths are explicit (lines are not NUL-terminated), numbers are
 * range-checked, and nothing reads outside [line, line + len).
 */
#include "config.h"

#include "pop3_parse.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "text.h"

/* Longest APOP timestamp accepted, brackets included (RFC 1939 gives no
   limit; real ones are under 100 bytes, and the digest input stays small). */
#define POP3_APOP_TIMESTAMP_MAX 512

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_visible(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/*
 * Whether every byte of text is 0x21..0x7e, eight at a time: the word
 * has a byte below 0x21 (borrow into a high bit that was clear) or above
 * 0x7e (0x7f plus one, or a high bit already set).  Each test tells
 * exactly whether any byte fails it, though not which.
 */
static bool all_visible(const char *text, size_t len)
{
	const uint64_t ones = 0x0101010101010101u;
	const uint64_t highs = 0x8080808080808080u;
	size_t at = 0;
	for (; len - at >= 8; at += 8) {
		uint64_t word;
		memcpy(&word, text + at, sizeof(word));
		uint64_t below = (word - ones * 0x21) & ~word & highs;
		uint64_t above = ((word + ones * (0x7f - 0x7e)) | word) & highs;
		if (below | above)
			return false;
	}
	for (; at < len; at++)
		if (!is_visible((unsigned char)text[at]))
			return false;
	return true;
}

/* Index of the first non-space at or after i. */
static size_t skip_spaces(const char *buf, size_t len, size_t i)
{
	while (i < len && is_space(buf[i]))
		i++;
	return i;
}

/* Index of the first space at or after i (or len). */
static size_t skip_word(const char *buf, size_t len, size_t i)
{
	while (i < len && !is_space(buf[i]))
		i++;
	return i;
}

/* Case-insensitive comparison of buf[0..len) with the whole of word. */
static bool word_equals_ci(const char *buf, size_t len, const char *word)
{
	return strlen(word) == len && text_has_prefix_ci(buf, len, word);
}

enum pop3_status pop3_parse_status(const char *line, size_t len,
				   const char **text, size_t *text_len)
{
	enum pop3_status status;
	size_t status_len;

	if (text_has_prefix_ci(line, len, "+OK")) {
		status = POP3_STATUS_OK;
		status_len = 3;
	} else if (text_has_prefix_ci(line, len, "-ERR")) {
		status = POP3_STATUS_ERR;
		status_len = 4;
	} else {
		return POP3_STATUS_BAD;
	}
	/* "+OKAY" is not "+OK": the status must end the line or be
	   followed by a space. */
	if (status_len < len && line[status_len] != ' ')
		return POP3_STATUS_BAD;
	size_t text_start = status_len < len ? status_len + 1 : len;
	if (text)
		*text = line + text_start;
	if (text_len)
		*text_len = len - text_start;
	return status;
}

/* RFC 2449: resp-level = 1*schar, schar = %x21-2E / %x30-5C / %x5E-7F. */
static bool is_resp_level_char(unsigned char c)
{
	return is_visible(c) && c != '/' && c != ']';
}

/*
 * Does code (the bracket contents) name known, or a sub-level of it?
 * Codes are hierarchical: "SYS/TEMP/QUOTA" is a kind of "SYS/TEMP".
 */
static bool code_is(const char *code, size_t len, const char *known)
{
	size_t known_len = strlen(known);
	if (!text_has_prefix_ci(code, len, known))
		return false;
	return len == known_len || code[known_len] == '/';
}

/* Is code a well-formed resp-level *("/" resp-level)? */
static bool resp_code_well_formed(const char *code, size_t len)
{
	size_t level_len = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)code[i];
		if (c == '/') {
			if (level_len == 0)
				return false;
			level_len = 0;
		} else if (is_resp_level_char(c)) {
			level_len++;
		} else {
			return false;
		}
	}
	return level_len > 0;
}

enum pop3_resp_code pop3_parse_resp_code(const char *text, size_t len)
{
	if (len < 2 || text[0] != '[')
		return POP3_CODE_NONE;
	const char *close = memchr(text + 1, ']', len - 1);
	if (!close)
		return POP3_CODE_NONE;
	const char *code = text + 1;
	size_t code_len = (size_t)(close - code);
	if (!resp_code_well_formed(code, code_len))
		return POP3_CODE_NONE;

	if (code_is(code, code_len, "IN-USE"))
		return POP3_CODE_IN_USE;
	if (code_is(code, code_len, "LOGIN-DELAY"))
		return POP3_CODE_LOGIN_DELAY;
	if (code_is(code, code_len, "SYS/TEMP"))
		return POP3_CODE_SYS_TEMP;
	if (code_is(code, code_len, "SYS/PERM"))
		return POP3_CODE_SYS_PERM;
	if (code_is(code, code_len, "AUTH"))
		return POP3_CODE_AUTH;
	return POP3_CODE_OTHER;
}

/* A word of a CAPA reply and the flag it sets in struct pop3_capa. */
struct capa_word {
	const char *word;
	size_t flag;    /* offsetof the bool */
};

static const struct capa_word capa_keywords[] = {
	{ "UIDL", offsetof(struct pop3_capa, uidl) },
	{ "TOP", offsetof(struct pop3_capa, top) },
	{ "USER", offsetof(struct pop3_capa, user) },
	{ "PIPELINING", offsetof(struct pop3_capa, pipelining) },
	{ "STLS", offsetof(struct pop3_capa, stls) },
	{ "RESP-CODES", offsetof(struct pop3_capa, resp_codes) },
	{ "UTF8", offsetof(struct pop3_capa, utf8) },
};

static const struct capa_word sasl_mechanisms[] = {
	{ "PLAIN", offsetof(struct pop3_capa, sasl_plain) },
	{ "LOGIN", offsetof(struct pop3_capa, sasl_login) },
	{ "CRAM-MD5", offsetof(struct pop3_capa, sasl_cram_md5) },
	{ "XOAUTH2", offsetof(struct pop3_capa, sasl_xoauth2) },
	{ "OAUTHBEARER", offsetof(struct pop3_capa, sasl_oauthbearer) },
	{ "EXTERNAL", offsetof(struct pop3_capa, sasl_external) },
};

/* Set the flag the word names in table, if any. */
static void set_capa_flag(const struct capa_word *table, size_t count,
			  const char *word, size_t word_len,
			  struct pop3_capa *capa)
{
	for (size_t i = 0; i < count; i++)
		if (word_equals_ci(word, word_len, table[i].word)) {
			*(bool *)((char *)capa + table[i].flag) = true;
			return;
		}
}

static void parse_sasl_mechanisms(const char *line, size_t len, size_t i,
				  struct pop3_capa *capa)
{
	for (;;) {
		i = skip_spaces(line, len, i);
		if (i >= len)
			return;
		size_t end = skip_word(line, len, i);
		set_capa_flag(sasl_mechanisms,
			      sizeof(sasl_mechanisms) / sizeof(sasl_mechanisms[0]),
			      line + i, end - i, capa);
		i = end;
	}
}

void pop3_parse_capa_line(const char *line, size_t len, struct pop3_capa *capa)
{
	size_t start = skip_spaces(line, len, 0);
	size_t end = skip_word(line, len, start);
	if (word_equals_ci(line + start, end - start, "SASL"))
		parse_sasl_mechanisms(line, len, end, capa);
	else
		set_capa_flag(capa_keywords,
			      sizeof(capa_keywords) / sizeof(capa_keywords[0]),
			      line + start, end - start, capa);
}

/*
 * A message number at line[*i..]: 1..UINT32_MAX in decimal, ending at a
 * space or the end of the line.  Advances *i past the digits.
 */
/*
 * The decimal number at *i, up to max: one pass over its digits, which
 * must end where the word does (at len, a space or a tab), so "12x" is
 * no number.  Leading zeros are fine.  *i moves past the digits.  Each
 * line of a UIDL or LIST listing has one or two of these: nineteen
 * digits cannot overflow 64 bits, so only longer numbers are checked as
 * they grow.
 */
static bool parse_decimal(const char *line, size_t len, size_t *i,
			  uint64_t max, uint64_t *out)
{
	size_t start = *i, at = start;
	size_t unchecked_end = len - start > 19 ? start + 19 : len;
	uint64_t value = 0;
	while (at < unchecked_end && (unsigned char)(line[at] - '0') <= 9)
		value = value * 10 + (unsigned char)(line[at++] - '0');
	while (at < len && (unsigned char)(line[at] - '0') <= 9) {
		uint64_t digit = (unsigned char)(line[at++] - '0');
		if (value > (UINT64_MAX - digit) / 10)
			return false;
		value = value * 10 + digit;
	}
	if (at == start || (at < len && !is_space(line[at])) || value > max)
		return false;
	*out = value;
	*i = at;
	return true;
}

static bool parse_msgno(const char *line, size_t len, size_t *i,
			unsigned long *msgno)
{
	uint64_t value;
	if (!parse_decimal(line, len, i, UINT32_MAX, &value) || value == 0)
		return false;
	*msgno = (unsigned long)value;
	return true;
}

/* At least one space at line[*i], then skip all of them. */
static bool expect_spaces(const char *line, size_t len, size_t *i)
{
	if (*i >= len || line[*i] != ' ')
		return false;
	while (*i < len && line[*i] == ' ')
		(*i)++;
	return true;
}

bool pop3_parse_uidl_line(const char *line, size_t len, unsigned long *msgno,
			  const char **uidl, size_t *uidl_len)
{
	size_t i = 0;
	unsigned long number;
	if (!parse_msgno(line, len, &i, &number))
		return false;
	if (!expect_spaces(line, len, &i))
		return false;
	/* Trailing spaces are tolerated; any other byte that is not
	   0x21..0x7e (a control character, a space before a second word)
	   makes the line bad. */
	size_t end = len;
	while (end > i && line[end - 1] == ' ')
		end--;
	size_t found_len = end - i;
	if (found_len == 0 || found_len > POP3_UIDL_MAX)
		return false;
	if (!all_visible(line + i, found_len))
		return false;
	*msgno = number;
	*uidl = line + i;
	*uidl_len = found_len;
	return true;
}

bool pop3_parse_list_line(const char *line, size_t len, unsigned long *msgno,
			  uint64_t *size)
{
	size_t i = 0;
	unsigned long number;
	if (!parse_msgno(line, len, &i, &number))
		return false;
	if (!expect_spaces(line, len, &i))
		return false;
	uint64_t value;
	if (!parse_decimal(line, len, &i, UINT64_MAX, &value))
		return false;
	/* RFC 1939 allows more after the size ("implementation-specific");
	   it must be separated by a space. */
	*msgno = number;
	*size = value;
	return true;
}

/*
 * If greeting[start] is a '<' that opens a valid timestamp, return its
 * length with brackets, else 0.  Valid: printable non-space bytes, no
 * second '<', an '@' inside, at most POP3_APOP_TIMESTAMP_MAX bytes.
 */
static size_t timestamp_length_at(const char *greeting, size_t len,
				  size_t start)
{
	bool has_at = false;
	for (size_t i = start + 1; i < len; i++) {
		unsigned char c = (unsigned char)greeting[i];
		if (i - start + 1 > POP3_APOP_TIMESTAMP_MAX)
			return 0;
		if (c == '>')
			return has_at && i > start + 1 ? i - start + 1 : 0;
		if (!is_visible(c) || c == '<')
			return 0;
		if (c == '@')
			has_at = true;
	}
	return 0;
}

bool pop3_parse_apop_timestamp(const char *greeting, size_t len, char *out,
			       size_t out_size)
{
	for (size_t i = 0; i < len; i++) {
		if (greeting[i] != '<')
			continue;
		size_t found = timestamp_length_at(greeting, len, i);
		if (found == 0)
			continue;
		if (found >= out_size)
			return false;
		memcpy(out, greeting + i, found);
		out[found] = '\0';
		return true;
	}
	return false;
}

/*
 * The dot decoder.
 *
 * dec->state packs the scanner position (low bits) and, rarely, one
 * output byte carried to the next call.  Why a carry: after ".\r" at the
 * start of a line the decoder must see the next byte before it knows
 * whether the CR is part of the terminator.  When that byte arrives in a
 * later call and is not LF, the CR is owed as output on top of this
 * call's bytes, so the output could be one byte longer than the input.
 * The caller gave room for len bytes only; the last byte that does not
 * fit is held and written first on the next call.
 *
 * Why one byte is always enough: count I = input used, O = output
 * written, D = dots and terminator bytes dropped, P = 1 while a CR is
 * held after a line-start dot, C = the carry; I = O + D + P + C.  A call
 * needs more room than its input only if D and P do not grow while the
 * held CR or the carry becomes output; by induction C + P <= 1 at every
 * call boundary, so a call is at most one byte over.  When the
 * terminator is seen D grows, so the body is complete (C = 0) when done.
 */
enum dot_scan {
	DOT_LINE_START = 0, /* next byte starts a line */
	DOT_MID_LINE = 1,   /* inside a line's content */
	DOT_AFTER_DOT = 2,  /* a line started with '.' (dropped) */
	DOT_AFTER_DOT_CR = 3, /* ".\r" at a line start; the CR is held */
};
#define DOT_SCAN_MASK 0x3
#define DOT_CARRY_FLAG 0x100
#define DOT_CARRY_SHIFT 16

struct dot_output {
	char *buf;
	size_t used;
	size_t room;
	bool has_carry;
	unsigned char carry;
};

static void output_put(struct dot_output *output, const char *src, size_t n)
{
	size_t free_room = output->room - output->used;
	if (n <= free_room) {
		memcpy(output->buf + output->used, src, n);
		output->used += n;
		return;
	}
	/* Proven above: at most one byte over, and it is this call's last. */
	assert(n == free_room + 1 && !output->has_carry);
	memcpy(output->buf + output->used, src, free_room);
	output->used += free_room;
	output->carry = (unsigned char)src[free_room];
	output->has_carry = true;
}

void pop3_dot_init(struct pop3_dot_decoder *dec)
{
	dec->state = DOT_LINE_START;
	dec->done = false;
}

/*
 * Copy whole lines from p while no line starts with '.': one memchr per
 * line and one memcpy per run, which keeps big bodies fast.  Returns
 * where it stopped (end, or a '.' at a line start) and sets *scan.
 */
static const char *copy_lines(struct dot_output *output, const char *p,
			      const char *end, enum dot_scan *scan)
{
	const char *run_start = p;
	for (;;) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf) {
			output_put(output, run_start, (size_t)(end - run_start));
			*scan = DOT_MID_LINE;
			return end;
		}
		p = lf + 1;
		if (p == end || *p == '.') {
			output_put(output, run_start, (size_t)(p - run_start));
			*scan = DOT_LINE_START;
			return p;
		}
	}
}

size_t pop3_dot_decode(struct pop3_dot_decoder *dec, const char *in, size_t len,
		       char *out, size_t *out_len)
{
	*out_len = 0;
	if (dec->done || len == 0)
		return 0;

	struct dot_output output = { .buf = out, .used = 0, .room = len };
	enum dot_scan scan = (enum dot_scan)(dec->state & DOT_SCAN_MASK);
	if (dec->state & DOT_CARRY_FLAG) {
		out[0] = (char)((dec->state >> DOT_CARRY_SHIFT) & 0xff);
		output.used = 1;
	}

	const char *p = in;
	const char *end = in + len;
	while (p < end) {
		switch (scan) {
		case DOT_LINE_START:
			if (*p == '.') {
				p++;
				scan = DOT_AFTER_DOT;
			} else {
				scan = DOT_MID_LINE;
			}
			break;
		case DOT_MID_LINE:
			p = copy_lines(&output, p, end, &scan);
			break;
		case DOT_AFTER_DOT:
			if (*p == '\n')
				goto terminator;
			if (*p == '\r') {
				p++;
				scan = DOT_AFTER_DOT_CR;
			} else {
				/* A stuffed line: the dot is dropped, the
				   byte is the line's first. */
				scan = DOT_MID_LINE;
			}
			break;
		case DOT_AFTER_DOT_CR:
			if (*p == '\n')
				goto terminator;
			/* ".\r" + not LF: a stuffed line beginning "\r". */
			output_put(&output, "\r", 1);
			scan = DOT_MID_LINE;
			break;
		}
	}
	dec->state = (int)scan;
	if (output.has_carry)
		dec->state |= DOT_CARRY_FLAG |
			      ((int)output.carry << DOT_CARRY_SHIFT);
	*out_len = output.used;
	return len;

terminator:
	assert(!output.has_carry);
	dec->done = true;
	dec->state = DOT_LINE_START;
	*out_len = output.used;
	return (size_t)(p + 1 - in);
}

/* --- the body against LIST's size --- */

void pop3_tally_init(struct pop3_body_tally *tally)
{
	memset(tally, 0, sizeof(*tally));
}

static bool head_is(const struct pop3_body_tally *tally, const char *status)
{
	size_t n = strlen(status);
	return tally->head_len == n &&
	       strncasecmp((const char *)tally->head, status, n) == 0;
}

/* One byte through the watch for a reply read as body (see .h). */
static void watch_run_on(struct pop3_body_tally *tally, unsigned char c)
{
	if (tally->at_head && c != '\n' && tally->head_len < sizeof(tally->head)) {
		tally->head[tally->head_len++] = c;
		if (head_is(tally, "+OK") || head_is(tally, "-ERR"))
			tally->ran_on = true;
	} else {
		tally->at_head = false;
	}
	if (c == '\n') {
		tally->at_head = tally->last[0] == '.' && tally->last[1] == '\r';
		tally->head_len = 0;
	}
	tally->last[0] = tally->last[1];
	tally->last[1] = c;
}

bool pop3_tally_ran_on(const struct pop3_body_tally *tally)
{
	return tally->ran_on;
}

bool pop3_size_rewritten(const struct pop3_body_tally *tally, uint64_t listed)
{
	uint64_t slack = tally->crlf + 1;
	return !tally->ran_on && tally->bytes > slack && listed < tally->bytes - slack;
}

/* n bytes with no LF, outside a line head: only the last two count. */
static void watch_plain(struct pop3_body_tally *tally, const char *data, size_t n)
{
	if (n >= 2) {
		tally->last[0] = (unsigned char)data[n - 2];
		tally->last[1] = (unsigned char)data[n - 1];
	} else if (n == 1) {
		tally->last[0] = tally->last[1];
		tally->last[1] = (unsigned char)data[0];
	}
}

/* watch_run_on over data, byte by byte only where it matters: at line
   ends and the few bytes of a line head (a body is mostly neither). */
static void watch_chunk(struct pop3_body_tally *tally, const char *data, size_t len)
{
	size_t i = 0;
	while (i < len && !tally->ran_on) {
		if (tally->at_head) {
			watch_run_on(tally, (unsigned char)data[i++]);
			continue;
		}
		const char *lf = memchr(data + i, '\n', len - i);
		size_t stop = lf ? (size_t)(lf - data) : len;
		watch_plain(tally, data + i, stop - i);
		if (!lf)
			return;
		watch_run_on(tally, '\n');
		i = stop + 1;
	}
}

void pop3_tally_add(struct pop3_body_tally *tally, const char *data,
		    size_t len)
{
	watch_chunk(tally, data, len);
	const char *p = data;
	const char *end = data + len;
	bool after_cr = tally->after_cr;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf) {
			after_cr = p < end && end[-1] == '\r';
			break;
		}
		bool crlf = lf > p ? lf[-1] == '\r' : after_cr;
		if (crlf)
			tally->crlf++;
		else
			tally->bare_lf++;
		after_cr = false;
		p = lf + 1;
	}
	tally->after_cr = after_cr;
	tally->bytes += len;
}

bool pop3_size_agrees(const struct pop3_body_tally *tally, uint64_t listed)
{
	/* One byte more below: a server ends a message that lacks a final
	   line end with the CRLF RFC 1939 requires, which LIST did not
	   count (an empty message comes as one empty line).  The high end
	   is bounded by what a connection can carry, far below 2^64. */
	uint64_t slack = tally->crlf + 1;
	uint64_t low = tally->bytes > slack ? tally->bytes - slack : 0;
	uint64_t high = tally->bytes + tally->bare_lf + tally->wire_extra;
	return listed >= low && listed <= high;
}
