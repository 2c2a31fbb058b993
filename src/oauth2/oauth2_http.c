/*
 * oauth2_http.c - form POSTs to OAuth2 endpoints with libcurl (loaded on
 * the first request: curl_lazy.h).
 *
 * Everything a token endpoint could use against us is switched off or
 * bounded: no plain http (even by redirect), no redirects at all (a
 * token endpoint has no reason to send one, and following it would send
 * the form elsewhere), no cookies or .netrc, a capped reply, and the
 * account's timeout for the whole exchange.  CURLOPT_VERBOSE is never
 * set: it would print the form.
 */
#include "config.h"

#include "oauth2_http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "curl_lazy.h"
#include "log.h"
#include "oauth2_json.h"
#include "text.h"
#include "wipe.h"

/* ------------------------------------------------------------------ */
/* Secret buffers and forms                                            */

void oauth2_buf_free(struct oauth2_buf *buf)
{
	wipe_free(buf->data, buf->cap);
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
	buf->failed = false;
}

static size_t buf_limit(const struct oauth2_buf *buf)
{
	return buf->limit ? buf->limit : OAUTH2_JSON_MAX_BYTES;
}

/* Grow to hold need bytes plus a NUL. */
static bool buf_reserve(struct oauth2_buf *buf, size_t need)
{
	/* The callers keep need within the limit. */
	return wipe_grow(&buf->data, buf->len, &buf->cap, need + 1, 256,
			 SIZE_MAX);
}

bool oauth2_buf_append(struct oauth2_buf *buf, const char *data, size_t len)
{
	if (buf->failed)
		return false;
	size_t limit = buf_limit(buf);
	if (len > limit || buf->len > limit - len ||
	    !buf_reserve(buf, buf->len + len)) {
		buf->failed = true;
		return false;
	}
	if (len)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return true;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* Percent-encode everything but RFC 3986's unreserved characters. */
static void append_encoded(struct oauth2_buf *form, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		char encoded[3] = { (char)*p, 0, 0 };
		size_t n = 1;
		if (!unreserved(*p)) {
			encoded[0] = '%';
			encoded[1] = hex[*p >> 4];
			encoded[2] = hex[*p & 15];
			n = 3;
		}
		oauth2_buf_append(form, encoded, n);
	}
}

void oauth2_form_add(struct oauth2_buf *form, const char *name,
		     const char *value)
{
	if (form->len > 0)
		oauth2_buf_append(form, "&", 1);
	append_encoded(form, name);
	oauth2_buf_append(form, "=", 1);
	append_encoded(form, value);
}

/* ------------------------------------------------------------------ */
/* The transfer                                                        */

/* What the write callback needs. */
struct sink {
	struct oauth2_buf *body;
	bool too_big;
};

static size_t on_body(char *data, size_t size, size_t count, void *userdata)
{
	struct sink *sink = userdata;
	size_t len = size * count; /* curl promises size == 1 */
	if (!oauth2_buf_append(sink->body, data, len)) {
		sink->too_big = true;
		return 0; /* abort the transfer */
	}
	return len;
}

/* ca_file adds to the system's trust anchors rather than replacing
   them: curl has loaded those by the time it calls this. */
static CURLcode add_ca_file(CURL *curl, void *ssl_ctx, void *userdata)
{
	(void)curl;
	const char *ca_file = userdata;
	if (SSL_CTX_load_verify_locations(ssl_ctx, ca_file, NULL) != 1)
		return CURLE_SSL_CACERT_BADFILE;
	return CURLE_OK;
}

static bool set_options(CURL *curl, const struct account *account,
			const char *url, const struct oauth2_buf *form,
			struct sink *sink, struct curl_slist *headers,
			char *errbuf)
{
	long timeout_ms = (long)(account->timeout ? account->timeout : 60) * 1000;
	bool ok = curl_lazy_setopt_string(curl, CURLOPT_URL, url) == CURLE_OK &&
		curl_lazy_setopt_string(curl, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
		curl_lazy_setopt_string(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK &&
		curl_lazy_setopt_long(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
		curl_lazy_setopt_long(curl, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
		curl_lazy_setopt_long(curl, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
		curl_lazy_setopt_long(curl, CURLOPT_SSLVERSION,
				      (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
		curl_lazy_setopt_long(curl, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK &&
		curl_lazy_setopt_long(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
		curl_lazy_setopt_long(curl, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED) == CURLE_OK &&
		curl_lazy_setopt_string(curl, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION) == CURLE_OK &&
		curl_lazy_setopt_slist(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
		curl_lazy_setopt_string(curl, CURLOPT_POSTFIELDS, form->data ? form->data : "") == CURLE_OK &&
		curl_lazy_setopt_long(curl, CURLOPT_POSTFIELDSIZE, (long)form->len) == CURLE_OK &&
		curl_lazy_setopt_write(curl, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
		curl_lazy_setopt_data(curl, CURLOPT_WRITEDATA, sink) == CURLE_OK &&
		curl_lazy_setopt_data(curl, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
	if (ok && account->oauth2.ca_file)
		ok = curl_lazy_setopt_ssl_ctx(curl, CURLOPT_SSL_CTX_FUNCTION, add_ca_file) == CURLE_OK &&
		     /* handed back to add_ca_file only, which reads it */
		     curl_lazy_setopt_data(curl, CURLOPT_SSL_CTX_DATA,
					   (void *)account->oauth2.ca_file) == CURLE_OK;
	return ok;
}

static enum yb_status status_for(CURLcode code)
{
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		return YB_ERR_TEMP;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_SSL_CACERT_BADFILE:
		return YB_ERR_CONFIG;
	case CURLE_WRITE_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
		return YB_ERR_PROTOCOL;
	case CURLE_OUT_OF_MEMORY:
		return YB_ERR_INTERNAL;
	default:
		return YB_ERR_UNAVAILABLE;
	}
}

static int transfer_failed(const struct account *account, const char *url,
			   CURLcode code, const struct sink *sink,
			   const char *errbuf, struct yb_error *err)
{
	if (sink->too_big)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "account '%s': %s: the reply is larger than %d bytes",
			       account->name, url, OAUTH2_JSON_MAX_BYTES);
	char detail[CURL_ERROR_SIZE + 16];
	const char *text = errbuf[0] ? errbuf : curl_lazy_easy_strerror(code);
	text_sanitize(detail, sizeof(detail), text, strlen(text));
	return yb_fail(err, status_for(code), "account '%s': %s: %s",
		       account->name, url, detail);
}

int oauth2_http_post(const struct account *account, const char *url,
		     const struct oauth2_buf *form,
		     struct oauth2_http_reply *reply, struct yb_error *err)
{
	memset(reply, 0, sizeof(*reply));
	if (form->failed)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "account '%s': out of memory building a request to %s",
			       account->name, url);
	if (strncasecmp(url, "https://", 8) != 0)
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': %s: refusing an endpoint that is not https://",
			       account->name, url);
	int loaded = curl_lazy_load(err);
	if (loaded != YB_OK) {
		yb_error_prefix(err, "account '%s': ", account->name);
		return loaded;
	}
	CURL *curl = curl_lazy_easy_init();
	struct curl_slist *headers =
		curl_lazy_slist_append(NULL, "Accept: application/json");
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink sink = { .body = &reply->body };
	int rc = YB_OK;
	if (!curl || !headers ||
	    !set_options(curl, account, url, form, &sink, headers, errbuf)) {
		rc = yb_fail(err, YB_ERR_INTERNAL,
			     "account '%s': cannot set up a request to %s",
			     account->name, url);
	} else {
		log_debug("POST %s", url);
		CURLcode code = curl_lazy_easy_perform(curl);
		if (code != CURLE_OK)
			rc = transfer_failed(account, url, code, &sink, errbuf, err);
		else
			curl_lazy_getinfo_long(curl, CURLINFO_RESPONSE_CODE,
					       &reply->status);
		if (rc == YB_OK)
			log_debug("%s answered HTTP %ld (%zu bytes)", url,
				  reply->status, reply->body.len);
	}
	curl_lazy_slist_free_all(headers);
	if (curl)
		curl_lazy_easy_cleanup(curl);
	return rc;
}

void oauth2_http_reply_free(struct oauth2_http_reply *reply)
{
	oauth2_buf_free(&reply->body);
	reply->status = 0;
}
