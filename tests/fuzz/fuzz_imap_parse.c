/*
 * fuzz_imap_parse.c - the IMAP response parser and the decoders over it.
 *
 * Input: three parameter bytes, then what a server sends.
 *   byte 0  literal policy: bit 7 set buffers every literal; else a
 *           literal is streamed when larger than (byte & 0x7f) bytes
 *   byte 1  chunking: 0 feeds the rest at once; N feeds pieces of 1..N
 *           bytes (the sizes come from a generator seeded with N)
 *   byte 2  bit 0: small limits (so every limit is reachable)
 * Printable seeds: "@ 0" streams literals over 64 bytes, in pieces of up
 * to 32 bytes, with the default limits.
 *
 * What is checked, beyond memory safety:
 *   - the feed contract: *consumed within the input, NEED_MORE takes it
 *     all, COMPLETE and STREAM_LITERAL end on an LF, errors are
 *     YB_ERR_PROTOCOL with a sanitized message and stay errors;
 *   - every value, response and partial response has the shape the
 *     header promises (NUL-terminated strings, list counts, limits);
 *   - the result does not depend on the split: the same input fed at
 *     once gives the same responses, literals and outcome;
 *   - on every response the decoders of imap_resp.h either succeed with
 *     in-range results or fail with YB_ERR_PROTOCOL, and what they
 *     allocate is freed; VANISHED sets are parsed, rebuilt with
 *     imap_seqset_build and parsed again to the same UIDs; LIST names
 *     go through modified UTF-7 and every folder layout.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "imap_parse.h"
#include "imap_resp.h"
#include "imap_utf7.h"
#include "sink.h"

#define PROTOCOL_ONLY FUZZ_STATUS(YB_ERR_PROTOCOL)

/* Event kinds in a run's trace (hashed with their data). */
enum event { EV_RESPONSE = 1, EV_STREAM, EV_STREAM_DONE, EV_ERROR, EV_END };

struct run_opts {
	bool never_stream;
	uint64_t stream_over;     /* stream literals larger than this */
	uint8_t chunk_seed;
	unsigned max_chunk;       /* 0: all at once */
	bool small_limits;
	bool decode;              /* run the imap_resp.h decoders */
};

/* One hash per event, to find the first difference between two runs. */
struct trace {
	uint64_t *events;         /* owned */
	size_t count;
	size_t cap;
};

struct run {
	const struct run_opts *opts;
	struct imap_parser_limits limits;
	struct trace trace;
};

static void trace_add(struct trace *trace, uint64_t hash)
{
	if (trace->count == trace->cap) {
		size_t cap = trace->cap ? trace->cap * 2 : 64;
		uint64_t *events = realloc(trace->events, cap * sizeof(*events));
		if (!events)
			fuzz_fail("out of memory for the trace");
		trace->events = events;
		trace->cap = cap;
	}
	trace->events[trace->count++] = hash;
}

static void set_limits(struct imap_parser_limits *limits, bool small)
{
	imap_parser_limits_default(limits);
	if (!small)
		return;
	limits->max_line_len = 512;
	limits->max_atom_len = 64;
	limits->max_quoted_len = 48;
	limits->max_literal_len = 64;
	limits->max_literal_total = 100;
	limits->max_stream_len = 1000;
	limits->max_depth = 3;
	limits->max_list_items = 8;
	limits->max_values = 24;
}

/* --- shape checks --- */

static void check_string(const char *str, size_t len)
{
	FUZZ_CHECK(str != NULL);
	FUZZ_CHECK(str[len] == '\0');
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return len > 0;
}

/*
 * Check v (and what is under it); counts values into *seen.  max_quoted
 * bounds a quoted string: max_quoted_len, except inside a response code
 * (see check_response).
 */
static void check_value(const struct run *run, const struct imap_value *v,
			unsigned depth, size_t max_quoted, size_t *seen)
{
	(*seen)++;
	switch (v->type) {
	case IMAP_VALUE_ATOM:
		check_string(v->str, v->len);
		FUZZ_CHECK(v->len >= 1 && v->len <= run->limits.max_atom_len);
		break;
	case IMAP_VALUE_NUMBER:
		check_string(v->str, v->len);
		FUZZ_CHECK(all_digits(v->str, v->len));
		break;
	case IMAP_VALUE_NIL:
		check_string(v->str, v->len);
		FUZZ_CHECK(imap_word_equals(v->str, v->len, "NIL"));
		break;
	case IMAP_VALUE_QUOTED:
		check_string(v->str, v->len);
		FUZZ_CHECK(v->len <= max_quoted);
		FUZZ_CHECK(!memchr(v->str, '\0', v->len));
		FUZZ_CHECK(!memchr(v->str, '\r', v->len));
		FUZZ_CHECK(!memchr(v->str, '\n', v->len));
		break;
	case IMAP_VALUE_LITERAL:
		check_string(v->str, v->len);
		FUZZ_CHECK(v->len <= run->limits.max_literal_len);
		break;
	case IMAP_VALUE_LIST:
		FUZZ_CHECK(depth < run->limits.max_depth);
		FUZZ_CHECK((v->count == 0) == (v->items == NULL));
		FUZZ_CHECK(v->count <= run->limits.max_list_items);
		for (size_t i = 0; i < v->count; i++)
			check_value(run, &v->items[i], depth + 1, max_quoted,
				    seen);
		break;
	case IMAP_VALUE_STREAMED:
		FUZZ_CHECK(v->str == NULL);
		FUZZ_CHECK(v->number <= run->limits.max_stream_len);
		break;
	default:
		fuzz_fail("value of unknown type %d", (int)v->type);
	}
}

static void check_values(const struct run *run, const struct imap_value *values,
			 size_t count, size_t max_quoted)
{
	size_t seen = 0;
	FUZZ_CHECK((count == 0) || values != NULL);
	for (size_t i = 0; i < count; i++)
		check_value(run, &values[i], 0, max_quoted, &seen);
	FUZZ_CHECK(seen <= run->limits.max_values);
}

static void check_kind(const struct imap_response *resp)
{
	switch (resp->kind) {
	case IMAP_RESP_TAGGED:
		check_string(resp->tag, resp->tag_len);
		FUZZ_CHECK(resp->tag_len >= 1 && resp->tag_len <= IMAP_TAG_MAX);
		FUZZ_CHECK(resp->status == IMAP_STATUS_OK ||
			   resp->status == IMAP_STATUS_NO ||
			   resp->status == IMAP_STATUS_BAD);
		break;
	case IMAP_RESP_UNTAGGED:
		FUZZ_CHECK(resp->tag == NULL && resp->tag_len == 0);
		FUZZ_CHECK(resp->status >= IMAP_STATUS_NONE &&
			   resp->status <= IMAP_STATUS_PREAUTH);
		break;
	case IMAP_RESP_CONTINUATION:
		FUZZ_CHECK(resp->tag == NULL && resp->name == NULL);
		FUZZ_CHECK(resp->status == IMAP_STATUS_NONE);
		break;
	default:
		fuzz_fail("response of unknown kind %d", (int)resp->kind);
	}
}

/* A finished response: everything the header promises about it. */
static void check_response(const struct run *run,
			   const struct imap_response *resp)
{
	check_kind(resp);
	if (resp->kind != IMAP_RESP_CONTINUATION) {
		check_string(resp->name, resp->name_len);
		FUZZ_CHECK(resp->name_len >= 1 &&
			   resp->name_len <= IMAP_NAME_MAX);
	}
	bool has_text = resp->kind == IMAP_RESP_CONTINUATION ||
			resp->status != IMAP_STATUS_NONE;
	if (has_text) {
		check_string(resp->text, resp->text_len);
		FUZZ_CHECK(!memchr(resp->text, '\0', resp->text_len));
		FUZZ_CHECK(!memchr(resp->text, '\r', resp->text_len));
		FUZZ_CHECK(!memchr(resp->text, '\n', resp->text_len));
		FUZZ_CHECK(resp->value_count == 0);
	}
	if (resp->has_code) {
		FUZZ_CHECK(resp->status != IMAP_STATUS_NONE);
		check_string(resp->code, resp->code_len);
		FUZZ_CHECK(resp->code_len >= 1 &&
			   resp->code_len <= IMAP_NAME_MAX);
		check_string(resp->code_text, resp->code_text_len);
		FUZZ_CHECK(!memchr(resp->code_text, ']', resp->code_text_len));
		/* crashes/imap_parse/quoted-in-code-over-max-quoted-len:
		   a quoted string in a code obeys max_quoted_len too. */
		if (resp->code_args_valid)
			check_values(run, resp->code_args,
				     resp->code_arg_count,
				     run->limits.max_quoted_len);
	}
	check_values(run, resp->values, resp->value_count,
		     run->limits.max_quoted_len);
}

/* --- hashing a response, to compare two runs --- */

static uint64_t hash_bytes(uint64_t h, const char *s, size_t len)
{
	h = fuzz_hash_u64(h, len);
	return s ? fuzz_hash(h, s, len) : fuzz_hash_u64(h, UINT64_MAX);
}

static uint64_t hash_value(uint64_t h, const struct imap_value *v)
{
	h = fuzz_hash_u64(h, (uint64_t)v->type);
	h = hash_bytes(h, v->str, v->len);
	h = fuzz_hash_u64(h, v->number);
	h = fuzz_hash_u64(h, v->count);
	for (size_t i = 0; i < v->count; i++)
		h = hash_value(h, &v->items[i]);
	return h;
}

static uint64_t hash_response(const struct imap_response *resp)
{
	uint64_t h = fuzz_hash_u64(FUZZ_HASH_INIT, EV_RESPONSE);
	h = fuzz_hash_u64(h, (uint64_t)resp->kind);
	h = hash_bytes(h, resp->tag, resp->tag_len);
	h = fuzz_hash_u64(h, (uint64_t)resp->status);
	h = fuzz_hash_u64(h, resp->has_number ? resp->number : UINT64_MAX);
	h = hash_bytes(h, resp->name, resp->name_len);
	h = fuzz_hash_u64(h, resp->value_count);
	for (size_t i = 0; i < resp->value_count; i++)
		h = hash_value(h, &resp->values[i]);
	h = fuzz_hash_u64(h, resp->has_code);
	if (resp->has_code) {
		h = hash_bytes(h, resp->code, resp->code_len);
		h = hash_bytes(h, resp->code_text, resp->code_text_len);
		h = fuzz_hash_u64(h, resp->code_args_valid);
		h = fuzz_hash_u64(h, resp->code_arg_count);
		for (size_t i = 0; resp->code_args_valid &&
				   i < resp->code_arg_count; i++)
			h = hash_value(h, &resp->code_args[i]);
	}
	return hash_bytes(h, resp->text, resp->text_len);
}

/* --- the decoders --- */

static void check_part(const struct imap_part *part)
{
	switch (part->kind) {
	case IMAP_PART_NONE:
	case IMAP_PART_NIL:
	case IMAP_PART_STREAMED:
		break;
	case IMAP_PART_DATA:
		FUZZ_CHECK(part->data != NULL);
		break;
	default:
		fuzz_fail("part of unknown kind %d", (int)part->kind);
	}
}

static void decode_fetch(const struct imap_response *resp)
{
	struct imap_fetch fetch;
	struct yb_error err;
	int rc = imap_fetch_decode(resp, &fetch, &err);
	fuzz_check_error("imap_fetch_decode", rc, &err, PROTOCOL_ONLY);
	if (rc != YB_OK)
		return;
	FUZZ_CHECK(resp->has_number && imap_response_is(resp, "FETCH"));
	FUZZ_CHECK(fetch.seq >= 1 && fetch.seq == resp->number);
	FUZZ_CHECK(!fetch.has_uid || fetch.uid >= 1);
	FUZZ_CHECK(!fetch.has_rfc822_size || fetch.rfc822_size <= INT64_MAX);
	FUZZ_CHECK(!fetch.has_modseq ||
		   (fetch.modseq >= 1 && fetch.modseq <= INT64_MAX));
	FUZZ_CHECK(!fetch.has_flags ||
		   (fetch.flags & ~(uint32_t)0x3f) == 0);
	check_part(&fetch.body);
	check_part(&fetch.header);
	FUZZ_CHECK((imap_flags_neutral(fetch.flags) & ~(uint32_t)SINK_FLAGS_ALL) == 0);
}

static void decode_list(const struct imap_response *resp)
{
	struct imap_list_entry entry;
	struct yb_error err;
	int rc = imap_list_decode(resp, &entry, &err);
	fuzz_check_error("imap_list_decode", rc, &err, PROTOCOL_ONLY);
	if (rc != YB_OK)
		return;
	FUZZ_CHECK(entry.delimiter == '\0' ||
		   (entry.delimiter >= 0x21 && entry.delimiter <= 0x7e));
	FUZZ_CHECK(entry.name != NULL);
	FUZZ_CHECK(!memchr(entry.name, '\0', entry.name_len));
	char *utf8 = NULL;
	size_t utf8_len = 0;
	rc = imap_utf7_to_utf8(entry.name, entry.name_len, &utf8, &utf8_len,
			       &err);
	fuzz_check_error("imap_utf7_to_utf8", rc, &err, PROTOCOL_ONLY);
	if (rc == YB_OK)
		fuzz_check_folder_paths(utf8, utf8_len, entry.delimiter);
	free(utf8);
}

static void check_code_number(const struct imap_code_info *info)
{
	switch (info->code) {
	case IMAP_CODE_UIDVALIDITY:
	case IMAP_CODE_UIDNEXT:
	case IMAP_CODE_UNSEEN:
		FUZZ_CHECK(info->number >= 1 && info->number <= UINT32_MAX);
		break;
	case IMAP_CODE_HIGHESTMODSEQ:
		FUZZ_CHECK(info->number >= 1 && info->number <= INT64_MAX);
		break;
	default:
		FUZZ_CHECK(info->number == 0);
		break;
	}
}

static void decode_code(const struct imap_response *resp)
{
	struct imap_code_info info;
	struct yb_error err;
	int rc = imap_code_decode(resp, &info, &err);
	fuzz_check_error("imap_code_decode", rc, &err, PROTOCOL_ONLY);
	if (rc != YB_OK)
		return;
	FUZZ_CHECK((info.code == IMAP_CODE_NONE) == !resp->has_code);
	FUZZ_CHECK(info.code >= IMAP_CODE_NONE &&
		   info.code <= IMAP_CODE_UNAVAILABLE);
	check_code_number(&info);
}

static void decode_capa(const struct imap_response *resp)
{
	uint64_t capa = 0;
	struct yb_error err;
	int rc = imap_capa_parse(resp, &capa, &err);
	fuzz_check_error("imap_capa_parse", rc, &err, PROTOCOL_ONLY);
	if (rc == YB_OK)
		FUZZ_CHECK((capa & ~(uint64_t)IMAP_CAPA_KNOWN) == 0);
	if (rc == YB_OK && resp->value_count > 0)
		(void)imap_capa_list_has(resp->values, resp->value_count,
					 "X-UNKNOWN");
}

static void check_namespace_class(const struct imap_namespace *ns,
				  size_t count)
{
	FUZZ_CHECK(count <= IMAP_NAMESPACE_MAX);
	for (size_t i = 0; i < count; i++)
		FUZZ_CHECK(ns[i].prefix != NULL);
}

static void decode_namespace(const struct imap_response *resp)
{
	struct imap_namespaces ns;
	struct yb_error err;
	int rc = imap_namespace_decode(resp, &ns, &err);
	fuzz_check_error("imap_namespace_decode", rc, &err, PROTOCOL_ONLY);
	if (rc != YB_OK)
		return;
	check_namespace_class(ns.personal, ns.personal_count);
	check_namespace_class(ns.other, ns.other_count);
	check_namespace_class(ns.shared, ns.shared_count);
}

/* Does a set text, parsed, name exactly uids[0..count) (ascending)? */
static void check_set_names(const char *text, size_t len,
			    const uint32_t *uids, size_t count)
{
	struct imap_range *ranges = NULL;
	size_t range_count = 0;
	struct yb_error err;
	int rc = imap_seqset_parse(text, len, 0, count, &ranges, &range_count,
				   &err);
	if (rc != YB_OK)
		fuzz_fail("imap_seqset_build made \"%s\", which does not "
			  "parse: %s", text, err.msg);
	size_t at = 0;
	for (size_t i = 0; i < range_count; i++) {
		for (uint64_t uid = ranges[i].first; uid <= ranges[i].last;
		     uid++) {
			FUZZ_CHECK(at < count && uids[at] == uid);
			at++;
		}
	}
	FUZZ_CHECK(at == count);
	free(ranges);
}

/* uids[0..count) ascending without repeats, rebuilt and parsed again. */
static void check_set_build(const uint32_t *uids, size_t count,
			    size_t out_size)
{
	char out[64];
	size_t done = 0;
	while (done < count) {
		size_t consumed = 0, out_len = 0;
		struct yb_error err;
		int rc = imap_seqset_build(uids + done, count - done, out,
					   out_size, &consumed, &out_len, &err);
		if (rc != YB_OK)
			fuzz_fail("imap_seqset_build failed: %s", err.msg);
		FUZZ_CHECK(consumed >= 1 && consumed <= count - done);
		FUZZ_CHECK(out_len < out_size && strlen(out) == out_len);
		check_set_names(out, out_len, uids + done, consumed);
		done += consumed;
	}
}

static int compare_uids(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* UIDs of ranges (at most max of them), sorted, repeats dropped. */
static size_t expand_ranges(const struct imap_range *ranges, size_t count,
			    uint32_t *uids, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < count && n < max; i++)
		for (uint64_t uid = ranges[i].first;
		     uid <= ranges[i].last && n < max; uid++)
			uids[n++] = (uint32_t)uid;
	qsort(uids, n, sizeof(*uids), compare_uids);
	size_t unique = 0;
	for (size_t i = 0; i < n; i++)
		if (unique == 0 || uids[unique - 1] != uids[i])
			uids[unique++] = uids[i];
	return unique;
}

static bool set_has_no_star(const char *set, size_t len)
{
	return memchr(set, '*', len) == NULL;
}

static void check_seqset(const char *set, size_t set_len, uint32_t star)
{
	enum { MAX_RANGES = 256, MAX_UIDS = 512 };
	struct imap_range *ranges = NULL;
	size_t count = 0;
	struct yb_error err;
	int rc = imap_seqset_parse(set, set_len, star, MAX_RANGES, &ranges,
				   &count, &err);
	fuzz_check_error("imap_seqset_parse", rc, &err, PROTOCOL_ONLY);
	if (rc != YB_OK) {
		FUZZ_CHECK(ranges == NULL);
		return;
	}
	FUZZ_CHECK(ranges != NULL && count >= 1 && count <= MAX_RANGES);
	for (size_t i = 0; i < count; i++) {
		FUZZ_CHECK(ranges[i].first >= 1);
		FUZZ_CHECK(ranges[i].first <= ranges[i].last);
		FUZZ_CHECK(star != 0 || set_has_no_star(set, set_len));
	}
	static uint32_t uids[MAX_UIDS];
	size_t uid_count = expand_ranges(ranges, count, uids, MAX_UIDS);
	free(ranges);
	/* The smallest room allowed, and one a little larger. */
	check_set_build(uids, uid_count, IMAP_SEQSET_MIN_SIZE);
	check_set_build(uids, uid_count, 40);
}

static void decode_vanished(const struct imap_response *resp)
{
	bool earlier = false;
	const char *set = NULL;
	size_t set_len = 0;
	struct yb_error err;
	int rc = imap_vanished_decode(resp, &earlier, &set, &set_len, &err);
	fuzz_check_error("imap_vanished_decode", rc, &err, PROTOCOL_ONLY);
	if (rc != YB_OK)
		return;
	FUZZ_CHECK(set != NULL);
	check_seqset(set, set_len, 0);
	check_seqset(set, set_len, 1000);
}

/* Every list as flags, every atom as a FETCH item, every quoted as a date. */
static void decode_value(const struct imap_value *v, unsigned depth)
{
	struct yb_error err;
	int rc = YB_OK;
	if (v->type == IMAP_VALUE_LIST) {
		uint32_t flags = 0;
		size_t keywords = 0;
		bool star = false;
		rc = imap_flags_decode(v, true, &flags, &keywords, &star, &err);
		fuzz_check_error("imap_flags_decode", rc, &err, PROTOCOL_ONLY);
		rc = imap_flags_decode(v, false, &flags, &keywords, NULL, &err);
		fuzz_check_error("imap_flags_decode", rc, &err, PROTOCOL_ONLY);
		for (size_t i = 0; i < v->count && depth < 4; i++)
			decode_value(&v->items[i], depth + 1);
	} else if (v->type == IMAP_VALUE_ATOM) {
		struct imap_section section;
		rc = imap_section_split(v->str, v->len, &section, &err);
		fuzz_check_error("imap_section_split", rc, &err, PROTOCOL_ONLY);
		if (rc == YB_OK)
			FUZZ_CHECK(section.name == v->str &&
				   section.name_len <= v->len);
	} else if (v->type == IMAP_VALUE_QUOTED) {
		time_t when;
		rc = imap_internaldate_parse(v->str, v->len, &when, &err);
		fuzz_check_error("imap_internaldate_parse", rc, &err,
				 PROTOCOL_ONLY);
	}
}

static void decode_response(const struct imap_response *resp)
{
	decode_fetch(resp);
	decode_list(resp);
	decode_code(resp);
	decode_capa(resp);
	decode_vanished(resp);
	decode_namespace(resp);
	for (size_t i = 0; i < resp->value_count; i++)
		decode_value(&resp->values[i], 0);
}

/* --- feeding --- */

static bool want_stream(void *ctx, const struct imap_response *partial,
			uint64_t literal_size)
{
	const struct run *run = ctx;
	FUZZ_CHECK(partial != NULL);
	check_kind(partial);
	FUZZ_CHECK(partial->kind != IMAP_RESP_CONTINUATION);
	check_values(run, partial->values, partial->value_count,
		     run->limits.max_quoted_len);
	FUZZ_CHECK(literal_size <= run->limits.max_stream_len);
	return !run->opts->never_stream && literal_size > run->opts->stream_over;
}

struct feeder {
	struct run *run;
	struct imap_parser *parser;
	uint64_t stream_left;   /* bytes of a streamed literal still to take */
	bool streaming;
	bool failed;
};

static void on_stream(struct feeder *f, const char *at, size_t used)
{
	uint64_t size = imap_parser_stream_size(f->parser);
	FUZZ_CHECK(used > 0 && at[-1] == '\n');
	FUZZ_CHECK(size <= f->run->limits.max_stream_len);
	FUZZ_CHECK(imap_parser_response(f->parser) == NULL);
	trace_add(&f->run->trace, fuzz_hash_u64(EV_STREAM, size));
	f->streaming = true;
	f->stream_left = size;
}

static void on_error(struct feeder *f)
{
	const struct yb_error *e = imap_parser_error(f->parser);
	FUZZ_CHECK(e != NULL);
	fuzz_check_error("imap_parser_feed", (int)e->status, e, PROTOCOL_ONLY);
	FUZZ_CHECK(e->status != YB_OK);
	size_t used = 0;
	FUZZ_CHECK(imap_parser_feed(f->parser, "\r\n", 2, &used) ==
		   IMAP_PARSE_ERROR);
	trace_add(&f->run->trace, EV_ERROR);
	f->failed = true;
}

/* Feed one piece; returns false once the parser has failed. */
static bool feed_piece(struct feeder *f, const char *at, size_t left)
{
	while (left > 0 && !f->failed) {
		if (f->streaming) {
			size_t take = f->stream_left < left ? (size_t)f->stream_left
							    : left;
			at += take;
			left -= take;
			f->stream_left -= take;
			if (f->stream_left > 0)
				break;
			imap_parser_literal_done(f->parser);
			f->streaming = false;
			trace_add(&f->run->trace, EV_STREAM_DONE);
			continue;
		}
		size_t used = SIZE_MAX;
		enum imap_parse_status st =
			imap_parser_feed(f->parser, at, left, &used);
		FUZZ_CHECK(used <= left);
		at += used;
		left -= used;
		switch (st) {
		case IMAP_PARSE_NEED_MORE:
			FUZZ_CHECK(left == 0);
			FUZZ_CHECK(imap_parser_response(f->parser) == NULL);
			break;
		case IMAP_PARSE_COMPLETE: {
			const struct imap_response *resp =
				imap_parser_response(f->parser);
			FUZZ_CHECK(resp != NULL && used > 0 && at[-1] == '\n');
			check_response(f->run, resp);
			trace_add(&f->run->trace, hash_response(resp));
			if (f->run->opts->decode)
				decode_response(resp);
			break;
		}
		case IMAP_PARSE_STREAM_LITERAL:
			on_stream(f, at, used);
			break;
		case IMAP_PARSE_ERROR:
			on_error(f);
			break;
		default:
			fuzz_fail("imap_parser_feed returned %d", (int)st);
		}
	}
	return !f->failed;
}

static void run_parser(struct run *run, const char *data, size_t len)
{
	set_limits(&run->limits, run->opts->small_limits);
	struct feeder f = { run, NULL, 0, false, false };
	f.parser = imap_parser_new(&run->limits, want_stream, run);
	if (!f.parser)
		fuzz_fail("imap_parser_new: out of memory");
	struct fuzz_chunker chunker;
	fuzz_chunker_init(&chunker, run->opts->chunk_seed, run->opts->max_chunk);
	size_t pos = 0;
	while (pos < len) {
		size_t piece = fuzz_chunker_next(&chunker, len - pos);
		bool going = feed_piece(&f, data + pos, piece);
		pos += piece;
		if (!going)
			break;
	}
	/* Where the input ended: inside a literal or not. */
	trace_add(&run->trace, fuzz_hash_u64(EV_END, f.streaming));
	imap_parser_free(f.parser);
}

static void compare_traces(const struct trace *a, const struct trace *b)
{
	size_t n = a->count < b->count ? a->count : b->count;
	for (size_t i = 0; i < n; i++)
		if (a->events[i] != b->events[i])
			fuzz_fail("the split changed the result: event %zu of "
				  "%zu differs", i, n);
	if (a->count != b->count)
		fuzz_fail("the split changed the result: %zu events in "
			  "pieces, %zu at once", a->count, b->count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t policy = fuzz_take_byte(&in);
	uint8_t chunking = fuzz_take_byte(&in);
	uint8_t flags = fuzz_take_byte(&in);
	struct run_opts opts = {
		.never_stream = (policy & 0x80) != 0,
		.stream_over = policy & 0x7f,
		.chunk_seed = chunking,
		.max_chunk = chunking,
		.small_limits = (flags & 1) != 0,
		.decode = true,
	};
	struct run_opts whole_opts = opts;
	whole_opts.max_chunk = 0;
	whole_opts.decode = false;

	struct run pieces = { &opts, { 0 }, { NULL, 0, 0 } };
	struct run whole = { &whole_opts, { 0 }, { NULL, 0, 0 } };
	run_parser(&pieces, (const char *)in.data, in.len);
	if (opts.max_chunk != 0) {
		run_parser(&whole, (const char *)in.data, in.len);
		compare_traces(&pieces.trace, &whole.trace);
	}
	free(pieces.trace.events);
	free(whole.trace.events);
	return 0;
}
