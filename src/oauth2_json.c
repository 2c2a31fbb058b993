/*
 * oauth2_json.c - flat JSON objects through libyaml's event parser.
 *
 * Events rather than yaml_parser_load(): no document tree holding every
 * token, aliases refused where they appear, and depth bounded before a
 * hostile reply can make us recurse.
 */
#include "config.h"

#include "oauth2_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "text.h"

struct json_reader {
	yaml_parser_t parser;
	const struct oauth2_json_field *fields;
	size_t count;
	unsigned long long max_uint;
	void *out;
	char *why;
	size_t why_size;
};

static bool fail(struct json_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool fail(struct json_reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, r->why_size, fmt, ap);
	va_end(ap);
	return false;
}

/* Wipe what a scalar event carries, then free the event. */
static void event_done(yaml_event_t *event)
{
	if (event->type == YAML_SCALAR_EVENT && event->data.scalar.value)
		OPENSSL_cleanse(event->data.scalar.value,
				event->data.scalar.length);
	yaml_event_delete(event);
}

static bool next_event(struct json_reader *r, yaml_event_t *event)
{
	if (yaml_parser_parse(&r->parser, event))
		return true;
	const char *problem = r->parser.problem ? r->parser.problem : "syntax error";
	return fail(r, "not valid JSON at byte %zu: %s",
		    r->parser.problem_mark.index, problem);
}

/* Skip one value whose first event was event (already taken). */
static bool skip_value(struct json_reader *r, const yaml_event_t *first)
{
	if (first->type == YAML_SCALAR_EVENT)
		return true;
	if (first->type == YAML_ALIAS_EVENT)
		return fail(r, "holds a YAML alias, which JSON has not");
	unsigned depth = 1;
	while (depth > 0) {
		yaml_event_t event;
		if (!next_event(r, &event))
			return false;
		yaml_event_type_t type = event.type;
		event_done(&event);
		if (type == YAML_SEQUENCE_START_EVENT ||
		    type == YAML_MAPPING_START_EVENT) {
			if (++depth > OAUTH2_JSON_MAX_DEPTH)
				return fail(r, "nests deeper than %d",
					    OAUTH2_JSON_MAX_DEPTH);
		} else if (type == YAML_SEQUENCE_END_EVENT ||
			   type == YAML_MAPPING_END_EVENT) {
			depth--;
		} else if (type == YAML_ALIAS_EVENT) {
			return fail(r, "holds a YAML alias, which JSON has not");
		}
	}
	return true;
}

static const struct oauth2_json_field *find_field(const struct json_reader *r,
						  const yaml_event_t *key)
{
	const char *name = (const char *)key->data.scalar.value;
	size_t len = key->data.scalar.length;
	for (size_t i = 0; i < r->count; i++)
		if (strlen(r->fields[i].name) == len &&
		    memcmp(r->fields[i].name, name, len) == 0)
			return &r->fields[i];
	return NULL;
}

/* A plain (unquoted) null is JSON's null: the member counts as absent. */
static bool is_null(const yaml_event_t *value)
{
	return value->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       value->data.scalar.length == 4 &&
	       memcmp(value->data.scalar.value, "null", 4) == 0;
}

static bool store_string(struct json_reader *r,
			 const struct oauth2_json_field *field,
			 const yaml_event_t *value)
{
	char **slot = (char **)(void *)((char *)r->out + field->offset);
	size_t len = value->data.scalar.length;
	const char *text = (const char *)value->data.scalar.value;
	if (*slot)
		return fail(r, "has %s twice", field->name);
	/* A NUL inside would cut a token short without anyone noticing. */
	if (memchr(text, '\0', len))
		return fail(r, "%s holds a NUL byte", field->name);
	char *copy = malloc(len + 1);
	if (!copy)
		return fail(r, "out of memory");
	memcpy(copy, text, len);
	copy[len] = '\0';
	*slot = copy;
	return true;
}

static bool store_uint(struct json_reader *r,
		       const struct oauth2_json_field *field,
		       const yaml_event_t *value)
{
	struct oauth2_json_uint *slot =
		(struct oauth2_json_uint *)(void *)((char *)r->out + field->offset);
	if (slot->present)
		return fail(r, "has %s twice", field->name);
	unsigned long long number;
	if (!text_parse_u64((const char *)value->data.scalar.value,
			    value->data.scalar.length, r->max_uint, &number))
		return fail(r, "%s is not a number from 0 to %llu", field->name,
			    r->max_uint);
	slot->present = true;
	slot->value = number;
	return true;
}

static bool store_value(struct json_reader *r,
			const struct oauth2_json_field *field,
			const yaml_event_t *value)
{
	if (!field)
		return skip_value(r, value);
	if (value->type != YAML_SCALAR_EVENT)
		return fail(r, "%s is not a string or number", field->name) &&
		       skip_value(r, value);
	if (is_null(value))
		return true;
	if (field->kind == OAUTH2_JSON_UINT)
		return store_uint(r, field, value);
	return store_string(r, field, value);
}

/* One member: the key event is taken here, then its value. */
static bool read_member(struct json_reader *r, const yaml_event_t *key)
{
	if (key->type != YAML_SCALAR_EVENT)
		return fail(r, "has a key that is not a string");
	const struct oauth2_json_field *field = find_field(r, key);
	yaml_event_t value;
	if (!next_event(r, &value))
		return false;
	bool ok = store_value(r, field, &value);
	event_done(&value);
	return ok;
}

static bool read_object(struct json_reader *r)
{
	for (;;) {
		yaml_event_t key;
		if (!next_event(r, &key))
			return false;
		if (key.type == YAML_MAPPING_END_EVENT) {
			event_done(&key);
			return true;
		}
		bool ok = read_member(r, &key);
		event_done(&key);
		if (!ok)
			return false;
	}
}

/* Take one event and check its type. */
static bool expect(struct json_reader *r, yaml_event_type_t type,
		   const char *what)
{
	yaml_event_t event;
	if (!next_event(r, &event))
		return false;
	bool ok = event.type == type;
	event_done(&event);
	return ok || fail(r, "%s", what);
}

static bool read_document(struct json_reader *r)
{
	return expect(r, YAML_STREAM_START_EVENT, "is empty") &&
	       expect(r, YAML_DOCUMENT_START_EVENT, "is empty") &&
	       expect(r, YAML_MAPPING_START_EVENT, "is not a JSON object") &&
	       read_object(r) &&
	       expect(r, YAML_DOCUMENT_END_EVENT, "has more than one value") &&
	       expect(r, YAML_STREAM_END_EVENT, "has more than one value");
}

/* libyaml's own copies of the input: wiped before it frees them. */
static void wipe_parser_buffers(yaml_parser_t *parser)
{
	if (parser->raw_buffer.start)
		OPENSSL_cleanse(parser->raw_buffer.start,
				(size_t)(parser->raw_buffer.end -
					 parser->raw_buffer.start));
	if (parser->buffer.start)
		OPENSSL_cleanse(parser->buffer.start,
				(size_t)(parser->buffer.end - parser->buffer.start));
}

bool oauth2_json_parse(const char *text, size_t len,
		       const struct oauth2_json_field *fields, size_t count,
		       unsigned long long max_uint, void *out, char *why,
		       size_t why_size)
{
	struct json_reader r = { .fields = fields, .count = count,
				 .max_uint = max_uint, .out = out, .why = why,
				 .why_size = why_size };
	if (why_size)
		why[0] = '\0';
	if (len > OAUTH2_JSON_MAX_BYTES)
		return fail(&r, "is larger than %d bytes", OAUTH2_JSON_MAX_BYTES);
	/* YAML would read a NUL-free prefix; JSON has no NUL outside strings
	   and libyaml refuses one inside. */
	if (!yaml_parser_initialize(&r.parser))
		return fail(&r, "out of memory");
	yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
	bool ok = read_document(&r);
	wipe_parser_buffers(&r.parser);
	yaml_parser_delete(&r.parser);
	return ok;
}

void oauth2_json_free(const struct oauth2_json_field *fields, size_t count,
		      void *out)
{
	for (size_t i = 0; i < count; i++) {
		if (fields[i].kind != OAUTH2_JSON_STRING)
			continue;
		char **slot = (char **)(void *)((char *)out + fields[i].offset);
		if (*slot)
			OPENSSL_cleanse(*slot, strlen(*slot));
		free(*slot);
		*slot = NULL;
	}
}

static bool put_bytes(char *buf, size_t size, size_t *len, const char *s,
		      size_t n)
{
	if (n >= size - *len) /* keeps room for the final NUL */
		return false;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return true;
}

bool oauth2_json_put_string(char *buf, size_t size, size_t *len,
			    const char *s)
{
	if (size == 0 || *len >= size || !put_bytes(buf, size, len, "\"", 1))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char escaped[8];
		if (*p == '"' || *p == '\\')
			snprintf(escaped, sizeof(escaped), "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			snprintf(escaped, sizeof(escaped), "\\u%04x", *p);
		else
			snprintf(escaped, sizeof(escaped), "%c", *p);
		if (!put_bytes(buf, size, len, escaped, strlen(escaped)))
			return false;
	}
	return put_bytes(buf, size, len, "\"", 1);
}
