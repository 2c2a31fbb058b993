/*
 * json.h - writing JSON for --json: the one place that escapes a string.
 */
#ifndef YUBIN_JSON_H
#define YUBIN_JSON_H

#include <stdio.h>

/*
 * A JSON string to out: quotes, backslashes and control characters
 * escaped; UTF-8 as it is, and each byte that is not UTF-8 as U+FFFD, so
 * that the whole stays valid JSON whatever text comes in.
 */
void json_write_string(FILE *out, const char *text);

#endif
