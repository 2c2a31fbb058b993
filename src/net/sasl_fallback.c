/*
 * sasl_fallback.c - the next login method after a refusal (see
 * sasl_fallback.h).
 */
#include "config.h"

#include "sasl_fallback.h"

#include <stdio.h>
#include <string.h>

#include "credential.h"
#include "log.h"

/* The password goes out as it is (only TLS protects it). */
static bool sends_password(enum sasl_method method)
{
	return method == SASL_METHOD_PLAIN || method == SASL_METHOD_LOGIN ||
	       method == SASL_METHOD_USER || method == SASL_METHOD_LOGIN_COMMAND;
}

static void add_if_offered(const struct sasl_offer *offer, enum sasl_method method,
			   enum sasl_method out[SASL_TRY_MAX], size_t *count)
{
	if (*count == SASL_TRY_MAX || !(offer->methods & SASL_BIT(method)))
		return;
	for (size_t i = 0; i < *count; i++)
		if (out[i] == method)
			return;
	out[(*count)++] = method;
}

size_t sasl_fallback_plan(const struct account *account,
			  const struct sasl_offer *offer,
			  enum sasl_method first,
			  enum sasl_method out[SASL_TRY_MAX])
{
	static const enum sasl_method digests[] = { SASL_METHOD_CRAM_MD5,
						    SASL_METHOD_APOP };
	size_t count = 0;
	out[count++] = first;
	if (account->auth != AUTH_AUTO ||
	    account_credential(account) != CRED_PASSWORD ||
	    (!offer->tls && sends_password(first)))
		return count;
	for (size_t i = 0; offer->tls && i < offer->order_len; i++)
		add_if_offered(offer, offer->order[i], out, &count);
	for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
		add_if_offered(offer, digests[i], out, &count);
	return count;
}

/* "PLAIN (reason)" appended to the list of what was refused. */
static void note_refusal(char *refused, size_t size, enum sasl_method method,
			 const struct sasl_refusal *refusal,
			 const struct yb_error *err)
{
	size_t used = strlen(refused);
	if (used >= size - 1)
		return;
	/* A refusal without the server's words (no APOP timestamp, say)
	   gives yubin's own. */
	const char *why = refusal->reason[0] ? refusal->reason : err->msg;
	snprintf(refused + used, size - used, "%s%s (%.*s)", used ? ", " : "",
		 sasl_method_name(method), SASL_REASON_MAX, why);
}

/* Logged in after refusals: one warning, so a user can set auth. */
static void warn_fell_back(const char *peer, enum sasl_method method,
			   const char *refused)
{
	log_warn("%s: logged in with %s after the server refused %s; set auth: "
		 "%s to go straight to it", peer, sasl_method_name(method), refused,
		 auth_mech_name(sasl_method_auth(method)));
}

/*
 * Attempt i failed with rc in a way that ends the trying: the status
 * to return, err set.
 */
static int stop_after(size_t i, int rc, const char *refused,
		      const struct yb_error *first_refusal, struct yb_error *err)
{
	if (i == 0)
		return rc;
	if (rc == YB_ERR_AUTH) {
		yb_error_suffix(err, " (refused before: %s)", refused);
		return rc;
	}
	/* A server that ends the session after a refusal (some do)
	   leaves that refusal as the answer. */
	struct yb_error next = *err;
	*err = *first_refusal;
	yb_error_suffix(err, " (and then: %s)", next.msg);
	return YB_ERR_AUTH;
}

int sasl_fallback_login(const struct account *account, const char *peer,
			const char *user_shown, const enum sasl_method *methods,
			size_t count, sasl_attempt_fn *attempt, void *session,
			struct yb_error *err)
{
	char refused[YB_ERROR_MSG_MAX / 2] = "";
	struct yb_error first_refusal = { YB_OK, "" };
	for (size_t i = 0; i < count; i++) {
		struct sasl_refusal refusal = { "", false };
		int rc = attempt(session, methods[i], &refusal, err);
		if (rc == YB_OK && i > 0)
			warn_fell_back(peer, methods[i], refused);
		if (rc == YB_OK || count == 1)
			return rc;
		bool last = i + 1 == count;
		if (rc != YB_ERR_AUTH || (refusal.credentials && !last))
			return stop_after(i, rc, refused, &first_refusal, err);
		if (i == 0)
			first_refusal = *err;
		note_refusal(refused, sizeof(refused), methods[i], &refusal, err);
		if (!last)
			log_info("%s: %s refused (%s); trying %s", peer,
				 sasl_method_name(methods[i]), refusal.reason,
				 sasl_method_name(methods[i + 1]));
	}
	return yb_fail(err, YB_ERR_AUTH, "%s: login as %s refused with every method "
		       "tried: %s (auth: %s; check user and the password, or set "
		       "auth to a method the server takes)", peer, user_shown,
		       refused, auth_mech_name(account->auth));
}
