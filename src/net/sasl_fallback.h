/*
 * sasl_fallback.h - when the login method yubin chose is refused, the
 * next one the server offers and the account allows.
 *
 * Servers offer mechanisms they cannot carry out: GNU Mailutils offers
 * SCRAM and CRAM-MD5 over a password database that only stores hashes,
 * others list AUTH=PLAIN for a realm the user is not in.  A refusal
 * (NO, -ERR) seldom says whether the mechanism or the password was
 * wrong, so with auth: auto and a password yubin tries the offered
 * methods in its order of preference, at most SASL_TRY_MAX of them, and
 * stops at the first that logs in (with one warning naming what was
 * refused), at a refusal whose response code blames the credentials
 * (IMAP AUTHENTICATIONFAILED, AUTHORIZATIONFAILED or EXPIRED, POP3
 * [AUTH]: another method would be refused as well, and each try counts
 * towards a lock-out), or at anything but a refusal (a temporary code,
 * a broken exchange).  Refused by more than one, the error (YB_ERR_AUTH)
 * names each method and the server's reason for it.
 *
 * Never tried: a method other than the one an explicit auth: setting
 * names; for an OAuth2 token or a client certificate, any other; and
 * without TLS, a method that sends the password as it is (PLAIN, LOGIN,
 * USER, the IMAP LOGIN command) after a challenge-response one
 * (CRAM-MD5, APOP) was chosen, nor a second one after the first.
 */
#ifndef YUBIN_SASL_FALLBACK_H
#define YUBIN_SASL_FALLBACK_H

#include <stddef.h>

#include "account.h"
#include "error.h"
#include "sasl_engine.h"

/* Failed logins cost a delay on most servers and count towards a lock
   out on some: three tries cover PLAIN, LOGIN and a digest. */
#define SASL_TRY_MAX 3

/*
 * The methods to try in turn, first (sasl_choose's choice) at out[0];
 * returns how many (1..SASL_TRY_MAX).  Pure.
 */
size_t sasl_fallback_plan(const struct account *account,
			  const struct sasl_offer *offer,
			  enum sasl_method first,
			  enum sasl_method out[SASL_TRY_MAX]);

/*
 * One login attempt by the protocol with method; its framing's refusal
 * points at *refusal (zeroed before), which a refusal fills.
 */
typedef int sasl_attempt_fn(void *session, enum sasl_method method,
			    struct sasl_refusal *refusal, struct yb_error *err);

/*
 * Try methods[0..count) in turn with attempt (see above).  peer and
 * user_shown name the login in messages.  YB_OK once one logs in;
 * YB_ERR_AUTH naming each method refused and why; otherwise what the
 * attempt that stopped it returned (a refusal that blames the
 * credentials: its own YB_ERR_AUTH, with the methods refused before).
 */
int sasl_fallback_login(const struct account *account, const char *peer,
			const char *user_shown, const enum sasl_method *methods,
			size_t count, sasl_attempt_fn *attempt, void *session,
			struct yb_error *err);

#endif
