/* log.c - stderr/syslog output with verbosity levels. */
#include "config.h"

#include "log.h"
#include "progress.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

static int log_verbosity;
static bool log_to_syslog;
static char log_account[128];

/* Where syslog(3) sends; a test points it elsewhere (YUBIN_TEST_HOOKS). */
static const char *syslog_socket_path(void)
{
#ifdef YUBIN_TEST_HOOKS
	const char *path = getenv("YUBIN_TEST_SYSLOG_SOCKET");
	if (path && path[0])
		return path;
#endif
	return "/dev/log";
}

/* Can a message reach syslog?  syslog(3) would drop it without a word
   (no /dev/log in a container), and with it every error.  Returns 0 or
   the errno of the failed connect. */
static int syslog_reachable(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	/* As syslog(3) tries: a datagram socket, then a stream one. */
	static const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	int errnum = 0;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errno;
		int rc = connect(fd, (const struct sockaddr *)&addr, sizeof(addr));
		errnum = rc == 0 ? 0 : errno;
		close(fd);
		if (rc == 0)
			return 0;
	}
	return errnum;
}

void log_init(int verbosity, bool use_syslog)
{
	log_verbosity = verbosity;
	log_to_syslog = false;
	if (!use_syslog)
		return;
	const char *path = syslog_socket_path();
	int errnum = syslog_reachable(path);
	if (errnum != 0) {
		if (log_enabled(LOG_LEVEL_WARN))
			fprintf(stderr, "yubin: syslog is not available (%s: %s); "
				"logging to stderr\n", path, strerror(errnum));
		return;
	}
	log_to_syslog = true;
	openlog("yubin", LOG_PID, LOG_MAIL);
}

bool log_uses_syslog(void)
{
	return log_to_syslog;
}

void log_set_account(const char *account)
{
	if (!account) {
		log_account[0] = '\0';
		return;
	}
	snprintf(log_account, sizeof(log_account), "%s", account);
}

bool log_enabled(enum log_level level)
{
	return level <= log_verbosity;
}

static int syslog_priority(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR: return LOG_ERR;
	case LOG_LEVEL_WARN:  return LOG_WARNING;
	case LOG_LEVEL_INFO:  return LOG_INFO;
	default:              return LOG_DEBUG;
	}
}

static const char *level_tag(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR: return "error: ";
	case LOG_LEVEL_WARN:  return "warning: ";
	default:              return "";
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	char text[2048];
	va_list ap;
	va_start(ap, fmt);
	int written = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (written < 0)
		return;
	const char *sep = log_account[0] ? ": " : "";
	if (log_to_syslog) {
		syslog(syslog_priority(level), "%s%s%s%s", log_account, sep,
		       level_tag(level), text);
		return;
	}
	progress_clear();
	/* One fprintf per line keeps lines whole when -j runs in parallel. */
	fprintf(stderr, "yubin: %s%s%s%s\n", log_account, sep, level_tag(level),
		text);
}
