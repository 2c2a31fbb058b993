/*
 * fuzz_pop3_session.c - a whole POP3 session against fuzzed server bytes.
 *
 * conn.c connects by name (getaddrinfo), so instead of a socketpair the
 * process listens once on 127.0.0.1 (port 0: the kernel picks one) and,
 * for each input, a thread accepts the one connection, writes the input
 * as the server's whole side of the conversation, then shuts its side
 * down, reading and dropping whatever the client sends until the client
 * closes.  The client runs the real session in the calling thread:
 * pop3_connect (tls: none, allow_plaintext, timeout 2 s), pop3_list,
 * RETR of the first few messages (pipelined when the server and the
 * account allow), DELE when asked, pop3_quit, pop3_close.  Nothing ever
 * connects anywhere but 127.0.0.1.
 *
 * Input: two parameter bytes, then the server's bytes.
 *   byte 0  auth, (byte % 8): 0 auto, 1 plain, 2 login, 3 cram-md5,
 *           4 apop, 5 user, 6 and 7 auto
 *   byte 1  bit 0: the account allows pipelining; bit 1: DELE each
 *           message fetched; bit 2: list in two steps, as a fetch does
 *           (pop3_list_uidls, then pop3_list_sizes if it left sizes out)
 * Printable seeds: "51" is USER/PASS with pipelining allowed.
 *
 * Checked: every failure is one of the kinds pop3.h names (never
 * YB_ERR_INTERNAL, YB_ERR_IO or YB_ERR_CONFIG) with a sanitized message;
 * the listing is sorted with unique message numbers and valid UIDLs; the
 * body bytes handed out never outnumber the bytes the server sent.
 *
 * The log: yubin logs at trace level (-vvv) during every session, to
 * syslog, and this file stands in for the C library's syslog(): each line
 * is formatted and checked instead of sent, so the trace code is fuzzed
 * too without flooding stderr.  A line must be printable ASCII (server
 * text sanitized) and hold neither the password nor its base64 forms
 * (DESIGN.md: secrets never appear in logs, -v included) unless the
 * server's own bytes held it, since server text is shown sanitized.
 * YUBIN_FUZZ_LOG=N in the environment sets another verbosity (-2: none).
 */
/* The stand-in for syslog() must not meet a fortified inline one. */
#undef _FORTIFY_SOURCE

#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "pop3.h"
#include "text.h"

/* Messages fetched per session, and the RETR window when pipelining. */
#define FETCH_MAX 8
#define WINDOW 4

#define SESSION_ERRORS                                                      \
	(FUZZ_STATUS(YB_ERR_AUTH) | FUZZ_STATUS(YB_ERR_TEMP) |              \
	 FUZZ_STATUS(YB_ERR_PROTOCOL) | FUZZ_STATUS(YB_ERR_UNAVAILABLE))

#define PASSWORD "fuzz-password"
#define USER "fuzz-user"

/* Trace lines: what a session must never log, and how many it logged. */
static const char *const secret_forms[] = {
	PASSWORD,
	"ZnV6ei1wYXNzd29yZA",               /* base64 of the password */
	"AGZ1enotdXNlcgBmdXp6LXBhc3N3b3Jk", /* base64 of the PLAIN blob */
};

#define SECRET_FORMS (sizeof(secret_forms) / sizeof(secret_forms[0]))

static unsigned long log_lines;
static int log_verbosity = LOG_LEVEL_TRACE;
/*
 * A form the server itself sent may be in the log as its text, raw or as
 * sanitized ("\xff" + "uzz-password" shows "fuzz-password").
 */
static bool secret_sent_by_server[SECRET_FORMS];

static void note_server_secrets(const uint8_t *data, size_t len)
{
	size_t shown_size = 4 * len + 1;
	char *shown = malloc(shown_size);
	if (!shown)
		fuzz_fail("out of memory");
	text_sanitize(shown, shown_size, (const char *)data, len);
	for (size_t i = 0; i < SECRET_FORMS; i++) {
		const char *form = secret_forms[i];
		secret_sent_by_server[i] =
			memmem(data, len, form, strlen(form)) != NULL ||
			strstr(shown, form) != NULL;
	}
	free(shown);
}

__attribute__((format(printf, 1, 0)))
static void check_log_line(const char *format, va_list ap)
{
	char line[8192];
	int len = vsnprintf(line, sizeof(line), format, ap);
	FUZZ_CHECK(len >= 0);
	size_t shown = (size_t)len < sizeof(line) ? (size_t)len
						  : sizeof(line) - 1;
	log_lines++;
	if (!fuzz_printable(line, shown))
		fuzz_fail("a log line is not sanitized: %.200s", line);
	for (size_t i = 0; i < SECRET_FORMS; i++)
		if (!secret_sent_by_server[i] && strstr(line, secret_forms[i]))
			fuzz_fail("the password reached the log: %.200s", line);
}

/* log.c, told to use syslog, lands here instead of the C library. */
void syslog(int priority, const char *format, ...)
{
	(void)priority;
	va_list ap;
	va_start(ap, format);
	check_log_line(format, ap);
	va_end(ap);
}

/* What a fortified log.c would call for syslog(). */
void __syslog_chk(int priority, int flag, const char *format, ...)
	__attribute__((format(printf, 3, 4)));
void __syslog_chk(int priority, int flag, const char *format, ...)
{
	(void)priority;
	(void)flag;
	va_list ap;
	va_start(ap, format);
	check_log_line(format, ap);
	va_end(ap);
}

static uint16_t listen_port; /* 0 until setup() ran */

static void setup(void)
{
	if (listen_port != 0)
		return;
	signal(SIGPIPE, SIG_IGN);
	const char *verbosity = getenv("YUBIN_FUZZ_LOG");
	if (verbosity)
		log_verbosity = (int)strtol(verbosity, NULL, 10);
	fuzz_syslog_socket();
	log_init(log_verbosity, true);
	if (log_enabled(LOG_LEVEL_ERROR)) {
		log_error("fuzz: checking that log lines come here");
		if (log_lines != 1)
			fuzz_fail("the syslog() stand-in is not called (a "
				  "fortified build?): the log is not checked");
	}
	listen_port = fuzz_server_listen();
}

/* --- the client side --- */

struct body_count {
	uint64_t bytes;
};

static int count_body(void *ctx, const char *data, size_t len,
		      struct yb_error *err)
{
	(void)err;
	struct body_count *count = ctx;
	FUZZ_CHECK(data != NULL || len == 0);
	count->bytes += len;
	return YB_OK;
}

static void check_listing(const struct pop3_msg *msgs, size_t count)
{
	FUZZ_CHECK(count == 0 || msgs != NULL);
	for (size_t i = 0; i < count; i++) {
		FUZZ_CHECK(msgs[i].msgno >= 1);
		FUZZ_CHECK(i == 0 || msgs[i - 1].msgno < msgs[i].msgno);
		const char *uidl = msgs[i].uidl;
		if (!uidl)
			continue;
		size_t len = strlen(uidl);
		FUZZ_CHECK(len >= 1 && len <= 70);
		for (size_t j = 0; j < len; j++)
			FUZZ_CHECK(uidl[j] >= 0x21 && uidl[j] <= 0x7e);
	}
}

/* RETR msgs[0..count) through a window; marks the ones received. */
static int fetch(struct pop3 *pop3, const struct pop3_msg *msgs, size_t count,
		 bool *got, struct body_count *body, struct yb_error *err)
{
	size_t window = pop3_pipelining(pop3) ? WINDOW : 1;
	size_t sent = 0, done = 0;
	while (done < count) {
		while (sent < count && sent - done < window) {
			int rc = pop3_send_retr(pop3, msgs[sent].msgno, err);
			if (rc != YB_OK)
				return rc;
			sent++;
		}
		bool refused = false;
		int rc = pop3_read_retr(pop3, msgs[done].size, count_body, body,
					&refused, err);
		if (rc != YB_OK)
			return rc;
		if (refused)
			fuzz_check_error("pop3_read_retr (refused)",
					 err->status, err, SESSION_ERRORS);
		got[done] = !refused;
		done++;
	}
	return YB_OK;
}

static int delete(struct pop3 *pop3, const struct pop3_msg *msgs,
		  size_t count, const bool *got, struct yb_error *err)
{
	for (size_t i = 0; i < count; i++) {
		if (!got[i])
			continue;
		int rc = pop3_send_dele(pop3, msgs[i].msgno, err);
		if (rc == YB_OK)
			rc = pop3_read_dele(pop3, err);
		if (rc != YB_OK)
			return rc;
	}
	return YB_OK;
}

/* The listing at once, or in the two steps a fetch takes. */
static int list(struct pop3 *pop3, bool two_steps, struct pop3_msg **msgs,
		size_t *count, struct yb_error *err)
{
	if (!two_steps)
		return pop3_list(pop3, msgs, count, err);
	bool sized = false;
	int rc = pop3_list_uidls(pop3, msgs, count, &sized, err);
	if (rc == YB_OK && !sized)
		rc = pop3_list_sizes(pop3, *msgs, *count, err);
	if (rc != YB_OK) {
		pop3_free_msgs(*msgs, *count);
		*msgs = NULL;
		*count = 0;
	}
	return rc;
}

/* After login: list, fetch, delete, quit; the first failure ends it. */
static int transact(struct pop3 *pop3, bool dele, bool two_steps,
		    struct body_count *body, struct yb_error *err)
{
	struct pop3_msg *msgs = NULL;
	size_t count = 0;
	int rc = list(pop3, two_steps, &msgs, &count, err);
	if (rc != YB_OK)
		return rc;
	check_listing(msgs, count);
	size_t wanted = count < FETCH_MAX ? count : FETCH_MAX;
	bool got[FETCH_MAX] = { false };
	rc = fetch(pop3, msgs, wanted, got, body, err);
	if (rc == YB_OK && dele)
		rc = delete(pop3, msgs, wanted, got, err);
	pop3_free_msgs(msgs, count);
	if (rc == YB_OK)
		rc = pop3_quit(pop3, err);
	return rc;
}

static const enum auth_mech auth_by_byte[8] = {
	AUTH_AUTO, AUTH_PLAIN, AUTH_LOGIN, AUTH_CRAM_MD5,
	AUTH_APOP, AUTH_USER, AUTH_AUTO, AUTH_AUTO,
};

static void run_session(uint8_t auth, uint8_t flags, size_t server_len)
{
	char *folders[] = { "INBOX" };
	struct account account = {
		.name = "fuzz",
		.protocol = PROTOCOL_POP3,
		.host = "127.0.0.1",
		.port = listen_port,
		.tls = TLS_NONE,
		.tls_verify = true,
		.allow_plaintext = true,
		.user = USER,
		.auth = auth_by_byte[auth % 8],
		.password_source = PASSWORD_VALUE,
		.password = PASSWORD,
		.folders = folders,
		.folder_count = 1,
		.keep = (flags & 2) == 0,
		.deliver = DELIVER_MDA,
		.deliver_target = "cat >/dev/null",
		.state_dir = "/nonexistent",
		.timeout = 2,
		.pipelining = (flags & 1) != 0,
	};
	struct pop3 *pop3 = NULL;
	struct yb_error err;
	struct body_count body = { 0 };
	int rc = pop3_connect(&account, account.password, &pop3, &err);
	if (rc == YB_OK) {
		FUZZ_CHECK(pop3 != NULL);
		rc = transact(pop3, (flags & 2) != 0, (flags & 4) != 0, &body,
			      &err);
	} else {
		FUZZ_CHECK(pop3 == NULL);
	}
	fuzz_check_error("pop3 session", rc, &err, SESSION_ERRORS);
	pop3_close(pop3);
	if (body.bytes > server_len)
		fuzz_fail("%llu body bytes out of %zu bytes sent",
			  (unsigned long long)body.bytes, server_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	struct fuzz_input in = { data, size };
	uint8_t auth = fuzz_take_byte(&in);
	uint8_t flags = fuzz_take_byte(&in);
	note_server_secrets(in.data, in.len);
	struct fuzz_server_job job = { in.data, in.len };
	pthread_t server;
	if (pthread_create(&server, NULL, fuzz_server_serve, &job) != 0)
		fuzz_fail("cannot start the server thread");
	run_session(auth, flags, in.len);
	pthread_join(server, NULL);
	return 0;
}
