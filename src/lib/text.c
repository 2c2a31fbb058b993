/* text.c - sanitizing and parsing text from servers and files. */
#include "config.h"

#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void text_sanitize(char *dst, size_t dstsize, const char *src, size_t srclen)
{
	if (dstsize == 0)
		return;
	size_t out = 0;
	for (size_t i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];
		size_t need = (c >= 0x20 && c <= 0x7e) ? 1 : 4;
		if (out + need + 1 > dstsize) {
			if (dstsize >= 4) {
				size_t at = out < dstsize - 4 ? out : dstsize - 4;
				memcpy(dst + at, "...", 4);
				return;
			}
			break;
		}
		if (need == 1)
			dst[out++] = (char)c;
		else {
			snprintf(dst + out, 5, "\\x%02x", c);
			out += 4;
		}
	}
	dst[out] = '\0';
}

bool text_has_prefix_ci(const char *buf, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);
	return len >= plen && strncasecmp(buf, prefix, plen) == 0;
}

bool text_parse_u64(const char *buf, size_t len, unsigned long long max,
		    unsigned long long *out)
{
	if (len == 0)
		return false;
	/* Up to 19 digits cannot overflow 64 bits: max is checked once, at
	   the end; longer numbers check value * 10 + digit <= max at each
	   digit, without a division. */
	bool short_number = len <= 19;
	unsigned long long whole_tens = max / 10, last_digit = max % 10;
	unsigned long long value = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return false;
		unsigned digit = (unsigned)(buf[i] - '0');
		if (!short_number && (value > whole_tens ||
				      (value == whole_tens && digit > last_digit)))
			return false;
		value = value * 10 + digit;
	}
	if (value > max)
		return false;
	*out = value;
	return true;
}

bool text_utf8_next(const char *text, size_t len, size_t *pos, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)text;
	unsigned char c = s[*pos];
	size_t need;
	uint32_t value;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c < 0x80) {
		*cp = c;
		(*pos)++;
		return true;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		value = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		value = c & 0x0f;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		value = c & 0x07;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		return false;
	}
	if (len - *pos <= need)
		return false;
	for (size_t k = 1; k <= need; k++) {
		unsigned char b = s[*pos + k];
		if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf))
			return false;
		value = (value << 6) | (b & 0x3f);
	}
	*cp = value;
	*pos += need + 1;
	return true;
}

int text_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool text_is_segment_name(const char *name, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			  c == '-';
		if (!ok)
			return false;
	}
	return true;
}

bool text_format(char *out, size_t size, const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	int written = vsnprintf(out, size, fmt, args);
	va_end(args);
	return written >= 0 && (size_t)written < size;
}

int text_base64_value(unsigned char c, char digit63)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == (unsigned char)digit63)
		return 63;
	return -1;
}
