/*
 * pop3.c - one POP3 session (see pop3.h).
 *
 * Parsing lives in pop3_parse.c and SASL in sasl_engine.c (this file
 * gives it the AUTH framing); this file holds the conversation: what to
 * send, which reply to expect, and what a reply means.  Every reply is checked against the command it answers:
 * a FIFO remembers the queued RETR and DELE commands, so a caller that
 * reads the wrong reply gets an error instead of a silent mix-up.
 *
 * Nothing secret reaches the log: the trace shows PASS, APOP and AUTH
 * payloads as "<redacted>".
 */
#include "config.h"

#include "pop3.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "conn_account.h"
#include "grow.h"
#include "log.h"
#include "pop3_parse.h"
#include "sasl.h"
#include "sasl_engine.h"
#include "sasl_fallback.h"
#include "text.h"

/* Body bytes are unstuffed into this buffer, allocated once per session;
   memory does not grow with the size of a message. */
#define POP3_SCRATCH_SIZE (128 * 1024)
/* A maildrop larger than this is refused rather than listed: a listing
   costs up to ~300 bytes a message from UIDL to plan (yubin-failures(7),
   LIMITS), so a hostile server can make a run take at most ~300 MB. */
#define POP3_MAX_MESSAGES 1000000
/* More queued commands than this is a caller bug, not a window. */
#define POP3_PENDING_MAX (1024 * 1024)
/* A CAPA listing longer than this is a server gone wrong. */
#define POP3_CAPA_LINES_MAX 1024
/* RFC 5034: an AUTH command line (with CRLF) is at most 255 octets; a
   longer initial response goes in its own line after "+ ". */
#define POP3_AUTH_COMMAND_MAX 253
/* Room for a timestamp in the greeting (the parser's limit is 512). */
#define POP3_APOP_SIZE 513
/* Server text in error messages and traces. */
#define POP3_SHOWN_MAX 512

enum pending_kind { PENDING_RETR, PENDING_DELE };

struct pending_cmd {
	enum pending_kind kind;
	unsigned long msgno;
};

struct pop3 {
	struct conn *conn;              /* owned */
	const struct account *account;  /* not owned; outlives the session */
	struct pop3_capa capa;          /* from the last CAPA */
	bool has_capa;                  /* CAPA answered +OK */
	bool uidl_refused;              /* no CAPA, and UIDL said -ERR */
	char apop_timestamp[POP3_APOP_SIZE]; /* "" when the greeting had none */

	/* Ring of commands sent and not yet answered, oldest first. */
	struct pending_cmd *pending;
	size_t pending_head, pending_len, pending_cap;

	char *scratch;                  /* POP3_SCRATCH_SIZE bytes, owned */
	bool broken;                    /* an error left the stream out of step */
	bool quit_sent;
	/* The last body read disagreed with LIST and was taken as sent. */
	bool last_size_disagreed;
	uint64_t last_body_bytes;
};

static const char *peer(const struct pop3 *pop3)
{
	return conn_peer(pop3->conn);
}

static void sanitize(char *dst, const char *text, size_t len)
{
	text_sanitize(dst, POP3_SHOWN_MAX, text, len);
}

/* Fail with the server's text (sanitized) after "HOST:PORT: what: ". */
static int fail_with_text(struct pop3 *pop3, enum yb_status status,
			  const char *what, const char *text, size_t len,
			  struct yb_error *err)
{
	char shown[POP3_SHOWN_MAX];
	sanitize(shown, text, len);
	return yb_fail(err, status, "%s: %s: %s", peer(pop3), what, shown);
}

/* The stream is no longer in step with our commands: refuse more. */
static int mark_broken(struct pop3 *pop3, int status)
{
	if (status != YB_OK)
		pop3->broken = true;
	return status;
}

static int check_usable(struct pop3 *pop3, struct yb_error *err)
{
	if (pop3->broken)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: POP3 session used after an earlier error",
			       peer(pop3));
	if (pop3->quit_sent)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: POP3 session used after QUIT", peer(pop3));
	return YB_OK;
}

static int check_no_pending(struct pop3 *pop3, const char *command,
			    struct yb_error *err)
{
	if (pop3->pending_len == 0)
		return YB_OK;
	return yb_fail(err, YB_ERR_INTERNAL,
		       "%s: %s sent with %zu earlier replies still unread",
		       peer(pop3), command, pop3->pending_len);
}

static int out_of_memory(struct pop3 *pop3, struct yb_error *err)
{
	pop3->broken = true;
	return yb_fail(err, YB_ERR_INTERNAL, "%s: out of memory", peer(pop3));
}

/* --- lines in and out --- */

/*
 * Queue one command line: parts joined, then CRLF.  shown is what the
 * trace prints instead (secrets replaced by "<redacted>").
 */
static int send_parts(struct pop3 *pop3, const char *const *parts,
		      size_t part_count, const char *shown,
		      struct yb_error *err)
{
	log_trace("C: %s", shown);
	for (size_t i = 0; i < part_count; i++) {
		int rc = conn_write(pop3->conn, parts[i], strlen(parts[i]), err);
		if (rc != YB_OK)
			return mark_broken(pop3, rc);
	}
	return mark_broken(pop3, conn_write(pop3->conn, "\r\n", 2, err));
}

/* Send a command that holds no secret. */
static int send_line(struct pop3 *pop3, const char *line, struct yb_error *err)
{
	return send_parts(pop3, &line, 1, line, err);
}

static int flush(struct pop3 *pop3, struct yb_error *err)
{
	return mark_broken(pop3, conn_flush(pop3->conn, err));
}

static int read_line(struct pop3 *pop3, const char **line, size_t *len,
		     struct yb_error *err)
{
	int rc = conn_read_line(pop3->conn, POP3_LINE_MAX, line, len, err);
	if (rc != YB_OK)
		return mark_broken(pop3, rc);
	if (log_enabled(LOG_LEVEL_TRACE)) {
		char shown[POP3_SHOWN_MAX];
		sanitize(shown, *line, *len);
		log_trace("S: %s", shown);
	}
	return YB_OK;
}

/*
 * Read a status line in answer to `what`.  +OK and -ERR are returned in
 * *status with their text; anything else is YB_ERR_PROTOCOL.
 */
static int read_status(struct pop3 *pop3, const char *what,
		       enum pop3_status *status, const char **text,
		       size_t *text_len, struct yb_error *err)
{
	const char *line;
	size_t len;
	int rc = read_line(pop3, &line, &len, err);
	if (rc != YB_OK)
		return rc;
	*status = pop3_parse_status(line, len, text, text_len);
	if (*status != POP3_STATUS_BAD)
		return YB_OK;
	char shown[POP3_SHOWN_MAX];
	sanitize(shown, line, len);
	return mark_broken(pop3, yb_fail(err, YB_ERR_PROTOCOL,
		"%s: unexpected reply to %s: %s", peer(pop3), what, shown));
}

/* Read a status that must be +OK; -ERR fails with `status`. */
static int expect_ok(struct pop3 *pop3, const char *what,
		     enum yb_status status_on_err, struct yb_error *err)
{
	enum pop3_status status;
	const char *text;
	size_t text_len;
	int rc = read_status(pop3, what, &status, &text, &text_len, err);
	if (rc != YB_OK)
		return rc;
	if (status == POP3_STATUS_OK)
		return YB_OK;
	char refused[64];
	if (!text_format(refused, sizeof(refused), "%s refused", what))
		refused[0] = '\0';
	return mark_broken(pop3, fail_with_text(pop3, status_on_err, refused,
						text, text_len, err));
}

typedef int (*listing_line_fn)(struct pop3 *pop3, void *ctx,
			       const char *line, size_t len,
			       struct yb_error *err);

/*
 * Read a multi-line listing after its +OK: lines until ".", each with a
 * stuffed leading dot removed, passed to line_fn.
 */
static int read_listing(struct pop3 *pop3, listing_line_fn line_fn, void *ctx,
			struct yb_error *err)
{
	for (;;) {
		const char *line;
		size_t len;
		int rc = read_line(pop3, &line, &len, err);
		if (rc != YB_OK)
			return rc;
		if (len == 1 && line[0] == '.')
			return YB_OK;
		if (len > 0 && line[0] == '.') {
			line++;
			len--;
		}
		rc = line_fn(pop3, ctx, line, len, err);
		if (rc != YB_OK)
			return mark_broken(pop3, rc);
	}
}

/* --- greeting, CAPA, STLS --- */

static int read_greeting(struct pop3 *pop3, struct yb_error *err)
{
	const char *line;
	size_t len;
	int rc = read_line(pop3, &line, &len, err);
	if (rc != YB_OK)
		return rc;
	const char *text;
	size_t text_len;
	enum pop3_status status = pop3_parse_status(line, len, &text, &text_len);
	if (status == POP3_STATUS_OK) {
		if (!pop3_parse_apop_timestamp(line, len, pop3->apop_timestamp,
					       sizeof(pop3->apop_timestamp)))
			pop3->apop_timestamp[0] = '\0';
		return YB_OK;
	}
	if (status == POP3_STATUS_ERR) {
		enum pop3_resp_code code = pop3_parse_resp_code(text, text_len);
		bool temporary = code == POP3_CODE_IN_USE ||
				 code == POP3_CODE_SYS_TEMP ||
				 code == POP3_CODE_LOGIN_DELAY;
		return fail_with_text(pop3, temporary ? YB_ERR_TEMP
						      : YB_ERR_UNAVAILABLE,
				      "server refused the connection", text,
				      text_len, err);
	}
	return fail_with_text(pop3, YB_ERR_PROTOCOL, "not a POP3 greeting",
			      line, len, err);
}

static int capa_line(struct pop3 *pop3, void *ctx, const char *line,
		     size_t len, struct yb_error *err)
{
	size_t *lines = ctx;
	if (++*lines > POP3_CAPA_LINES_MAX)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "%s: CAPA listing longer than %d lines",
			       peer(pop3), POP3_CAPA_LINES_MAX);
	pop3_parse_capa_line(line, len, &pop3->capa);
	return YB_OK;
}

/* CAPA; a -ERR means an old server without capabilities (RFC 1939 only). */
static int read_capabilities(struct pop3 *pop3, struct yb_error *err)
{
	memset(&pop3->capa, 0, sizeof(pop3->capa));
	pop3->has_capa = false;
	int rc = send_line(pop3, "CAPA", err);
	if (rc != YB_OK)
		return rc;
	enum pop3_status status;
	const char *text;
	size_t text_len;
	rc = read_status(pop3, "CAPA", &status, &text, &text_len, err);
	if (rc != YB_OK)
		return rc;
	if (status == POP3_STATUS_ERR) {
		log_debug("%s does not support CAPA", peer(pop3));
		return YB_OK;
	}
	size_t lines = 0;
	rc = read_listing(pop3, capa_line, &lines, err);
	if (rc != YB_OK)
		return rc;
	pop3->has_capa = true;
	return YB_OK;
}

static int start_tls(struct pop3 *pop3, struct yb_error *err)
{
	if (!pop3->has_capa || !pop3->capa.stls)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "%s does not offer STLS; refusing to continue "
			       "without TLS (tls: starttls)", peer(pop3));
	int rc = send_line(pop3, "STLS", err);
	if (rc == YB_OK)
		rc = expect_ok(pop3, "STLS", YB_ERR_PROTOCOL, err);
	if (rc != YB_OK)
		return rc;
	/* conn_start_tls refuses bytes that arrived before the handshake:
	   they did not come through TLS (STARTTLS injection). */
	rc = conn_start_tls(pop3->conn, err);
	if (rc != YB_OK)
		return mark_broken(pop3, rc);
	log_debug("%s: TLS started", peer(pop3));
	/* What the server said before TLS may have been forged. */
	return read_capabilities(pop3, err);
}

/*
 * RFC 6856: a server that offers UTF8 may hand a client that did not
 * send it a downgraded copy of a message whose headers hold raw UTF-8
 * (a notice with the original attached, its MIME boundary new at each
 * download, its size not the one LIST gave).  UTF8 asks for the message
 * as it is; the command is valid before login only.  A -ERR changes
 * nothing yubin relies on, so it is noted and the session goes on.
 */
static int enable_utf8(struct pop3 *pop3, struct yb_error *err)
{
	if (!pop3->has_capa || !pop3->capa.utf8)
		return YB_OK;
	int rc = send_line(pop3, "UTF8", err);
	enum pop3_status status;
	const char *text;
	size_t text_len;
	if (rc == YB_OK)
		rc = read_status(pop3, "UTF8", &status, &text, &text_len, err);
	if (rc == YB_OK && status == POP3_STATUS_ERR)
		log_info("%s refused UTF8 though it offers it; messages with "
			 "UTF-8 headers may come downgraded", peer(pop3));
	return rc;
}

/* --- authentication --- */

/*
 * A trace line "PREFIX USER SUFFIX" in shown (POP3_SHOWN_MAX bytes); the
 * user name may appear in the trace, cut short if it is very long.
 */
static void show_with_user(char *shown, const char *prefix, const char *user,
			   const char *suffix)
{
	char user_shown[POP3_SHOWN_MAX / 2];
	text_sanitize(user_shown, sizeof(user_shown), user, strlen(user));
	int written = snprintf(shown, POP3_SHOWN_MAX, "%s%s%s", prefix,
			       user_shown, suffix);
	/* Cannot happen with the short prefixes used here; the trace line
	   would merely be cut. */
	if (written < 0 || written >= POP3_SHOWN_MAX)
		shown[0] = '\0';
}

/* A -ERR to a login step: temporary by its response code, else refused. */
static enum sasl_answer refusal(const char *text, size_t len)
{
	enum pop3_resp_code code = pop3_parse_resp_code(text, len);
	if (code == POP3_CODE_IN_USE || code == POP3_CODE_SYS_TEMP ||
	    code == POP3_CODE_LOGIN_DELAY)
		return SASL_ANSWER_REFUSED_FOR_NOW;
	return SASL_ANSWER_REFUSED;
}

/*
 * The framing's read_reply: +OK, -ERR, or a SASL continuation "+ text"
 * (RFC 5034).  reply->text is what follows.
 */
static int read_auth_reply(void *session, const char *what, bool challenge_ok,
			   struct sasl_reply *reply, struct yb_error *err)
{
	/* A challenge where none fits is the engine's to report. */
	(void)challenge_ok;
	struct pop3 *pop3 = session;
	const char *line;
	size_t len;
	int rc = read_line(pop3, &line, &len, err);
	if (rc != YB_OK)
		return rc;
	reply->credentials = false;
	reply->code = NULL; /* POP3's [CODE] stays in the text */
	if (len >= 1 && line[0] == '+' && (len == 1 || line[1] == ' ')) {
		reply->answer = SASL_ANSWER_CHALLENGE;
		reply->text = len > 2 ? line + 2 : line + len;
		reply->text_len = len > 2 ? len - 2 : 0;
		return YB_OK;
	}
	enum pop3_status status = pop3_parse_status(line, len, &reply->text,
						    &reply->text_len);
	if (status == POP3_STATUS_OK) {
		reply->answer = SASL_ANSWER_OK;
		return YB_OK;
	}
	if (status == POP3_STATUS_ERR) {
		reply->answer = refusal(reply->text, reply->text_len);
		reply->credentials = pop3_parse_resp_code(reply->text, reply->text_len) ==
				     POP3_CODE_AUTH;
		return YB_OK;
	}
	char shown[POP3_SHOWN_MAX];
	sanitize(shown, line, len);
	return yb_fail(err, YB_ERR_PROTOCOL, "%s: unexpected reply to %s: %s",
		       peer(pop3), what, shown);
}

/* The framing's send_command: AUTH MECHANISM [initial-response]. */
static int send_auth_command(void *session, const char *command,
			     const char *initial, struct yb_error *err)
{
	struct pop3 *pop3 = session;
	if (!initial)
		return send_line(pop3, command, err);
	char shown[POP3_SHOWN_MAX];
	snprintf(shown, sizeof(shown), "%s <redacted>", command);
	const char *parts[] = { command, " ", initial };
	return send_parts(pop3, parts, 3, shown, err);
}

/* The framing's send_response; always shown as "<redacted>". */
static int send_sasl_response(void *session, const char *response,
			      struct yb_error *err)
{
	return send_parts(session, &response, 1, "<redacted>", err);
}

static void framing_for(struct pop3 *pop3, struct sasl_framing *framing)
{
	*framing = (struct sasl_framing){
		.session = pop3,
		.account = pop3->account,
		.peer = peer(pop3),
		.user_shown = pop3->account->user,
		.command = "AUTH",
		.ok_word = "+OK",
		/* Bearer responses always go on their own line after "+ ":
		   they are longer than a POP3 command may be, and
		   Microsoft's server wants it so. */
		.initial_methods = SASL_BIT(SASL_METHOD_PLAIN),
		.initial_max = POP3_AUTH_COMMAND_MAX,
		.repeats_initial = true,
		.cram_md5_needs_challenge = true,
		.send_command = send_auth_command,
		.send_response = send_sasl_response,
		.read_reply = read_auth_reply,
		.cancel = NULL,
	};
}

/* The last reply of APOP, USER or PASS: +OK, or the reason it failed. */
static int expect_login_result(const struct sasl_framing *framing,
			       const char *what, struct yb_error *err)
{
	struct sasl_reply reply = { 0 };
	int rc = read_auth_reply(framing->session, what, false, &reply, err);
	if (rc != YB_OK)
		return rc;
	if (reply.answer == SASL_ANSWER_CHALLENGE)
		return yb_fail(err, YB_ERR_PROTOCOL, "%s: %s: the server asked "
			       "for more than the mechanism has", framing->peer,
			       what);
	return sasl_refused(framing, what, &reply, err);
}

static int auth_apop(struct pop3 *pop3, const struct sasl_framing *framing,
		     const char *password, struct yb_error *err)
{
	if (pop3->apop_timestamp[0] == '\0')
		return yb_fail(err, YB_ERR_AUTH, "%s: auth apop: the server's "
			       "greeting has no APOP timestamp", peer(pop3));
	char *digest = sasl_apop_digest(pop3->apop_timestamp, password);
	if (!digest)
		return yb_fail(err, YB_ERR_INTERNAL, "%s: auth apop: cannot "
			       "compute the MD5 digest", peer(pop3));
	const char *user = pop3->account->user;
	char shown[POP3_SHOWN_MAX];
	show_with_user(shown, "APOP ", user, " <redacted>");
	const char *parts[] = { "APOP ", user, " ", digest };
	int rc = send_parts(pop3, parts, 4, shown, err);
	sasl_free_secret(digest);
	if (rc == YB_OK)
		rc = expect_login_result(framing, "APOP", err);
	return rc;
}

static int auth_user(struct pop3 *pop3, const struct sasl_framing *framing,
		     const char *password, struct yb_error *err)
{
	/* PASS carries the password as is: a line break in it would end
	   the command early and send the rest as another command. */
	if (strpbrk(password, "\r\n"))
		return yb_fail(err, YB_ERR_CONFIG, "%s: the password contains "
			       "a line break, which USER/PASS cannot send",
			       pop3->account->host);
	const char *user = pop3->account->user;
	char shown[POP3_SHOWN_MAX];
	show_with_user(shown, "USER ", user, "");
	const char *user_parts[] = { "USER ", user };
	int rc = send_parts(pop3, user_parts, 2, shown, err);
	if (rc == YB_OK)
		rc = expect_login_result(framing, "USER", err);
	if (rc != YB_OK)
		return rc;
	const char *pass_parts[] = { "PASS ", password };
	rc = send_parts(pop3, pass_parts, 2, "PASS <redacted>", err);
	if (rc == YB_OK)
		rc = expect_login_result(framing, "PASS", err);
	return rc;
}

/* Every way in the server offers, as SASL_BIT()s. */
static unsigned offered_methods(const struct pop3 *pop3)
{
	const struct pop3_capa *capa = &pop3->capa;
	const struct {
		bool offered;
		enum sasl_method method;
	} offers[] = {
		{ capa->sasl_plain, SASL_METHOD_PLAIN },
		{ capa->sasl_login, SASL_METHOD_LOGIN },
		{ capa->sasl_cram_md5, SASL_METHOD_CRAM_MD5 },
		{ capa->sasl_xoauth2, SASL_METHOD_XOAUTH2 },
		{ capa->sasl_oauthbearer, SASL_METHOD_OAUTHBEARER },
		{ pop3->apop_timestamp[0] != '\0', SASL_METHOD_APOP },
		/* A server without CAPA predates SASL: USER is all it has. */
		{ capa->user || !pop3->has_capa, SASL_METHOD_USER },
	};
	unsigned methods = 0;
	for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++)
		if (offers[i].offered)
			methods |= SASL_BIT(offers[i].method);
	return methods;
}

/* The methods to try in turn (sasl_fallback.h); *count of them. */
static int choose_methods(struct pop3 *pop3, enum sasl_method methods[SASL_TRY_MAX],
			  size_t *count, struct yb_error *err)
{
	static const enum sasl_method order[] = {
		SASL_METHOD_PLAIN, SASL_METHOD_LOGIN, SASL_METHOD_USER,
	};
	struct sasl_offer offer = {
		.methods = offered_methods(pop3),
		.tls = conn_is_tls(pop3->conn),
		.order = order,
		.order_len = sizeof(order) / sizeof(order[0]),
		.no_bearer = "SASL OAUTHBEARER nor XOAUTH2",
		.no_method = "(USER, SASL PLAIN, LOGIN, CRAM-MD5, APOP)",
	};
	enum sasl_method first;
	int rc = sasl_choose(pop3->account, &offer, peer(pop3), &first, err);
	if (rc == YB_OK)
		*count = sasl_fallback_plan(pop3->account, &offer, first, methods);
	return rc;
}

/* A user name goes into command lines: no control characters. */
static bool user_is_sendable(const char *user)
{
	for (const char *c = user; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	return *user != '\0';
}

static int check_can_login(struct pop3 *pop3, const char *secret,
			   struct yb_error *err)
{
	const struct account *account = pop3->account;
	int rc = sasl_check_secret(account, conn_is_tls(pop3->conn),
				   peer(pop3), secret, err);
	if (rc != YB_OK)
		return rc;
	if (!account->user || !user_is_sendable(account->user))
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s: the user name is empty or holds a control "
			       "character", account->host);
	return YB_OK;
}

/* One login attempt (sasl_attempt_fn); a refusal leaves the session
   able to try again (RFC 5034 4). */
struct pop3_attempt {
	struct pop3 *pop3;
	const char *secret;
};

static int attempt_login(void *session, enum sasl_method method,
			 struct sasl_refusal *refusal, struct yb_error *err)
{
	struct pop3_attempt *attempt = session;
	struct pop3 *pop3 = attempt->pop3;
	log_debug("%s: logging in as %s (auth %s)", peer(pop3),
		  pop3->account->user,
		  auth_mech_name(sasl_method_auth(method)));
	struct sasl_framing framing;
	framing_for(pop3, &framing);
	framing.refusal = refusal;
	if (method == SASL_METHOD_APOP)
		return auth_apop(pop3, &framing, attempt->secret, err);
	if (method == SASL_METHOD_USER)
		return auth_user(pop3, &framing, attempt->secret, err);
	return sasl_run(&framing, method, attempt->secret, err);
}

/* Every failure once the server is asked leaves the session unusable. */
static int authenticate(struct pop3 *pop3, const char *secret,
			struct yb_error *err)
{
	int rc = check_can_login(pop3, secret, err);
	if (rc != YB_OK)
		return rc;
	enum sasl_method methods[SASL_TRY_MAX];
	size_t count = 0;
	rc = choose_methods(pop3, methods, &count, err);
	struct pop3_attempt attempt = { pop3, secret };
	if (rc == YB_OK)
		rc = sasl_fallback_login(pop3->account, peer(pop3), pop3->account->user,
					 methods, count, attempt_login, &attempt, err);
	return mark_broken(pop3, rc);
}

/* --- connecting --- */

static int open_connection(struct pop3 *pop3, struct yb_error *err)
{
	const struct account *account = pop3->account;
	struct conn_params params;
	conn_params_for_account(account, &params);
	params.account = account->name;
	int rc = conn_open(&params, &pop3->conn, err);
	/* A port that speaks TLS at once is told now, not at the timeout. */
	if (rc == YB_OK && account->tls != TLS_IMPLICIT)
		rc = conn_wait_greeting(pop3->conn, err);
	return rc;
}

int pop3_connect(const struct account *account, const char *password,
		 struct pop3 **out, struct yb_error *err)
{
	*out = NULL;
	struct pop3 *pop3 = calloc(1, sizeof(*pop3));
	if (!pop3)
		return yb_fail(err, YB_ERR_INTERNAL, "%s: out of memory",
			       account->host);
	pop3->account = account;
	pop3->scratch = malloc(POP3_SCRATCH_SIZE);
	int rc = pop3->scratch ? YB_OK
			       : yb_fail(err, YB_ERR_INTERNAL,
					 "%s: out of memory", account->host);
	if (rc == YB_OK)
		rc = open_connection(pop3, err);
	if (rc == YB_OK)
		rc = read_greeting(pop3, err);
	if (rc == YB_OK)
		rc = read_capabilities(pop3, err);
	if (rc == YB_OK && account->tls == TLS_STARTTLS)
		rc = start_tls(pop3, err);
	if (rc == YB_OK)
		rc = enable_utf8(pop3, err);
	if (rc == YB_OK)
		rc = authenticate(pop3, password, err);
	if (rc != YB_OK) {
		pop3_close(pop3);
		return rc;
	}
	log_debug("%s: logged in as %s", peer(pop3), account->user);
	*out = pop3;
	return YB_OK;
}

bool pop3_pipelining(const struct pop3 *pop3)
{
	return pop3->capa.pipelining && pop3->account->pipelining;
}

bool pop3_has_uidl(const struct pop3 *pop3)
{
	return (pop3->capa.uidl || !pop3->has_capa) && !pop3->uidl_refused;
}

/* --- UIDL and LIST --- */

/* Eight bytes, not sixteen: a listing of 100,000 touches half the pages.
   The parser keeps msgno to 32 bits, and all the text fits in 32 bits. */
struct uidl_entry {
	uint32_t msgno;
	uint32_t offset; /* of its UIDL in the listing's text */
};
/* A chunk of UIDL text: large enough that few are needed, each UIDL
   whole in one (a chunk leaves less than a UIDL unused). */
#define UIDL_CHUNK_SIZE ((size_t)256 * 1024)
_Static_assert(POP3_UIDL_MAX + 1 <= UIDL_CHUNK_SIZE,
	       "a UIDL must fit in one chunk");
_Static_assert((uint64_t)POP3_MAX_MESSAGES * (POP3_UIDL_MAX + 1) * 2 <=
	       UINT32_MAX, "a UIDL listing's chunks must fit 32-bit offsets");

struct list_entry {
	unsigned long msgno;
	uint64_t size;
};

struct listing {
	void *entries;
	size_t len, cap;
	size_t entry_size;
	size_t expected; /* entries likely to come (LIST: as many as UIDL) */
	bool sorted; /* msgnos arrived in ascending order so far */
	const char *command;
	/* UIDL: every UIDL, NUL-terminated, one after another in chunks of
	   UIDL_CHUNK_SIZE (not one allocation per message, and none copied
	   as the listing grows); offsets count across the chunks. */
	char **chunks;
	size_t chunk_count, chunk_cap;
	size_t chunk_used;  /* bytes used in the last chunk */
};

/*
 * What pop3_list hands out: the messages, and the chunks their UIDLs
 * point into, taken over from the UIDL listing (not copied: a listing of
 * 100,000 UIDLs is megabytes of fresh pages).  pop3_free_msgs frees both.
 */
struct msg_block {
	char **chunks;        /* owned, and each chunk */
	size_t chunk_count;
	struct pop3_msg msgs[];
};

/* Room for one more entry; false when the cap or memory runs out. */
static int listing_reserve(struct pop3 *pop3, struct listing *listing,
			   struct yb_error *err)
{
	if (listing->len < listing->cap)
		return YB_OK;
	if (listing->cap >= POP3_MAX_MESSAGES)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "%s: the %s listing names more than %d messages, "
			       "yubin's limit for one POP3 maildrop (see "
			       "yubin-failures(7), LIMITS)", peer(pop3),
			       listing->command, POP3_MAX_MESSAGES);
	/* The first allocation holds what is expected, so a LIST as long as
	   its UIDL grows no copies on the way. */
	size_t first = listing->expected > 1024 ? listing->expected : 1024;
	size_t cap = listing->cap ? listing->cap * 2 : first;
	if (cap > POP3_MAX_MESSAGES)
		cap = POP3_MAX_MESSAGES;
	if (cap > SIZE_MAX / listing->entry_size)
		return out_of_memory(pop3, err);
	void *grown = realloc(listing->entries, cap * listing->entry_size);
	if (!grown)
		return out_of_memory(pop3, err);
	listing->entries = grown;
	listing->cap = cap;
	return YB_OK;
}

/* A fresh chunk for UIDL text, its pointer kept in listing->chunks. */
static int add_uidl_chunk(struct pop3 *pop3, struct listing *listing,
			  struct yb_error *err)
{
	char **grown = grow_array(listing->chunks, &listing->chunk_cap,
				  listing->chunk_count + 1, sizeof(*grown), 16);
	if (!grown)
		return out_of_memory(pop3, err);
	listing->chunks = grown;
	char *chunk = malloc(UIDL_CHUNK_SIZE);
	if (!chunk)
		return out_of_memory(pop3, err);
	listing->chunks[listing->chunk_count++] = chunk;
	listing->chunk_used = 0;
	return YB_OK;
}

/* Copy uidl into the listing's text; *offset tells where it went. */
static int append_uidl_text(struct pop3 *pop3, struct listing *listing,
			    const char *uidl, size_t uidl_len, size_t *offset,
			    struct yb_error *err)
{
	/* Bounded: POP3_MAX_MESSAGES UIDLs of POP3_UIDL_MAX bytes. */
	if (listing->chunk_count == 0 ||
	    UIDL_CHUNK_SIZE - listing->chunk_used < uidl_len + 1) {
		int rc = add_uidl_chunk(pop3, listing, err);
		if (rc != YB_OK)
			return rc;
	}
	char *at = listing->chunks[listing->chunk_count - 1] + listing->chunk_used;
	memcpy(at, uidl, uidl_len);
	at[uidl_len] = '\0';
	*offset = (listing->chunk_count - 1) * UIDL_CHUNK_SIZE +
		  listing->chunk_used;
	listing->chunk_used += uidl_len + 1;
	return YB_OK;
}

/* The UIDL append_uidl_text put at offset, in a listing's chunks. */
static char *uidl_at(char *const *chunks, uint32_t offset)
{
	return chunks[offset / UIDL_CHUNK_SIZE] + offset % UIDL_CHUNK_SIZE;
}

static void note_order(struct listing *listing, unsigned long previous,
		       unsigned long msgno)
{
	if (listing->len > 0 && msgno <= previous)
		listing->sorted = false;
}

static int bad_listing_line(struct pop3 *pop3, const char *command,
			    const char *line, size_t len, struct yb_error *err)
{
	char what[64];
	if (!text_format(what, sizeof(what), "bad %s line", command))
		what[0] = '\0';
	return fail_with_text(pop3, YB_ERR_PROTOCOL, what, line, len, err);
}

static int uidl_line(struct pop3 *pop3, void *ctx, const char *line,
		     size_t len, struct yb_error *err)
{
	struct listing *listing = ctx;
	unsigned long msgno;
	const char *uidl;
	size_t uidl_len;
	if (!pop3_parse_uidl_line(line, len, &msgno, &uidl, &uidl_len))
		return bad_listing_line(pop3, "UIDL", line, len, err);
	int rc = listing_reserve(pop3, listing, err);
	if (rc != YB_OK)
		return rc;
	size_t offset = 0;
	rc = append_uidl_text(pop3, listing, uidl, uidl_len, &offset, err);
	if (rc != YB_OK)
		return rc;
	struct uidl_entry *entries = listing->entries;
	if (listing->len > 0)
		note_order(listing, entries[listing->len - 1].msgno, msgno);
	entries[listing->len].msgno = (uint32_t)msgno;
	entries[listing->len].offset = (uint32_t)offset;
	listing->len++;
	return YB_OK;
}

static int list_line(struct pop3 *pop3, void *ctx, const char *line,
		     size_t len, struct yb_error *err)
{
	struct listing *listing = ctx;
	unsigned long msgno;
	uint64_t size;
	if (!pop3_parse_list_line(line, len, &msgno, &size))
		return bad_listing_line(pop3, "LIST", line, len, err);
	int rc = listing_reserve(pop3, listing, err);
	if (rc != YB_OK)
		return rc;
	struct list_entry *entries = listing->entries;
	if (listing->len > 0)
		note_order(listing, entries[listing->len - 1].msgno, msgno);
	entries[listing->len].msgno = msgno;
	entries[listing->len].size = size;
	listing->len++;
	return YB_OK;
}

/*
 * Read the reply to UIDL.  -ERR from a server that listed UIDL in CAPA is
 * an error; from one without CAPA it means "no UIDL here".
 */
static int read_uidl_reply(struct pop3 *pop3, struct listing *uidls,
			   struct yb_error *err)
{
	enum pop3_status status;
	const char *text;
	size_t text_len;
	int rc = read_status(pop3, "UIDL", &status, &text, &text_len, err);
	if (rc != YB_OK)
		return rc;
	if (status == POP3_STATUS_OK)
		return read_listing(pop3, uidl_line, uidls, err);
	if (pop3->has_capa)
		return mark_broken(pop3, fail_with_text(pop3, YB_ERR_PROTOCOL,
			"UIDL refused", text, text_len, err));
	log_debug("%s does not support UIDL", peer(pop3));
	pop3->uidl_refused = true;
	return YB_OK;
}

static int read_list_reply(struct pop3 *pop3, struct listing *lists,
			   struct yb_error *err)
{
	int rc = expect_ok(pop3, "LIST", YB_ERR_PROTOCOL, err);
	if (rc != YB_OK)
		return rc;
	return read_listing(pop3, list_line, lists, err);
}

static int compare_uidl_entries(const void *a, const void *b)
{
	const struct uidl_entry *ea = a, *eb = b;
	return (ea->msgno > eb->msgno) - (ea->msgno < eb->msgno);
}

static int compare_list_entries(const void *a, const void *b)
{
	const struct list_entry *ea = a, *eb = b;
	return (ea->msgno > eb->msgno) - (ea->msgno < eb->msgno);
}

static void free_listing(struct listing *listing)
{
	free(listing->entries);
	for (size_t i = 0; i < listing->chunk_count; i++)
		free(listing->chunks[i]);
	free(listing->chunks);
	listing->entries = NULL;
	listing->chunks = NULL;
	listing->chunk_count = listing->chunk_cap = 0;
	listing->len = 0;
}

/* The block that holds msgs (a result of build_from_list). */
static struct msg_block *block_of(struct pop3_msg *msgs)
{
	return (struct msg_block *)((char *)msgs -
				    offsetof(struct msg_block, msgs));
}

/* *out: a fresh result of count messages (room for one at least),
   owning no UIDL text yet; pop3_free_msgs frees it. */
static int new_block(struct pop3 *pop3, size_t count, struct pop3_msg **out,
		     struct yb_error *err)
{
	if (count == 0)
		count = 1;
	if (count > (SIZE_MAX - sizeof(struct msg_block)) /
		    sizeof(struct pop3_msg))
		return out_of_memory(pop3, err);
	struct msg_block *block = malloc(sizeof(*block) +
					 count * sizeof(struct pop3_msg));
	if (!block)
		return out_of_memory(pop3, err);
	block->chunks = NULL;
	block->chunk_count = 0;
	*out = block->msgs;
	return YB_OK;
}

/*
 * LIST sorted by msgno into a fresh result, each number once, without
 * UIDLs yet (attach_uidls); pop3_free_msgs frees it.
 */
static int build_from_list(struct pop3 *pop3, struct listing *lists,
			   struct pop3_msg **out, struct yb_error *err)
{
	struct list_entry *entries = lists->entries;
	if (!lists->sorted)
		qsort(entries, lists->len, sizeof(*entries),
		      compare_list_entries);
	struct pop3_msg *msgs;
	int rc = new_block(pop3, lists->len, &msgs, err);
	if (rc != YB_OK)
		return rc;
	for (size_t i = 0; i < lists->len; i++) {
		if (i > 0 && entries[i].msgno == entries[i - 1].msgno) {
			pop3_free_msgs(msgs, 0);
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "%s: LIST names message %lu twice",
				       peer(pop3), entries[i].msgno);
		}
		msgs[i].msgno = entries[i].msgno;
		msgs[i].uidl = NULL;
		msgs[i].size = entries[i].size;
	}
	*out = msgs;
	return YB_OK;
}

/* The UIDL listing's text now belongs to the result msgs. */
static void give_chunks(struct listing *uidls, struct pop3_msg *msgs)
{
	struct msg_block *block = block_of(msgs);
	block->chunks = uidls->chunks;
	block->chunk_count = uidls->chunk_count;
	uidls->chunks = NULL;
	uidls->chunk_count = uidls->chunk_cap = 0;
}

/*
 * Point each LIST entry at its UIDL (both sorted by msgno); the result
 * takes the UIDL text over (give_chunks).  The fetch engine relies on
 * "all have a UIDL or none has", so a message in one listing and not the
 * other is an error either way.
 */
static int attach_uidls(struct pop3 *pop3, struct listing *uidls,
			struct pop3_msg *msgs, size_t count,
			struct yb_error *err)
{
	struct uidl_entry *entries = uidls->entries;
	if (!uidls->sorted)
		qsort(entries, uidls->len, sizeof(*entries),
		      compare_uidl_entries);
	give_chunks(uidls, msgs);
	char *const *chunks = block_of(msgs)->chunks;
	size_t m = 0;
	for (size_t i = 0; i < uidls->len; i++) {
		unsigned long msgno = entries[i].msgno;
		if (i > 0 && msgno == entries[i - 1].msgno)
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "%s: UIDL names message %lu twice",
				       peer(pop3), msgno);
		while (m < count && msgs[m].msgno < msgno)
			m++;
		if (m == count || msgs[m].msgno != msgno)
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "%s: UIDL names message %lu, which LIST "
				       "does not", peer(pop3), msgno);
		msgs[m].uidl = uidl_at(chunks, entries[i].offset);
	}
	for (size_t i = 0; i < count; i++)
		if (!msgs[i].uidl)
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "%s: LIST names message %lu, which UIDL "
				       "does not", peer(pop3), msgs[i].msgno);
	return YB_OK;
}

/* UIDL on its own: sent, and its reply read into uidls. */
static int uidl_command(struct pop3 *pop3, struct listing *uidls,
			struct yb_error *err)
{
	int rc = send_line(pop3, "UIDL", err);
	return rc == YB_OK ? read_uidl_reply(pop3, uidls, err) : rc;
}

static int send_and_read_listings(struct pop3 *pop3, bool want_uidl,
				  struct listing *uidls, struct listing *lists,
				  struct yb_error *err)
{
	int rc = YB_OK;
	if (want_uidl && pop3_pipelining(pop3)) {
		rc = send_line(pop3, "UIDL", err);
		if (rc == YB_OK)
			rc = send_line(pop3, "LIST", err);
		if (rc == YB_OK)
			rc = flush(pop3, err);
		if (rc == YB_OK)
			rc = read_uidl_reply(pop3, uidls, err);
		lists->expected = uidls->len;
		if (rc == YB_OK)
			rc = read_list_reply(pop3, lists, err);
		return rc;
	}
	if (want_uidl)
		rc = uidl_command(pop3, uidls, err);
	lists->expected = uidls->len;
	if (rc == YB_OK)
		rc = send_line(pop3, "LIST", err);
	if (rc == YB_OK)
		rc = read_list_reply(pop3, lists, err);
	return rc;
}

int pop3_list(struct pop3 *pop3, struct pop3_msg **msgs, size_t *count,
	      struct yb_error *err)
{
	*msgs = NULL;
	*count = 0;
	int rc = check_usable(pop3, err);
	if (rc == YB_OK)
		rc = check_no_pending(pop3, "UIDL/LIST", err);
	if (rc != YB_OK)
		return rc;

	bool want_uidl = pop3_has_uidl(pop3);
	struct listing uidls = { .entry_size = sizeof(struct uidl_entry),
				 .sorted = true, .command = "UIDL" };
	struct listing lists = { .entry_size = sizeof(struct list_entry),
				 .sorted = true, .command = "LIST" };
	rc = send_and_read_listings(pop3, want_uidl, &uidls, &lists, err);

	struct pop3_msg *result = NULL;
	if (rc == YB_OK)
		rc = build_from_list(pop3, &lists, &result, err);
	if (rc == YB_OK && pop3_has_uidl(pop3))
		rc = attach_uidls(pop3, &uidls, result, lists.len, err);
	if (rc == YB_OK) {
		*msgs = result;
		*count = lists.len;
		log_debug("%s: %zu messages listed%s", peer(pop3), lists.len,
			  pop3_has_uidl(pop3) ? "" : " (no UIDL)");
	} else {
		pop3_free_msgs(result, lists.len);
		mark_broken(pop3, rc);
	}
	free_listing(&uidls);
	free_listing(&lists);
	return rc;
}

/*
 * UIDL sorted by msgno into a fresh result, each number once, sizes 0
 * (pop3_list_sizes); the result takes the UIDL text over.
 */
static int build_from_uidls(struct pop3 *pop3, struct listing *uidls,
			    struct pop3_msg **out, struct yb_error *err)
{
	struct uidl_entry *entries = uidls->entries;
	if (!uidls->sorted)
		qsort(entries, uidls->len, sizeof(*entries),
		      compare_uidl_entries);
	struct pop3_msg *msgs = NULL;
	int rc = new_block(pop3, uidls->len, &msgs, err);
	if (rc != YB_OK)
		return rc;
	give_chunks(uidls, msgs);
	char *const *chunks = block_of(msgs)->chunks;
	for (size_t i = 0; i < uidls->len; i++) {
		if (i > 0 && entries[i].msgno == entries[i - 1].msgno) {
			pop3_free_msgs(msgs, 0);
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "%s: UIDL names message %lu twice",
				       peer(pop3), (unsigned long)entries[i].msgno);
		}
		msgs[i].msgno = entries[i].msgno;
		msgs[i].uidl = uidl_at(chunks, entries[i].offset);
		msgs[i].size = 0;
	}
	*out = msgs;
	return YB_OK;
}

static int read_uidls_alone(struct pop3 *pop3, struct listing *uidls,
			    struct yb_error *err)
{
	int rc = check_usable(pop3, err);
	if (rc == YB_OK)
		rc = check_no_pending(pop3, "UIDL", err);
	if (rc == YB_OK)
		rc = uidl_command(pop3, uidls, err);
	return rc;
}

int pop3_list_uidls(struct pop3 *pop3, struct pop3_msg **msgs, size_t *count,
		    bool *sized, struct yb_error *err)
{
	*msgs = NULL;
	*count = 0;
	*sized = true;
	if (!pop3_has_uidl(pop3))
		return pop3_list(pop3, msgs, count, err);
	struct listing uidls = { .entry_size = sizeof(struct uidl_entry),
				 .sorted = true, .command = "UIDL" };
	int rc = read_uidls_alone(pop3, &uidls, err);
	if (rc == YB_OK && !pop3_has_uidl(pop3)) {
		/* Refused by a server without CAPA: LIST alone, as pop3_list. */
		free_listing(&uidls);
		return pop3_list(pop3, msgs, count, err);
	}
	if (rc == YB_OK)
		rc = build_from_uidls(pop3, &uidls, msgs, err);
	if (rc == YB_OK) {
		*count = uidls.len;
		*sized = false;
		log_debug("%s: %zu UIDLs listed", peer(pop3), uidls.len);
	} else {
		mark_broken(pop3, rc);
	}
	free_listing(&uidls);
	return rc;
}

/* LIST's sizes into msgs (sorted by msgno), which must be exactly the
   messages LIST names (the same errors as attach_uidls). */
static int merge_sizes(struct pop3 *pop3, struct listing *lists,
		       struct pop3_msg *msgs, size_t count,
		       struct yb_error *err)
{
	struct list_entry *entries = lists->entries;
	if (!lists->sorted)
		qsort(entries, lists->len, sizeof(*entries),
		      compare_list_entries);
	size_t m = 0;
	for (size_t i = 0; i < lists->len; i++) {
		unsigned long msgno = entries[i].msgno;
		if (i > 0 && msgno == entries[i - 1].msgno)
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "%s: LIST names message %lu twice",
				       peer(pop3), msgno);
		if (m < count && msgs[m].msgno < msgno)
			break; /* a UIDL message LIST skipped: below */
		if (m == count || msgs[m].msgno != msgno)
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "%s: LIST names message %lu, which UIDL "
				       "does not", peer(pop3), msgno);
		msgs[m++].size = entries[i].size;
	}
	if (m < count)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "%s: UIDL names message %lu, which LIST does "
			       "not", peer(pop3), msgs[m].msgno);
	return YB_OK;
}

int pop3_list_sizes(struct pop3 *pop3, struct pop3_msg *msgs, size_t count,
		    struct yb_error *err)
{
	int rc = check_usable(pop3, err);
	if (rc == YB_OK)
		rc = check_no_pending(pop3, "LIST", err);
	struct listing lists = { .entry_size = sizeof(struct list_entry),
				 .sorted = true, .command = "LIST",
				 .expected = count };
	if (rc == YB_OK)
		rc = send_line(pop3, "LIST", err);
	if (rc == YB_OK)
		rc = read_list_reply(pop3, &lists, err);
	if (rc == YB_OK)
		rc = merge_sizes(pop3, &lists, msgs, count, err);
	if (rc != YB_OK)
		mark_broken(pop3, rc);
	free_listing(&lists);
	return rc;
}

void pop3_free_msgs(struct pop3_msg *msgs, size_t count)
{
	(void)count; /* the UIDLs live in the block's chunks */
	if (!msgs)
		return;
	struct msg_block *block = block_of(msgs);
	for (size_t i = 0; i < block->chunk_count; i++)
		free(block->chunks[i]);
	free(block->chunks);
	free(block);
}

/* --- RETR, DELE, QUIT --- */

static int push_pending(struct pop3 *pop3, enum pending_kind kind,
			unsigned long msgno, struct yb_error *err)
{
	if (pop3->pending_len == pop3->pending_cap) {
		if (pop3->pending_cap >= POP3_PENDING_MAX)
			return yb_fail(err, YB_ERR_INTERNAL,
				       "%s: more than %d POP3 commands queued",
				       peer(pop3), POP3_PENDING_MAX);
		size_t cap = pop3->pending_cap ? pop3->pending_cap * 2 : 64;
		struct pending_cmd *grown = malloc(cap * sizeof(*grown));
		if (!grown)
			return out_of_memory(pop3, err);
		/* Unroll the ring so the oldest command is first again. */
		for (size_t i = 0; i < pop3->pending_len; i++)
			grown[i] = pop3->pending[(pop3->pending_head + i) %
						 pop3->pending_cap];
		free(pop3->pending);
		pop3->pending = grown;
		pop3->pending_cap = cap;
		pop3->pending_head = 0;
	}
	size_t tail = (pop3->pending_head + pop3->pending_len) %
		      pop3->pending_cap;
	pop3->pending[tail].kind = kind;
	pop3->pending[tail].msgno = msgno;
	pop3->pending_len++;
	return YB_OK;
}

static const char *pending_name(enum pending_kind kind)
{
	return kind == PENDING_RETR ? "RETR" : "DELE";
}

/* Take the oldest unanswered command, which must be of this kind. */
static int pop_pending(struct pop3 *pop3, enum pending_kind kind,
		       unsigned long *msgno, struct yb_error *err)
{
	int rc = check_usable(pop3, err);
	if (rc != YB_OK)
		return rc;
	if (pop3->pending_len == 0)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: reading a %s reply with no %s sent",
			       peer(pop3), pending_name(kind),
			       pending_name(kind));
	struct pending_cmd *oldest = &pop3->pending[pop3->pending_head];
	if (oldest->kind != kind)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: reading a %s reply, but the next one "
			       "answers %s %lu", peer(pop3), pending_name(kind),
			       pending_name(oldest->kind), oldest->msgno);
	*msgno = oldest->msgno;
	pop3->pending_head = (pop3->pending_head + 1) % pop3->pending_cap;
	pop3->pending_len--;
	return YB_OK;
}

static int send_queued(struct pop3 *pop3, enum pending_kind kind,
		       unsigned long msgno, struct yb_error *err)
{
	int rc = check_usable(pop3, err);
	if (rc != YB_OK)
		return rc;
	if (msgno == 0 || msgno > UINT32_MAX)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: %s with message number %lu", peer(pop3),
			       pending_name(kind), msgno);
	char command[32];
	if (!text_format(command, sizeof(command), "%s %lu",
			 pending_name(kind), msgno))
		return yb_fail(err, YB_ERR_INTERNAL, "%s: command too long",
			       peer(pop3));
	rc = push_pending(pop3, kind, msgno, err);
	if (rc != YB_OK)
		return rc;
	/* No flush: a window of commands leaves in few packets, and the
	   connection flushes before it reads. */
	return send_line(pop3, command, err);
}

int pop3_send_retr(struct pop3 *pop3, unsigned long msgno,
		   struct yb_error *err)
{
	return send_queued(pop3, PENDING_RETR, msgno, err);
}

/*
 * A body longer than LIST said, with no sign of the next reply in it, is
 * the message as the server rewrote it while sending (pop3_size_rewritten).
 * Any other body that does not agree was cut short or ran on into the
 * next reply (a last line without its CRLF makes ".\r\n" no terminator),
 * so the replies after it are out of step and would be stored under the
 * wrong UIDLs: the session ends here.
 */
static int check_body_size(struct pop3 *pop3, unsigned long msgno,
			   const struct pop3_body_tally *tally,
			   uint64_t listed_size, struct yb_error *err)
{
	pop3->last_body_bytes = tally->bytes;
	pop3->last_size_disagreed = !pop3_size_agrees(tally, listed_size);
	if (!pop3->last_size_disagreed || pop3_size_rewritten(tally, listed_size))
		return YB_OK;
	return mark_broken(pop3, yb_fail(err, YB_ERR_PROTOCOL,
		"%s: message %lu: RETR sent %llu bytes in %llu lines where "
		"LIST said %llu: the body was cut short or ran on into the next "
		"reply, so the replies are out of step; the message is not "
		"kept and the session ends", peer(pop3), msgno,
		(unsigned long long)tally->bytes,
		(unsigned long long)(tally->crlf + tally->bare_lf),
		(unsigned long long)listed_size));
}

/*
 * Stream one body: unstuff what the connection has buffered, in slices
 * no larger than the scratch buffer, until the terminating ".".  The
 * bytes after it (the next pipelined reply) stay in the connection.
 * The body must then agree with listed_size (check_body_size).
 */
static int stream_body(struct pop3 *pop3, unsigned long msgno,
		       uint64_t listed_size, pop3_body_fn fn, void *ctx,
		       struct yb_error *err)
{
	struct pop3_dot_decoder decoder;
	pop3_dot_init(&decoder);
	struct pop3_body_tally tally;
	pop3_tally_init(&tally);
	uint64_t received = 0;
	while (!decoder.done) {
		const char *data;
		size_t len;
		int rc = conn_peek(pop3->conn, &data, &len, err);
		if (rc != YB_OK) {
			yb_error_prefix(err, "message %lu: ", msgno);
			return mark_broken(pop3, rc);
		}
		size_t slice = len < POP3_SCRATCH_SIZE ? len : POP3_SCRATCH_SIZE;
		size_t out_len;
		size_t used = pop3_dot_decode(&decoder, data, slice,
					      pop3->scratch, &out_len);
		conn_consume(pop3->conn, used);
		received += used;
		if (out_len == 0)
			continue;
		pop3_tally_add(&tally, pop3->scratch, out_len);
		rc = fn(ctx, pop3->scratch, out_len, err);
		if (rc != YB_OK)
			return mark_broken(pop3, rc);
	}
	log_trace("S: <message %lu: %llu bytes>", msgno,
		  (unsigned long long)received);
	tally.wire_extra = received - tally.bytes;
	return check_body_size(pop3, msgno, &tally, listed_size, err);
}

/*
 * The status line answering the oldest queued command, which must be of
 * kind: *msgno its message, *ok whether it is +OK.  On -ERR, *err holds
 * "RETR N refused" (or DELE) with the server's text, and YB_OK is
 * returned: the stream is still in step.
 */
static int read_queued_reply(struct pop3 *pop3, enum pending_kind kind,
			     unsigned long *msgno, bool *ok,
			     struct yb_error *err)
{
	int rc = pop_pending(pop3, kind, msgno, err);
	if (rc != YB_OK)
		return rc;
	char what[48];
	if (!text_format(what, sizeof(what), "%s %lu", pending_name(kind),
			 *msgno))
		what[0] = '\0';
	enum pop3_status status;
	const char *text;
	size_t text_len;
	rc = read_status(pop3, what, &status, &text, &text_len, err);
	if (rc != YB_OK)
		return rc;
	*ok = status == POP3_STATUS_OK;
	if (*ok)
		return YB_OK;
	char refused_what[64];
	if (!text_format(refused_what, sizeof(refused_what), "%s refused",
			 what))
		refused_what[0] = '\0';
	fail_with_text(pop3, YB_ERR_PROTOCOL, refused_what, text, text_len,
		       err);
	return YB_OK;
}

int pop3_read_retr(struct pop3 *pop3, uint64_t listed_size, pop3_body_fn fn,
		   void *ctx, bool *refused, struct yb_error *err)
{
	unsigned long msgno;
	bool ok = false;
	int rc = read_queued_reply(pop3, PENDING_RETR, &msgno, &ok, err);
	/* A message the server will not send: the session goes on. */
	*refused = rc == YB_OK && !ok;
	if (rc != YB_OK || !ok)
		return rc;
	return stream_body(pop3, msgno, listed_size, fn, ctx, err);
}

bool pop3_last_size_disagreed(const struct pop3 *pop3, uint64_t *served)
{
	*served = pop3->last_body_bytes;
	return pop3->last_size_disagreed;
}

int pop3_send_dele(struct pop3 *pop3, unsigned long msgno,
		   struct yb_error *err)
{
	return send_queued(pop3, PENDING_DELE, msgno, err);
}

int pop3_read_dele(struct pop3 *pop3, struct yb_error *err)
{
	unsigned long msgno;
	bool ok = false;
	int rc = read_queued_reply(pop3, PENDING_DELE, &msgno, &ok, err);
	if (rc != YB_OK || ok)
		return rc;
	/* err names the refusal; the stream is still in step, so the caller
	   may go on or stop. */
	return YB_ERR_PROTOCOL;
}

int pop3_quit(struct pop3 *pop3, struct yb_error *err)
{
	int rc = check_usable(pop3, err);
	if (rc == YB_OK)
		rc = check_no_pending(pop3, "QUIT", err);
	if (rc == YB_OK)
		rc = send_line(pop3, "QUIT", err);
	if (rc != YB_OK)
		return rc;
	pop3->quit_sent = true;
	enum pop3_status status;
	const char *text;
	size_t text_len;
	rc = read_status(pop3, "QUIT", &status, &text, &text_len, err);
	if (rc != YB_OK) {
		yb_error_prefix(err, "QUIT not confirmed, so messages marked "
				"for deletion may still be on the server: ");
		return rc;
	}
	if (status == POP3_STATUS_ERR)
		return fail_with_text(pop3, YB_ERR_PROTOCOL,
				      "QUIT refused (messages marked for "
				      "deletion may still be on the server)",
				      text, text_len, err);
	return YB_OK;
}

void pop3_close(struct pop3 *pop3)
{
	if (!pop3)
		return;
	conn_close(pop3->conn);
	free(pop3->pending);
	free(pop3->scratch);
	free(pop3);
}
