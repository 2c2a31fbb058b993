/*
 * runstop.h - stopping a run in order on SIGINT, SIGTERM or SIGHUP.
 *
 * The handler only notes the signal.  The engines ask run_stopping()
 * before each new message (delivery_begin does), so nothing new is
 * started, while what is in flight (an MDA, a batch) finishes within its
 * timeout and is recorded; main then exits with 128 + the signal.  A
 * second SIGINT (an impatient ^C) is not caught: it kills at once.
 */
#ifndef YUBIN_RUNSTOP_H
#define YUBIN_RUNSTOP_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* Catch SIGINT, SIGTERM and SIGHUP from now on (without SA_RESTART, so
   a blocking wait returns EINTR and its caller can look); one that is
   ignored already (nohup) stays ignored. */
void runstop_catch_signals(void);

/*
 * In a -j child: signals sent by parent_pid are the parent forwarding a
 * stop it got itself; they never count as the second ^C.
 */
void runstop_set_forwarder(pid_t parent_pid);

/* Has a stop signal arrived? */
bool run_stopping(void);

/* The signal that stopped the run (SIGINT, SIGTERM, SIGHUP), or 0. */
int run_stop_signal(void);

/* "SIGTERM" and so on, for messages. */
const char *run_stop_signal_name(void);

/*
 * YB_OK, or, once a stop signal arrived, YB_ERR_TEMP with err saying
 * that `what` (an account, a mailbox) was stopped before its next
 * message and the rest is fetched next run.
 */
int run_check_stop(const char *what, struct yb_error *err);

#endif
