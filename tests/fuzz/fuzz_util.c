/* fuzz_util.c - helpers shared by the fuzz targets (see fuzz.h). */
#include "config.h"

#include "fuzz.h"

#include "folder_path.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz: broken promise: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

bool fuzz_printable(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char byte = (unsigned char)text[i];
		if (byte < 0x20 || byte > 0x7e)
			return false;
	}
	return true;
}

void fuzz_check_error(const char *where, int rc, const struct yb_error *err,
		      unsigned allowed)
{
	if (rc == YB_OK)
		return;
	if (rc < 0 || rc > YB_ERR_INTERNAL || !(allowed & FUZZ_STATUS(rc)))
		fuzz_fail("%s returned status %d (%s), not one it may return; "
			  "message: %s", where, rc,
			  rc >= 0 && rc <= YB_ERR_INTERNAL
				  ? yb_status_name((enum yb_status)rc) : "?",
			  err->msg);
	if ((int)err->status != rc)
		fuzz_fail("%s returned %d but its error says %d", where, rc,
			  (int)err->status);
	size_t len = strnlen(err->msg, sizeof(err->msg));
	if (len == sizeof(err->msg))
		fuzz_fail("%s: error message not NUL-terminated", where);
	if (len == 0)
		fuzz_fail("%s failed with an empty message", where);
	for (size_t i = 0; i < len; i++) {
		unsigned char byte = (unsigned char)err->msg[i];
		if (byte < 0x20 || byte > 0x7e)
			fuzz_fail("%s: error message holds byte 0x%02x at %zu "
				  "(not sanitized)", where, byte, i);
	}
}

uint8_t fuzz_take_byte(struct fuzz_input *in)
{
	if (in->len == 0)
		return 0;
	uint8_t byte = in->data[0];
	in->data++;
	in->len--;
	return byte;
}

void fuzz_chunker_init(struct fuzz_chunker *chunker, uint8_t seed,
		       unsigned max_chunk)
{
	/* xorshift32 must not start at 0. */
	chunker->rng = 0x9e3779b9u ^ ((uint32_t)seed * 0x01000193u);
	if (chunker->rng == 0)
		chunker->rng = 1;
	chunker->max_chunk = max_chunk;
}

size_t fuzz_chunker_next(struct fuzz_chunker *chunker, size_t remaining)
{
	if (chunker->max_chunk == 0 || remaining == 0)
		return remaining;
	uint32_t x = chunker->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	chunker->rng = x;
	size_t size = 1 + x % chunker->max_chunk;
	return size < remaining ? size : remaining;
}

uint64_t fuzz_hash(uint64_t hash, const void *data, size_t len)
{
	const unsigned char *bytes = data;
	for (size_t i = 0; i < len; i++) {
		hash ^= bytes[i];
		hash *= 0x100000001b3ULL;
	}
	return hash;
}

uint64_t fuzz_hash_u64(uint64_t hash, uint64_t value)
{
	unsigned char bytes[8];
	for (int i = 0; i < 8; i++)
		bytes[i] = (unsigned char)(value >> (8 * i));
	return fuzz_hash(hash, bytes, sizeof(bytes));
}

/* --- the private directory --- */

static char temp_dir[4096];

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void fuzz_remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_temp_dir(void)
{
	if (temp_dir[0] != '\0')
		fuzz_remove_tree(temp_dir);
}

const char *fuzz_temp_dir(void)
{
	if (temp_dir[0] != '\0')
		return temp_dir;
	const char *base = getenv("TMPDIR");
	if (!base || base[0] != '/')
		base = "/tmp";
	int written = snprintf(temp_dir, sizeof(temp_dir),
			       "%s/yubin-fuzz.XXXXXX", base);
	if (written < 0 || (size_t)written >= sizeof(temp_dir) ||
	    !mkdtemp(temp_dir)) {
		fprintf(stderr, "fuzz: cannot make a directory under %s: %s\n",
			base, strerror(errno));
		temp_dir[0] = '\0';
		return NULL;
	}
	atexit(remove_temp_dir);
	return temp_dir;
}

void fuzz_path(char *out, size_t out_size, const char *dir, const char *name)
{
	int written = snprintf(out, out_size, "%s/%s", dir, name);
	if (written < 0 || (size_t)written >= out_size)
		fuzz_fail("path %s/%s does not fit %zu bytes", dir, name,
			  out_size);
}

void fuzz_write_file(const char *path, const void *data, size_t len,
		     unsigned mode)
{
	if (unlink(path) != 0 && errno != ENOENT)
		fuzz_fail("cannot remove %s: %s", path, strerror(errno));
	if (!data)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		      (mode_t)mode);
	if (fd < 0)
		fuzz_fail("cannot create %s: %s", path, strerror(errno));
	const char *at = data;
	while (len > 0) {
		ssize_t n = write(fd, at, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fuzz_fail("cannot write %s: %s", path, strerror(errno));
		at += n;
		len -= (size_t)n;
	}
	/* The umask may have taken bits away; the mode is part of the test. */
	if (fchmod(fd, (mode_t)mode) != 0 || close(fd) != 0)
		fuzz_fail("cannot finish %s: %s", path, strerror(errno));
}

/* --- folder paths --- */

static bool component_ok(const char *text, size_t len)
{
	if (len == 0 || len > FOLDER_COMPONENT_MAX)
		return false;
	if ((len == 1 && text[0] == '.') ||
	    (len == 2 && text[0] == '.' && text[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char byte = (unsigned char)text[i];
		if (byte < 0x20 || byte == 0x7f)
			return false;
	}
	return true;
}

static bool is_word(const char *text, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(text, word, len) == 0;
}

static bool ends_sbd(const char *text, size_t len)
{
	return len >= 4 && strncasecmp(text + len - 4, ".sbd", 4) == 0;
}

/* The layout's own rules for one component of a path it made. */
static void check_component(const struct folder_path_opts *opts,
			    const char *text, size_t len, bool last)
{
	if (!component_ok(text, len))
		fuzz_fail("folder_path_map made a bad component \"%.*s\"",
			  (int)len, text);
	if (opts->layout == FOLDER_LAYOUT_VERBATIM)
		FUZZ_CHECK(!is_word(text, len, "tmp") &&
			   !is_word(text, len, "new") &&
			   !is_word(text, len, "cur"));
	if (opts->layout == FOLDER_LAYOUT_MBOX && last)
		FUZZ_CHECK(!ends_sbd(text, len));
	if (opts->layout == FOLDER_LAYOUT_MAILDIRPP) {
		FUZZ_CHECK(last && text[0] == '.');
		FUZZ_CHECK(fuzz_printable(text, len));
	}
}

static void check_path(const struct folder_path_opts *opts, const char *name,
		       size_t name_len, const char *path, size_t path_len)
{
	FUZZ_CHECK(strlen(path) == path_len && path_len <= FOLDER_PATH_MAX);
	if (path_len == 0) {
		/* Only INBOX may be the root itself. */
		FUZZ_CHECK(name_len == 5 && strncasecmp(name, "INBOX", 5) == 0);
		FUZZ_CHECK(opts->layout == FOLDER_LAYOUT_MAILDIRPP ||
			   (opts->layout == FOLDER_LAYOUT_VERBATIM &&
			    opts->inbox_at_root));
		return;
	}
	const char *at = path;
	const char *end = path + path_len;
	while (at <= end) {
		const char *slash = memchr(at, '/', (size_t)(end - at));
		const char *stop = slash ? slash : end;
		check_component(opts, at, (size_t)(stop - at), !slash);
		at = stop + 1;
	}
}

void fuzz_check_folder_paths(const char *name, size_t len, char delimiter)
{
	static const struct folder_path_opts layouts[] = {
		{ FOLDER_LAYOUT_VERBATIM, true },
		{ FOLDER_LAYOUT_VERBATIM, false },
		{ FOLDER_LAYOUT_MAILDIRPP, false },
		{ FOLDER_LAYOUT_MBOX, false },
	};
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		char out[FOLDER_PATH_MAX + 1];
		size_t out_len = SIZE_MAX;
		struct yb_error err;
		memset(out, 'x', sizeof(out));
		int rc = folder_path_map(name, len, delimiter, &layouts[i], out,
					 sizeof(out), &out_len, &err);
		fuzz_check_error("folder_path_map", rc, &err,
				 FUZZ_STATUS(YB_ERR_PROTOCOL));
		if (rc != YB_OK) {
			FUZZ_CHECK(out[0] == '\0');
			continue;
		}
		check_path(&layouts[i], name, len, out, out_len);
	}
}

/* --- a one-connection server for the session targets --- */

/* The server gives up when nothing happens for this long (ms). */
#define SERVER_IDLE_MS 5000

static int server_fd = -1;

uint16_t fuzz_server_listen(void)
{
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t addr_len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &addr_len) != 0)
		fuzz_fail("cannot listen on 127.0.0.1: %s", strerror(errno));
	server_fd = fd;
	return ntohs(addr.sin_port);
}

static int accept_one(void)
{
	struct pollfd pfd = { server_fd, POLLIN, 0 };
	int ready;
	do
		ready = poll(&pfd, 1, SERVER_IDLE_MS);
	while (ready < 0 && errno == EINTR);
	if (ready <= 0)
		return -1;
	return accept4(server_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* Write data, then end our side; drop what the client sends until it closes. */
static void converse(int fd, const struct fuzz_server_job *job)
{
	size_t sent = 0;
	bool shut = false;
	char dropped[4096];
	for (;;) {
		if (sent == job->len && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		struct pollfd pfd = { fd, POLLIN, 0 };
		if (!shut)
			pfd.events |= POLLOUT;
		int ready = poll(&pfd, 1, SERVER_IDLE_MS);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			return;
		if (pfd.revents & POLLOUT) {
			ssize_t n = send(fd, job->data + sent, job->len - sent,
					 MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				sent = job->len; /* the client is gone */
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, dropped, sizeof(dropped), 0);
			if (n == 0 ||
			    (n < 0 && errno != EAGAIN && errno != EINTR))
				return;
		}
	}
}

void *fuzz_server_serve(void *job)
{
	if (server_fd < 0)
		fuzz_fail("fuzz_server_serve before fuzz_server_listen");
	int fd = accept_one();
	if (fd < 0)
		return NULL;
	converse(fd, job);
	close(fd);
	return NULL;
}

static char syslog_dir[] = "/tmp/yubin-fuzz-log.XXXXXX";

static void remove_syslog_socket(void)
{
	fuzz_remove_tree(syslog_dir);
}

void fuzz_syslog_socket(void)
{
	static char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (path[0])
		return;
	char *dir = syslog_dir;
	if (!mkdtemp(dir))
		fuzz_fail("cannot make a directory for the syslog socket");
	snprintf(path, sizeof(path), "%s/log", dir);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		fuzz_fail("cannot make the syslog socket %s", path);
	setenv("YUBIN_TEST_SYSLOG_SOCKET", path, 1);
	atexit(remove_syslog_socket);
	/* fd stays open for the life of the process. */
}
