/*
 * conn.c - TCP with deadlines, TLS with OpenSSL, and a capped buffered
 * reader.
 *
 * The socket is non-blocking for its whole life: every wait is a poll()
 * bounded by a deadline, so a silent server costs at most timeout_sec per
 * operation and never hangs a cron job.  timeout_sec counts for the whole
 * connect phase (all addresses together), for the whole TLS handshake, and
 * for each call that reads (conn_read_line, conn_peek) or writes
 * (conn_flush); 0 means no limit.  Name resolution is getaddrinfo()'s own
 * business and follows the resolver's timeouts.
 *
 * TLS talks to the socket through a small BIO of our own that sends with
 * MSG_NOSIGNAL, so a server that hangs up cannot kill the process with
 * SIGPIPE whether or not main ignores the signal.
 *
 * The input buffer is allocated once with a fixed capacity: it holds the
 * longest line we accept plus room to read in large chunks.  Lines and
 * peeked bytes are handed out as pointers into it; bytes move to the front
 * only when the free tail becomes too small for a good read.  It holds
 * only what the server sends (greetings, challenges, replies, mail), so
 * it is not wiped: a secret of ours gets there only if a server echoes
 * one back.
 *
 * The output buffer carries passwords and tokens (PASS, LOGIN,
 * AUTHENTICATE and SASL responses), and the callers do not say which
 * lines those are: every flush wipes the bytes it sent, so no secret
 * stays behind once it has left.  That costs one pass over bytes that
 * were just copied in, commands only (message bodies never pass through
 * it).  The buffer never moves with realloc(), which would leave a copy
 * in the old block, and it is wiped before it is freed.
 */
#include "config.h"

#include "conn.h"

#include "clock.h"
#include "log.h"
#include "text.h"
#include "tls_ctx_cache.h"
#include "tls_trust.h"
#include "wipe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#define SSL_get1_peer_certificate SSL_get_peer_certificate
#endif

/* Input buffer: four times the longest line, so lines stream through it. */
#define IN_CAP (4 * (size_t)CONN_LINE_MAX)
/* Move unread bytes to the front when less than this is free behind them. */
#define IN_READ_MIN ((size_t)16384)
/* Output buffer: starts small, never grows past OUT_CAP (flushed first). */
#define OUT_INITIAL ((size_t)4096)
#define OUT_CAP ((size_t)1 << 20)

_Static_assert(CONN_LINE_MAX + 2 + IN_READ_MIN <= IN_CAP,
	       "the input buffer must hold the longest line and a read");

#define SHA256_LEN 32
/* "pubkey-sha256:" and 32 bytes as "AB:" (the last without ':'), a NUL. */
#define FINGERPRINT_TEXT_MAX CONN_FINGERPRINT_MAX

/* "host:port" or "[v6addr]:port"; a longer host name cannot resolve. */
#define PEER_MAX 300

/* How long a server that speaks first may stay silent before we ask
 * whether the port expects TLS from the first byte. */
#define GREETING_WAIT_MS 5000
/* The least time the probe of a silent port gets, past the timeout. */
#define PROBE_MIN_MS 2000
/* What the server sent first, kept to tell plain text from TLS. */
#define FIRST_BYTES_MAX 16
/* A ClientHello, post-quantum key shares included. */
#define CLIENT_HELLO_MAX 8192

/* What to change when the port speaks the other way. */
#define USE_IMPLICIT "this port speaks TLS from the first byte: use " \
	"tls: implicit (or port 143/110 for STARTTLS)"
#define USE_STARTTLS "this port does not speak TLS from the first " \
	"byte: use tls: starttls (or port 993/995 for implicit TLS)"

struct conn {
	int fd;
	char *host;               /* owned copy of params->host */
	char *server_name;        /* owned: tls_server_name, else host */
	char *tls_ca_file;        /* owned copy, or NULL */
	char *tls_cert_file;      /* owned copy, or NULL */
	char *tls_key_file;       /* owned copy, or NULL */
	struct tls_pin pins[TLS_PINS_MAX];
	size_t pin_count;
	bool tls_verify;
	int tls_min_version;      /* TLS1_2_VERSION or TLS1_3_VERSION */
	unsigned timeout_sec;     /* 0: no limit */
	char peer[PEER_MAX];      /* for messages */
	char *account;            /* owned copy, or NULL: for hints */
	char address[INET6_ADDRSTRLEN]; /* the address tried last */
	size_t addresses_tried;

	SSL_CTX *ssl_ctx;         /* owned; NULL while plain without STARTTLS */
	SSL *ssl;                 /* owned; owns the BIO */
	BIO_METHOD *bio_method;   /* owned; outlives ssl */
	bool tls_broken;          /* fatal TLS error: no close_notify */
	bool saw_eof;             /* the socket returned end of stream */
	int bio_errno;            /* errno of the BIO's last failed call */
	unsigned char first_bytes[FIRST_BYTES_MAX]; /* the server's first */
	size_t first_len;
	int chain_error;          /* X509_V_OK, or what a pin must excuse */

	int io_errno;             /* why the last read or write failed */
	char io_why[256];         /* same, for TLS errors */
	int ssl_reason;           /* OpenSSL's reason code behind io_why */

	char *in_buf;             /* IN_CAP bytes, owned */
	size_t in_start;          /* first unread byte */
	size_t in_end;            /* one past the last unread byte */
	size_t in_scan;           /* no LF in [in_start, in_scan) */
	bool peek_stalled;        /* conn_peek showed bytes, none consumed */

	char *out_buf;            /* queued output, owned, out_cap bytes */
	size_t out_len;
	size_t out_cap;
};

enum io_status { IO_OK, IO_WANT_READ, IO_WANT_WRITE, IO_EOF, IO_FAILED };
enum wait_result { WAIT_READY, WAIT_TIMEOUT, WAIT_FAILED };

/* When a wait that starts now gives up: timeout_sec 0 waits forever. */
static int64_t timeout_deadline(const struct conn *conn)
{
	return clock_deadline_in_ms((uint64_t)conn->timeout_sec * 1000, true);
}

/* Wait until fd is ready for events or the deadline passes. */
static enum wait_result wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int ready = poll(&pfd, 1, clock_poll_timeout(deadline, INT_MAX));
		/* Errors and hangups count as ready: I/O reports them. */
		if (ready > 0)
			return WAIT_READY;
		if (ready < 0 && errno != EINTR)
			return WAIT_FAILED;
		if (ready == 0 && clock_passed(deadline))
			return WAIT_TIMEOUT;
	}
}

static bool errno_is_retry(int errnum)
{
	return errnum == EAGAIN || errnum == EWOULDBLOCK || errnum == EINTR;
}

/* ---- connecting ---- */

static bool host_is_ip_literal(const char *host)
{
	struct in6_addr addr;
	return inet_pton(AF_INET, host, &addr) == 1 ||
	       inet_pton(AF_INET6, host, &addr) == 1;
}

static int resolve(const char *host, uint16_t port, struct addrinfo **list,
		   struct yb_error *err)
{
	char service[8];
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int rc = getaddrinfo(host, service, &hints, list);
	if (rc == 0)
		return YB_OK;
	*list = NULL;
	if (rc == EAI_SYSTEM)
		return yb_fail_errno(err, YB_ERR_UNAVAILABLE, errno,
				     "cannot resolve %s", host);
	/* A name server that does not answer may answer later. */
	if (rc == EAI_AGAIN)
		return yb_fail(err, YB_ERR_TEMP, "cannot resolve %s: %s (the "
			       "name server did not answer)", host,
			       gai_strerror(rc));
	return yb_fail(err, YB_ERR_UNAVAILABLE, "cannot resolve %s: %s: "
		       "check the host name (host)", host,
		       gai_strerror(rc));
}

/*
 * Connect to one address before the deadline.  Returns 0 and sets *fd_out,
 * or returns the errno that explains the failure (ETIMEDOUT at the
 * deadline).
 */
static int connect_one(const struct addrinfo *ai, int64_t deadline,
		       int *fd_out)
{
	int fd = socket(ai->ai_family,
			ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		*fd_out = fd;
		return 0;
	}
	/* After EINTR the connect goes on in the background, as EINPROGRESS. */
	if (errno != EINPROGRESS && errno != EINTR) {
		int failure = errno;
		close(fd);
		return failure;
	}
	enum wait_result waited = wait_fd(fd, POLLOUT, deadline);
	int failure = 0;
	if (waited == WAIT_TIMEOUT)
		failure = ETIMEDOUT;
	else if (waited == WAIT_FAILED)
		failure = errno;
	else {
		socklen_t len = sizeof(failure);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &len) < 0)
			failure = errno;
	}
	if (failure != 0) {
		close(fd);
		return failure;
	}
	*fd_out = fd;
	return 0;
}

/*
 * The deadline for one of `left` remaining addresses: an equal share of
 * what is left, so one address that swallows packets (a broken IPv6 route)
 * cannot use up the time the next one needs.
 */
static int64_t share_of_deadline(int64_t overall, size_t left)
{
	if (overall == CLOCK_NEVER)
		return CLOCK_NEVER;
	int64_t now = clock_now_ms();
	if (overall <= now || left <= 1)
		return overall;
	return now + (overall - now) / (int64_t)left;
}

/* What a failed connect most likely means, or NULL. */
static const char *connect_hint(int failure)
{
	switch (failure) {
	case ECONNREFUSED:
		return "nothing listens on that port: a wrong port (port, "
		       "tls), or the server is down";
	case ETIMEDOUT:
		return "no answer: a firewall drops the connection, or the "
		       "address is wrong (host)";
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
		return "the network is down, or the address is wrong (host)";
	default:
		return NULL;
	}
}

/* " (address A)", or with how many were tried; "" for a literal host. */
static void format_addresses(const struct conn *conn, char *out,
			     size_t size)
{
	out[0] = '\0';
	if (conn->addresses_tried > 1)
		snprintf(out, size, " (%zu addresses, the last %s)",
			 conn->addresses_tried, conn->address);
	else if (conn->address[0] && strcmp(conn->address, conn->host) != 0)
		snprintf(out, size, " (address %s)", conn->address);
}

static int connect_failed(const struct conn *conn, int failure,
			  struct yb_error *err)
{
	char addresses[INET6_ADDRSTRLEN + 48];
	format_addresses(conn, addresses, sizeof(addresses));
	const char *hint = connect_hint(failure);
	if (failure == ETIMEDOUT)
		return yb_fail(err, YB_ERR_TEMP,
			       "connecting to %s%s timed out after %u s: %s",
			       conn->peer, addresses, conn->timeout_sec, hint);
	return yb_fail(err, YB_ERR_UNAVAILABLE, "cannot connect to %s%s: %s%s%s",
		       conn->peer, addresses, strerror(failure),
		       hint ? ": " : "", hint ? hint : "");
}

static void note_address(struct conn *conn, const struct addrinfo *ai)
{
	conn->addresses_tried++;
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, conn->address,
			sizeof(conn->address), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(conn->address, sizeof(conn->address), "?");
}

static int connect_any(struct conn *conn, const struct addrinfo *list,
		       struct yb_error *err)
{
	size_t left = 0;
	for (const struct addrinfo *ai = list; ai; ai = ai->ai_next)
		left++;
	int64_t overall = timeout_deadline(conn);
	int last_failure = EHOSTUNREACH; /* if the list were empty */
	for (const struct addrinfo *ai = list; ai; ai = ai->ai_next, left--) {
		int fd = -1;
		note_address(conn, ai);
		last_failure = connect_one(ai, share_of_deadline(overall, left),
					   &fd);
		if (last_failure == 0) {
			conn->fd = fd;
			return YB_OK;
		}
		if (clock_passed(overall))
			break;
	}
	return connect_failed(conn, last_failure, err);
}

static int tcp_connect(struct conn *conn, uint16_t port, struct yb_error *err)
{
	struct addrinfo *list = NULL;
	int rc = resolve(conn->host, port, &list, err);
	if (rc != YB_OK)
		return rc;
	rc = connect_any(conn, list, err);
	freeaddrinfo(list);
	if (rc != YB_OK)
		return rc;
	/* Commands are small and we wait for each reply: no Nagle delay.  A
	 * socket that refuses the option still works, only slower. */
	int one = 1;
	(void)setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return YB_OK;
}

int conn_resolve(const struct conn_params *params, char *out, size_t size,
		 struct yb_error *err)
{
	struct addrinfo *list = NULL;
	out[0] = '\0';
	int rc = resolve(params->host, params->port, &list, err);
	if (rc != YB_OK)
		return rc;
	size_t used = 0;
	for (const struct addrinfo *ai = list; ai && used + 1 < size; ai = ai->ai_next) {
		char address[INET6_ADDRSTRLEN];
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, address, sizeof(address),
				NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "",
				 address);
		if (n < 0 || (size_t)n >= size - used)
			break; /* the text is cut where the buffer ends */
		used += (size_t)n;
	}
	freeaddrinfo(list);
	return YB_OK;
}

/* ---- the BIO between OpenSSL and the socket ---- */

static int bio_sock_write(BIO *bio, const char *data, int len)
{
	struct conn *conn = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	ssize_t sent = send(conn->fd, data, (size_t)len, MSG_NOSIGNAL);
	if (sent >= 0)
		return (int)sent;
	conn->bio_errno = errno;
	if (errno_is_retry(errno))
		BIO_set_retry_write(bio);
	return -1;
}

/* Keep the start of what the server sent, to tell plain text from TLS. */
static void note_first_bytes(struct conn *conn, const char *buf, size_t len)
{
	size_t room = FIRST_BYTES_MAX - conn->first_len;
	size_t take = len < room ? len : room;
	memcpy(conn->first_bytes + conn->first_len, buf, take);
	conn->first_len += take;
}

static int bio_sock_read(BIO *bio, char *buf, int len)
{
	struct conn *conn = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	ssize_t got = recv(conn->fd, buf, (size_t)len, 0);
	if (got > 0) {
		note_first_bytes(conn, buf, (size_t)got);
		return (int)got;
	}
	if (got == 0) {
		conn->saw_eof = true;
		return 0;
	}
	conn->bio_errno = errno;
	if (errno_is_retry(errno))
		BIO_set_retry_read(bio);
	return -1;
}

static long bio_sock_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	struct conn *conn = BIO_get_data(bio);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* nothing is held back */
	case BIO_CTRL_EOF:
		return conn->saw_eof;
	default:
		return 0;
	}
}

static int bio_sock_type(void)
{
	/* One type number for the process: BIO_get_new_index() hands out a
	 * limited supply, so it is not called once per connection. */
	static int type = -1;
	if (type == -1)
		type = BIO_get_new_index();
	return type == -1 ? BIO_TYPE_SOURCE_SINK
			  : (type | BIO_TYPE_SOURCE_SINK);
}

static BIO *bio_sock_new(struct conn *conn)
{
	conn->bio_method = BIO_meth_new(bio_sock_type(), "yubin socket");
	if (!conn->bio_method ||
	    BIO_meth_set_write(conn->bio_method, bio_sock_write) != 1 ||
	    BIO_meth_set_read(conn->bio_method, bio_sock_read) != 1 ||
	    BIO_meth_set_ctrl(conn->bio_method, bio_sock_ctrl) != 1)
		return NULL;
	BIO *bio = BIO_new(conn->bio_method);
	if (!bio)
		return NULL;
	BIO_set_data(bio, conn);
	BIO_set_init(bio, 1);
	return bio;
}

/* ---- TLS ---- */

/* The first queued OpenSSL error as text, then an empty queue. */
static void ssl_error_text(char *buf, size_t size)
{
	unsigned long code = ERR_peek_error();
	const char *reason = code ? ERR_reason_error_string(code) : NULL;
	if (reason)
		snprintf(buf, size, "%s", reason);
	else if (code)
		ERR_error_string_n(code, buf, size);
	else
		snprintf(buf, size, "unknown TLS error");
	ERR_clear_error();
}

static int load_ca_file(SSL_CTX *ctx, const char *path, struct yb_error *err)
{
	/* Open it ourselves first: errno says more than OpenSSL's queue. */
	FILE *file = fopen(path, "r");
	if (!file)
		return yb_fail_errno(err, YB_ERR_CONFIG, errno,
				     "cannot read tls_ca_file %s", path);
	fclose(file);
	ERR_clear_error();
	if (SSL_CTX_load_verify_locations(ctx, path, NULL) == 1)
		return YB_OK;
	char why[256];
	ssl_error_text(why, sizeof(why));
	return yb_fail(err, YB_ERR_CONFIG,
		       "tls_ca_file %s holds no usable certificate: %s", path,
		       why);
}

/* A key needing a passphrase must fail, not prompt on a cron job's TTY. */
static int refuse_passphrase(char *buf, int size, int rwflag, void *data)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)data;
	return -1;
}

/* The private key is a secret: ours alone, as for password_file. */
static int check_key_file_mode(const char *key, const char *path,
			       struct yb_error *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return yb_fail_errno(err, YB_ERR_CONFIG, errno,
				     "cannot read %s %s", key, path);
	if (st.st_uid != geteuid())
		return yb_fail(err, YB_ERR_CONFIG, "%s %s holds a private key "
			       "but belongs to another user", key, path);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return yb_fail(err, YB_ERR_CONFIG, "%s %s holds a private key "
			       "but is readable by group or others (chmod 600 "
			       "it)", key, path);
	return YB_OK;
}

static int key_mismatch(const char *cert_file, const char *key_file,
			struct yb_error *err)
{
	ERR_clear_error();
	return yb_fail(err, YB_ERR_CONFIG, "the private key in %s does not "
		       "belong to the certificate in %s", key_file, cert_file);
}

static int load_client_cert(SSL_CTX *ctx, const char *cert_file,
			    const char *key_file, struct yb_error *err)
{
	char why[256];
	FILE *file = fopen(cert_file, "r");
	if (!file)
		return yb_fail_errno(err, YB_ERR_CONFIG, errno,
				     "cannot read tls_cert_file %s", cert_file);
	fclose(file);
	int rc = check_key_file_mode(key_file == cert_file ? "tls_cert_file"
							   : "tls_key_file",
				     key_file, err);
	if (rc != YB_OK)
		return rc;
	SSL_CTX_set_default_passwd_cb(ctx, refuse_passphrase);
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		ssl_error_text(why, sizeof(why));
		return yb_fail(err, YB_ERR_CONFIG, "tls_cert_file %s holds no "
			       "usable certificate: %s", cert_file, why);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH)
			return key_mismatch(cert_file, key_file, err);
		ssl_error_text(why, sizeof(why));
		return yb_fail(err, YB_ERR_CONFIG, "tls_key_file %s holds no "
			       "usable private key (keys with a passphrase are "
			       "not supported): %s", key_file, why);
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		return key_mismatch(cert_file, key_file, err);
	return YB_OK;
}

/*
 * With pins, a certificate no CA vouches for (self-signed, a private CA,
 * expired) is let through the handshake; tls_check_pin then accepts it
 * only if it matches a pin, as a trust anchor of its own.  A name that
 * does not match is refused still: the pin names a certificate, the
 * account names the server.
 */
static int verify_with_pins(int preverified, X509_STORE_CTX *store)
{
	if (preverified)
		return 1;
	int error = X509_STORE_CTX_get_error(store);
	if (error == X509_V_ERR_HOSTNAME_MISMATCH ||
	    error == X509_V_ERR_IP_ADDRESS_MISMATCH)
		return 0;
	SSL *ssl = X509_STORE_CTX_get_ex_data(
		store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct conn *conn = ssl ? SSL_get_app_data(ssl) : NULL;
	if (!conn)
		return 0;
	if (conn->chain_error == X509_V_OK)
		conn->chain_error = error;
	return 1;
}

static int tls_make_ctx(struct conn *conn, struct yb_error *err)
{
	char why[256];
	ERR_clear_error();
	conn->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!conn->ssl_ctx) {
		ssl_error_text(why, sizeof(why));
		return yb_fail(err, YB_ERR_INTERNAL,
			       "cannot set up TLS for %s: %s", conn->peer, why);
	}
	SSL_CTX *ctx = conn->ssl_ctx;
	if (SSL_CTX_set_min_proto_version(ctx, conn->tls_min_version) != 1) {
		ssl_error_text(why, sizeof(why));
		return yb_fail(err, YB_ERR_INTERNAL,
			       "cannot require TLS 1.%d for %s: %s",
			       conn->tls_min_version == TLS1_3_VERSION ? 3 : 2,
			       conn->peer, why);
	}
	uint64_t options = SSL_OP_NO_COMPRESSION;
#ifdef SSL_OP_NO_RENEGOTIATION
	options |= SSL_OP_NO_RENEGOTIATION;
#endif
	SSL_CTX_set_options(ctx, options);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Fewer, larger reads from the socket for bodies. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* Accounts share this context (tls_ctx_cache.h): no session of one
	 * may be offered for another. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Without a system store only tls_ca_file or a pin can vouch for the
	 * server; verification then says "unable to get local issuer". */
	if (tls_trust_system(ctx) != 1) {
		ssl_error_text(why, sizeof(why));
		return yb_fail(err, YB_ERR_INTERNAL,
			       "cannot set up TLS trust for %s: %s", conn->peer, why);
	}
	if (conn->tls_ca_file) {
		int rc = load_ca_file(ctx, conn->tls_ca_file, err);
		if (rc != YB_OK)
			return rc;
	}
	if (conn->tls_cert_file) {
		int rc = load_client_cert(ctx, conn->tls_cert_file,
					  conn->tls_key_file ? conn->tls_key_file
							     : conn->tls_cert_file,
					  err);
		if (rc != YB_OK)
			return rc;
	}
	bool pinned = conn->tls_verify && conn->pin_count > 0;
	SSL_CTX_set_verify(ctx, conn->tls_verify ? SSL_VERIFY_PEER
						 : SSL_VERIFY_NONE,
			   pinned ? verify_with_pins : NULL);
	return YB_OK;
}

static struct tls_ctx_key ctx_key(const struct conn *conn)
{
	return (struct tls_ctx_key){
		.min_version = conn->tls_min_version,
		.verify = conn->tls_verify,
		.pinned = conn->tls_verify && conn->pin_count > 0,
		.ca_file = conn->tls_ca_file,
		.cert_file = conn->tls_cert_file,
		.key_file = conn->tls_key_file,
	};
}

/* The context of an account with the same TLS settings as one before, or
   a new one, kept for the next (tls_ctx_cache.h). */
static int tls_obtain_ctx(struct conn *conn, struct yb_error *err)
{
	struct tls_ctx_key key = ctx_key(conn);
	conn->ssl_ctx = tls_ctx_cache_get(&key);
	if (conn->ssl_ctx)
		return YB_OK;
	int rc = tls_make_ctx(conn, err);
	if (rc == YB_OK)
		tls_ctx_cache_put(&key, conn->ssl_ctx);
	return rc;
}

static int tls_check_name(struct conn *conn, bool ip_literal)
{
	if (ip_literal)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(conn->ssl),
						     conn->server_name);
	SSL_set_hostflags(conn->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(conn->ssl, conn->server_name);
}

static int tls_make_ssl(struct conn *conn, struct yb_error *err)
{
	char why[256];
	ERR_clear_error();
	conn->ssl = SSL_new(conn->ssl_ctx);
	BIO *bio = conn->ssl ? bio_sock_new(conn) : NULL;
	if (!bio) {
		ssl_error_text(why, sizeof(why));
		return yb_fail(err, YB_ERR_INTERNAL,
			       "cannot set up TLS for %s: %s", conn->peer, why);
	}
	SSL_set_bio(conn->ssl, bio, bio); /* the SSL owns the BIO now */
	SSL_set_app_data(conn->ssl, conn); /* for verify_with_pins */
	bool ip_literal = host_is_ip_literal(conn->server_name);
	/* SNI carries names only (RFC 6066 section 3). */
	if (!ip_literal &&
	    SSL_set_tlsext_host_name(conn->ssl, conn->server_name) != 1) {
		ssl_error_text(why, sizeof(why));
		return yb_fail(err, YB_ERR_INTERNAL,
			       "cannot send the TLS server name %s: %s",
			       conn->server_name, why);
	}
	if (conn->tls_verify && tls_check_name(conn, ip_literal) != 1) {
		ssl_error_text(why, sizeof(why));
		return yb_fail(err, YB_ERR_INTERNAL,
			       "cannot check TLS certificates for %s: %s",
			       conn->server_name, why);
	}
	SSL_set_connect_state(conn->ssl);
	return YB_OK;
}

/*
 * Classify the outcome of an SSL call that returned rc <= 0.  For
 * IO_FAILED, io_errno or io_why says why.
 */
static enum io_status tls_status(struct conn *conn, int rc)
{
	int ssl_err = SSL_get_error(conn->ssl, rc);
	conn->io_errno = 0;
	conn->io_why[0] = '\0';
	conn->ssl_reason = 0;
	switch (ssl_err) {
	case SSL_ERROR_WANT_READ:
		return IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return IO_EOF;
	case SSL_ERROR_SYSCALL:
		conn->tls_broken = true;
		ERR_clear_error();
		if (conn->saw_eof || conn->bio_errno == 0)
			return IO_EOF;
		conn->io_errno = conn->bio_errno;
		return IO_FAILED;
	default:
		conn->tls_broken = true;
		if (conn->saw_eof) { /* "unexpected eof while reading" */
			ERR_clear_error();
			return IO_EOF;
		}
		conn->ssl_reason = ERR_GET_REASON(ERR_peek_error());
		ssl_error_text(conn->io_why, sizeof(conn->io_why));
		return IO_FAILED;
	}
}

static const char *io_failure_text(const struct conn *conn)
{
	if (conn->io_why[0])
		return conn->io_why;
	return strerror(conn->io_errno);
}

/* A TLS record starts with its type (alert 0x15, handshake 0x16) and
   the major version 3. */
static bool looks_like_tls_record(const unsigned char *bytes, size_t len)
{
	return len >= 1 && (bytes[0] == 0x15 || bytes[0] == 0x16) &&
	       (len < 2 || bytes[1] == 0x03);
}

/* The server answered our ClientHello with text: a greeting. */
static bool server_sent_plain_text(const struct conn *conn)
{
	return conn->first_len > 0 &&
	       !looks_like_tls_record(conn->first_bytes, conn->first_len) &&
	       conn->first_bytes[0] >= 0x20 && conn->first_bytes[0] < 0x7f;
}

/* What the user can do about the common handshake failures. */
static const char *handshake_hint(const struct conn *conn, int ssl_reason)
{
	if (server_sent_plain_text(conn))
		return USE_STARTTLS;
	switch (ssl_reason) {
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		return conn->tls_min_version == TLS1_3_VERSION
			       ? "TLS 1.3 is required: tls_min_version"
			       : "TLS 1.2 or later is required";
	case SSL_R_WRONG_VERSION_NUMBER:
		return "the server does not speak TLS on this port; check "
		       "port and tls";
	default:
		return NULL;
	}
}

/* The account in "yubin --show-cert ACCOUNT". */
static const char *account_shown(const struct conn *conn)
{
	return conn->account ? conn->account : "ACCOUNT";
}

/* What to change when no CA vouches for the certificate. */
static int untrusted_failed(const struct conn *conn, long verify,
			    struct yb_error *err)
{
	return yb_fail(err, YB_ERR_UNAVAILABLE,
		       "TLS certificate of %s not trusted: %s%s; to trust it, "
		       "name its CA in tls_ca_file or pin it with "
		       "tls_fingerprint (yubin --show-cert %s shows both)",
		       conn->peer, X509_verify_cert_error_string(verify),
		       verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
			       ? " (its issuer is unknown, or the server did "
				 "not send its intermediate certificates)"
			       : "",
		       account_shown(conn));
}

static int name_mismatch_failed(const struct conn *conn, long verify,
				struct yb_error *err)
{
	return yb_fail(err, YB_ERR_UNAVAILABLE,
		       "TLS certificate of %s not trusted: %s: it is not valid "
		       "for %s; set host, or tls_server_name, to a name it "
		       "holds (yubin --show-cert %s lists them)", conn->peer,
		       X509_verify_cert_error_string(verify),
		       conn->server_name, account_shown(conn));
}

/* The start of what the server sent, as text for a message. */
static void first_bytes_shown(const struct conn *conn, char *out,
			      size_t size)
{
	size_t len = 0;
	while (len < conn->first_len && conn->first_bytes[len] != '\r' &&
	       conn->first_bytes[len] != '\n')
		len++;
	text_sanitize(out, size, (const char *)conn->first_bytes, len);
}

static int tls_handshake_failed(struct conn *conn, enum io_status status,
				struct yb_error *err)
{
	long verify = SSL_get_verify_result(conn->ssl);
	if (conn->tls_verify && verify != X509_V_OK) {
		ERR_clear_error();
		if (verify == X509_V_ERR_HOSTNAME_MISMATCH ||
		    verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
			return name_mismatch_failed(conn, verify, err);
		return untrusted_failed(conn, verify, err);
	}
	const char *why = conn->saw_eof || status == IO_EOF
				  ? "the server closed the connection"
				  : io_failure_text(conn);
	const char *hint = handshake_hint(conn, conn->ssl_reason);
	if (server_sent_plain_text(conn)) {
		char shown[FIRST_BYTES_MAX * 4 + 1];
		first_bytes_shown(conn, shown, sizeof(shown));
		return yb_fail(err, YB_ERR_UNAVAILABLE, "TLS handshake with %s "
			       "failed: the server sent plain text (\"%s\"): %s",
			       conn->peer, shown, hint);
	}
	return yb_fail(err, YB_ERR_UNAVAILABLE,
		       "TLS handshake with %s failed: %s%s%s%s", conn->peer,
		       why, hint ? " (" : "", hint ? hint : "",
		       hint ? ")" : "");
}

static int tls_handshake(struct conn *conn, struct yb_error *err)
{
	int64_t deadline = timeout_deadline(conn);
	for (;;) {
		ERR_clear_error();
		conn->bio_errno = 0;
		int rc = SSL_connect(conn->ssl);
		if (rc == 1)
			return YB_OK;
		enum io_status status = tls_status(conn, rc);
		short events;
		if (status == IO_WANT_READ)
			events = POLLIN;
		else if (status == IO_WANT_WRITE)
			events = POLLOUT;
		else
			return tls_handshake_failed(conn, status, err);
		enum wait_result waited = wait_fd(conn->fd, events, deadline);
		if (waited == WAIT_TIMEOUT)
			return yb_fail(err, YB_ERR_TEMP, "TLS handshake with "
				       "%s timed out after %u s", conn->peer,
				       conn->timeout_sec);
		if (waited == WAIT_FAILED)
			return yb_fail_errno(err, YB_ERR_UNAVAILABLE, errno,
					     "TLS handshake with %s failed",
					     conn->peer);
	}
}

/* "sha256:AB:CD:..." (or with another prefix) for a 32-byte digest. */
static void format_fingerprint(const char *prefix, const unsigned char *digest,
			       char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t prefix_len = strlen(prefix); /* at most "pubkey-sha256:" */
	memcpy(out, prefix, prefix_len);
	char *at = out + prefix_len;
	for (size_t i = 0; i < SHA256_LEN; i++) {
		if (i > 0)
			*at++ = ':';
		*at++ = hex[digest[i] >> 4];
		*at++ = hex[digest[i] & 0x0f];
	}
	*at = '\0';
}

/* sha256 of the whole certificate and of its DER SubjectPublicKeyInfo. */
static bool cert_digests(X509 *cert, unsigned char cert_sha[SHA256_LEN],
			 unsigned char key_sha[SHA256_LEN])
{
	unsigned cert_len = 0;
	unsigned char digest[EVP_MAX_MD_SIZE];
	if (X509_digest(cert, EVP_sha256(), digest, &cert_len) != 1 ||
	    cert_len != SHA256_LEN)
		return false;
	memcpy(cert_sha, digest, SHA256_LEN);
	unsigned char *spki = NULL;
	int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
	unsigned key_len = 0;
	bool ok = spki_len > 0 &&
		  EVP_Digest(spki, (size_t)spki_len, key_sha, &key_len,
			     EVP_sha256(), NULL) == 1 &&
		  key_len == SHA256_LEN;
	OPENSSL_free(spki);
	return ok;
}

static bool pins_match(const struct conn *conn,
		       const unsigned char cert_sha[SHA256_LEN],
		       const unsigned char key_sha[SHA256_LEN])
{
	bool matched = false;
	for (size_t i = 0; i < conn->pin_count; i++) {
		const unsigned char *actual =
			conn->pins[i].kind == PIN_PUBLIC_KEY ? key_sha : cert_sha;
		if (CRYPTO_memcmp(actual, conn->pins[i].sha256, SHA256_LEN) == 0)
			matched = true;
	}
	return matched;
}

static int tls_check_pin(struct conn *conn, struct yb_error *err)
{
	X509 *cert = SSL_get1_peer_certificate(conn->ssl);
	if (!cert)
		return yb_fail(err, YB_ERR_UNAVAILABLE,
			       "TLS server %s presented no certificate to "
			       "check against tls_fingerprint", conn->peer);
	unsigned char cert_sha[SHA256_LEN], key_sha[SHA256_LEN];
	bool computed = cert_digests(cert, cert_sha, key_sha);
	X509_free(cert);
	if (!computed) {
		ERR_clear_error();
		return yb_fail(err, YB_ERR_INTERNAL, "cannot compute the "
			       "certificate fingerprint of %s", conn->peer);
	}
	if (pins_match(conn, cert_sha, key_sha)) {
		if (conn->chain_error != X509_V_OK)
			log_info("%s: no CA vouches for the certificate (%s); "
				 "it is trusted because it matches "
				 "tls_fingerprint", conn->peer,
				 X509_verify_cert_error_string(conn->chain_error));
		return YB_OK;
	}
	char cert_text[FINGERPRINT_TEXT_MAX], key_text[FINGERPRINT_TEXT_MAX];
	format_fingerprint("sha256:", cert_sha, cert_text);
	format_fingerprint("pubkey-sha256:", key_sha, key_text);
	return yb_fail(err, YB_ERR_UNAVAILABLE,
		       "TLS certificate of %s does not match tls_fingerprint; "
		       "the server presented %s (public key %s)%s%s", conn->peer,
		       cert_text, key_text,
		       conn->chain_error != X509_V_OK
			       ? "; nor does a CA vouch for it: " : "",
		       conn->chain_error != X509_V_OK
			       ? X509_verify_cert_error_string(conn->chain_error)
			       : "");
}

/*
 * Handshake on the connected socket: chain and name checks during the
 * handshake when tls_verify, then the pin if any.  A matching pin stands
 * in for the chain (verify_with_pins), never for the name; with neither
 * check, anything is accepted (the caller warns).
 */
static int tls_start(struct conn *conn, struct yb_error *err)
{
	int rc = conn->ssl_ctx ? YB_OK : tls_obtain_ctx(conn, err);
	if (rc == YB_OK)
		rc = tls_make_ssl(conn, err);
	if (rc == YB_OK)
		rc = tls_handshake(conn, err);
	if (rc == YB_OK && conn->pin_count > 0)
		rc = tls_check_pin(conn, err);
	return rc;
}

/* ---- raw reads and writes ---- */

static enum io_status plain_recv(struct conn *conn, char *buf, size_t cap,
				 size_t *got)
{
	ssize_t n = recv(conn->fd, buf, cap, 0);
	if (n > 0) {
		*got = (size_t)n;
		return IO_OK;
	}
	if (n == 0)
		return IO_EOF;
	if (errno_is_retry(errno))
		return IO_WANT_READ;
	conn->io_errno = errno;
	conn->io_why[0] = '\0';
	return IO_FAILED;
}

/*
 * SSL_read hands out one record at a time; keep reading while records are
 * ready so one call fills as much of the buffer as the socket allows.
 * Bytes already read win over a later EOF or error, which the next call
 * reports.
 */
static enum io_status tls_recv(struct conn *conn, char *buf, size_t cap,
			       size_t *got)
{
	size_t total = 0;
	while (total < cap) {
		size_t want = cap - total;
		ERR_clear_error();
		conn->bio_errno = 0;
		int n = SSL_read(conn->ssl, buf + total,
				 want > INT_MAX ? INT_MAX : (int)want);
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		enum io_status status = tls_status(conn, n);
		if (total == 0)
			return status;
		break;
	}
	*got = total;
	return IO_OK;
}

static enum io_status raw_send(struct conn *conn, const char *data, size_t len,
			       size_t *sent)
{
	if (conn->ssl) {
		ERR_clear_error();
		conn->bio_errno = 0;
		int n = SSL_write(conn->ssl, data,
				  len > INT_MAX ? INT_MAX : (int)len);
		if (n > 0) {
			*sent = (size_t)n;
			return IO_OK;
		}
		return tls_status(conn, n);
	}
	ssize_t n = send(conn->fd, data, len, MSG_NOSIGNAL);
	if (n >= 0) {
		*sent = (size_t)n;
		return IO_OK;
	}
	if (errno_is_retry(errno))
		return IO_WANT_WRITE;
	conn->io_errno = errno;
	conn->io_why[0] = '\0';
	return IO_FAILED;
}

/* The error for a read or write that ended in IO_EOF or IO_FAILED. */
static int io_failed(struct conn *conn, enum io_status status,
		     const char *doing, struct yb_error *err)
{
	if (status == IO_EOF)
		return yb_fail(err, YB_ERR_PROTOCOL, "connection closed by %s",
			       conn->peer);
	if (!conn->io_why[0] &&
	    (conn->io_errno == ECONNRESET || conn->io_errno == EPIPE))
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "connection closed by %s: %s", conn->peer,
			       strerror(conn->io_errno));
	return yb_fail(err, YB_ERR_UNAVAILABLE, "%s %s failed: %s", doing,
		       conn->peer, io_failure_text(conn));
}

/* Wait for what the transport asked for; an error if the deadline passed. */
static int wait_io(struct conn *conn, enum io_status status, int64_t deadline,
		   const char *doing, struct yb_error *err)
{
	short events = status == IO_WANT_WRITE ? POLLOUT : POLLIN;
	enum wait_result waited = wait_fd(conn->fd, events, deadline);
	if (waited == WAIT_READY)
		return YB_OK;
	if (waited == WAIT_TIMEOUT)
		return yb_fail(err, YB_ERR_TEMP, "%s %s timed out after %u s",
			       doing, conn->peer, conn->timeout_sec);
	return yb_fail_errno(err, YB_ERR_UNAVAILABLE, errno, "%s %s failed",
			     doing, conn->peer);
}

static int send_all(struct conn *conn, const char *data, size_t len,
		    struct yb_error *err)
{
	int64_t deadline = timeout_deadline(conn);
	while (len > 0) {
		size_t sent = 0;
		enum io_status status = raw_send(conn, data, len, &sent);
		if (status == IO_OK) {
			data += sent;
			len -= sent;
			continue;
		}
		if (status != IO_WANT_READ && status != IO_WANT_WRITE)
			return io_failed(conn, status, "writing to", err);
		int rc = wait_io(conn, status, deadline, "writing to", err);
		if (rc != YB_OK)
			return rc;
	}
	return YB_OK;
}

/* ---- the input buffer ---- */

/* Make room behind the unread bytes, moving them only when it pays. */
static void make_room(struct conn *conn)
{
	if (conn->in_start == conn->in_end) {
		conn->in_start = conn->in_end = conn->in_scan = 0;
		return;
	}
	if (IN_CAP - conn->in_end >= IN_READ_MIN || conn->in_start == 0)
		return;
	size_t unread = conn->in_end - conn->in_start;
	memmove(conn->in_buf, conn->in_buf + conn->in_start, unread);
	conn->in_scan -= conn->in_start;
	conn->in_start = 0;
	conn->in_end = unread;
}

/* Read at least one more byte into the buffer before the deadline. */
static int fill(struct conn *conn, int64_t deadline, struct yb_error *err)
{
	make_room(conn);
	if (conn->in_end == IN_CAP)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "input buffer for %s is full and nothing was "
			       "consumed", conn->peer);
	for (;;) {
		char *free_at = conn->in_buf + conn->in_end;
		size_t free_len = IN_CAP - conn->in_end;
		size_t got = 0;
		enum io_status status =
			conn->ssl ? tls_recv(conn, free_at, free_len, &got)
				  : plain_recv(conn, free_at, free_len, &got);
		if (status == IO_OK) {
			conn->in_end += got;
			return YB_OK;
		}
		if (status != IO_WANT_READ && status != IO_WANT_WRITE)
			return io_failed(conn, status, "reading from", err);
		int rc = wait_io(conn, status, deadline, "reading from", err);
		if (rc != YB_OK)
			return rc;
	}
}

/* ---- the interface ---- */

static int format_peer(struct conn *conn, uint16_t port, struct yb_error *err)
{
	bool bracket = strchr(conn->host, ':') != NULL; /* IPv6 literal */
	if (!text_format(conn->peer, sizeof(conn->peer), "%s%s%s:%u",
			 bracket ? "[" : "", conn->host, bracket ? "]" : "",
			 (unsigned)port))
		return yb_fail(err, YB_ERR_UNAVAILABLE,
			       "cannot resolve %.64s...: host name too long",
			       conn->host);
	return YB_OK;
}

/* *out = a copy of text, or NULL for NULL; false when out of memory. */
static bool copy_optional(const char *text, char **out)
{
	*out = text ? strdup(text) : NULL;
	return !text || *out;
}

static int conn_new(const struct conn_params *params, struct conn **out,
		    struct yb_error *err)
{
	struct conn *conn = calloc(1, sizeof(*conn));
	if (!conn)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	*out = conn;
	conn->fd = -1;
	conn->tls_verify = params->tls_verify;
	conn->tls_min_version = params->tls_min_version == 13 ? TLS1_3_VERSION
							      : TLS1_2_VERSION;
	conn->timeout_sec = params->timeout_sec;
	if (params->tls_pins && params->tls_pin_count > 0) {
		if (params->tls_pin_count > TLS_PINS_MAX)
			return yb_fail(err, YB_ERR_INTERNAL, "conn_open: %zu "
				       "pins, at most %d", params->tls_pin_count,
				       TLS_PINS_MAX);
		memcpy(conn->pins, params->tls_pins,
		       params->tls_pin_count * sizeof(conn->pins[0]));
		conn->pin_count = params->tls_pin_count;
	}
	conn->host = strdup(params->host);
	conn->server_name = strdup(params->tls_server_name
					   ? params->tls_server_name
					   : params->host);
	conn->in_buf = malloc(IN_CAP);
	bool copied = conn->host && conn->server_name && conn->in_buf &&
		      copy_optional(params->account, &conn->account) &&
		      copy_optional(params->tls_ca_file, &conn->tls_ca_file) &&
		      copy_optional(params->tls_cert_file, &conn->tls_cert_file) &&
		      copy_optional(params->tls_key_file, &conn->tls_key_file);
	if (!copied)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return format_peer(conn, params->port, err);
}

bool conn_prepare_tls(const struct conn_params *params)
{
	if (!params || !params->host || params->tls == TLS_NONE)
		return true;
	if (tls_ctx_cache_full())
		return false;
	struct yb_error err;
	yb_error_clear(&err);
	struct conn *conn = NULL;
	/* A failure shows again, and is told, when the account connects. */
	if (conn_new(params, &conn, &err) == YB_OK)
		(void)tls_obtain_ctx(conn, &err);
	conn_close(conn);
	return true;
}

void conn_forget_tls(void)
{
	tls_ctx_cache_clear();
}

int conn_open(const struct conn_params *params, struct conn **out,
	      struct yb_error *err)
{
	if (!params || !params->host || !out)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "conn_open: missing host or result");
	*out = NULL;
	struct conn *conn = NULL;
	int rc = conn_new(params, &conn, err);
	/* An unreadable tls_ca_file is found before any traffic. */
	if (rc == YB_OK && params->tls != TLS_NONE)
		rc = tls_obtain_ctx(conn, err);
	if (rc == YB_OK)
		rc = tcp_connect(conn, params->port, err);
	if (rc == YB_OK && params->tls == TLS_IMPLICIT)
		rc = tls_start(conn, err);
	if (rc != YB_OK) {
		conn_close(conn);
		return rc;
	}
	*out = conn;
	return YB_OK;
}

/* ---- a server that speaks TLS where a greeting was expected ---- */

/*
 * The ClientHello our library would send to server_name, made in memory:
 * *len bytes of out, 0 if it could not be made.
 */
static size_t make_client_hello(const struct conn *conn, unsigned char *out,
				size_t cap)
{
	size_t len = 0;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	BIO *in = BIO_new(BIO_s_mem()), *out_bio = BIO_new(BIO_s_mem());
	if (ssl && in && out_bio) {
		SSL_set_bio(ssl, in, out_bio); /* the SSL owns both now */
		in = out_bio = NULL;
		if (!host_is_ip_literal(conn->server_name))
			(void)SSL_set_tlsext_host_name(ssl, conn->server_name);
		(void)SSL_connect(ssl); /* stops waiting for the reply */
		int got = BIO_read(SSL_get_wbio(ssl), out,
				   cap > INT_MAX ? INT_MAX : (int)cap);
		len = got > 0 ? (size_t)got : 0;
	}
	BIO_free(in);
	BIO_free(out_bio);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return len;
}

/* Send a ClientHello on fd and read the first bytes of the answer. */
static bool answers_in_tls(const struct conn *conn, int fd, int64_t deadline)
{
	unsigned char hello[CLIENT_HELLO_MAX];
	size_t len = make_client_hello(conn, hello, sizeof(hello));
	if (len == 0 || send(fd, hello, len, MSG_NOSIGNAL) != (ssize_t)len)
		return false;
	unsigned char answer[2];
	size_t got = 0;
	while (got < sizeof(answer) &&
	       wait_fd(fd, POLLIN, deadline) == WAIT_READY) {
		ssize_t n = recv(fd, answer + got, sizeof(answer) - got, 0);
		if (n <= 0 && !(n < 0 && errno_is_retry(errno)))
			break;
		if (n > 0)
			got += (size_t)n;
	}
	return got == sizeof(answer) && looks_like_tls_record(answer, got);
}

/*
 * Whether the address conn is connected to answers a TLS ClientHello,
 * asked on a second connection so that a server that is only slow to
 * greet is not disturbed on the first.
 */
static bool port_speaks_tls(const struct conn *conn, int64_t deadline)
{
	struct sockaddr_storage addr;
	socklen_t addr_len = sizeof(addr);
	if (getpeername(conn->fd, (struct sockaddr *)&addr, &addr_len) != 0)
		return false;
	struct addrinfo ai = {
		.ai_family = addr.ss_family,
		.ai_socktype = SOCK_STREAM,
		.ai_addr = (struct sockaddr *)&addr,
		.ai_addrlen = addr_len,
	};
	int fd = -1;
	if (connect_one(&ai, deadline, &fd) != 0)
		return false;
	bool tls = answers_in_tls(conn, fd, deadline);
	close(fd);
	return tls;
}

static int speaks_tls_error(const struct conn *conn, const char *evidence,
			    struct yb_error *err)
{
	return yb_fail(err, YB_ERR_UNAVAILABLE, "%s %s: %s", conn->peer,
		       evidence, USE_IMPLICIT);
}

/*
 * How long the probe may take: GREETING_WAIT_MS, less when the timeout is
 * near, but enough for one round trip when it has passed already.
 */
static int64_t probe_deadline(int64_t overall)
{
	int64_t now = clock_now_ms();
	int64_t left = overall == CLOCK_NEVER ? GREETING_WAIT_MS : overall - now;
	if (left > GREETING_WAIT_MS)
		left = GREETING_WAIT_MS;
	if (left < PROBE_MIN_MS)
		left = PROBE_MIN_MS;
	return now + left;
}

int conn_wait_greeting(struct conn *conn, struct yb_error *err)
{
	if (conn->ssl)
		return YB_OK;
	int64_t overall = timeout_deadline(conn);
	int64_t first_wait = clock_deadline_in_ms(GREETING_WAIT_MS, true);
	if (overall != CLOCK_NEVER && overall < first_wait)
		first_wait = overall;
	if (conn->in_end == conn->in_start &&
	    wait_fd(conn->fd, POLLIN, first_wait) == WAIT_TIMEOUT) {
		if (port_speaks_tls(conn, probe_deadline(overall)))
			return speaks_tls_error(conn, "sent no greeting, and "
						"answers a TLS handshake", err);
	}
	if (conn->in_end == conn->in_start) {
		int rc = fill(conn, overall, err);
		if (rc != YB_OK)
			return rc;
	}
	if (looks_like_tls_record((const unsigned char *)conn->in_buf +
					  conn->in_start,
				  conn->in_end - conn->in_start))
		return speaks_tls_error(conn, "sent a TLS record instead of a "
					"greeting", err);
	return YB_OK;
}

static int injection_error(const struct conn *conn, struct yb_error *err)
{
	return yb_fail(err, YB_ERR_PROTOCOL,
		       "%s sent data after its STARTTLS reply and before the "
		       "TLS handshake (possible STARTTLS injection); aborting",
		       conn->peer);
}

/* Bytes waiting in the socket itself, without taking them. */
static int check_socket_quiet(struct conn *conn, struct yb_error *err)
{
	char probe;
	ssize_t n = recv(conn->fd, &probe, 1, MSG_PEEK);
	if (n > 0)
		return injection_error(conn, err);
	if (n == 0)
		return yb_fail(err, YB_ERR_PROTOCOL, "connection closed by %s",
			       conn->peer);
	if (errno_is_retry(errno))
		return YB_OK;
	conn->io_errno = errno;
	conn->io_why[0] = '\0';
	return io_failed(conn, IO_FAILED, "reading from", err);
}

int conn_start_tls(struct conn *conn, struct yb_error *err)
{
	if (conn->ssl)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "TLS is already active on %s", conn->peer);
	if (conn->out_len > 0)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "unsent plain text queued for %s before the TLS "
			       "handshake", conn->peer);
	if (conn->in_end > conn->in_start)
		return injection_error(conn, err);
	/* A server says nothing before our ClientHello, so bytes that already
	 * wait in the socket were injected as well. */
	int rc = check_socket_quiet(conn, err);
	if (rc != YB_OK)
		return rc;
	conn->in_start = conn->in_end = conn->in_scan = 0;
	return tls_start(conn, err);
}

int conn_start_implicit_tls(struct conn *conn, struct yb_error *err)
{
	if (conn->ssl)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "TLS is already active on %s", conn->peer);
	return tls_start(conn, err);
}

void conn_tls_summary(const struct conn *conn, char *out, size_t size)
{
	if (!conn->ssl)
		snprintf(out, size, "no TLS");
	else
		snprintf(out, size, "%s, %s", SSL_get_version(conn->ssl),
			 SSL_get_cipher_name(conn->ssl));
}

bool conn_server_fingerprint(const struct conn *conn,
			     char out[CONN_FINGERPRINT_MAX])
{
	X509 *cert = conn->ssl ? SSL_get1_peer_certificate(conn->ssl) : NULL;
	unsigned char cert_sha[SHA256_LEN], key_sha[SHA256_LEN];
	bool computed = cert && cert_digests(cert, cert_sha, key_sha);
	X509_free(cert);
	ERR_clear_error();
	if (computed)
		format_fingerprint("sha256:", cert_sha, out);
	return computed;
}

bool conn_is_tls(const struct conn *conn)
{
	return conn->ssl != NULL;
}

/* Wipe and release the output buffer (its length is kept). */
static void out_free(struct conn *conn)
{
	wipe_free(conn->out_buf, conn->out_cap);
	conn->out_buf = NULL;
	conn->out_cap = 0;
}

static int out_reserve(struct conn *conn, size_t need, struct yb_error *err)
{
	/* The callers keep need within OUT_CAP.  Zeroed, so every byte of
	   the buffer is always defined. */
	if (!wipe_grow(&conn->out_buf, conn->out_len, &conn->out_cap, need,
		       OUT_INITIAL, OUT_CAP))
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return YB_OK;
}

int conn_write(struct conn *conn, const void *data, size_t len,
	       struct yb_error *err)
{
	if (len == 0)
		return YB_OK;
	if (len > OUT_CAP - conn->out_len) {
		int rc = conn_flush(conn, err);
		if (rc != YB_OK)
			return rc;
	}
	if (len > OUT_CAP) /* too big to queue: send it straight from data */
		return send_all(conn, data, len, err);
	int rc = out_reserve(conn, conn->out_len + len, err);
	if (rc != YB_OK)
		return rc;
	memcpy(conn->out_buf + conn->out_len, data, len);
	conn->out_len += len;
	return YB_OK;
}

int conn_flush(struct conn *conn, struct yb_error *err)
{
	if (conn->out_len == 0)
		return YB_OK;
	int rc = send_all(conn, conn->out_buf, conn->out_len, err);
	/* Sent or not, these bytes may be a password; after a failure the
	   connection is finished, so nothing is resent either. */
	OPENSSL_cleanse(conn->out_buf, conn->out_len);
	conn->out_len = 0;
	return rc;
}

const char *conn_out_memory(const struct conn *conn, size_t *cap)
{
	*cap = conn->out_cap;
	return conn->out_buf;
}

/*
 * Return the line ending at the first LF of the unread bytes, or set
 * *found false.  A line longer than max_len fails even before its LF
 * arrives.
 */
static int take_line(struct conn *conn, size_t max_len, const char **line,
		     size_t *len, bool *found, struct yb_error *err)
{
	char *start = conn->in_buf + conn->in_start;
	char *lf = memchr(conn->in_buf + conn->in_scan, '\n',
			  conn->in_end - conn->in_scan);
	*found = lf != NULL;
	if (!lf) {
		conn->in_scan = conn->in_end;
		/* max_len bytes and a CR may still be a good line; more not. */
		if (conn->in_end - conn->in_start <= max_len + 1)
			return YB_OK;
	} else {
		size_t content = (size_t)(lf - start);
		if (content > 0 && start[content - 1] == '\r')
			content--;
		if (content <= max_len) {
			*line = start;
			*len = content;
			conn->in_start = conn->in_scan =
				(size_t)(lf + 1 - conn->in_buf);
			return YB_OK;
		}
	}
	return yb_fail(err, YB_ERR_PROTOCOL,
		       "line from %s longer than %zu bytes", conn->peer,
		       max_len);
}

int conn_read_line(struct conn *conn, size_t max_len, const char **line,
		   size_t *len, struct yb_error *err)
{
	int rc = conn_flush(conn, err);
	if (rc != YB_OK)
		return rc;
	if (max_len > CONN_LINE_MAX)
		max_len = CONN_LINE_MAX;
	conn->peek_stalled = false;
	/* The clock is read only when a line must be waited for: a listing
	   of 100,000 lines mostly finds the next one already buffered. */
	int64_t deadline = 0;
	bool waited = false;
	for (;;) {
		bool found = false;
		rc = take_line(conn, max_len, line, len, &found, err);
		if (rc != YB_OK || found)
			return rc;
		if (!waited)
			deadline = timeout_deadline(conn);
		waited = true;
		rc = fill(conn, deadline, err);
		if (rc != YB_OK)
			return rc;
	}
}

/*
 * Called again without a conn_consume() in between, conn_peek reads more:
 * the caller could not use what it saw (a terminator split across reads)
 * and needs the bytes that follow.
 */
int conn_peek(struct conn *conn, const char **data, size_t *len,
	      struct yb_error *err)
{
	int rc = conn_flush(conn, err);
	if (rc != YB_OK)
		return rc;
	if (conn->in_start == conn->in_end || conn->peek_stalled) {
		rc = fill(conn, timeout_deadline(conn), err);
		if (rc != YB_OK)
			return rc;
	}
	*data = conn->in_buf + conn->in_start;
	*len = conn->in_end - conn->in_start;
	conn->peek_stalled = true;
	return YB_OK;
}

void conn_consume(struct conn *conn, size_t n)
{
	size_t unread = conn->in_end - conn->in_start;
	if (n > unread) /* a caller bug; never step past the data */
		n = unread;
	if (n == 0)
		return;
	conn->in_start += n;
	if (conn->in_scan < conn->in_start)
		conn->in_scan = conn->in_start;
	conn->peek_stalled = false;
}

static void print_name(FILE *out, const char *label, const X509_NAME *name)
{
	char text[512];
	X509_NAME_oneline(name, text, sizeof(text));
	char shown[600];
	text_sanitize(shown, sizeof(shown), text, strlen(text));
	fprintf(out, "  %s %s\n", label, shown);
}

static void print_time(FILE *out, const char *label, const ASN1_TIME *when)
{
	struct tm tm;
	char text[64] = "?";
	if (ASN1_TIME_to_tm(when, &tm) == 1)
		strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(out, "  %s %s\n", label, text);
}

static void print_alt_names(FILE *out, X509 *cert)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (!names)
		return;
	fputs("  names  ", out);
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
		char shown[300];
		if (name->type == GEN_DNS) {
			const ASN1_IA5STRING *dns = name->d.dNSName;
			text_sanitize(shown, sizeof(shown), (const char *)dns->data,
				      (size_t)dns->length);
			fprintf(out, " DNS:%s", shown);
		} else if (name->type == GEN_IPADD && name->d.iPAddress->length == 4) {
			const unsigned char *ip = name->d.iPAddress->data;
			fprintf(out, " IP:%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
		}
	}
	fputc('\n', out);
	GENERAL_NAMES_free(names);
}

int conn_print_certificates(const struct conn *conn, FILE *out,
			    struct yb_error *err)
{
	if (!conn->ssl)
		return yb_fail(err, YB_ERR_INTERNAL, "%s: not a TLS connection", conn->peer);
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(conn->ssl);
	if (!chain || sk_X509_num(chain) == 0)
		return yb_fail(err, YB_ERR_UNAVAILABLE, "%s presented no certificate",
			       conn->peer);
	fprintf(out, "%s: %s, %s\n", conn->peer, SSL_get_version(conn->ssl),
		SSL_get_cipher_name(conn->ssl));
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *cert = sk_X509_value(chain, i);
		fprintf(out, "certificate %d%s\n", i, i == 0 ? " (the server's)" : "");
		print_name(out, "subject", X509_get_subject_name(cert));
		print_name(out, "issuer ", X509_get_issuer_name(cert));
		print_time(out, "valid from", X509_get0_notBefore(cert));
		print_time(out, "valid until", X509_get0_notAfter(cert));
		print_alt_names(out, cert);
		unsigned char cert_sha[SHA256_LEN], key_sha[SHA256_LEN];
		if (cert_digests(cert, cert_sha, key_sha)) {
			char text[FINGERPRINT_TEXT_MAX];
			format_fingerprint("sha256:", cert_sha, text);
			fprintf(out, "  tls_fingerprint: \"%s\"\n", text);
			format_fingerprint("pubkey-sha256:", key_sha, text);
			fprintf(out, "  tls_fingerprint: \"%s\" (public key)\n",
				text);
		}
		ERR_clear_error();
	}
	long verdict = SSL_get_verify_result(conn->ssl);
	if (verdict == X509_V_OK)
		fprintf(out, "verification: trusted, and valid for this host name\n");
	else
		fprintf(out, "verification: NOT trusted: %s\n",
			X509_verify_cert_error_string(verdict));
	ERR_clear_error();
	return YB_OK;
}

int conn_fd(const struct conn *conn)
{
	return conn->fd;
}

bool conn_has_buffered(const struct conn *conn)
{
	if (conn->in_end > conn->in_start)
		return true;
	/* A TLS record read whole but not yet handed out: the socket has
	   nothing more to say, so poll() would not wake for it. */
	return conn->ssl && SSL_pending(conn->ssl) > 0;
}

const char *conn_peer(const struct conn *conn)
{
	return conn->peer;
}

void conn_close(struct conn *conn)
{
	if (!conn)
		return;
	if (conn->ssl) {
		/* One non-blocking try at close_notify; never wait for it. */
		if (!conn->tls_broken && SSL_is_init_finished(conn->ssl)) {
			ERR_clear_error();
			(void)SSL_shutdown(conn->ssl);
		}
		ERR_clear_error();
		SSL_free(conn->ssl);
	}
	SSL_CTX_free(conn->ssl_ctx);
	BIO_meth_free(conn->bio_method);
	if (conn->fd >= 0)
		close(conn->fd);
	free(conn->in_buf);
	out_free(conn);
	free(conn->tls_ca_file);
	free(conn->tls_cert_file);
	free(conn->tls_key_file);
	free(conn->server_name);
	free(conn->host);
	free(conn->account);
	free(conn);
}
