/* progress.c - a status line that rewrites itself, throttled. */
#include "config.h"

#include "progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"

static bool progress_on;
static bool progress_drawn;
static char progress_label[64];
static struct progress_figures progress_now;
static int64_t progress_started_ms;
static int64_t progress_last_ms; /* clock_now_ms of the last line; 0: none yet */

void progress_enable(bool on)
{
	progress_on = on;
}

void progress_start(const char *label, size_t messages, uint64_t total_bytes)
{
	snprintf(progress_label, sizeof(progress_label), "%s", label);
	memset(&progress_now, 0, sizeof(progress_now));
	progress_now.total = messages;
	progress_now.total_bytes = total_bytes;
	progress_started_ms = clock_now_ms();
	progress_last_ms = 0;
}

/* Draw the line if a tenth of a second has passed, or if forced. */
static void draw(bool forced)
{
	if (!progress_on)
		return;
	int64_t now = clock_now_ms();
	if (!forced && now - progress_last_ms < 100)
		return;
	progress_last_ms = now;
	progress_now.elapsed_ms = now - progress_started_ms;
	char line[160];
	progress_format(line, sizeof(line), &progress_now);
	fprintf(stderr, "\r\033[Kyubin: %s: %s", progress_label, line);
	fflush(stderr);
	progress_drawn = true;
}

void progress_received(uint64_t bytes)
{
	progress_now.bytes += bytes;
	draw(false);
}

void progress_message_done(void)
{
	progress_now.done++;
	/* The last message is always shown: the line ends where the run did. */
	draw(progress_now.done >= progress_now.total);
}

void progress_clear(void)
{
	if (!progress_drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	progress_drawn = false;
}

uint64_t progress_rate(const struct progress_figures *figures)
{
	if (figures->elapsed_ms < PROGRESS_RATE_MIN_MS)
		return 0;
	/* Milliseconds first would overflow only past 18 PB received. */
	return figures->bytes * 1000 / (uint64_t)figures->elapsed_ms;
}

int64_t progress_eta_seconds(const struct progress_figures *figures)
{
	if (figures->total_bytes == 0)
		return -1;
	if (figures->bytes >= figures->total_bytes)
		return 0;
	uint64_t rate = progress_rate(figures);
	if (rate == 0)
		return -1;
	uint64_t left = figures->total_bytes - figures->bytes;
	return (int64_t)((left + rate - 1) / rate);
}

void progress_format_bytes(uint64_t bytes, char *out, size_t size)
{
	if (bytes >= 10u * 1024 * 1024)
		snprintf(out, size, "%" PRIu64 " MB", bytes / (1024 * 1024));
	else if (bytes >= 10u * 1024)
		snprintf(out, size, "%" PRIu64 " kB", bytes / 1024);
	else
		snprintf(out, size, "%" PRIu64 " bytes", bytes);
}

/* "m:ss", or "h:mm:ss" from an hour on. */
static void format_duration(int64_t seconds, char *out, size_t size)
{
	if (seconds >= 3600)
		snprintf(out, size, "%" PRId64 ":%02d:%02d", seconds / 3600,
			 (int)(seconds / 60 % 60), (int)(seconds % 60));
	else
		snprintf(out, size, "%" PRId64 ":%02d", seconds / 60,
			 (int)(seconds % 60));
}

void progress_format(char *out, size_t size, const struct progress_figures *figures)
{
	char bytes[32], total[40] = "", rate[40] = "", eta[40] = "";
	progress_format_bytes(figures->bytes, bytes, sizeof(bytes));
	if (figures->total_bytes > 0) {
		char of[32];
		progress_format_bytes(figures->total_bytes, of, sizeof(of));
		snprintf(total, sizeof(total), " of %s", of);
	}
	uint64_t per_second = progress_rate(figures);
	if (per_second > 0) {
		char shown[32];
		progress_format_bytes(per_second, shown, sizeof(shown));
		snprintf(rate, sizeof(rate), ", %s/s", shown);
	}
	int64_t left = progress_eta_seconds(figures);
	if (left >= 0 && figures->done < figures->total) {
		char shown[32];
		format_duration(left, shown, sizeof(shown));
		snprintf(eta, sizeof(eta), ", ETA %s", shown);
	}
	snprintf(out, size, "%zu/%zu messages, %s%s%s%s", figures->done,
		 figures->total, bytes, total, rate, eta);
}
