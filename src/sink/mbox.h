/*
 * mbox.h - the mbox sink (mboxrd).
 *
 * Format (mboxrd).  Each message is appended as
 *
 *     From SENDER DATE\n
 *     the message, every line matching ^>*From  given one more '>'
 *     \n                     (only if the message does not end in one)
 *     \n                     (the blank line that ends every message)
 *
 * SENDER is the message's envelope sender, from its Return-Path header
 * field (envelope.h says how), or MAILER-DAEMON.  DATE is in asctime
 * form ("Fri Feb 13 23:31:30 2009"), in UTC, from the message's internal
 * date when known, else from the time the message was begun.  An empty
 * message gets no newline of its own: its From line is followed by the
 * blank line only.  Bytes are otherwise kept as they are (CRLF was
 * turned into LF before the sink; a bare CR stays).
 *
 * Before the first message of a batch, a file that does not end in a
 * blank line gets the one or two '\n' it lacks; those bytes belong to the
 * first message's range, so rolling it back removes them too.
 *
 * Locking: the dotlock first, then fcntl, the order of procmail and of
 * Dovecot's upstream default (mbox_write_locks = dotlock fcntl).  Postfix,
 * mutt and some Dovecot builds take fcntl first; since each attempt here
 * takes both locks or neither and never waits holding one, either order
 * can only delay yubin, never deadlock with it.
 *   1. the dotlock PATH.lock, made by writing "PID:HOSTNAME" (Dovecot's
 *      format) into a unique file in the same directory and link()ing it
 *      to PATH.lock; success is judged by the link count (NFS-safe).  A
 *      dotlock is stale, and is removed, when its PID names a process of
 *      this host that is gone, or when it has no such PID and its mtime is
 *      more than 5 minutes old.  A symbolic link there is no dotlock:
 *      it is never followed, and the lock fails at once (YB_ERR_IO).
 *   2. an fcntl() write lock on the whole file (F_SETLK, never F_SETLKW).
 * Each attempt takes both or neither; between attempts the sink sleeps
 * (10 ms, doubling to 200 ms).  A lock not had within the lock timeout
 * (default 30 s) is YB_ERR_TEMP.  Programs that lock with flock() only
 * are not excluded.  Locks are held from sink_prepare to the end of
 * sink_publish or sink_discard, and during sink_resolve and
 * sink_digests, and never otherwise.
 *
 * The dest of a message is "OFFSET+LENGTH+HEAD+BODY+END+PID": its range
 * in the file (decimal); HEAD, 16 hex digits of a SHA-256 over the
 * range's bytes up to the end of its From line (fix-up newlines
 * included); BODY, the same over the rest of the range; END, the size of
 * the file after its whole batch; PID, the process that held the dotlock.
 * sink_resolve decides, under the lock:
 *   - the range holds exactly our bytes: present;
 *   - the file ends at or before OFFSET: absent, nothing to remove.  A
 *     file shorter than OFFSET (unless an earlier intent of the same
 *     batch cut it there) is logged as a warning: another program
 *     rewrote it, and the message may arrive twice;
 *   - otherwise our bytes are not whole, and
 *     - if the crashed run's dotlock is still there ("PID:HOST" with the
 *       dest's PID, a process now gone), nobody that honours dotlocks
 *       wrote since: if the file is no longer than END, all from OFFSET
 *       on is ours: cut back to OFFSET, absent.  The evidence carries
 *       over to the batch's next intents while the file stays the same
 *       (inode, size, mtime) from one resolve to the next;
 *     - if the range starts with a whole From line that is not ours,
 *       another's message is there (a reader rewrote the file, or the
 *       user removed our partial one): absent, nothing cut, a warning;
 *     - if no line after our From line starts with "From " (a NUL counts
 *       as a line break: power loss leaves zeros) and the file is no
 *       longer than END, it is our torn write: cut back, absent;
 *     - else another program appended after our torn write: YB_ERR_IO
 *       telling the user where to look and what to remove; the file is
 *       left untouched.  Once the user has removed our partial message,
 *       the rule above answers absent.
 *
 * sink_digests reads the whole file under the locks, in slices: each
 * message from its From line to the next unquoted one, unquoted (one '>'
 * less on ^>+From  lines), without its From line and the blank line that
 * ends it, hashed as it streams by; a message that ends in a newline is
 * also given without it (the newline the format adds to a message that
 * lacked one), for the same copy.  A copy's dest there is
 * "OFFSET+LENGTH", its range in the file; a message recognised as that
 * copy is recorded with it.
 *
 * Several mbox sinks may live in one process, each on its own file (a
 * file must not be opened twice: fcntl locks are per process).  At most
 * one message per sink is being written at a time.  Memory does not grow
 * with a message's size: messages are streamed into one unlinked spool
 * file in the mbox's directory (O_TMPFILE where the file system has it).
 * The spool is not synced: it cannot outlive a crash, and the intent of a
 * message that was never appended resolves as absent.
 *
 * Errors: YB_ERR_IO (files, a file that is not an mbox, data after a torn
 * write), YB_ERR_TEMP (lock not had in time), YB_ERR_INTERNAL (out of
 * memory, misuse, a malformed dest).  Messages name the file.
 */
#ifndef YUBIN_MBOX_H
#define YUBIN_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sink.h"

#define MBOX_DEFAULT_LOCK_TIMEOUT_MS 30000u

/*
 * Open the mbox file at path, creating it (mode 0600) and any missing
 * parent directories (mode 0700) if needed.  The file itself is never
 * reached through a symbolic link (YB_ERR_IO), and a link above it is
 * followed only as dir_open_path (fileio.h) says; the directory is held
 * open and the file, its dotlock and the spool are reached by name in
 * it, never following a link, for the sink's life.  When yubin runs as
 * root, a file or directory of another user's, or a file with a second
 * name, is refused (YB_ERR_IO), at open and at each lock.  An existing
 * file that is not
 * empty and does not start with "From " is refused (YB_ERR_IO "... is not
 * an mbox"); so is anything but a regular file, and a directory that is
 * not writable (the dotlock and the spool live there).  A stale dotlock is
 * left alone here: sink_resolve needs to see it, and the next lock
 * removes it.  The caller frees with sink_close().
 */
int mbox_open(const char *path, struct sink **out, struct yb_error *err);

/* How long sink_prepare and sink_resolve wait for the locks (0: try once). */
void mbox_set_lock_timeout(struct sink *sink, unsigned timeout_ms);

#endif
