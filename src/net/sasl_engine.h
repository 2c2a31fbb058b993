/*
 * sasl_engine.h - one SASL engine for every protocol: which way to log
 * in, and the exchange of a mechanism (PLAIN, LOGIN, CRAM-MD5, XOAUTH2,
 * OAUTHBEARER, EXTERNAL) with its refusals.
 *
 * A protocol describes how its lines look in a struct sasl_framing: how
 * to send the command that starts an exchange, a response line, how to
 * read the server's answer and, where the protocol has one, how to
 * cancel.  The engine owns the order of the steps, the encodings, the
 * secrets it derives (wiped before they are freed) and the error text.
 *
 * Ways in that are not SASL (POP3 APOP and USER/PASS, the IMAP LOGIN
 * command) are chosen here but carried out by their protocol.
 */
#ifndef YUBIN_SASL_ENGINE_H
#define YUBIN_SASL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "account.h"
#include "error.h"

/* The ways to log in. */
enum sasl_method {
	SASL_METHOD_PLAIN,
	SASL_METHOD_LOGIN,
	SASL_METHOD_CRAM_MD5,
	SASL_METHOD_XOAUTH2,
	SASL_METHOD_OAUTHBEARER,
	SASL_METHOD_EXTERNAL,
	/* The protocols' own commands; not for sasl_run(). */
	SASL_METHOD_APOP,          /* POP3 APOP */
	SASL_METHOD_USER,          /* POP3 USER and PASS */
	SASL_METHOD_LOGIN_COMMAND, /* the IMAP LOGIN command */
};

/* A bit for a set of methods. */
#define SASL_BIT(method) (1u << (method))

/* True for the SASL mechanisms, which sasl_run() carries out. */
bool sasl_method_is_mechanism(enum sasl_method method);

/* The SASL name ("CRAM-MD5"), or the command ("APOP", "USER", "LOGIN"). */
const char *sasl_method_name(enum sasl_method method);

/* The auth: setting that asks for method. */
enum auth_mech sasl_method_auth(enum sasl_method method);

/* What a server offers, as its protocol reads it. */
struct sasl_offer {
	unsigned methods;  /* SASL_BIT() of every method the server takes */
	bool tls;          /* the password would travel inside TLS */
	/* auth: auto with a password, in TLS: the protocol's preference,
	   first offered wins (without TLS CRAM-MD5 and APOP come first). */
	const enum sasl_method *order;
	size_t order_len;
	/* The protocol's words for what is missing, after "offers neither "
	   and "offers no login method yubin supports ". */
	const char *no_bearer;
	const char *no_method;
};

/*
 * The method for account->auth, or for auth: auto the best the server
 * offers for the account's credential (account_credential).  An
 * explicit auth: is taken as it is.  YB_ERR_AUTH naming peer when
 * nothing offered fits.
 */
int sasl_choose(const struct account *account, const struct sasl_offer *offer,
		const char *peer, enum sasl_method *method,
		struct yb_error *err);

/*
 * Refuse to log in where the secret would leave unprotected, or with no
 * secret (a certificate needs none): YB_ERR_CONFIG.
 */
int sasl_check_secret(const struct account *account, bool tls,
		      const char *peer, const char *secret,
		      struct yb_error *err);

/* How a server answered a step. */
enum sasl_answer {
	SASL_ANSWER_OK,              /* logged in */
	SASL_ANSWER_CHALLENGE,       /* "+ text": it wants a response */
	SASL_ANSWER_REFUSED,         /* not with these credentials */
	SASL_ANSWER_REFUSED_FOR_NOW, /* a response code says: try later */
	SASL_ANSWER_MALFORMED,       /* the command itself was refused */
};

/* Server text kept of a refusal. */
#define SASL_REASON_MAX 200

/* What a refusal said. */
struct sasl_refusal {
	char reason[SASL_REASON_MAX + 1]; /* sanitized; "" if none */
	bool credentials; /* a response code blamed the credentials */
};

struct sasl_reply {
	enum sasl_answer answer;
	/* REFUSED with a response code that blames the credentials, not
	   the mechanism (IMAP AUTHENTICATIONFAILED, POP3 [AUTH]). */
	bool credentials;
	/* The response code the protocol took out of text (IMAP's
	   "AUTHENTICATIONFAILED"), static, or NULL: shown with the reason,
	   since it is what a user can look up. */
	const char *code;
	/* The challenge (base64) or the server's reason; not owned, valid
	   until the next call of a hook. */
	const char *text;
	size_t text_len;
};

/*
 * A protocol's lines.  Every hook returns YB_OK or an error it has
 * filled; nothing it is given is kept.
 */
struct sasl_framing {
	void *session;                  /* passed to every hook */
	const struct account *account;  /* user, host and port of the login */
	const char *peer;               /* "host:port" for messages */
	const char *user_shown;         /* the user as messages show it */
	const char *command;            /* "AUTH", "AUTHENTICATE" */
	const char *ok_word;            /* how success reads: "+OK", "OK" */
	/* SASL_BIT()s of the mechanisms whose response may go on the
	   command line, when the whole line is at most initial_max. */
	unsigned initial_methods;
	size_t initial_max;
	/* A challenge after an initial response asks for it again (POP3
	   servers that did not take it); else it is one too many. */
	bool repeats_initial;
	/* A success before the CRAM-MD5 challenge is a broken server. */
	bool cram_md5_needs_challenge;

	/* Send "COMMAND MECHANISM" with " initial" when not NULL. */
	int (*send_command)(void *session, const char *command,
			    const char *initial, struct yb_error *err);
	/* Send a response line (a secret: never traced). */
	int (*send_response)(void *session, const char *response,
			     struct yb_error *err);
	/* Read the answer to `what`.  When !challenge_ok a protocol may
	   fail on a challenge itself. */
	int (*read_reply)(void *session, const char *what, bool challenge_ok,
			  struct sasl_reply *reply, struct yb_error *err);
	/* Cancel the exchange ("*") and read its end; NULL: the protocol
	   has no cancel, the exchange just fails. */
	int (*cancel)(void *session, struct yb_error *err);

	/* Where a refusal is described, for sasl_fallback.h; NULL:
	   nowhere. */
	struct sasl_refusal *refusal;
};

/*
 * Log in with mechanism method (sasl_method_is_mechanism) and secret:
 * the password, the OAuth2 access token, or NULL for EXTERNAL.
 * YB_ERR_AUTH when refused, with the server's reason; YB_ERR_TEMP when
 * refused for now; YB_ERR_PROTOCOL for an exchange that went wrong.
 */
int sasl_run(const struct sasl_framing *framing, enum sasl_method method,
	     const char *secret, struct yb_error *err);

/*
 * The error for a refusal in reply to `what` (a login command, e.g.
 * "AUTHENTICATE PLAIN" or "LOGIN"); YB_OK for SASL_ANSWER_OK.  Also for
 * the protocols' own login commands.
 */
int sasl_refused(const struct sasl_framing *framing, const char *what,
		 const struct sasl_reply *reply, struct yb_error *err);

#endif
