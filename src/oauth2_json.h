/*
 * oauth2_json.h - reading the flat JSON objects of OAuth2: a token
 * endpoint's reply, a device authorization reply, and our own token
 * cache.  JSON is YAML, so libyaml parses it; this only picks the members
 * the caller names and ignores the rest.  Pure: bytes in, fields out.
 *
 * The caller describes its struct with a table of fields; strings land in
 * char * members (malloc'd, owned by the caller, NULL when absent or
 * JSON null), numbers in struct oauth2_json_uint members.  Every scalar
 * the parser saw is wiped before libyaml frees it, since replies hold
 * tokens.
 */
#ifndef YUBIN_OAUTH2_JSON_H
#define YUBIN_OAUTH2_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Caps for hostile replies; a real one is far below each. */
#define OAUTH2_JSON_MAX_BYTES (64 * 1024)
#define OAUTH2_JSON_MAX_DEPTH 16

enum oauth2_json_kind {
	OAUTH2_JSON_STRING, /* char *; a JSON string (or a bare number) */
	OAUTH2_JSON_UINT,   /* struct oauth2_json_uint; a number or a
			       string of digits ("3599" is common) */
};

struct oauth2_json_uint {
	bool present;
	unsigned long long value;
};

struct oauth2_json_field {
	const char *name;
	enum oauth2_json_kind kind;
	size_t offset; /* of the member in the caller's struct */
};

/*
 * Parse text[0..len) as one JSON object and fill the named members of
 * out (which must start zeroed).  Returns true, or false with why set to
 * a short printable reason ("not a JSON object", "expires_in is not a
 * number").  On failure members already filled stay filled: the caller
 * frees them as usual.  Numbers above max_uint are refused.
 */
bool oauth2_json_parse(const char *text, size_t len,
		       const struct oauth2_json_field *fields, size_t count,
		       unsigned long long max_uint, void *out, char *why,
		       size_t why_size);

/* Wipe and free every string member of out named in fields. */
void oauth2_json_free(const struct oauth2_json_field *fields, size_t count,
		      void *out);

/*
 * Append s as a JSON string (quotes, escapes) to buf[*len..size); false
 * when it does not fit.  For writing the cache.
 */
bool oauth2_json_put_string(char *buf, size_t size, size_t *len,
			    const char *s);

#endif
