/*
 * text.h - small pure helpers for text that came from outside.
 */
#ifndef YUBIN_TEXT_H
#define YUBIN_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/*
 * The code point at s[*pos] (*pos < len), strict UTF-8: no overlong
 * forms, no surrogates, nothing above U+10FFFF, no truncated sequence
 * (a NUL byte is U+0000; callers refuse it where they must).  Advances
 * *pos past it; false, with *pos unchanged, for invalid input.
 */
/* The value of a hexadecimal digit, or -1. */
int text_hex_value(char c);

/*
 * A name that can be one path or URL segment: 1 to max of A-Z a-z 0-9
 * . _ -, and neither "." nor "..".
 */
bool text_is_segment_name(const char *name, size_t len, size_t max);

bool text_utf8_next(const char *s, size_t len, size_t *pos, uint32_t *cp);

/*
 * The value (0-63) of a base64 digit, or -1: the 63rd digit is '/' in
 * base64 (RFC 4648) and ',' in IMAP's modified UTF-7 (RFC 3501 5.1.3).
 */
int text_base64_value(unsigned char c, char digit63);

/*
 * snprintf that says whether all of it fit: false when out is too small
 * (out then holds a cut prefix, still NUL-terminated) or the format
 * failed.  For paths and commands, where a cut one must never be used.
 */
bool text_format(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
