/*
 * credential.h - what an account logs in with, which decides the secret
 * to obtain (a password, a token, a client certificate) before any
 * connection is made.
 */
#ifndef YUBIN_CREDENTIAL_H
#define YUBIN_CREDENTIAL_H

#include "account.h"

/* What an account logs in with, which decides the secret to obtain. */
enum account_credential {
	CRED_PASSWORD, /* a password for PLAIN, LOGIN, CRAM-MD5, ... */
	CRED_TOKEN,    /* an OAuth2 access token: XOAUTH2, OAUTHBEARER */
	CRED_CERT,     /* the TLS client certificate: EXTERNAL */
};

/*
 * auth: xoauth2/oauthbearer, or auto with an oauth2 mapping, use a token;
 * auth: external, or auto with a client certificate and no password
 * source, the certificate; everything else a password.
 */
enum account_credential account_credential(const struct account *account);

#endif
