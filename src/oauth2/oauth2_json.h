/*
 * oauth2_json.h - reading the flat JSON objects of OAuth2: a token
 * endpoint's reply, a device authorization reply, and our own token
 * cache.  Strict RFC 8259 JSON (no YAML, no trailing commas, nothing
 * after the object but whitespace); this picks the members the caller
 * names and checks the syntax of the rest.  Pure: bytes in, fields out.
 *
 * The caller describes its struct with a table of fields; strings land in
 * char * members (malloc'd, owned by the caller, NULL when absent or
 * JSON null), numbers in struct oauth2_json_uint members.  A member the
 * caller names that appears twice is refused (even when one is null);
 * duplicates among the others are not looked at, since nothing reads
 * them.  Every decoded string is wiped before its buffer is freed, since
 * replies hold tokens.
 */
#ifndef YUBIN_OAUTH2_JSON_H
#define YUBIN_OAUTH2_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Caps for hostile replies; a real one is far below each. */
#define OAUTH2_JSON_MAX_BYTES (64 * 1024)
#define OAUTH2_JSON_MAX_DEPTH 16
/* Fields one parse can fill (a bit each, to find duplicates). */
#define OAUTH2_JSON_MAX_FIELDS 64

enum oauth2_json_kind {
	OAUTH2_JSON_STRING, /* char *; a JSON string, or a number as it is
			       written; not true, false, an object or array */
	OAUTH2_JSON_UINT,   /* struct oauth2_json_uint; a number written
			       with digits only, or a string of digits
			       ("3599" is common) */
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
 * a short printable reason ("is not a JSON object", "not valid JSON at
 * byte 12: expected ':'").  On failure members already filled stay
 * filled: the caller frees them as usual.  Numbers above max_uint are
 * refused.  count is at most OAUTH2_JSON_MAX_FIELDS.
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
