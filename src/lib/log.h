/*
 * log.h - messages to stderr (or syslog), filtered by verbosity.
 *
 * Verbosity: -1 errors only (-q), 0 warnings and errors (default), 1 info
 * (-v), 2 debug (-vv), 3 protocol trace (-vvv).  Text that came from a
 * server or a file must pass through text_sanitize() before it is logged;
 * secrets must never be passed to these functions at all.
 */
#ifndef YUBIN_LOG_H
#define YUBIN_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR = -1,
	LOG_LEVEL_WARN = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_DEBUG = 2,
	LOG_LEVEL_TRACE = 3,
};

/*
 * Set once from main; also sets the "yubin: " program prefix.  With
 * use_syslog but no syslog to reach (no /dev/log, as in many
 * containers), say so once on stderr and log there instead.
 */
void log_init(int verbosity, bool use_syslog);

/* Do messages go to syslog (asked for, and reachable)? */
bool log_uses_syslog(void);

/* Prefix every line with "ACCOUNT: " (NULL for none); per process. */
void log_set_account(const char *account);

bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_LEVEL_TRACE, __VA_ARGS__)

#endif
