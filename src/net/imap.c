/*
 * imap.c - one IMAP session (see imap.h).
 *
 * Every byte from the server goes through the parser (imap_parse.c):
 * conn_peek shows what is buffered, the parser takes what it can, and
 * conn_consume drops exactly that.  So a literal may hold anything (no
 * line reader guesses where a response ends), and a literal the handler
 * wants streamed goes from the connection's buffer to the handler in the
 * chunks the buffer gives, never into memory that grows with its size.
 *
 * Commands carry tags "y1", "y2", ...; a FIFO remembers the outstanding
 * ones, and a tagged response must answer the oldest: anything else means
 * the stream is out of step with our commands, and the session stops.
 *
 * Nothing secret reaches the log: the trace shows LOGIN's arguments and
 * every AUTHENTICATE response as "<redacted>".
 */
#include "config.h"

#include "imap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "conn_account.h"
#include "log.h"
#include "sasl.h"
#include "sasl_engine.h"
#include "sasl_fallback.h"
#include "text.h"

/* Server text in error messages and traces. */
#define IMAP_SHOWN_MAX 512
/* "y" and up to 20 digits, and a NUL. */
#define IMAP_OUR_TAG_SIZE 24
/* More outstanding commands than this is a caller bug, not a pipeline. */
#define IMAP_PENDING_MAX (1024 * 1024)
/* Bytes of one response line kept for the trace; the rest is cut. */
#define IMAP_TRACE_LINE_MAX 1024
/* RFC 7888: LITERAL- allows a non-synchronizing literal this long. */
#define IMAP_LITERAL_MINUS_MAX 4096

struct imap {
	struct conn *conn;              /* owned */
	const struct account *account;  /* not owned; outlives the session */
	struct imap_parser *parser;     /* owned */

	uint64_t capa;                  /* enum imap_capa_bit */
	bool have_capa;                 /* capa came from the server */
	unsigned long capa_updates;     /* bumped by every replacement */
	bool qresync_enabled;
	bool utf8_accepted;            /* ENABLE UTF8=ACCEPT answered ENABLED */
	bool condstore_enabled;

	bool broken;                    /* the stream is out of step */
	bool logout_sent;
	bool bye_seen;                  /* during LOGOUT only */
	bool conn_failed;               /* the last read failed in conn */

	/* Ring of outstanding tag numbers, oldest first. */
	uint64_t next_tag;
	uint64_t *pending;              /* owned */
	size_t pending_head, pending_len, pending_cap;

	/* During a read: who is told about untagged responses, and who
	   gets streamed literals (not owned; NULL: nobody). */
	const struct imap_handler *untagged_to;
	const struct imap_handler *stream_to;

	/* The response line being read, for the trace. */
	char trace_line[IMAP_TRACE_LINE_MAX];
	size_t trace_len;
	bool trace_cut;
};

/* How a read during a command ended. */
enum step_kind {
	STEP_DONE,     /* the command's tagged response: result */
	STEP_CONTINUE, /* a continuation request "+ text" */
};

struct step {
	enum step_kind kind;
	struct imap_result result;
	/* STEP_CONTINUE: the raw text, valid until the next read. */
	const char *text;
	size_t text_len;
};

static const char *peer(const struct imap *imap)
{
	return conn_peer(imap->conn);
}

static void sanitize(char *dst, const char *text, size_t len)
{
	text_sanitize(dst, IMAP_SHOWN_MAX, text, len);
}

/* The stream is no longer in step with our commands: refuse more. */
static int mark_broken(struct imap *imap, int status)
{
	if (status != YB_OK)
		imap->broken = true;
	return status;
}

static int out_of_memory(struct imap *imap, struct yb_error *err)
{
	return mark_broken(imap, yb_fail(err, YB_ERR_INTERNAL,
					 "%s: out of memory", peer(imap)));
}

/* An error from a pure decoder (imap_resp.h) gets the host in front. */
static int decode_failed(struct imap *imap, int status, struct yb_error *err)
{
	yb_error_prefix(err, "%s: ", peer(imap));
	return mark_broken(imap, status);
}

static int check_usable(struct imap *imap, struct yb_error *err)
{
	if (imap->broken)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: IMAP session used after an earlier error",
			       peer(imap));
	if (imap->logout_sent)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: IMAP session used after LOGOUT", peer(imap));
	return YB_OK;
}

static void set_capabilities(struct imap *imap, uint64_t capa)
{
	imap->capa = capa;
	imap->have_capa = true;
	imap->capa_updates++;
}

static bool has_capa(const struct imap *imap, uint64_t bit)
{
	return (imap->capa & bit) != 0;
}

/* ---- the tag FIFO ---- */

static void format_tag(uint64_t number, char tag[IMAP_OUR_TAG_SIZE])
{
	/* 20 digits always fit: the result cannot be cut. */
	snprintf(tag, IMAP_OUR_TAG_SIZE, "y%" PRIu64, number);
}

static int pending_push(struct imap *imap, uint64_t number,
			struct yb_error *err)
{
	if (imap->pending_len == imap->pending_cap) {
		if (imap->pending_cap >= IMAP_PENDING_MAX)
			return yb_fail(err, YB_ERR_INTERNAL,
				       "%s: more than %d IMAP commands "
				       "outstanding", peer(imap),
				       IMAP_PENDING_MAX);
		size_t cap = imap->pending_cap ? imap->pending_cap * 2 : 16;
		uint64_t *grown = malloc(cap * sizeof(*grown));
		if (!grown)
			return out_of_memory(imap, err);
		/* Unroll the ring into the new array, oldest first. */
		for (size_t i = 0; i < imap->pending_len; i++)
			grown[i] = imap->pending[(imap->pending_head + i) %
						 imap->pending_cap];
		free(imap->pending);
		imap->pending = grown;
		imap->pending_cap = cap;
		imap->pending_head = 0;
	}
	size_t at = (imap->pending_head + imap->pending_len) % imap->pending_cap;
	imap->pending[at] = number;
	imap->pending_len++;
	return YB_OK;
}

static uint64_t pending_oldest(const struct imap *imap)
{
	return imap->pending[imap->pending_head];
}

static void pending_pop(struct imap *imap)
{
	imap->pending_head = (imap->pending_head + 1) % imap->pending_cap;
	imap->pending_len--;
}

/* ---- writing commands ---- */

static int write_bytes(struct imap *imap, const void *data, size_t len,
		       struct yb_error *err)
{
	return mark_broken(imap, conn_write(imap->conn, data, len, err));
}

static int write_text(struct imap *imap, const char *text,
		      struct yb_error *err)
{
	return write_bytes(imap, text, strlen(text), err);
}

static void trace_command(const char *tag, const char *shown)
{
	if (!log_enabled(LOG_LEVEL_TRACE))
		return;
	char text[IMAP_SHOWN_MAX];
	sanitize(text, shown, strlen(shown));
	if (tag)
		log_trace("C: %s %s", tag, text);
	else
		log_trace("C: %s", text);
}

/*
 * Start a command: a new tag, queued as outstanding, and "TAG " written.
 * shown is what the trace prints after the tag (secrets replaced).  The
 * caller writes the rest and the CRLF.
 */
static int begin_command(struct imap *imap, const char *shown,
			 struct yb_error *err)
{
	uint64_t number = ++imap->next_tag;
	int rc = pending_push(imap, number, err);
	if (rc != YB_OK)
		return mark_broken(imap, rc);
	char tag[IMAP_OUR_TAG_SIZE];
	format_tag(number, tag);
	trace_command(tag, shown);
	rc = write_text(imap, tag, err);
	if (rc == YB_OK)
		rc = write_bytes(imap, " ", 1, err);
	return rc;
}

static int end_line(struct imap *imap, struct yb_error *err)
{
	return write_bytes(imap, "\r\n", 2, err);
}

/* A whole command that holds no secret. */
static int send_command(struct imap *imap, const char *command,
			struct yb_error *err)
{
	int rc = begin_command(imap, command, err);
	if (rc == YB_OK)
		rc = write_text(imap, command, err);
	if (rc == YB_OK)
		rc = end_line(imap, err);
	return rc;
}

/* A line of a SASL exchange; always traced as "<redacted>". */
static int send_secret_line(struct imap *imap, const char *line,
			    struct yb_error *err)
{
	trace_command(NULL, "<redacted>");
	int rc = write_text(imap, line, err);
	if (rc == YB_OK)
		rc = end_line(imap, err);
	return rc;
}

/* ---- reading responses ---- */

static void trace_emit(struct imap *imap)
{
	size_t len = imap->trace_len;
	if (len > 0 && imap->trace_line[len - 1] == '\r')
		len--;
	char shown[IMAP_SHOWN_MAX];
	sanitize(shown, imap->trace_line, len);
	log_trace("S: %s%s", shown, imap->trace_cut ? "..." : "");
	imap->trace_len = 0;
	imap->trace_cut = false;
}

/* Keep the bytes the parser took, and trace each line as it ends. */
static void trace_feed(struct imap *imap, const char *data, size_t len)
{
	if (!log_enabled(LOG_LEVEL_TRACE))
		return;
	while (len > 0) {
		const char *lf = memchr(data, '\n', len);
		size_t run = lf ? (size_t)(lf - data) : len;
		size_t room = sizeof(imap->trace_line) - imap->trace_len;
		size_t kept = run < room ? run : room;
		memcpy(imap->trace_line + imap->trace_len, data, kept);
		imap->trace_len += kept;
		if (kept < run)
			imap->trace_cut = true;
		if (!lf)
			return;
		trace_emit(imap);
		data += run + 1;
		len -= run + 1;
	}
}

static void trace_reset(struct imap *imap)
{
	imap->trace_len = 0;
	imap->trace_cut = false;
}

/* The parser asks whether a literal should be streamed: the handler says. */
static bool want_stream_hook(void *ctx, const struct imap_response *partial,
			     uint64_t literal_size)
{
	struct imap *imap = ctx;
	const struct imap_handler *handler = imap->stream_to;
	if (!handler || !handler->want_stream)
		return false;
	return handler->want_stream(handler->ctx, partial, literal_size);
}

static int peek(struct imap *imap, const char **data, size_t *len,
		struct yb_error *err)
{
	int rc = conn_peek(imap->conn, data, len, err);
	if (rc != YB_OK)
		imap->conn_failed = true;
	return mark_broken(imap, rc);
}

/*
 * Hand the literal the parser announced to the handler, straight from the
 * connection's buffer: exactly imap_parser_stream_size() bytes.
 */
static int stream_literal(struct imap *imap, struct yb_error *err)
{
	const struct imap_handler *handler = imap->stream_to;
	uint64_t left = imap_parser_stream_size(imap->parser);
	log_trace("S: (%" PRIu64 " bytes streamed)", left);
	while (left > 0) {
		const char *data;
		size_t len;
		int rc = peek(imap, &data, &len, err);
		if (rc != YB_OK)
			return rc;
		size_t take = len < left ? len : (size_t)left;
		if (handler && handler->stream_data) {
			rc = handler->stream_data(handler->ctx, data, take, err);
			if (rc != YB_OK)
				return mark_broken(imap, rc);
		}
		conn_consume(imap->conn, take);
		left -= take;
	}
	if (handler && handler->stream_end) {
		int rc = handler->stream_end(handler->ctx, err);
		if (rc != YB_OK)
			return mark_broken(imap, rc);
	}
	imap_parser_literal_done(imap->parser);
	return YB_OK;
}

static int parser_failed(struct imap *imap, struct yb_error *err)
{
	const struct yb_error *why = imap_parser_error(imap->parser);
	enum yb_status status = why->status != YB_OK ? why->status
						     : YB_ERR_INTERNAL;
	return mark_broken(imap, yb_fail(err, status, "%s: %s", peer(imap),
					 why->msg));
}

/*
 * Read one whole response.  *out lives until the next read (the parser's
 * next feed).
 */
static int read_response(struct imap *imap, const struct imap_response **out,
			 struct yb_error *err)
{
	for (;;) {
		const char *data;
		size_t len;
		int rc = peek(imap, &data, &len, err);
		if (rc != YB_OK)
			return rc;
		size_t used = 0;
		enum imap_parse_status status =
			imap_parser_feed(imap->parser, data, len, &used);
		trace_feed(imap, data, used);
		conn_consume(imap->conn, used);
		switch (status) {
		case IMAP_PARSE_NEED_MORE:
			break;
		case IMAP_PARSE_COMPLETE:
			*out = imap_parser_response(imap->parser);
			return YB_OK;
		case IMAP_PARSE_STREAM_LITERAL:
			rc = stream_literal(imap, err);
			if (rc != YB_OK)
				return rc;
			break;
		case IMAP_PARSE_ERROR:
			return parser_failed(imap, err);
		}
	}
}

/*
 * Codes whose arguments the session relies on.  A malformed one of these
 * is an error; a malformed other one (an UNSEEN 0, odd PERMANENTFLAGS) is
 * ignored, as its content is never used.
 */
static bool code_is_needed(const struct imap_response *resp)
{
	static const char *const needed[] = {
		"CAPABILITY", "UIDVALIDITY", "UIDNEXT", "HIGHESTMODSEQ",
	};
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
		if (imap_word_equals(resp->code, resp->code_len, needed[i]))
			return true;
	return false;
}

/* The resp-text code of a status response (IMAP_CODE_NONE if none). */
static int decode_code(struct imap *imap, const struct imap_response *resp,
		       struct imap_code_info *info, struct yb_error *err)
{
	memset(info, 0, sizeof(*info));
	info->code = IMAP_CODE_NONE;
	if (!resp->has_code)
		return YB_OK;
	struct yb_error why;
	yb_error_clear(&why);
	int rc = imap_code_decode(resp, info, &why);
	if (rc == YB_OK)
		return YB_OK;
	if (code_is_needed(resp)) {
		if (err)
			*err = why;
		return decode_failed(imap, rc, err);
	}
	log_debug("%s: ignoring a malformed response code: %s", peer(imap),
		  why.msg);
	memset(info, 0, sizeof(*info));
	info->code = IMAP_CODE_OTHER;
	return YB_OK;
}

/* What any status response's code means to the session itself. */
static void note_code(struct imap *imap, const struct imap_response *resp,
		      const struct imap_code_info *info)
{
	if (info->code == IMAP_CODE_CAPABILITY)
		set_capabilities(imap, info->capa);
	if (info->code == IMAP_CODE_ALERT) {
		char shown[IMAP_SHOWN_MAX];
		sanitize(shown, resp->text, resp->text_len);
		log_warn("%s says: %s", peer(imap), shown);
	}
}

/* A BYE's code, leniently: a malformed one is just not a known code. */
static enum imap_code bye_code(const struct imap_response *resp)
{
	struct imap_code_info info;
	if (!resp->has_code || imap_code_decode(resp, &info, NULL) != YB_OK)
		return IMAP_CODE_NONE;
	return info.code;
}

static bool code_is_temporary(enum imap_code code)
{
	return code == IMAP_CODE_UNAVAILABLE || code == IMAP_CODE_INUSE;
}

static int on_bye(struct imap *imap, const struct imap_response *resp,
		  struct yb_error *err)
{
	if (imap->logout_sent) {
		imap->bye_seen = true;
		return YB_OK;
	}
	char shown[IMAP_SHOWN_MAX];
	sanitize(shown, resp->text, resp->text_len);
	enum yb_status status = bye_code(resp) == IMAP_CODE_UNAVAILABLE
					? YB_ERR_TEMP : YB_ERR_PROTOCOL;
	return mark_broken(imap, yb_fail(err, status,
		"%s closed the session (BYE): %s", peer(imap), shown));
}

/*
 * What the session keeps of an untagged response: capabilities, BYE,
 * alerts.  *consumed says the handler need not see it.
 */
static int session_untagged(struct imap *imap, const struct imap_response *resp,
			    bool *consumed, struct yb_error *err)
{
	*consumed = false;
	if (resp->status == IMAP_STATUS_BYE) {
		*consumed = true;
		return on_bye(imap, resp, err);
	}
	if (resp->status == IMAP_STATUS_PREAUTH)
		return mark_broken(imap, yb_fail(err, YB_ERR_PROTOCOL,
			"%s: unexpected PREAUTH after the greeting",
			peer(imap)));
	if (resp->status != IMAP_STATUS_NONE) {
		struct imap_code_info info;
		int rc = decode_code(imap, resp, &info, err);
		if (rc != YB_OK)
			return rc;
		note_code(imap, resp, &info);
		*consumed = info.code == IMAP_CODE_CAPABILITY;
		return YB_OK;
	}
	if (imap_response_is(resp, "CAPABILITY")) {
		uint64_t capa = 0;
		int rc = imap_capa_parse(resp, &capa, err);
		if (rc != YB_OK)
			return decode_failed(imap, rc, err);
		set_capabilities(imap, capa);
		*consumed = true;
	}
	return YB_OK;
}

static int dispatch_untagged(struct imap *imap, const struct imap_response *resp,
			     struct yb_error *err)
{
	bool consumed = false;
	int rc = session_untagged(imap, resp, &consumed, err);
	if (rc != YB_OK || consumed)
		return rc;
	const struct imap_handler *handler = imap->untagged_to;
	if (!handler || !handler->untagged)
		return YB_OK;
	return mark_broken(imap, handler->untagged(handler->ctx, resp, err));
}

/* The tagged response that completes the oldest outstanding command. */
static int complete_command(struct imap *imap, const struct imap_response *resp,
			    struct imap_result *result, struct yb_error *err)
{
	char expected[IMAP_OUR_TAG_SIZE];
	format_tag(pending_oldest(imap), expected);
	if (resp->tag_len != strlen(expected) ||
	    memcmp(resp->tag, expected, resp->tag_len) != 0) {
		char shown[IMAP_SHOWN_MAX];
		sanitize(shown, resp->tag, resp->tag_len);
		return mark_broken(imap, yb_fail(err, YB_ERR_PROTOCOL,
			"%s: unexpected tag \"%s\" (waiting for %s)",
			peer(imap), shown, expected));
	}
	pending_pop(imap);
	int rc = decode_code(imap, resp, &result->code, err);
	if (rc != YB_OK)
		return rc;
	note_code(imap, resp, &result->code);
	result->status = resp->status;
	text_sanitize(result->text, sizeof(result->text), resp->text,
		      resp->text_len);
	return YB_OK;
}

/*
 * Read until the oldest command completes or, when continuation_ok, the
 * server asks for more of it.  Untagged responses meanwhile go to the
 * session and then to imap->untagged_to.
 */
static int read_step(struct imap *imap, bool continuation_ok,
		     struct step *step, struct yb_error *err)
{
	if (imap->pending_len == 0)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: waiting for a reply with no IMAP command "
			       "outstanding", peer(imap));
	for (;;) {
		const struct imap_response *resp;
		int rc = read_response(imap, &resp, err);
		if (rc != YB_OK)
			return rc;
		switch (resp->kind) {
		case IMAP_RESP_TAGGED:
			step->kind = STEP_DONE;
			return complete_command(imap, resp, &step->result, err);
		case IMAP_RESP_CONTINUATION:
			if (!continuation_ok)
				return mark_broken(imap, yb_fail(err,
					YB_ERR_PROTOCOL, "%s: unexpected "
					"continuation request", peer(imap)));
			step->kind = STEP_CONTINUE;
			step->text = resp->text;
			step->text_len = resp->text_len;
			return YB_OK;
		case IMAP_RESP_UNTAGGED:
			rc = dispatch_untagged(imap, resp, err);
			if (rc != YB_OK)
				return rc;
			break;
		}
	}
}

/* Send a command and read its completion; untagged responses to handler. */
static int run_command(struct imap *imap, const char *command,
		       const struct imap_handler *handler,
		       struct imap_result *result, struct yb_error *err)
{
	int rc = send_command(imap, command, err);
	if (rc != YB_OK)
		return rc;
	imap->untagged_to = handler;
	imap->stream_to = NULL;
	struct step step;
	rc = read_step(imap, false, &step, err);
	imap->untagged_to = NULL;
	if (rc == YB_OK)
		*result = step.result;
	return rc;
}

/* A NO or BAD to a command as an error naming what it was. */
static int command_failed(struct imap *imap, const char *what,
			  const struct imap_result *result,
			  struct yb_error *err)
{
	char what_shown[IMAP_SHOWN_MAX];
	sanitize(what_shown, what, strlen(what));
	enum yb_status status = code_is_temporary(result->code.code)
					? YB_ERR_TEMP : YB_ERR_PROTOCOL;
	return yb_fail(err, status, "%s: %s failed: %s", peer(imap),
		       what_shown, result->text);
}

/* ---- greeting, CAPABILITY, STARTTLS ---- */

static int read_greeting(struct imap *imap, bool *preauth,
			 struct yb_error *err)
{
	const struct imap_response *resp;
	int rc = read_response(imap, &resp, err);
	if (rc != YB_OK)
		return rc;
	char shown[IMAP_SHOWN_MAX];
	bool status_ok = resp->kind == IMAP_RESP_UNTAGGED &&
			 (resp->status == IMAP_STATUS_OK ||
			  resp->status == IMAP_STATUS_PREAUTH ||
			  resp->status == IMAP_STATUS_BYE);
	if (!status_ok) {
		const char *name = resp->name ? resp->name : "+";
		sanitize(shown, name, resp->name ? resp->name_len : 1);
		return mark_broken(imap, yb_fail(err, YB_ERR_PROTOCOL,
			"%s: not an IMAP greeting (a response \"%s\")",
			peer(imap), shown));
	}
	sanitize(shown, resp->text, resp->text_len);
	if (resp->status == IMAP_STATUS_BYE)
		return mark_broken(imap, yb_fail(err, YB_ERR_UNAVAILABLE,
			"%s refused the connection: %s", peer(imap), shown));
	struct imap_code_info info;
	rc = decode_code(imap, resp, &info, err);
	if (rc != YB_OK)
		return rc;
	note_code(imap, resp, &info);
	*preauth = resp->status == IMAP_STATUS_PREAUTH;
	return YB_OK;
}

/* CAPABILITY; the set is replaced by what the server lists. */
static int ask_capabilities(struct imap *imap, struct yb_error *err)
{
	unsigned long updates = imap->capa_updates;
	struct imap_result result;
	int rc = run_command(imap, "CAPABILITY", NULL, &result, err);
	if (rc != YB_OK)
		return rc;
	if (result.status != IMAP_STATUS_OK)
		return mark_broken(imap, command_failed(imap, "CAPABILITY",
							&result, err));
	if (imap->capa_updates == updates)
		return mark_broken(imap, yb_fail(err, YB_ERR_PROTOCOL,
			"%s: CAPABILITY answered without listing any "
			"capabilities", peer(imap)));
	return YB_OK;
}

static int ensure_capabilities(struct imap *imap, struct yb_error *err)
{
	return imap->have_capa ? YB_OK : ask_capabilities(imap, err);
}

static int start_tls(struct imap *imap, struct yb_error *err)
{
	int rc = ensure_capabilities(imap, err);
	if (rc != YB_OK)
		return rc;
	if (!has_capa(imap, IMAP_CAPA_STARTTLS))
		return mark_broken(imap, yb_fail(err, YB_ERR_PROTOCOL,
			"%s does not offer STARTTLS; refusing to continue "
			"without TLS (tls: starttls)", peer(imap)));
	struct imap_result result;
	rc = run_command(imap, "STARTTLS", NULL, &result, err);
	if (rc != YB_OK)
		return rc;
	if (result.status != IMAP_STATUS_OK)
		return mark_broken(imap, yb_fail(err, YB_ERR_PROTOCOL,
			"%s refused STARTTLS: %s; refusing to continue "
			"without TLS (tls: starttls)", peer(imap),
			result.text));
	/* conn_start_tls refuses bytes that arrived before the handshake:
	   they did not come through TLS (STARTTLS injection). */
	rc = conn_start_tls(imap->conn, err);
	if (rc != YB_OK)
		return mark_broken(imap, rc);
	log_debug("%s: TLS started", peer(imap));
	/* Whatever was said before TLS may have been forged. */
	imap_parser_reset(imap->parser);
	trace_reset(imap);
	imap->capa = 0;
	imap->have_capa = false;
	return ask_capabilities(imap, err);
}

/* ---- authentication ---- */

/*
 * One login: the framing the SASL engine drives, and the step last read,
 * kept here so the text of a reply stays valid until the next read.
 */
struct imap_login {
	struct imap *imap;
	struct step step;
	char user_shown[IMAP_SHOWN_MAX / 2];
	struct sasl_framing framing;
};

/* A step as the engine sees it; the text stays in step. */
static void reply_from_step(const struct step *step, struct sasl_reply *reply)
{
	reply->credentials = false;
	reply->code = NULL;
	if (step->kind == STEP_CONTINUE) {
		reply->answer = SASL_ANSWER_CHALLENGE;
		reply->text = step->text;
		reply->text_len = step->text_len;
		return;
	}
	const struct imap_result *result = &step->result;
	reply->text = result->text;
	reply->text_len = strlen(result->text);
	if (result->status == IMAP_STATUS_OK)
		reply->answer = SASL_ANSWER_OK;
	else if (result->status == IMAP_STATUS_BAD)
		reply->answer = SASL_ANSWER_MALFORMED;
	else if (code_is_temporary(result->code.code))
		reply->answer = SASL_ANSWER_REFUSED_FOR_NOW;
	else
		reply->answer = SASL_ANSWER_REFUSED;
	enum imap_code code = result->code.code;
	reply->code = imap_code_name(code);
	reply->credentials = code == IMAP_CODE_AUTHENTICATIONFAILED ||
			     code == IMAP_CODE_AUTHORIZATIONFAILED ||
			     code == IMAP_CODE_EXPIRED;
}

/* The framing's send_command: AUTHENTICATE MECHANISM [initial-response]. */
static int send_authenticate(void *session, const char *command,
			     const char *initial, struct yb_error *err)
{
	struct imap *imap = ((struct imap_login *)session)->imap;
	char shown[64];
	snprintf(shown, sizeof(shown), "%s%s", command,
		 initial ? " <redacted>" : "");
	int rc = begin_command(imap, shown, err);
	if (rc == YB_OK)
		rc = write_text(imap, command, err);
	if (rc == YB_OK && initial)
		rc = write_text(imap, " ", err);
	if (rc == YB_OK && initial)
		rc = write_text(imap, initial, err);
	if (rc == YB_OK)
		rc = end_line(imap, err);
	return rc;
}

/* The framing's send_response. */
static int send_sasl_response(void *session, const char *response,
			      struct yb_error *err)
{
	return send_secret_line(((struct imap_login *)session)->imap, response,
				err);
}

/* The framing's read_reply: a continuation, or the tagged answer. */
static int read_sasl_reply(void *session, const char *what, bool challenge_ok,
			   struct sasl_reply *reply, struct yb_error *err)
{
	(void)what;
	struct imap_login *login = session;
	int rc = read_step(login->imap, challenge_ok, &login->step, err);
	if (rc == YB_OK)
		reply_from_step(&login->step, reply);
	return rc;
}

/* The framing's cancel: "*" (RFC 3501 6.2.2), and the tagged end. */
static int cancel_sasl(void *session, struct yb_error *err)
{
	struct imap_login *login = session;
	trace_command(NULL, "*");
	int rc = write_text(login->imap, "*\r\n", err);
	if (rc == YB_OK)
		rc = read_step(login->imap, false, &login->step, err);
	return rc;
}

static void login_begin(struct imap *imap, struct imap_login *login)
{
	login->imap = imap;
	const char *user = imap->account->user;
	text_sanitize(login->user_shown, sizeof(login->user_shown), user,
		      strlen(user));
	/* SASL-IR (RFC 4959) saves a round trip: a response goes on the
	   command line. */
	unsigned initial = SASL_BIT(SASL_METHOD_PLAIN) |
			   SASL_BIT(SASL_METHOD_XOAUTH2) |
			   SASL_BIT(SASL_METHOD_OAUTHBEARER) |
			   SASL_BIT(SASL_METHOD_EXTERNAL);
	login->framing = (struct sasl_framing){
		.session = login,
		.account = imap->account,
		.peer = peer(imap),
		.user_shown = login->user_shown,
		.command = "AUTHENTICATE",
		.ok_word = "OK",
		.initial_methods = has_capa(imap, IMAP_CAPA_SASL_IR) ? initial : 0,
		.initial_max = SIZE_MAX,
		.repeats_initial = false,
		.cram_md5_needs_challenge = false,
		.send_command = send_authenticate,
		.send_response = send_sasl_response,
		.read_reply = read_sasl_reply,
		.cancel = cancel_sasl,
	};
}

/* Can s go in a quoted string?  (RFC 3501: 7-bit, no CR, LF or NUL.) */
static bool is_quotable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

static int write_quoted(struct imap *imap, const char *s, size_t len,
			struct yb_error *err)
{
	int rc = write_bytes(imap, "\"", 1, err);
	size_t start = 0;
	for (size_t i = 0; i <= len && rc == YB_OK; i++) {
		if (i < len && s[i] != '"' && s[i] != '\\')
			continue;
		rc = write_bytes(imap, s + start, i - start, err);
		if (rc == YB_OK && i < len)
			rc = write_bytes(imap, "\\", 1, err);
		start = i; /* the special itself goes out with the next run */
	}
	if (rc == YB_OK)
		rc = write_bytes(imap, "\"", 1, err);
	return rc;
}

static bool literal_can_skip_wait(const struct imap *imap, size_t len)
{
	if (has_capa(imap, IMAP_CAPA_LITERAL_PLUS))
		return true;
	return (has_capa(imap, IMAP_CAPA_LITERAL_MINUS) ||
		has_capa(imap, IMAP_CAPA_IMAP4REV2)) &&
	       len <= IMAP_LITERAL_MINUS_MAX;
}

/*
 * An argument of a command being written, as a literal: {N+} when the
 * server allows it, else {N} and a wait for its go-ahead.  If the server
 * answers the command instead (a NO), step says so and nothing more of
 * the command may be sent.
 */
static int write_literal(struct imap *imap, const char *s, size_t len,
			 struct step *step, struct yb_error *err)
{
	bool skip_wait = literal_can_skip_wait(imap, len);
	char head[32];
	if (!text_format(head, sizeof(head), "{%zu%s}\r\n", len,
			 skip_wait ? "+" : ""))
		return mark_broken(imap, yb_fail(err, YB_ERR_INTERNAL,
			"%s: literal header too long", peer(imap)));
	int rc = write_bytes(imap, head, strlen(head), err);
	if (rc == YB_OK && !skip_wait) {
		rc = read_step(imap, true, step, err);
		if (rc != YB_OK || step->kind == STEP_DONE)
			return rc;
	}
	if (rc == YB_OK)
		rc = write_bytes(imap, s, len, err);
	return rc;
}

static int write_astring(struct imap *imap, const char *s, struct step *step,
			 struct yb_error *err)
{
	size_t len = strlen(s);
	if (is_quotable(s, len))
		return write_quoted(imap, s, len, err);
	return write_literal(imap, s, len, step, err);
}

/* LOGIN user password: quoted strings, or literals where they must be. */
static int login_command(struct imap_login *login, const char *password,
			 struct yb_error *err)
{
	struct imap *imap = login->imap;
	struct step *step = &login->step;
	step->kind = STEP_CONTINUE;
	int rc = begin_command(imap, "LOGIN <redacted>", err);
	if (rc == YB_OK)
		rc = write_text(imap, "LOGIN ", err);
	if (rc == YB_OK)
		rc = write_astring(imap, imap->account->user, step, err);
	if (rc == YB_OK && step->kind == STEP_CONTINUE)
		rc = write_bytes(imap, " ", 1, err);
	if (rc == YB_OK && step->kind == STEP_CONTINUE)
		rc = write_astring(imap, password, step, err);
	if (rc == YB_OK && step->kind == STEP_CONTINUE)
		rc = end_line(imap, err);
	if (rc == YB_OK && step->kind == STEP_CONTINUE)
		rc = read_step(imap, false, step, err);
	if (rc != YB_OK)
		return rc;
	struct sasl_reply reply = { 0 };
	reply_from_step(step, &reply);
	return sasl_refused(&login->framing, "LOGIN", &reply, err);
}

/* auth: login: SASL LOGIN when offered, else the LOGIN command; both
   send the password as it is. */
static int choose_login(struct imap *imap, enum sasl_method *method,
			struct yb_error *err)
{
	if (has_capa(imap, IMAP_CAPA_AUTH_LOGIN))
		*method = SASL_METHOD_LOGIN;
	else if (!has_capa(imap, IMAP_CAPA_LOGINDISABLED))
		*method = SASL_METHOD_LOGIN_COMMAND;
	else
		return yb_fail(err, YB_ERR_AUTH, "%s offers neither AUTH=LOGIN "
			       "nor the LOGIN command (LOGINDISABLED)",
			       peer(imap));
	return YB_OK;
}

/* Every way in the server offers, as SASL_BIT()s. */
static unsigned offered_methods(const struct imap *imap)
{
	static const struct {
		uint64_t capa;
		enum sasl_method method;
	} offers[] = {
		{ IMAP_CAPA_AUTH_PLAIN, SASL_METHOD_PLAIN },
		{ IMAP_CAPA_AUTH_LOGIN, SASL_METHOD_LOGIN },
		{ IMAP_CAPA_AUTH_CRAM_MD5, SASL_METHOD_CRAM_MD5 },
		{ IMAP_CAPA_AUTH_XOAUTH2, SASL_METHOD_XOAUTH2 },
		{ IMAP_CAPA_AUTH_OAUTHBEARER, SASL_METHOD_OAUTHBEARER },
	};
	unsigned methods = 0;
	for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++)
		if (has_capa(imap, offers[i].capa))
			methods |= SASL_BIT(offers[i].method);
	if (!has_capa(imap, IMAP_CAPA_LOGINDISABLED))
		methods |= SASL_BIT(SASL_METHOD_LOGIN_COMMAND);
	return methods;
}

/* The methods to try in turn (sasl_fallback.h); *count of them. */
static int choose_methods(struct imap *imap, enum sasl_method methods[SASL_TRY_MAX],
			  size_t *count, struct yb_error *err)
{
	*count = 1;
	if (imap->account->auth == AUTH_LOGIN)
		return choose_login(imap, &methods[0], err);
	static const enum sasl_method order[] = {
		SASL_METHOD_PLAIN, SASL_METHOD_LOGIN_COMMAND,
		SASL_METHOD_LOGIN, SASL_METHOD_CRAM_MD5,
	};
	struct sasl_offer offer = {
		.methods = offered_methods(imap),
		.tls = conn_is_tls(imap->conn),
		.order = order,
		.order_len = sizeof(order) / sizeof(order[0]),
		.no_bearer = "AUTH=OAUTHBEARER nor AUTH=XOAUTH2",
		.no_method = "(LOGIN is disabled; no AUTH=PLAIN, AUTH=LOGIN "
			     "or AUTH=CRAM-MD5)",
	};
	int rc = sasl_choose(imap->account, &offer, peer(imap), &methods[0], err);
	if (rc == YB_OK)
		*count = sasl_fallback_plan(imap->account, &offer, methods[0], methods);
	return rc;
}

static int check_can_login(struct imap *imap, const char *secret,
			   struct yb_error *err)
{
	const struct account *account = imap->account;
	if (account->auth == AUTH_APOP || account->auth == AUTH_USER)
		return yb_fail(err, YB_ERR_CONFIG, "auth %s is for POP3 only",
			       auth_mech_name(account->auth));
	int rc = sasl_check_secret(account, conn_is_tls(imap->conn),
				   peer(imap), secret, err);
	if (rc != YB_OK)
		return rc;
	if (!account->user || account->user[0] == '\0')
		return yb_fail(err, YB_ERR_CONFIG, "%s: the user name is empty",
			       account->host);
	return YB_OK;
}

/* One login attempt (sasl_attempt_fn); after a NO the session may try
   again. */
struct imap_attempt {
	struct imap *imap;
	const char *secret;
};

static int attempt_login(void *session, enum sasl_method method,
			 struct sasl_refusal *refusal, struct yb_error *err)
{
	struct imap_attempt *attempt = session;
	struct imap *imap = attempt->imap;
	bool login_command_chosen = method == SASL_METHOD_LOGIN_COMMAND;
	log_debug("%s: logging in as %s (%s%s)", peer(imap),
		  imap->account->user,
		  login_command_chosen ? "" : "AUTHENTICATE ",
		  sasl_method_name(method));
	struct imap_login login;
	login_begin(imap, &login);
	login.framing.refusal = refusal;
	if (login_command_chosen)
		return login_command(&login, attempt->secret, err);
	return sasl_run(&login.framing, method, attempt->secret, err);
}

/* Every failure leaves the session unusable. */
static int authenticate(struct imap *imap, const char *secret,
			struct yb_error *err)
{
	int rc = check_can_login(imap, secret, err);
	enum sasl_method methods[SASL_TRY_MAX];
	size_t count = 0;
	if (rc == YB_OK)
		rc = choose_methods(imap, methods, &count, err);
	if (rc != YB_OK)
		return mark_broken(imap, rc);
	char user_shown[IMAP_SHOWN_MAX / 2];
	text_sanitize(user_shown, sizeof(user_shown), imap->account->user,
		      strlen(imap->account->user));
	struct imap_attempt attempt = { imap, secret };
	rc = sasl_fallback_login(imap->account, peer(imap), user_shown, methods,
				 count, attempt_login, &attempt, err);
	return mark_broken(imap, rc);
}

/* ---- after login: ENABLE ---- */

struct enabled_seen {
	bool qresync;
	bool condstore;
	bool utf8_accept;
};

static int enabled_untagged(void *ctx, const struct imap_response *resp,
			    struct yb_error *err)
{
	(void)err;
	struct enabled_seen *seen = ctx;
	if (!imap_response_is(resp, "ENABLED"))
		return YB_OK;
	if (imap_capa_list_has(resp->values, resp->value_count, "QRESYNC"))
		seen->qresync = true;
	if (imap_capa_list_has(resp->values, resp->value_count, "CONDSTORE"))
		seen->condstore = true;
	if (imap_capa_list_has(resp->values, resp->value_count, "UTF8=ACCEPT"))
		seen->utf8_accept = true;
	return YB_OK;
}

/*
 * UTF8=ACCEPT (RFC 6855): without it a server may hand out a downgraded
 * copy of a message with raw UTF-8 in its headers.  Once enabled, the
 * server sends mailbox names as UTF-8 and takes them so, where they were
 * modified UTF-7: imap_utf8_accepted tells the folder code which.  A
 * refusal is not fatal.
 */
static int enable_utf8(struct imap *imap, struct yb_error *err)
{
	if (!has_capa(imap, IMAP_CAPA_UTF8_ACCEPT))
		return YB_OK;
	struct enabled_seen seen = { false, false, false };
	struct imap_handler handler = { .untagged = enabled_untagged, .ctx = &seen };
	struct imap_result result;
	int rc = run_command(imap, "ENABLE UTF8=ACCEPT", &handler, &result, err);
	if (rc != YB_OK)
		return rc;
	imap->utf8_accepted = result.status == IMAP_STATUS_OK && seen.utf8_accept;
	log_debug("%s: UTF8=ACCEPT %s", peer(imap),
		  imap->utf8_accepted ? "enabled" : "offered but not enabled");
	return YB_OK;
}

/*
 * QRESYNC (RFC 7162) must be enabled, and enabling it enables CONDSTORE
 * too.  CONDSTORE alone is enabled by its first use (SELECT ...
 * (CONDSTORE)), so it needs no command.  A refused ENABLE is not fatal.
 */
static int enable_extensions(struct imap *imap, struct yb_error *err)
{
	if (has_capa(imap, IMAP_CAPA_QRESYNC)) {
		struct enabled_seen seen = { false, false, false };
		struct imap_handler handler = { .untagged = enabled_untagged,
						.ctx = &seen };
		struct imap_result result;
		int rc = run_command(imap, "ENABLE QRESYNC", &handler, &result,
				     err);
		if (rc != YB_OK)
			return rc;
		if (result.status == IMAP_STATUS_OK && seen.qresync) {
			imap->qresync_enabled = true;
			imap->condstore_enabled = true;
			log_debug("%s: QRESYNC enabled", peer(imap));
		} else {
			log_debug("%s: QRESYNC offered but not enabled: %s",
				  peer(imap), result.text);
		}
	}
	if (!imap->condstore_enabled && has_capa(imap, IMAP_CAPA_CONDSTORE)) {
		imap->condstore_enabled = true;
		log_debug("%s: CONDSTORE available", peer(imap));
	}
	return enable_utf8(imap, err);
}

/* ---- connecting ---- */

static int open_connection(struct imap *imap, struct yb_error *err)
{
	const struct account *account = imap->account;
	struct conn_params params;
	conn_params_for_account(account, &params);
	params.account = account->name;
	int rc = conn_open(&params, &imap->conn, err);
	/* A port that speaks TLS at once is told now, not at the timeout. */
	if (rc == YB_OK && account->tls != TLS_IMPLICIT)
		rc = conn_wait_greeting(imap->conn, err);
	return rc;
}

static int session_new(const struct account *account, struct imap **out,
		       struct yb_error *err)
{
	struct imap *imap = calloc(1, sizeof(*imap));
	if (!imap)
		return yb_fail(err, YB_ERR_INTERNAL, "%s: out of memory",
			       account->host);
	imap->account = account;
	imap->parser = imap_parser_new(NULL, want_stream_hook, imap);
	*out = imap;
	if (!imap->parser)
		return yb_fail(err, YB_ERR_INTERNAL, "%s: out of memory",
			       account->host);
	return YB_OK;
}

/* From the greeting to the authenticated state. */
static int log_in(struct imap *imap, bool preauth, const char *password,
		  struct yb_error *err)
{
	const struct account *account = imap->account;
	/* A PREAUTH greeting leaves no moment to start TLS: accepting it
	   would let anyone in the middle strip TLS off. */
	if (preauth && account->tls == TLS_STARTTLS)
		return mark_broken(imap, yb_fail(err, YB_ERR_PROTOCOL,
			"%s: refusing PREAUTH without TLS (tls: starttls)",
			peer(imap)));
	int rc = YB_OK;
	if (account->tls == TLS_STARTTLS)
		rc = start_tls(imap, err);
	if (rc == YB_OK)
		rc = ensure_capabilities(imap, err);
	if (rc != YB_OK || preauth)
		return rc;
	unsigned long updates = imap->capa_updates;
	rc = authenticate(imap, password, err);
	if (rc != YB_OK)
		return rc;
	log_debug("%s: logged in as %s", peer(imap), account->user);
	/* Servers list more after login; most say so in the OK's code. */
	if (imap->capa_updates == updates)
		rc = ask_capabilities(imap, err);
	return rc;
}

int imap_connect(const struct account *account, const char *password,
		 struct imap **out, struct yb_error *err)
{
	*out = NULL;
	struct imap *imap = NULL;
	int rc = session_new(account, &imap, err);
	bool preauth = false;
	if (rc == YB_OK)
		rc = open_connection(imap, err);
	if (rc == YB_OK)
		rc = read_greeting(imap, &preauth, err);
	if (rc == YB_OK)
		rc = log_in(imap, preauth, password, err);
	if (rc == YB_OK)
		rc = enable_extensions(imap, err);
	if (rc != YB_OK) {
		imap_close(imap);
		return rc;
	}
	*out = imap;
	return YB_OK;
}

uint64_t imap_capabilities(const struct imap *imap)
{
	return imap->capa;
}

bool imap_qresync_enabled(const struct imap *imap)
{
	return imap->qresync_enabled;
}

bool imap_utf8_accepted(const struct imap *imap)
{
	return imap->utf8_accepted;
}

bool imap_condstore_enabled(const struct imap *imap)
{
	return imap->condstore_enabled;
}

const char *imap_host(const struct imap *imap)
{
	return imap->account->host;
}

/* ---- commands for the caller ---- */

int imap_send(struct imap *imap, const char *command, struct yb_error *err)
{
	int rc = check_usable(imap, err);
	if (rc != YB_OK)
		return rc;
	if (strpbrk(command, "\r\n"))
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: an IMAP command must not hold a line break",
			       peer(imap));
	return send_command(imap, command, err);
}

int imap_wait(struct imap *imap, const struct imap_handler *handler,
	      struct imap_result *result, struct yb_error *err)
{
	int rc = check_usable(imap, err);
	if (rc != YB_OK)
		return rc;
	imap->untagged_to = handler;
	imap->stream_to = handler;
	struct step step;
	rc = read_step(imap, false, &step, err);
	imap->untagged_to = NULL;
	imap->stream_to = NULL;
	if (rc == YB_OK)
		*result = step.result;
	return rc;
}

int imap_send_continued(struct imap *imap, const char *command,
			const struct imap_handler *handler, bool *continued,
			struct imap_result *result, struct yb_error *err)
{
	int rc = imap_send(imap, command, err);
	if (rc != YB_OK)
		return rc;
	imap->untagged_to = handler;
	imap->stream_to = NULL;
	struct step step;
	rc = read_step(imap, true, &step, err);
	imap->untagged_to = NULL;
	*continued = rc == YB_OK && step.kind == STEP_CONTINUE;
	if (rc == YB_OK && !*continued)
		*result = step.result;
	return rc;
}

/* What one response read by imap_read_one means to the session. */
static int take_one(struct imap *imap, const struct imap_response *resp,
		    bool *completed, struct imap_result *result,
		    struct yb_error *err)
{
	switch (resp->kind) {
	case IMAP_RESP_TAGGED:
		*completed = true;
		return complete_command(imap, resp, result, err);
	case IMAP_RESP_CONTINUATION:
		return mark_broken(imap, yb_fail(err, YB_ERR_PROTOCOL,
			"%s: unexpected continuation request", peer(imap)));
	case IMAP_RESP_UNTAGGED:
		break;
	}
	return dispatch_untagged(imap, resp, err);
}

int imap_read_one(struct imap *imap, const struct imap_handler *handler,
		  bool *completed, struct imap_result *result,
		  struct yb_error *err)
{
	*completed = false;
	int rc = check_usable(imap, err);
	if (rc != YB_OK)
		return rc;
	if (imap->pending_len == 0)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: waiting for a reply with no IMAP command "
			       "outstanding", peer(imap));
	const struct imap_response *resp;
	imap->untagged_to = handler;
	imap->stream_to = NULL;
	rc = read_response(imap, &resp, err);
	if (rc == YB_OK)
		rc = take_one(imap, resp, completed, result, err);
	imap->untagged_to = NULL;
	return rc;
}

int imap_send_line(struct imap *imap, const char *line, struct yb_error *err)
{
	int rc = check_usable(imap, err);
	if (rc != YB_OK)
		return rc;
	if (strpbrk(line, "\r\n"))
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: an IMAP line must not hold a line break",
			       peer(imap));
	trace_command(NULL, line);
	rc = write_text(imap, line, err);
	if (rc == YB_OK)
		rc = end_line(imap, err);
	if (rc == YB_OK)
		rc = mark_broken(imap, conn_flush(imap->conn, err));
	return rc;
}

const struct conn *imap_conn(const struct imap *imap)
{
	return imap->conn;
}

int imap_command(struct imap *imap, const char *command, const char *what,
		 const struct imap_handler *handler, struct yb_error *err)
{
	int rc = imap_send(imap, command, err);
	struct imap_result result;
	if (rc == YB_OK)
		rc = imap_wait(imap, handler, &result, err);
	if (rc == YB_OK && result.status != IMAP_STATUS_OK)
		rc = command_failed(imap, what, &result, err);
	return rc;
}

char *imap_quote_mailbox(const char *name, size_t len)
{
	size_t specials = 0;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '\0' || name[i] == '\r' || name[i] == '\n')
			return NULL;
		if (name[i] == '"' || name[i] == '\\')
			specials++;
	}
	/* len + specials + two quotes + NUL, checked (specials <= len). */
	if (len > (SIZE_MAX - 3) / 2)
		return NULL;
	char *quoted = malloc(len + specials + 3);
	if (!quoted)
		return NULL;
	size_t at = 0;
	quoted[at++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '"' || name[i] == '\\')
			quoted[at++] = '\\';
		quoted[at++] = name[i];
	}
	quoted[at++] = '"';
	quoted[at] = '\0';
	return quoted;
}

/* ---- SELECT / EXAMINE ---- */

struct select_run {
	struct imap *imap;
	const struct imap_handler *user; /* the caller's, may be NULL */
	struct imap_mailbox_info *info;
};

static int select_status(struct select_run *run,
			 const struct imap_response *resp,
			 struct yb_error *err)
{
	struct imap_code_info code;
	int rc = decode_code(run->imap, resp, &code, err);
	if (rc != YB_OK || resp->status != IMAP_STATUS_OK)
		return rc;
	struct imap_mailbox_info *info = run->info;
	switch (code.code) {
	case IMAP_CODE_UIDVALIDITY:
		info->uidvalidity = (uint32_t)code.number;
		break;
	case IMAP_CODE_UIDNEXT:
		info->uidnext = (uint32_t)code.number;
		break;
	case IMAP_CODE_HIGHESTMODSEQ:
		info->highestmodseq = code.number;
		info->nomodseq = false;
		break;
	case IMAP_CODE_NOMODSEQ:
		info->highestmodseq = 0;
		info->nomodseq = true;
		break;
	case IMAP_CODE_CLOSED:
		/* RFC 7162: what follows is about the new mailbox. */
		memset(info, 0, sizeof(*info));
		break;
	default:
		break;
	}
	return YB_OK;
}

static int select_untagged(void *ctx, const struct imap_response *resp,
			   struct yb_error *err)
{
	struct select_run *run = ctx;
	if (resp->status != IMAP_STATUS_NONE)
		return select_status(run, resp, err);
	if (imap_response_is(resp, "EXISTS")) {
		if (!resp->has_number || resp->number > UINT32_MAX)
			return mark_broken(run->imap, yb_fail(err,
				YB_ERR_PROTOCOL, "%s: EXISTS count out of "
				"range", peer(run->imap)));
		run->info->exists = (uint32_t)resp->number;
		return YB_OK;
	}
	bool forward = imap_response_is(resp, "FETCH") ||
		       imap_response_is(resp, "VANISHED");
	if (!forward || !run->user || !run->user->untagged)
		return YB_OK;
	return run->user->untagged(run->user->ctx, resp, err);
}

/* verb, " ", mailbox and the parts of a suffix joined; malloc'd. */
static char *join_command(const char *verb, const char *quoted_mailbox,
			  const char *pre, const char *mid, const char *post)
{
	size_t parts[] = { strlen(verb), 1, strlen(quoted_mailbox), strlen(pre),
			   strlen(mid), strlen(post) };
	size_t total = 1; /* the NUL */
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (parts[i] > SIZE_MAX - total)
			return NULL;
		total += parts[i];
	}
	char *command = malloc(total);
	if (!command)
		return NULL;
	if (!text_format(command, total, "%s %s%s%s%s", verb, quoted_mailbox,
			 pre, mid, post)) {
		free(command);
		return NULL;
	}
	return command;
}

/*
 * "VERB mailbox" and what QRESYNC or CONDSTORE add: with CONDSTORE the
 * server reports HIGHESTMODSEQ (RFC 7162 3.1.8).  malloc'd.
 */
static char *select_command(const struct imap *imap, const char *verb,
			    const char *quoted_mailbox, const char *qresync)
{
	if (qresync && qresync[0] != '\0' && imap->qresync_enabled)
		return join_command(verb, quoted_mailbox, " (QRESYNC (",
				    qresync, "))");
	if (imap->condstore_enabled)
		return join_command(verb, quoted_mailbox, " (CONDSTORE)", "",
				    "");
	return join_command(verb, quoted_mailbox, "", "", "");
}

static int select_result(struct imap *imap, bool examine,
			 const char *quoted_mailbox,
			 const struct imap_result *result,
			 struct imap_mailbox_info *info, struct yb_error *err)
{
	const char *verb = examine ? "EXAMINE" : "SELECT";
	if (result->status != IMAP_STATUS_OK) {
		char *what = join_command(verb, quoted_mailbox, "", "", "");
		int rc = what ? command_failed(imap, what, result, err)
			      : out_of_memory(imap, err);
		free(what);
		return rc;
	}
	if (result->code.code == IMAP_CODE_READ_ONLY)
		info->read_only = true;
	else if (result->code.code == IMAP_CODE_READ_WRITE)
		info->read_only = false;
	else
		info->read_only = examine;
	return YB_OK;
}

int imap_select(struct imap *imap, const char *quoted_mailbox, bool examine,
		const char *qresync, const struct imap_handler *handler,
		struct imap_mailbox_info *out, struct yb_error *err)
{
	int rc = check_usable(imap, err);
	if (rc != YB_OK)
		return rc;
	const char *verb = examine ? "EXAMINE" : "SELECT";
	char *command = select_command(imap, verb, quoted_mailbox, qresync);
	if (!command)
		return out_of_memory(imap, err);
	rc = imap_send(imap, command, err);
	free(command);
	if (rc != YB_OK)
		return rc;
	struct imap_mailbox_info info;
	memset(&info, 0, sizeof(info));
	struct select_run run = { .imap = imap, .user = handler, .info = &info };
	struct imap_handler mine = { .untagged = select_untagged, .ctx = &run };
	imap->untagged_to = &mine;
	imap->stream_to = handler;
	struct step step;
	rc = read_step(imap, false, &step, err);
	imap->untagged_to = NULL;
	imap->stream_to = NULL;
	if (rc != YB_OK)
		return rc;
	rc = select_result(imap, examine, quoted_mailbox, &step.result, &info, err);
	if (rc == YB_OK) {
		*out = info;
	} else if (step.result.status == IMAP_STATUS_NO) {
		memset(out, 0, sizeof(*out));
		out->refused = true;
		out->refusal_code = step.result.code.code;
	}
	return rc;
}

/* ---- LIST ---- */

struct list_run {
	struct imap *imap;
	int (*fn)(void *ctx, const struct imap_list_entry *entry,
		  struct yb_error *err);
	void *ctx;
};

static int list_untagged(void *ctx, const struct imap_response *resp,
			 struct yb_error *err)
{
	struct list_run *run = ctx;
	if (!imap_response_is(resp, "LIST"))
		return YB_OK;
	struct imap_list_entry entry;
	int rc = imap_list_decode(resp, &entry, err);
	if (rc != YB_OK)
		return decode_failed(run->imap, rc, err);
	return run->fn(run->ctx, &entry, err);
}

int imap_list(struct imap *imap, const char *quoted_pattern,
	      int (*fn)(void *ctx, const struct imap_list_entry *entry,
			struct yb_error *err),
	      void *ctx, struct yb_error *err)
{
	const char *prefix = "LIST \"\" ";
	size_t pattern_len = strlen(quoted_pattern);
	if (pattern_len > SIZE_MAX - strlen(prefix) - 1)
		return out_of_memory(imap, err);
	size_t size = strlen(prefix) + pattern_len + 1;
	char *command = malloc(size);
	if (!command)
		return out_of_memory(imap, err);
	if (!text_format(command, size, "%s%s", prefix, quoted_pattern)) {
		free(command);
		return out_of_memory(imap, err);
	}
	struct list_run run = { .imap = imap, .fn = fn, .ctx = ctx };
	struct imap_handler handler = { .untagged = list_untagged, .ctx = &run };
	int rc = imap_command(imap, command, command, &handler, err);
	free(command);
	return rc;
}

/* ---- the end ---- */

int imap_logout(struct imap *imap, struct yb_error *err)
{
	int rc = check_usable(imap, err);
	if (rc != YB_OK)
		return rc;
	if (imap->pending_len > 0)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: LOGOUT with %zu IMAP commands still "
			       "outstanding", peer(imap), imap->pending_len);
	rc = send_command(imap, "LOGOUT", err);
	imap->logout_sent = true;
	struct step step;
	imap->conn_failed = false;
	if (rc == YB_OK)
		rc = read_step(imap, false, &step, err);
	/* A server may hang up right after its BYE. */
	if (rc != YB_OK && imap->bye_seen && imap->conn_failed) {
		log_debug("%s: connection closed after BYE", peer(imap));
		return YB_OK;
	}
	if (rc != YB_OK)
		return rc;
	if (step.result.status != IMAP_STATUS_OK)
		return command_failed(imap, "LOGOUT", &step.result, err);
	log_debug("%s: logged out", peer(imap));
	return YB_OK;
}

void imap_close(struct imap *imap)
{
	if (!imap)
		return;
	conn_close(imap->conn);
	imap_parser_free(imap->parser);
	free(imap->pending);
	free(imap);
}
