/* log.c - stderr/syslog output with verbosity levels. */
#include "config.h"

#include "log.h"
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static int log_verbosity;
static bool log_to_syslog;
static char log_account[128];

void log_init(int verbosity, bool use_syslog)
{
	log_verbosity = verbosity;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog("yubin", LOG_PID, LOG_MAIL);
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
