/*
 * clock.h - the monotonic clock, deadlines and naps: one copy for the
 * connection, the lock waits, the subprocesses and the OAuth2 flows.
 *
 * Times are milliseconds on CLOCK_MONOTONIC, which never goes back when
 * the wall clock is set; they are for intervals, never for dates.
 */
#ifndef YUBIN_CLOCK_H
#define YUBIN_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* A deadline that never comes. */
#define CLOCK_NEVER INT64_MAX

/* Now, in milliseconds. */
int64_t clock_now_ms(void);

/* The deadline ms from now; CLOCK_NEVER for 0 when zero_is_never (a
   timeout of 0 means none), and when the sum would overflow. */
int64_t clock_deadline_in_ms(uint64_t ms, bool zero_is_never);

/* Milliseconds left until deadline: 0 once it has passed. */
int64_t clock_left_ms(int64_t deadline);

/* Has deadline passed?  Never for CLOCK_NEVER. */
bool clock_passed(int64_t deadline);

/* What is left until deadline as a poll() timeout: -1 (no limit) for
   CLOCK_NEVER, else 0 to cap. */
int clock_poll_timeout(int64_t deadline, int cap);

/* Sleep ms milliseconds; a signal handler does not cut the nap short. */
void clock_sleep_ms(uint64_t ms);

/* Sleep until deadline (at once when it has passed). */
void clock_sleep_until(int64_t deadline);

#endif
