/*
 * sasl.h - pure encodings for authentication: base64, SASL PLAIN,
 * CRAM-MD5, XOAUTH2, OAUTHBEARER and the APOP digest.  Every result is malloc'd, owned by the
 * caller, and should be released with sasl_free_secret() (wipes it).
 * All functions return NULL on out of memory or invalid input.
 */
#ifndef YUBIN_SASL_H
#define YUBIN_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "account.h"
#include "credential.h"
#include "error.h"

/* Appended to "no password" errors: where one can come from. */
#define NO_PASSWORD_HINT \
	" (set password, password_cmd, password_env or password_file, or " \
	"run with --ask-password on a terminal)"


/*
 * An RFC 6750 bearer token: 1 to 8192 of A-Z a-z 0-9 - . _ ~ + / then
 * '=' padding.  Anything else (a line break, \x01) could break the
 * framing of the responses below.
 */
bool sasl_bearer_token_ok(const char *token);

/* Standard base64 with padding, NUL-terminated. */
char *sasl_base64_encode(const void *data, size_t len);

/*
 * Decode standard base64 (padding optional, no whitespace).  *out_len
 * gets the length; the result is also NUL-terminated.
 */
unsigned char *sasl_base64_decode(const char *text, size_t len, size_t *out_len);

/* base64("\0user\0password") for AUTH PLAIN. */
char *sasl_plain_response(const char *user, const char *password);

/* base64("user " hex(HMAC-MD5(password, decoded challenge))). */
char *sasl_cram_md5_response(const char *challenge_b64, size_t challenge_len,
			     const char *user, const char *password);

/* base64("user=USER\x01auth=Bearer TOKEN\x01\x01"): Google's and
   Microsoft's XOAUTH2.  NULL also for a token sasl_bearer_token_ok refuses
   or a user name holding \x01. */
char *sasl_xoauth2_response(const char *user, const char *token);

/*
 * base64 of the RFC 7628 OAUTHBEARER client response: a GS2 header
 * naming the user (',' and '=' escaped), host and port, and the token.
 * NULL as for sasl_xoauth2_response.
 */
char *sasl_oauthbearer_response(const char *user, const char *host,
				unsigned port, const char *token);

/*
 * The XOAUTH2 (or, with oauthbearer, the OAUTHBEARER) response for
 * account: its user, its server name (tls_server_name, else host) and
 * port.  YB_ERR_AUTH when the token is not a bearer token (the message
 * names peer and user); *out is wiped with sasl_free_secret().
 */
int sasl_bearer_response(const struct account *account, bool oauthbearer,
			 const char *token, const char *peer, char **out,
			 struct yb_error *err);

/* What a server says when it refuses a token (base64 JSON, RFC 7628
   3.2.2), decoded when it can be, made printable into out. */
void sasl_describe_refusal(const char *challenge, size_t len, char *out,
			   size_t size);

/* The client's answer to that challenge: empty for XOAUTH2, \001 for
   OAUTHBEARER (RFC 7628 3.2.3), base64-encoded. */
const char *sasl_refusal_answer(bool oauthbearer);

/* hex(MD5(timestamp password)) for APOP. */
char *sasl_apop_digest(const char *timestamp, const char *password);

/* Wipe and free; NULL is fine. */
void sasl_free_secret(char *secret);

#endif
