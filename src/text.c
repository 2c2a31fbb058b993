/* text.c - sanitizing and parsing text from servers and files. */
#include "config.h"

#include "text.h"

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
	unsigned long long value = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return false;
		unsigned digit = (unsigned)(buf[i] - '0');
		if (digit > max || value > (max - digit) / 10)
			return false;
		value = value * 10 + digit;
	}
	*out = value;
	return true;
}
