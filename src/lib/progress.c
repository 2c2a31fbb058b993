/* progress.c - a status line that rewrites itself, throttled. */
#include "config.h"

#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <stdint.h>

#include "clock.h"

static bool progress_on;
static bool progress_drawn;
static char progress_label[64];
static size_t progress_total, progress_done;
static uint64_t progress_bytes;
static int64_t progress_last_ms; /* clock_now_ms of the last line; 0: none yet */

void progress_enable(bool on)
{
	progress_on = on;
}

void progress_start(const char *label, size_t total)
{
	snprintf(progress_label, sizeof(progress_label), "%s", label);
	progress_total = total;
	progress_done = 0;
	progress_bytes = 0;
	progress_last_ms = 0;
}

static bool due(void)
{
	int64_t now = clock_now_ms();
	if (now - progress_last_ms < 100 && progress_done < progress_total)
		return false;
	progress_last_ms = now;
	return true;
}

void progress_add(uint64_t bytes)
{
	progress_done++;
	progress_bytes += bytes;
	if (!progress_on || !due())
		return;
	fprintf(stderr, "\r\033[Kyubin: %s: %zu/%zu messages, %llu MB", progress_label,
		progress_done, progress_total,
		(unsigned long long)(progress_bytes / (1024 * 1024)));
	fflush(stderr);
	progress_drawn = true;
}

void progress_clear(void)
{
	if (!progress_drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	progress_drawn = false;
}
