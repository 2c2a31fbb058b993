/* scripted_server.c - a one-connection server on loopback for unit tests. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scripted_server.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t server_pid;

int listen_socket(int family, const char *address, uint16_t port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_storage storage;
	memset(&storage, 0, sizeof(storage));
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&storage;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, address, &sin->sin_addr);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&storage;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		inet_pton(AF_INET6, address, &sin6->sin6_addr);
		len = sizeof(*sin6);
	}
	if (bind(fd, (struct sockaddr *)&storage, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

uint16_t socket_port(int fd)
{
	struct sockaddr_storage storage;
	socklen_t len = sizeof(storage);
	if (getsockname(fd, (struct sockaddr *)&storage, &len) < 0)
		return 0;
	if (storage.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&storage)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&storage)->sin6_port);
}

static void run_server_child(int listen_fd, serve_fn serve, const void *arg)
{
	alarm(SERVER_ALARM);
	struct peer peer = { .fd = accept(listen_fd, NULL, NULL), .ssl = NULL };
	close(listen_fd);
	if (peer.fd < 0)
		_exit(SERVER_IO);
	int one = 1;
	setsockopt(peer.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* _exit: the child must not run cmocka's or the sanitizers' exit
	 * handlers. */
	_exit(serve(&peer, arg));
}

uint16_t server_fork(int bound_fd, serve_fn serve, const void *arg)
{
	assert_true(bound_fd >= 0);
	assert_int_equal(listen(bound_fd, 8), 0);
	uint16_t port = socket_port(bound_fd);
	assert_true(port != 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		run_server_child(bound_fd, serve, arg);
	close(bound_fd);
	server_pid = pid;
	return port;
}

int server_join(void)
{
	int status = 0;
	pid_t pid = server_pid;
	server_pid = 0;
	if (pid <= 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void server_reap(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
}

SSL_CTX *server_tls_ctx(X509 *cert, EVP_PKEY *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	if (SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

bool peer_accept_tls(struct peer *peer, SSL_CTX *ctx)
{
	peer->ssl = SSL_new(ctx);
	return peer->ssl && SSL_set_fd(peer->ssl, peer->fd) == 1 &&
	       SSL_accept(peer->ssl) == 1;
}

bool peer_send(struct peer *peer, const void *data, size_t len)
{
	const char *at = data;
	while (len > 0) {
		ssize_t n;
		if (peer->ssl) {
			int chunk = len > 65536 ? 65536 : (int)len;
			n = SSL_write(peer->ssl, at, chunk);
		} else {
			n = send(peer->fd, at, len, MSG_NOSIGNAL);
		}
		if (n <= 0)
			return false;
		at += n;
		len -= (size_t)n;
	}
	return true;
}

bool peer_send_text(struct peer *peer, const char *text)
{
	return peer_send(peer, text, strlen(text));
}

ssize_t peer_recv(struct peer *peer, void *buf, size_t len)
{
	if (peer->ssl)
		return SSL_read(peer->ssl, buf,
				len > INT_MAX ? INT_MAX : (int)len);
	return recv(peer->fd, buf, len, 0);
}

bool peer_read_exact(struct peer *peer, void *buf, size_t len)
{
	char *at = buf;
	while (len > 0) {
		ssize_t n = peer_recv(peer, at, len);
		if (n <= 0)
			return false;
		at += n;
		len -= (size_t)n;
	}
	return true;
}

bool peer_read_line(struct peer *peer, char *buf, size_t size,
		    size_t *len_out)
{
	size_t len = 0;
	for (;;) {
		char c;
		if (peer_recv(peer, &c, 1) != 1)
			return false;
		if (c == '\n')
			break;
		if (len + 1 >= size)
			return false;
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	*len_out = len;
	return true;
}
