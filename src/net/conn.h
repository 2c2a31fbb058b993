/*
 * conn.h - one connection to a mail server: TCP with deadlines, TLS
 * (implicit or upgraded with STARTTLS), and a buffered reader whose lines
 * and buffers have hard caps.  Plain and TLS look the same to callers.
 *
 * Every function that can fail returns YB_OK or a status and fills err
 * with a message naming host, port and, for connecting, the address, and
 * saying what to change where the cause is a likely mistake in the
 * account (host, port, tls, tls_ca_file, tls_fingerprint):
 *   YB_ERR_UNAVAILABLE  name did not resolve, no address accepted us; the
 *                       port speaks TLS from the first byte but TLS was
 *                       not asked for from the start (conn_wait_greeting)
 *   YB_ERR_TEMP         a connect, read or write deadline passed; the
 *                       name server did not answer
 *   YB_ERR_PROTOCOL     the server closed the connection, a line was too
 *                       long, bytes arrived before a TLS handshake
 *   YB_ERR_CONFIG       tls_ca_file unreadable; tls_cert_file or
 *                       tls_key_file unreadable, unusable, not matching
 *                       each other, or the key readable by others
 *   YB_ERR_UNAVAILABLE  TLS handshake or certificate verification failed
 *                       (the message says why: expired, wrong host, ...)
 *   YB_ERR_INTERNAL     out of memory
 * After any error the connection is good only for conn_close().
 */
#ifndef YUBIN_CONN_H
#define YUBIN_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "tls_settings.h"

/* The longest line conn_read_line() can ever return. */
#define CONN_LINE_MAX 65536

struct conn_params {
	const char *host;
	uint16_t port;
	enum tls_mode tls;          /* TLS_IMPLICIT: handshake in conn_open */
	bool tls_verify;            /* chain + host name; false only if spelled out */
	const char *tls_ca_file;    /* extra trust anchor, or NULL */
	const struct tls_pin *tls_pins; /* any one must match; NULL: no pin */
	size_t tls_pin_count;
	const char *tls_server_name; /* verified and sent as SNI; NULL: host */
	const char *tls_cert_file;  /* client certificate chain, or NULL */
	const char *tls_key_file;   /* its key (owner-only); NULL: in cert_file */
	unsigned tls_min_version;   /* 13: TLS 1.3 at least; else TLS 1.2 */
	unsigned timeout_sec;       /* connect, each read, each write; 0: none */
	const char *account;        /* named in hints ("yubin --show-cert
				       ACCOUNT"); NULL: a placeholder */
};

struct conn;

/*
 * Resolve host, try every address in turn (IPv6 and IPv4) within the
 * deadline, and for TLS_IMPLICIT complete a verified handshake (TLS 1.2
 * minimum, SNI, host name check, then the pins if any: one of them must
 * match the certificate or its public key).  A pin is a trust anchor of
 * its own: a certificate that matches one is accepted although no CA
 * vouches for it (self-signed, expired), but the host name check still
 * applies.  On success *out is a connection the caller releases with
 * conn_close().  params is copied.
 */
int conn_open(const struct conn_params *params, struct conn **out,
	      struct yb_error *err);

/*
 * Wait for the first bytes of a server that speaks first (POP3, IMAP) on
 * a connection that is not TLS yet, and refuse a port that speaks TLS
 * from the first byte (YB_ERR_UNAVAILABLE, the message says to use
 * tls: implicit): the server sent a TLS record, or it stayed silent for
 * a few seconds and a second connection to the same address answers a
 * TLS ClientHello.  A silent server that does not speak TLS is waited
 * for until timeout_sec, as any read.  The bytes stay buffered for
 * conn_read_line().
 */
int conn_wait_greeting(struct conn *conn, struct yb_error *err);

/*
 * Upgrade a plain connection after the server's STARTTLS/STLS go-ahead.
 * Fails with YB_ERR_PROTOCOL, without a handshake, if any byte is already
 * buffered (the server, or someone in the middle, sent data that did not
 * come through TLS).
 */
int conn_start_tls(struct conn *conn, struct yb_error *err);

/*
 * For --check, which takes each step apart: the addresses host resolves
 * to (numeric, ", " between them, cut at size), with conn_open's errors
 * and hints for a name that does not resolve.
 */
int conn_resolve(const struct conn_params *params, char *out, size_t size,
		 struct yb_error *err);

/*
 * Make, before the accounts run, the TLS context params will connect with,
 * so that processes forked after it share it (tls_ctx_cache.h).  Errors
 * are left for conn_open to find and tell.  False once no more contexts
 * can be kept: preparing further accounts would be wasted.
 */
bool conn_prepare_tls(const struct conn_params *params);

/* Free the TLS contexts kept for later connections. */
void conn_forget_tls(void);

/*
 * For --check: the handshake conn_open makes for TLS_IMPLICIT, on a
 * connection opened with TLS_NONE (the TLS settings of params apply),
 * so that TCP and TLS are timed and told apart.  Errors as conn_open's.
 */
int conn_start_implicit_tls(struct conn *conn, struct yb_error *err);

/* "TLSv1.3, TLS_AES_256_GCM_SHA384", or "no TLS". */
void conn_tls_summary(const struct conn *conn, char *out, size_t size);

/* "sha256:AB:CD:...": a tls_fingerprint value. */
#define CONN_FINGERPRINT_MAX (14 + 32 * 3)

/*
 * The tls_fingerprint value of the server's certificate, as --show-cert
 * prints it; false when there is none (no TLS, no certificate).
 */
bool conn_server_fingerprint(const struct conn *conn,
			     char out[CONN_FINGERPRINT_MAX]);

bool conn_is_tls(const struct conn *conn);

/* Queue bytes to send; sent by conn_flush() or before the next read. */
int conn_write(struct conn *conn, const void *data, size_t len,
	       struct yb_error *err);

/* Send what is queued, then wipe it (it may have been a password). */
int conn_flush(struct conn *conn, struct yb_error *err);

/*
 * For tests: the output buffer, all *cap bytes of it (queued bytes
 * first), to show that no secret stays there.  NULL before any write.
 */
const char *conn_out_memory(const struct conn *conn, size_t *cap);

/*
 * Read one line.  *line points into the connection's buffer and stays
 * valid until the next call on conn; *len excludes the LF and a CR before
 * it; the line is not NUL-terminated.  A line longer than max_len (at
 * most CONN_LINE_MAX) is YB_ERR_PROTOCOL.  Flushes pending writes first.
 */
int conn_read_line(struct conn *conn, size_t max_len, const char **line,
		   size_t *len, struct yb_error *err);

/*
 * Make at least one unread byte available and show all buffered ones
 * (for streaming message bodies): *data and *len stay valid until the next
 * call on conn.  Mark what was used with conn_consume(); a peek with
 * nothing consumed since the last one reads more (for a caller waiting on
 * a terminator split across reads).  End of stream
 * is YB_ERR_PROTOCOL ("connection closed by HOST").
 */
int conn_peek(struct conn *conn, const char **data, size_t *len,
	      struct yb_error *err);

/* Drop n bytes (n <= what conn_peek showed) from the front of the buffer. */
void conn_consume(struct conn *conn, size_t n);

/*
 * For --show-cert: print the certificate chain the server presented
 * (subject, issuer, validity, names, sha256 fingerprint of each) and
 * whether verification against the trust store and the host name
 * passed, to out.  The connection must be TLS.
 */
int conn_print_certificates(const struct conn *conn, FILE *out,
			    struct yb_error *err);

/*
 * For a caller that waits on several connections at once (poll): the
 * socket, and whether unread bytes are already buffered here or inside
 * TLS, where poll() on the socket cannot see them.
 */
int conn_fd(const struct conn *conn);
bool conn_has_buffered(const struct conn *conn);

/* "host:port", for messages; owned by conn. */
const char *conn_peer(const struct conn *conn);

/* Shut TLS down politely (best effort), close, free.  NULL is fine. */
void conn_close(struct conn *conn);

#endif
