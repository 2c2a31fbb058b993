/*
 * oauth2_token.h - talking to an OAuth2 endpoint: the client's
 * credentials in a form, the POST, and what the JSON reply means.
 * Shared by the refresh (oauth2.c) and --authorize (the device and
 * authorization-code flows).
 */
#ifndef YUBIN_OAUTH2_TOKEN_H
#define YUBIN_OAUTH2_TOKEN_H

#include "account.h"
#include "error.h"
#include "oauth2_http.h"
#include "oauth2_json.h"

/* The members of a token or device authorization reply yubin reads.
   Strings are malloc'd and wiped by oauth2_reply_free(). */
struct oauth2_reply {
	long http_status;
	char *access_token;
	char *refresh_token;
	char *token_type;
	struct oauth2_json_uint expires_in;
	char *error;
	char *error_description;
	char *device_code;
	char *user_code;
	char *verification_uri;
	char *verification_uri_complete;
	char *verification_url;       /* Google's older name */
	struct oauth2_json_uint interval;
};

/*
 * POST form to url and parse the reply.  YB_OK when the endpoint answered
 * 200 with a JSON object, or 4xx with an OAuth2 error object (then
 * reply->error is set: see oauth2_reply_refused()).  Besides the errors
 * of oauth2_http_post(): YB_ERR_TEMP for 5xx and 429, YB_ERR_PROTOCOL for
 * anything else (a redirect, a body that is not JSON).
 */
int oauth2_endpoint_post(const struct account *account, const char *url,
			 const struct oauth2_buf *form,
			 struct oauth2_reply *reply, struct yb_error *err);

void oauth2_reply_free(struct oauth2_reply *reply);

/*
 * The error for a reply that holds reply->error, naming the account, the
 * endpoint and what was refused (sent: "the refresh token").  The
 * endpoint's error and error_description are quoted, sanitized.
 * invalid_grant is YB_ERR_AUTH and says to run --authorize;
 * temporarily_unavailable is YB_ERR_TEMP; invalid_scope YB_ERR_CONFIG.
 */
int oauth2_reply_refused(const struct account *account, const char *url,
			 const struct oauth2_reply *reply, const char *sent,
			 struct yb_error *err);

/*
 * Check a successful token reply: an access token of printable ASCII
 * (it goes into a SASL line), a Bearer token_type if any, a refresh
 * token (if any) of printable ASCII too.  YB_ERR_PROTOCOL otherwise.
 */
int oauth2_reply_check(const struct account *account, const char *url,
		       const struct oauth2_reply *reply, struct yb_error *err);

/*
 * Add client_id, and client_secret when the account has one (the value
 * or client_secret_cmd's output), to form.  YB_ERR_CONFIG when the
 * command fails.
 */
int oauth2_form_client(const struct account *account, struct oauth2_buf *form,
		       struct yb_error *err);

/*
 * A secret from a command or a file through secret.c's rules (first
 * line; a file must be ours and owner-only).  key names the source in
 * messages ("refresh_token_cmd").  *out is freed with oauth2_free_token().
 */
int oauth2_secret_from_cmd(const struct account *account, const char *key,
			   const char *command, char **out,
			   struct yb_error *err);
int oauth2_secret_from_file(const struct account *account, const char *key,
			    const char *path, char **out, struct yb_error *err);

/* True when token is 1 or more bytes of printable ASCII, no space. */
bool oauth2_token_is_printable(const char *token);

#endif
