/* json.c - JSON text for --json. */
#include "config.h"

#include "json.h"

#include <stdint.h>
#include <string.h>

#include "text.h"

/*
 * A JSON string: quotes, backslashes and control characters escaped;
 * UTF-8 as it is, and each byte that is not UTF-8 (a server's Latin-1, a
 * name cut in the middle of a character) as U+FFFD, so that the whole
 * stays valid JSON.
 */
void json_write_string(FILE *out, const char *text)
{
	size_t len = strlen(text), pos = 0;
	putc('"', out);
	while (pos < len) {
		unsigned char byte = (unsigned char)text[pos];
		size_t start = pos;
		uint32_t code_point;
		if (byte == '"' || byte == '\\') {
			fprintf(out, "\\%c", byte);
			pos++;
		} else if (byte < 0x20 || byte == 0x7f) {
			fprintf(out, "\\u%04x", byte);
			pos++;
		} else if (text_utf8_next(text, len, &pos, &code_point)) {
			fwrite(text + start, 1, pos - start, out);
		} else {
			fputs("\\ufffd", out);
			pos++;
		}
	}
	putc('"', out);
}
