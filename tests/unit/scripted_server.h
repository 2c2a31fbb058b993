/*
 * scripted_server.h - a one-connection server on loopback for the unit
 * tests that talk to a peer (cmocka must be included first).
 *
 * server_fork forks a child that accepts one connection on a bound
 * socket and hands it to a serve function, whose return value is the
 * child's exit code (enum server_exit); the parent gets the port.  The
 * child kills itself with alarm() after SERVER_ALARM seconds and the
 * caller's teardown reaps it (server_reap), so no test can hang or leave
 * a child behind.  One server at a time: its pid is server_pid.
 */
#ifndef YUBIN_SCRIPTED_SERVER_H
#define YUBIN_SCRIPTED_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#define SERVER_ALARM 60     /* a server child never outlives this */

/* Server exit codes. */
enum server_exit {
	SERVER_OK = 0,
	SERVER_MISMATCH = 1, /* the client sent what the script did not want */
	SERVER_IO = 2,
	SERVER_TLS = 3,
};

/* The server's end of the connection: TLS once ssl is set. */
struct peer {
	int fd;
	SSL *ssl;
};

/* Runs in the child with the accepted connection; returns its exit code. */
typedef int (*serve_fn)(struct peer *peer, const void *arg);

/* The running server child (0: none); server_join and server_reap
   clear it. */
extern pid_t server_pid;

/* A socket of family bound to address:port (0: the kernel picks), not
   yet listening; -1 on failure.  The caller owns it. */
int listen_socket(int family, const char *address, uint16_t port);

/* The port fd is bound to (0 on failure). */
uint16_t socket_port(int fd);

/* Listen on bound_fd (asserted >= 0) and fork a child that accepts one
   connection and calls serve(peer, arg).  Closes bound_fd in the parent;
   returns the port. */
uint16_t server_fork(int bound_fd, serve_fn serve, const void *arg);

/* Wait for the server; its exit code, -1 when it was killed. */
int server_join(void);

/* Kill and reap a server still running, for the tests' teardown. */
void server_reap(void);

/* A server-side TLS context with cert and key (owned by the caller,
   who frees it with SSL_CTX_free); NULL on failure. */
SSL_CTX *server_tls_ctx(X509 *cert, EVP_PKEY *key);

/* TLS handshake as the server with ctx; sets peer->ssl. */
bool peer_accept_tls(struct peer *peer, SSL_CTX *ctx);

/* Send all of data (or text): false when the connection failed. */
bool peer_send(struct peer *peer, const void *data, size_t len);
bool peer_send_text(struct peer *peer, const char *text);

/* One recv or SSL_read; its count (<= 0: EOF or error). */
ssize_t peer_recv(struct peer *peer, void *buf, size_t len);

/* Exactly len bytes into buf: false at EOF or error. */
bool peer_read_exact(struct peer *peer, void *buf, size_t len);

/* One line without its CRLF (or LF), NUL-terminated, its length in
   *len_out, read byte by byte so nothing is read ahead (a STARTTLS
   handshake may follow).  False at EOF, error or a line of size or
   more bytes. */
bool peer_read_line(struct peer *peer, char *buf, size_t size,
		    size_t *len_out);

#endif
