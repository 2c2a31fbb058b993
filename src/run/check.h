/*
 * check.h - yubin --check: an account's setup walked step by step, from
 * the password source to the lock, each step told as it ends, stopping
 * at the first failure with what to change.  Fetches nothing and writes
 * nothing.
 */
#ifndef YUBIN_CHECK_H
#define YUBIN_CHECK_H

#include <stdint.h>

#include "account.h"
#include "error.h"

enum check_mark { CHECK_OK, CHECK_WARN, CHECK_FAIL };

/* One step as it ended; every pointer is valid during the call only. */
struct check_step {
	const char *account;
	const char *name;        /* "secret", "resolve", "connect", ... */
	enum check_mark mark;
	enum yb_status status;   /* YB_OK unless mark is CHECK_FAIL */
	const char *detail;      /* what was found, or why it failed */
	const char *hint;        /* the account key to change, or NULL */
	const char *more;        /* further lines (a certificate chain), or NULL */
	int64_t ms;              /* how long the step took */
};

typedef void (*check_step_fn)(void *ctx, const struct check_step *step);

/*
 * Check account, calling fn once a step.  Returns YB_OK when every step
 * passed (warnings pass), else the status of the failed step, after
 * which no step follows.
 */
int check_account(const struct account *account, check_step_fn fn, void *ctx);

/* --- for check.c and check_local.c --- */

/* Tell fn a step of what started at started_ms (clock_now_ms). */
void check_tell(const struct account *account, check_step_fn fn, void *ctx,
		const struct check_step *step, int64_t started_ms);

/*
 * The local steps: the destination, the state directory, the lock.
 * Returns YB_OK or the failed step's status.
 */
int check_local(const struct account *account, check_step_fn fn, void *ctx);

/* A name for a statfs f_type ("ext2/3/4", "tmpfs", "nfs"...), or NULL. */
const char *check_fs_name(unsigned long fs_type);

#endif
