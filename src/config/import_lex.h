/*
 * import_lex.h - lines and words of another tool's configuration file,
 * for the --import parsers.  Pure functions over bytes; the text was
 * checked already (no NUL byte, no line over IMPORT_LINE_MAX).
 */
#ifndef YUBIN_IMPORT_LEX_H
#define YUBIN_IMPORT_LEX_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* One line, without its line ending (LF or CRLF). */
struct import_line {
	const char *text;
	size_t len;
	unsigned number; /* 1-based */
};

/* Where a parser is in the text. */
struct import_cursor {
	const char *at, *end;
	unsigned number; /* of the last line returned */
};

void import_cursor_init(struct import_cursor *cursor, const char *text, size_t len);

/* The next line into *line; false at the end of the text. */
bool import_next_line(struct import_cursor *cursor, struct import_line *line);

/*
 * Whether text has no NUL byte and no line over IMPORT_LINE_MAX bytes;
 * else err says where (YB_ERR_CONFIG, "SOURCE:LINE: ...").
 */
int import_check_text(const char *source, const char *text, size_t len,
		      struct yb_error *err);

/* text without leading and trailing blanks (spaces, tabs, CR). */
void import_trim(const char **text, size_t *len);

/* Whether text[0..len) is word, without regard to case. */
bool import_word_is(const char *text, size_t len, const char *word);

/*
 * The next word of text[*pos..len) into out (size at least len + 1):
 * blanks and the bytes of separators end a word and are skipped, and a
 * word may be written in double quotes, in which \" and \\ stand for "
 * and \, \n and \t for a newline and a tab, and any other \x for x.
 * Returns 1 for a word (*quoted says whether it was), 0 at the end, -1
 * for a quote that is not closed.
 */
int import_next_word(const char *text, size_t len, size_t *pos,
		     const char *separators, char *out, size_t *out_len,
		     bool *quoted);

/*
 * A value that may be written in double quotes (mpop, mbsync): the
 * quotes taken off and escapes read as import_next_word does.  false
 * for a quote that is not closed or text after the closing one.
 */
bool import_unquote(const char *text, size_t len, char *out, size_t *out_len);

#endif
