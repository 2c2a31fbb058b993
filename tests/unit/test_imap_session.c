/*
 * test_imap_session.c - the IMAP session against a scripted fake server.
 *
 * Each test forks a server that listens on 127.0.0.1 on a port the
 * kernel picks, accepts one connection and plays a script: lines to
 * send, lines the client must send (compared byte for byte), a TLS
 * handshake for STARTTLS, and "nothing more may come" before the client
 * hangs up.  A server that sees anything else exits with a mismatch code
 * and says what it got on stderr, so a test also fails when the client
 * sends something it should not (a password after a refusal, say).
 *
 * The certificates for the TLS cases (a test CA and a server certificate
 * for 127.0.0.1) are made with the OpenSSL API when the group starts.
 * Servers kill themselves with alarm() and every test's teardown reaps
 * them, so no test can hang or leave a child behind.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "flag_store.h"
#include "imap.h"
#include "imap_idle.h"
#include "sasl.h"
#include "log.h"
#include "assert_error.h"
#include "scripted_server.h"
#include "testcert.h"

#define CLIENT_TIMEOUT 20   /* generous: valgrind is slow */
#define BIG_BODY_LEN ((size_t)5 * 1024 * 1024)
#define SMALL_BODY_LEN ((size_t)300)
#define LINE_MAX_TEST 4096

/* ---- certificates, made once for the group ---- */

struct cert_kit {
	EVP_PKEY *ca_key;
	X509 *ca;
	EVP_PKEY *key;
	X509 *server;  /* 127.0.0.1 and localhost, signed by ca */
	char dir[64];
	char ca_path[128];
};

static struct cert_kit kit;

static int group_setup(void **state)
{
	(void)state;
	snprintf(kit.dir, sizeof(kit.dir), "/tmp/test_imap_session.XXXXXX");
	if (!mkdtemp(kit.dir) ||
	    !testcert_path(kit.ca_path, sizeof(kit.ca_path), kit.dir, "ca.pem"))
		return -1;
	kit.ca_key = testcert_new_key();
	kit.key = testcert_new_key();
	if (!kit.ca_key || !kit.key)
		return -1;
	struct testcert_spec server = {
		.cn = "localhost", .san = "DNS:localhost,IP:127.0.0.1",
		.from_days = -1, .until_days = 30, .serial = 2,
	};
	kit.ca = testcert_make_ca(kit.ca_key);
	if (!kit.ca)
		return -1;
	kit.server = testcert_make(&server, kit.key, kit.ca, kit.ca_key);
	if (!kit.server || !testcert_write_pem(kit.ca_path, kit.ca))
		return -1;
	/* Tests that look at the trace turn it on themselves. */
	log_init(LOG_LEVEL_WARN, false);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(kit.ca_path);
	rmdir(kit.dir);
	X509_free(kit.ca);
	X509_free(kit.server);
	EVP_PKEY_free(kit.ca_key);
	EVP_PKEY_free(kit.key);
	return 0;
}

/* ---- the server side (runs in a child) ---- */

enum op {
	OP_END,        /* script done: exit (closing the connection) */
	OP_SEND,       /* send text and CRLF */
	OP_RAW,        /* send text as it is */
	OP_EXPECT,     /* the client must send this line (without CRLF) */
	OP_EXPECT_EOF, /* the client must send nothing more and hang up */
	OP_TLS,        /* TLS handshake as the server (STARTTLS) */
	OP_CALL,       /* run fn */
};

struct sstep {
	enum op op;
	const char *text;
	size_t len;
	int (*fn)(struct peer *peer);
};

#define S(t) { OP_SEND, (t), sizeof(t) - 1, NULL }
#define RAW(t) { OP_RAW, (t), sizeof(t) - 1, NULL }
#define C(t) { OP_EXPECT, (t), sizeof(t) - 1, NULL }
#define EXPECT_EOF { OP_EXPECT_EOF, NULL, 0, NULL }
#define TLS_HANDSHAKE { OP_TLS, NULL, 0, NULL }
#define CALL(f) { OP_CALL, NULL, 0, (f) }
#define END { OP_END, NULL, 0, NULL }

static int peer_expect(struct peer *peer, const struct sstep *step)
{
	char line[LINE_MAX_TEST];
	size_t len = 0;
	if (!peer_read_line(peer, line, sizeof(line), &len)) {
		fprintf(stderr, "server: wanted \"%s\", got EOF\n", step->text);
		return SERVER_MISMATCH;
	}
	if (len != step->len || memcmp(line, step->text, len) != 0) {
		fprintf(stderr, "server: wanted \"%s\", got \"%s\"\n",
			step->text, line);
		return SERVER_MISMATCH;
	}
	return SERVER_OK;
}

static int peer_expect_eof(struct peer *peer)
{
	char buf[512];
	ssize_t n = peer_recv(peer, buf, sizeof(buf) - 1);
	if (n <= 0)
		return SERVER_OK;
	buf[n] = '\0';
	fprintf(stderr, "server: wanted EOF, got \"%s\"\n", buf);
	return SERVER_MISMATCH;
}

static bool accept_tls(struct peer *peer)
{
	SSL_CTX *ctx = server_tls_ctx(kit.server, kit.key);
	return ctx && peer_accept_tls(peer, ctx);
}

static int run_step(struct peer *peer, const struct sstep *step)
{
	switch (step->op) {
	case OP_SEND:
		return peer_send(peer, step->text, step->len) &&
		       peer_send(peer, "\r\n", 2) ? SERVER_OK : SERVER_IO;
	case OP_RAW:
		return peer_send(peer, step->text, step->len) ? SERVER_OK
							      : SERVER_IO;
	case OP_EXPECT:
		return peer_expect(peer, step);
	case OP_EXPECT_EOF:
		return peer_expect_eof(peer);
	case OP_TLS:
		return accept_tls(peer) ? SERVER_OK : SERVER_TLS;
	case OP_CALL:
		return step->fn(peer);
	case OP_END:
		break;
	}
	return SERVER_OK;
}

static int run_script(struct peer *peer, const struct sstep *script)
{
	for (const struct sstep *step = script; step->op != OP_END; step++) {
		int rc = run_step(peer, step);
		if (rc != SERVER_OK)
			return rc;
	}
	return SERVER_OK;
}

/* What the child plays: the script, after a TLS handshake when implicit. */
struct server_play {
	const struct sstep *script;
	bool implicit_tls;
};

static int serve_play(struct peer *peer, const void *arg)
{
	const struct server_play *play = arg;
	if (play->implicit_tls && !accept_tls(peer))
		return SERVER_TLS;
	return run_script(peer, play->script);
}

/* Fork a server playing script; returns its port. */
static uint16_t server_start_tls(const struct sstep *script, bool implicit_tls)
{
	struct server_play play = { .script = script,
				    .implicit_tls = implicit_tls };
	return server_fork(listen_socket(AF_INET, "127.0.0.1", 0), serve_play,
			   &play);
}

static uint16_t server_start(const struct sstep *script)
{
	return server_start_tls(script, false);
}

/* ---- the client side ---- */

static char account_name[] = "test";
static char account_host[] = "127.0.0.1";
static char account_user[64];
static struct account account;
static struct imap *session;

static void use_account(uint16_t port, enum tls_mode tls)
{
	memset(&account, 0, sizeof(account));
	snprintf(account_user, sizeof(account_user), "alice");
	account.name = account_name;
	account.protocol = PROTOCOL_IMAP;
	account.host = account_host;
	account.port = port;
	account.tls = tls;
	account.tls_verify = true;
	account.tls_ca_file = kit.ca_path;
	account.allow_plaintext = tls == TLS_NONE;
	account.user = account_user;
	account.auth = AUTH_AUTO;
	account.keep = true;
	account.timeout = CLIENT_TIMEOUT;
	account.pipelining = true;
}

static void close_session(void)
{
	imap_close(session);
	session = NULL;
}

static int test_setup(void **state)
{
	(void)state;
	session = NULL;
	server_pid = 0;
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	close_session();
	server_reap();
	log_init(LOG_LEVEL_WARN, false);
	return 0;
}

/* Connect over plain TCP to a server playing script, as alice. */
static int connect_with(const struct sstep *script, const char *password,
			struct yb_error *err)
{
	use_account(server_start(script), TLS_NONE);
	yb_error_clear(err);
	return imap_connect(&account, password, &session, err);
}

/* The client hangs up; the server must have played its whole script. */
static void finish(void)
{
	close_session();
	assert_int_equal(server_join(), SERVER_OK);
}

/* Connect to a PREAUTH server with these capabilities (a literal). */
#define PREAUTH(capa) S("* PREAUTH [CAPABILITY IMAP4rev1 " capa "] hi")

static void connect_ok(const struct sstep *script)
{
	struct yb_error err;
	assert_ok(connect_with(script, "secret", &err), &err);
	assert_non_null(session);
}

/* ---- a recording handler ---- */

struct recorder {
	size_t untagged;        /* responses seen */
	char names[8][32];      /* their names, the first 8 */
	bool want;              /* answer to want_stream */
	uint64_t stream_size;   /* as want_stream was told */
	size_t stream_bytes;    /* bytes through stream_data */
	size_t stream_calls;
	size_t stream_ends;
	bool stream_mismatch;   /* a byte differed from the pattern */
	int fail_stream;        /* stream_data returns this */
	int fail_untagged;      /* untagged returns this */
	/* The last FETCH's list, summarized. */
	uint64_t fetch_uid;
	uint64_t fetch_streamed;
	bool fetch_seen_flag;
	char literal[64];       /* a buffered literal's content */
};

/* A byte of a reproducible pseudo-random stream, by position. */
static unsigned char body_byte(size_t pos)
{
	uint32_t x = (uint32_t)pos * 2654435761u;
	x ^= x >> 15;
	x *= 2246822519u;
	x ^= x >> 13;
	return (unsigned char)(x >> 24 ^ pos);
}

static void summarize_fetch(struct recorder *rec,
			    const struct imap_response *resp)
{
	if (resp->value_count != 1 || resp->values[0].type != IMAP_VALUE_LIST)
		return;
	const struct imap_value *list = &resp->values[0];
	for (size_t i = 0; i + 1 < list->count; i += 2) {
		const struct imap_value *value = &list->items[i + 1];
		if (imap_value_is_atom(&list->items[i], "UID"))
			rec->fetch_uid = value->number;
		if (imap_value_is_atom(&list->items[i], "BODY[]") &&
		    value->type == IMAP_VALUE_STREAMED)
			rec->fetch_streamed = value->number;
		if (imap_value_is_atom(&list->items[i], "BODY[]") &&
		    value->type == IMAP_VALUE_LITERAL &&
		    value->len < sizeof(rec->literal))
			memcpy(rec->literal, value->str, value->len + 1);
		if (imap_value_is_atom(&list->items[i], "FLAGS") &&
		    value->type == IMAP_VALUE_LIST && value->count == 1 &&
		    imap_value_is_atom(&value->items[0], "\\Seen"))
			rec->fetch_seen_flag = true;
	}
}

static int rec_untagged(void *ctx, const struct imap_response *resp,
			struct yb_error *err)
{
	struct recorder *rec = ctx;
	if (rec->untagged < 8 && resp->name)
		snprintf(rec->names[rec->untagged], sizeof(rec->names[0]),
			 "%.*s", (int)resp->name_len, resp->name);
	rec->untagged++;
	if (imap_response_is(resp, "FETCH"))
		summarize_fetch(rec, resp);
	if (rec->fail_untagged != YB_OK)
		return yb_fail(err, rec->fail_untagged, "handler says no");
	return YB_OK;
}

static bool rec_want_stream(void *ctx, const struct imap_response *partial,
			    uint64_t size)
{
	struct recorder *rec = ctx;
	/* The hook sees "* N FETCH (... BODY[]" so far. */
	if (!imap_response_is(partial, "FETCH") || partial->value_count != 1)
		return false;
	const struct imap_value *list = &partial->values[0];
	if (list->type != IMAP_VALUE_LIST || list->count == 0 ||
	    !imap_value_is_atom(&list->items[list->count - 1], "BODY[]"))
		return false;
	rec->stream_size = size;
	return rec->want;
}

static int rec_stream_data(void *ctx, const char *data, size_t len,
			   struct yb_error *err)
{
	struct recorder *rec = ctx;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)data[i] != body_byte(rec->stream_bytes + i))
			rec->stream_mismatch = true;
	rec->stream_bytes += len;
	rec->stream_calls++;
	if (rec->fail_stream != YB_OK)
		return yb_fail(err, rec->fail_stream, "disk full (test)");
	return YB_OK;
}

static int rec_stream_end(void *ctx, struct yb_error *err)
{
	(void)err;
	struct recorder *rec = ctx;
	rec->stream_ends++;
	return YB_OK;
}

static struct imap_handler handler_for(struct recorder *rec)
{
	struct imap_handler handler = {
		.untagged = rec_untagged,
		.want_stream = rec_want_stream,
		.stream_data = rec_stream_data,
		.stream_end = rec_stream_end,
		.ctx = rec,
	};
	return handler;
}

/* ---- greetings ---- */

static void test_greeting_capability_code(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready"),
		C("y1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="),
		S("y1 OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] Logged in"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	uint64_t capa = imap_capabilities(session);
	assert_true(capa & IMAP_CAPA_IDLE);
	assert_true(capa & IMAP_CAPA_UIDPLUS);
	assert_false(capa & IMAP_CAPA_AUTH_PLAIN);
	assert_false(imap_qresync_enabled(session));
	assert_false(imap_condstore_enabled(session));
	assert_string_equal(imap_host(session), "127.0.0.1");
	finish();
}

static void test_greeting_without_code_asks(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK ready"),
		C("y1 CAPABILITY"),
		S("* CAPABILITY IMAP4rev1 AUTH=PLAIN"),
		S("y1 OK done"),
		C("y2 AUTHENTICATE PLAIN"),
		S("+ "),
		C("AGFsaWNlAHNlY3JldA=="),
		S("y2 OK Logged in"),
		C("y3 CAPABILITY"),
		S("* CAPABILITY IMAP4rev1 UIDPLUS"),
		S("y3 OK done"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	assert_true(imap_capabilities(session) & IMAP_CAPA_UIDPLUS);
	assert_false(imap_capabilities(session) & IMAP_CAPA_AUTH_PLAIN);
	finish();
}

static void test_greeting_preauth(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("MOVE"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_ok(connect_with(script, NULL, &err), &err);
	assert_true(imap_capabilities(session) & IMAP_CAPA_MOVE);
	finish();
}

/*
 * Flag pushes (flag_store.h): two groups, both sent before any answer
 * (the script reads both commands first), each conditional on the
 * folder's HIGHESTMODSEQ; [MODIFIED 5] refuses UID 5 alone, and the
 * MODSEQ a FETCH gives is noted.
 */
static void test_flag_store_grouped(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("CONDSTORE UIDPLUS"),
		C("y1 UID STORE 3,5 (UNCHANGEDSINCE 40) +FLAGS.SILENT (\\Seen)"),
		C("y2 UID STORE 4 (UNCHANGEDSINCE 40) -FLAGS.SILENT (\\Flagged)"),
		S("* 1 FETCH (UID 3 MODSEQ (41))"),
		S("y1 OK [MODIFIED 5] Conditional STORE failed"),
		S("* 2 FETCH (UID 4 MODSEQ (42))"),
		S("y2 OK done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_ok(connect_with(script, NULL, &err), &err);
	struct imap_handler handler;
	memset(&handler, 0, sizeof(handler));
	struct flag_store_target target = { .imap = session, .handler = &handler,
					    .shown = "INBOX", .condstore = true };
	struct flag_store_op ops[] = {
		{ .uid = 5, .sign = '+', .flags = SINK_FLAG_SEEN, .tag = 0 },
		{ .uid = 4, .sign = '-', .flags = SINK_FLAG_FLAGGED, .tag = 1 },
		{ .uid = 3, .sign = '+', .flags = SINK_FLAG_SEEN, .tag = 2 },
	};
	struct yb_error refusal = { 0 };
	assert_ok(flag_store_send(&target, ops, 3, true, 40, &refusal, &err), &err);
	assert_int_equal(refusal.status, YB_OK);
	/* Sorted by UID now. */
	assert_int_equal(ops[0].uid, 3);
	assert_false(ops[0].refused);
	assert_int_equal(ops[0].modseq, 41);
	assert_int_equal(ops[1].uid, 4);
	assert_false(ops[1].refused);
	assert_int_equal(ops[1].modseq, 42);
	assert_int_equal(ops[2].uid, 5);
	assert_true(ops[2].refused);
	assert_int_equal(ops[2].tag, 0);
	finish();
}

/* A [MODIFIED] whose set cannot be read refuses the whole command; a
   lone op is conditional on its own MODSEQ. */
static void test_flag_store_lone_modified_unreadable(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("CONDSTORE"),
		C("y1 UID STORE 7 (UNCHANGEDSINCE 99) +FLAGS.SILENT (\\Deleted)"),
		C("y2 UID STORE 8 +FLAGS.SILENT (\\Draft)"),
		S("y1 OK [MODIFIED (nonsense)] no"),
		S("y2 OK done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_ok(connect_with(script, NULL, &err), &err);
	struct imap_handler handler;
	memset(&handler, 0, sizeof(handler));
	struct flag_store_target target = { .imap = session, .handler = &handler,
					    .shown = "INBOX", .condstore = true };
	struct flag_store_op ops[] = {
		{ .uid = 7, .sign = '+', .flags = SINK_FLAG_DELETED, .modseq = 99 },
		{ .uid = 8, .sign = '+', .flags = SINK_FLAG_DRAFT },
	};
	struct yb_error refusal = { 0 };
	assert_ok(flag_store_send(&target, ops, 2, false, 0, &refusal, &err), &err);
	assert_int_equal(refusal.status, YB_OK);
	assert_true(ops[0].refused);
	assert_false(ops[1].refused);
	finish();
}

/* A NO refuses its whole command and is noted, and the answers after it
   are still read: what they did is known. */
static void test_flag_store_no_read_on(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("CONDSTORE"),
		C("y1 UID STORE 2:3 (UNCHANGEDSINCE 50) +FLAGS.SILENT (\\Seen)"),
		C("y2 UID STORE 9 (UNCHANGEDSINCE 50) -FLAGS.SILENT (\\Flagged)"),
		S("y1 NO [CANNOT] not now"),
		S("y2 OK done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_ok(connect_with(script, NULL, &err), &err);
	struct imap_handler handler;
	memset(&handler, 0, sizeof(handler));
	struct flag_store_target target = { .imap = session, .handler = &handler,
					    .shown = "INBOX", .condstore = true };
	struct flag_store_op ops[] = {
		{ .uid = 9, .sign = '-', .flags = SINK_FLAG_FLAGGED },
		{ .uid = 3, .sign = '+', .flags = SINK_FLAG_SEEN },
		{ .uid = 2, .sign = '+', .flags = SINK_FLAG_SEEN },
	};
	struct yb_error refusal = { 0 };
	assert_ok(flag_store_send(&target, ops, 3, true, 50, &refusal, &err), &err);
	assert_int_equal(refusal.status, YB_ERR_PROTOCOL);
	assert_non_null(strstr(refusal.msg, "folder INBOX"));
	assert_true(ops[0].refused);  /* UID 2 */
	assert_true(ops[1].refused);  /* UID 3 */
	assert_false(ops[2].refused); /* UID 9 */
	finish();
}

static void test_greeting_preauth_asks_capability(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* PREAUTH hello"),
		C("y1 CAPABILITY"),
		S("* CAPABILITY IMAP4rev1 NAMESPACE"),
		S("y1 OK done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_ok(connect_with(script, NULL, &err), &err);
	assert_true(imap_capabilities(session) & IMAP_CAPA_NAMESPACE);
	finish();
}

static void test_greeting_bye(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* BYE [UNAVAILABLE] too busy, try later"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(connect_with(script, "secret", &err), &err,
		     YB_ERR_UNAVAILABLE, "refused the connection: too busy");
	assert_null(session);
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_greeting_not_a_greeting(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* 3 EXISTS"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(connect_with(script, "secret", &err), &err,
		     YB_ERR_PROTOCOL, "not an IMAP greeting");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_greeting_garbage_is_parse_error(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		RAW("* OK hello\0world\r\n"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	int rc = connect_with(script, "secret", &err);
	/* The parser's message, with the peer in front. */
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "127.0.0.1:%u: ",
		 (unsigned)account.port);
	assert_fails(rc, &err, YB_ERR_PROTOCOL, prefix);
	assert_int_equal(server_join(), SERVER_OK);
}

/* ---- LOGIN ---- */

static void test_login_quotes_specials(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1] hi"),
		C("y1 LOGIN \"alice\" \"se\\\"cr\\\\et\""),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_ok(connect_with(script, "se\"cr\\et", &err), &err);
	finish();
}

static void test_login_literal_waits_for_continuation(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1] hi"),
		C("y1 LOGIN \"alice\" {5}"),
		S("+ go ahead"),
		C("p\xc3\xa4ss"),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_ok(connect_with(script, "p\xc3\xa4ss", &err), &err);
	finish();
}

static void test_login_literal_plus_does_not_wait(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 LITERAL+] hi"),
		C("y1 LOGIN \"alice\" {5+}"),
		C("p\xc3\xa4ss"),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_ok(connect_with(script, "p\xc3\xa4ss", &err), &err);
	finish();
}

static void test_login_literal_minus_small_does_not_wait(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 LITERAL-] hi"),
		C("y1 LOGIN \"alice\" {5+}"),
		C("p\xc3\xa4ss"),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_ok(connect_with(script, "p\xc3\xa4ss", &err), &err);
	finish();
}

static void test_login_user_as_literal(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1] hi"),
		C("y1 LOGIN {5}"),
		S("+ ok"),
		C("j\xc3\xb6rg \"secret\""),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	snprintf(account_user, sizeof(account_user), "j\xc3\xb6rg");
	assert_ok(imap_connect(&account, "secret", &session, &err), &err);
	finish();
}

static void test_login_literal_refused_sends_nothing_more(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1] hi"),
		C("y1 LOGIN \"alice\" {5}"),
		S("y1 NO [AUTHENTICATIONFAILED] no 8-bit passwords here"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(connect_with(script, "p\xc3\xa4ss", &err), &err,
		     YB_ERR_AUTH, "no 8-bit passwords here");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_login_no_is_auth_error(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1] hi"),
		C("y1 LOGIN \"alice\" \"wrong\""),
		S("y1 NO [AUTHENTICATIONFAILED] Authentication failed."),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(connect_with(script, "wrong", &err), &err, YB_ERR_AUTH,
		     "login as alice refused: [AUTHENTICATIONFAILED] Authentication failed.");
	assert_null(session);
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_login_no_unavailable_is_temporary(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1] hi"),
		C("y1 LOGIN \"alice\" \"secret\""),
		S("y1 NO [UNAVAILABLE] Backend down"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(connect_with(script, "secret", &err), &err, YB_ERR_TEMP,
		     "Backend down");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_login_bad_is_protocol_error(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1] hi"),
		C("y1 LOGIN \"alice\" \"secret\""),
		S("y1 BAD Syntax error"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(connect_with(script, "secret", &err), &err,
		     YB_ERR_PROTOCOL, "Syntax error");
	assert_int_equal(server_join(), SERVER_OK);
}

/* ---- AUTHENTICATE ---- */

static void test_auth_sasl_login_when_login_disabled(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=LOGIN] hi"),
		C("y1 AUTHENTICATE LOGIN"),
		S("+ VXNlcm5hbWU6"),
		C("YWxpY2U="),
		S("+ UGFzc3dvcmQ6"),
		C("c2VjcmV0"),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	finish();
}

static void test_auth_sasl_login_extra_challenge_cancelled(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=LOGIN] hi"),
		C("y1 AUTHENTICATE LOGIN"),
		S("+ VXNlcm5hbWU6"),
		C("YWxpY2U="),
		S("+ UGFzc3dvcmQ6"),
		C("c2VjcmV0"),
		S("+ T25lIG1vcmU6"),
		C("*"),
		S("y1 BAD AUTHENTICATE cancelled"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(connect_with(script, "secret", &err), &err,
		     YB_ERR_PROTOCOL, "asked for more than the mechanism has");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_auth_plain_with_sasl_ir_extra_challenge(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] hi"),
		C("y1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="),
		S("+ "),
		C("*"),
		S("y1 BAD cancelled"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(connect_with(script, "secret", &err), &err,
		     YB_ERR_PROTOCOL, "AUTHENTICATE PLAIN");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_auth_cram_md5_preferred_without_tls(void **state)
{
	(void)state;
	/* RFC 2195's example exchange. */
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=CRAM-MD5] hi"),
		C("y1 AUTHENTICATE CRAM-MD5"),
		S("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"),
		C("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	snprintf(account_user, sizeof(account_user), "tim");
	assert_ok(imap_connect(&account, "tanstaaftanstaaf", &session, &err),
		  &err);
	finish();
}

static void test_auth_cram_md5_bad_challenge_cancelled(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=CRAM-MD5] hi"),
		C("y1 AUTHENTICATE CRAM-MD5"),
		S("+ !!not base64!!"),
		C("*"),
		S("y1 BAD cancelled"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	account.auth = AUTH_CRAM_MD5;
	assert_fails(imap_connect(&account, "secret", &session, &err), &err,
		     YB_ERR_PROTOCOL, "not base64");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_explicit_plain_without_capability(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1] hi"),
		C("y1 AUTHENTICATE PLAIN"),
		S("+"),
		C("AGFsaWNlAHNlY3JldA=="),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	account.auth = AUTH_PLAIN;
	assert_ok(imap_connect(&account, "secret", &session, &err), &err);
	finish();
}

static void test_plaintext_password_refused(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	account.allow_plaintext = false;
	assert_fails(imap_connect(&account, "secret", &session, &err), &err,
		     YB_ERR_CONFIG, "refusing to send a password without TLS");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_xoauth2_with_sasl_ir(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi"),
		C("y1 AUTHENTICATE XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sxMjMBAQ=="),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	account.auth = AUTH_XOAUTH2;
	account.has_oauth2 = true;
	assert_ok(imap_connect(&account, "tok123", &session, &err), &err);
	finish();
}

/* A refused token: the JSON challenge is answered empty, then the NO. */
static void test_xoauth2_refused_token_is_auth_error(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] hi"),
		C("y1 AUTHENTICATE XOAUTH2"),
		S("+ "),
		C("dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sxMjMBAQ=="),
		S("+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ=="),
		C(""),
		S("y1 NO [AUTHENTICATIONFAILED] Invalid credentials"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	account.has_oauth2 = true; /* auth: auto picks XOAUTH2 */
	assert_fails(imap_connect(&account, "tok123", &session, &err), &err,
		     YB_ERR_AUTH, "Invalid credentials (the server says: "
		     "{\"status\":\"401\"");
	assert_int_equal(server_join(), SERVER_OK);
}

/* The RFC 7628 client response, with the port this test listens on. */
static int expect_oauthbearer(struct peer *peer)
{
	char line[1024];
	size_t len = 0;
	if (!peer_read_line(peer, line, sizeof(line), &len))
		return SERVER_IO;
	const char prefix[] = "y1 AUTHENTICATE OAUTHBEARER ";
	if (len < sizeof(prefix) - 1 || memcmp(line, prefix, sizeof(prefix) - 1))
		return SERVER_MISMATCH;
	size_t decoded_len = 0;
	unsigned char *decoded = sasl_base64_decode(
		line + sizeof(prefix) - 1, len - (sizeof(prefix) - 1),
		&decoded_len);
	if (!decoded)
		return SERVER_MISMATCH;
	/* The script runs in the server's child, forked before the account
	   knew its port: the socket knows it. */
	struct sockaddr_in local;
	socklen_t local_len = sizeof(local);
	if (getsockname(peer->fd, (struct sockaddr *)&local, &local_len) != 0)
		return SERVER_IO;
	char expected[200];
	snprintf(expected, sizeof(expected), "n,a=alice,\001host=127.0.0.1"
		 "\001port=%u\001auth=Bearer tok123\001\001",
		 (unsigned)ntohs(local.sin_port));
	bool same = decoded_len == strlen(expected) &&
		    memcmp(decoded, expected, decoded_len) == 0;
	free(decoded);
	return same ? SERVER_OK : SERVER_MISMATCH;
}

static void test_oauthbearer_preferred_by_auto(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER AUTH=PLAIN] hi"),
		CALL(expect_oauthbearer),
		S("+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0="),
		C("AQ=="),
		S("y1 NO token expired"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	account.has_oauth2 = true;
	assert_fails(imap_connect(&account, "tok123", &session, &err), &err,
		     YB_ERR_AUTH, "token expired (the server says: "
		     "{\"status\":\"invalid_token\"}");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_oauth_without_mechanism_refused(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	account.has_oauth2 = true;
	assert_fails(imap_connect(&account, "tok123", &session, &err), &err,
		     YB_ERR_AUTH, "neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_oauth_token_with_line_break_never_sent(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] hi"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	account.auth = AUTH_XOAUTH2;
	account.has_oauth2 = true;
	assert_fails(imap_connect(&account, "tok\r\nA1 DELETE INBOX", &session,
				  &err), &err, YB_ERR_AUTH, "not a bearer token");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_external_empty_initial_response(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=EXTERNAL] hi"),
		C("y1 AUTHENTICATE EXTERNAL ="),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	account.auth = AUTH_EXTERNAL;
	assert_ok(imap_connect(&account, NULL, &session, &err), &err);
	finish();
}

static void test_external_without_sasl_ir(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=EXTERNAL] hi"),
		C("y1 AUTHENTICATE EXTERNAL"),
		S("+ "),
		C(""),
		S("y1 NO [AUTHENTICATIONFAILED] no certificate"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	use_account(server_start(script), TLS_NONE);
	account.auth = AUTH_EXTERNAL;
	assert_fails(imap_connect(&account, NULL, &session, &err), &err,
		     YB_ERR_AUTH, "no certificate");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_no_usable_login_method(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=GSSAPI] hi"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(connect_with(script, "secret", &err), &err, YB_ERR_AUTH,
		     "offers no login method");
	assert_int_equal(server_join(), SERVER_OK);
}

/* ---- STARTTLS ---- */

static int starttls_connect(const struct sstep *script, struct yb_error *err)
{
	use_account(server_start(script), TLS_STARTTLS);
	yb_error_clear(err);
	return imap_connect(&account, "secret", &session, err);
}

static void test_starttls_upgrades_and_rereads_capabilities(void **state)
{
	(void)state;
	/* Before TLS the server claims SASL-IR; after, it does not: the
	   client must go by the second list only. */
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR] hi"),
		C("y1 STARTTLS"),
		S("y1 OK Begin TLS negotiation now"),
		TLS_HANDSHAKE,
		C("y2 CAPABILITY"),
		S("* CAPABILITY IMAP4rev1 AUTH=PLAIN"),
		S("y2 OK done"),
		C("y3 AUTHENTICATE PLAIN"),
		S("+ "),
		C("AGFsaWNlAHNlY3JldA=="),
		S("y3 OK [CAPABILITY IMAP4rev1 IDLE] Logged in"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_ok(starttls_connect(script, &err), &err);
	assert_true(imap_capabilities(session) & IMAP_CAPA_IDLE);
	assert_false(imap_capabilities(session) & IMAP_CAPA_STARTTLS);
	finish();
}

static void test_starttls_not_offered_fails_closed(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(starttls_connect(script, &err), &err, YB_ERR_PROTOCOL,
		     "does not offer STARTTLS; refusing to continue without "
		     "TLS (tls: starttls)");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_starttls_not_offered_after_asking(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK hi"),
		C("y1 CAPABILITY"),
		S("* CAPABILITY IMAP4rev1 AUTH=PLAIN"),
		S("y1 OK done"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(starttls_connect(script, &err), &err, YB_ERR_PROTOCOL,
		     "does not offer STARTTLS");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_starttls_refused_fails_closed(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi"),
		C("y1 STARTTLS"),
		S("y1 NO not today"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(starttls_connect(script, &err), &err, YB_ERR_PROTOCOL,
		     "refused STARTTLS: not today");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_starttls_preauth_refused(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] welcome"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(starttls_connect(script, &err), &err, YB_ERR_PROTOCOL,
		     "refusing PREAUTH without TLS (tls: starttls)");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_starttls_injection_refused(void **state)
{
	(void)state;
	/* One write: the forged response arrives with the go-ahead. */
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi"),
		C("y1 STARTTLS"),
		RAW("y1 OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"),
		EXPECT_EOF, END,
	};
	struct yb_error err;
	assert_fails(starttls_connect(script, &err), &err, YB_ERR_PROTOCOL,
		     "STARTTLS injection");
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_implicit_tls_preauth_accepted(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		EXPECT_EOF, END,
	};
	use_account(server_start_tls(script, true), TLS_IMPLICIT);
	struct yb_error err;
	assert_ok(imap_connect(&account, NULL, &session, &err), &err);
	assert_true(imap_capabilities(session) & IMAP_CAPA_IDLE);
	finish();
}

/* ---- the trace ---- */

/* Run connect with the trace on and stderr in a file; returns the text. */
static char *traced_connect(const struct sstep *script, const char *password,
			    int *rc, struct yb_error *err)
{
	char path[] = "/tmp/test_imap_trace.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	use_account(server_start(script), TLS_NONE);
	dup2(fd, STDERR_FILENO);
	log_init(LOG_LEVEL_TRACE, false);
	*rc = imap_connect(&account, password, &session, err);
	log_init(LOG_LEVEL_WARN, false);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	static char text[16384];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	assert_true(n >= 0);
	text[n] = '\0';
	return text;
}

static void test_trace_redacts_login(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1] hi"),
		C("y1 LOGIN \"alice\" \"Trace-Secret\""),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	int rc;
	struct yb_error err;
	char *text = traced_connect(script, "Trace-Secret", &rc, &err);
	assert_ok(rc, &err);
	assert_non_null(strstr(text, "C: y1 LOGIN <redacted>"));
	assert_non_null(strstr(text, "S: y1 OK [CAPABILITY IMAP4rev1] done"));
	assert_null(strstr(text, "Trace-Secret"));
	finish();
}

static void test_trace_redacts_authenticate(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		S("* OK [CAPABILITY IMAP4rev1 AUTH=LOGIN LOGINDISABLED] hi"),
		C("y1 AUTHENTICATE LOGIN"),
		S("+ VXNlcm5hbWU6"),
		C("YWxpY2U="),
		S("+ UGFzc3dvcmQ6"),
		C("VHJhY2UtU2VjcmV0"),
		S("y1 OK [CAPABILITY IMAP4rev1] done"),
		EXPECT_EOF, END,
	};
	int rc;
	struct yb_error err;
	char *text = traced_connect(script, "Trace-Secret", &rc, &err);
	assert_ok(rc, &err);
	assert_non_null(strstr(text, "C: y1 AUTHENTICATE LOGIN"));
	assert_non_null(strstr(text, "C: <redacted>"));
	assert_null(strstr(text, "VHJhY2UtU2VjcmV0"));
	assert_null(strstr(text, "Trace-Secret"));
	finish();
}

/* ---- pipelining, tags, BYE ---- */

static void test_pipelined_commands_answered_in_order(void **state)
{
	(void)state;
	/* The server reads all three before answering: they were sent
	   without waiting. */
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 NOOP"),
		C("y2 CHECK"),
		C("y3 NOOP"),
		S("y1 OK first"),
		S("* 4 EXISTS"),
		S("y2 NO second"),
		S("y3 OK third"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_ok(imap_send(session, "NOOP", &err), &err);
	assert_ok(imap_send(session, "CHECK", &err), &err);
	assert_ok(imap_send(session, "NOOP", &err), &err);
	struct recorder rec = { 0 };
	struct imap_handler handler = handler_for(&rec);
	struct imap_result result;
	assert_ok(imap_wait(session, &handler, &result, &err), &err);
	assert_int_equal(result.status, IMAP_STATUS_OK);
	assert_string_equal(result.text, "first");
	assert_int_equal(rec.untagged, 0);
	assert_ok(imap_wait(session, &handler, &result, &err), &err);
	assert_int_equal(result.status, IMAP_STATUS_NO);
	assert_string_equal(result.text, "second");
	assert_int_equal(rec.untagged, 1);
	assert_string_equal(rec.names[0], "EXISTS");
	assert_ok(imap_wait(session, &handler, &result, &err), &err);
	assert_int_equal(result.status, IMAP_STATUS_OK);
	assert_string_equal(result.text, "third");
	finish();
}

static void test_wrong_tag_is_protocol_error(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 NOOP"),
		S("y7 OK not yours"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_ok(imap_send(session, "NOOP", &err), &err);
	struct imap_result result;
	assert_fails(imap_wait(session, NULL, &result, &err), &err,
		     YB_ERR_PROTOCOL, "unexpected tag \"y7\"");
	/* The session is good only for imap_close now. */
	assert_fails(imap_send(session, "NOOP", &err), &err, YB_ERR_INTERNAL,
		     "after an earlier error");
	finish();
}

static void test_bye_mid_command(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 NOOP"),
		S("* BYE Server shutting down"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_fails(imap_command(session, "NOOP", "NOOP", NULL, &err), &err,
		     YB_ERR_PROTOCOL, "(BYE): Server shutting down");
	finish();
}

static void test_bye_unavailable_is_temporary(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 NOOP"),
		S("* BYE [UNAVAILABLE] maintenance"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_fails(imap_command(session, "NOOP", "NOOP", NULL, &err), &err,
		     YB_ERR_TEMP, "maintenance");
	finish();
}

static void test_connection_dropped_mid_response(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 NOOP"),
		RAW("* 3 EXI"),
		END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_fails(imap_command(session, "NOOP", "NOOP", NULL, &err), &err,
		     YB_ERR_PROTOCOL, "connection closed");
	finish();
}

static void test_unexpected_continuation(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 NOOP"),
		S("+ send more"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_fails(imap_command(session, "NOOP", "NOOP", NULL, &err), &err,
		     YB_ERR_PROTOCOL, "unexpected continuation");
	finish();
}

static void test_send_refuses_line_break(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_fails(imap_send(session, "NOOP\r\nLOGOUT", &err), &err,
		     YB_ERR_INTERNAL, "line break");
	struct imap_result result;
	assert_fails(imap_wait(session, NULL, &result, &err), &err,
		     YB_ERR_INTERNAL, "no IMAP command outstanding");
	finish();
}

static void test_command_failure_names_what(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("UIDPLUS"),
		C("y1 UID EXPUNGE 4"),
		S("y1 NO [CANNOT] Mailbox is read-only"),
		C("y2 NOOP"),
		S("y2 OK still here"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_fails(imap_command(session, "UID EXPUNGE 4", "UID EXPUNGE",
				  NULL, &err),
		     &err, YB_ERR_PROTOCOL,
		     "UID EXPUNGE failed: Mailbox is read-only");
	/* A NO leaves the stream in step: the session goes on. */
	assert_ok(imap_command(session, "NOOP", "NOOP", NULL, &err), &err);
	finish();
}

static void test_handler_error_aborts_wait(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 NOOP"),
		/* One write: the client hangs up after the first line. */
		RAW("* 5 EXISTS\r\ny1 OK done\r\n"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct recorder rec = { .fail_untagged = YB_ERR_IO };
	struct imap_handler handler = handler_for(&rec);
	struct yb_error err;
	assert_fails(imap_command(session, "NOOP", "NOOP", &handler, &err),
		     &err, YB_ERR_IO, "handler says no");
	assert_int_equal(rec.untagged, 1);
	finish();
}

static void test_capability_updates_after_login(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 NOOP"),
		S("* OK [CAPABILITY IMAP4rev1 MOVE] changed"),
		S("* 2 EXISTS"),
		S("y1 OK done"),
		C("y2 NOOP"),
		S("* CAPABILITY IMAP4rev1 UIDPLUS"),
		S("y2 OK done"),
		C("y3 NOOP"),
		S("y3 OK [CAPABILITY IMAP4rev1 ESEARCH] done"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct recorder rec = { 0 };
	struct imap_handler handler = handler_for(&rec);
	struct yb_error err;
	assert_ok(imap_command(session, "NOOP", "NOOP", &handler, &err), &err);
	assert_true(imap_capabilities(session) & IMAP_CAPA_MOVE);
	assert_false(imap_capabilities(session) & IMAP_CAPA_IDLE);
	assert_ok(imap_command(session, "NOOP", "NOOP", &handler, &err), &err);
	assert_true(imap_capabilities(session) & IMAP_CAPA_UIDPLUS);
	assert_false(imap_capabilities(session) & IMAP_CAPA_MOVE);
	assert_ok(imap_command(session, "NOOP", "NOOP", &handler, &err), &err);
	assert_true(imap_capabilities(session) & IMAP_CAPA_ESEARCH);
	assert_false(imap_capabilities(session) & IMAP_CAPA_UIDPLUS);
	/* The session kept the capability responses to itself. */
	assert_int_equal(rec.untagged, 1);
	assert_string_equal(rec.names[0], "EXISTS");
	finish();
}

/* ---- streaming ---- */

static int send_big_fetch(struct peer *peer)
{
	char head[128];
	int n = snprintf(head, sizeof(head),
			 "* 1 FETCH (UID 7 BODY[] {%zu}\r\n", BIG_BODY_LEN);
	if (!peer_send(peer, head, (size_t)n))
		return SERVER_IO;
	static char chunk[65536];
	for (size_t pos = 0; pos < BIG_BODY_LEN; pos += sizeof(chunk)) {
		size_t len = BIG_BODY_LEN - pos < sizeof(chunk)
				     ? BIG_BODY_LEN - pos : sizeof(chunk);
		for (size_t i = 0; i < len; i++)
			chunk[i] = (char)body_byte(pos + i);
		if (!peer_send(peer, chunk, len))
			return SERVER_IO;
	}
	const char *tail = " FLAGS (\\Seen))\r\ny1 OK Fetch completed\r\n";
	return peer_send(peer, tail, strlen(tail)) ? SERVER_OK : SERVER_IO;
}

static void test_fetch_streams_big_literal(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 UID FETCH 7 (BODY.PEEK[] FLAGS)"),
		CALL(send_big_fetch),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct recorder rec = { .want = true };
	struct imap_handler handler = handler_for(&rec);
	struct yb_error err;
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_ok(imap_command(session, "UID FETCH 7 (BODY.PEEK[] FLAGS)",
			       "UID FETCH", &handler, &err), &err);
	clock_gettime(CLOCK_MONOTONIC, &end);
	assert_int_equal(rec.stream_size, BIG_BODY_LEN);
	assert_int_equal(rec.stream_bytes, BIG_BODY_LEN);
	assert_false(rec.stream_mismatch);
	assert_int_equal(rec.stream_ends, 1);
	/* Streamed in the buffer's chunks, not byte by byte. */
	assert_true(rec.stream_calls > 1);
	assert_true(rec.stream_calls < BIG_BODY_LEN / 1024);
	/* The rest of the FETCH was parsed after the literal. */
	assert_int_equal(rec.untagged, 1);
	assert_int_equal(rec.fetch_uid, 7);
	assert_int_equal(rec.fetch_streamed, BIG_BODY_LEN);
	assert_true(rec.fetch_seen_flag);
	double seconds = (double)(end.tv_sec - start.tv_sec) +
			 (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	print_message("# 5 MiB streamed in %.3f s (%zu chunks)\n", seconds,
		      rec.stream_calls);
	finish();
}

/* A small literal, then the rest of the response, a few bytes at a time. */
static int send_fetch_in_pieces(struct peer *peer)
{
	char data[512];
	int head = snprintf(data, sizeof(data),
			    "* 2 FETCH (UID 9 BODY[] {%zu}\r\n",
			    SMALL_BODY_LEN);
	size_t len = (size_t)head;
	for (size_t i = 0; i < SMALL_BODY_LEN; i++)
		data[len++] = (char)body_byte(i);
	const char *tail = " FLAGS (\\Seen))\r\ny1 OK done\r\n";
	memcpy(data + len, tail, strlen(tail));
	len += strlen(tail);
	for (size_t at = 0; at < len; at += 7) {
		size_t piece = len - at < 7 ? len - at : 7;
		if (!peer_send(peer, data + at, piece))
			return SERVER_IO;
		usleep(1000);
	}
	return SERVER_OK;
}

static void test_fetch_literal_split_across_reads(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 UID FETCH 9 (BODY.PEEK[] FLAGS)"),
		CALL(send_fetch_in_pieces),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct recorder rec = { .want = true };
	struct imap_handler handler = handler_for(&rec);
	struct yb_error err;
	assert_ok(imap_command(session, "UID FETCH 9 (BODY.PEEK[] FLAGS)",
			       "UID FETCH", &handler, &err), &err);
	assert_int_equal(rec.stream_bytes, SMALL_BODY_LEN);
	assert_false(rec.stream_mismatch);
	assert_true(rec.stream_calls > 1);
	assert_int_equal(rec.stream_ends, 1);
	assert_int_equal(rec.fetch_uid, 9);
	assert_int_equal(rec.fetch_streamed, SMALL_BODY_LEN);
	assert_true(rec.fetch_seen_flag);
	finish();
}

static void test_fetch_literal_declined_is_buffered(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 UID FETCH 3 BODY.PEEK[]"),
		RAW("* 1 FETCH (UID 3 BODY[] {12}\r\nhello\r\nworld)\r\n"
		    "y1 OK done\r\n"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct recorder rec = { .want = false };
	struct imap_handler handler = handler_for(&rec);
	struct yb_error err;
	assert_ok(imap_command(session, "UID FETCH 3 BODY.PEEK[]", "UID FETCH",
			       &handler, &err), &err);
	assert_int_equal(rec.stream_size, 12);
	assert_int_equal(rec.stream_calls, 0);
	assert_int_equal(rec.stream_ends, 0);
	assert_string_equal(rec.literal, "hello\r\nworld");
	finish();
}

static void test_stream_handler_error_breaks_session(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 UID FETCH 7 (BODY.PEEK[] FLAGS)"),
		CALL(send_big_fetch),
		END,
	};
	connect_ok(script);
	struct recorder rec = { .want = true, .fail_stream = YB_ERR_IO };
	struct imap_handler handler = handler_for(&rec);
	struct yb_error err;
	assert_fails(imap_command(session, "UID FETCH 7 (BODY.PEEK[] FLAGS)",
				  "UID FETCH", &handler, &err),
		     &err, YB_ERR_IO, "disk full (test)");
	assert_int_equal(rec.stream_calls, 1);
	assert_int_equal(rec.stream_ends, 0);
	assert_fails(imap_send(session, "NOOP", &err), &err, YB_ERR_INTERNAL,
		     "after an earlier error");
	close_session();
	/* The server may or may not have finished sending: no verdict. */
	server_join();
}

/* ---- SELECT / EXAMINE ---- */

static void test_select_collects_mailbox_info(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("CONDSTORE"),
		C("y1 SELECT \"INBOX\" (CONDSTORE)"),
		S("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"),
		S("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited"),
		S("* 172 EXISTS"),
		S("* 1 RECENT"),
		S("* OK [UNSEEN 12] Message 12 is first unseen"),
		S("* OK [UIDVALIDITY 3857529045] UIDs valid"),
		S("* OK [UIDNEXT 4392] Predicted next UID"),
		S("* OK [HIGHESTMODSEQ 715194045007] Highest"),
		S("y1 OK [READ-WRITE] SELECT completed"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	assert_true(imap_condstore_enabled(session));
	assert_false(imap_qresync_enabled(session));
	struct recorder rec = { 0 };
	struct imap_handler handler = handler_for(&rec);
	struct imap_mailbox_info info;
	struct yb_error err;
	assert_ok(imap_select(session, "\"INBOX\"", false, NULL, &handler,
			      &info, &err), &err);
	assert_int_equal(info.uidvalidity, 3857529045u);
	assert_int_equal(info.uidnext, 4392);
	assert_int_equal(info.exists, 172);
	assert_int_equal(info.highestmodseq, 715194045007ull);
	assert_false(info.nomodseq);
	assert_false(info.read_only);
	assert_int_equal(rec.untagged, 0);
	finish();
}

static void test_select_nomodseq_without_condstore(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 SELECT \"Sent\""),
		S("* 0 EXISTS"),
		S("* OK [UIDVALIDITY 1] ok"),
		S("* OK [NOMODSEQ] no mod-sequences here"),
		S("y1 OK [READ-ONLY] done"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct imap_mailbox_info info;
	struct yb_error err;
	assert_ok(imap_select(session, "\"Sent\"", false, "1 2", NULL, &info,
			      &err), &err);
	assert_int_equal(info.uidvalidity, 1);
	assert_int_equal(info.uidnext, 0);
	assert_int_equal(info.exists, 0);
	assert_int_equal(info.highestmodseq, 0);
	assert_true(info.nomodseq);
	assert_true(info.read_only);
	finish();
}

static void test_enable_qresync_and_examine(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("ENABLE CONDSTORE QRESYNC"),
		C("y1 ENABLE QRESYNC"),
		S("* ENABLED QRESYNC"),
		S("y1 OK Enabled"),
		C("y2 EXAMINE \"INBOX\" (QRESYNC (67890007 20050715194045000))"),
		S("* OK [UIDNEXT 999] of the mailbox selected before"),
		S("* OK [CLOSED] previous mailbox closed"),
		S("* 10 EXISTS"),
		S("* OK [UIDVALIDITY 67890007] ok"),
		S("* OK [HIGHESTMODSEQ 20050715194045001] ok"),
		S("* VANISHED (EARLIER) 41,43:116"),
		S("* 5 FETCH (UID 50 FLAGS (\\Seen) MODSEQ (20050715194045001))"),
		S("y2 OK [READ-ONLY] EXAMINE completed"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	assert_true(imap_qresync_enabled(session));
	assert_true(imap_condstore_enabled(session));
	struct recorder rec = { 0 };
	struct imap_handler handler = handler_for(&rec);
	struct imap_mailbox_info info;
	struct yb_error err;
	assert_ok(imap_select(session, "\"INBOX\"", true,
			      "67890007 20050715194045000", &handler, &info,
			      &err), &err);
	assert_int_equal(info.uidvalidity, 67890007);
	assert_int_equal(info.uidnext, 0); /* the 999 was the old mailbox's */
	assert_int_equal(info.exists, 10);
	assert_int_equal(info.highestmodseq, 20050715194045001ull);
	assert_true(info.read_only);
	assert_int_equal(rec.untagged, 2);
	assert_string_equal(rec.names[0], "VANISHED");
	assert_string_equal(rec.names[1], "FETCH");
	assert_int_equal(rec.fetch_uid, 50);
	finish();
}

static void test_enable_qresync_refused(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("ENABLE CONDSTORE QRESYNC"),
		C("y1 ENABLE QRESYNC"),
		S("y1 NO not for you"),
		C("y2 EXAMINE \"INBOX\" (CONDSTORE)"),
		S("y2 OK [READ-ONLY] done"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	assert_false(imap_qresync_enabled(session));
	assert_true(imap_condstore_enabled(session));
	struct imap_mailbox_info info;
	struct yb_error err;
	/* The QRESYNC text is dropped: QRESYNC is not enabled. */
	assert_ok(imap_select(session, "\"INBOX\"", true, "5 6", NULL, &info,
			      &err), &err);
	assert_true(info.read_only);
	finish();
}

static void test_select_no_names_mailbox(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 SELECT \"Archive\""),
		S("y1 NO [NONEXISTENT] Mailbox doesn't exist: Archive"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct imap_mailbox_info info;
	struct yb_error err;
	assert_fails(imap_select(session, "\"Archive\"", false, NULL, NULL,
				 &info, &err),
		     &err, YB_ERR_PROTOCOL,
		     "SELECT \"Archive\" failed: Mailbox doesn't exist");
	finish();
}

static void test_select_exists_out_of_range(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 EXAMINE \"INBOX\""),
		S("* 4294967296 EXISTS"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct imap_mailbox_info info;
	struct yb_error err;
	assert_fails(imap_select(session, "\"INBOX\"", true, NULL, NULL, &info,
				 &err),
		     &err, YB_ERR_PROTOCOL, "EXISTS");
	finish();
}

static void test_select_ignores_malformed_unused_codes(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 SELECT \"INBOX\""),
		S("* OK [UNSEEN 0] bogus but unused"),
		S("* OK [PERMANENTFLAGS no-list] bogus but unused"),
		S("* 3 EXISTS"),
		S("* OK [UIDVALIDITY 42] ok"),
		S("y1 OK [READ-WRITE] done"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct imap_mailbox_info info;
	struct yb_error err;
	assert_ok(imap_select(session, "\"INBOX\"", false, NULL, NULL, &info,
			      &err), &err);
	assert_int_equal(info.uidvalidity, 42);
	assert_int_equal(info.exists, 3);
	finish();
}

static void test_select_malformed_uidvalidity_fails(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 SELECT \"INBOX\""),
		S("* OK [UIDVALIDITY 0] zero is not a UIDVALIDITY"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct imap_mailbox_info info;
	struct yb_error err;
	int rc = imap_select(session, "\"INBOX\"", false, NULL, NULL, &info,
			     &err);
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "127.0.0.1:%u: ",
		 (unsigned)account.port);
	assert_fails(rc, &err, YB_ERR_PROTOCOL, prefix);
	assert_fails(rc, &err, YB_ERR_PROTOCOL, "UIDVALIDITY");
	finish();
}

/* ---- LIST ---- */

struct listed {
	size_t count;
	char names[4][32];
	char delimiters[4];
	uint32_t attrs[4];
	int fail;
};

static int on_list_entry(void *ctx, const struct imap_list_entry *entry,
			 struct yb_error *err)
{
	struct listed *listed = ctx;
	if (listed->fail != YB_OK)
		return yb_fail(err, listed->fail, "listing stopped (test)");
	if (listed->count < 4) {
		snprintf(listed->names[listed->count], sizeof(listed->names[0]),
			 "%.*s", (int)entry->name_len, entry->name);
		listed->delimiters[listed->count] = entry->delimiter;
		listed->attrs[listed->count] = entry->attrs;
	}
	listed->count++;
	return YB_OK;
}

static void test_list_entries(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 LIST \"\" \"*\""),
		S("* LIST (\\HasNoChildren) \"/\" INBOX"),
		S("* LIST (\\HasChildren \\Noselect) \"/\" \"Archive\""),
		S("* 3 EXISTS"),
		RAW("* LIST () \"/\" {18}\r\nArchive/&AMw-mlaut\r\n"),
		S("* LIST (\\HasNoChildren) NIL Flat"),
		S("y1 OK List completed"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct listed listed = { 0 };
	struct yb_error err;
	assert_ok(imap_list(session, "\"*\"", on_list_entry, &listed, &err),
		  &err);
	assert_int_equal(listed.count, 4);
	assert_string_equal(listed.names[0], "INBOX");
	assert_int_equal(listed.delimiters[0], '/');
	assert_true(listed.attrs[0] & IMAP_MBOX_HASNOCHILDREN);
	assert_string_equal(listed.names[1], "Archive");
	assert_true(listed.attrs[1] & IMAP_MBOX_NOSELECT);
	assert_string_equal(listed.names[2], "Archive/&AMw-mlaut");
	assert_string_equal(listed.names[3], "Flat");
	assert_int_equal(listed.delimiters[3], '\0');
	finish();
}

static void test_list_callback_error_stops(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 LIST \"\" \"%\""),
		RAW("* LIST () \"/\" INBOX\r\ny1 OK done\r\n"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct listed listed = { .fail = YB_ERR_IO };
	struct yb_error err;
	assert_fails(imap_list(session, "\"%\"", on_list_entry, &listed, &err),
		     &err, YB_ERR_IO, "listing stopped (test)");
	finish();
}

static void test_list_no_is_error(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 LIST \"\" \"*\""),
		S("y1 NO listing not allowed"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct listed listed = { 0 };
	struct yb_error err;
	assert_fails(imap_list(session, "\"*\"", on_list_entry, &listed, &err),
		     &err, YB_ERR_PROTOCOL, "listing not allowed");
	assert_int_equal(listed.count, 0);
	finish();
}

/* ---- LOGOUT ---- */

static void test_logout_bye_then_ok(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 LOGOUT"),
		S("* BYE Logging out"),
		S("y1 OK Logout completed"),
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_ok(imap_logout(session, &err), &err);
	assert_fails(imap_send(session, "NOOP", &err), &err, YB_ERR_INTERNAL,
		     "after LOGOUT");
	finish();
}

static void test_logout_bye_then_eof(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 LOGOUT"),
		S("* BYE Logging out"),
		END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_ok(imap_logout(session, &err), &err);
	finish();
}

static void test_logout_eof_without_bye_fails(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 LOGOUT"),
		END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_fails(imap_logout(session, &err), &err, YB_ERR_PROTOCOL,
		     "connection closed");
	finish();
}

static void test_logout_refused_with_commands_outstanding(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		/* The queued NOOP is never flushed: no read followed it. */
		EXPECT_EOF, END,
	};
	connect_ok(script);
	struct yb_error err;
	assert_ok(imap_send(session, "NOOP", &err), &err);
	assert_fails(imap_logout(session, &err), &err, YB_ERR_INTERNAL,
		     "1 IMAP commands still outstanding");
	finish();
}

/* ---- quoting (no server) ---- */

static void test_quote_mailbox(void **state)
{
	(void)state;
	char *quoted = imap_quote_mailbox("INBOX", 5);
	assert_string_equal(quoted, "\"INBOX\"");
	free(quoted);
	quoted = imap_quote_mailbox("a\"b\\c", 5);
	assert_string_equal(quoted, "\"a\\\"b\\\\c\"");
	free(quoted);
	quoted = imap_quote_mailbox("", 0);
	assert_string_equal(quoted, "\"\"");
	free(quoted);
	quoted = imap_quote_mailbox("Entw&APw-rfe", 12);
	assert_string_equal(quoted, "\"Entw&APw-rfe\"");
	free(quoted);
	assert_null(imap_quote_mailbox("a\rb", 3));
	assert_null(imap_quote_mailbox("a\nb", 3));
	assert_null(imap_quote_mailbox("a\0b", 3));
}

/* ---- IDLE (imap_idle.c) ---- */

static void logout_ok(void)
{
	struct yb_error err;
	assert_ok(imap_logout(session, &err), &err);
	finish();
}

static void test_idle_news_then_done(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 IDLE"),
		S("+ idling"),
		S("* 4 EXISTS"),
		S("* 1 RECENT"),
		C("DONE"),
		S("* 2 FETCH (FLAGS (\\Seen))"),
		S("y1 OK IDLE terminated"),
		C("y2 LOGOUT"),
		S("* BYE bye"),
		S("y2 OK done"),
		END,
	};
	connect_ok(script);
	struct yb_error err;
	struct imap_idle_news news = { 0 };
	assert_ok(imap_idle_start(session, &news, &err), &err);
	assert_false(news.new_mail);
	while (news.responses < 2)
		assert_ok(imap_idle_wait(session, 5000, &news, &err), &err);
	assert_true(news.new_mail);
	assert_false(news.changed);
	assert_ok(imap_idle_done(session, &news, &err), &err);
	assert_true(news.changed);
	assert_int_equal(news.responses, 3);
	logout_ok();
}

static void test_idle_wait_times_out_quietly(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 IDLE"),
		S("+ idling"),
		C("DONE"),
		S("y1 OK IDLE terminated"),
		EXPECT_EOF,
		END,
	};
	connect_ok(script);
	struct yb_error err;
	struct imap_idle_news news = { 0 };
	assert_ok(imap_idle_start(session, &news, &err), &err);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_ok(imap_idle_wait(session, 300, &news, &err), &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long waited_ms = (t1.tv_sec - t0.tv_sec) * 1000 +
			 (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(waited_ms >= 250);
	assert_int_equal(news.responses, 0);
	assert_false(news.new_mail);
	assert_ok(imap_idle_done(session, &news, &err), &err);
	finish();
}

static void test_idle_refused_keeps_session(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 IDLE"),
		S("y1 NO [UNAVAILABLE] not today"),
		C("y2 LOGOUT"),
		S("* BYE bye"),
		S("y2 OK done"),
		END,
	};
	connect_ok(script);
	struct yb_error err;
	struct imap_idle_news news = { 0 };
	assert_fails(imap_idle_start(session, &news, &err), &err, YB_ERR_PROTOCOL,
		     "127.0.0.1 refused IDLE: not today");
	assert_true(news.refused);
	logout_ok();
}

static void test_idle_no_continuation_times_out(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 IDLE"),
		EXPECT_EOF,
		END,
	};
	use_account(server_start(script), TLS_NONE);
	account.timeout = 1;
	struct yb_error err;
	assert_ok(imap_connect(&account, "secret", &session, &err), &err);
	struct imap_idle_news news = { 0 };
	assert_fails(imap_idle_start(session, &news, &err), &err, YB_ERR_TEMP,
		     "127.0.0.1");
	finish();
}

static void test_idle_bye_is_an_error(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 IDLE"),
		S("+ idling"),
		S("* BYE shutting down"),
		END,
	};
	connect_ok(script);
	struct yb_error err;
	struct imap_idle_news news = { 0 };
	assert_ok(imap_idle_start(session, &news, &err), &err);
	assert_fails(imap_idle_wait(session, 5000, &news, &err), &err, YB_ERR_PROTOCOL,
		     "closed the session (BYE): shutting down");
	finish();
}

static void test_idle_server_ends_idle_itself(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 IDLE"),
		S("+ idling"),
		S("* 2 EXPUNGE"),
		S("y1 OK IDLE ended by the server"),
		C("y2 LOGOUT"),
		S("* BYE bye"),
		S("y2 OK done"),
		END,
	};
	connect_ok(script);
	struct yb_error err;
	struct imap_idle_news news = { 0 };
	assert_ok(imap_idle_start(session, &news, &err), &err);
	while (!news.ended)
		assert_ok(imap_idle_wait(session, 5000, &news, &err), &err);
	assert_true(news.changed);
	assert_false(news.new_mail);
	/* No DONE: the script wants LOGOUT next. */
	assert_ok(imap_idle_done(session, &news, &err), &err);
	logout_ok();
}

#define FLOOD_LINES 1000

static int send_flood(struct peer *peer)
{
	char line[32];
	for (int i = 1; i <= FLOOD_LINES; i++) {
		snprintf(line, sizeof(line), "* %d EXISTS\r\n", i);
		if (!peer_send_text(peer, line))
			return SERVER_IO;
	}
	return SERVER_OK;
}

static void test_idle_flood_is_taken_in_bursts(void **state)
{
	(void)state;
	static const struct sstep script[] = {
		PREAUTH("IDLE"),
		C("y1 IDLE"),
		S("+ idling"),
		CALL(send_flood),
		C("DONE"),
		S("y1 OK IDLE terminated"),
		EXPECT_EOF,
		END,
	};
	connect_ok(script);
	struct yb_error err;
	struct imap_idle_news news = { 0 };
	assert_ok(imap_idle_start(session, &news, &err), &err);
	size_t reads = 0;
	while (news.responses < FLOOD_LINES) {
		size_t before = news.responses;
		assert_ok(imap_idle_wait(session, 5000, &news, &err), &err);
		assert_true(news.responses - before <= IMAP_IDLE_BURST_MAX);
		reads++;
	}
	assert_true(reads >= FLOOD_LINES / IMAP_IDLE_BURST_MAX);
	assert_true(news.new_mail);
	assert_ok(imap_idle_done(session, &news, &err), &err);
	assert_int_equal(news.responses, FLOOD_LINES);
	finish();
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_greeting_capability_code),
		T(test_greeting_without_code_asks),
		T(test_greeting_preauth),
		T(test_greeting_preauth_asks_capability),
		T(test_flag_store_grouped),
		T(test_flag_store_lone_modified_unreadable),
		T(test_flag_store_no_read_on),
		T(test_greeting_bye),
		T(test_greeting_not_a_greeting),
		T(test_greeting_garbage_is_parse_error),
		T(test_login_quotes_specials),
		T(test_login_literal_waits_for_continuation),
		T(test_login_literal_plus_does_not_wait),
		T(test_login_literal_minus_small_does_not_wait),
		T(test_login_user_as_literal),
		T(test_login_literal_refused_sends_nothing_more),
		T(test_login_no_is_auth_error),
		T(test_login_no_unavailable_is_temporary),
		T(test_login_bad_is_protocol_error),
		T(test_auth_sasl_login_when_login_disabled),
		T(test_auth_sasl_login_extra_challenge_cancelled),
		T(test_auth_plain_with_sasl_ir_extra_challenge),
		T(test_auth_cram_md5_preferred_without_tls),
		T(test_auth_cram_md5_bad_challenge_cancelled),
		T(test_explicit_plain_without_capability),
		T(test_plaintext_password_refused),
		T(test_xoauth2_with_sasl_ir),
		T(test_xoauth2_refused_token_is_auth_error),
		T(test_oauthbearer_preferred_by_auto),
		T(test_oauth_without_mechanism_refused),
		T(test_oauth_token_with_line_break_never_sent),
		T(test_external_empty_initial_response),
		T(test_external_without_sasl_ir),
		T(test_no_usable_login_method),
		T(test_starttls_upgrades_and_rereads_capabilities),
		T(test_starttls_not_offered_fails_closed),
		T(test_starttls_not_offered_after_asking),
		T(test_starttls_refused_fails_closed),
		T(test_starttls_preauth_refused),
		T(test_starttls_injection_refused),
		T(test_implicit_tls_preauth_accepted),
		T(test_trace_redacts_login),
		T(test_trace_redacts_authenticate),
		T(test_pipelined_commands_answered_in_order),
		T(test_wrong_tag_is_protocol_error),
		T(test_bye_mid_command),
		T(test_bye_unavailable_is_temporary),
		T(test_connection_dropped_mid_response),
		T(test_unexpected_continuation),
		T(test_send_refuses_line_break),
		T(test_command_failure_names_what),
		T(test_handler_error_aborts_wait),
		T(test_capability_updates_after_login),
		T(test_fetch_streams_big_literal),
		T(test_fetch_literal_split_across_reads),
		T(test_fetch_literal_declined_is_buffered),
		T(test_stream_handler_error_breaks_session),
		T(test_select_collects_mailbox_info),
		T(test_select_nomodseq_without_condstore),
		T(test_enable_qresync_and_examine),
		T(test_enable_qresync_refused),
		T(test_select_no_names_mailbox),
		T(test_select_exists_out_of_range),
		T(test_select_ignores_malformed_unused_codes),
		T(test_select_malformed_uidvalidity_fails),
		T(test_list_entries),
		T(test_list_callback_error_stops),
		T(test_list_no_is_error),
		T(test_logout_bye_then_ok),
		T(test_logout_bye_then_eof),
		T(test_logout_eof_without_bye_fails),
		T(test_logout_refused_with_commands_outstanding),
		T(test_idle_news_then_done),
		T(test_idle_wait_times_out_quietly),
		T(test_idle_refused_keeps_session),
		T(test_idle_no_continuation_times_out),
		T(test_idle_bye_is_an_error),
		T(test_idle_server_ends_idle_itself),
		T(test_idle_flood_is_taken_in_bursts),
		cmocka_unit_test(test_quote_mailbox),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
