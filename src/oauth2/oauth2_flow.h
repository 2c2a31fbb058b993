/*
 * oauth2_flow.h - the two ways --authorize obtains a first refresh token
 * (used by oauth2_authorize.c only).  Each talks to the user through out,
 * gives up at deadline_ms (CLOCK_MONOTONIC milliseconds), and on success
 * leaves a checked token reply in *tokens (free with oauth2_reply_free).
 */
#ifndef YUBIN_OAUTH2_FLOW_H
#define YUBIN_OAUTH2_FLOW_H

#include <stdio.h>

#include "account.h"
#include "error.h"
#include "oauth2_token.h"

/* RFC 8628: a code the user enters at a verification page; we poll. */
int oauth2_device_flow(const struct account *account, FILE *out,
		       long long deadline_ms, struct oauth2_reply *tokens,
		       struct yb_error *err);

/* RFC 6749 4.1 with PKCE (RFC 7636, S256) and a redirect to a listener
   on 127.0.0.1 (RFC 8252). */
int oauth2_code_flow(const struct account *account, FILE *out,
		     long long deadline_ms, struct oauth2_reply *tokens,
		     struct yb_error *err);

#endif
