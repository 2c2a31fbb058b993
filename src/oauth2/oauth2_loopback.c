/*
 * oauth2_loopback.c - the authorization-code grant with PKCE for a
 * desktop program (RFC 8252): the browser is sent to the provider, and
 * the provider sends it back to http://127.0.0.1:PORT/ where we listen.
 *
 * The listener is a deliberately tiny HTTP/1.0 server: one request per
 * connection, GET only, the request bounded in size and time, up to
 * CONN_MAX connections read at once.  Only a redirect with the `state`
 * we made up (compared in constant time) ends the wait, with its code
 * or its error; anything else gets a 400 and the wait goes on, so
 * another page or user can neither feed us a code nor end the
 * authorization.
 */
#include "config.h"

#include "oauth2_flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "clock.h"
#include "fileio.h"
#include "log.h"
#include "text.h"

#define REQUEST_MAX 8192
#define REQUEST_TIMEOUT_MS 5000
#define CONN_MAX 16
#define VALUE_MAX 4096
#define SHOWN_MAX 200

/* What the browser's request to us said. */
struct redirect {
	char code[VALUE_MAX];
	char state[VALUE_MAX];
	char error[VALUE_MAX];
	char error_description[VALUE_MAX];
};

/* ------------------------------------------------------------------ */
/* PKCE and state                                                      */

static void base64url(const unsigned char *data, size_t len, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	unsigned bits = 0, value = 0;
	for (size_t i = 0; i < len; i++) {
		value = (value << 8) | data[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = alphabet[(value >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = alphabet[(value << (6 - bits)) & 63];
	out[o] = '\0';
}

/* 32 random bytes give the 43-character verifier RFC 7636 suggests. */
static bool make_pkce(char verifier[64], char challenge[64], char state[32])
{
	unsigned char random[32], digest[32], nonce[16];
	unsigned int digest_len = 0;
	if (RAND_bytes(random, sizeof(random)) != 1 ||
	    RAND_bytes(nonce, sizeof(nonce)) != 1)
		return false;
	base64url(random, sizeof(random), verifier);
	base64url(nonce, sizeof(nonce), state);
	OPENSSL_cleanse(random, sizeof(random));
	if (EVP_Digest(verifier, strlen(verifier), digest, &digest_len,
		       EVP_sha256(), NULL) != 1 || digest_len != 32)
		return false;
	base64url(digest, sizeof(digest), challenge);
	return true;
}

/* ------------------------------------------------------------------ */
/* The listener                                                        */

static int open_listener(const struct account *account, int *fd,
			 unsigned *port, struct yb_error *err)
{
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(*fd, CONN_MAX) != 0 ||
	    getsockname(*fd, (struct sockaddr *)&addr, &len) != 0) {
		int saved = errno;
		fd_close(fd);
		return yb_fail_errno(err, YB_ERR_IO, saved,
				     "account '%s': cannot listen on 127.0.0.1 for the browser",
				     account->name);
	}
	*port = ntohs(addr.sin_port);
	return YB_OK;
}

/* Send a short reply without waiting: the page fits in any socket
   buffer, and a peer that does not read it is not waited for. */
static void send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t sent = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent <= 0)
			return;
		data += sent;
		len -= (size_t)sent;
	}
}

static void respond(int fd, int status, const char *reason, const char *text)
{
	char page[1024];
	int body_len = snprintf(page, sizeof(page),
				"<!DOCTYPE html>\n<html><head><title>yubin</title></head>"
				"<body><p>%s</p></body></html>\n", text);
	char head[256];
	int head_len = snprintf(head, sizeof(head),
				"HTTP/1.0 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
				"Content-Length: %d\r\nCache-Control: no-store\r\n"
				"Connection: close\r\n\r\n", status, reason, body_len);
	if (head_len > 0 && (size_t)head_len < sizeof(head) && body_len > 0 &&
	    (size_t)body_len < sizeof(page)) {
		send_all(fd, head, (size_t)head_len);
		send_all(fd, page, (size_t)body_len);
	}
}

/* ------------------------------------------------------------------ */
/* The request                                                         */


/* Percent-decode s[0..len) into out; false when it does not fit or
   would hold a NUL. */
static bool decode(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (len - i < 3)
				return false;
			int high = text_hex_value(s[i + 1]);
			int low = text_hex_value(s[i + 2]);
			if (high < 0 || low < 0)
				return false;
			c = (char)(high * 16 + low);
			i += 2;
		}
		if (c == '\0' || o + 1 >= size)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return true;
}

/* Split the query into the parameters we read; false on a bad one. */
static bool parse_query(const char *query, size_t len, struct redirect *r)
{
	const char *end = query + len;
	while (query < end) {
		const char *amp = memchr(query, '&', (size_t)(end - query));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(query, '=', (size_t)(stop - query));
		if (eq) {
			size_t name_len = (size_t)(eq - query);
			char *slot = NULL;
			if (name_len == 4 && memcmp(query, "code", 4) == 0)
				slot = r->code;
			else if (name_len == 5 && memcmp(query, "state", 5) == 0)
				slot = r->state;
			else if (name_len == 5 && memcmp(query, "error", 5) == 0)
				slot = r->error;
			else if (name_len == 17 &&
				 memcmp(query, "error_description", 17) == 0)
				slot = r->error_description;
			if (slot && !decode(eq + 1, (size_t)(stop - eq - 1), slot,
					    VALUE_MAX))
				return false;
		}
		query = stop + 1;
	}
	return true;
}

enum request_kind { REQUEST_BAD, REQUEST_OTHER_PATH, REQUEST_REDIRECT };

/* "GET /?query HTTP/1.1": the redirect, another path, or garbage. */
static enum request_kind parse_request(const char *head, struct redirect *r)
{
	if (strncmp(head, "GET ", 4) != 0)
		return REQUEST_BAD;
	const char *target = head + 4;
	size_t target_len = strcspn(target, " \r\n");
	if (target_len == 0 || target[0] != '/')
		return REQUEST_BAD;
	size_t path_len = strcspn(target, "? \r\n");
	if (path_len != 1)
		return REQUEST_OTHER_PATH; /* /favicon.ico and the like */
	if (target[1] != '?')
		return REQUEST_BAD;
	return parse_query(target + 2, target_len - 2, r) ? REQUEST_REDIRECT
							  : REQUEST_BAD;
}

/* ------------------------------------------------------------------ */
/* Waiting for the browser                                             */

/*
 * Any local user, and any web page open in the browser, can connect to
 * the listener.  So only a request carrying our state ends the wait;
 * every other one gets its 400 and is forgotten.  Connections are read
 * side by side, each into its own buffer and with its own short
 * deadline, so one that says nothing cannot keep the browser out.
 */

enum verdict { VERDICT_WAIT, VERDICT_CODE, VERDICT_FAILED };

/* A connection whose request is being read; fd is -1 when free. */
struct conn {
	int fd;
	long long deadline_ms;
	size_t len;
	char head[REQUEST_MAX];
};

/* The listener and what it has accepted.  Owned by oauth2_code_flow. */
struct waiter {
	const struct account *account;
	const char *state;
	int listener;
	unsigned refused; /* redirects with a wrong state so far */
	struct conn conns[CONN_MAX];
};

static void conn_close(struct conn *c)
{
	fd_close(&c->fd);
	OPENSSL_cleanse(c->head, sizeof(c->head)); /* it may hold a code */
	c->len = 0;
}

/* The state's length is no secret (every state yubin makes has the
   same); its bytes are compared in constant time. */
static bool state_matches(const struct redirect *r, const char *state)
{
	size_t state_len = strlen(state);
	return strlen(r->state) == state_len &&
	       CRYPTO_memcmp(r->state, state, state_len) == 0;
}

/* Say once that someone else answered; a flood is not repeated. */
static void note_refused(struct waiter *w)
{
	w->refused++;
	if (w->refused == 1)
		log_warn("account '%s': ignored a redirect whose state does not match the one yubin sent (a forged or stale request?); still waiting for the browser",
			 w->account->name);
	else
		log_debug("ignored another redirect with a wrong state");
}

static enum verdict judge(struct waiter *w, int fd, const struct redirect *r,
			  struct yb_error *err)
{
	if (!state_matches(r, w->state)) {
		bool answer = r->code[0] || r->error[0];
		respond(fd, 400, "Bad Request", answer ?
			"yubin: this answer does not belong to the authorization yubin started; it was ignored." :
			"yubin: no authorization code here.");
		if (answer)
			note_refused(w);
		return VERDICT_WAIT;
	}
	/* Our state with an error: the user said no at the provider. */
	if (r->error[0]) {
		char error[SHOWN_MAX], description[SHOWN_MAX];
		text_sanitize(error, sizeof(error), r->error, strlen(r->error));
		text_sanitize(description, sizeof(description),
			      r->error_description, strlen(r->error_description));
		respond(fd, 200, "OK", "yubin: the authorization failed. You can close this window.");
		yb_fail(err, YB_ERR_AUTH,
			"account '%s': the authorization server said %s%s%s",
			w->account->name, error, description[0] ? ": " : "",
			description);
		return VERDICT_FAILED;
	}
	if (!r->code[0]) {
		respond(fd, 400, "Bad Request", "yubin: no authorization code here.");
		return VERDICT_WAIT;
	}
	respond(fd, 200, "OK", "yubin: authorized. You can close this window.");
	return VERDICT_CODE;
}

/* A whole request head in c; VERDICT_CODE leaves the code in r->code. */
static enum verdict serve_request(struct waiter *w, struct conn *c,
				  struct redirect *r, struct yb_error *err)
{
	memset(r, 0, sizeof(*r));
	enum request_kind kind = parse_request(c->head, r);
	enum verdict verdict = VERDICT_WAIT;
	if (kind == REQUEST_OTHER_PATH)
		respond(c->fd, 404, "Not Found", "yubin: not found.");
	else if (kind == REQUEST_BAD)
		respond(c->fd, 400, "Bad Request", "yubin: bad request.");
	else
		verdict = judge(w, c->fd, r, err);
	if (verdict != VERDICT_CODE)
		OPENSSL_cleanse(r, sizeof(*r));
	return verdict;
}

enum head_progress { HEAD_MORE, HEAD_DONE, HEAD_BAD, HEAD_GONE };

/* Read what c has for us; HEAD_DONE once the blank line ending the
   head is in, HEAD_BAD for a NUL or a head too long. */
static enum head_progress read_head(struct conn *c)
{
	ssize_t got = read(c->fd, c->head + c->len, sizeof(c->head) - 1 - c->len);
	if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return HEAD_MORE;
	if (got < 0)
		return HEAD_GONE;
	if (got == 0)
		return HEAD_BAD; /* half closed: it may still read our 400 */
	if (memchr(c->head + c->len, '\0', (size_t)got))
		return HEAD_BAD;
	c->len += (size_t)got;
	c->head[c->len] = '\0';
	if (strstr(c->head, "\r\n\r\n") || strstr(c->head, "\n\n"))
		return HEAD_DONE;
	return c->len + 1 < sizeof(c->head) ? HEAD_MORE : HEAD_BAD;
}

/* c is readable (or hung up): read, and answer once its head is in. */
static enum verdict serve_conn(struct waiter *w, struct conn *c,
			       struct redirect *r, struct yb_error *err)
{
	enum head_progress progress = read_head(c);
	enum verdict verdict = VERDICT_WAIT;
	if (progress == HEAD_MORE)
		return VERDICT_WAIT;
	if (progress == HEAD_DONE)
		verdict = serve_request(w, c, r, err);
	else if (progress == HEAD_BAD)
		respond(c->fd, 400, "Bad Request", "yubin: bad request.");
	if (verdict == VERDICT_WAIT)
		log_debug("ignored a request to the redirect listener");
	conn_close(c);
	return verdict;
}

/* Connections past their deadline are told so and closed. */
static void expire_conns(struct waiter *w, long long now_ms)
{
	for (size_t i = 0; i < CONN_MAX; i++) {
		struct conn *c = &w->conns[i];
		if (c->fd < 0 || c->deadline_ms > now_ms)
			continue;
		respond(c->fd, 408, "Request Timeout", "yubin: request timeout.");
		log_debug("closed a silent connection to the redirect listener");
		conn_close(c);
	}
}

/* Take a new connection into a free slot; when all are busy the one
   nearest its deadline makes room, so a crowd of silent connections
   delays the browser by one turn at most. */
static void accept_conn(struct waiter *w, long long now_ms)
{
	int fd = accept4(w->listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return; /* EINTR, ECONNABORTED: the next poll says */
	struct conn *slot = &w->conns[0];
	for (size_t i = 0; i < CONN_MAX; i++) {
		struct conn *c = &w->conns[i];
		if (c->fd < 0) {
			slot = c;
			break;
		}
		if (c->deadline_ms < slot->deadline_ms)
			slot = c;
	}
	if (slot->fd >= 0) {
		respond(slot->fd, 503, "Service Unavailable", "yubin: too many connections.");
		log_debug("closed the oldest connection to the redirect listener to make room");
		conn_close(slot);
	}
	slot->fd = fd;
	slot->deadline_ms = now_ms + REQUEST_TIMEOUT_MS;
	slot->len = 0;
}

/* The listener, then each open connection; slot_of maps a pollfd back
   to its connection.  Returns the count; *wake_ms is the earliest
   deadline among them. */
static nfds_t poll_set(const struct waiter *w, struct pollfd *pfds,
		       size_t *slot_of, long long *wake_ms)
{
	nfds_t n = 0;
	pfds[n++] = (struct pollfd){ .fd = w->listener, .events = POLLIN };
	for (size_t i = 0; i < CONN_MAX; i++) {
		const struct conn *c = &w->conns[i];
		if (c->fd < 0)
			continue;
		slot_of[n] = i;
		pfds[n++] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		if (c->deadline_ms < *wake_ms)
			*wake_ms = c->deadline_ms;
	}
	return n;
}

static int wait_for_code(struct waiter *w, long long deadline_ms,
			 struct redirect *r, struct yb_error *err)
{
	const char *name = w->account->name;
	for (;;) {
		long long now = clock_now_ms();
		if (now >= deadline_ms)
			return yb_fail(err, YB_ERR_TEMP,
				       "account '%s': gave up waiting for the browser; run yubin --authorize %s again",
				       name, name);
		expire_conns(w, now);
		struct pollfd pfds[CONN_MAX + 1];
		size_t slot_of[CONN_MAX + 1];
		long long wake = deadline_ms;
		nfds_t n = poll_set(w, pfds, slot_of, &wake);
		long long left = wake - now;
		int ready = poll(pfds, n, left > 60000 ? 60000 : (int)left);
		if (ready < 0 && errno != EINTR)
			return yb_fail_errno(err, YB_ERR_IO, errno,
					     "account '%s': cannot wait for the browser",
					     name);
		for (nfds_t k = 1; ready > 0 && k < n; k++) {
			if (!pfds[k].revents)
				continue;
			enum verdict verdict = serve_conn(w, &w->conns[slot_of[k]],
							  r, err);
			if (verdict == VERDICT_CODE)
				return YB_OK;
			if (verdict == VERDICT_FAILED)
				return err ? err->status : YB_ERR_AUTH;
		}
		if (ready > 0 && (pfds[0].revents & POLLIN))
			accept_conn(w, clock_now_ms());
	}
}

/* A waiter on a fresh listener; *w is freed with waiter_close. */
static int waiter_open(const struct account *account, const char *state,
		       struct waiter **w, unsigned *port, struct yb_error *err)
{
	*w = calloc(1, sizeof(**w));
	if (!*w)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	(*w)->account = account;
	(*w)->state = state;
	for (size_t i = 0; i < CONN_MAX; i++)
		(*w)->conns[i].fd = -1;
	int rc = open_listener(account, &(*w)->listener, port, err);
	if (rc != YB_OK) {
		free(*w);
		*w = NULL;
	}
	return rc;
}

/* Close the listener and every connection still open. */
static void waiter_close(struct waiter *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < CONN_MAX; i++)
		if (w->conns[i].fd >= 0)
			conn_close(&w->conns[i]);
	fd_close(&w->listener);
	OPENSSL_cleanse(w, sizeof(*w));
	free(w);
}

/* ------------------------------------------------------------------ */
/* The flow                                                            */

static int show_url(const struct account *account, const char *redirect_uri,
		    const char *challenge, const char *state, FILE *out,
		    long long wait_s, struct yb_error *err)
{
	const struct oauth2_settings *o = &account->oauth2;
	struct oauth2_buf query = { 0 };
	oauth2_form_add(&query, "response_type", "code");
	oauth2_form_add(&query, "client_id", o->client_id);
	oauth2_form_add(&query, "redirect_uri", redirect_uri);
	if (o->scope)
		oauth2_form_add(&query, "scope", o->scope);
	oauth2_form_add(&query, "state", state);
	oauth2_form_add(&query, "code_challenge", challenge);
	oauth2_form_add(&query, "code_challenge_method", "S256");
	/* Google issues a refresh token only with these; RFC 6749 has
	   servers ignore parameters they do not know. */
	oauth2_form_add(&query, "access_type", "offline");
	oauth2_form_add(&query, "prompt", "consent");
	if (query.failed) {
		oauth2_buf_free(&query);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	fprintf(out, "To authorize yubin for account '%s', open this address in a browser:\n\n"
		"    %s%c%s\n\nWaiting up to %lld minutes for the browser to come back to %s\n",
		account->name, o->auth_url, strchr(o->auth_url, '?') ? '&' : '?',
		query.data, (wait_s + 59) / 60, redirect_uri);
	fflush(out);
	oauth2_buf_free(&query);
	return YB_OK;
}

static int exchange_code(const struct account *account, const char *code,
			 const char *redirect_uri, const char *verifier,
			 struct oauth2_reply *tokens, struct yb_error *err)
{
	const struct oauth2_settings *o = &account->oauth2;
	struct oauth2_buf form = { 0 };
	oauth2_form_add(&form, "grant_type", "authorization_code");
	oauth2_form_add(&form, "code", code);
	oauth2_form_add(&form, "redirect_uri", redirect_uri);
	oauth2_form_add(&form, "code_verifier", verifier);
	int rc = oauth2_form_client(account, &form, err);
	if (rc == YB_OK)
		rc = oauth2_endpoint_post(account, o->token_url, &form, tokens, err);
	oauth2_buf_free(&form);
	if (rc == YB_OK && tokens->error)
		rc = oauth2_reply_refused(account, o->token_url, tokens,
					  "the authorization code", err);
	if (rc == YB_OK)
		rc = oauth2_reply_check(account, o->token_url, tokens, err);
	return rc;
}

int oauth2_code_flow(const struct account *account, FILE *out,
		     long long deadline_ms, struct oauth2_reply *tokens,
		     struct yb_error *err)
{
	char verifier[64], challenge[64], state[32], redirect_uri[64];
	if (!make_pkce(verifier, challenge, state))
		return yb_fail(err, YB_ERR_INTERNAL,
			       "account '%s': no random numbers for PKCE",
			       account->name);
	struct waiter *w = NULL;
	unsigned port = 0;
	int rc = waiter_open(account, state, &w, &port, err);
	if (rc != YB_OK)
		return rc;
	snprintf(redirect_uri, sizeof(redirect_uri), "http://127.0.0.1:%u/", port);
	rc = show_url(account, redirect_uri, challenge, state, out,
		      (deadline_ms - clock_now_ms()) / 1000, err);
	struct redirect *r = calloc(1, sizeof(*r));
	if (rc == YB_OK && !r)
		rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (rc == YB_OK)
		rc = wait_for_code(w, deadline_ms, r, err);
	waiter_close(w);
	if (rc == YB_OK)
		rc = exchange_code(account, r->code, redirect_uri, verifier,
				   tokens, err);
	if (r)
		OPENSSL_cleanse(r, sizeof(*r));
	free(r);
	OPENSSL_cleanse(verifier, sizeof(verifier));
	return rc;
}
