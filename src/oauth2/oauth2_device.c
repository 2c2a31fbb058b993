/*
 * oauth2_device.c - the device authorization grant (RFC 8628).
 *
 * We ask device_auth_url for a code, show the user where to enter it,
 * and poll token_url no faster than the endpoint allows: interval
 * seconds (5 by default), 5 more after each slow_down.  The wait ends
 * with the code's own expires_in or the caller's deadline, whichever is
 * first.
 */
#include "config.h"

#include "oauth2_flow.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "text.h"

#define DEFAULT_INTERVAL_S 5
#define SLOW_DOWN_S 5
#define MAX_INTERVAL_S 300
#define DEFAULT_CODE_LIFETIME_S 900 /* when expires_in is missing */
#define SHOWN_MAX 512

static int request_code(const struct account *account,
			struct oauth2_reply *code, struct yb_error *err)
{
	const struct oauth2_settings *o = &account->oauth2;
	struct oauth2_buf form = { 0 };
	int rc = oauth2_form_client(account, &form, err);
	if (o->scope)
		oauth2_form_add(&form, "scope", o->scope);
	if (rc == YB_OK)
		rc = oauth2_endpoint_post(account, o->device_auth_url, &form,
					  code, err);
	oauth2_buf_free(&form);
	if (rc == YB_OK && code->error)
		return oauth2_reply_refused(account, o->device_auth_url, code,
					    "the device authorization request",
					    err);
	const char *uri = code->verification_uri ? code->verification_uri
						 : code->verification_url;
	if (rc == YB_OK && (!code->device_code || !code->user_code || !uri))
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "account '%s': %s sent no device_code, user_code or verification_uri",
			       account->name, o->device_auth_url);
	return rc;
}

/* The instructions; everything the endpoint sent is sanitized. */
static void show_code(const struct account *account,
		      const struct oauth2_reply *code, long long wait_s,
		      FILE *out)
{
	char uri[SHOWN_MAX], user_code[SHOWN_MAX], complete[SHOWN_MAX];
	const char *raw = code->verification_uri ? code->verification_uri
						 : code->verification_url;
	text_sanitize(uri, sizeof(uri), raw, strlen(raw));
	text_sanitize(user_code, sizeof(user_code), code->user_code,
		      strlen(code->user_code));
	fprintf(out, "To authorize yubin for account '%s', open\n\n    %s\n\n"
		"and enter the code\n\n    %s\n\n", account->name, uri, user_code);
	if (code->verification_uri_complete) {
		text_sanitize(complete, sizeof(complete),
			      code->verification_uri_complete,
			      strlen(code->verification_uri_complete));
		fprintf(out, "(or open %s, which holds the code)\n\n", complete);
	}
	fprintf(out, "Waiting up to %lld minutes...\n", (wait_s + 59) / 60);
	fflush(out);
}

static int poll_once(const struct account *account, const char *device_code,
		     struct oauth2_reply *tokens, struct yb_error *err)
{
	struct oauth2_buf form = { 0 };
	oauth2_form_add(&form, "grant_type",
			"urn:ietf:params:oauth:grant-type:device_code");
	oauth2_form_add(&form, "device_code", device_code);
	int rc = oauth2_form_client(account, &form, err);
	if (rc == YB_OK)
		rc = oauth2_endpoint_post(account, account->oauth2.token_url,
					  &form, tokens, err);
	oauth2_buf_free(&form);
	return rc;
}

enum poll_state { POLL_DONE, POLL_AGAIN, POLL_SLOWER };

/* What an error reply to a poll means; a final one fills err. */
static int poll_verdict(const struct account *account,
			const struct oauth2_reply *tokens,
			enum poll_state *state, struct yb_error *err)
{
	const char *url = account->oauth2.token_url;
	*state = POLL_DONE;
	if (strcmp(tokens->error, "authorization_pending") == 0) {
		*state = POLL_AGAIN;
		return YB_OK;
	}
	if (strcmp(tokens->error, "slow_down") == 0) {
		*state = POLL_SLOWER;
		return YB_OK;
	}
	if (strcmp(tokens->error, "access_denied") == 0)
		return yb_fail(err, YB_ERR_AUTH,
			       "account '%s': the authorization was denied at %s",
			       account->name, url);
	if (strcmp(tokens->error, "expired_token") == 0)
		return yb_fail(err, YB_ERR_TEMP,
			       "account '%s': the code expired before it was entered; run yubin --authorize %s again",
			       account->name, account->name);
	return oauth2_reply_refused(account, url, tokens, "the device code", err);
}

static long long interval_of(const struct oauth2_reply *code)
{
	if (!code->interval.present || code->interval.value == 0)
		return DEFAULT_INTERVAL_S;
	if (code->interval.value > MAX_INTERVAL_S)
		return MAX_INTERVAL_S;
	return (long long)code->interval.value;
}

static int poll_tokens(const struct account *account,
		       const struct oauth2_reply *code, long long deadline_ms,
		       struct oauth2_reply *tokens, struct yb_error *err)
{
	long long interval_s = interval_of(code);
	for (;;) {
		long long next = clock_now_ms() + interval_s * 1000;
		if (next >= deadline_ms)
			return yb_fail(err, YB_ERR_TEMP,
				       "account '%s': gave up waiting for the authorization; run yubin --authorize %s again",
				       account->name, account->name);
		clock_sleep_until(next);
		oauth2_reply_free(tokens);
		int rc = poll_once(account, code->device_code, tokens, err);
		if (rc != YB_OK || !tokens->error)
			return rc;
		enum poll_state state;
		rc = poll_verdict(account, tokens, &state, err);
		if (state == POLL_DONE)
			return rc;
		if (state == POLL_SLOWER && interval_s < MAX_INTERVAL_S)
			interval_s += SLOW_DOWN_S;
		log_debug("not authorized yet; asking again in %lld s",
			  interval_s);
	}
}

int oauth2_device_flow(const struct account *account, FILE *out,
		       long long deadline_ms, struct oauth2_reply *tokens,
		       struct yb_error *err)
{
	struct oauth2_reply code;
	int rc = request_code(account, &code, err);
	if (rc == YB_OK) {
		uint64_t lifetime = code.expires_in.present ? code.expires_in.value
							    : DEFAULT_CODE_LIFETIME_S;
		long long code_deadline = clock_now_ms() + (long long)lifetime * 1000;
		if (code_deadline < deadline_ms)
			deadline_ms = code_deadline;
		show_code(account, &code, (deadline_ms - clock_now_ms()) / 1000, out);
		rc = poll_tokens(account, &code, deadline_ms, tokens, err);
	}
	if (rc == YB_OK)
		rc = oauth2_reply_check(account, account->oauth2.token_url, tokens,
					err);
	oauth2_reply_free(&code);
	return rc;
}
