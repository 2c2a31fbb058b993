/*
 * mda.h - the MDA sink: each message is handed to a command (procmail,
 * maildrop, dovecot-lda, a script) on its standard input.
 *
 * How the command runs.
 *   - Without a shell when the command holds none of the characters
 *         | & ; < > ( ) $ ` \ * ? [ ] { } ~ # ! newline CR
 *     and its first word holds no '='.  It is then split into words at
 *     spaces and tabs; '...' and "..." quote spaces (nothing is special
 *     inside either; a quote left open is an error).  The first word is
 *     looked up in PATH.
 *   - Otherwise with /bin/sh -c COMMAND.
 * Expansions: %u the account's user, %a the account's name, %f the
 * envelope sender, %% a '%'.  Any other '%' sequence is an error when the
 * sink is opened.
 *
 * The filter.  A command may hand a value on to a second shell yubin's
 * quoting does not reach (su -c "deliver -f %f", ssh host deliver -f %f),
 * so every value is filtered before it is expanded, as Postfix's
 * command_expansion_filter does: a value passes (mda_value_is_safe,
 * envelope.h) when it holds only ASCII letters, digits and @ . _ + = -
 * and does not start with '-'.  A value that fails is never cleaned (a
 * partly cleaned address could name someone else):
 *   %f  the sender (as for mbox, see envelope.h: the Return-Path address,
 *       else MAILER-DAEMON) becomes MDA_FALLBACK_SENDER; logged at -v;
 *   %u, %a  mda_open refuses a command that expands one whose value fails
 *       (YB_ERR_CONFIG); a command that does not gets "" in its variable.
 *   - Without a shell, the values are put into the words as they are: one
 *     word stays one argument.
 *   - With a shell, the values never enter the command's text: %u, %a and
 *     %f become references to the variables YUBIN_USER, YUBIN_ACCOUNT and
 *     YUBIN_SENDER, quoted for where they stand ("${YUBIN_SENDER}" outside
 *     quotes, '"${YUBIN_SENDER}"' inside '...', ${YUBIN_SENDER} inside
 *     "..."), so the shell expands each exactly once.  A % sequence right
 *     after a backslash is refused.
 * The three variables, set for the command in both forms, hold the
 * filtered values.
 *
 * The command's environment is yubin's, without the variables that hold
 * a password (secret_env_withheld, secret.h), with the three above.
 *
 * The command's standard input is the message (a file: the MDA may seek),
 * its standard output goes to yubin's standard error (yubin's standard
 * output is for --json), its standard error is yubin's.  It runs in a
 * process group of its own with default signal dispositions and no other
 * descriptor open.  A command that runs longer than the timeout is sent
 * SIGTERM, then SIGKILL one second later, as a whole process group.
 *
 * Outcome of each message (mda_msg_outcome):
 *   exit status 0                     MDA_DELIVERED
 *   exit status 75 (EX_TEMPFAIL), death by a signal, the timeout
 *                                     MDA_DEFERRED; the rest of the batch
 *                                     is not run (MDA_DEFERRED too)
 *   exit status 126 or 127 (what sh, or a spawn that cannot report,
 *   says when the program is not found or cannot run)
 *                                     MDA_DEFERRED, and publish fails
 *                                     with YB_ERR_CONFIG: the rest of the
 *                                     batch is not run
 *   any other exit status             MDA_REFUSED; the batch goes on
 *
 * The batch: sink_prepare gives each message its dest, "mda:", a token
 * unique to this run and the SHA-256 of the message's bytes
 * ("mda:SECONDS.PID.SEQ.RANDOM.HEX64").  The state keeps the dest with
 * the message's key, in the same synced records, so sink_digests can say
 * what was handed over from the dests it is given (a dest without the
 * digest, as older runs recorded, resolves as before and gives none).  Nothing is synced:
 * the spool files are unlinked temporary files that cannot outlive a
 * crash.  sink_publish runs the command once per message, in order.  It
 * returns
 *   YB_OK            every message was delivered;
 *   YB_ERR_TEMP      a message was deferred (exit 75, signal, timeout);
 *   YB_ERR_IO        some messages were refused, or a local failure;
 *   YB_ERR_CONFIG    the command cannot be started (not found, not
 *                    executable, or it exited 126/127); the batch stops.
 * Whatever it returns, each message of the batch stays readable with
 * mda_msg_outcome until the next sink_msg_begin, sink_prepare,
 * sink_discard or sink_close (an extension of sink.h's rule, for MDA
 * sinks only).  The engine must commit exactly the MDA_DELIVERED ones and
 * drop the intents of the others (and report the MDA_REFUSED ones); an
 * engine that does not know this sees an error and leaves every intent
 * open, which is safe: the next run reports them and delivers again.
 *
 * What yubin promises with an MDA.  Exactly once as long as yubin is not
 * killed while a command runs (or between its end and the commit): the
 * intent is recorded before the command starts and the commit after it
 * exits 0.  The delivery hands an MDA sink batches of one message, so
 * such a kill leaves at most one message unknown.  If yubin dies in that
 * window, the command may or may not have delivered: the outcome is
 * unknown.  The next run does not guess that it was delivered:
 * sink_resolve answers *present = false (the message is fetched and
 * delivered again, so it may arrive twice: at least once) and mda_resolve
 * answers MDA_UNKNOWN so that the engine warns the user, naming the
 * message.
 *
 * Memory does not grow with a message's size; each pending message holds
 * one descriptor (its spool file in $TMPDIR, else /tmp).
 *
 * Errors: YB_ERR_CONFIG (a bad command), YB_ERR_IO, YB_ERR_TEMP (above),
 * YB_ERR_INTERNAL (out of memory, a malformed dest).
 */
#ifndef YUBIN_MDA_H
#define YUBIN_MDA_H

#include <stdbool.h>

#include "error.h"
#include "sink.h"

#define MDA_DEFAULT_TIMEOUT_SEC 300u

struct mda_vars {
	const char *user;    /* %u; NULL is "" */
	const char *account; /* %a; NULL is "" */
};

/*
 * Check command (YB_ERR_CONFIG: empty, a quote left open, an unknown %
 * sequence, % after a backslash) and make the sink.  vars and command are
 * copied.  timeout_sec 0 means MDA_DEFAULT_TIMEOUT_SEC.  The caller frees
 * with sink_close().
 */
int mda_open(const char *command, const struct mda_vars *vars,
	     unsigned timeout_sec, struct sink **out, struct yb_error *err);

/* Does command run through /bin/sh (the rule above)? */
bool mda_needs_shell(const char *command);

enum mda_outcome {
	MDA_PENDING,   /* not run yet */
	MDA_DELIVERED, /* the command exited 0: commit */
	MDA_REFUSED,   /* it failed for this message: report, keep on server */
	MDA_DEFERRED,  /* temporary failure or not run: try the next run */
	MDA_UNKNOWN,   /* mda_resolve: a crashed run's, may be delivered */
};

/*
 * The outcome of a message of an MDA sink (see above for how long it can
 * be asked).  *detail (may be NULL) gets a short text for the log, such
 * as "exited with status 1", owned by the message.
 */
enum mda_outcome mda_msg_outcome(const struct sink_msg *msg,
				 const char **detail);

/*
 * For an intent left by a crashed run: MDA_UNKNOWN for any well-formed
 * MDA dest; YB_ERR_INTERNAL for anything else.  sink_resolve on an MDA
 * sink answers the same with *present = false.
 */
int mda_resolve(struct sink *sink, const char *dest,
		enum mda_outcome *outcome, struct yb_error *err);

#endif
