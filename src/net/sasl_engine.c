/*
 * sasl_engine.c - the choice of a login method and the SASL exchange
 * over a protocol's framing (see sasl_engine.h).
 *
 * Every response that holds a password or token is built here and
 * released with sasl_free_secret(), which wipes it.
 */
#include "config.h"

#include "sasl_engine.h"

#include <stdio.h>
#include <string.h>

#include "sasl.h"
#include "text.h"

/* Server text in error messages. */
#define SASL_SHOWN_MAX 512
/* "AUTHENTICATE OAUTHBEARER" and a NUL. */
#define SASL_COMMAND_MAX 64

#define TOO_MUCH "the server asked for more than the mechanism has"

/* Every method: its name, and the auth: setting that asks for it.  The
   first method of an auth: setting is the one it means. */
static const struct {
	const char *name;
	enum auth_mech auth;
} methods[] = {
	[SASL_METHOD_PLAIN]         = { "PLAIN", AUTH_PLAIN },
	[SASL_METHOD_LOGIN]         = { "LOGIN", AUTH_LOGIN },
	[SASL_METHOD_CRAM_MD5]      = { "CRAM-MD5", AUTH_CRAM_MD5 },
	[SASL_METHOD_XOAUTH2]       = { "XOAUTH2", AUTH_XOAUTH2 },
	[SASL_METHOD_OAUTHBEARER]   = { "OAUTHBEARER", AUTH_OAUTHBEARER },
	[SASL_METHOD_EXTERNAL]      = { "EXTERNAL", AUTH_EXTERNAL },
	[SASL_METHOD_APOP]          = { "APOP", AUTH_APOP },
	[SASL_METHOD_USER]          = { "USER", AUTH_USER },
	[SASL_METHOD_LOGIN_COMMAND] = { "LOGIN", AUTH_LOGIN },
};
#define METHOD_COUNT (sizeof(methods) / sizeof(methods[0]))

bool sasl_method_is_mechanism(enum sasl_method method)
{
	return method <= SASL_METHOD_EXTERNAL;
}

const char *sasl_method_name(enum sasl_method method)
{
	return (size_t)method < METHOD_COUNT ? methods[method].name : "unknown";
}

enum auth_mech sasl_method_auth(enum sasl_method method)
{
	return (size_t)method < METHOD_COUNT ? methods[method].auth : AUTH_AUTO;
}

/* --- choosing --- */

static bool offered(const struct sasl_offer *offer, enum sasl_method method)
{
	return (offer->methods & SASL_BIT(method)) != 0;
}

/* A token: OAUTHBEARER is the standard, XOAUTH2 common. */
static int choose_bearer(const struct sasl_offer *offer, const char *peer,
			 enum sasl_method *method, struct yb_error *err)
{
	if (offered(offer, SASL_METHOD_OAUTHBEARER))
		*method = SASL_METHOD_OAUTHBEARER;
	else if (offered(offer, SASL_METHOD_XOAUTH2))
		*method = SASL_METHOD_XOAUTH2;
	else
		return yb_fail(err, YB_ERR_AUTH, "%s offers neither %s for the "
			       "account's OAuth2 token", peer, offer->no_bearer);
	return YB_OK;
}

/*
 * A password.  In TLS it is safe in transit, so the plain methods win
 * (every server has them); without TLS (allow_plaintext) a
 * challenge-response method at least keeps the password off the wire.
 */
static int choose_for_password(const struct sasl_offer *offer,
			       const char *peer, enum sasl_method *method,
			       struct yb_error *err)
{
	static const enum sasl_method digests[] = { SASL_METHOD_CRAM_MD5,
						    SASL_METHOD_APOP };
	for (size_t i = 0; !offer->tls && i < 2; i++) {
		if (offered(offer, digests[i])) {
			*method = digests[i];
			return YB_OK;
		}
	}
	for (size_t i = 0; i < offer->order_len; i++) {
		if (offered(offer, offer->order[i])) {
			*method = offer->order[i];
			return YB_OK;
		}
	}
	return yb_fail(err, YB_ERR_AUTH, "%s offers no login method yubin "
		       "supports %s", peer, offer->no_method);
}

/* The method an explicit auth: setting names. */
static enum sasl_method configured_method(enum auth_mech auth)
{
	for (size_t i = 0; i < METHOD_COUNT; i++)
		if (methods[i].auth == auth)
			return (enum sasl_method)i;
	return SASL_METHOD_PLAIN;
}

int sasl_choose(const struct account *account, const struct sasl_offer *offer,
		const char *peer, enum sasl_method *method,
		struct yb_error *err)
{
	if (account->auth != AUTH_AUTO) {
		*method = configured_method(account->auth);
		return YB_OK;
	}
	switch (account_credential(account)) {
	case CRED_TOKEN:
		return choose_bearer(offer, peer, method, err);
	case CRED_CERT:
		*method = SASL_METHOD_EXTERNAL;
		return YB_OK;
	case CRED_PASSWORD:
		break;
	}
	return choose_for_password(offer, peer, method, err);
}

int sasl_check_secret(const struct account *account, bool tls,
		      const char *peer, const char *secret,
		      struct yb_error *err)
{
	enum account_credential credential = account_credential(account);
	/* Config validation already demands allow_plaintext for tls: none;
	   this is the second guard, where the password would leave. */
	if (!tls && !account->allow_plaintext)
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s: refusing to send a password without TLS "
			       "(set allow_plaintext: true to allow it)", peer);
	if (!secret && credential != CRED_CERT)
		return yb_fail(err, YB_ERR_CONFIG, "%s: no %s for user %s%s",
			       account->host, credential == CRED_TOKEN
			       ? "OAuth2 access token" : "password",
			       account->user ? account->user : "",
			       credential == CRED_TOKEN ? "" : NO_PASSWORD_HINT);
	return YB_OK;
}

/* --- refusals --- */

/* The key the secret came from, for "check the password (KEY)". */
static const char *secret_key(const struct account *account)
{
	switch (account->password_source) {
	case PASSWORD_VALUE: return "password";
	case PASSWORD_CMD:   return "password_cmd";
	case PASSWORD_ENV:   return "password_env";
	case PASSWORD_FILE:  return "password_file";
	case PASSWORD_NONE:  break;
	}
	return "--ask-password";
}

/*
 * Append what was tried and what to change to a refusal (YB_ERR_AUTH):
 * the command sent (what, which names the credential it carried), the
 * auth: setting, and where a password came from.  Returns rc.
 */
static int add_refusal_hint(const struct sasl_framing *framing,
			    const char *what, int rc, struct yb_error *err)
{
	if (rc != YB_ERR_AUTH)
		return rc;
	const struct account *account = framing->account;
	const char *auth = auth_mech_name(account->auth);
	if (strstr(what, "OAUTH"))
		yb_error_suffix(err, " (tried %s, auth: %s, with the OAuth2 "
				"token; check user and the oauth2 settings, or "
				"set auth)", what, auth);
	else if (strstr(what, "EXTERNAL"))
		yb_error_suffix(err, " (tried %s, auth: %s, with the client "
				"certificate; check user and tls_cert_file, or "
				"set auth)", what, auth);
	else
		yb_error_suffix(err, " (tried %s, auth: %s; check user and the "
				"password (%s), or set auth to another method)",
				what, auth, secret_key(account));
	return rc;
}

/* sasl_refused without the hint. */
static int refusal_error(const struct sasl_framing *framing, const char *what,
			 const struct sasl_reply *reply, struct yb_error *err)
{
	if (reply->answer == SASL_ANSWER_OK)
		return YB_OK;
	char text[SASL_SHOWN_MAX];
	text_sanitize(text, sizeof(text), reply->text, reply->text_len);
	char shown[SASL_SHOWN_MAX + 64];
	snprintf(shown, sizeof(shown), "%s%s%s%s", reply->code ? "[" : "",
		 reply->code ? reply->code : "", reply->code ? "] " : "", text);
	if (framing->refusal) {
		text_sanitize(framing->refusal->reason,
			      sizeof(framing->refusal->reason), reply->text,
			      reply->text_len);
		framing->refusal->credentials = reply->credentials;
	}
	switch (reply->answer) {
	case SASL_ANSWER_MALFORMED:
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "%s: %s as %s rejected as malformed: %s",
			       framing->peer, what, framing->user_shown, shown);
	case SASL_ANSWER_REFUSED_FOR_NOW:
		return yb_fail(err, YB_ERR_TEMP,
			       "%s: login as %s refused for now: %s",
			       framing->peer, framing->user_shown, shown);
	case SASL_ANSWER_OK:
	case SASL_ANSWER_CHALLENGE:
	case SASL_ANSWER_REFUSED:
		break;
	}
	return yb_fail(err, YB_ERR_AUTH, "%s: login as %s refused: %s",
		       framing->peer, framing->user_shown, shown);
}

int sasl_refused(const struct sasl_framing *framing, const char *what,
		 const struct sasl_reply *reply, struct yb_error *err)
{
	return add_refusal_hint(framing, what,
				refusal_error(framing, what, reply, err), err);
}

/*
 * The server wants more than the mechanism has: cancel where the
 * protocol can (RFC 3501 6.2.2), and fail.
 */
static int give_up(const struct sasl_framing *framing, const char *command,
		   const char *why, struct yb_error *err)
{
	if (!framing->cancel)
		return yb_fail(err, YB_ERR_PROTOCOL, "%s: %s: %s",
			       framing->peer, command, why);
	int rc = framing->cancel(framing->session, err);
	if (rc != YB_OK)
		return rc;
	return yb_fail(err, YB_ERR_PROTOCOL, "%s: %s: %s; cancelled",
		       framing->peer, command, why);
}

/* --- the exchange --- */

/*
 * Answer each challenge with the next of responses[0..count) until the
 * server answers otherwise or asks once more; *reply is that answer.
 */
static int converse(const struct sasl_framing *framing, const char *command,
		    const char *const *responses, size_t count,
		    struct sasl_reply *reply, struct yb_error *err)
{
	for (size_t answered = 0;; answered++) {
		int rc = framing->read_reply(framing->session, command, true,
					     reply, err);
		if (rc != YB_OK || reply->answer != SASL_ANSWER_CHALLENGE ||
		    answered == count)
			return rc;
		rc = framing->send_response(framing->session,
					    responses[answered], err);
		if (rc != YB_OK)
			return rc;
	}
}

/* converse, and a challenge beyond responses is one too many. */
static int exchange(const struct sasl_framing *framing, const char *command,
		    const char *const *responses, size_t count,
		    struct yb_error *err)
{
	struct sasl_reply reply = { 0 };
	int rc = converse(framing, command, responses, count, &reply, err);
	if (rc != YB_OK)
		return rc;
	if (reply.answer == SASL_ANSWER_CHALLENGE)
		return give_up(framing, command, TOO_MUCH, err);
	return sasl_refused(framing, command, &reply, err);
}

/*
 * Send the command, with the response on its line when the protocol
 * takes it there; *initial_sent says whether it did.  An empty initial
 * response is "=" (RFC 4959, RFC 5034).
 */
static int start(const struct sasl_framing *framing, enum sasl_method method,
		 const char *command, const char *response, bool *initial_sent,
		 struct yb_error *err)
{
	*initial_sent = response &&
			(framing->initial_methods & SASL_BIT(method)) &&
			strlen(command) + 1 + strlen(response) <=
				framing->initial_max;
	const char *initial = NULL;
	if (*initial_sent)
		initial = response[0] ? response : "=";
	return framing->send_command(framing->session, command, initial, err);
}

/* A mechanism of one response: PLAIN, EXTERNAL. */
static int run_single(const struct sasl_framing *framing,
		      enum sasl_method method, const char *command,
		      const char *response, struct yb_error *err)
{
	bool initial_sent;
	int rc = start(framing, method, command, response, &initial_sent, err);
	if (rc != YB_OK)
		return rc;
	size_t count = initial_sent && !framing->repeats_initial ? 0 : 1;
	return exchange(framing, command, &response, count, err);
}

static int run_plain(const struct sasl_framing *framing, const char *command,
		     const char *password, struct yb_error *err)
{
	char *response = sasl_plain_response(framing->account->user, password);
	if (!response)
		return yb_fail(err, YB_ERR_INTERNAL, "%s: out of memory",
			       framing->peer);
	int rc = run_single(framing, SASL_METHOD_PLAIN, command, response,
			    err);
	sasl_free_secret(response);
	return rc;
}

static int run_login(const struct sasl_framing *framing, const char *command,
		     const char *password, struct yb_error *err)
{
	const char *user = framing->account->user;
	char *user_b64 = sasl_base64_encode(user, strlen(user));
	char *password_b64 = sasl_base64_encode(password, strlen(password));
	int rc = YB_OK;
	if (!user_b64 || !password_b64)
		rc = yb_fail(err, YB_ERR_INTERNAL, "%s: out of memory",
			     framing->peer);
	if (rc == YB_OK)
		rc = framing->send_command(framing->session, command, NULL, err);
	/* Two challenges ("Username:", "Password:" in base64); their text
	   is not standard, so only their order matters. */
	const char *responses[] = { user_b64, password_b64 };
	if (rc == YB_OK)
		rc = exchange(framing, command, responses, 2, err);
	sasl_free_secret(user_b64);
	sasl_free_secret(password_b64);
	return rc;
}

/* The CRAM-MD5 challenge could not be answered. */
static int bad_challenge(const struct sasl_framing *framing,
			 const char *command, const struct sasl_reply *reply,
			 struct yb_error *err)
{
	if (framing->cancel)
		return give_up(framing, command, "the challenge is not base64 "
			       "(or MD5 is unavailable)", err);
	char shown[SASL_SHOWN_MAX];
	text_sanitize(shown, sizeof(shown), reply->text, reply->text_len);
	return yb_fail(err, YB_ERR_PROTOCOL, "%s: %s: bad challenge (or MD5 "
		       "unavailable): %s", framing->peer, command, shown);
}

static int run_cram_md5(const struct sasl_framing *framing,
			const char *command, const char *password,
			struct yb_error *err)
{
	int rc = framing->send_command(framing->session, command, NULL, err);
	struct sasl_reply reply = { 0 };
	if (rc == YB_OK)
		rc = framing->read_reply(framing->session, command, true,
					 &reply, err);
	if (rc != YB_OK)
		return rc;
	if (reply.answer == SASL_ANSWER_OK && framing->cram_md5_needs_challenge)
		return yb_fail(err, YB_ERR_PROTOCOL, "%s: %s answered %s "
			       "without a challenge", framing->peer, command,
			       framing->ok_word);
	if (reply.answer != SASL_ANSWER_CHALLENGE)
		return sasl_refused(framing, command, &reply, err);
	char *response = sasl_cram_md5_response(reply.text, reply.text_len,
						framing->account->user,
						password);
	if (!response)
		return bad_challenge(framing, command, &reply, err);
	rc = framing->send_response(framing->session, response, err);
	sasl_free_secret(response);
	if (rc == YB_OK)
		rc = exchange(framing, command, NULL, 0, err);
	return rc;
}

/*
 * A refused token comes back as a challenge holding the reason as JSON
 * (RFC 7628 3.2.2); the client answers it before the refusal.  Every
 * failure from here on carries the reason.
 */
static int bearer_refused(const struct sasl_framing *framing,
			  const char *command, bool oauthbearer,
			  const struct sasl_reply *challenge,
			  struct yb_error *err)
{
	char why[SASL_SHOWN_MAX];
	sasl_describe_refusal(challenge->text, challenge->text_len, why,
			      sizeof(why));
	int rc = framing->send_response(framing->session,
					sasl_refusal_answer(oauthbearer), err);
	struct sasl_reply reply = { 0 };
	if (rc == YB_OK)
		rc = framing->read_reply(framing->session, command, false,
					 &reply, err);
	if (rc == YB_OK && reply.answer == SASL_ANSWER_OK)
		return yb_fail(err, YB_ERR_PROTOCOL, "%s: %s answered a "
			       "challenge with %s", framing->peer, command,
			       framing->ok_word);
	if (rc == YB_OK && reply.answer == SASL_ANSWER_CHALLENGE)
		rc = give_up(framing, command, TOO_MUCH, err);
	else if (rc == YB_OK)
		rc = refusal_error(framing, command, &reply, err);
	yb_error_suffix(err, " (the server says: %s)", why);
	return add_refusal_hint(framing, command, rc, err);
}

/* XOAUTH2 and OAUTHBEARER: one response, and a refusal as a challenge. */
static int run_bearer(const struct sasl_framing *framing,
		      enum sasl_method method, const char *command,
		      const char *token, struct yb_error *err)
{
	bool oauthbearer = method == SASL_METHOD_OAUTHBEARER;
	char *response = NULL;
	int rc = sasl_bearer_response(framing->account, oauthbearer, token,
				      framing->peer, &response, err);
	if (rc != YB_OK)
		return rc;
	bool initial_sent;
	rc = start(framing, method, command, response, &initial_sent, err);
	struct sasl_reply reply = { 0 };
	const char *responses[] = { response };
	if (rc == YB_OK)
		rc = converse(framing, command, responses, initial_sent ? 0 : 1,
			      &reply, err);
	sasl_free_secret(response);
	if (rc != YB_OK)
		return rc;
	if (reply.answer == SASL_ANSWER_CHALLENGE)
		return bearer_refused(framing, command, oauthbearer, &reply,
				      err);
	return sasl_refused(framing, command, &reply, err);
}

int sasl_run(const struct sasl_framing *framing, enum sasl_method method,
	     const char *secret, struct yb_error *err)
{
	char command[SASL_COMMAND_MAX];
	snprintf(command, sizeof(command), "%s %s", framing->command,
		 sasl_method_name(method));
	switch (method) {
	case SASL_METHOD_PLAIN:
		return run_plain(framing, command, secret, err);
	case SASL_METHOD_LOGIN:
		return run_login(framing, command, secret, err);
	case SASL_METHOD_CRAM_MD5:
		return run_cram_md5(framing, command, secret, err);
	case SASL_METHOD_XOAUTH2:
	case SASL_METHOD_OAUTHBEARER:
		return run_bearer(framing, method, command, secret, err);
	case SASL_METHOD_EXTERNAL:
		/* The TLS client certificate is the credential; the identity
		   the server derives from it is taken as it is (empty
		   authzid). */
		return run_single(framing, method, command, "", err);
	case SASL_METHOD_APOP:
	case SASL_METHOD_USER:
	case SASL_METHOD_LOGIN_COMMAND:
		break;
	}
	return yb_fail(err, YB_ERR_INTERNAL, "%s: %s is not a SASL mechanism",
		       framing->peer, sasl_method_name(method));
}
