/*
 * oauth2_json.c - a strict JSON reader (RFC 8259) for flat objects.
 *
 * A token endpoint's reply is read by this alone, so what it accepts is
 * exactly JSON: no YAML (tags, anchors, comments, single quotes, block
 * mappings, `~`), no trailing commas, nothing after the object but
 * whitespace.  It reads the bytes in one pass with no I/O, recursing only
 * into the values it skips and never deeper than OAUTH2_JSON_MAX_DEPTH.
 * Strings are decoded into one scratch buffer as long as the input (an
 * escape never decodes longer than it is written), which is wiped
 * before it is freed, since replies hold tokens.
 */
#include "config.h"

#include "oauth2_json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "text.h"

struct json_reader {
	const char *text;
	size_t len;
	size_t pos;
	char *scratch; /* the last string read, decoded; len + 1 bytes */
	size_t scratch_len;
	const struct oauth2_json_field *fields;
	size_t count;
	uint64_t seen; /* bit i: fields[i] was a member already */
	unsigned long long max_uint;
	void *out;
	char *why;
	size_t why_size;
};

static bool fail(struct json_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool fail(struct json_reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, r->why_size, fmt, ap);
	va_end(ap);
	return false;
}

static bool syntax(struct json_reader *r, const char *what)
{
	return fail(r, "not valid JSON at byte %zu: %s", r->pos, what);
}

/* The next byte, or -1 at the end. */
static int peek(const struct json_reader *r)
{
	return r->pos < r->len ? (unsigned char)r->text[r->pos] : -1;
}

static void skip_space(struct json_reader *r)
{
	for (int c = peek(r); c == ' ' || c == '\t' || c == '\n' || c == '\r';
	     c = peek(r))
		r->pos++;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Take byte c if it comes next, after any whitespace. */
static bool take(struct json_reader *r, char c)
{
	skip_space(r);
	if (peek(r) != (unsigned char)c)
		return false;
	r->pos++;
	return true;
}

static bool expect(struct json_reader *r, char c, const char *what)
{
	return take(r, c) || syntax(r, what);
}

/* ------------------------------------------------------------------ */
/* Scalars                                                             */

static bool read_literal(struct json_reader *r, const char *word)
{
	size_t n = strlen(word);
	if (r->len - r->pos < n || memcmp(r->text + r->pos, word, n) != 0)
		return syntax(r, "expected a value");
	r->pos += n;
	return true;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, left in place. */
static bool read_number(struct json_reader *r)
{
	if (peek(r) == '-')
		r->pos++;
	if (peek(r) == '0')
		r->pos++;
	else if (is_digit(peek(r)))
		while (is_digit(peek(r)))
			r->pos++;
	else
		return syntax(r, "a number needs a digit");
	if (peek(r) == '.') {
		r->pos++;
		if (!is_digit(peek(r)))
			return syntax(r, "a fraction needs a digit");
		while (is_digit(peek(r)))
			r->pos++;
	}
	if (peek(r) == 'e' || peek(r) == 'E') {
		r->pos++;
		if (peek(r) == '+' || peek(r) == '-')
			r->pos++;
		if (!is_digit(peek(r)))
			return syntax(r, "an exponent needs a digit");
		while (is_digit(peek(r)))
			r->pos++;
	}
	return true;
}

/* Four hex digits after \u. */
static bool read_hex4(struct json_reader *r, uint32_t *unit)
{
	if (r->len - r->pos < 4)
		return syntax(r, "\\u needs four hex digits");
	*unit = 0;
	for (int i = 0; i < 4; i++) {
		int digit = text_hex_value(r->text[r->pos + (size_t)i]);
		if (digit < 0)
			return syntax(r, "\\u needs four hex digits");
		*unit = *unit * 16 + (uint32_t)digit;
	}
	r->pos += 4;
	return true;
}

/* A \uXXXX escape, or a pair of them for a character beyond U+FFFF;
   a surrogate alone is no character and is refused. */
static bool read_unicode(struct json_reader *r, uint32_t *cp)
{
	if (!read_hex4(r, cp))
		return false;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return syntax(r, "a low surrogate without its high one");
	if (*cp < 0xd800 || *cp > 0xdbff)
		return true;
	uint32_t low;
	if (r->len - r->pos < 2 || memcmp(r->text + r->pos, "\\u", 2) != 0)
		return syntax(r, "a high surrogate without its low one");
	r->pos += 2;
	if (!read_hex4(r, &low))
		return false;
	if (low < 0xdc00 || low > 0xdfff)
		return syntax(r, "a high surrogate without its low one");
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (low - 0xdc00);
	return true;
}

/* Append cp to the scratch string as UTF-8. */
static void put_utf8(struct json_reader *r, uint32_t cp)
{
	unsigned char *o = (unsigned char *)r->scratch + r->scratch_len;
	size_t n = 0;
	if (cp < 0x80) {
		o[n++] = (unsigned char)cp;
	} else if (cp < 0x800) {
		o[n++] = (unsigned char)(0xc0 | (cp >> 6));
		o[n++] = (unsigned char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		o[n++] = (unsigned char)(0xe0 | (cp >> 12));
		o[n++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[n++] = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		o[n++] = (unsigned char)(0xf0 | (cp >> 18));
		o[n++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		o[n++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[n++] = (unsigned char)(0x80 | (cp & 0x3f));
	}
	r->scratch_len += n;
}

/* The escape after a backslash (r->pos is past it). */
static bool read_escape(struct json_reader *r)
{
	static const char plain[] = "\"\\/bfnrt";
	static const char meant[] = "\"\\/\b\f\n\r\t";
	int c = peek(r);
	if (c < 0)
		return syntax(r, "a string is not closed");
	const char *hit = c > 0 ? strchr(plain, c) : NULL;
	r->pos++;
	if (hit) {
		r->scratch[r->scratch_len++] = meant[hit - plain];
		return true;
	}
	uint32_t cp;
	if (c != 'u')
		return syntax(r, "an unknown escape");
	if (!read_unicode(r, &cp))
		return false;
	put_utf8(r, cp);
	return true;
}

/* A string (r->pos at its quote), decoded into r->scratch.  Raw bytes
   must be UTF-8 and control characters must be escaped. */
static bool read_string(struct json_reader *r)
{
	r->pos++;
	r->scratch_len = 0;
	for (;;) {
		int c = peek(r);
		if (c < 0)
			return syntax(r, "a string is not closed");
		if (c == '"')
			break;
		if (c < 0x20)
			return syntax(r, "a control character in a string");
		if (c == '\\') {
			r->pos++;
			if (!read_escape(r))
				return false;
			continue;
		}
		size_t next = r->pos;
		uint32_t cp;
		if (!text_utf8_next(r->text, r->len, &next, &cp))
			return syntax(r, "a string that is not UTF-8");
		memcpy(r->scratch + r->scratch_len, r->text + r->pos, next - r->pos);
		r->scratch_len += next - r->pos;
		r->pos = next;
	}
	r->pos++;
	r->scratch[r->scratch_len] = '\0';
	return true;
}

/* After a member or element: true with *more set for a comma, false
   for neither a comma nor close. */
static bool next_item(struct json_reader *r, char close, bool *more)
{
	*more = take(r, ',');
	if (*more || take(r, close))
		return true;
	return syntax(r, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* A member name (decoded into r->scratch) and its colon. */
static bool read_name(struct json_reader *r)
{
	skip_space(r);
	if (peek(r) != '"')
		return syntax(r, "expected a member name");
	return read_string(r) && expect(r, ':', "expected ':'");
}

/* ------------------------------------------------------------------ */
/* Values we skip                                                      */

static bool skip_value(struct json_reader *r, unsigned depth);

/* The members or elements of an object or array, r->pos past its
   opening bracket. */
static bool skip_container(struct json_reader *r, unsigned depth,
			   bool object)
{
	char close = object ? '}' : ']';
	if (depth > OAUTH2_JSON_MAX_DEPTH)
		return fail(r, "nests deeper than %d", OAUTH2_JSON_MAX_DEPTH);
	if (take(r, close))
		return true;
	bool more = true;
	while (more) {
		if (object && !read_name(r))
			return false;
		if (!skip_value(r, depth) || !next_item(r, close, &more))
			return false;
	}
	return true;
}

/* Any value, at depth (the object or array holding it is depth). */
static bool skip_value(struct json_reader *r, unsigned depth)
{
	skip_space(r);
	int c = peek(r);
	if (c == '{' || c == '[') {
		r->pos++;
		return skip_container(r, depth + 1, c == '{');
	}
	if (c == '"')
		return read_string(r);
	if (c == '-' || is_digit(c))
		return read_number(r);
	if (c == 't')
		return read_literal(r, "true");
	if (c == 'f')
		return read_literal(r, "false");
	if (c == 'n')
		return read_literal(r, "null");
	return syntax(r, c < 0 ? "the text ends before a value" : "expected a value");
}

/* ------------------------------------------------------------------ */
/* The members we read                                                 */

/* The field named like the member name in r->scratch, or NULL. */
static const struct oauth2_json_field *find_field(const struct json_reader *r)
{
	for (size_t i = 0; i < r->count; i++)
		if (strlen(r->fields[i].name) == r->scratch_len &&
		    memcmp(r->fields[i].name, r->scratch, r->scratch_len) == 0)
			return &r->fields[i];
	return NULL;
}

static bool store_string(struct json_reader *r,
			 const struct oauth2_json_field *field,
			 const char *text, size_t len)
{
	char **slot = (char **)(void *)((char *)r->out + field->offset);
	/* A NUL inside would cut a token short without anyone noticing. */
	if (memchr(text, '\0', len))
		return fail(r, "%s holds a NUL byte", field->name);
	char *copy = malloc(len + 1);
	if (!copy)
		return fail(r, "out of memory");
	memcpy(copy, text, len);
	copy[len] = '\0';
	*slot = copy;
	return true;
}

/* Digits only: a sign, a fraction or an exponent is no count of
   seconds, so text_parse_u64 refuses them. */
static bool store_uint(struct json_reader *r,
		       const struct oauth2_json_field *field,
		       const char *text, size_t len)
{
	struct oauth2_json_uint *slot =
		(struct oauth2_json_uint *)(void *)((char *)r->out + field->offset);
	unsigned long long number;
	if (!text_parse_u64(text, len, r->max_uint, &number))
		return fail(r, "%s is not a number from 0 to %llu", field->name,
			    r->max_uint);
	slot->present = true;
	slot->value = number;
	return true;
}

static bool store(struct json_reader *r, const struct oauth2_json_field *field,
		  const char *text, size_t len)
{
	if (field->kind == OAUTH2_JSON_UINT)
		return store_uint(r, field, text, len);
	return store_string(r, field, text, len);
}

/*
 * The value of a member the caller reads: a string, or a number (kept
 * as it is written), or null (absent).  A second member of the same
 * name is refused whatever the values: two JSON readers may disagree on
 * which one wins, and the token must not depend on which reader looked.
 */
static bool read_field(struct json_reader *r,
		       const struct oauth2_json_field *field)
{
	uint64_t bit = (uint64_t)1 << (size_t)(field - r->fields);
	if (r->seen & bit)
		return fail(r, "has %s twice", field->name);
	r->seen |= bit;
	skip_space(r);
	int c = peek(r);
	size_t start = r->pos;
	if (c == '"')
		return read_string(r) && store(r, field, r->scratch, r->scratch_len);
	if (c == '-' || is_digit(c))
		return read_number(r) &&
		       store(r, field, r->text + start, r->pos - start);
	if (c == 'n')
		return read_literal(r, "null");
	if (field->kind == OAUTH2_JSON_UINT)
		return fail(r, "%s is not a number from 0 to %llu", field->name,
			    r->max_uint);
	return fail(r, "%s is not a string or number", field->name);
}

/* The one object, r->pos past its brace. */
static bool read_object(struct json_reader *r)
{
	if (take(r, '}'))
		return true;
	bool more = true;
	while (more) {
		if (!read_name(r))
			return false;
		const struct oauth2_json_field *field = find_field(r);
		bool ok = field ? read_field(r, field) : skip_value(r, 1);
		OPENSSL_cleanse(r->scratch, r->scratch_len);
		if (!ok || !next_item(r, '}', &more))
			return false;
	}
	return true;
}

static bool read_document(struct json_reader *r)
{
	skip_space(r);
	if (peek(r) < 0)
		return fail(r, "is empty");
	if (peek(r) != '{')
		return fail(r, "is not a JSON object");
	r->pos++;
	if (!read_object(r))
		return false;
	skip_space(r);
	if (r->pos < r->len)
		return fail(r, "has more than the object (at byte %zu)", r->pos);
	return true;
}

bool oauth2_json_parse(const char *text, size_t len,
		       const struct oauth2_json_field *fields, size_t count,
		       unsigned long long max_uint, void *out, char *why,
		       size_t why_size)
{
	struct json_reader r = { .text = text, .len = len, .fields = fields,
				 .count = count, .max_uint = max_uint,
				 .out = out, .why = why, .why_size = why_size };
	if (why_size)
		why[0] = '\0';
	if (len > OAUTH2_JSON_MAX_BYTES)
		return fail(&r, "is larger than %d bytes", OAUTH2_JSON_MAX_BYTES);
	if (count > OAUTH2_JSON_MAX_FIELDS)
		return fail(&r, "asked for more than %d fields", OAUTH2_JSON_MAX_FIELDS);
	r.scratch = malloc(len + 1);
	if (!r.scratch)
		return fail(&r, "out of memory");
	bool ok = read_document(&r);
	OPENSSL_cleanse(r.scratch, len + 1);
	free(r.scratch);
	return ok;
}

void oauth2_json_free(const struct oauth2_json_field *fields, size_t count,
		      void *out)
{
	for (size_t i = 0; i < count; i++) {
		if (fields[i].kind != OAUTH2_JSON_STRING)
			continue;
		char **slot = (char **)(void *)((char *)out + fields[i].offset);
		if (*slot)
			OPENSSL_cleanse(*slot, strlen(*slot));
		free(*slot);
		*slot = NULL;
	}
}

static bool put_bytes(char *buf, size_t size, size_t *len, const char *s,
		      size_t n)
{
	if (n >= size - *len) /* keeps room for the final NUL */
		return false;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return true;
}

bool oauth2_json_put_string(char *buf, size_t size, size_t *len,
			    const char *s)
{
	if (size == 0 || *len >= size || !put_bytes(buf, size, len, "\"", 1))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char escaped[8];
		if (*p == '"' || *p == '\\')
			snprintf(escaped, sizeof(escaped), "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			snprintf(escaped, sizeof(escaped), "\\u%04x", *p);
		else
			snprintf(escaped, sizeof(escaped), "%c", *p);
		if (!put_bytes(buf, size, len, escaped, strlen(escaped)))
			return false;
	}
	return put_bytes(buf, size, len, "\"", 1);
}
