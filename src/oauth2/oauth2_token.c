/*
 * oauth2_token.c - token endpoint requests and what their replies mean.
 */
#include "config.h"

#include "oauth2_token.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "log.h"
#include "secret.h"
#include "text.h"

/* A refresh token or expiry beyond this is nonsense (about 30 years). */
#define REPLY_MAX_NUMBER 1000000000ull
/* How much of an endpoint's error text a message quotes. */
#define QUOTED_MAX 200

#define R_AT(member) offsetof(struct oauth2_reply, member)

static const struct oauth2_json_field reply_fields[] = {
	{ "access_token", OAUTH2_JSON_STRING, R_AT(access_token) },
	{ "refresh_token", OAUTH2_JSON_STRING, R_AT(refresh_token) },
	{ "token_type", OAUTH2_JSON_STRING, R_AT(token_type) },
	{ "expires_in", OAUTH2_JSON_UINT, R_AT(expires_in) },
	{ "error", OAUTH2_JSON_STRING, R_AT(error) },
	{ "error_description", OAUTH2_JSON_STRING, R_AT(error_description) },
	{ "device_code", OAUTH2_JSON_STRING, R_AT(device_code) },
	{ "user_code", OAUTH2_JSON_STRING, R_AT(user_code) },
	{ "verification_uri", OAUTH2_JSON_STRING, R_AT(verification_uri) },
	{ "verification_uri_complete", OAUTH2_JSON_STRING,
	  R_AT(verification_uri_complete) },
	{ "verification_url", OAUTH2_JSON_STRING, R_AT(verification_url) },
	{ "interval", OAUTH2_JSON_UINT, R_AT(interval) },
};

#define REPLY_FIELD_COUNT (sizeof(reply_fields) / sizeof(reply_fields[0]))

void oauth2_reply_free(struct oauth2_reply *reply)
{
	oauth2_json_free(reply_fields, REPLY_FIELD_COUNT, reply);
	memset(reply, 0, sizeof(*reply));
}

static bool parse_reply(const struct oauth2_http_reply *http,
			struct oauth2_reply *reply, char *why, size_t why_size)
{
	const char *body = http->body.data ? http->body.data : "";
	return oauth2_json_parse(body, http->body.len, reply_fields,
				 REPLY_FIELD_COUNT, REPLY_MAX_NUMBER, reply, why,
				 why_size);
}

static int interpret(const struct account *account, const char *url,
		     const struct oauth2_http_reply *http,
		     struct oauth2_reply *reply, struct yb_error *err)
{
	long status = http->status;
	reply->http_status = status;
	char why[128];
	bool parsed = parse_reply(http, reply, why, sizeof(why));
	if (status == 200 && parsed)
		return YB_OK;
	/* RFC 6749 5.2: errors come as 400 (401 for client auth). */
	if (status >= 400 && status < 500 && parsed && reply->error)
		return YB_OK;
	if (status >= 500 || status == 429)
		return yb_fail(err, YB_ERR_TEMP,
			       "account '%s': %s answered HTTP %ld; try again later",
			       account->name, url, status);
	if (status >= 300 && status < 400)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "account '%s': %s answered with a redirect (HTTP %ld), which yubin does not follow; check the URL",
			       account->name, url, status);
	if (status == 200)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "account '%s': %s: the reply %s", account->name,
			       url, why);
	return yb_fail(err, YB_ERR_PROTOCOL,
		       "account '%s': %s answered HTTP %ld without an OAuth2 error object",
		       account->name, url, status);
}

int oauth2_endpoint_post(const struct account *account, const char *url,
			 const struct oauth2_buf *form,
			 struct oauth2_reply *reply, struct yb_error *err)
{
	memset(reply, 0, sizeof(*reply));
	struct oauth2_http_reply http;
	int rc = oauth2_http_post(account, url, form, &http, err);
	if (rc == YB_OK)
		rc = interpret(account, url, &http, reply, err);
	oauth2_http_reply_free(&http);
	return rc;
}

static enum yb_status refusal_status(const char *error)
{
	if (strcmp(error, "temporarily_unavailable") == 0 ||
	    strcmp(error, "server_error") == 0)
		return YB_ERR_TEMP;
	if (strcmp(error, "invalid_scope") == 0)
		return YB_ERR_CONFIG;
	if (strcmp(error, "unsupported_grant_type") == 0 ||
	    strcmp(error, "invalid_request") == 0)
		return YB_ERR_PROTOCOL;
	return YB_ERR_AUTH; /* invalid_grant, invalid_client, ... */
}

int oauth2_reply_refused(const struct account *account, const char *url,
			 const struct oauth2_reply *reply, const char *sent,
			 struct yb_error *err)
{
	char error[QUOTED_MAX], description[QUOTED_MAX] = "";
	text_sanitize(error, sizeof(error), reply->error, strlen(reply->error));
	if (reply->error_description)
		text_sanitize(description, sizeof(description),
			      reply->error_description,
			      strlen(reply->error_description));
	const char *sep = description[0] ? ": " : "";
	if (strcmp(reply->error, "invalid_grant") == 0)
		return yb_fail(err, YB_ERR_AUTH,
			       "account '%s': %s refused %s (invalid_grant%s%s); it was revoked or has expired: run yubin --authorize %s",
			       account->name, url, sent, sep, description,
			       account->name);
	if (strcmp(reply->error, "invalid_client") == 0 ||
	    strcmp(reply->error, "unauthorized_client") == 0)
		return yb_fail(err, YB_ERR_AUTH,
			       "account '%s': %s refused the client (%s%s%s); check client_id and client_secret",
			       account->name, url, error, sep, description);
	return yb_fail(err, refusal_status(reply->error),
		       "account '%s': %s refused %s (%s%s%s)", account->name,
		       url, sent, error, sep, description);
}

bool oauth2_token_is_printable(const char *token)
{
	if (!token || !token[0])
		return false;
	for (const unsigned char *p = (const unsigned char *)token; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	return true;
}

int oauth2_reply_check(const struct account *account, const char *url,
		       const struct oauth2_reply *reply, struct yb_error *err)
{
	if (!reply->access_token)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "account '%s': %s sent no access_token",
			       account->name, url);
	/* The token goes into an IMAP/POP3 line: no CR, LF or ^A there. */
	if (!oauth2_token_is_printable(reply->access_token))
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "account '%s': %s sent an access_token with spaces or control characters",
			       account->name, url);
	if (reply->refresh_token &&
	    !oauth2_token_is_printable(reply->refresh_token))
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "account '%s': %s sent a refresh_token with spaces or control characters",
			       account->name, url);
	if (reply->token_type && strcasecmp(reply->token_type, "bearer") != 0) {
		char type[64];
		text_sanitize(type, sizeof(type), reply->token_type,
			      strlen(reply->token_type));
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "account '%s': %s sent a token of type '%s'; XOAUTH2 and OAUTHBEARER need Bearer",
			       account->name, url, type);
	}
	return YB_OK;
}

/* ------------------------------------------------------------------ */
/* Secrets through secret.c                                            */

int oauth2_secret_from_cmd(const struct account *account, const char *key,
			   const char *command, char **out,
			   struct yb_error *err)
{
	char named[64];
	snprintf(named, sizeof(named), "oauth2 %s", key);
	return secret_from_command(account, named, command, out, err);
}

int oauth2_secret_from_file(const struct account *account, const char *key,
			    const char *path, char **out, struct yb_error *err)
{
	char named[64];
	snprintf(named, sizeof(named), "oauth2 %s", key);
	return secret_from_file(account, named, path, out, err);
}

int oauth2_form_client(const struct account *account, struct oauth2_buf *form,
		       struct yb_error *err)
{
	const struct oauth2_settings *o = &account->oauth2;
	oauth2_form_add(form, "client_id", o->client_id);
	if (o->client_secret) {
		oauth2_form_add(form, "client_secret", o->client_secret);
		return YB_OK;
	}
	if (!o->client_secret_cmd)
		return YB_OK;
	char *secret = NULL;
	int rc = oauth2_secret_from_cmd(account, "client_secret_cmd",
					o->client_secret_cmd, &secret, err);
	if (rc == YB_OK)
		oauth2_form_add(form, "client_secret", secret);
	secret_free(secret);
	return rc;
}
