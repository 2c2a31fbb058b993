/*
 * oauth2_http.h - the one kind of HTTP request OAuth2 needs: a form POST
 * to an https:// endpoint, answered by a small body.  libcurl (loaded on
 * the first request, see curl_lazy.h) does the transfer, with peer and
 * host verification always on, TLS 1.2 or newer, https only (redirects
 * are not followed), the account's timeout as the deadline and the reply
 * capped at OAUTH2_JSON_MAX_BYTES.
 *
 * Forms and replies carry secrets: they live in struct oauth2_buf, which
 * is wiped whenever it moves or is freed.
 */
#ifndef YUBIN_OAUTH2_HTTP_H
#define YUBIN_OAUTH2_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "account.h"
#include "error.h"

/* A growable byte buffer for secrets; always NUL-terminated once used.
   failed is set (and sticks) when an append ran out of memory or cap. */
struct oauth2_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t limit; /* 0: OAUTH2_JSON_MAX_BYTES */
	bool failed;
};

bool oauth2_buf_append(struct oauth2_buf *buf, const char *data, size_t len);
void oauth2_buf_free(struct oauth2_buf *buf);

/*
 * Append "name=value" (with "&" before all but the first), each
 * percent-encoded as application/x-www-form-urlencoded wants, to buf.
 * The same encoding serves a URL's query string.
 */
void oauth2_form_add(struct oauth2_buf *form, const char *name,
		     const char *value);

struct oauth2_http_reply {
	long status;           /* the HTTP status code */
	struct oauth2_buf body;
};

/*
 * POST form to url for account (whose oauth2.ca_file, timeout and name
 * are used).  Fills reply, which the caller frees with
 * oauth2_http_reply_free() even on failure.  Any HTTP status is YB_OK:
 * the caller reads reply->status.  Errors:
 *   YB_ERR_UNAVAILABLE  cannot connect, or the TLS peer was refused, or
 *                       libcurl cannot be loaded
 *   YB_ERR_TEMP         the deadline passed
 *   YB_ERR_PROTOCOL     the reply is larger than the cap, or not HTTP
 *   YB_ERR_CONFIG       the URL is not https:// or ca_file is unusable
 */
int oauth2_http_post(const struct account *account, const char *url,
		     const struct oauth2_buf *form,
		     struct oauth2_http_reply *reply, struct yb_error *err);

void oauth2_http_reply_free(struct oauth2_http_reply *reply);

#endif
