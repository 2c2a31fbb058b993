/*
 * test_conn.c - the connection against real servers on loopback.
 *
 * Each test forks a small server that listens on 127.0.0.1 (or ::1) on a
 * port the kernel picks, accepts one connection and runs a scripted
 * behaviour, with OpenSSL on the server side for TLS.  The certificates
 * (a test CA, a good server certificate, an expired one, one for another
 * host, a self-signed one) are made with the OpenSSL API when the group
 * starts.  Servers kill themselves with alarm() and every test's teardown
 * reaps them, so no test can hang or leave a child behind.
 *
 * SIGPIPE is deliberately left at its default: a write to a closed peer
 * that raised it would kill this process and fail the run.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conn.h"
#include "assert_error.h"
#include "scripted_server.h"
#include "testcert.h"

#define CLIENT_TIMEOUT 20   /* generous: valgrind is slow */
#define STREAM_LEN ((size_t)5 * 1024 * 1024)
#define BIG_WRITE_LEN ((size_t)3 * 1024 * 1024)
#define PIECES 1000
#define MANY_LINES 200000

/* ---- certificates, made once for the group ---- */

struct cert_kit {
	EVP_PKEY *ca_key;
	X509 *ca;
	EVP_PKEY *key;          /* one key for every leaf: setup stays fast */
	X509 *good;             /* localhost and 127.0.0.1, signed by ca */
	X509 *expired;          /* localhost, signed by ca, expired */
	X509 *wrong_host;       /* mail.other.invalid, signed by ca */
	X509 *self_signed;      /* localhost, signed by itself */
	X509 *client;           /* "yubin client", clientAuth, signed by ca */
	char dir[64];
	char client_cert_path[128];
	char client_key_path[128];   /* kit.key, mode 0600 */
	char open_key_path[128];     /* kit.key, mode 0644 */
	char other_key_path[128];    /* kit.ca_key, mode 0600 */
	char ca_path[128];
	char garbage_path[128];
	char missing_path[128];
};

static struct cert_kit kit;

static bool write_file(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");
	if (!file)
		return false;
	bool ok = fputs(text, file) >= 0;
	return fclose(file) == 0 && ok;
}

static bool write_client_files(void)
{
	return testcert_write_pem(kit.client_cert_path, kit.client) &&
	       testcert_write_key(kit.client_key_path, kit.key, 0600) &&
	       testcert_write_key(kit.open_key_path, kit.key, 0644) &&
	       testcert_write_key(kit.other_key_path, kit.ca_key, 0600);
}

static bool kit_path(char *out, size_t size, const char *name)
{
	return testcert_path(out, size, kit.dir, name);
}

static bool make_paths(void)
{
	snprintf(kit.dir, sizeof(kit.dir), "/tmp/test_conn.XXXXXX");
	if (!mkdtemp(kit.dir))
		return false;
	return kit_path(kit.ca_path, sizeof(kit.ca_path), "ca.pem") &&
	       kit_path(kit.garbage_path, sizeof(kit.garbage_path),
			"garbage.pem") &&
	       kit_path(kit.missing_path, sizeof(kit.missing_path),
			"missing.pem") &&
	       kit_path(kit.client_cert_path, sizeof(kit.client_cert_path),
			"client.pem") &&
	       kit_path(kit.client_key_path, sizeof(kit.client_key_path),
			"client.key") &&
	       kit_path(kit.open_key_path, sizeof(kit.open_key_path),
			"open.key") &&
	       kit_path(kit.other_key_path, sizeof(kit.other_key_path),
			"other.key");
}

/* A leaf for localhost signed by the CA (NULL: by itself), valid from
   from_days to until_days around now. */
static X509 *make_leaf(const char *cn, const char *san, bool ca_signed,
		       long from_days, long until_days, long serial)
{
	struct testcert_spec spec = {
		.cn = cn, .san = san, .from_days = from_days,
		.until_days = until_days, .serial = serial,
	};
	return ca_signed ? testcert_make(&spec, kit.key, kit.ca, kit.ca_key)
			 : testcert_make(&spec, kit.key, NULL, NULL);
}

static bool make_certs(void)
{
	struct testcert_spec client = {
		.cn = "yubin client", .leaf_usage = "clientAuth",
		.from_days = -1, .until_days = 30, .serial = 6,
	};
	const char *localhost = "DNS:localhost,IP:127.0.0.1";
	kit.ca = testcert_make_ca(kit.ca_key);
	if (!kit.ca)
		return false;
	kit.good = make_leaf("localhost", localhost, true, -1, 30, 2);
	kit.expired = make_leaf("localhost", localhost, true, -30, -1, 3);
	kit.wrong_host = make_leaf("mail.other.invalid",
				   "DNS:mail.other.invalid", true, -1, 30, 4);
	kit.self_signed = make_leaf("localhost", localhost, false, -1, 30, 5);
	kit.client = testcert_make(&client, kit.key, kit.ca, kit.ca_key);
	return kit.good && kit.expired && kit.wrong_host && kit.self_signed &&
	       kit.client;
}

static int group_setup(void **state)
{
	(void)state;
	if (!make_paths())
		return -1;
	kit.ca_key = testcert_new_key();
	kit.key = testcert_new_key();
	if (!kit.ca_key || !kit.key || !make_certs())
		return -1;
	if (!testcert_write_pem(kit.ca_path, kit.ca) || !write_client_files() ||
	    !write_file(kit.garbage_path, "this is not a certificate\n"))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(kit.ca_path);
	unlink(kit.garbage_path);
	unlink(kit.client_cert_path);
	unlink(kit.client_key_path);
	unlink(kit.open_key_path);
	unlink(kit.other_key_path);
	rmdir(kit.dir);
	X509_free(kit.client);
	X509_free(kit.ca);
	X509_free(kit.good);
	X509_free(kit.expired);
	X509_free(kit.wrong_host);
	X509_free(kit.self_signed);
	EVP_PKEY_free(kit.ca_key);
	EVP_PKEY_free(kit.key);
	return 0;
}

/* ---- the server side (runs in a child) ---- */

typedef int (*script_fn)(struct peer *peer);

/* What the scripts send; set before the fork, inherited by the child. */
static const char *script_data;
static size_t script_len;
static X509 *starttls_cert;

static bool peer_expect_line(struct peer *peer, const char *expected)
{
	char line[256];
	size_t len;
	return peer_read_line(peer, line, sizeof(line), &len) &&
	       strcmp(line, expected) == 0;
}

/* Hold the connection until the client goes away. */
static int peer_wait_eof(struct peer *peer)
{
	char buf[4096];
	while (peer_recv(peer, buf, sizeof(buf)) > 0)
		;
	return SERVER_OK;
}

/* Set before server_start: the server demands a certificate from kit.ca. */
static bool server_wants_client_cert;

static SSL_CTX *server_ctx(X509 *cert, int only_version)
{
	SSL_CTX *ctx = server_tls_ctx(cert, kit.key);
	if (!ctx)
		return NULL;
	if (server_wants_client_cert) {
		if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx),
					kit.ca) != 1)
			return NULL;
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
				   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	if (only_version) {
		/* Old protocols need the lowest security level in OpenSSL 3. */
		SSL_CTX_set_security_level(ctx, 0);
		if (SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0") != 1 ||
		    SSL_CTX_set_min_proto_version(ctx, only_version) != 1 ||
		    SSL_CTX_set_max_proto_version(ctx, only_version) != 1)
			return NULL;
	}
	return ctx;
}

static bool accept_tls(struct peer *peer, X509 *cert, int only_version)
{
	SSL_CTX *ctx = server_ctx(cert, only_version);
	return ctx && peer_accept_tls(peer, ctx);
}

struct server_spec {
	script_fn script;
	X509 *tls_cert;          /* implicit TLS with this certificate */
	int tls_only_version;    /* 0: any version the library allows */
};

/* The child's work: the TLS handshake the spec asks for, then its script. */
static int serve_spec(struct peer *peer, const void *arg)
{
	const struct server_spec *spec = arg;
	if (spec->tls_cert &&
	    !accept_tls(peer, spec->tls_cert, spec->tls_only_version))
		return SERVER_TLS;
	return spec->script(peer);
}

/* Fork a server on a bound socket; returns its port. */
static uint16_t server_start_on(int bound_fd, const struct server_spec *spec)
{
	return server_fork(bound_fd, serve_spec, spec);
}

static uint16_t server_start(script_fn script, X509 *tls_cert)
{
	struct server_spec spec = { .script = script, .tls_cert = tls_cert };
	return server_start_on(listen_socket(AF_INET, "127.0.0.1", 0), &spec);
}

/* ---- the client side ---- */

static struct conn *client;
static int held_fds[4];
static size_t held_count;

static void hold_fd(int fd)
{
	assert_true(held_count < sizeof(held_fds) / sizeof(held_fds[0]));
	held_fds[held_count++] = fd;
}

static void close_client(void)
{
	conn_close(client);
	client = NULL;
}

static int test_setup(void **state)
{
	(void)state;
	client = NULL;
	server_pid = 0;
	held_count = 0;
	script_data = NULL;
	script_len = 0;
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	close_client();
	server_reap();
	for (size_t i = 0; i < held_count; i++)
		close(held_fds[i]);
	held_count = 0;
	return 0;
}

static struct conn_params params_for(const char *host, uint16_t port,
				     enum tls_mode tls)
{
	struct conn_params params = {
		.host = host,
		.port = port,
		.tls = tls,
		.tls_verify = true,
		.tls_ca_file = NULL,
		.tls_pins = NULL,
		.timeout_sec = CLIENT_TIMEOUT,
	};
	return params;
}

static void open_client(const struct conn_params *params)
{
	struct yb_error err;
	yb_error_clear(&err);
	assert_ok(conn_open(params, &client, &err), &err);
	assert_non_null(client);
}

static void expect_line(size_t max_len, const char *expected,
			size_t expected_len)
{
	struct yb_error err;
	const char *line = NULL;
	size_t len = 0;
	assert_ok(conn_read_line(client, max_len, &line, &len, &err), &err);
	assert_int_equal(len, expected_len);
	assert_memory_equal(line, expected, expected_len);
}

#define EXPECT_LINE(text) expect_line(CONN_LINE_MAX, (text), sizeof(text) - 1)

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* A byte of a reproducible pseudo-random stream, by position. */
static unsigned char stream_byte(size_t pos)
{
	uint32_t x = (uint32_t)pos * 2654435761u;
	x ^= x >> 15;
	x *= 2246822519u;
	x ^= x >> 13;
	return (unsigned char)(x >> 24 ^ pos);
}

/* ---- server scripts ---- */

static int script_send_then_wait(struct peer *peer)
{
	if (!peer_send(peer, script_data, script_len))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

static int script_send_bytewise_then_wait(struct peer *peer)
{
	for (size_t i = 0; i < script_len; i++) {
		if (!peer_send(peer, script_data + i, 1))
			return SERVER_IO;
		usleep(2000);
	}
	return peer_wait_eof(peer);
}

/* Send, then hang up: abruptly for plain and for TLS (no close_notify). */
static int script_send_then_drop(struct peer *peer)
{
	if (!peer_send(peer, script_data, script_len))
		return SERVER_IO;
	return SERVER_OK;
}

static int script_send_then_close_notify(struct peer *peer)
{
	if (!peer_send(peer, script_data, script_len))
		return SERVER_IO;
	if (peer->ssl)
		SSL_shutdown(peer->ssl);
	return SERVER_OK;
}

static int script_silent(struct peer *peer)
{
	return peer_wait_eof(peer);
}

static int script_hang_up(struct peer *peer)
{
	(void)peer;
	return SERVER_OK;
}

static int script_stream(struct peer *peer)
{
	static unsigned char chunk[65536];
	for (size_t sent = 0; sent < STREAM_LEN; sent += sizeof(chunk)) {
		size_t len = STREAM_LEN - sent;
		if (len > sizeof(chunk))
			len = sizeof(chunk);
		for (size_t i = 0; i < len; i++)
			chunk[i] = stream_byte(sent + i);
		if (!peer_send(peer, chunk, len))
			return SERVER_IO;
	}
	if (peer->ssl)
		SSL_shutdown(peer->ssl);
	return SERVER_OK;
}

/* Up to 96 bytes to vary line lengths (lines straddle every boundary). */
static const char line_padding[] =
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

static int script_many_lines(struct peer *peer)
{
	static char block[65536];
	size_t used = 0;
	for (unsigned i = 0; i < MANY_LINES; i++) {
		int n = snprintf(block + used, sizeof(block) - used,
				 "line %06u %.*s\r\n", i, (int)(i % 97),
				 line_padding);
		if (n < 0 || (size_t)n >= sizeof(block) - used)
			return SERVER_IO;
		used += (size_t)n;
		if (sizeof(block) - used < 256) {
			if (!peer_send(peer, block, used))
				return SERVER_IO;
			used = 0;
		}
	}
	if (!peer_send(peer, block, used))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

static int script_echo_hello(struct peer *peer)
{
	if (!peer_send_text(peer, "+OK hello\r\n"))
		return SERVER_IO;
	if (!peer_expect_line(peer, "HELLO"))
		return SERVER_MISMATCH;
	if (!peer_send_text(peer, "ECHO HELLO\r\n"))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

static int script_report_sni(struct peer *peer)
{
	const char *name = SSL_get_servername(peer->ssl,
					      TLSEXT_NAMETYPE_host_name);
	char line[300];
	snprintf(line, sizeof(line), "SNI %s\r\n", name ? name : "-");
	if (!peer_send_text(peer, line))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

static int script_more_on_request(struct peer *peer)
{
	if (!peer_send_text(peer, "ab"))
		return SERVER_IO;
	if (!peer_expect_line(peer, "more"))
		return SERVER_MISMATCH;
	if (!peer_send_text(peer, "cd"))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

/* Takes PIECES lines, a big block and END; answers OK when all match. */
static int script_sink(struct peer *peer)
{
	char expected[32];
	for (unsigned i = 0; i < PIECES; i++) {
		snprintf(expected, sizeof(expected), "piece %04u", i);
		if (!peer_expect_line(peer, expected))
			return SERVER_MISMATCH;
	}
	unsigned char *big = malloc(BIG_WRITE_LEN);
	bool same = big && peer_read_exact(peer, big, BIG_WRITE_LEN);
	for (size_t i = 0; same && i < BIG_WRITE_LEN; i++)
		same = big[i] == stream_byte(i);
	free(big);
	if (!same)
		return SERVER_MISMATCH;
	if (!peer_expect_line(peer, "END"))
		return SERVER_MISMATCH;
	if (!peer_send_text(peer, "OK\r\n"))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

/* Greeting, STLS, go-ahead; then what script_data says, or TLS. */
static bool starttls_prelude(struct peer *peer)
{
	return peer_send_text(peer, "+OK ready\r\n") &&
	       peer_expect_line(peer, "STLS");
}

static int script_starttls(struct peer *peer)
{
	if (!starttls_prelude(peer))
		return SERVER_MISMATCH;
	if (!peer_send_text(peer, "+OK begin TLS\r\n"))
		return SERVER_IO;
	if (!accept_tls(peer, starttls_cert, 0))
		return SERVER_TLS;
	if (!peer_expect_line(peer, "HELLO"))
		return SERVER_MISMATCH;
	if (!peer_send_text(peer, "ECHO HELLO\r\n"))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

static int script_starttls_inject(struct peer *peer)
{
	if (!starttls_prelude(peer))
		return SERVER_MISMATCH;
	/* One write: the go-ahead and the injected command together. */
	if (!peer_send_text(peer, "+OK begin TLS\r\nUSER mallory\r\n"))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

static int script_starttls_inject_late(struct peer *peer)
{
	if (!starttls_prelude(peer))
		return SERVER_MISMATCH;
	if (!peer_send_text(peer, "+OK begin TLS\r\n"))
		return SERVER_IO;
	usleep(100000);
	if (!peer_send_text(peer, "USER mallory\r\n"))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

/* ---- plain TCP and the reader ---- */

static void test_plain_lines(void **state)
{
	(void)state;
	static const char data[] = "one\r\ntwo\n\r\nthr\0ee\r\nab\rcd\r\n"
				   "x\r\r\nlast\n";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_wait, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	assert_false(conn_is_tls(client));
	EXPECT_LINE("one");
	EXPECT_LINE("two");
	EXPECT_LINE("");
	EXPECT_LINE("thr\0ee");  /* a NUL passes; callers decide */
	EXPECT_LINE("ab\rcd");   /* a bare CR inside stays */
	EXPECT_LINE("x\r");      /* only one CR before the LF goes */
	EXPECT_LINE("last");
}

static void test_plain_lines_one_byte_at_a_time(void **state)
{
	(void)state;
	static const char data[] = "+OK POP3 server ready <1.2@localhost>\r\n"
				   "+OK\r\nline two\n.\r\n";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_bytewise_then_wait, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	EXPECT_LINE("+OK POP3 server ready <1.2@localhost>");
	EXPECT_LINE("+OK");
	EXPECT_LINE("line two");
	EXPECT_LINE(".");
}

static void test_line_at_max_len_accepted(void **state)
{
	(void)state;
	static const char data[] = "0123456789\r\n0123456789\n";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_wait, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	expect_line(10, "0123456789", 10);
	expect_line(10, "0123456789", 10);
}

static void test_line_longer_than_max_len_refused(void **state)
{
	(void)state;
	static const char data[] = "short\r\n0123456789A\r\n";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_wait, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	expect_line(10, "short", 5);
	struct yb_error err;
	const char *line;
	size_t len;
	int rc = conn_read_line(client, 10, &line, &len, &err);
	assert_fails(rc, &err, YB_ERR_PROTOCOL, "longer than 10 bytes");
	assert_non_null(strstr(err.msg, conn_peer(client)));
}

static void test_endless_line_refused_without_waiting(void **state)
{
	(void)state;
	/* No LF ever comes: the cap must fire on what arrived, not at EOF
	 * or at the deadline. */
	size_t len = 200000;
	char *data = malloc(len);
	assert_non_null(data);
	memset(data, 'z', len);
	script_data = data;
	script_len = len;
	uint16_t port = server_start(script_send_then_wait, NULL);
	free(data); /* the child has its copy */
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct yb_error err;
	const char *line;
	size_t line_len;
	int rc = conn_read_line(client, 1000, &line, &line_len, &err);
	assert_fails(rc, &err, YB_ERR_PROTOCOL, "longer than 1000 bytes");
	assert_true(seconds_since(&start) < CLIENT_TIMEOUT / 2);
}

static void test_max_len_is_capped_at_conn_line_max(void **state)
{
	(void)state;
	size_t len = 2 * (size_t)CONN_LINE_MAX + 16;
	char *data = malloc(len);
	assert_non_null(data);
	memset(data, 'x', CONN_LINE_MAX);
	memcpy(data + CONN_LINE_MAX, "\r\n", 2);
	memset(data + CONN_LINE_MAX + 2, 'y', CONN_LINE_MAX + 1);
	memcpy(data + 2 * (size_t)CONN_LINE_MAX + 3, "\n", 1);
	script_data = data;
	script_len = 2 * (size_t)CONN_LINE_MAX + 4;
	uint16_t port = server_start(script_send_then_wait, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	struct yb_error err;
	const char *line;
	size_t line_len;
	assert_ok(conn_read_line(client, SIZE_MAX, &line, &line_len, &err),
		  &err);
	assert_int_equal(line_len, CONN_LINE_MAX);
	assert_memory_equal(line, data, CONN_LINE_MAX);
	free(data);
	int rc = conn_read_line(client, SIZE_MAX, &line, &line_len, &err);
	assert_fails(rc, &err, YB_ERR_PROTOCOL, "longer than 65536 bytes");
}

static void test_many_lines_stream_through_the_buffer(void **state)
{
	(void)state;
	uint16_t port = server_start(script_many_lines, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	for (unsigned i = 0; i < MANY_LINES; i++) {
		char expected[160];
		int n = snprintf(expected, sizeof(expected), "line %06u %.*s",
				 i, (int)(i % 97), line_padding);
		assert_true(n > 0 && (size_t)n < sizeof(expected));
		struct yb_error err;
		const char *line;
		size_t len;
		assert_ok(conn_read_line(client, 200, &line, &len, &err), &err);
		if (len != (size_t)n || memcmp(line, expected, len) != 0) {
			print_error("line %u differs\n", i);
			fail();
		}
	}
}

/* Peek and consume the whole stream in uneven pieces; then the EOF. */
static void read_stream_and_eof(void)
{
	size_t pos = 0;
	unsigned round = 0;
	struct yb_error err;
	while (pos < STREAM_LEN) {
		const char *data;
		size_t len;
		assert_ok(conn_peek(client, &data, &len, &err), &err);
		assert_true(len > 0);
		assert_true(len <= STREAM_LEN - pos);
		size_t take = 1 + (round++ * 7919u) % 70001u;
		if (take > len)
			take = len;
		for (size_t i = 0; i < take; i++) {
			if ((unsigned char)data[i] != stream_byte(pos + i)) {
				print_error("byte %zu differs\n", pos + i);
				fail();
			}
		}
		conn_consume(client, take);
		pos += take;
	}
	const char *data;
	size_t len;
	int rc = conn_peek(client, &data, &len, &err);
	assert_fails(rc, &err, YB_ERR_PROTOCOL, "connection closed by");
}

static void test_peek_consume_5mb_stream(void **state)
{
	(void)state;
	uint16_t port = server_start(script_stream, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	read_stream_and_eof();
}

static void test_peek_without_consume_reads_more(void **state)
{
	(void)state;
	uint16_t port = server_start(script_more_on_request, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	struct yb_error err;
	const char *data;
	size_t first_len;
	assert_ok(conn_peek(client, &data, &first_len, &err), &err);
	assert_true(first_len >= 1 && first_len <= 2);
	assert_memory_equal(data, "ab", first_len);
	/* The request goes out with the next peek (pending output is flushed
	 * first); nothing was consumed, so that peek must bring new bytes. */
	assert_ok(conn_write(client, "more\r\n", 6, &err), &err);
	size_t len;
	assert_ok(conn_peek(client, &data, &len, &err), &err);
	assert_true(len > first_len);
	while (len < 4) {
		assert_ok(conn_peek(client, &data, &len, &err), &err);
	}
	assert_int_equal(len, 4);
	assert_memory_equal(data, "abcd", 4);
	conn_consume(client, 3);
	assert_ok(conn_peek(client, &data, &len, &err), &err);
	assert_int_equal(len, 1); /* the rest, without waiting for more */
	assert_memory_equal(data, "d", 1);
}

static void test_line_then_body_bytes(void **state)
{
	(void)state;
	static const char data[] = "+OK 11 octets\r\nhello world";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_wait, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	EXPECT_LINE("+OK 11 octets");
	char body[16];
	size_t got = 0;
	struct yb_error err;
	while (got < 11) {
		const char *bytes;
		size_t len;
		assert_ok(conn_peek(client, &bytes, &len, &err), &err);
		assert_true(len <= 11 - got);
		memcpy(body + got, bytes, len);
		conn_consume(client, len);
		got += len;
	}
	assert_memory_equal(body, "hello world", 11);
}

/* Small queued writes, one write bigger than the queue, then a reply. */
static void write_pieces_and_big_block(void)
{
	struct yb_error err;
	for (unsigned i = 0; i < PIECES; i++) {
		char piece[32];
		int n = snprintf(piece, sizeof(piece), "piece %04u\r\n", i);
		assert_ok(conn_write(client, piece, (size_t)n, &err), &err);
	}
	unsigned char *big = malloc(BIG_WRITE_LEN);
	assert_non_null(big);
	for (size_t i = 0; i < BIG_WRITE_LEN; i++)
		big[i] = stream_byte(i);
	int rc = conn_write(client, big, BIG_WRITE_LEN, &err);
	free(big);
	assert_ok(rc, &err);
	assert_ok(conn_write(client, "END\r\n", 5, &err), &err);
	assert_ok(conn_write(client, "", 0, &err), &err);
	EXPECT_LINE("OK"); /* reading flushes what is queued */
	close_client();
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_writes_queued_and_large(void **state)
{
	(void)state;
	uint16_t port = server_start(script_sink, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	write_pieces_and_big_block();
}

static void test_flush_sends_queued_bytes(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, NULL);
	struct conn_params params = params_for("localhost", port, TLS_NONE);
	open_client(&params);
	EXPECT_LINE("+OK hello");
	struct yb_error err;
	assert_ok(conn_write(client, "HEL", 3, &err), &err);
	assert_ok(conn_write(client, "LO\r\n", 4, &err), &err);
	assert_ok(conn_flush(client, &err), &err);
	assert_ok(conn_flush(client, &err), &err); /* nothing left: no-op */
	EXPECT_LINE("ECHO HELLO");
	close_client();
	assert_int_equal(server_join(), SERVER_OK);
}

/* ---- no secret stays in the output buffer ---- */

#define SECRET_PASS "PASS s3cret-pass"
#define SECRET_TOKEN "AUTH s3cret-token"
#define FILLER_LEN ((size_t)6000) /* more than the buffer's first size */

/*
 * This definition takes the place of libcrypto's for the client, so a
 * test can see which blocks were wiped before they were freed (reading a
 * freed block itself would be undefined).  The wiping is libcrypto's.
 */
#define CLEANSE_LOG_MAX 64
static struct {
	uintptr_t at;
	size_t len;
} cleanse_log[CLEANSE_LOG_MAX];
static size_t cleanse_count;
static bool cleanse_watch;

typedef void (*cleanse_fn)(void *, size_t);

void OPENSSL_cleanse(void *ptr, size_t len)
{
	static cleanse_fn real;
	if (!real)
		real = (cleanse_fn)dlsym(RTLD_NEXT, "OPENSSL_cleanse");
	if (real) {
		real(ptr, len);
	} else {
		volatile unsigned char *bytes = ptr;
		for (size_t i = 0; i < len; i++)
			bytes[i] = 0;
	}
	if (cleanse_watch && cleanse_count < CLEANSE_LOG_MAX) {
		cleanse_log[cleanse_count].at = (uintptr_t)ptr;
		cleanse_log[cleanse_count].len = len;
		cleanse_count++;
	}
}

static void cleanse_watch_start(void)
{
	cleanse_count = 0;
	cleanse_watch = true;
}

/* Was the whole block [at, at + len) wiped while we watched? */
static bool cleansed(uintptr_t at, size_t len)
{
	cleanse_watch = false;
	for (size_t i = 0; i < cleanse_count; i++)
		if (cleanse_log[i].at <= at &&
		    cleanse_log[i].at + cleanse_log[i].len >= at + len)
			return true;
	return false;
}

/* Does any byte of the output buffer, queued or not, still spell text? */
static bool out_memory_holds(const char *text)
{
	size_t cap = 0;
	const char *memory = conn_out_memory(client, &cap);
	return memory && memmem(memory, cap, text, strlen(text)) != NULL;
}

static int script_secrets(struct peer *peer)
{
	if (!peer_expect_line(peer, SECRET_PASS) ||
	    !peer_expect_line(peer, SECRET_TOKEN))
		return SERVER_MISMATCH;
	char *filler = malloc(FILLER_LEN);
	bool same = filler && peer_read_exact(peer, filler, FILLER_LEN);
	for (size_t i = 0; same && i < FILLER_LEN; i++)
		same = filler[i] == 'x';
	free(filler);
	if (!same)
		return SERVER_MISMATCH;
	if (!peer_send_text(peer, "+OK\r\n"))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

static void write_text(const char *text)
{
	struct yb_error err;
	assert_ok(conn_write(client, text, strlen(text), &err), &err);
}

/*
 * A line carrying a password is gone from the buffer once it is sent;
 * when the buffer grows with a token queued, the old block is wiped
 * before it is freed, and so is the last one on close.
 */
static void test_secrets_wiped_from_output_buffer(void **state)
{
	(void)state;
	uint16_t port = server_start(script_secrets, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	struct yb_error err;
	write_text(SECRET_PASS "\r\n");
	assert_true(out_memory_holds("s3cret-pass")); /* the test can see it */
	assert_ok(conn_flush(client, &err), &err);
	assert_false(out_memory_holds("s3cret-pass"));

	size_t first_cap = 0;
	uintptr_t first = (uintptr_t)conn_out_memory(client, &first_cap);
	write_text(SECRET_TOKEN "\r\n");
	char *filler = malloc(FILLER_LEN + 1);
	assert_non_null(filler);
	memset(filler, 'x', FILLER_LEN);
	filler[FILLER_LEN] = '\0';
	cleanse_watch_start();
	write_text(filler);
	free(filler);
	size_t grown_cap = 0;
	uintptr_t grown = (uintptr_t)conn_out_memory(client, &grown_cap);
	assert_true(grown_cap > first_cap); /* it did grow */
	assert_true(cleansed(first, first_cap));
	assert_true(out_memory_holds("s3cret-token")); /* still queued */
	EXPECT_LINE("+OK"); /* reading flushes */
	assert_false(out_memory_holds("s3cret-token"));

	write_text(SECRET_PASS "\r\n"); /* queued, never sent */
	cleanse_watch_start();
	close_client();
	assert_true(cleansed(grown, grown_cap));
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_write_to_closed_peer_fails_without_sigpipe(void **state)
{
	(void)state;
	uint16_t port = server_start(script_hang_up, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	assert_int_equal(server_join(), SERVER_OK);
	static char block[65536];
	struct yb_error err;
	int rc = YB_OK;
	for (int i = 0; i < 200 && rc == YB_OK; i++) {
		rc = conn_write(client, block, sizeof(block), &err);
		if (rc == YB_OK)
			rc = conn_flush(client, &err);
		usleep(5000);
	}
	assert_fails(rc, &err, YB_ERR_PROTOCOL,
		     "connection closed by 127.0.0.1");
}

static void test_connection_refused(void **state)
{
	(void)state;
	/* Bound but not listening: the port is ours and refuses. */
	int fd = listen_socket(AF_INET, "127.0.0.1", 0);
	assert_true(fd >= 0);
	hold_fd(fd);
	uint16_t port = socket_port(fd);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	struct yb_error err;
	struct conn *conn = NULL;
	int rc = conn_open(&params, &conn, &err);
	assert_null(conn);
	assert_fails(rc, &err, YB_ERR_UNAVAILABLE,
		     "cannot connect to 127.0.0.1:");
	assert_non_null(strstr(err.msg, "Connection refused"));
}

static void test_connect_timeout(void **state)
{
	(void)state;
	/* A listener whose queue is full drops new SYNs: connect hangs. */
	int fd = listen_socket(AF_INET, "127.0.0.1", 0);
	assert_true(fd >= 0);
	hold_fd(fd);
	assert_int_equal(listen(fd, 0), 0);
	uint16_t port = socket_port(fd);
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	for (int i = 0; i < 2; i++) {
		int filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(filler >= 0);
		hold_fd(filler);
		connect(filler, (struct sockaddr *)&addr, sizeof(addr));
	}
	usleep(100000);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	params.timeout_sec = 1;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct yb_error err;
	struct conn *conn = NULL;
	int rc = conn_open(&params, &conn, &err);
	double elapsed = seconds_since(&start);
	assert_null(conn);
	assert_fails(rc, &err, YB_ERR_TEMP, "timed out after 1 s");
	assert_non_null(strstr(err.msg, "connecting to 127.0.0.1:"));
	assert_true(elapsed >= 0.9 && elapsed < 3.0);
}

static void test_read_timeout(void **state)
{
	(void)state;
	uint16_t port = server_start(script_silent, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	params.timeout_sec = 1;
	open_client(&params);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct yb_error err;
	const char *line;
	size_t len;
	int rc = conn_read_line(client, 100, &line, &len, &err);
	double elapsed = seconds_since(&start);
	assert_fails(rc, &err, YB_ERR_TEMP, "reading from 127.0.0.1:");
	assert_non_null(strstr(err.msg, "timed out after 1 s"));
	assert_true(elapsed >= 0.9 && elapsed < 2.5);
}

static void test_peer_closes_mid_line(void **state)
{
	(void)state;
	static const char data[] = "+OK whole\r\n+OK part";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_drop, NULL);
	struct conn_params params = params_for("127.0.0.1", port, TLS_NONE);
	open_client(&params);
	EXPECT_LINE("+OK whole");
	struct yb_error err;
	const char *line;
	size_t len;
	int rc = conn_read_line(client, 100, &line, &len, &err);
	assert_fails(rc, &err, YB_ERR_PROTOCOL,
		     "connection closed by 127.0.0.1:");
}

static void test_unresolvable_host(void **state)
{
	(void)state;
	struct conn_params params = params_for("nonexistent.invalid", 110,
					       TLS_NONE);
	struct yb_error err;
	struct conn *conn = NULL;
	int rc = conn_open(&params, &conn, &err);
	assert_null(conn);
	assert_fails(rc, &err, YB_ERR_UNAVAILABLE,
		     "cannot resolve nonexistent.invalid: ");
}

static void test_localhost_by_name(void **state)
{
	(void)state;
	static const char data[] = "+OK hi\r\n";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_wait, NULL);
	struct conn_params params = params_for("localhost", port, TLS_NONE);
	open_client(&params);
	char expected[32];
	snprintf(expected, sizeof(expected), "localhost:%u", (unsigned)port);
	assert_string_equal(conn_peer(client), expected);
	EXPECT_LINE("+OK hi");
}

/*
 * "localhost" as ::1 then 127.0.0.1, whatever /etc/hosts says: this test
 * program's own getaddrinfo answers for it while fake_dual_localhost is
 * set, and passes every other question to the C library.
 */
static bool fake_dual_localhost;
static unsigned fake_lookups;
static struct sockaddr_in6 fake_v6;
static struct sockaddr_in fake_v4;
static struct addrinfo fake_list[2];

typedef int (*getaddrinfo_fn)(const char *, const char *,
			      const struct addrinfo *, struct addrinfo **);
typedef void (*freeaddrinfo_fn)(struct addrinfo *);

static struct addrinfo *fake_localhost(uint16_t port)
{
	memset(fake_list, 0, sizeof(fake_list));
	memset(&fake_v6, 0, sizeof(fake_v6));
	memset(&fake_v4, 0, sizeof(fake_v4));
	fake_v6.sin6_family = AF_INET6;
	fake_v6.sin6_port = htons(port);
	fake_v6.sin6_addr = in6addr_loopback;
	fake_v4.sin_family = AF_INET;
	fake_v4.sin_port = htons(port);
	fake_v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fake_list[0].ai_family = AF_INET6;
	fake_list[0].ai_socktype = SOCK_STREAM;
	fake_list[0].ai_protocol = IPPROTO_TCP;
	fake_list[0].ai_addr = (struct sockaddr *)&fake_v6;
	fake_list[0].ai_addrlen = sizeof(fake_v6);
	fake_list[0].ai_next = &fake_list[1];
	fake_list[1].ai_family = AF_INET;
	fake_list[1].ai_socktype = SOCK_STREAM;
	fake_list[1].ai_protocol = IPPROTO_TCP;
	fake_list[1].ai_addr = (struct sockaddr *)&fake_v4;
	fake_list[1].ai_addrlen = sizeof(fake_v4);
	return fake_list;
}

int getaddrinfo(const char *node, const char *service,
		const struct addrinfo *hints, struct addrinfo **res)
{
	if (fake_dual_localhost && node && service &&
	    strcmp(node, "localhost") == 0) {
		char *end = NULL;
		unsigned long port = strtoul(service, &end, 10);
		if (!end || *end != '\0' || port > 65535)
			return EAI_SERVICE;
		fake_lookups++;
		*res = fake_localhost((uint16_t)port);
		return 0;
	}
	getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
	return real ? real(node, service, hints, res) : EAI_FAIL;
}

void freeaddrinfo(struct addrinfo *list)
{
	if (list == fake_list)
		return; /* static storage */
	freeaddrinfo_fn real =
		(freeaddrinfo_fn)dlsym(RTLD_NEXT, "freeaddrinfo");
	if (real)
		real(list);
}

/* Bind ::1 on the port of fd (IPv4) so nothing listens there. */
static bool reserve_v6_twin(int v4_fd)
{
	int v6 = listen_socket(AF_INET6, "::1", socket_port(v4_fd));
	if (v6 < 0)
		return false;
	hold_fd(v6);
	return true;
}

/* An IPv4 socket on 127.0.0.1 whose port is also ours on ::1. */
static int v4_socket_with_v6_twin(void)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		int fd = listen_socket(AF_INET, "127.0.0.1", 0);
		assert_true(fd >= 0);
		if (reserve_v6_twin(fd))
			return fd;
		close(fd);
	}
	fail_msg("no port free on both 127.0.0.1 and ::1");
	return -1;
}

static void test_every_address_is_tried(void **state)
{
	(void)state;
	static const char data[] = "+OK via IPv4\r\n";
	script_data = data;
	script_len = sizeof(data) - 1;
	struct server_spec spec = { .script = script_send_then_wait };
	uint16_t port = server_start_on(v4_socket_with_v6_twin(), &spec);
	fake_dual_localhost = true;
	fake_lookups = 0;
	struct conn_params params = params_for("localhost", port, TLS_NONE);
	struct yb_error err;
	int rc = conn_open(&params, &client, &err);
	fake_dual_localhost = false;
	assert_ok(rc, &err);
	assert_int_equal(fake_lookups, 1); /* ::1 refused first, then IPv4 */
	EXPECT_LINE("+OK via IPv4");
}

static void test_all_addresses_refused(void **state)
{
	(void)state;
	int fd = v4_socket_with_v6_twin(); /* bound, never listening */
	hold_fd(fd);
	uint16_t port = socket_port(fd);
	fake_dual_localhost = true;
	fake_lookups = 0;
	struct conn_params params = params_for("localhost", port, TLS_NONE);
	struct yb_error err;
	struct conn *conn = NULL;
	int rc = conn_open(&params, &conn, &err);
	fake_dual_localhost = false;
	assert_null(conn);
	assert_int_equal(fake_lookups, 1);
	assert_fails(rc, &err, YB_ERR_UNAVAILABLE,
		     "cannot connect to localhost:");
	assert_non_null(strstr(err.msg, "Connection refused"));
}

static void test_ipv6_literal(void **state)
{
	(void)state;
	static const char data[] = "* OK over IPv6\r\n";
	script_data = data;
	script_len = sizeof(data) - 1;
	struct server_spec spec = { .script = script_send_then_wait };
	uint16_t port = server_start_on(listen_socket(AF_INET6, "::1", 0),
					&spec);
	struct conn_params params = params_for("::1", port, TLS_NONE);
	open_client(&params);
	char expected[32];
	snprintf(expected, sizeof(expected), "[::1]:%u", (unsigned)port);
	assert_string_equal(conn_peer(client), expected);
	EXPECT_LINE("* OK over IPv6");
}

/* ---- TLS ---- */

static struct conn_params tls_params(const char *host, uint16_t port)
{
	struct conn_params params = params_for(host, port, TLS_IMPLICIT);
	params.tls_ca_file = kit.ca_path;
	return params;
}

/* The last failure expect_open_fails saw, for further checks. */
static struct yb_error open_err;

/* conn_open must fail with status and a message holding text. */
static void expect_open_fails(const struct conn_params *params, int status,
			      const char *text)
{
	struct conn *conn = NULL;
	int rc = conn_open(params, &conn, &open_err);
	assert_null(conn);
	assert_fails(rc, &open_err, status, text);
}

static void say_hello(void)
{
	EXPECT_LINE("+OK hello");
	struct yb_error err;
	assert_ok(conn_write(client, "HELLO\r\n", 7, &err), &err);
	EXPECT_LINE("ECHO HELLO");
	close_client();
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_tls_trusted_ca(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, kit.good);
	struct conn_params params = tls_params("localhost", port);
	open_client(&params);
	assert_true(conn_is_tls(client));
	say_hello();
}

static void test_tls_ip_literal_checks_ip_and_sends_no_sni(void **state)
{
	(void)state;
	uint16_t port = server_start(script_report_sni, kit.good);
	struct conn_params params = tls_params("127.0.0.1", port);
	open_client(&params);
	EXPECT_LINE("SNI -");
}

static void test_tls_sends_sni(void **state)
{
	(void)state;
	uint16_t port = server_start(script_report_sni, kit.good);
	struct conn_params params = tls_params("localhost", port);
	open_client(&params);
	EXPECT_LINE("SNI localhost");
}

static void test_tls_unknown_ca_refused(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, kit.good);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "TLS certificate of localhost:");
	assert_non_null(strstr(open_err.msg, "not trusted: "));
}

static void test_tls_unknown_ca_message(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, kit.good);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "not trusted: unable to get local issuer");
}

static void test_tls_expired_refused(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, kit.expired);
	struct conn_params params = tls_params("localhost", port);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "not trusted: certificate has expired");
}

static void test_tls_wrong_host_refused(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, kit.wrong_host);
	struct conn_params params = tls_params("localhost", port);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "not trusted: hostname mismatch");
}

static void test_tls_wrong_ip_refused(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, kit.wrong_host);
	struct conn_params params = tls_params("127.0.0.1", port);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "not trusted: IP address mismatch");
}

static void test_tls_self_signed_refused(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	/* "self-signed" in OpenSSL 3, "self signed" before. */
	expect_open_fails(&params, YB_ERR_UNAVAILABLE, "not trusted: self");
}

static void test_tls_verify_off_accepts_self_signed(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	params.tls_verify = false;
	open_client(&params);
	assert_true(conn_is_tls(client));
	say_hello();
}

static void pubkey_fingerprint_of(X509 *cert, unsigned char *digest)
{
	unsigned char *spki = NULL;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
	assert_true(len > 0);
	unsigned digest_len = 0;
	assert_int_equal(EVP_Digest(spki, (size_t)len, digest, &digest_len,
				    EVP_sha256(), NULL), 1);
	assert_int_equal(digest_len, 32);
	OPENSSL_free(spki);
}

/* Pins for params, kept here so they outlive the call. */
static struct tls_pin test_pins[TLS_PINS_MAX];

static void pin_params(struct conn_params *params, size_t index,
		       enum tls_pin_kind kind, const unsigned char *digest)
{
	assert_true(index < TLS_PINS_MAX);
	test_pins[index].kind = kind;
	memcpy(test_pins[index].sha256, digest, 32);
	params->tls_pins = test_pins;
	params->tls_pin_count = index + 1;
}

static void fingerprint_of(X509 *cert, unsigned char *digest)
{
	unsigned len = 0;
	assert_int_equal(X509_digest(cert, EVP_sha256(), digest, &len), 1);
	assert_int_equal(len, 32);
}

static void fingerprint_text(const unsigned char *digest, char *out,
			     size_t size)
{
	size_t used = (size_t)snprintf(out, size, "sha256:");
	for (size_t i = 0; i < 32; i++) {
		int n = snprintf(out + used, size - used, i ? ":%02X" : "%02X",
				 digest[i]);
		assert_true(n > 0 && (size_t)n < size - used);
		used += (size_t)n;
	}
}

static void test_tls_pin_alone_accepts(void **state)
{
	(void)state;
	unsigned char pin[32];
	fingerprint_of(kit.self_signed, pin);
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	params.tls_verify = false;
	pin_params(&params, 0, PIN_CERTIFICATE, pin);
	open_client(&params);
	say_hello();
}

static void test_tls_pin_wrong_shows_actual(void **state)
{
	(void)state;
	unsigned char pin[32], actual[32];
	fingerprint_of(kit.good, pin); /* another certificate's pin */
	fingerprint_of(kit.self_signed, actual);
	char actual_text[128];
	fingerprint_text(actual, actual_text, sizeof(actual_text));
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	params.tls_verify = false;
	pin_params(&params, 0, PIN_CERTIFICATE, pin);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE, actual_text);
}

static void test_tls_pin_wrong_with_verify(void **state)
{
	(void)state;
	unsigned char pin[32];
	fingerprint_of(kit.expired, pin);
	uint16_t port = server_start(script_echo_hello, kit.good);
	struct conn_params params = tls_params("localhost", port);
	pin_params(&params, 0, PIN_CERTIFICATE, pin);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE, "tls_fingerprint; "
			  "the server presented sha256:");
}

static void test_tls_pin_and_verify_both_pass(void **state)
{
	(void)state;
	unsigned char pin[32];
	fingerprint_of(kit.good, pin);
	uint16_t port = server_start(script_echo_hello, kit.good);
	struct conn_params params = tls_params("localhost", port);
	pin_params(&params, 0, PIN_CERTIFICATE, pin);
	open_client(&params);
	say_hello();
}

/* Every leaf shares kit.key: a re-issued certificate keeps its key pin. */
static void test_tls_pubkey_pin_survives_reissue(void **state)
{
	(void)state;
	unsigned char key_pin[32];
	pubkey_fingerprint_of(kit.good, key_pin);
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	params.tls_verify = false;
	pin_params(&params, 0, PIN_PUBLIC_KEY, key_pin);
	open_client(&params);
	say_hello();
}

static void test_tls_pubkey_pin_wrong_refused(void **state)
{
	(void)state;
	unsigned char ca_key_pin[32], actual[32];
	pubkey_fingerprint_of(kit.ca, ca_key_pin);
	fingerprint_of(kit.self_signed, actual);
	char actual_text[128];
	fingerprint_text(actual, actual_text, sizeof(actual_text));
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	params.tls_verify = false;
	pin_params(&params, 0, PIN_PUBLIC_KEY, ca_key_pin);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE, actual_text);
	assert_non_null(strstr(open_err.msg, "(public key pubkey-sha256:"));
}

/* A certificate pin of the wrong certificate does not match its key. */
static void test_tls_pin_kinds_are_not_mixed(void **state)
{
	(void)state;
	unsigned char key_pin[32];
	pubkey_fingerprint_of(kit.self_signed, key_pin);
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	params.tls_verify = false;
	pin_params(&params, 0, PIN_CERTIFICATE, key_pin);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE, "tls_fingerprint");
}

static void test_tls_pin_list_one_match_is_enough(void **state)
{
	(void)state;
	unsigned char old_pin[32], new_pin[32];
	fingerprint_of(kit.ca, old_pin);
	fingerprint_of(kit.self_signed, new_pin);
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	params.tls_verify = false;
	pin_params(&params, 0, PIN_PUBLIC_KEY, old_pin);
	pin_params(&params, 1, PIN_CERTIFICATE, new_pin);
	open_client(&params);
	say_hello();
}

/* Connect by address, verify and send SNI for the name. */
static void test_tls_server_name_is_checked_and_sent(void **state)
{
	(void)state;
	uint16_t port = server_start(script_report_sni, kit.wrong_host);
	struct conn_params params = tls_params("127.0.0.1", port);
	params.tls_server_name = "mail.other.invalid";
	open_client(&params);
	EXPECT_LINE("SNI mail.other.invalid");
}

static void test_tls_server_name_mismatch_refused(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, kit.good);
	struct conn_params params = tls_params("127.0.0.1", port);
	params.tls_server_name = "imap.example.invalid";
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "not valid for imap.example.invalid");
}

static int script_report_client(struct peer *peer)
{
	X509 *cert = SSL_get1_peer_certificate(peer->ssl);
	char cn[128] = "-";
	if (cert)
		X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
					  NID_commonName, cn, sizeof(cn));
	X509_free(cert);
	char line[200];
	snprintf(line, sizeof(line), "CLIENT %s\r\n", cn);
	if (!peer_send_text(peer, line))
		return SERVER_IO;
	return peer_wait_eof(peer);
}

static void test_tls_client_cert_presented(void **state)
{
	(void)state;
	server_wants_client_cert = true;
	uint16_t port = server_start(script_report_client, kit.good);
	server_wants_client_cert = false;
	struct conn_params params = tls_params("localhost", port);
	params.tls_cert_file = kit.client_cert_path;
	params.tls_key_file = kit.client_key_path;
	open_client(&params);
	EXPECT_LINE("CLIENT yubin client");
}

/* Client-side files are checked before any traffic (port 1 is refused). */
static void test_tls_client_key_readable_by_others_refused(void **state)
{
	(void)state;
	struct conn_params params = tls_params("localhost", 1);
	params.tls_cert_file = kit.client_cert_path;
	params.tls_key_file = kit.open_key_path;
	expect_open_fails(&params, YB_ERR_CONFIG, kit.open_key_path);
	assert_non_null(strstr(open_err.msg, "readable by group or others"));
}

static void test_tls_client_key_mismatch_refused(void **state)
{
	(void)state;
	struct conn_params params = tls_params("localhost", 1);
	params.tls_cert_file = kit.client_cert_path;
	params.tls_key_file = kit.other_key_path;
	expect_open_fails(&params, YB_ERR_CONFIG, "does not belong");
	assert_non_null(strstr(open_err.msg, kit.other_key_path));
	assert_non_null(strstr(open_err.msg, kit.client_cert_path));
}

static void test_tls_client_cert_missing_refused(void **state)
{
	(void)state;
	struct conn_params params = tls_params("localhost", 1);
	params.tls_cert_file = kit.missing_path;
	params.tls_key_file = kit.client_key_path;
	expect_open_fails(&params, YB_ERR_CONFIG, kit.missing_path);
}

static void test_tls_client_cert_garbage_refused(void **state)
{
	(void)state;
	struct conn_params params = tls_params("localhost", 1);
	params.tls_cert_file = kit.garbage_path;
	params.tls_key_file = kit.client_key_path;
	expect_open_fails(&params, YB_ERR_CONFIG, "no usable certificate");
}

/* Checked before any traffic: no server needed, the port is refused. */
static void test_tls_ca_file_missing(void **state)
{
	(void)state;
	struct conn_params params = tls_params("localhost", 1);
	params.tls_ca_file = kit.missing_path;
	expect_open_fails(&params, YB_ERR_CONFIG, kit.missing_path);
	assert_non_null(strstr(open_err.msg, "No such file"));
	params.tls = TLS_STARTTLS;
	expect_open_fails(&params, YB_ERR_CONFIG, kit.missing_path);
}

static void test_tls_ca_file_garbage(void **state)
{
	(void)state;
	struct conn_params params = tls_params("localhost", 1);
	params.tls_ca_file = kit.garbage_path;
	expect_open_fails(&params, YB_ERR_CONFIG, kit.garbage_path);
	assert_non_null(strstr(open_err.msg, "no usable certificate"));
}

/* A raw OpenSSL client that accepts exactly TLS 1.1: the control. */
static bool tls11_client_connects(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	bool ok = ctx != NULL;
	if (ok) {
		SSL_CTX_set_security_level(ctx, 0);
		ok = SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0") == 1 &&
		     SSL_CTX_set_min_proto_version(ctx, TLS1_1_VERSION) == 1 &&
		     SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION) == 1;
		ssl = ok ? SSL_new(ctx) : NULL;
	}
	ok = ok && ssl && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1 &&
	     SSL_version(ssl) == TLS1_1_VERSION;
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return ok;
}

static void test_tls11_server_refused(void **state)
{
	(void)state;
	struct server_spec spec = { .script = script_echo_hello,
				    .tls_cert = kit.good,
				    .tls_only_version = TLS1_1_VERSION };
	/* The control: this server really does speak TLS 1.1. */
	uint16_t port = server_start_on(listen_socket(AF_INET, "127.0.0.1", 0),
					&spec);
	assert_true(tls11_client_connects(port));
	kill(server_pid, SIGKILL);
	server_join();
	port = server_start_on(listen_socket(AF_INET, "127.0.0.1", 0), &spec);
	struct conn_params params = tls_params("localhost", port);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "TLS handshake with localhost:");
	assert_non_null(strstr(open_err.msg, "TLS 1.2 or later is required"));
}

static void test_tls13_minimum_refuses_tls12_server(void **state)
{
	(void)state;
	struct server_spec spec = { .script = script_echo_hello,
				    .tls_cert = kit.good,
				    .tls_only_version = TLS1_2_VERSION };
	uint16_t port = server_start_on(listen_socket(AF_INET, "127.0.0.1", 0),
					&spec);
	struct conn_params params = tls_params("localhost", port);
	params.tls_min_version = 13;
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "TLS handshake with localhost:");
	assert_non_null(strstr(open_err.msg, "tls_min_version"));
	kill(server_pid, SIGKILL);
	server_join();
	/* The control: the same server with the default minimum works. */
	port = server_start_on(listen_socket(AF_INET, "127.0.0.1", 0), &spec);
	params = tls_params("localhost", port);
	struct conn *conn = NULL;
	struct yb_error err;
	assert_int_equal(conn_open(&params, &conn, &err), YB_OK);
	conn_close(conn);
	server_join();
}

static void test_tls_to_plain_server_fails(void **state)
{
	(void)state;
	static const char data[] = "+OK POP3 ready, no TLS here\r\n";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_wait, NULL);
	struct conn_params params = tls_params("localhost", port);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "TLS handshake with localhost:");
	assert_non_null(strstr(open_err.msg, "does not speak TLS"));
}

static void test_tls_handshake_timeout(void **state)
{
	(void)state;
	uint16_t port = server_start(script_silent, NULL);
	struct conn_params params = tls_params("localhost", port);
	params.timeout_sec = 1;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	expect_open_fails(&params, YB_ERR_TEMP,
			  "TLS handshake with localhost:");
	/* The silent server would hold out SERVER_ALARM seconds; the bound
	   leaves room for valgrind loading the trust store on a busy host. */
	assert_true(seconds_since(&start) < CLIENT_TIMEOUT / 2);
}

static void test_tls_read_timeout(void **state)
{
	(void)state;
	uint16_t port = server_start(script_silent, kit.good);
	struct conn_params params = tls_params("localhost", port);
	params.timeout_sec = 1;
	open_client(&params);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct yb_error err;
	const char *data;
	size_t len;
	int rc = conn_peek(client, &data, &len, &err);
	assert_fails(rc, &err, YB_ERR_TEMP, "reading from localhost:");
	assert_true(seconds_since(&start) < CLIENT_TIMEOUT / 2);
}

static void test_tls_peek_consume_5mb_stream(void **state)
{
	(void)state;
	uint16_t port = server_start(script_stream, kit.good);
	struct conn_params params = tls_params("localhost", port);
	open_client(&params);
	read_stream_and_eof();
}

static void test_tls_writes_queued_and_large(void **state)
{
	(void)state;
	uint16_t port = server_start(script_sink, kit.good);
	struct conn_params params = tls_params("localhost", port);
	open_client(&params);
	write_pieces_and_big_block();
}

static void test_tls_peer_drops_mid_line(void **state)
{
	(void)state;
	static const char data[] = "* OK whole\r\n* OK part";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_drop, kit.good);
	struct conn_params params = tls_params("localhost", port);
	open_client(&params);
	EXPECT_LINE("* OK whole");
	struct yb_error err;
	const char *line;
	size_t len;
	int rc = conn_read_line(client, 100, &line, &len, &err);
	assert_fails(rc, &err, YB_ERR_PROTOCOL,
		     "connection closed by localhost:");
}

static void test_tls_close_notify_mid_line(void **state)
{
	(void)state;
	static const char data[] = "* OK whole\r\n* OK part";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_close_notify, kit.good);
	struct conn_params params = tls_params("localhost", port);
	open_client(&params);
	EXPECT_LINE("* OK whole");
	struct yb_error err;
	const char *line;
	size_t len;
	int rc = conn_read_line(client, 100, &line, &len, &err);
	assert_fails(rc, &err, YB_ERR_PROTOCOL,
		     "connection closed by localhost:");
}

static void test_tls_write_to_closed_peer_fails_without_sigpipe(void **state)
{
	(void)state;
	uint16_t port = server_start(script_hang_up, kit.good);
	struct conn_params params = tls_params("localhost", port);
	open_client(&params);
	assert_int_equal(server_join(), SERVER_OK);
	static char block[65536];
	struct yb_error err;
	int rc = YB_OK;
	for (int i = 0; i < 200 && rc == YB_OK; i++) {
		rc = conn_write(client, block, sizeof(block), &err);
		if (rc == YB_OK)
			rc = conn_flush(client, &err);
		usleep(5000);
	}
	assert_fails(rc, &err, YB_ERR_PROTOCOL,
		     "connection closed by localhost:");
}

/* ---- STARTTLS ---- */

static void start_plain_for_starttls(script_fn script)
{
	starttls_cert = kit.good;
	uint16_t port = server_start(script, NULL);
	struct conn_params params = params_for("localhost", port, TLS_STARTTLS);
	params.tls_ca_file = kit.ca_path;
	open_client(&params);
	assert_false(conn_is_tls(client));
	EXPECT_LINE("+OK ready");
	struct yb_error err;
	assert_ok(conn_write(client, "STLS\r\n", 6, &err), &err);
	EXPECT_LINE("+OK begin TLS");
}

static void test_starttls_upgrade(void **state)
{
	(void)state;
	start_plain_for_starttls(script_starttls);
	struct yb_error err;
	assert_ok(conn_start_tls(client, &err), &err);
	assert_true(conn_is_tls(client));
	assert_ok(conn_write(client, "HELLO\r\n", 7, &err), &err);
	EXPECT_LINE("ECHO HELLO");
	int rc = conn_start_tls(client, &err);
	assert_fails(rc, &err, YB_ERR_INTERNAL, "already");
	close_client();
	assert_int_equal(server_join(), SERVER_OK);
}

static void test_starttls_injection_in_buffer(void **state)
{
	(void)state;
	start_plain_for_starttls(script_starttls_inject);
	struct yb_error err;
	int rc = conn_start_tls(client, &err);
	assert_fails(rc, &err, YB_ERR_PROTOCOL, "possible STARTTLS injection");
	assert_non_null(strstr(err.msg, "localhost:"));
	assert_false(conn_is_tls(client));
}

static void test_starttls_injection_in_socket(void **state)
{
	(void)state;
	start_plain_for_starttls(script_starttls_inject_late);
	usleep(500000); /* the late bytes reach our socket, not our buffer */
	struct yb_error err;
	int rc = conn_start_tls(client, &err);
	assert_fails(rc, &err, YB_ERR_PROTOCOL, "possible STARTTLS injection");
}

static void test_starttls_refuses_unsent_plain_text(void **state)
{
	(void)state;
	start_plain_for_starttls(script_starttls);
	struct yb_error err;
	assert_ok(conn_write(client, "USER alice\r\n", 12, &err), &err);
	int rc = conn_start_tls(client, &err);
	assert_fails(rc, &err, YB_ERR_INTERNAL, "before the TLS handshake");
}

static void test_close_null_is_fine(void **state)
{
	(void)state;
	conn_close(NULL);
	struct yb_error err;
	struct conn *conn = NULL;
	int rc = conn_open(NULL, &conn, &err);
	assert_int_equal(rc, YB_ERR_INTERNAL);
	assert_null(conn);
}

/* ---- hints: what to change when a setup is wrong ---- */

static void test_connection_refused_names_the_cause(void **state)
{
	(void)state;
	int fd = listen_socket(AF_INET, "127.0.0.1", 0);
	assert_true(fd >= 0);
	hold_fd(fd);
	struct conn_params params = params_for("localhost", socket_port(fd),
					       TLS_NONE);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE, "cannot connect to "
			  "localhost:");
	/* localhost may also be ::1: "(2 addresses, the last ...)". */
	assert_non_null(strstr(open_err.msg, "address"));
	assert_non_null(strstr(open_err.msg, "Connection refused: nothing "
			       "listens on that port: a wrong port"));
}

static void test_unresolvable_host_names_the_key(void **state)
{
	(void)state;
	struct conn_params params = params_for("nonexistent.invalid", 110,
					       TLS_NONE);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "check the host name (host)");
}

/* A pin stands in for a CA: no tls_verify: false needed. */
static void test_tls_pin_is_a_trust_anchor(void **state)
{
	(void)state;
	unsigned char pin[32];
	fingerprint_of(kit.self_signed, pin);
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	pin_params(&params, 0, PIN_CERTIFICATE, pin); /* verify is on */
	open_client(&params);
	say_hello();
}

static void test_tls_pin_anchor_excuses_expiry(void **state)
{
	(void)state;
	unsigned char key_pin[32];
	pubkey_fingerprint_of(kit.expired, key_pin);
	uint16_t port = server_start(script_echo_hello, kit.expired);
	struct conn_params params = tls_params("localhost", port);
	pin_params(&params, 0, PIN_PUBLIC_KEY, key_pin);
	open_client(&params);
	say_hello();
}

/* The pin names a certificate; the account still names the server. */
static void test_tls_pin_anchor_still_checks_the_name(void **state)
{
	(void)state;
	unsigned char pin[32];
	fingerprint_of(kit.wrong_host, pin);
	uint16_t port = server_start(script_echo_hello, kit.wrong_host);
	struct conn_params params = tls_params("localhost", port);
	params.account = "work";
	pin_params(&params, 0, PIN_CERTIFICATE, pin);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "it is not valid for localhost; set host, or "
			  "tls_server_name");
	assert_non_null(strstr(open_err.msg, "yubin --show-cert work"));
}

static void test_tls_untrusted_pin_mismatch_shows_fingerprint(void **state)
{
	(void)state;
	unsigned char pin[32], actual[32];
	fingerprint_of(kit.good, pin);
	fingerprint_of(kit.self_signed, actual);
	char actual_text[128];
	fingerprint_text(actual, actual_text, sizeof(actual_text));
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	params.tls_ca_file = NULL;
	pin_params(&params, 0, PIN_CERTIFICATE, pin); /* verify is on */
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "does not match tls_fingerprint");
	assert_non_null(strstr(open_err.msg, actual_text));
	assert_non_null(strstr(open_err.msg, "nor does a CA vouch for it"));
}

static void test_tls_untrusted_names_the_fixes(void **state)
{
	(void)state;
	uint16_t port = server_start(script_echo_hello, kit.self_signed);
	struct conn_params params = tls_params("localhost", port);
	params.account = "work";
	expect_open_fails(&params, YB_ERR_UNAVAILABLE, "not trusted: self");
	assert_non_null(strstr(open_err.msg, "tls_ca_file"));
	assert_non_null(strstr(open_err.msg, "tls_fingerprint"));
	assert_non_null(strstr(open_err.msg, "yubin --show-cert work"));
}

static void test_tls_to_plain_server_says_use_starttls(void **state)
{
	(void)state;
	static const char data[] = "+OK POP3 ready\r\n";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_wait, NULL);
	struct conn_params params = tls_params("localhost", port);
	expect_open_fails(&params, YB_ERR_UNAVAILABLE,
			  "the server sent plain text (\"+OK POP3 ready\")");
	assert_non_null(strstr(open_err.msg, "use tls: starttls (or port "
			       "993/995"));
}

/* conn_wait_greeting on a plain connection to port; its result. */
static int wait_greeting_on(uint16_t port, unsigned timeout_sec,
			    struct yb_error *err, double *elapsed)
{
	struct conn_params params = params_for("127.0.0.1", port,
					       TLS_STARTTLS);
	params.timeout_sec = timeout_sec;
	open_client(&params);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int rc = conn_wait_greeting(client, err);
	*elapsed = seconds_since(&start);
	return rc;
}

static void test_greeting_is_left_for_reading(void **state)
{
	(void)state;
	static const char data[] = "+OK hi\r\n";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_wait, NULL);
	struct yb_error err;
	double elapsed;
	assert_ok(wait_greeting_on(port, CLIENT_TIMEOUT, &err, &elapsed),
		  &err);
	EXPECT_LINE("+OK hi");
}

static void test_greeting_tls_record_refused_at_once(void **state)
{
	(void)state;
	/* An alert record, as some TLS servers send to a silent client. */
	static const char data[] = "\x15\x03\x03\x00\x02\x02\x32";
	script_data = data;
	script_len = sizeof(data) - 1;
	uint16_t port = server_start(script_send_then_wait, NULL);
	struct yb_error err;
	double elapsed;
	int rc = wait_greeting_on(port, CLIENT_TIMEOUT, &err, &elapsed);
	assert_fails(rc, &err, YB_ERR_UNAVAILABLE, "sent a TLS record "
		     "instead of a greeting: this port speaks TLS from the "
		     "first byte: use tls: implicit (or port 143/110 for "
		     "STARTTLS)");
	assert_true(elapsed < 2.0);
}

/* An implicit-TLS port: the first connection waits for a ClientHello,
   the second (the probe) gets a real handshake. */
static void run_tls_port_child(int listen_fd)
{
	alarm(SERVER_ALARM);
	int silent = accept(listen_fd, NULL, NULL);
	struct peer probe = { .fd = accept(listen_fd, NULL, NULL) };
	close(listen_fd);
	if (silent < 0 || probe.fd < 0)
		_exit(SERVER_IO);
	(void)accept_tls(&probe, kit.good, 0); /* the probe hangs up */
	struct peer first = { .fd = silent };
	_exit(peer_wait_eof(&first));
}

static void test_greeting_silent_tls_port_detected(void **state)
{
	(void)state;
	int fd = listen_socket(AF_INET, "127.0.0.1", 0);
	assert_true(fd >= 0);
	assert_int_equal(listen(fd, 8), 0);
	uint16_t port = socket_port(fd);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		run_tls_port_child(fd);
	close(fd);
	server_pid = pid;
	struct yb_error err;
	double elapsed;
	int rc = wait_greeting_on(port, 60, &err, &elapsed);
	assert_fails(rc, &err, YB_ERR_UNAVAILABLE, "sent no greeting, and "
		     "answers a TLS handshake: this port speaks TLS from the "
		     "first byte: use tls: implicit");
	assert_true(elapsed >= 4.5 && elapsed < 10.0);
}

/* Silent, and no TLS on a second connection: the timeout as before. */
static void test_greeting_silent_plain_server_times_out(void **state)
{
	(void)state;
	uint16_t port = server_start(script_silent, NULL);
	struct yb_error err;
	double elapsed;
	int rc = wait_greeting_on(port, 1, &err, &elapsed);
	assert_fails(rc, &err, YB_ERR_TEMP, "timed out after 1 s");
	assert_true(elapsed >= 0.9 && elapsed < 3.0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_plain_lines),
		T(test_plain_lines_one_byte_at_a_time),
		T(test_line_at_max_len_accepted),
		T(test_line_longer_than_max_len_refused),
		T(test_endless_line_refused_without_waiting),
		T(test_max_len_is_capped_at_conn_line_max),
		T(test_many_lines_stream_through_the_buffer),
		T(test_peek_consume_5mb_stream),
		T(test_peek_without_consume_reads_more),
		T(test_line_then_body_bytes),
		T(test_writes_queued_and_large),
		T(test_flush_sends_queued_bytes),
		T(test_secrets_wiped_from_output_buffer),
		T(test_write_to_closed_peer_fails_without_sigpipe),
		T(test_connection_refused),
		T(test_connect_timeout),
		T(test_read_timeout),
		T(test_peer_closes_mid_line),
		T(test_unresolvable_host),
		T(test_localhost_by_name),
		T(test_every_address_is_tried),
		T(test_all_addresses_refused),
		T(test_ipv6_literal),
		T(test_tls_trusted_ca),
		T(test_tls_ip_literal_checks_ip_and_sends_no_sni),
		T(test_tls_sends_sni),
		T(test_tls_unknown_ca_refused),
		T(test_tls_unknown_ca_message),
		T(test_tls_expired_refused),
		T(test_tls_wrong_host_refused),
		T(test_tls_wrong_ip_refused),
		T(test_tls_self_signed_refused),
		T(test_tls_verify_off_accepts_self_signed),
		T(test_tls_pin_alone_accepts),
		T(test_tls_pin_wrong_shows_actual),
		T(test_tls_pin_wrong_with_verify),
		T(test_tls_pin_and_verify_both_pass),
		T(test_tls_pubkey_pin_survives_reissue),
		T(test_tls_pubkey_pin_wrong_refused),
		T(test_tls_pin_kinds_are_not_mixed),
		T(test_tls_pin_list_one_match_is_enough),
		T(test_tls_server_name_is_checked_and_sent),
		T(test_tls_server_name_mismatch_refused),
		T(test_tls_client_cert_presented),
		T(test_tls_client_key_readable_by_others_refused),
		T(test_tls_client_key_mismatch_refused),
		T(test_tls_client_cert_missing_refused),
		T(test_tls_client_cert_garbage_refused),
		T(test_tls_ca_file_missing),
		T(test_tls_ca_file_garbage),
		T(test_tls11_server_refused),
		T(test_tls13_minimum_refuses_tls12_server),
		T(test_tls_to_plain_server_fails),
		T(test_tls_handshake_timeout),
		T(test_tls_read_timeout),
		T(test_tls_peek_consume_5mb_stream),
		T(test_tls_writes_queued_and_large),
		T(test_tls_peer_drops_mid_line),
		T(test_tls_close_notify_mid_line),
		T(test_tls_write_to_closed_peer_fails_without_sigpipe),
		T(test_starttls_upgrade),
		T(test_starttls_injection_in_buffer),
		T(test_starttls_injection_in_socket),
		T(test_starttls_refuses_unsent_plain_text),
		T(test_close_null_is_fine),
		T(test_connection_refused_names_the_cause),
		T(test_unresolvable_host_names_the_key),
		T(test_tls_pin_is_a_trust_anchor),
		T(test_tls_pin_anchor_excuses_expiry),
		T(test_tls_pin_anchor_still_checks_the_name),
		T(test_tls_untrusted_pin_mismatch_shows_fingerprint),
		T(test_tls_untrusted_names_the_fixes),
		T(test_tls_to_plain_server_says_use_starttls),
		T(test_greeting_is_left_for_reading),
		T(test_greeting_tls_record_refused_at_once),
		T(test_greeting_silent_tls_port_detected),
		T(test_greeting_silent_plain_server_times_out),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
