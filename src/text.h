/*
 * text.h - small pure helpers for text that came from outside.
 */
#ifndef YUBIN_TEXT_H
#define YUBIN_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Copy src[0..srclen) into dst (size dstsize, always NUL-terminated) so it
 * is safe to print on a terminal: bytes outside 0x20..0x7e become \xHH,
 * and text that does not fit ends in "...".  For server replies, folder
 * names and file contents in messages and logs.
 */
void text_sanitize(char *dst, size_t dstsize, const char *src, size_t srclen);

/* Case-insensitive ASCII prefix test on a length-bounded buffer. */
bool text_has_prefix_ci(const char *buf, size_t len, const char *prefix);

/*
 * Parse a decimal unsigned number of len bytes (no sign, no spaces);
 * false on empty input, a non-digit or overflow past max.
 */
bool text_parse_u64(const char *buf, size_t len, unsigned long long max,
		    unsigned long long *out);

#endif
