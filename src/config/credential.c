/*
 * credential.c - what an account logs in with.
 */
#include "config.h"

#include "credential.h"

enum account_credential account_credential(const struct account *account)
{
	switch (account->auth) {
	case AUTH_XOAUTH2:
	case AUTH_OAUTHBEARER:
		return CRED_TOKEN;
	case AUTH_EXTERNAL:
		return CRED_CERT;
	case AUTH_AUTO:
		if (account->has_oauth2)
			return CRED_TOKEN;
		if (account->tls_cert_file &&
		    account->password_source == PASSWORD_NONE)
			return CRED_CERT;
		return CRED_PASSWORD;
	case AUTH_PLAIN:
	case AUTH_LOGIN:
	case AUTH_CRAM_MD5:
	case AUTH_APOP:
	case AUTH_USER:
		break;
	}
	return CRED_PASSWORD;
}
