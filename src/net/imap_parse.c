/*
 * imap_parse.c - an IMAP response parser that does no I/O (see
 * imap_parse.h).
 *
 * A push state machine: each state handler looks at the bytes it has,
 * takes what it can (a whole span at once where it may, so a big feed is
 * fast) and says where to go next.  Nothing depends on how the input is
 * split, because every handler keeps what it has seen in the parser, not
 * on the stack.
 *
 * Memory: strings and finished lists live in an arena that is emptied
 * when the next response starts; the values of the response being built
 * live on a stack.  An open list's items are the top of the stack, so
 * closing a list copies its items into the arena in one piece and pops
 * them.  Every growth is checked against a limit first.
 */
#include "config.h"

#include "imap_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grow.h"
#include "text.h"

#define ARENA_ALIGN 16
#define ARENA_CHUNK_SIZE 65536
/* A deeper max_depth than this is taken as this: no real response nests
   so far, and the frame array is allocated up front. */
#define DEPTH_CEILING 4096
/* "{" digits: more than 20 can only be padding or an attack. */
#define LITERAL_DIGITS_MAX 20
/* Stack and token buffers bigger than this are given back between
   responses, so one huge response does not pin its memory. */
#define STACK_KEEP 4096
#define TOKEN_KEEP (256 * 1024)

enum parse_state {
	ST_START,         /* first byte of a response */
	ST_STAR_SP,       /* after "*" */
	ST_CONT,          /* after "+" */
	ST_TAG,
	ST_STATUS_WORD,   /* tagged: OK / NO / BAD */
	ST_UNTAGGED_WORD, /* after "* ": a number, a status or a name */
	ST_NAME_WORD,     /* after "* N " */
	ST_RESP_TEXT,     /* after a status word */
	ST_CODE_NAME,     /* after "[" */
	ST_CODE_ARGS,     /* after "[CODE " up to "]" */
	ST_CODE_END,      /* after "]" */
	ST_TEXT,          /* human text to the end of the line */
	ST_VALUE_START,   /* a value may start here */
	ST_AFTER_VALUE,   /* a value just ended */
	ST_ATOM,
	ST_SECTION,       /* inside an atom's "[...]" */
	ST_QUOTED,
	ST_QUOTED_ESC,
	ST_LITERAL_SIZE,  /* after "{" */
	ST_LITERAL_CRLF,  /* after "}" */
	ST_LITERAL_DATA,
	ST_LF,            /* after a CR: only LF may follow */
};

/* What an LF ends: the response, or a literal's "{N}" line. */
enum lf_next { LF_END_RESPONSE, LF_LITERAL };

/* What a state handler tells the feed loop. */
enum step { STEP_GO, STEP_COMPLETE, STEP_STREAM, STEP_ERROR };

struct arena_chunk {
	struct arena_chunk *next;
	size_t size; /* usable bytes after the header */
	size_t used;
};

/* A growable byte buffer for the token being read; capped per token. */
struct token_buf {
	char *data;
	size_t len;
	size_t cap;
};

/* One level of list nesting; frames[0] is the top of the response. */
struct frame {
	size_t start; /* stack index of the level's first item */
	size_t count; /* direct items so far */
};

struct imap_parser {
	struct imap_parser_limits limits;
	imap_want_stream_fn *want_stream;
	void *stream_ctx;

	enum parse_state state;
	enum lf_next lf_next;
	bool failed;
	bool complete;
	bool streaming;
	struct yb_error err;

	struct imap_response resp;

	struct arena_chunk *chunks;

	struct imap_value *stack;
	size_t stack_len, stack_cap;
	struct frame *frames; /* limits.max_depth + 1 of them */
	unsigned depth;
	size_t value_total;

	size_t line_len;        /* bytes of this response outside literals */
	uint64_t literal_total; /* buffered literal bytes of this response */

	struct token_buf token;

	uint64_t literal_size;
	unsigned literal_digits;
	bool literal_plus;
	char *literal_data;
	size_t literal_have;
	uint64_t stream_size;
};

/* --- byte classes --- */

/* Bytes that may appear in an atom; "[" opens a section and is handled
   by the atom state itself. */
static bool is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

/* ASTRING-CHAR except "+" (RFC 3501 tag). */
static bool is_tag_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\+", c) == NULL;
}

/* Status words, response names and code names: plain ASCII atoms. */
static bool is_name_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\[]", c) == NULL;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_line_end(unsigned char c)
{
	return c == '\r' || c == '\n';
}

/* --- errors --- */

__attribute__((format(printf, 3, 0)))
static enum step vfail(struct imap_parser *p, enum yb_status status,
		       const char *fmt, va_list ap)
{
	char detail[512];
	char name[IMAP_NAME_MAX * 4 + 8];

	/* Cutting a message short loses words, not safety; yb_fail marks
	   its own truncation. */
	vsnprintf(detail, sizeof(detail), fmt, ap);
	if (p->resp.name && status == YB_ERR_PROTOCOL) {
		text_sanitize(name, sizeof(name), p->resp.name, p->resp.name_len);
		yb_fail(&p->err, status, "IMAP %s response: %s", name, detail);
	} else {
		yb_fail(&p->err, status, "IMAP response: %s", detail);
	}
	p->failed = true;
	return STEP_ERROR;
}

__attribute__((format(printf, 2, 3)))
static enum step fail(struct imap_parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(p, YB_ERR_PROTOCOL, fmt, ap);
	va_end(ap);
	return STEP_ERROR;
}

__attribute__((format(printf, 2, 3)))
static enum step fail_internal(struct imap_parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(p, YB_ERR_INTERNAL, fmt, ap);
	va_end(ap);
	return STEP_ERROR;
}

static enum step fail_oom(struct imap_parser *p)
{
	return fail_internal(p, "out of memory");
}

/* "unexpected byte 'x' in a tag" / "unexpected byte 0x07 in a tag" */
static enum step fail_byte(struct imap_parser *p, unsigned char c,
			   const char *where)
{
	if (c > 0x20 && c < 0x7f)
		return fail(p, "unexpected byte '%c' %s", c, where);
	return fail(p, "unexpected byte 0x%02x %s", c, where);
}

/* --- arena --- */

static size_t chunk_header_size(void)
{
	return (sizeof(struct arena_chunk) + ARENA_ALIGN - 1) &
	       ~(size_t)(ARENA_ALIGN - 1);
}

static unsigned char *chunk_data(struct arena_chunk *chunk)
{
	return (unsigned char *)chunk + chunk_header_size();
}

static struct arena_chunk *chunk_new(size_t size)
{
	if (size > SIZE_MAX - chunk_header_size())
		return NULL;
	struct arena_chunk *chunk = malloc(chunk_header_size() + size);
	if (!chunk)
		return NULL;
	chunk->next = NULL;
	chunk->size = size;
	chunk->used = 0;
	return chunk;
}

/* size bytes, aligned, living until the next arena_reset; NULL when out
   of memory (the caller reports it). */
static void *arena_alloc(struct imap_parser *p, size_t size)
{
	if (size > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	struct arena_chunk *head = p->chunks;
	if (head && head->size - head->used >= need) {
		void *ptr = chunk_data(head) + head->used;
		head->used += need;
		return ptr;
	}
	/* A big block gets a chunk of its own, kept behind the head so the
	   head's free space is still used for small strings. */
	bool dedicated = need > ARENA_CHUNK_SIZE / 4;
	struct arena_chunk *chunk = chunk_new(dedicated ? need : ARENA_CHUNK_SIZE);
	if (!chunk)
		return NULL;
	chunk->used = need;
	if (dedicated && head) {
		chunk->next = head->next;
		head->next = chunk;
	} else {
		chunk->next = head;
		p->chunks = chunk;
	}
	return chunk_data(chunk);
}

/* Free every chunk but one standard one, which is emptied for reuse. */
static void arena_reset(struct imap_parser *p)
{
	struct arena_chunk *keep = NULL;
	struct arena_chunk *chunk = p->chunks;
	while (chunk) {
		struct arena_chunk *next = chunk->next;
		if (!keep && chunk->size == ARENA_CHUNK_SIZE) {
			keep = chunk;
			keep->next = NULL;
			keep->used = 0;
		} else {
			free(chunk);
		}
		chunk = next;
	}
	p->chunks = keep;
}

/* A NUL-terminated copy of src[0..len) in the arena. */
static char *arena_strdup(struct imap_parser *p, const char *src, size_t len)
{
	if (len == SIZE_MAX)
		return NULL;
	char *copy = arena_alloc(p, len + 1);
	if (!copy)
		return NULL;
	if (len)
		memcpy(copy, src, len);
	copy[len] = '\0';
	return copy;
}

/* --- the token buffer --- */

static void token_reset(struct imap_parser *p)
{
	p->token.len = 0;
}

/* Append src[0..len) to the token; what names it in the error when the
   token would grow past limit bytes. */
static bool token_append(struct imap_parser *p, const void *src, size_t len,
			 size_t limit, const char *what)
{
	struct token_buf *tok = &p->token;
	if (len > limit || tok->len > limit - len) {
		fail(p, "%s longer than %zu bytes", what, limit);
		return false;
	}
	size_t need = tok->len + len;
	/* need + 1: room for a NUL. */
	char *grown = grow_array(tok->data, &tok->cap, need + 1, 1, 256);
	if (!grown) {
		fail_oom(p);
		return false;
	}
	tok->data = grown;
	if (len)
		memcpy(tok->data + tok->len, src, len);
	tok->len = need;
	return true;
}

/* The token as a NUL-terminated arena string. */
static bool token_save(struct imap_parser *p, const char **str, size_t *len)
{
	char *copy = arena_strdup(p, p->token.data, p->token.len);
	if (!copy) {
		fail_oom(p);
		return false;
	}
	*str = copy;
	*len = p->token.len;
	return true;
}

/* --- the value stack --- */

/* A zeroed new value at the current level; NULL (error set) at a limit. */
static struct imap_value *push_value(struct imap_parser *p,
				     enum imap_value_type type)
{
	struct frame *level = &p->frames[p->depth];
	if (level->count >= p->limits.max_list_items) {
		fail(p, "more than %zu items in one list",
		     p->limits.max_list_items);
		return NULL;
	}
	if (p->value_total >= p->limits.max_values) {
		fail(p, "more than %zu values in one response",
		     p->limits.max_values);
		return NULL;
	}
	struct imap_value *grown = grow_array(p->stack, &p->stack_cap,
					      p->stack_len + 1, sizeof(*grown), 64);
	if (!grown) {
		fail_oom(p);
		return NULL;
	}
	p->stack = grown;
	struct imap_value *value = &p->stack[p->stack_len++];
	memset(value, 0, sizeof(*value));
	value->type = type;
	level->count++;
	p->value_total++;
	return value;
}

static bool open_list(struct imap_parser *p)
{
	if (p->depth >= p->limits.max_depth) {
		fail(p, "lists nested deeper than %u", p->limits.max_depth);
		return false;
	}
	if (!push_value(p, IMAP_VALUE_LIST))
		return false;
	p->depth++;
	p->frames[p->depth].start = p->stack_len;
	p->frames[p->depth].count = 0;
	return true;
}

/* Move the innermost open list's items into the arena, in one piece. */
static bool close_list(struct imap_parser *p)
{
	if (p->depth == 0) {
		fail(p, "unbalanced \")\"");
		return false;
	}
	struct frame *level = &p->frames[p->depth];
	size_t count = level->count;
	struct imap_value *items = NULL;
	if (count) {
		/* count <= max_values, and the stack holding them already
		   proved count * size fits. */
		items = arena_alloc(p, count * sizeof(*items));
		if (!items) {
			fail_oom(p);
			return false;
		}
		memcpy(items, &p->stack[level->start], count * sizeof(*items));
	}
	struct imap_value *list = &p->stack[level->start - 1];
	list->items = items;
	list->count = count;
	p->stack_len = level->start;
	p->depth--;
	return true;
}

/*
 * Point every open list at the items it has so far, so a partial
 * response can be shown: an open list's direct items sit contiguously
 * after it on the stack (only its last item can itself be open, and that
 * one's items follow all of them).
 */
static void show_open_lists(struct imap_parser *p)
{
	for (unsigned d = 1; d <= p->depth; d++) {
		struct frame *level = &p->frames[d];
		struct imap_value *list = &p->stack[level->start - 1];
		list->items = level->count ? &p->stack[level->start] : NULL;
		list->count = level->count;
	}
	p->resp.values = p->frames[0].count ? p->stack : NULL;
	p->resp.value_count = p->frames[0].count;
}

/* An atom's value: NIL, a NUMBER when all digits fit uint64_t, else an
   ATOM. */
static bool push_atom(struct imap_parser *p, const char *text, size_t len)
{
	enum imap_value_type type = IMAP_VALUE_ATOM;
	unsigned long long number = 0;
	if (imap_word_equals(text, len, "NIL"))
		type = IMAP_VALUE_NIL;
	else if (text_parse_u64(text, len, UINT64_MAX, &number))
		type = IMAP_VALUE_NUMBER;
	char *copy = arena_strdup(p, text, len);
	if (!copy) {
		fail_oom(p);
		return false;
	}
	struct imap_value *value = push_value(p, type);
	if (!value)
		return false;
	value->str = copy;
	value->len = len;
	value->number = number;
	return true;
}

/* --- resp-text-code arguments --- */

/*
 * Tokenize a code's argument text (complete in memory) as values: atoms,
 * quoted strings and lists; no literals.  False with p->err set when it
 * is not value syntax.
 */
static bool parse_quoted_in_code(struct imap_parser *p, const char *s,
				 size_t len, size_t *pos)
{
	size_t i = *pos + 1;
	char *copy = arena_alloc(p, len - *pos);
	if (!copy) {
		fail_oom(p);
		return false;
	}
	size_t out = 0;
	while (i < len && s[i] != '"') {
		if (s[i] == '\\') {
			i++;
			if (i >= len || (s[i] != '"' && s[i] != '\\')) {
				fail(p, "bad escape in a quoted string");
				return false;
			}
		}
		copy[out++] = s[i++];
	}
	if (i >= len) {
		fail(p, "quoted string not closed");
		return false;
	}
	if (out > p->limits.max_quoted_len) {
		fail(p, "quoted string longer than %zu bytes", p->limits.max_quoted_len);
		return false;
	}
	copy[out] = '\0';
	struct imap_value *value = push_value(p, IMAP_VALUE_QUOTED);
	if (!value)
		return false;
	value->str = copy;
	value->len = out;
	*pos = i + 1;
	return true;
}

static bool parse_code_values(struct imap_parser *p, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		bool ok = true;
		if (c == ' ') {
			i++;
		} else if (c == '(') {
			ok = open_list(p);
			i++;
		} else if (c == ')') {
			ok = close_list(p);
			i++;
		} else if (c == '"') {
			ok = parse_quoted_in_code(p, s, len, &i);
		} else if (is_atom_char(c) && c != '{') {
			size_t start = i;
			while (i < len && is_atom_char((unsigned char)s[i]) &&
			       s[i] != '{')
				i++;
			ok = push_atom(p, s + start, i - start);
		} else {
			fail_byte(p, c, "in a response code");
			return false;
		}
		if (!ok)
			return false;
	}
	if (p->depth != 0) {
		fail(p, "unbalanced \"(\" in a response code");
		return false;
	}
	return true;
}

/*
 * Fill resp.code_args from resp.code_text.  Only running out of memory
 * fails the response: a code with free text is normal (the text of an
 * unknown code need not be value syntax).
 */
static bool tokenize_code_args(struct imap_parser *p)
{
	bool parsed = parse_code_values(p, p->resp.code_text,
					p->resp.code_text_len);
	if (!parsed && p->err.status == YB_ERR_INTERNAL)
		return false;
	if (parsed && p->frames[0].count) {
		size_t count = p->frames[0].count;
		struct imap_value *args = arena_alloc(p, count * sizeof(*args));
		if (!args) {
			fail_oom(p);
			return false;
		}
		memcpy(args, p->stack, count * sizeof(*args));
		p->resp.code_args = args;
		p->resp.code_arg_count = count;
	}
	p->resp.code_args_valid = parsed;
	yb_error_clear(&p->err);
	p->failed = false;
	p->stack_len = 0;
	p->depth = 0;
	p->frames[0].count = 0;
	p->value_total = 0;
	return true;
}

/* --- response boundaries --- */

static void begin_response(struct imap_parser *p)
{
	arena_reset(p);
	if (p->stack_cap > STACK_KEEP) {
		free(p->stack);
		p->stack = NULL;
		p->stack_cap = 0;
	}
	if (p->token.cap > TOKEN_KEEP) {
		free(p->token.data);
		p->token.data = NULL;
		p->token.cap = 0;
	}
	p->stack_len = 0;
	p->depth = 0;
	p->frames[0].start = 0;
	p->frames[0].count = 0;
	p->value_total = 0;
	p->line_len = 0;
	p->literal_total = 0;
	memset(&p->resp, 0, sizeof(p->resp));
	p->state = ST_START;
	p->token.len = 0;
	p->complete = false;
}

static enum step finish_response(struct imap_parser *p)
{
	if (p->resp.kind == IMAP_RESP_CONTINUATION ||
	    p->resp.status != IMAP_STATUS_NONE) {
		if (!p->resp.text)
			p->resp.text = "";
	}
	if (p->resp.has_code && !p->resp.code_text)
		p->resp.code_text = "";
	show_open_lists(p);
	return STEP_COMPLETE;
}

/* A CR or LF where a line may end; the byte is consumed. */
static enum step line_end(struct imap_parser *p, unsigned char c, size_t *used)
{
	(*used)++;
	if (c == '\r') {
		p->state = ST_LF;
		p->lf_next = LF_END_RESPONSE;
		return STEP_GO;
	}
	return finish_response(p);
}

static enum step values_line_end(struct imap_parser *p, unsigned char c,
				 size_t *used)
{
	if (p->depth > 0)
		return fail(p, "line ended inside a parenthesized list");
	return line_end(p, c, used);
}

/* --- state handlers: each takes s[0..n), n >= 1 --- */

/*
 * Append the longest run of bytes satisfying is_ok to the token.
 * Returns the index of the first other byte, or n.
 */
static size_t take_run(struct imap_parser *p, const unsigned char *s, size_t n,
		       bool (*is_ok)(unsigned char), size_t limit,
		       const char *what, bool *ok)
{
	size_t i = 0;
	while (i < n && is_ok(s[i]))
		i++;
	*ok = token_append(p, s, i, limit, what);
	return i;
}

static enum step on_start(struct imap_parser *p, const unsigned char *s,
			  size_t *used)
{
	unsigned char c = s[0];
	if (c == '*') {
		p->resp.kind = IMAP_RESP_UNTAGGED;
		p->state = ST_STAR_SP;
		*used = 1;
	} else if (c == '+') {
		p->resp.kind = IMAP_RESP_CONTINUATION;
		p->state = ST_CONT;
		*used = 1;
	} else if (is_tag_char(c)) {
		p->resp.kind = IMAP_RESP_TAGGED;
		token_reset(p);
		p->state = ST_TAG;
	} else {
		return fail_byte(p, c, "at the start of a response");
	}
	return STEP_GO;
}

static enum step on_star_sp(struct imap_parser *p, const unsigned char *s,
			    size_t *used)
{
	if (s[0] != ' ')
		return fail_byte(p, s[0], "after \"*\" (expected a space)");
	*used = 1;
	token_reset(p);
	p->state = ST_UNTAGGED_WORD;
	return STEP_GO;
}

static enum step on_cont(struct imap_parser *p, const unsigned char *s,
			 size_t *used)
{
	/* "+" SP text; a "+" followed directly by text or the line end is
	   taken as well. */
	if (s[0] == ' ')
		*used = 1;
	token_reset(p);
	p->state = ST_TEXT;
	return STEP_GO;
}

static enum step on_tag(struct imap_parser *p, const unsigned char *s,
			size_t n, size_t *used)
{
	bool ok;
	size_t i = take_run(p, s, n, is_tag_char, IMAP_TAG_MAX, "tag", &ok);
	*used = i;
	if (!ok)
		return STEP_ERROR;
	if (i == n)
		return STEP_GO;
	if (s[i] != ' ')
		return fail_byte(p, s[i], "in a tag");
	if (!token_save(p, &p->resp.tag, &p->resp.tag_len))
		return STEP_ERROR;
	*used = i + 1;
	token_reset(p);
	p->state = ST_STATUS_WORD;
	return STEP_GO;
}

static enum imap_status status_of_word(const char *word, size_t len)
{
	static const struct {
		const char *word;
		enum imap_status status;
	} words[] = {
		{ "OK", IMAP_STATUS_OK },   { "NO", IMAP_STATUS_NO },
		{ "BAD", IMAP_STATUS_BAD }, { "BYE", IMAP_STATUS_BYE },
		{ "PREAUTH", IMAP_STATUS_PREAUTH },
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (imap_word_equals(word, len, words[i].word))
			return words[i].status;
	}
	return IMAP_STATUS_NONE;
}

/* A word ended at s[i]: it must be followed by a space or a line end,
   and must not be empty. */
static enum step check_word_end(struct imap_parser *p, const unsigned char *s,
				size_t i, const char *where)
{
	if (s[i] != ' ' && !is_line_end(s[i]))
		return fail_byte(p, s[i], where);
	if (p->token.len == 0)
		return fail(p, "empty word %s", where);
	return STEP_GO;
}

/* Consume the space after a word, if that is what ended it. */
static void skip_word_space(const unsigned char *s, size_t i, size_t *used)
{
	*used = s[i] == ' ' ? i + 1 : i;
}

static enum step on_status_word(struct imap_parser *p, const unsigned char *s,
				size_t n, size_t *used)
{
	bool ok;
	size_t i = take_run(p, s, n, is_name_char, IMAP_NAME_MAX,
			    "status word", &ok);
	*used = i;
	if (!ok)
		return STEP_ERROR;
	if (i == n)
		return STEP_GO;
	if (check_word_end(p, s, i, "in a tagged status") == STEP_ERROR)
		return STEP_ERROR;
	enum imap_status status = status_of_word(p->token.data, p->token.len);
	if (status != IMAP_STATUS_OK && status != IMAP_STATUS_NO &&
	    status != IMAP_STATUS_BAD) {
		char word[IMAP_NAME_MAX * 4 + 4];
		text_sanitize(word, sizeof(word), p->token.data, p->token.len);
		return fail(p, "tagged status \"%s\" is not OK, NO or BAD", word);
	}
	p->resp.status = status;
	if (!token_save(p, &p->resp.name, &p->resp.name_len))
		return STEP_ERROR;
	skip_word_space(s, i, used);
	p->state = ST_RESP_TEXT;
	return STEP_GO;
}

static enum step on_untagged_word(struct imap_parser *p, const unsigned char *s,
				  size_t n, size_t *used)
{
	bool ok;
	size_t i = take_run(p, s, n, is_name_char, IMAP_NAME_MAX,
			    "untagged response word", &ok);
	*used = i;
	if (!ok)
		return STEP_ERROR;
	if (i == n)
		return STEP_GO;
	if (check_word_end(p, s, i, "after \"* \"") == STEP_ERROR)
		return STEP_ERROR;
	const char *word = p->token.data;
	size_t len = p->token.len;
	if (is_digit((unsigned char)word[0])) {
		unsigned long long number;
		if (!text_parse_u64(word, len, UINT64_MAX, &number))
			return fail(p, "\"* N\" number is not a valid number");
		if (s[i] != ' ')
			return fail(p, "\"* N\" without a response name");
		p->resp.has_number = true;
		p->resp.number = number;
		*used = i + 1;
		token_reset(p);
		p->state = ST_NAME_WORD;
		return STEP_GO;
	}
	p->resp.status = status_of_word(word, len);
	if (!token_save(p, &p->resp.name, &p->resp.name_len))
		return STEP_ERROR;
	skip_word_space(s, i, used);
	p->state = p->resp.status != IMAP_STATUS_NONE ? ST_RESP_TEXT
						      : ST_VALUE_START;
	return STEP_GO;
}

static enum step on_name_word(struct imap_parser *p, const unsigned char *s,
			      size_t n, size_t *used)
{
	bool ok;
	size_t i = take_run(p, s, n, is_name_char, IMAP_NAME_MAX,
			    "response name", &ok);
	*used = i;
	if (!ok)
		return STEP_ERROR;
	if (i == n)
		return STEP_GO;
	if (check_word_end(p, s, i, "in a response name") == STEP_ERROR)
		return STEP_ERROR;
	if (!token_save(p, &p->resp.name, &p->resp.name_len))
		return STEP_ERROR;
	skip_word_space(s, i, used);
	p->state = ST_VALUE_START;
	return STEP_GO;
}

static enum step on_resp_text(struct imap_parser *p, const unsigned char *s,
			      size_t *used)
{
	token_reset(p);
	if (s[0] == '[') {
		*used = 1;
		p->resp.has_code = true;
		p->state = ST_CODE_NAME;
	} else {
		p->state = ST_TEXT;
	}
	return STEP_GO;
}

static enum step on_code_name(struct imap_parser *p, const unsigned char *s,
			      size_t n, size_t *used)
{
	bool ok;
	size_t i = take_run(p, s, n, is_name_char, IMAP_NAME_MAX,
			    "response code name", &ok);
	*used = i;
	if (!ok)
		return STEP_ERROR;
	if (i == n)
		return STEP_GO;
	if (s[i] != ' ' && s[i] != ']')
		return fail_byte(p, s[i], "in a response code name");
	if (p->token.len == 0)
		return fail(p, "empty response code \"[]\"");
	if (!token_save(p, &p->resp.code, &p->resp.code_len))
		return STEP_ERROR;
	*used = i + 1;
	token_reset(p);
	if (s[i] == ']') {
		p->resp.code_text = "";
		p->resp.code_args_valid = true;
		p->state = ST_CODE_END;
	} else {
		p->state = ST_CODE_ARGS;
	}
	return STEP_GO;
}

static enum step on_code_args(struct imap_parser *p, const unsigned char *s,
			      size_t n, size_t *used)
{
	size_t i = 0;
	while (i < n && s[i] != ']' && !is_line_end(s[i]) && s[i] != '\0')
		i++;
	*used = i;
	if (!token_append(p, s, i, p->limits.max_atom_len,
			  "response code arguments"))
		return STEP_ERROR;
	if (i == n)
		return STEP_GO;
	if (s[i] == '\0')
		return fail(p, "NUL byte in a response code");
	if (s[i] != ']')
		return fail(p, "response code not closed by \"]\"");
	if (!token_save(p, &p->resp.code_text, &p->resp.code_text_len) ||
	    !tokenize_code_args(p))
		return STEP_ERROR;
	*used = i + 1;
	p->state = ST_CODE_END;
	return STEP_GO;
}

static enum step on_code_end(struct imap_parser *p, const unsigned char *s,
			     size_t *used)
{
	if (s[0] == ' ')
		*used = 1;
	token_reset(p);
	p->state = ST_TEXT;
	return STEP_GO;
}

static enum step on_text(struct imap_parser *p, const unsigned char *s,
			 size_t n, size_t *used)
{
	size_t i = 0;
	while (i < n && !is_line_end(s[i]) && s[i] != '\0')
		i++;
	*used = i;
	if (!token_append(p, s, i, p->limits.max_line_len, "response text"))
		return STEP_ERROR;
	if (i == n)
		return STEP_GO;
	if (s[i] == '\0')
		return fail(p, "NUL byte in response text");
	if (!token_save(p, &p->resp.text, &p->resp.text_len))
		return STEP_ERROR;
	return line_end(p, s[i], used);
}

static enum step on_value_start(struct imap_parser *p, const unsigned char *s,
				size_t *used)
{
	unsigned char c = s[0];
	*used = 1;
	switch (c) {
	case ' ':
		return STEP_GO;
	case '(':
		return open_list(p) ? STEP_GO : STEP_ERROR;
	case ')':
		if (!close_list(p))
			return STEP_ERROR;
		p->state = ST_AFTER_VALUE;
		return STEP_GO;
	case '"':
		token_reset(p);
		p->state = ST_QUOTED;
		return STEP_GO;
	case '{':
		p->literal_size = 0;
		p->literal_digits = 0;
		p->literal_plus = false;
		p->state = ST_LITERAL_SIZE;
		return STEP_GO;
	case '\r':
	case '\n':
		*used = 0;
		return values_line_end(p, c, used);
	default:
		break;
	}
	*used = 0;
	if (!is_atom_char(c))
		return fail_byte(p, c, "where a value should start");
	token_reset(p);
	p->state = ST_ATOM;
	return STEP_GO;
}

static enum step on_after_value(struct imap_parser *p, const unsigned char *s,
				size_t *used)
{
	unsigned char c = s[0];
	if (c == ' ') {
		*used = 1;
		p->state = ST_VALUE_START;
		return STEP_GO;
	}
	if (c == ')') {
		*used = 1;
		return close_list(p) ? STEP_GO : STEP_ERROR;
	}
	/* Lists may follow a list without a space: NAMESPACE's
	   (("" "/")("#shared/" "/")) and multipart BODYSTRUCTUREs. */
	if (c == '(' && p->stack_len &&
	    p->stack[p->stack_len - 1].type == IMAP_VALUE_LIST) {
		*used = 1;
		p->state = ST_VALUE_START;
		return open_list(p) ? STEP_GO : STEP_ERROR;
	}
	if (is_line_end(c))
		return values_line_end(p, c, used);
	return fail_byte(p, c, "after a value (expected a space, \")\" or "
			       "the end of the line)");
}

static enum step on_atom(struct imap_parser *p, const unsigned char *s,
			 size_t n, size_t *used)
{
	size_t i = 0;
	while (i < n && s[i] != '[' && is_atom_char(s[i]))
		i++;
	bool section = i < n && s[i] == '[';
	size_t take = section ? i + 1 : i;
	*used = take;
	if (!token_append(p, s, take, p->limits.max_atom_len, "atom"))
		return STEP_ERROR;
	if (section) {
		p->state = ST_SECTION;
		return STEP_GO;
	}
	if (i == n)
		return STEP_GO;
	if (!push_atom(p, p->token.data, p->token.len))
		return STEP_ERROR;
	p->state = ST_AFTER_VALUE;
	return STEP_GO;
}

static enum step on_section(struct imap_parser *p, const unsigned char *s,
			    size_t n, size_t *used)
{
	size_t i = 0;
	while (i < n && s[i] >= 0x20 && s[i] < 0x7f && s[i] != '[' &&
	       s[i] != ']')
		i++;
	bool closed = i < n && s[i] == ']';
	size_t take = closed ? i + 1 : i;
	*used = take;
	if (!token_append(p, s, take, p->limits.max_atom_len, "atom"))
		return STEP_ERROR;
	if (closed) {
		p->state = ST_ATOM;
		return STEP_GO;
	}
	if (i == n)
		return STEP_GO;
	if (is_line_end(s[i]))
		return fail(p, "\"[\" section not closed before the end of "
			       "the line");
	return fail_byte(p, s[i], "inside a \"[...]\" section");
}

static enum step on_quoted(struct imap_parser *p, const unsigned char *s,
			   size_t n, size_t *used)
{
	size_t i = 0;
	while (i < n && s[i] != '"' && s[i] != '\\' && !is_line_end(s[i]) &&
	       s[i] != '\0')
		i++;
	*used = i;
	if (!token_append(p, s, i, p->limits.max_quoted_len, "quoted string"))
		return STEP_ERROR;
	if (i == n)
		return STEP_GO;
	*used = i + 1;
	if (s[i] == '\\') {
		p->state = ST_QUOTED_ESC;
		return STEP_GO;
	}
	if (s[i] == '\0')
		return fail(p, "NUL byte in a quoted string");
	if (is_line_end(s[i]))
		return fail(p, "quoted string not closed before the end of "
			       "the line");
	const char *str;
	size_t len;
	if (!token_save(p, &str, &len))
		return STEP_ERROR;
	struct imap_value *value = push_value(p, IMAP_VALUE_QUOTED);
	if (!value)
		return STEP_ERROR;
	value->str = str;
	value->len = len;
	p->state = ST_AFTER_VALUE;
	return STEP_GO;
}

static enum step on_quoted_esc(struct imap_parser *p, const unsigned char *s,
			       size_t *used)
{
	if (s[0] != '"' && s[0] != '\\')
		return fail_byte(p, s[0], "after \"\\\" in a quoted string "
					  "(only \\\" and \\\\ are escapes)");
	*used = 1;
	if (!token_append(p, s, 1, p->limits.max_quoted_len, "quoted string"))
		return STEP_ERROR;
	p->state = ST_QUOTED;
	return STEP_GO;
}

static enum step on_literal_size(struct imap_parser *p, const unsigned char *s,
				 size_t *used)
{
	unsigned char c = s[0];
	*used = 1;
	if (is_digit(c) && !p->literal_plus) {
		unsigned digit = (unsigned)(c - '0');
		if (++p->literal_digits > LITERAL_DIGITS_MAX)
			return fail(p, "literal size has more than %d digits",
				    LITERAL_DIGITS_MAX);
		if (p->literal_size > (UINT64_MAX - digit) / 10)
			return fail(p, "literal size is too large");
		p->literal_size = p->literal_size * 10 + digit;
		if (p->literal_size > p->limits.max_stream_len)
			return fail(p, "literal of more than %llu bytes",
				    (unsigned long long)p->limits.max_stream_len);
		return STEP_GO;
	}
	if (c == '+' && p->literal_digits && !p->literal_plus) {
		p->literal_plus = true;
		return STEP_GO;
	}
	if (c == '}' && p->literal_digits) {
		p->state = ST_LITERAL_CRLF;
		return STEP_GO;
	}
	return fail_byte(p, c, "in a literal's size \"{N}\"");
}

static enum step finish_literal(struct imap_parser *p)
{
	p->literal_data[p->literal_have] = '\0';
	struct imap_value *value = push_value(p, IMAP_VALUE_LITERAL);
	if (!value)
		return STEP_ERROR;
	value->str = p->literal_data;
	value->len = p->literal_have;
	p->state = ST_AFTER_VALUE;
	return STEP_GO;
}

/* The literal's "{N}CRLF" is read: stream it or get ready to keep it. */
static enum step begin_literal(struct imap_parser *p)
{
	uint64_t size = p->literal_size;
	if (p->want_stream) {
		show_open_lists(p);
		bool stream = p->want_stream(p->stream_ctx, &p->resp, size);
		p->resp.values = NULL;
		p->resp.value_count = 0;
		if (stream) {
			struct imap_value *value =
				push_value(p, IMAP_VALUE_STREAMED);
			if (!value)
				return STEP_ERROR;
			value->number = size;
			p->stream_size = size;
			p->state = ST_AFTER_VALUE;
			return STEP_STREAM;
		}
	}
	if (size > p->limits.max_literal_len)
		return fail(p, "literal of %llu bytes is over the %zu-byte limit "
			       "for literals kept in memory",
			    (unsigned long long)size, p->limits.max_literal_len);
	if (size > p->limits.max_literal_total - p->literal_total)
		return fail(p, "literals kept in memory add up to more than "
			       "%zu bytes", p->limits.max_literal_total);
	if (size >= SIZE_MAX - ARENA_ALIGN)
		return fail_oom(p);
	p->literal_total += size;
	p->literal_data = arena_alloc(p, (size_t)size + 1);
	if (!p->literal_data)
		return fail_oom(p);
	p->literal_have = 0;
	p->state = ST_LITERAL_DATA;
	/* A literal of size 0 is complete as soon as its header is. */
	return size == 0 ? finish_literal(p) : STEP_GO;
}

static enum step on_literal_crlf(struct imap_parser *p, const unsigned char *s,
				 size_t *used)
{
	*used = 1;
	if (s[0] == '\r') {
		p->state = ST_LF;
		p->lf_next = LF_LITERAL;
		return STEP_GO;
	}
	if (s[0] == '\n')
		return begin_literal(p);
	return fail_byte(p, s[0], "after a literal's \"{N}\" (expected CRLF)");
}

static enum step on_literal_data(struct imap_parser *p, const unsigned char *s,
				 size_t n, size_t *used)
{
	size_t want = (size_t)p->literal_size - p->literal_have;
	size_t take = n < want ? n : want;
	memcpy(p->literal_data + p->literal_have, s, take);
	p->literal_have += take;
	*used = take;
	return STEP_GO;
}

static enum step on_lf(struct imap_parser *p, const unsigned char *s,
		       size_t *used)
{
	if (s[0] != '\n')
		return fail(p, "CR not followed by LF");
	*used = 1;
	if (p->lf_next == LF_LITERAL)
		return begin_literal(p);
	return finish_response(p);
}

static enum step step(struct imap_parser *p, const unsigned char *s, size_t n,
		      size_t *used)
{
	*used = 0;
	switch (p->state) {
	case ST_START: return on_start(p, s, used);
	case ST_STAR_SP: return on_star_sp(p, s, used);
	case ST_CONT: return on_cont(p, s, used);
	case ST_TAG: return on_tag(p, s, n, used);
	case ST_STATUS_WORD: return on_status_word(p, s, n, used);
	case ST_UNTAGGED_WORD: return on_untagged_word(p, s, n, used);
	case ST_NAME_WORD: return on_name_word(p, s, n, used);
	case ST_RESP_TEXT: return on_resp_text(p, s, used);
	case ST_CODE_NAME: return on_code_name(p, s, n, used);
	case ST_CODE_ARGS: return on_code_args(p, s, n, used);
	case ST_CODE_END: return on_code_end(p, s, used);
	case ST_TEXT: return on_text(p, s, n, used);
	case ST_VALUE_START: return on_value_start(p, s, used);
	case ST_AFTER_VALUE: return on_after_value(p, s, used);
	case ST_ATOM: return on_atom(p, s, n, used);
	case ST_SECTION: return on_section(p, s, n, used);
	case ST_QUOTED: return on_quoted(p, s, n, used);
	case ST_QUOTED_ESC: return on_quoted_esc(p, s, used);
	case ST_LITERAL_SIZE: return on_literal_size(p, s, used);
	case ST_LITERAL_CRLF: return on_literal_crlf(p, s, used);
	case ST_LITERAL_DATA: return on_literal_data(p, s, n, used);
	case ST_LF: return on_lf(p, s, used);
	}
	return fail_internal(p, "parser in an unknown state");
}

/* --- the public interface --- */

void imap_parser_limits_default(struct imap_parser_limits *limits)
{
	limits->max_line_len = 4u << 20;
	limits->max_atom_len = 1u << 20;
	limits->max_quoted_len = 64u << 10;
	limits->max_literal_len = 1u << 20;
	limits->max_literal_total = 16u << 20;
	limits->max_stream_len = 1ull << 40;
	limits->max_depth = 16;
	limits->max_list_items = 100000;
	limits->max_values = 200000;
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits,
				    imap_want_stream_fn *want_stream, void *ctx)
{
	struct imap_parser *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (limits)
		p->limits = *limits;
	else
		imap_parser_limits_default(&p->limits);
	if (p->limits.max_depth > DEPTH_CEILING)
		p->limits.max_depth = DEPTH_CEILING;
	p->frames = calloc((size_t)p->limits.max_depth + 1, sizeof(*p->frames));
	if (!p->frames) {
		free(p);
		return NULL;
	}
	p->want_stream = want_stream;
	p->stream_ctx = ctx;
	yb_error_clear(&p->err);
	begin_response(p);
	return p;
}

void imap_parser_free(struct imap_parser *parser)
{
	if (!parser)
		return;
	struct arena_chunk *chunk = parser->chunks;
	while (chunk) {
		struct arena_chunk *next = chunk->next;
		free(chunk);
		chunk = next;
	}
	free(parser->stack);
	free(parser->frames);
	free(parser->token.data);
	free(parser);
}

enum imap_parse_status imap_parser_feed(struct imap_parser *p,
					const char *data, size_t len,
					size_t *consumed)
{
	*consumed = 0;
	if (p->failed)
		return IMAP_PARSE_ERROR;
	if (p->streaming) {
		fail_internal(p, "fed while a streamed literal is pending");
		return IMAP_PARSE_ERROR;
	}
	if (p->complete)
		begin_response(p);
	const unsigned char *bytes = (const unsigned char *)data;
	size_t pos = 0;
	while (pos < len) {
		bool in_literal = p->state == ST_LITERAL_DATA;
		size_t used = 0;
		enum step result = step(p, bytes + pos, len - pos, &used);
		pos += used;
		if (in_literal && p->literal_have == p->literal_size)
			result = finish_literal(p);
		if (!in_literal && result != STEP_ERROR) {
			p->line_len += used;
			if (p->line_len > p->limits.max_line_len)
				result = fail(p, "longer than %zu bytes "
						 "outside literals",
					      p->limits.max_line_len);
		}
		*consumed = pos;
		switch (result) {
		case STEP_GO:
			break;
		case STEP_COMPLETE:
			p->complete = true;
			return IMAP_PARSE_COMPLETE;
		case STEP_STREAM:
			p->streaming = true;
			return IMAP_PARSE_STREAM_LITERAL;
		case STEP_ERROR:
			p->failed = true;
			return IMAP_PARSE_ERROR;
		}
	}
	return IMAP_PARSE_NEED_MORE;
}

const struct imap_response *imap_parser_response(const struct imap_parser *parser)
{
	return parser->complete ? &parser->resp : NULL;
}

uint64_t imap_parser_stream_size(const struct imap_parser *parser)
{
	return parser->streaming ? parser->stream_size : 0;
}

void imap_parser_literal_done(struct imap_parser *parser)
{
	if (!parser->streaming) {
		if (!parser->failed)
			fail_internal(parser, "literal_done without a streamed "
					      "literal");
		return;
	}
	parser->streaming = false;
}

const struct yb_error *imap_parser_error(const struct imap_parser *parser)
{
	return &parser->err;
}

void imap_parser_reset(struct imap_parser *parser)
{
	parser->failed = false;
	parser->streaming = false;
	yb_error_clear(&parser->err);
	begin_response(parser);
}

/* --- helpers --- */

bool imap_word_equals(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

bool imap_response_is(const struct imap_response *resp, const char *word)
{
	return resp->name && imap_word_equals(resp->name, resp->name_len, word);
}

bool imap_value_is_atom(const struct imap_value *v, const char *word)
{
	return v->type == IMAP_VALUE_ATOM && imap_word_equals(v->str, v->len, word);
}

bool imap_value_astring(const struct imap_value *v, const char **s, size_t *len)
{
	switch (v->type) {
	case IMAP_VALUE_ATOM:
	case IMAP_VALUE_NUMBER:
	case IMAP_VALUE_NIL:
	case IMAP_VALUE_QUOTED:
	case IMAP_VALUE_LITERAL:
		*s = v->str;
		*len = v->len;
		return true;
	case IMAP_VALUE_LIST:
	case IMAP_VALUE_STREAMED:
		break;
	}
	return false;
}
