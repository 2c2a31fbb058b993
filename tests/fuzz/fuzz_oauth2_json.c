/*
 * fuzz_oauth2_json.c - a token endpoint's reply through the strict JSON
 * reader.
 *
 * Input: the reply, as it came over HTTPS (no parameter bytes).
 *
 * Checked (oauth2_json.h):
 *   - a refusal says why, in printable ASCII;
 *   - an accepted reply gives strings that are NUL-terminated, UTF-8
 *     and NUL-free, and numbers no larger than max_uint;
 *   - the same input read again gives the same fields;
 *   - every string read, written back with oauth2_json_put_string as
 *     the only member of an object, reads back exactly.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "oauth2_json.h"
#include "text.h"

#define MAX_UINT 1000000000ull

struct reply {
	char *access_token;
	char *refresh_token;
	char *token_type;
	char *error;
	struct oauth2_json_uint expires_in;
	struct oauth2_json_uint interval;
};

#define AT(member) offsetof(struct reply, member)

static const struct oauth2_json_field fields[] = {
	{ "access_token", OAUTH2_JSON_STRING, AT(access_token) },
	{ "refresh_token", OAUTH2_JSON_STRING, AT(refresh_token) },
	{ "token_type", OAUTH2_JSON_STRING, AT(token_type) },
	{ "error", OAUTH2_JSON_STRING, AT(error) },
	{ "expires_in", OAUTH2_JSON_UINT, AT(expires_in) },
	{ "interval", OAUTH2_JSON_UINT, AT(interval) },
};

#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))

static char **string_at(struct reply *reply, size_t i)
{
	return (char **)(void *)((char *)reply + fields[i].offset);
}

static struct oauth2_json_uint *uint_at(struct reply *reply, size_t i)
{
	return (struct oauth2_json_uint *)(void *)((char *)reply + fields[i].offset);
}

static bool is_utf8(const char *s, size_t len)
{
	size_t pos = 0;
	uint32_t cp;
	while (pos < len)
		if (!text_utf8_next(s, len, &pos, &cp))
			return false;
	return true;
}

static bool parse(const uint8_t *data, size_t size, struct reply *reply)
{
	char why[128];
	memset(reply, 0, sizeof(*reply));
	memset(why, 'x', sizeof(why));
	bool ok = oauth2_json_parse((const char *)data, size, fields,
				    FIELD_COUNT, MAX_UINT, reply, why,
				    sizeof(why));
	if (!ok) {
		FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL);
		FUZZ_CHECK(why[0] != '\0' && fuzz_printable(why, strlen(why)));
	}
	return ok;
}

static uint64_t digest(struct reply *reply)
{
	uint64_t hash = FUZZ_HASH_INIT;
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		if (fields[i].kind == OAUTH2_JSON_UINT) {
			const struct oauth2_json_uint *n = uint_at(reply, i);
			hash = fuzz_hash_u64(hash, n->present);
			hash = fuzz_hash_u64(hash, n->present ? n->value : 0);
		} else {
			const char *s = *string_at(reply, i);
			hash = fuzz_hash_u64(hash, s != NULL);
			if (s)
				hash = fuzz_hash(hash, s, strlen(s) + 1);
		}
	}
	return hash;
}

/* {"NAME":<s quoted>} reads back as s. */
static void check_written_back(size_t i, const char *s)
{
	size_t len = strlen(s);
	size_t size = len * 6 + 64;
	char *text = malloc(size);
	FUZZ_CHECK(text != NULL);
	size_t used = (size_t)snprintf(text, size, "{\"%s\":", fields[i].name);
	FUZZ_CHECK(oauth2_json_put_string(text, size, &used, s));
	FUZZ_CHECK(used + 1 < size);
	text[used++] = '}';
	struct reply again;
	if (!parse((const uint8_t *)text, used, &again))
		fuzz_fail("oauth2_json_put_string wrote %s so that it is refused",
			  fields[i].name);
	const char *back = *string_at(&again, i);
	FUZZ_CHECK(back != NULL && strcmp(back, s) == 0);
	oauth2_json_free(fields, FIELD_COUNT, &again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply reply, again;
	bool ok = parse(data, size, &reply);
	bool ok_again = parse(data, size, &again);
	FUZZ_CHECK(ok == ok_again);
	if (ok) {
		FUZZ_CHECK(digest(&reply) == digest(&again));
		for (size_t i = 0; i < FIELD_COUNT; i++) {
			if (fields[i].kind == OAUTH2_JSON_UINT) {
				const struct oauth2_json_uint *n = uint_at(&reply, i);
				FUZZ_CHECK(!n->present || n->value <= MAX_UINT);
				continue;
			}
			const char *s = *string_at(&reply, i);
			if (!s)
				continue;
			FUZZ_CHECK(is_utf8(s, strlen(s)));
			if (size <= OAUTH2_JSON_MAX_BYTES / 8)
				check_written_back(i, s);
		}
	}
	oauth2_json_free(fields, FIELD_COUNT, &reply);
	oauth2_json_free(fields, FIELD_COUNT, &again);
	return 0;
}
