/*
 * import_lex.c - lines and words of another tool's configuration file.
 */
#include "config.h"

#include "import_lex.h"

#include <string.h>
#include <strings.h>

#include "import_model.h"

void import_cursor_init(struct import_cursor *cursor, const char *text, size_t len)
{
	cursor->at = text;
	cursor->end = text + len;
	cursor->number = 0;
}

bool import_next_line(struct import_cursor *cursor, struct import_line *line)
{
	if (cursor->at >= cursor->end)
		return false;
	const char *start = cursor->at;
	const char *newline = memchr(start, '\n', (size_t)(cursor->end - start));
	const char *stop = newline ? newline : cursor->end;
	cursor->at = newline ? newline + 1 : cursor->end;
	line->text = start;
	line->len = (size_t)(stop - start);
	if (line->len > 0 && start[line->len - 1] == '\r')
		line->len--;
	line->number = ++cursor->number;
	return true;
}

int import_check_text(const char *source, const char *text, size_t len,
		      struct yb_error *err)
{
	if (memchr(text, '\0', len))
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s: holds a NUL byte; is this a configuration file?", source);
	struct import_cursor cursor;
	struct import_line line;
	import_cursor_init(&cursor, text, len);
	while (import_next_line(&cursor, &line))
		if (line.len > IMPORT_LINE_MAX)
			return yb_fail(err, YB_ERR_CONFIG,
				       "%s:%u: line longer than %d bytes", source,
				       line.number, IMPORT_LINE_MAX);
	return YB_OK;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

void import_trim(const char **text, size_t *len)
{
	while (*len > 0 && is_blank(**text)) {
		(*text)++;
		(*len)--;
	}
	while (*len > 0 && is_blank((*text)[*len - 1]))
		(*len)--;
}

bool import_word_is(const char *text, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(text, word, len) == 0;
}

static char escaped(char c)
{
	if (c == 'n')
		return '\n';
	if (c == 't')
		return '\t';
	return c;
}

/* The quoted word that starts after the quote at text[*pos - 1]. */
static int quoted_word(const char *text, size_t len, size_t *pos, char *out,
		       size_t *out_len)
{
	size_t n = 0;
	while (*pos < len && text[*pos] != '"') {
		char c = text[(*pos)++];
		if (c == '\\') {
			if (*pos >= len)
				return -1;
			c = escaped(text[(*pos)++]);
		}
		out[n++] = c;
	}
	if (*pos >= len)
		return -1;
	(*pos)++;
	out[n] = '\0';
	*out_len = n;
	return 1;
}

int import_next_word(const char *text, size_t len, size_t *pos,
		     const char *separators, char *out, size_t *out_len,
		     bool *quoted)
{
	while (*pos < len && (is_blank(text[*pos]) || text[*pos] == '\n' ||
			      strchr(separators, text[*pos])))
		(*pos)++;
	if (*pos >= len)
		return 0;
	*quoted = text[*pos] == '"';
	if (*quoted) {
		(*pos)++;
		return quoted_word(text, len, pos, out, out_len);
	}
	size_t n = 0;
	while (*pos < len && !is_blank(text[*pos]) && text[*pos] != '\n' &&
	       !strchr(separators, text[*pos]))
		out[n++] = text[(*pos)++];
	out[n] = '\0';
	*out_len = n;
	return 1;
}

bool import_unquote(const char *text, size_t len, char *out, size_t *out_len)
{
	if (len == 0 || text[0] != '"') {
		memcpy(out, text, len);
		out[len] = '\0';
		*out_len = len;
		return true;
	}
	size_t pos = 1;
	if (quoted_word(text, len, &pos, out, out_len) != 1)
		return false;
	return pos == len;
}
