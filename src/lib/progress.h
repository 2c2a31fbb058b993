/*
 * progress.h - one self-rewriting status line on a terminal.
 *
 * Off unless progress_enable() was called (main does so when stderr is a
 * terminal, or with --progress).  At most ten updates a second are drawn;
 * progress_clear() removes the line before anything else is printed.
 *
 * The line counts the bytes as they arrive, so that it moves during a
 * long message too, and shows the rate; and the time left when the
 * total size is known beforehand (POP3's LIST; IMAP's sizes only when
 * they were listed anyway, for max_size).
 */
#ifndef YUBIN_PROGRESS_H
#define YUBIN_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void progress_enable(bool on);

/* Set what the line is about (copied), how many messages are to come
   and their total size in bytes (0: not known, then no time left). */
void progress_start(const char *label, size_t messages, uint64_t total_bytes);

/* Bytes of a message arrived from the server. */
void progress_received(uint64_t bytes);

/* One more message done. */
void progress_message_done(void);

/* Erase the line (if drawn). */
void progress_clear(void);

/* --- pure, for the line and the summary, and for tests --- */

/* Where a fetch is, elapsed_ms after it started. */
struct progress_figures {
	size_t done, total;      /* messages */
	uint64_t bytes;          /* received so far */
	uint64_t total_bytes;    /* expected; 0: not known */
	int64_t elapsed_ms;
};

/* Below this much time the rate is noise, and not shown. */
#define PROGRESS_RATE_MIN_MS 500

/* Bytes a second so far, or 0 while not yet measurable. */
uint64_t progress_rate(const struct progress_figures *figures);

/* Seconds left at the rate so far, or -1 when not known (no total, no
   rate yet); 0 once all the expected bytes are in. */
int64_t progress_eta_seconds(const struct progress_figures *figures);

/* "3/7 messages, 12 kB of 40 kB, 8 kB/s, ETA 0:04" into out (always
   NUL-terminated). */
void progress_format(char *out, size_t size, const struct progress_figures *figures);

/* A size as people read it: "512 bytes", "40 kB", "12 MB". */
void progress_format_bytes(uint64_t bytes, char *out, size_t size);

#endif
