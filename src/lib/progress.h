/*
 * progress.h - one self-rewriting status line on a terminal.
 *
 * Off unless progress_enable() was called (main does so when stderr is a
 * terminal, or with --progress).  At most ten updates a second are drawn;
 * progress_clear() removes the line before anything else is printed.
 */
#ifndef YUBIN_PROGRESS_H
#define YUBIN_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void progress_enable(bool on);

/* Set what the line is about (the account; copied) and the total expected. */
void progress_start(const char *label, size_t total);

/* One more message done, of this many bytes. */
void progress_add(uint64_t bytes);

/* Erase the line (if drawn). */
void progress_clear(void);

#endif
